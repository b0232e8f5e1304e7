// The benchmark's C++ client, on the same arrow::flight as `squadron query`.
//
//   squadron-bench-client fetch   --uri U (--sql S | --ticket T)... [--compression C] [--warm N]
//       Streams every --sql (a Flight SQL statement) or --ticket (a raw DoGet)
//       at once, one connection and thread each, and prints one JSON object:
//       seconds from the first request to the last batch, rows, bytes. With
//       --warm N, each connection first runs SELECT 1 N times, outside the clock.
//   squadron-bench-client latency --uri U --sql S [--clients N] [--seconds D]
//       Runs S (GetFlightInfo, then DoGet of every endpoint) in a loop on N
//       warm connections for D seconds and prints counts, queries/s,
//       percentiles and a latency CDF. "{key}" in S becomes a random integer
//       in [0, --key-max).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <arrow/flight/client.h>
#include <arrow/record_batch.h>
#include <arrow/util/byte_size.h>
#include <nlohmann/json.hpp>

#include "flight/command.h"
#include "flight/compression.h"
#include "common/malloc_tuning.h"

namespace fl = arrow::flight;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

namespace {

struct Common {
  std::string uri = "grpc://127.0.0.1:31337";
  std::string compression;
};

fl::FlightCallOptions CallOptions(const Common& common) {
  fl::FlightCallOptions call;
  if (!common.compression.empty()) call.headers.emplace_back(std::string(squadron::flight::kCompressionHeader), common.compression);
  return call;
}

struct Totals {
  int64_t rows = 0;
  int64_t bytes = 0;
};

arrow::Status Drain(fl::FlightClient& client, const fl::FlightCallOptions& call, const fl::Ticket& ticket,
                    Totals* totals) {
  ARROW_ASSIGN_OR_RAISE(auto stream, client.DoGet(call, ticket));
  while (true) {
    ARROW_ASSIGN_OR_RAISE(auto chunk, stream->Next());
    if (!chunk.data) return arrow::Status::OK();
    totals->rows += chunk.data->num_rows();
    totals->bytes += arrow::util::TotalBufferSize(*chunk.data);
  }
}

// One statement: plan it, then read every endpoint in turn (on this
// connection; the bench's servers are single nodes).
arrow::Status RunStatement(fl::FlightClient& client, const fl::FlightCallOptions& call, const std::string& sql,
                           Totals* totals) {
  auto descriptor = fl::FlightDescriptor::Command(
      squadron::flight::SerializeCommand(squadron::flight::StatementQueryCommand{sql, {}}));
  ARROW_ASSIGN_OR_RAISE(auto info, client.GetFlightInfo(call, descriptor));
  for (const auto& endpoint : info->endpoints()) ARROW_RETURN_NOT_OK(Drain(client, call, endpoint.ticket, totals));
  return arrow::Status::OK();
}

arrow::Status Fetch(const Common& common, const std::vector<std::string>& sqls,
                    const std::vector<std::string>& tickets, int warm) {
  ARROW_ASSIGN_OR_RAISE(auto location, fl::Location::Parse(common.uri));
  const size_t streams = sqls.size() + tickets.size();
  if (streams == 0) return arrow::Status::Invalid("fetch needs at least one --sql or --ticket");
  std::vector<std::unique_ptr<fl::FlightClient>> clients;
  for (size_t i = 0; i < streams; ++i) {
    ARROW_ASSIGN_OR_RAISE(auto client, fl::FlightClient::Connect(location));
    clients.push_back(std::move(client));
  }
  const auto call = CallOptions(common);
  // A new channel connects on its first call (TCP, HTTP/2), and the first
  // few calls of a new process run cold code: 2-25 ms each here, which a
  // client that keeps its connection pays once, not per query.
  for (auto& client : clients) {
    for (int i = 0; i < warm; ++i) {
      Totals ignored;
      ARROW_RETURN_NOT_OK(RunStatement(*client, call, "SELECT 1", &ignored));
    }
  }
  std::vector<Totals> totals(streams);
  std::vector<arrow::Status> statuses(streams);
  const auto start = Clock::now();
  std::vector<std::thread> threads;
  for (size_t i = 0; i < streams; ++i) {
    threads.emplace_back([&, i] {
      statuses[i] = i < sqls.size() ? RunStatement(*clients[i], call, sqls[i], &totals[i])
                                    : Drain(*clients[i], call, fl::Ticket{tickets[i - sqls.size()]}, &totals[i]);
    });
  }
  for (auto& thread : threads) thread.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  for (const auto& status : statuses) ARROW_RETURN_NOT_OK(status);
  Totals sum;
  for (const auto& t : totals) {
    sum.rows += t.rows;
    sum.bytes += t.bytes;
  }
  std::cout << json{{"seconds", seconds}, {"rows", sum.rows}, {"bytes", sum.bytes}, {"streams", streams}}.dump()
            << std::endl;
  return arrow::Status::OK();
}

double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const auto index = static_cast<size_t>(p * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(index, sorted.size() - 1)];
}

