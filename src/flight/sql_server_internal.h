// Private to flight/: FlightSqlServer::Impl and the helpers its files share.
// Impl is defined across sql_server.cc (dispatch), sql_server_statements.cc
// (running statements) and sql_server_sessions.cc (sessions, transactions,
// cancellation).
#pragma once

#include <algorithm>
#include <atomic>
#include <utility>
#include <chrono>
#include <functional>
#include <limits>
#include <map>
#include <thread>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <arrow/flight/client.h>
#include <arrow/extension_type.h>
#include <arrow/flight/types.h>
#include <arrow/ipc/writer.h>
#include <arrow/record_batch.h>
#include <arrow/util/byte_size.h>
#include <spdlog/spdlog.h>

#include "cluster/flight_manager.h"
#include "common/periodic_task.h"
#include "engine/read_ahead.h"
#include "common/status.h"
#include "common/text.h"
#include "auth/identity.h"
#include "flight/actions.h"
#include "flight/auth_middleware.h"
#include "flight/client_batches.h"
#include "flight/command.h"
#include "flight/metadata.h"
#include "flight/polls.h"
#include "flight/prepared_statements.h"
#include "flight/result_store.h"
#include "flight/running_queries.h"
#include "flight/sessions.h"
#include "flight/sql_info.h"
#include "flight/sql_server.h"
#include "flight/ticket.h"
#include "flight/transactions.h"

namespace squadron::flight {

namespace fl = arrow::flight;
using Clock = std::chrono::steady_clock;

// Marks a PollFlightInfo descriptor of ours: the prefix, then a signed token.
constexpr std::string_view kPollPrefix = "squadron.poll:";

// A first batch with fewer rows than this is probably the whole result.
constexpr int64_t kSmallBatchRows = 2048;

// Longest SQL text and error message written into one log field.
constexpr size_t kMaxLoggedSql = 300;
constexpr size_t kMaxLoggedError = 1000;

inline std::string ForLog(std::string_view sql) { return Clip(sql, kMaxLoggedSql); }

inline std::string ForLog(const arrow::Status& status) { return Clip(status.message(), kMaxLoggedError); }

inline double MillisSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

inline arrow::Result<std::string> SerializeSchema(const std::shared_ptr<arrow::Schema>& schema) {
  ARROW_ASSIGN_OR_RAISE(auto buffer, arrow::ipc::SerializeSchema(*schema));
  return buffer->ToString();
}

// A value made from a schema, kept for the schemas of recent results: a query
// run from a cached plan hands out the same Schema object run after run, and
// serializing it for each FlightInfo and each DoGet cost ~15 us apiece.
// Keyed by the object, which a weak reference proves alive. Thread-safe.
template <typename T>
class PerSchemaCache {
 public:
  template <typename Make>
  arrow::Result<T> Get(const std::shared_ptr<arrow::Schema>& schema, Make&& make) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = entries_.find(schema.get());
      if (it != entries_.end() && it->second.schema.lock() == schema) return it->second.value;
    }
    ARROW_ASSIGN_OR_RAISE(T value, make(schema));
    std::lock_guard<std::mutex> lock(mutex_);
    if (entries_.size() >= kMaxEntries) entries_.clear();  // dropped schemas are not worth tracking
    entries_[schema.get()] = Entry{schema, value};
    return value;
  }

 private:
  static constexpr size_t kMaxEntries = 1024;
  struct Entry {
    std::weak_ptr<arrow::Schema> schema;
    T value;
  };
  std::mutex mutex_;
  std::unordered_map<const arrow::Schema*, Entry> entries_;  // GUARDED_BY(mutex_)
};

// Counts the streams (DoGet) and uploads (DoPut) being served; each holds a
// gRPC thread and up to a few batches. Thread-safe.
class StreamSlots {
 public:
  // A place taken; given back when destroyed.
  class Slot {
   public:
    explicit Slot(std::atomic<size_t>* open) : open_(open) {}
    Slot(Slot&& other) noexcept : open_(std::exchange(other.open_, nullptr)) {}
    Slot& operator=(Slot&&) = delete;
    ~Slot() {
      if (open_) open_->fetch_sub(1);
    }

   private:
    std::atomic<size_t>* open_;
  };

