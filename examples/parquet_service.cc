// A distributed Flight service serving directories of Parquet files, built on src/cluster/; see README.md.
#include <algorithm>
#include <csignal>
#include <filesystem>
#include <future>
#include <iostream>
#include <map>
#include <mutex>

#include <arrow/flight/client.h>
#include <arrow/flight/server.h>
#include <arrow/io/file.h>
#include <nlohmann/json.hpp>
#include <parquet/arrow/reader.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "cluster/flight_manager.h"
#include "cluster/producer.h"
#include "common/status.h"

namespace fl = arrow::flight;
namespace fs = std::filesystem;
namespace cluster = squadron::cluster;
using squadron::InvalidArgument, squadron::NotFound, squadron::Unavailable, squadron::Unimplemented;
using Json = nlohmann::json;
constexpr std::string_view kProduceAction = "example.produce";

/// Lists the *.parquet files of `dir` as absolute paths, sorted by name.
arrow::Result<std::vector<std::string>> ListParquet(const std::string& dir) {
  std::error_code error;
  std::vector<std::string> files;
  for (fs::directory_iterator it(fs::absolute(dir), error), end; !error && it != end; it.increment(error)) {
    if (it->path().extension() == ".parquet" && it->is_regular_file()) files.push_back(it->path().string());
  }
  if (error) return InvalidArgument("Cannot list the directory ", dir, ": ", error.message());
  if (files.empty()) return InvalidArgument("No *.parquet files in ", dir);
  std::sort(files.begin(), files.end());
  return files;
}

/// Opens a Parquet file; reads its footer only, until batches are asked for.
arrow::Result<std::unique_ptr<parquet::arrow::FileReader>> OpenParquet(const std::string& path) {
  ARROW_ASSIGN_OR_RAISE(auto file, arrow::io::ReadableFile::Open(path));
  return parquet::arrow::OpenFile(std::move(file), arrow::default_memory_pool());
}

/// Pushes the files `body` lists, batch by batch, into this node's exchange (as any producer would).
arrow::Status Produce(const cluster::FlightManager& manager, std::string_view body) try {
  const auto json = Json::parse(body);
  for (const auto& f : json.at("files")) {
    const cluster::PartitionTarget target{json.at("query"), f.at("partition"), /*attempt=*/0, json.at("credential")};
    ARROW_ASSIGN_OR_RAISE(auto file, OpenParquet(f.at("path")));
    ARROW_ASSIGN_OR_RAISE(auto rows, file->GetRecordBatchReader());
    ARROW_ASSIGN_OR_RAISE(auto writer, cluster::PartitionWriter::Open(manager.advertise_uri(), target, rows->schema()));
    for (const auto& batch : *rows) {
      ARROW_RETURN_NOT_OK(batch.status());
      ARROW_RETURN_NOT_OK(writer->Write(**batch));
    }
    ARROW_RETURN_NOT_OK(writer->Commit().status());
  }
  return arrow::Status::OK();
} catch (const Json::exception& e) { return InvalidArgument("Invalid ", kProduceAction, " body: ", e.what()); }

/// Asks the node at `uri` to produce the files `body` lists; returns once it has.
arrow::Status RequestProduce(const std::string& uri, const std::string& body) {
  ARROW_ASSIGN_OR_RAISE(auto location, fl::Location::Parse(uri));
  ARROW_ASSIGN_OR_RAISE(auto client, fl::FlightClient::Connect(location));
  ARROW_ASSIGN_OR_RAISE(auto results, client->DoAction({std::string(kProduceAction), arrow::Buffer::FromString(body)}));
  return results->Drain();
}

