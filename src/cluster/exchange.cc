// The exchange's Flight calls: producer pushes (DoPut), serving (DoGet), and
// the driver's actions (begin, complete, fail). docs/exchange-protocol.md.
#include "cluster/flight_manager_internal.h"

#include <limits>
#include <type_traits>

#include <arrow/ipc/api.h>
#include <arrow/io/memory.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "common/status.h"
#include "common/text.h"

namespace squadron::cluster {

namespace fl = arrow::flight;
using Json = nlohmann::json;

namespace {

constexpr std::string_view kTicketPrefix = "exchange:";

arrow::Status Unauthenticated(std::string message) {
  return fl::MakeFlightError(fl::FlightStatusCode::Unauthenticated, std::move(message));
}

arrow::Result<Json> ParseJsonBody(std::string_view body, std::string_view what) {
  try {
    Json json = Json::parse(body);
    if (!json.is_object()) return InvalidArgument("Invalid ", what, ": the body must be a JSON object");
    return json;
  } catch (const std::exception& e) {
    return InvalidArgument("Invalid ", what, ": ", Clip(e.what(), 300));
  }
}

// A field of client JSON, checked: integers must be integers within T's range.
template <typename T>
arrow::Result<T> Field(const Json& json, const char* name, std::string_view what) {
  auto it = json.find(name);
  if (it == json.end()) return InvalidArgument("Invalid ", what, ": field '", name, "' is missing");
  auto wrong = [&] {
    return InvalidArgument("Invalid ", what, ": field '", name, "' has the wrong type or range (",
                           Clip(it->dump(), 100), ")");
  };
  try {
    if constexpr (std::is_same_v<T, bool>) {
      if (!it->is_boolean()) return wrong();
    } else if constexpr (std::is_integral_v<T>) {
      if (!it->is_number_integer()) return wrong();
      if (it->is_number_unsigned() ? it->get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<T>::max())
                                   : (it->get<int64_t>() < std::numeric_limits<T>::min() ||
                                      it->get<int64_t>() > std::numeric_limits<T>::max())) {
        return wrong();
      }
    }
    return it->get<T>();
  } catch (const std::exception&) {
    return wrong();
  }
}

// An optional field: `fallback` when absent.
template <typename T>
arrow::Result<T> OptionalField(const Json& json, const char* name, T fallback, std::string_view what) {
  if (!json.contains(name)) return fallback;
  return Field<T>(json, name, what);
}

// Most partitions one query may have: its record, with every partition's
// node and committed attempt, must fit in one znode (1 MiB).
constexpr int32_t kMaxPartitions = 50000;
// Longest deadline a driver may ask for.
constexpr int64_t kMaxTimeoutMs = int64_t{7} * 24 * 3600 * 1000;

std::vector<fl::Result> JsonResult(const Json& json) {
  std::vector<fl::Result> results;
  results.push_back(fl::Result{arrow::Buffer::FromString(json.dump())});
  return results;
}

// Serves a query's share on this node to one DoGet, and records in the
// registry when it has all been served.
class ExchangeReader final : public arrow::RecordBatchReader {
 public:
  ExchangeReader(std::function<void()> on_served, std::string query_id, std::unique_ptr<SpoolReader> reader,
                 int64_t deadline_ms, const fl::ServerCallContext& context)
      : on_served_(std::move(on_served)), query_id_(std::move(query_id)), reader_(std::move(reader)), deadline_ms_(deadline_ms),
        context_(context), start_(std::chrono::steady_clock::now()) {}

  ~ExchangeReader() override {
    spdlog::info("event=exchange_streamed query={} rows={} batches={} ms={} complete={}", query_id_, rows_, batches_,
                 std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start_).count(),
                 complete_);
  }