  explicit StreamSlots(size_t max) : max_(max) {}

  // Slots taken now.
  size_t open() const { return open_.load(); }

  // A slot, or UNAVAILABLE naming `what` when all are taken.
  arrow::Result<Slot> Acquire(std::string_view what) {
    if (open_.fetch_add(1) >= max_) {
      open_.fetch_sub(1);
      return Unavailable(Msg("Too many streams: ", max_, " result streams and uploads are being served "
                             "(--max-streams); ", what, " was refused before it started (retry later; a "
                             "ticket stays valid until it expires)"));
    }
    return Slot(&open_);
  }

 private:
  const size_t max_;
  std::atomic<size_t> open_{0};
};

// A stream that holds its StreamSlot as long as it is served.
class SlotHoldingStream final : public fl::FlightDataStream {
 public:
  SlotHoldingStream(std::unique_ptr<fl::FlightDataStream> stream, StreamSlots::Slot slot)
      : stream_(std::move(stream)), slot_(std::move(slot)) {}
  std::shared_ptr<arrow::Schema> schema() override { return stream_->schema(); }
  arrow::Result<fl::FlightPayload> GetSchemaPayload() override { return stream_->GetSchemaPayload(); }
  arrow::Result<fl::FlightPayload> Next() override { return stream_->Next(); }
  arrow::Status Close() override { return stream_->Close(); }

 private:
  std::unique_ptr<fl::FlightDataStream> stream_;
  StreamSlots::Slot slot_;
};

// Who is calling: their session, when their cookie names one.
struct Caller {
  std::string session_id;  // "" outside any session
  ClientSession session;
  /// Who is calling (anonymous with the admin role when --auth none).
  auth::Identity identity;
  /// Whose handles (prepared statements, transactions) the call may use:
  /// the session, else the user ("user:NAME"), else "" (no authentication).
  std::string owner;
  /// The ticket owner of results this caller creates.
  const std::string& ticket_owner() const { return identity.method == "none" ? kNoOwner : identity.user; }
  static inline const std::string kNoOwner;
};

/// The engine's name for a client session (SessionSettings::client).
inline std::string EngineClientOf(const std::string& session_id) { return "session:" + session_id; }

inline int32_t Int32Millis(std::chrono::milliseconds d) {
  return static_cast<int32_t>(std::min<int64_t>(d.count(), std::numeric_limits<int32_t>::max()));
}

inline std::vector<fl::Result> OneResult(std::string body) {
  std::vector<fl::Result> results;
  results.push_back(fl::Result{arrow::Buffer::FromString(std::move(body))});
  return results;
}

inline arrow::Result<Command> ParseDescriptor(const fl::FlightDescriptor& descriptor) {
  if (descriptor.type != fl::FlightDescriptor::CMD) {
    return InvalidArgument(
        "Invalid FlightDescriptor: Squadron serves Flight SQL commands (descriptor type CMD); "
        "path descriptors name no dataset here");
  }
  return ParseCommand(descriptor.cmd);
}

// Serves a PendingResult to one DoGet: prefetched batches, then the stream.
// Logs what it sent when the call ends.
class PendingResultReader final : public arrow::RecordBatchReader {
 public:
  // `call` is the DoGet's context: it outlives this reader.
  PendingResultReader(std::unique_ptr<PendingResult> result, const fl::ServerCallContext& call,
                      std::string compression, StreamSlots::Slot slot)
      : slot_(std::move(slot)), result_(std::move(result)), compression_(std::move(compression)),
        start_(Clock::now()) {
    if (result_->control) result_->control->SetCall(&call);
  }

  ~PendingResultReader() override {
    if (result_->control) {
      result_->control->SetCall(nullptr);  // (~PendingResult detaches the engine)
    }
    spdlog::info("event=result_streamed rows={} batches={} bytes={} ms={:.1f} complete={} compression={} query={:?}",
                 rows_, batches_, bytes_, MillisSince(start_), complete_, compression_,
                 ForLog(result_->description));
  }

