// `squadron cluster status`: a cluster's nodes and distributed queries, read
// from ZooKeeper, for operators.
#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/query.h"
#include "cluster/flight_manager.h"

namespace squadron::cli {

namespace {

using Json = nlohmann::json;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// "3d4h", "5m12s", "42s": two units at most.
std::string Age(int64_t since_ms) {
  if (since_ms <= 0) return "-";
  int64_t s = std::max<int64_t>(0, NowMs() - since_ms) / 1000;
  const int64_t d = s / 86400, h = s / 3600 % 24, m = s / 60 % 60;
  s %= 60;
  char out[32];
  if (d > 0) {
    std::snprintf(out, sizeof(out), "%lldd%lldh", static_cast<long long>(d), static_cast<long long>(h));
  } else if (h > 0) {
    std::snprintf(out, sizeof(out), "%lldh%lldm", static_cast<long long>(h), static_cast<long long>(m));
  } else if (m > 0) {
    std::snprintf(out, sizeof(out), "%lldm%llds", static_cast<long long>(m), static_cast<long long>(s));
  } else {
    std::snprintf(out, sizeof(out), "%llds", static_cast<long long>(s));
  }
  return out;
}

size_t CommittedCount(const cluster::QueryRecord& q) {
  size_t n = 0;
  for (const auto& [node, list] : q.committed) n += list.size();
  return n;
}

Json ToJson(const cluster::ClusterStatus& status) {
  Json members = Json::array();
  for (const auto& m : status.members) {
    members.push_back({{"id", m.id}, {"uri", m.uri}, {"engine", m.engine}, {"version", m.version},
                       {"load", m.load}, {"started_ms", m.started_ms}});
  }
  Json queries = Json::array();
  for (const auto& q : status.queries) queries.push_back(Json::parse(q.ToJson()));
  for (auto& q : queries) q.erase("schema");
  return {{"members", std::move(members)}, {"queries", std::move(queries)}};
}

void PrintTables(const std::string& uri, const cluster::ClusterStatus& status) {
  std::printf("cluster %s: %zu node(s), %zu distributed quer%s\n\n", uri.c_str(), status.members.size(),
              status.queries.size(), status.queries.size() == 1 ? "y" : "ies");
  std::printf("%-24s %-30s %-8s %-8s %6s  %s\n", "NODE", "URI", "ENGINE", "VERSION", "LOAD", "UP");
  for (const auto& m : status.members) {
    std::printf("%-24s %-30s %-8s %-8s %6lld  %s\n", m.id.c_str(), m.uri.c_str(), m.engine.c_str(),
                m.version.c_str(), static_cast<long long>(m.load), Age(m.started_ms).c_str());
  }
  if (status.queries.empty()) return;
  std::printf("\n%-20s %-10s %-16s %5s %10s %9s %8s  %s\n", "QUERY", "STATE", "COORDINATOR", "NODES", "PARTITIONS",
              "COMMITTED", "AGE", "REASON / DESCRIPTION");
  for (const auto& q : status.queries) {
    std::string note = q.reason.empty() ? q.description : q.reason;
    for (char& c : note) {
      if (c == '\n' || c == '\r' || c == '\t') c = ' ';
    }
    if (note.size() > 80) note = note.substr(0, 77) + "...";
    const std::string committed =
        q.state == cluster::QueryState::kCompleted ? std::to_string(CommittedCount(q)) : std::string("-");
    std::printf("%-20s %-10s %-16s %5zu %10d %9s %8s  %s\n", q.id.c_str(), cluster::QueryStateName(q.state),
                q.coordinator.c_str(), q.nodes.size(), q.partitions_count(), committed.c_str(),
                Age(q.created_ms).c_str(), note.c_str());
  }
}

}  // namespace

int RunClusterStatus(const ClusterStatusOptions& options) {
  auto status = cluster::ReadClusterStatus(options.cluster, std::chrono::seconds(options.timeout_seconds));
  if (!status.ok()) {
    std::cerr << "squadron cluster status: " << status.status().message() << "\n";
    return 1;
  }
  if (options.json) {
    std::cout << ToJson(*status).dump(2) << "\n";
  } else {
    PrintTables(options.cluster, *status);
  }
  return 0;
}

}  // namespace squadron::cli