  std::shared_ptr<arrow::Schema> schema() const override { return reader_->schema(); }

  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* batch) override {
    auto next = reader_->Next([this]() -> arrow::Status {
      if (context_.is_cancelled()) return Cancelled("The client cancelled the stream");
      if (NowMillis() > deadline_ms_) {
        return DeadlineExceeded(Msg("Distributed query ", query_id_, " passed its deadline"));
      }
      return arrow::Status::OK();
    });
    if (!next.ok()) return next.status();
    *batch = std::move(*next);
    if (*batch) {
      rows_ += (*batch)->num_rows();
      ++batches_;
    } else if (!complete_) {
      complete_ = true;
      on_served_();
    }
    return arrow::Status::OK();
  }

 private:
  const std::function<void()> on_served_;  // records that the share was served
  const std::string query_id_;
  const std::unique_ptr<SpoolReader> reader_;
  const int64_t deadline_ms_;
  const fl::ServerCallContext& context_;  // the DoGet's: outlives this reader
  const std::chrono::steady_clock::time_point start_;
  int64_t rows_ = 0;
  int64_t batches_ = 0;
  bool complete_ = false;
};

}  // namespace

arrow::Status FlightManager::Impl::CheckProducer(const std::string& query_id, const std::string& credential) const {
  if (!ClusterCredentials::Matches(credentials_.ProducerCredential(query_id), credential)) {
    return Unauthenticated(Msg("Invalid producer credential for distributed query ", Clip(query_id, 100),
                               ": only producers given the query's credential may push into it, complete or fail it"));
  }
  return arrow::Status::OK();
}

arrow::Status FlightManager::Impl::HandlePut(const fl::ServerCallContext& context,
                                             std::unique_ptr<fl::FlightMessageReader> reader,
                                             std::unique_ptr<fl::FlightMetadataWriter> writer) {
  const std::string& cmd = reader->descriptor().cmd;
  ARROW_ASSIGN_OR_RAISE(auto json, ParseJsonBody(std::string_view(cmd).substr(kExchangePutPrefix.size()),
                                                 "exchange push descriptor"));
  ARROW_ASSIGN_OR_RAISE(auto query_id, Field<std::string>(json, "query", "exchange push descriptor"));
  ARROW_ASSIGN_OR_RAISE(auto partition, Field<int32_t>(json, "partition", "exchange push descriptor"));
  ARROW_ASSIGN_OR_RAISE(auto attempt, Field<int32_t>(json, "attempt", "exchange push descriptor"));
  ARROW_ASSIGN_OR_RAISE(auto credential, Field<std::string>(json, "credential", "exchange push descriptor"));
  ARROW_RETURN_NOT_OK(CheckProducer(query_id, credential));
  ARROW_ASSIGN_OR_RAISE(auto record, Track(query_id));
  if (record.ended()) return record.ErrorStatus();
  if (partition < 0 || partition >= record.partitions_count()) {
    return InvalidArgument("Partition ", partition, " is outside distributed query ", query_id, "'s 0..",
                           record.partitions_count() - 1);
  }
  const int32_t owner = record.assignment[partition];
  if (record.nodes[owner] != options_.node_id) {
    return InvalidArgument("Partition ", partition, " of distributed query ", query_id, " is served by node ",
                           record.nodes[owner], " (", record.node_uris[owner], "), not by this node (",
                           options_.node_id, "): push it there");
  }
  ARROW_ASSIGN_OR_RAISE(auto schema, reader->GetSchema());
  auto begun = spool_->BeginAttempt(query_id, partition, attempt, *schema);
  if (!begun.ok()) {
    if (auto winner = CommittedAttempt(query_id, partition); winner && *winner != attempt) {
      return DeferToCommitted(query_id, partition, attempt, *winner, *reader, *writer);
    }
    return begun.status();
  }
  auto attempt_writer = *std::move(begun);
  auto keep_waiting = [&context]() -> arrow::Status {
    if (context.is_cancelled()) return Cancelled("The producer hung up");
    return arrow::Status::OK();
  };
  int64_t batches = 0;
  while (true) {
    ARROW_ASSIGN_OR_RAISE(auto chunk, reader->Next());
    if (chunk.data) {
      // Structure only: producers are trusted holders of the credential, and
      // a full validation would cost more than the copy.
      ARROW_RETURN_NOT_OK(chunk.data->Validate());
      ARROW_RETURN_NOT_OK(attempt_writer->Append(chunk.data, keep_waiting));
      ++batches;
    }
    if (chunk.app_metadata) {
      ARROW_ASSIGN_OR_RAISE(auto message, ParseJsonBody(chunk.app_metadata->ToString(), "exchange push message"));
      Json reply = {{"partition", partition}, {"attempt", attempt}};
      ARROW_ASSIGN_OR_RAISE(bool commit, OptionalField<bool>(message, "commit", false, "exchange push message"));
      if (commit) {
        ARROW_ASSIGN_OR_RAISE(auto rows, attempt_writer->Commit());
        reply["rows"] = rows;
        reply["committed"] = true;
        spdlog::info("event=exchange_committed query={} partition={} attempt={} rows={} batches={}", query_id,
                     partition, attempt, rows, batches);
      } else if (message.contains("abort")) {
        attempt_writer->Abort();
        reply["committed"] = false;
        spdlog::info("event=exchange_aborted query={} partition={} attempt={} reason={:?}", query_id, partition,
                     attempt, Clip(message["abort"].dump(), 300));
      } else {
        return InvalidArgument("Invalid exchange push message: expected {\"commit\": true} or {\"abort\": reason}");
      }
      return writer->WriteMetadata(*arrow::Buffer::FromString(reply.dump()));
    }
    if (!chunk.data && !chunk.app_metadata) break;
  }
  attempt_writer->Abort();
  spdlog::info("event=exchange_aborted query={} partition={} attempt={} reason=\"stream ended without commit\"",
               query_id, partition, attempt);
  Json reply = {{"partition", partition}, {"attempt", attempt}, {"committed", false}};
  return writer->WriteMetadata(*arrow::Buffer::FromString(reply.dump()));
}