  std::shared_ptr<arrow::Schema> schema() const override { return result_->schema; }

  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* batch) override {
    if (result_->control) ARROW_RETURN_NOT_OK(result_->control->status());
    if (next_prefetched_ < result_->prefetched.size()) {
      *batch = std::move(result_->prefetched[next_prefetched_++]);
    } else if (result_->stream) {
      auto next = result_->stream->Next();
      if (!next.ok()) {
        return ClipMessage(result_->control ? result_->control->Explain(next.status()) : next.status());
      }
      *batch = std::move(*next);
      if (*batch == nullptr) result_->stream.reset();
    } else {
      *batch = nullptr;
    }
    if (*batch) {
      rows_ += (*batch)->num_rows();
      bytes_ += arrow::util::TotalBufferSize(**batch);
      ++batches_;
    } else {
      complete_ = true;
      if (result_->control) result_->control->DetachEngine();
      result_->session.reset();  // hand the engine connection back early
    }
    return arrow::Status::OK();
  }

 private:
  // Declared first, so given back last: the stream counts as open (Load(),
  // DescribeInFlight()) until its engine state is gone too.
  const StreamSlots::Slot slot_;
  std::unique_ptr<PendingResult> result_;
  const std::string compression_;
  size_t next_prefetched_ = 0;
  const Clock::time_point start_;
  int64_t rows_ = 0;
  int64_t bytes_ = 0;
  int64_t batches_ = 0;
  bool complete_ = false;
};

// Whether values of `type` carry a dictionary, at any depth.
inline bool HasDictionary(const arrow::DataType& type) {
  if (type.id() == arrow::Type::DICTIONARY) return true;
  if (type.id() == arrow::Type::EXTENSION) {
    return HasDictionary(*static_cast<const arrow::ExtensionType&>(type).storage_type());
  }
  for (const auto& child : type.fields()) {
    if (HasDictionary(*child->type())) return true;
  }
  return false;
}

// Sends a result's batches as Flight data, as fl::RecordBatchStream does,
// from a schema message made beforehand (see PerSchemaCache). Only for
// schemas without dictionary-encoded fields: RecordBatchStream sends those
// fields' dictionaries.
class ResultDataStream final : public fl::FlightDataStream {
 public:
  ResultDataStream(std::shared_ptr<arrow::RecordBatchReader> reader, arrow::ipc::IpcWriteOptions options,
                   fl::FlightPayload schema_payload)
      : reader_(std::move(reader)), options_(std::move(options)), schema_payload_(std::move(schema_payload)) {}

  std::shared_ptr<arrow::Schema> schema() override { return reader_->schema(); }
  arrow::Result<fl::FlightPayload> GetSchemaPayload() override { return schema_payload_; }
  arrow::Result<fl::FlightPayload> Next() override {
    std::shared_ptr<arrow::RecordBatch> batch;
    ARROW_RETURN_NOT_OK(reader_->ReadNext(&batch));
    fl::FlightPayload payload;  // no metadata: the end
    if (batch == nullptr) return payload;
    // The schema message promised these columns (RecordBatchStream checks it too).
    const auto& schema = reader_->schema();
    if (batch->schema() != schema && !batch->schema()->Equals(*schema, /*check_metadata=*/false)) {
      return Internal(Msg("A result batch does not match the result's schema: ", batch->schema()->ToString(),
                          " against ", schema->ToString()));
    }
    ARROW_RETURN_NOT_OK(arrow::ipc::GetRecordBatchPayload(*batch, options_, &payload.ipc_message));
    return payload;
  }
  arrow::Status Close() override { return reader_->Close(); }

  // The schema message of `schema`.
  static arrow::Result<fl::FlightPayload> SchemaPayload(const std::shared_ptr<arrow::Schema>& schema) {
    fl::FlightPayload payload;
    arrow::ipc::DictionaryFieldMapper mapper(*schema);
    ARROW_RETURN_NOT_OK(arrow::ipc::GetSchemaPayload(*schema, arrow::ipc::IpcWriteOptions::Defaults(), mapper,
                                                     &payload.ipc_message));
    return payload;
  }

 private:
  const std::shared_ptr<arrow::RecordBatchReader> reader_;
  const arrow::ipc::IpcWriteOptions options_;
  const fl::FlightPayload schema_payload_;
};

/// The result schema of a metadata command, or null for other commands.
std::shared_ptr<arrow::Schema> MetadataSchema(const Command& command);

