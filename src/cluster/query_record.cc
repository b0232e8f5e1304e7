#include "cluster/query_record.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace squadron::cluster {

namespace {

using Json = nlohmann::json;

constexpr std::pair<QueryState, const char*> kStates[] = {
    {QueryState::kRunning, "RUNNING"},
    {QueryState::kCompleted, "COMPLETED"},
    {QueryState::kFailed, "FAILED"},
    {QueryState::kCancelled, "CANCELLED"},
};

constexpr std::pair<FailureKind, const char*> kFailures[] = {
    {FailureKind::kNodeLost, "node_lost"},
    {FailureKind::kProducer, "producer"},
    {FailureKind::kInvalid, "invalid"},
    {FailureKind::kDeadline, "deadline"},
    {FailureKind::kInternal, "internal"},
};

template <typename Enum, size_t N>
const char* NameOf(const std::pair<Enum, const char*> (&table)[N], Enum value) {
  for (const auto& [v, name] : table) {
    if (v == value) return name;
  }
  return "?";
}

template <typename Enum, size_t N>
std::optional<Enum> ValueOf(const std::pair<Enum, const char*> (&table)[N], const std::string& name) {
  for (const auto& [v, n] : table) {
    if (name == n) return v;
  }
  return std::nullopt;
}

// Base64 keeps the binary schema readable as JSON text.
std::string Base64Encode(const std::string& in) {
  static constexpr char kChars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    for (int shift : {18, 12, 6, 0}) out.push_back(kChars[(v >> shift) & 63]);
  }
  if (i < in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    if (i + 1 < in.size()) v |= uint8_t(in[i + 1]) << 8;
    out.push_back(kChars[(v >> 18) & 63]);
    out.push_back(kChars[(v >> 12) & 63]);
    out.push_back(i + 1 < in.size() ? kChars[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

}  // namespace

arrow::Result<std::string> Base64Decode(std::string_view in) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
  };
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=') break;
    const int v = value(c);
    if (v < 0) return InvalidArgument("Invalid base64: unexpected character '", std::string(1, c), "'");
    buffer = (buffer << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xff));
    }
  }
  return out;
}

std::string Base64(const std::string& in) { return Base64Encode(in); }

const char* QueryStateName(QueryState state) { return NameOf(kStates, state); }

std::vector<int32_t> QueryRecord::PartitionsOf(const std::string& node) const {
  const int index = NodeIndex(node);
  std::vector<int32_t> partitions;
  for (int32_t p = 0; p < partitions_count(); ++p) {
    if (assignment[p] == index) partitions.push_back(p);
  }
  return partitions;
}

int QueryRecord::NodeIndex(const std::string& node) const {
  auto it = std::find(nodes.begin(), nodes.end(), node);
  return it == nodes.end() ? -1 : static_cast<int>(it - nodes.begin());
}

bool QueryRecord::done() const {
  if (state != QueryState::kCompleted) return false;
  for (const auto& node : nodes) {
    if (!HasServed(node)) return false;
  }
  return true;
}

bool QueryRecord::HasServed(const std::string& node) const {
  return std::find(served.begin(), served.end(), node) != served.end();
}

arrow::Status QueryRecord::ErrorStatus() const {
  const std::string what = Msg("Distributed query ", id, " ");
  if (state == QueryState::kCancelled) return Cancelled(Msg(what, "was cancelled: ", reason));
  switch (failure) {
    case FailureKind::kNodeLost:
      return Unavailable(Msg(what, "failed: ", reason));
    case FailureKind::kDeadline:
      return DeadlineExceeded(Msg(what, "failed: ", reason));
    case FailureKind::kInternal:
      return Internal(Msg(what, "failed: ", reason));
    case FailureKind::kInvalid:
      return InvalidArgument(Msg(what, "failed: ", reason));
    case FailureKind::kProducer:
      break;
  }
  return Failed(Msg(what, "failed: ", reason));
}

std::optional<QueryOutcome> QueryRecord::OutcomeFor(const std::string& node) const {
  if (state == QueryState::kRunning) return std::nullopt;
  QueryOutcome outcome;
  if (state != QueryState::kCompleted) {
    outcome.status = ErrorStatus();
    return outcome;
  }
  auto it = committed.find(node);
  if (it != committed.end()) outcome.committed = it->second;
  return outcome;
}

std::string QueryRecord::ToJson() const {
  Json committed_json = Json::object();
  for (const auto& [node, list] : committed) {
    Json pairs = Json::array();
    for (const auto& c : list) pairs.push_back({c.partition, c.attempt});
    committed_json[node] = std::move(pairs);
  }
  Json json = {
      {"id", id},
      {"state", QueryStateName(state)},
      {"failure", NameOf(kFailures, failure)},
      {"reason", reason},
      {"coordinator", coordinator},
      {"coordinator_registered_ms", coordinator_registered_ms},
      {"nodes", nodes},
      {"node_uris", node_uris},
      {"assignment", assignment},
      {"ordered", ordered},
      {"schema", Base64Encode(schema_ipc)},
      {"description", description},
      {"created_ms", created_ms},
      {"deadline_ms", deadline_ms},
      {"finished_ms", finished_ms},
      {"committed", std::move(committed_json)},
      {"served", served},
  };
  return json.dump();
}

arrow::Result<QueryRecord> QueryRecord::FromJson(const std::string& text) {
  try {
    const Json json = Json::parse(text);
    QueryRecord record;
    record.id = json.at("id").get<std::string>();
    const auto state = ValueOf(kStates, json.at("state").get<std::string>());
    if (!state) return InvalidArgument("Invalid query record: unknown state ", json.at("state").dump());
    record.state = *state;
    record.failure = ValueOf(kFailures, json.value("failure", std::string("producer")))
                         .value_or(FailureKind::kProducer);
    record.reason = json.value("reason", "");
    record.coordinator = json.at("coordinator").get<std::string>();
    record.coordinator_registered_ms = json.value("coordinator_registered_ms", int64_t{0});
    record.nodes = json.at("nodes").get<std::vector<std::string>>();
    record.node_uris = json.at("node_uris").get<std::vector<std::string>>();
    record.assignment = json.at("assignment").get<std::vector<int32_t>>();
    record.ordered = json.value("ordered", false);
    ARROW_ASSIGN_OR_RAISE(record.schema_ipc, Base64Decode(json.at("schema").get<std::string>()));
    record.description = json.value("description", "");
    record.created_ms = json.value("created_ms", int64_t{0});
    record.deadline_ms = json.value("deadline_ms", int64_t{0});
    record.finished_ms = json.value("finished_ms", int64_t{0});
    const Json committed = json.value("committed", Json::object());  // items() refers to it
    for (const auto& [node, pairs] : committed.items()) {
      auto& list = record.committed[node];
      for (const auto& pair : pairs) list.push_back({pair.at(0).get<int32_t>(), pair.at(1).get<int32_t>()});
    }
    record.served = json.value("served", std::vector<std::string>{});
    if (record.node_uris.size() != record.nodes.size()) {
      return InvalidArgument("Invalid query record ", record.id, ": nodes and node_uris differ in length");
    }
    for (int32_t index : record.assignment) {
      if (index < 0 || static_cast<size_t>(index) >= record.nodes.size()) {
        return InvalidArgument("Invalid query record ", record.id, ": partition assigned to node #", index);
      }
    }
    return record;
  } catch (const std::exception& e) {
    return InvalidArgument("Invalid query record: ", e.what());
  }
}

}  // namespace squadron::cluster