std::optional<int32_t> FlightManager::Impl::CommittedAttempt(const std::string& query_id, int32_t partition) const {
  for (const auto& c : spool_->Committed(query_id)) {
    if (c.partition == partition) return c.attempt;
  }
  return std::nullopt;
}

arrow::Status FlightManager::Impl::DeferToCommitted(const std::string& query_id, int32_t partition, int32_t attempt,
                                                    int32_t winner, fl::FlightMessageReader& reader,
                                                    fl::FlightMetadataWriter& writer) {
  // Another attempt of the partition committed here first: Spark lost that
  // attempt's executor before it heard of the commit, or let a second copy
  // run. The partition's rows are the winner's; this attempt's are read and
  // dropped, and its commit answer names the winner, which the driver then
  // lists. (Refusing it instead would fail every retry of the partition, and
  // with it the job.)
  int64_t batches = 0;
  while (true) {
    ARROW_ASSIGN_OR_RAISE(auto chunk, reader.Next());
    if (chunk.data) ++batches;
    if (chunk.app_metadata) {
      ARROW_ASSIGN_OR_RAISE(auto message, ParseJsonBody(chunk.app_metadata->ToString(), "exchange push message"));
      ARROW_ASSIGN_OR_RAISE(bool commit, OptionalField<bool>(message, "commit", false, "exchange push message"));
      Json reply = {{"partition", partition}, {"attempt", attempt}, {"committed", commit}};
      if (commit) reply["committed_attempt"] = winner;
      spdlog::info("event=exchange_deferred query={} partition={} attempt={} committed_attempt={} batches_dropped={} "
                   "end={}", query_id, partition, attempt, winner, batches, commit ? "commit" : "abort");
      return writer.WriteMetadata(*arrow::Buffer::FromString(reply.dump()));
    }
    if (!chunk.data) break;
  }
  Json reply = {{"partition", partition}, {"attempt", attempt}, {"committed", false}};
  return writer.WriteMetadata(*arrow::Buffer::FromString(reply.dump()));
}