class FlightSqlServer::Impl {
 public:
  Impl(engine::Engine* engine, FlightSqlOptions options);

  arrow::Status GetFlightInfo(const fl::ServerCallContext& context, const fl::FlightDescriptor& descriptor,
                              std::unique_ptr<fl::FlightInfo>* info);

  arrow::Status GetSchema(const fl::ServerCallContext& context, const fl::FlightDescriptor& descriptor,
                          std::unique_ptr<fl::SchemaResult>* result);

  arrow::Status DoGet(const fl::ServerCallContext& context, const fl::Ticket& ticket,
                      std::unique_ptr<fl::FlightDataStream>* stream);

  arrow::Status DoPut(const fl::ServerCallContext& context, std::unique_ptr<fl::FlightMessageReader> reader,
                      std::unique_ptr<fl::FlightMetadataWriter> writer);

  arrow::Status DoAction(const fl::ServerCallContext& context, const fl::Action& action,
                         std::unique_ptr<fl::ResultStream>* result);

  std::vector<fl::ActionType> ListActions() const;

  arrow::Status PollFlightInfo(const fl::ServerCallContext& context, const fl::FlightDescriptor& descriptor,
                               std::unique_ptr<fl::PollInfo>* info);

  void ReleaseResults();

  void SetCluster(cluster::FlightManager* cluster) {
    if (cluster == nullptr) StopDistributed();
    cluster_.store(cluster);
  }

  int64_t Load() const {
    return executing_.load() + static_cast<int64_t>(results_.size() + stream_slots_.open());
  }
  std::string DescribeInFlight() const {
    return Msg("queries_starting=", executing_.load(), " streams=", stream_slots_.open(),
               " unread_results=", results_.size());
  }

  ~Impl();

 private:
  // The transaction a command names, or null for none (autocommit).
  arrow::Result<std::shared_ptr<Transaction>> FindTransaction(
      const Caller& caller, const std::optional<std::string>& transaction_id);

  arrow::Result<engine::StatementDescription> Prepare(const Caller& caller, Transaction* transaction,
                                                      const std::string& sql);

  arrow::Status ExecuteQuery(const fl::ServerCallContext& context, const Caller& caller,
                             const std::shared_ptr<Transaction>& transaction, const std::string& sql,
                             const engine::ParameterBatches& parameters,
                             const fl::FlightDescriptor& descriptor,
                             std::unique_ptr<fl::FlightInfo>* info);

  // Runs the statement and waits for its first batch until
  // `first_batch_deadline` (no deadline: until it comes), so that errors
  // raised early in execution surface here rather than in DoGet, and small
  // results are complete (with a known row count) before the client fetches
  // them. Past the deadline the rows go on being computed for the DoGet.
  arrow::Status RunQuery(const Caller& caller, const std::shared_ptr<Transaction>& transaction,
                         const std::string& sql, const engine::ParameterBatches& parameters,
                         std::optional<Clock::time_point> first_batch_deadline, PendingResult* pending);

  // Starts a query on a thread of its own and answers with a PollInfo whose
  // descriptor (a signed token) the client polls with.
  arrow::Status StartPoll(const Caller& caller, const std::shared_ptr<Transaction>& transaction,
                          const std::string& sql, engine::ParameterBatches parameters,
                          const fl::FlightDescriptor& descriptor, std::unique_ptr<fl::PollInfo>* info);

  static int64_t KnownRowCount(const PendingResult& pending);

  arrow::Result<int64_t> ExecuteUpdate(const fl::ServerCallContext& context, const Caller& caller,
                                       const std::shared_ptr<Transaction>& transaction, const std::string& sql,
                                       const engine::ParameterBatches& parameters);

  arrow::Result<int64_t> Ingest(const fl::ServerCallContext& context, const Caller& caller,
                                const std::shared_ptr<Transaction>& transaction,
                                const engine::IngestRequest& request,
                                std::shared_ptr<arrow::RecordBatchReader> data);

  arrow::Status CreatePreparedStatement(const fl::ServerCallContext& context, std::string_view body,
                                        std::unique_ptr<fl::ResultStream>* result);