/// Has every serving node produce its files at once, then completes the query or fails it.
void Drive(cluster::FlightManager& manager, cluster::StartedQuery query, std::vector<std::string> files) {
  std::vector<Json> bodies(query.serving.size(), {{"query", query.id}, {"credential", query.producer_credential}});
  std::vector<cluster::CommittedPartition> committed;
  for (size_t p = 0; p < files.size(); ++p) {
    bodies[query.assignment[p]]["files"].push_back({{"partition", p}, {"path", files[p]}});
    committed.push_back({static_cast<int32_t>(p), /*attempt=*/0});
  }
  std::vector<std::future<arrow::Status>> calls;
  for (size_t n = 0; n < bodies.size(); ++n) {
    calls.push_back(std::async(std::launch::async, RequestProduce, query.serving[n].uri, bodies[n].dump()));
  }
  std::string failure;
  for (size_t n = 0; n < calls.size(); ++n) {
    if (auto s = calls[n].get(); !s.ok() && failure.empty()) failure = query.serving[n].uri + ": " + s.message();
  }
  auto status = failure.empty() ? manager.CompleteQuery(query.id, committed) : manager.FailQuery(query.id, failure);
  if (!status.ok()) spdlog::error("event=example_query_not_ended query={} error={}", query.id, status.ToString());
}

/// Serves directories of Parquet files through the cluster's exchange.
class ParquetService : public fl::FlightServerBase {
 public:
  /// Sets the manager the calls use (null: refuse them), after waiting for the drivers that use the old one.
  void SetManager(cluster::FlightManager* manager) {
    std::lock_guard<std::mutex> lock(mutex_);
    drivers_.clear();  // each future's destructor waits for its driver
    manager_ = manager;
  }
  arrow::Status GetFlightInfo(const fl::ServerCallContext&, const fl::FlightDescriptor& descriptor,
                              std::unique_ptr<fl::FlightInfo>* info) override {
    ARROW_ASSIGN_OR_RAISE(auto* manager, Manager());
    if (descriptor.type != fl::FlightDescriptor::PATH || descriptor.path.size() != 1) {
      return InvalidArgument("Expected a PATH descriptor of one element, a directory of Parquet files");
    }
    ARROW_ASSIGN_OR_RAISE(auto files, ListParquet(descriptor.path[0]));
    cluster::QueryPlan plan;
    ARROW_ASSIGN_OR_RAISE(auto first, OpenParquet(files[0]));
    ARROW_RETURN_NOT_OK(first->GetSchema(&plan.schema));  // the exchange refuses files with another schema
    plan.partitions = static_cast<int32_t>(files.size());
    plan.ordered = true;  // files in name order: contiguous ranges, endpoints in partition order
    plan.description = descriptor.path[0];
    ARROW_ASSIGN_OR_RAISE(auto query, manager->BeginQuery(plan, descriptor));
    *info = std::move(query.info);
    std::lock_guard<std::mutex> lock(mutex_);
    std::erase_if(drivers_, [](auto& d) { return d.wait_for(std::chrono::seconds(0)) == std::future_status::ready; });
    drivers_.push_back(std::async(std::launch::async, Drive, std::ref(*manager), std::move(query), std::move(files)));
    return arrow::Status::OK();
  }
  arrow::Status DoGet(const fl::ServerCallContext& context, const fl::Ticket& ticket,
                      std::unique_ptr<fl::FlightDataStream>* stream) override {
    ARROW_ASSIGN_OR_RAISE(auto* manager, Manager());
    ARROW_ASSIGN_OR_RAISE(auto query_id, manager->DecodeTicket(ticket));
    if (!query_id) return NotFound("The ticket names no distributed query");
    return manager->HandleGet(context, *query_id, stream);
  }
  arrow::Status DoPut(const fl::ServerCallContext& context, std::unique_ptr<fl::FlightMessageReader> reader,
                      std::unique_ptr<fl::FlightMetadataWriter> writer) override {
    ARROW_ASSIGN_OR_RAISE(auto* manager, Manager());
    if (!cluster::FlightManager::IsExchangePut(reader->descriptor())) return Unimplemented("DoPut: exchange only");
    return manager->HandlePut(context, std::move(reader), std::move(writer));
  }
  arrow::Status DoAction(const fl::ServerCallContext& context, const fl::Action& action,
                         std::unique_ptr<fl::ResultStream>* result) override {
    ARROW_ASSIGN_OR_RAISE(auto* manager, Manager());
    const std::string_view body = action.body ? std::string_view(*action.body) : std::string_view();
    if (cluster::FlightManager::IsExchangeAction(action.type)) return manager->HandleAction(context, action, result);
    *result = std::make_unique<fl::SimpleResultStream>(std::vector<fl::Result>{});
    if (action.type == kProduceAction) return Produce(*manager, body);
    if (action.type != fl::ActionType::kCancelFlightInfo.type) return Unimplemented("Unknown action ", action.type);
    ARROW_ASSIGN_OR_RAISE(auto request, fl::CancelFlightInfoRequest::Deserialize(body));
    if (!request.info) return InvalidArgument("The CancelFlightInfoRequest carries no FlightInfo");
    ARROW_ASSIGN_OR_RAISE(auto cancelled, manager->CancelFlightInfo(*request.info));
    if (!cancelled) return NotFound("The FlightInfo names no distributed query");
    const auto status = *cancelled ? fl::CancelStatus::kCancelled : fl::CancelStatus::kNotCancellable;
    ARROW_ASSIGN_OR_RAISE(auto out, fl::CancelFlightInfoResult(status).SerializeToString());
    *result = std::make_unique<fl::SimpleResultStream>(std::vector<fl::Result>{{arrow::Buffer::FromString(out)}});
    return arrow::Status::OK();
  }