arrow::Status FlightManager::Impl::HandleGet(const fl::ServerCallContext& context, const std::string& query_id,
                                             std::unique_ptr<fl::FlightDataStream>* stream) {
  ARROW_ASSIGN_OR_RAISE(auto record, Track(query_id));
  if (record.NodeIndex(options_.node_id) < 0) {
    return InvalidArgument("Distributed query ", query_id, " is not served by this node (", options_.node_id,
                           "); read each endpoint at its own location");
  }
  if (record.ended()) return record.ErrorStatus();
  ARROW_ASSIGN_OR_RAISE(auto reader, spool_->OpenReader(query_id));
  // On the stream's thread: the record says so before the stream ends, so a
  // node that leaves afterwards fails nothing.
  auto on_served = [this, query_id] { MarkServed(query_id); };
  auto batches = std::make_shared<ExchangeReader>(std::move(on_served), query_id, std::move(reader), record.deadline_ms, context);
  *stream = std::make_unique<fl::RecordBatchStream>(std::move(batches));
  return arrow::Status::OK();
}

namespace {

// The `schema` (base64 of an Arrow IPC schema message) and `partitions` of a
// begin or plan request.
arrow::Status ParseShape(const Json& json, std::string_view action, QueryPlan* plan) {
  ARROW_ASSIGN_OR_RAISE(auto schema_b64, Field<std::string>(json, "schema", action));
  ARROW_ASSIGN_OR_RAISE(auto schema_ipc, Base64Decode(schema_b64));
  auto schema_reader = arrow::io::BufferReader::FromString(schema_ipc);
  arrow::ipc::DictionaryMemo memo;
  auto schema = arrow::ipc::ReadSchema(schema_reader.get(), &memo);
  if (!schema.ok()) {
    return InvalidArgument("Invalid ", action, ": 'schema' is not an Arrow IPC schema: ", schema.status().message());
  }
  plan->schema = *schema;
  ARROW_ASSIGN_OR_RAISE(plan->partitions, Field<int32_t>(json, "partitions", action));
  if (plan->partitions < 1 || plan->partitions > kMaxPartitions) {
    return InvalidArgument("Invalid ", action, ": 'partitions' must be within 1..", kMaxPartitions);
  }
  return arrow::Status::OK();
}

// What a driver learns of a begun query (begin's and plan's result).
arrow::Result<Json> StartedReply(const StartedQuery& started) {
  Json assignment = Json::array();
  for (size_t p = 0; p < started.assignment.size(); ++p) {
    const auto& node = started.serving[started.assignment[p]];
    assignment.push_back({{"partition", p}, {"node", node.id}, {"uri", node.uri}});
  }
  ARROW_ASSIGN_OR_RAISE(auto info_bytes, started.info->SerializeToString());
  return Json{{"query_id", started.id},
              {"credential", started.producer_credential},
              {"assignment", std::move(assignment)},
              {"flight_info", Base64(info_bytes)}};
}

}  // namespace