  arrow::Status ClosePreparedStatement(const fl::ServerCallContext& context, std::string_view body,
                                       std::unique_ptr<fl::ResultStream>* result);

  // The caller's session, if their cookie names one. A cookie naming a closed
  // or expired session is NOT_FOUND: its settings are gone, and running the
  // call without them could silently use another catalog.
  arrow::Result<Caller> ResolveCaller(const fl::ServerCallContext& context);

  // The caller's session, opened (and its cookie sent) when they have none.
  arrow::Result<Caller> ResolveOrOpenSession(const fl::ServerCallContext& context);

  void ReleaseExpiredSessions();

  static size_t RollBack(const std::vector<std::shared_ptr<Transaction>>& transactions);

  arrow::Status BeginTransaction(const fl::ServerCallContext& context, std::string_view body,
                                 std::unique_ptr<fl::ResultStream>* result);

  arrow::Status EndTransaction(const fl::ServerCallContext& context, std::string_view body,
                               std::unique_ptr<fl::ResultStream>* result);

  arrow::Status SetSessionOptions(const fl::ServerCallContext& context, std::string_view body,
                                  std::unique_ptr<fl::ResultStream>* result);

  arrow::Status GetSessionOptions(const fl::ServerCallContext& context,
                                  std::unique_ptr<fl::ResultStream>* result);

  arrow::Status CloseSession(const fl::ServerCallContext& context, std::unique_ptr<fl::ResultStream>* result);

  // Answers a metadata command (SqlInfo, catalogs, schemas, tables, table
  // types) from a small batch computed now.
  arrow::Status AnswerMetadata(const Caller& caller, const Command& command,
                               const fl::FlightDescriptor& descriptor, std::unique_ptr<fl::FlightInfo>* info);
  arrow::Result<std::shared_ptr<arrow::RecordBatch>> MetadataBatch(const Caller& caller, const Command& command);

  // Stores a result and describes it: one endpoint with no location (the
  // client fetches from this server over the same connection).
  arrow::Result<std::unique_ptr<fl::FlightInfo>> Publish(std::string result_id,
                                                         std::unique_ptr<PendingResult> pending,
                                                         const std::shared_ptr<arrow::Schema>& schema,
                                                         const fl::FlightDescriptor& descriptor,
                                                         int64_t total_records);

  // `forwarded`: sent on by another node of the cluster, and not to be sent on again.
  arrow::Status CancelFlightInfo(const auth::Identity& identity, const fl::Action& action,
                                 std::unique_ptr<fl::ResultStream>* result, bool forwarded = false);
  // NOT_FOUND when a ticket belongs to another user than the caller.
  arrow::Status CheckTicketOwner(const auth::Identity& identity, const TicketContents& contents) const;
  // Another user's query may be cancelled by an admin only (NOT_FOUND otherwise).
  arrow::Status CheckMayCancel(const auth::Identity& identity, const fl::FlightInfo& info) const;
  // PERMISSION_DENIED unless the caller's role may do it, naming the role it needs.
  arrow::Status RequireRole(const Caller& caller, auth::Role role, std::string_view what) const;
  // A reader may run only statements that change nothing (prepared here to know).
  arrow::Status CheckMayRun(const Caller& caller, Transaction* transaction, const std::string& sql);
  arrow::Status CheckMayRun(const Caller& caller, const engine::StatementDescription& description) const;

  // Cancels the query a FlightInfo names: a result still waiting for its
  // DoGet is released; one being computed or streamed is interrupted, and its
  // stream ends with CANCELLED. False when there was nothing left to cancel.
  arrow::Result<bool> Cancel(const auth::Identity& identity, const fl::FlightInfo& info, bool forwarded = false);

  arrow::Status CancelQuery(const auth::Identity& identity, std::string_view body,
                            std::unique_ptr<fl::ResultStream>* result);

  // A control for a query or update that starts now: stopped by the client
  // cancelling `context`, by its timeout, or (with a result id) by CancelFlightInfo.
  std::shared_ptr<QueryControl> Watch(const fl::ServerCallContext& context, const Caller& caller,
                                      const std::string& result_id);

  static std::function<void()> InterruptOf(const std::shared_ptr<Transaction>& transaction);