arrow::Status Latency(const Common& common, const std::string& sql, int clients, double seconds, double warmup,
                      int64_t key_max) {
  ARROW_ASSIGN_OR_RAISE(auto location, fl::Location::Parse(common.uri));
  const auto call = CallOptions(common);
  const auto key_at = sql.find("{key}");
  std::vector<std::unique_ptr<fl::FlightClient>> connections;
  for (int i = 0; i < clients; ++i) {
    ARROW_ASSIGN_OR_RAISE(auto client, fl::FlightClient::Connect(location));
    Totals ignored;
    ARROW_RETURN_NOT_OK(RunStatement(*client, call, "SELECT 1", &ignored));  // warm the connection
    connections.push_back(std::move(client));
  }
  std::atomic<bool> counting{false};
  std::atomic<bool> stop{false};
  std::vector<std::vector<double>> latencies(clients);
  std::vector<arrow::Status> statuses(clients);
  std::vector<std::thread> threads;
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back([&, i] {
      std::mt19937_64 random(static_cast<uint64_t>(i) * 7919 + 1);
      Totals totals;
      while (!stop.load(std::memory_order_relaxed)) {
        std::string text = sql;
        if (key_at != std::string::npos) {
          text.replace(key_at, 5, std::to_string(static_cast<int64_t>(random() % static_cast<uint64_t>(key_max))));
        }
        const auto begin = Clock::now();
        auto status = RunStatement(*connections[i], call, text, &totals);
        const double ms = std::chrono::duration<double, std::milli>(Clock::now() - begin).count();
        if (!status.ok()) {
          statuses[i] = status;
          return;
        }
        if (counting.load(std::memory_order_relaxed)) latencies[i].push_back(ms);
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(warmup));
  counting = true;
  const auto start = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  counting = false;
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  stop = true;
  for (auto& thread : threads) thread.join();
  for (const auto& status : statuses) ARROW_RETURN_NOT_OK(status);
  std::vector<double> all;
  for (const auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  std::vector<double> cdf;
  for (int i = 0; i <= 100 && !all.empty(); ++i) cdf.push_back(Percentile(all, i / 100.0));
  std::cout << json{{"count", all.size()},
                    {"seconds", elapsed},
                    {"qps", static_cast<double>(all.size()) / elapsed},
                    {"p50_ms", Percentile(all, 0.50)},
                    {"p99_ms", Percentile(all, 0.99)},
                    {"clients", clients},
                    {"cdf_ms", cdf}}
                   .dump()
            << std::endl;
  return arrow::Status::OK();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Squadron's benchmark client"};
  app.require_subcommand(1);
  Common common;
  std::vector<std::string> sqls, tickets;
  auto* fetch = app.add_subcommand("fetch", "Stream statements or tickets at once; print time, rows, bytes");
  fetch->add_option("--uri", common.uri, "Server");
  fetch->add_option("--compression", common.compression, "IPC body compression to ask for: zstd, lz4");
  fetch->add_option("--sql", sqls, "A Flight SQL statement (one stream each)");
  fetch->add_option("--ticket", tickets, "A raw DoGet ticket (one stream each)");
  int warm = 0;
  fetch->add_option("--warm", warm, "Run SELECT 1 this many times on each connection before the clock starts");
  std::string sql;
  int clients = 1;
  double seconds = 3, warmup = 0.5;
  int64_t key_max = 1;
  auto* latency = app.add_subcommand("latency", "Run one statement in a loop from N clients; print percentiles");
  latency->add_option("--uri", common.uri, "Server");
  latency->add_option("--sql", sql, "The statement; {key} becomes a random integer in [0, --key-max)")->required();
  latency->add_option("--clients", clients, "Concurrent clients, each with its own connection");
  latency->add_option("--seconds", seconds, "Counted duration");
  latency->add_option("--warmup", warmup, "Uncounted duration first");
  latency->add_option("--key-max", key_max, "Range of {key}");
  CLI11_PARSE(app, argc, argv);
  squadron::TuneMallocForStreaming();  // as `squadron query` does
  auto status = fetch->parsed() ? Fetch(common, sqls, tickets, warm)
                                : Latency(common, sql, std::max(1, clients), seconds, warmup, std::max<int64_t>(1, key_max));
  if (!status.ok()) {
    std::cerr << "squadron-bench-client: " << status.ToString() << "\n";
    return 1;
  }
  return 0;
}