arrow::Status FlightManager::Impl::HandleAction(const fl::ServerCallContext&, const fl::Action& action,
                                                std::unique_ptr<fl::ResultStream>* result) {
  const std::string_view body = action.body ? std::string_view(*action.body) : std::string_view();
  ARROW_ASSIGN_OR_RAISE(auto json, ParseJsonBody(body, action.type));
  ARROW_ASSIGN_OR_RAISE(auto credential, Field<std::string>(json, "credential", action.type));
  if (action.type == kBeginAction) {
    if (!ClusterCredentials::Matches(credentials_.DriverCredential(), credential)) {
      return Unauthenticated("Invalid driver credential: only holders of the cluster secret may begin distributed queries");
    }
    QueryPlan plan;
    ARROW_RETURN_NOT_OK(ParseShape(json, action.type, &plan));
    ARROW_ASSIGN_OR_RAISE(plan.ordered, OptionalField<bool>(json, "ordered", false, action.type));
    if (json.contains("nodes")) {
      ARROW_ASSIGN_OR_RAISE(plan.nodes, Field<int>(json, "nodes", action.type));
    }
    if (json.contains("timeout_ms")) {
      ARROW_ASSIGN_OR_RAISE(auto ms, Field<int64_t>(json, "timeout_ms", action.type));
      if (ms < 1 || ms > kMaxTimeoutMs) {
        return InvalidArgument("Invalid ", action.type, ": 'timeout_ms' must be within 1..", kMaxTimeoutMs);
      }
      plan.timeout = std::chrono::milliseconds(ms);
    }
    ARROW_ASSIGN_OR_RAISE(plan.description,
                          OptionalField<std::string>(json, "description", std::string(), action.type));
    ARROW_ASSIGN_OR_RAISE(auto started, BeginQuery(plan, fl::FlightDescriptor::Command("")));
    ARROW_ASSIGN_OR_RAISE(auto reply, StartedReply(started));
    *result = std::make_unique<fl::SimpleResultStream>(JsonResult(std::move(reply)));
    return arrow::Status::OK();
  }
  if (action.type == kPlanAction) {
    // The driver of a reserved query (ReserveQuery) gives its shape.
    ARROW_ASSIGN_OR_RAISE(auto query_id, Field<std::string>(json, "query", action.type));
    ARROW_RETURN_NOT_OK(CheckProducer(query_id, credential));
    std::unique_ptr<Reservation> reservation;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = reserved_.find(query_id);
      if (it == reserved_.end()) {
        return NotFound("Distributed query ", Clip(query_id, 100), " awaits no plan on node ", options_.node_id,
                        ": it was planned already, withdrawn (its job failed or was cancelled), or reserved "
                        "on another node");
      }
      reservation = std::move(it->second);
      reserved_.erase(it);
    }
    QueryPlan plan = reservation->plan;
    auto begun = [&]() -> arrow::Result<StartedQuery> {
      ARROW_RETURN_NOT_OK(ParseShape(json, action.type, &plan));
      return BeginQuery(plan, reservation->descriptor, query_id);
    }();
    if (!begun.ok()) {
      reservation->started.set_value(begun.status());
      return begun.status();
    }
    auto reply = StartedReply(*begun);
    auto started = std::make_shared<StartedQuery>(std::move(begun).ValueOrDie());
    reservation->started.set_value(std::move(started));
    ARROW_RETURN_NOT_OK(reply.status());
    *result = std::make_unique<fl::SimpleResultStream>(JsonResult(std::move(reply).ValueOrDie()));
    return arrow::Status::OK();
  }
  ARROW_ASSIGN_OR_RAISE(auto query_id, Field<std::string>(json, "query", action.type));
  ARROW_RETURN_NOT_OK(CheckProducer(query_id, credential));
  if (action.type == kCompleteAction) {
    ARROW_ASSIGN_OR_RAISE(auto list, Field<Json>(json, "committed", action.type));
    if (!list.is_array()) return InvalidArgument("Invalid ", action.type, ": 'committed' must be an array");
    std::vector<CommittedPartition> committed;
    for (const auto& item : list) {
      if (!item.is_object()) return InvalidArgument("Invalid ", action.type, ": 'committed' holds objects");
      ARROW_ASSIGN_OR_RAISE(auto partition, Field<int32_t>(item, "partition", action.type));
      ARROW_ASSIGN_OR_RAISE(auto attempt, Field<int32_t>(item, "attempt", action.type));
      committed.push_back({partition, attempt});
    }
    ARROW_RETURN_NOT_OK(Complete(query_id, committed));
    *result = std::make_unique<fl::SimpleResultStream>(JsonResult({{"query_id", query_id}, {"state", "COMPLETED"}}));
    return arrow::Status::OK();
  }
  if (action.type == kFailAction) {
    ARROW_ASSIGN_OR_RAISE(auto reason, OptionalField<std::string>(json, "reason",
                                                                  std::string("the driver gave no reason"), action.type));
    reason = Clip(reason, 4000);
    // The status readers get: the driver classifies its engine's failure.
    ARROW_ASSIGN_OR_RAISE(auto code, OptionalField<std::string>(json, "status", std::string("UNKNOWN"), action.type));
    FailureKind kind;
    if (code == "UNKNOWN") {
      kind = FailureKind::kProducer;
    } else if (code == "INVALID_ARGUMENT") {
      kind = FailureKind::kInvalid;
    } else if (code == "INTERNAL") {
      kind = FailureKind::kInternal;
    } else if (code == "UNAVAILABLE") {
      kind = FailureKind::kNodeLost;
    } else {
      return InvalidArgument("Invalid ", action.type, " body: status must be UNKNOWN, INVALID_ARGUMENT, INTERNAL "
                             "or UNAVAILABLE, got '", Clip(code, 100), "'");
    }
    ARROW_RETURN_NOT_OK(Fail(query_id, kind, reason));
    *result = std::make_unique<fl::SimpleResultStream>(JsonResult({{"query_id", query_id}, {"state", "FAILED"}}));
    return arrow::Status::OK();
  }
  return Unimplemented("Unknown exchange action '", Clip(action.type, 100), "'");
}