  // --- cluster (sql_server_cluster.cc) ---
  // The caller a routed call stands for: the settings its node sent along.
  // Null when the call was not routed; UNAUTHENTICATED for a forged header.
  arrow::Result<std::optional<Caller>> RoutedCaller(const fl::ServerCallContext& context);
  // Runs a read-only query on the least loaded live node when that is not
  // this one, and answers with that node's FlightInfo (its URI as the
  // endpoint's location). Null when the query should run here.
  // `descriptor` is the client's; the peer is sent the SQL as a statement.
  // `read_only`: known already (a prepared statement's description), or
  // found by preparing the statement here when a peer is chosen.
  // Runs a query distributed when the rule (options_.distribute) says so:
  // reserves it in the cluster, starts the engine's write into the nodes,
  // and returns its FlightInfo once the engine planned it; null to run it
  // here as usual.
  arrow::Result<std::unique_ptr<fl::FlightInfo>> Distribute(const fl::ServerCallContext& context,
                                                            const Caller& caller, const std::string& sql,
                                                            const fl::FlightDescriptor& descriptor);
  // Interrupts the engine writes of distributed queries that ended (cancelled,
  // failed, past their deadline) and joins finished ones.
  void CheckDistributed();
  // Interrupts and joins every distributed write (the cluster is leaving).
  void StopDistributed();
  arrow::Result<std::unique_ptr<fl::FlightInfo>> Route(const Caller& caller, const std::string& sql,
                                                       const fl::FlightDescriptor& descriptor,
                                                       std::optional<bool> read_only = std::nullopt);
  // Sends CancelFlightInfo on to the nodes the info's endpoints name, when
  // they are other nodes. True if one of them cancelled something.
  bool CancelOnPeers(const auth::Identity& identity, const fl::FlightInfo& info);
  // Proves `identity` to another node of the cluster: a bearer token (none without authentication).
  void AddIdentityHeader(const auth::Identity& identity, fl::FlightCallOptions* call) const;
  arrow::Result<std::shared_ptr<fl::FlightClient>> Peer(const std::string& uri);

  engine::Engine* engine_;  // borrowed; outlives the server
  const FlightSqlOptions options_;
  // Computes result batches ahead of their DoGet: for every stored result
  // still computing and every stream being served. Before results_, which
  // holds streams that use it.
  engine::ReadAheadPool read_ahead_;
  StreamSlots stream_slots_;
  const TicketCodec tickets_;
  // What nodes of the cluster present to each other when they route a query
  // or forward a cancel (derived from the ticket secret once).
  const std::string routing_credential_;
  ResultStore results_;
  PerSchemaCache<std::string> schema_bytes_;            // for FlightInfo
  PerSchemaCache<fl::FlightPayload> schema_payloads_;   // for DoGet
  PreparedStatementRegistry statements_;
  SessionStore sessions_;
  TransactionRegistry transactions_;
  RunningQueries running_;
  PollRegistry polls_;  // after running_ and results_: its threads use them
  const SqlInfoMap sql_info_;
  // The cluster this node belongs to, or null (borrowed; see SetCluster).
  std::atomic<cluster::FlightManager*> cluster_{nullptr};
  // Engine writes of distributed queries this node coordinates.
  struct DistributedWrite {
    std::string query_id;
    std::unique_ptr<engine::Session> session;
    std::thread thread;
    std::atomic<bool> done{false};
  };
  std::mutex distributed_mutex_;
  std::map<std::string, std::shared_ptr<DistributedWrite>> distributed_;  // GUARDED_BY(distributed_mutex_)
  // GetFlightInfo calls executing a query now (part of Load()).
  std::atomic<int64_t> executing_{0};
  // Queries this node has routed to each peer and not yet had answered:
  // added to the peer's reported load, so that a burst spreads.
  std::mutex peers_mutex_;
  std::map<std::string, std::shared_ptr<fl::FlightClient>> peers_;  // GUARDED_BY(peers_mutex_)
  std::map<std::string, int64_t> routed_in_flight_;                 // GUARDED_BY(peers_mutex_)
  // Reaps idle sessions, transactions and finished polls on a timer, so an
  // idle server does not keep their DuckDB connections until the next call.
  PeriodicTask maintenance_;
};

}  // namespace squadron::flight