 private:
  arrow::Result<cluster::FlightManager*> Manager() const {
    if (auto* manager = manager_.load()) return manager;
    return Unavailable("This node is not in its cluster (not yet, or no more)");
  }
  std::atomic<cluster::FlightManager*> manager_{nullptr};
  std::mutex mutex_;
  std::vector<std::future<void>> drivers_;  // guarded by mutex_
};

/// Parses the flags, joins the cluster and serves until SIGINT or SIGTERM.
arrow::Status Run(int argc, char** argv) {
  std::map<std::string, std::string> flags = {{"--port", "0"}, {"--host", "127.0.0.1"}};
  for (int i = 1; i + 1 < argc; i += 2) flags[argv[i]] = argv[i + 1];
  if (argc % 2 == 0 || flags.size() != 5 /* no unknown flag */ || flags["--cluster"].empty() ||
      flags["--node-id"].empty() || flags["--secret-file"].empty()) {
    return InvalidArgument("Usage: --cluster zk://HOST:PORT/PATH --node-id ID --secret-file FILE",
                           " [--port N (0: a free one)] [--host IP (127.0.0.1)]");
  }
  ARROW_ASSIGN_OR_RAISE(auto secret_file, arrow::io::ReadableFile::Open(flags["--secret-file"]));
  ARROW_ASSIGN_OR_RAISE(auto secret, secret_file->Read(/*nbytes=*/1 << 16));
  spdlog::set_default_logger(spdlog::stderr_logger_mt("parquet-service"));  // stdout has the one line below
  ParquetService service;
  ARROW_ASSIGN_OR_RAISE(auto location, fl::Location::Parse("grpc://" + flags["--host"] + ":" + flags["--port"]));
  ARROW_RETURN_NOT_OK(service.Init(fl::FlightServerOptions(location)));
  ARROW_RETURN_NOT_OK(service.SetShutdownOnSignals({SIGINT, SIGTERM}));
  cluster::FlightManagerOptions options;
  options.cluster_uri = flags["--cluster"];
  options.node_id = flags["--node-id"];
  options.advertise_uri = "grpc://" + flags["--host"] + ":" + std::to_string(service.port());
  options.engine = "parquet-example";
  options.secret = secret->ToString();
  auto manager = cluster::FlightManager::Join(std::move(options));
  if (!manager.ok()) return manager.status() & service.Shutdown();
  service.SetManager(manager->get());
  std::cout << "parquet-service listening on " << (*manager)->advertise_uri() << std::endl;
  auto served = service.Serve();  // returns once a signal has shut the server down
  service.SetManager(nullptr);    // waits for the drivers
  manager->reset();               // leaves the cluster
  return served;
}

int main(int argc, char** argv) {
  auto status = Run(argc, argv);
  if (!status.ok()) std::cerr << "parquet-service: " << status.ToString() << std::endl;
  return status.ok() ? 0 : 1;
}