// --- FlightManager: the Flight calls ----------------------------------------------

bool FlightManager::IsExchangePut(const fl::FlightDescriptor& descriptor) {
  return descriptor.type == fl::FlightDescriptor::CMD && descriptor.cmd.rfind(kExchangePutPrefix, 0) == 0;
}

arrow::Status FlightManager::HandlePut(const fl::ServerCallContext& context,
                                       std::unique_ptr<fl::FlightMessageReader> reader,
                                       std::unique_ptr<fl::FlightMetadataWriter> writer) {
  return impl_->HandlePut(context, std::move(reader), std::move(writer));
}

std::optional<std::string> FlightManager::ExchangeQueryId(std::string_view result_id) {
  if (result_id.rfind(kTicketPrefix, 0) != 0) return std::nullopt;
  return std::string(result_id.substr(kTicketPrefix.size()));
}

arrow::Result<std::optional<std::string>> FlightManager::DecodeTicket(const fl::Ticket& ticket) const {
  ARROW_ASSIGN_OR_RAISE(auto contents, impl_->tickets_.Decode(ticket.ticket, std::chrono::system_clock::now()));
  return ExchangeQueryId(contents.result_id);
}

arrow::Status FlightManager::HandleGet(const fl::ServerCallContext& context, const std::string& query_id,
                                       std::unique_ptr<fl::FlightDataStream>* stream) {
  return impl_->HandleGet(context, query_id, stream);
}

bool FlightManager::IsExchangeAction(std::string_view type) {
  return type == kBeginAction || type == kPlanAction || type == kCompleteAction || type == kFailAction;
}

arrow::Status FlightManager::HandleAction(const fl::ServerCallContext& context, const fl::Action& action,
                                          std::unique_ptr<fl::ResultStream>* result) {
  return impl_->HandleAction(context, action, result);
}

arrow::Result<std::optional<bool>> FlightManager::CancelFlightInfo(const fl::FlightInfo& info) {
  for (const auto& endpoint : info.endpoints()) {
    auto decoded = impl_->tickets_.Decode(endpoint.ticket.ticket, std::chrono::system_clock::now());
    if (!decoded.ok()) continue;
    if (auto id = ExchangeQueryId(decoded->result_id)) {
      ARROW_ASSIGN_OR_RAISE(bool cancelled, CancelQuery(*id, Msg("cancelled by a client on node ", node_id())));
      return std::optional<bool>(cancelled);
    }
  }
  return std::optional<bool>();
}

}  // namespace squadron::cluster
