#include "flight/sql_server.h"

#include <algorithm>
#include <chrono>
#include <limits>

#include <arrow/flight/types.h>
#include <arrow/ipc/writer.h>
#include <arrow/record_batch.h>
#include <arrow/util/byte_size.h>
#include <spdlog/spdlog.h>

#include "common/status.h"
#include "flight/actions.h"
#include "flight/command.h"
#include "flight/polls.h"
#include "flight/prepared_statements.h"
#include "flight/running_queries.h"
#include "flight/sessions.h"
#include "flight/transactions.h"
#include "flight/result_store.h"
#include "flight/sql_info.h"
#include "flight/ticket.h"

namespace squadron::flight {

namespace fl = arrow::flight;
using Clock = std::chrono::steady_clock;

namespace {

// Marks a PollFlightInfo descriptor of ours: the prefix, then a signed token.
constexpr std::string_view kPollPrefix = "squadron.poll:";

// A first batch with fewer rows than this is probably the whole result.
constexpr int64_t kSmallBatchRows = 2048;

// Longest SQL text written into one log line.
constexpr size_t kMaxLoggedSql = 300;

std::string ForLog(const std::string& sql) {
  return sql.size() <= kMaxLoggedSql ? sql : sql.substr(0, kMaxLoggedSql) + "...";
}

double MillisSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

arrow::Result<std::string> SerializeSchema(const std::shared_ptr<arrow::Schema>& schema) {
  ARROW_ASSIGN_OR_RAISE(auto buffer, arrow::ipc::SerializeSchema(*schema));
  return buffer->ToString();
}

// The batches of a DoPut. gRPC reports a client that cancelled or
// disconnected mid-stream as a plain end of stream; this reader turns that
// into an error, so nothing half-sent is ever committed.
class ClientStreamReader final : public arrow::RecordBatchReader {
 public:
  ClientStreamReader(std::unique_ptr<fl::FlightMessageReader> reader, const fl::ServerCallContext& context)
      : reader_(std::move(reader)), context_(context) {}

  std::shared_ptr<arrow::Schema> schema() const override {
    auto schema = reader_->GetSchema();
    return schema.ok() ? *schema : arrow::schema({});
  }

  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* batch) override {
    ARROW_ASSIGN_OR_RAISE(auto chunk, reader_->Next());
    if (chunk.data == nullptr && context_.is_cancelled()) {
      return Cancelled("The client cancelled or disconnected before the end of its stream; "
                       "nothing from it was written");
    }
    *batch = std::move(chunk.data);
    return arrow::Status::OK();
  }

 private:
  std::unique_ptr<fl::FlightMessageReader> reader_;
  const fl::ServerCallContext& context_;  // outlives the call's reader
};

// Reads every batch of a DoPut (parameter sets), up to `max_bytes` in all.
arrow::Result<engine::ParameterBatches> ReadParameterBatches(arrow::RecordBatchReader& reader,
                                                             int64_t max_bytes) {
  engine::ParameterBatches batches;
  int64_t bytes = 0;
  while (true) {
    ARROW_ASSIGN_OR_RAISE(auto batch, reader.Next());
    if (batch == nullptr) return batches;
    bytes += arrow::util::TotalBufferSize(*batch);
    if (bytes > max_bytes) {
      return InvalidArgument("Parameter batches exceed ", max_bytes,
                             " bytes in one DoPut: send fewer parameter rows per call");
    }
    batches.push_back(std::move(batch));
  }
}

// Who is calling: their session, when their cookie names one.
struct Caller {
  std::string session_id;  // "" outside any session
  ClientSession session;
};

int32_t Int32Millis(std::chrono::milliseconds d) {
  return static_cast<int32_t>(std::min<int64_t>(d.count(), std::numeric_limits<int32_t>::max()));
}

std::vector<fl::Result> OneResult(std::string body) {
  std::vector<fl::Result> results;
  results.push_back(fl::Result{arrow::Buffer::FromString(std::move(body))});
  return results;
}

arrow::Result<Command> ParseDescriptor(const fl::FlightDescriptor& descriptor) {
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
  PendingResultReader(std::unique_ptr<PendingResult> result, const fl::ServerCallContext& call)
      : result_(std::move(result)), start_(Clock::now()) {
    if (result_->control) result_->control->SetCall(&call);
  }

  ~PendingResultReader() override {
    if (result_->control) {
      result_->control->DetachEngine();  // before the session goes
      result_->control->SetCall(nullptr);
    }
    spdlog::info("event=result_streamed rows={} batches={} bytes={} ms={:.1f} complete={} query={:?}",
                 rows_, batches_, bytes_, MillisSince(start_), complete_,
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
        return result_->control ? result_->control->Explain(next.status()) : next.status();
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
  std::unique_ptr<PendingResult> result_;
  size_t next_prefetched_ = 0;
  const Clock::time_point start_;
  int64_t rows_ = 0;
  int64_t bytes_ = 0;
  int64_t batches_ = 0;
  bool complete_ = false;
};

}  // namespace

class FlightSqlServer::Impl {
 public:
  Impl(engine::Engine* engine, FlightSqlOptions options)
      : engine_(engine),
        options_(std::move(options)),
        tickets_(options_.ticket_secret),
        results_({options_.result_ttl, options_.max_open_results}),
        statements_({options_.statement_idle_timeout, options_.max_prepared_statements}),
        sessions_({options_.session_idle_timeout, options_.max_sessions}),
        transactions_({options_.transaction_idle_timeout, options_.max_transactions}),
        sql_info_(MakeServerSqlInfo({engine->name(), engine->version(), engine->read_only(),
                                     Int32Millis(options_.statement_idle_timeout),
                                     Int32Millis(options_.transaction_idle_timeout)})) {
    using std::chrono::milliseconds;
    results_.StartReaper(std::clamp(options_.result_ttl / 2, milliseconds(50), milliseconds(10000)));
  }

  arrow::Status GetFlightInfo(const fl::ServerCallContext& context, const fl::FlightDescriptor& descriptor,
                              std::unique_ptr<fl::FlightInfo>* info) {
    ARROW_ASSIGN_OR_RAISE(auto command, ParseDescriptor(descriptor));
    ARROW_ASSIGN_OR_RAISE(auto caller, ResolveCaller(context));
    if (auto* query = std::get_if<StatementQueryCommand>(&command)) {
      ARROW_ASSIGN_OR_RAISE(auto transaction, FindTransaction(caller, query->transaction_id));
      return ExecuteQuery(context, caller, transaction, query->query, {}, descriptor, info);
    }
    if (auto* sql_info = std::get_if<GetSqlInfoCommand>(&command)) {
      return AnswerSqlInfo(*sql_info, descriptor, info);
    }
    if (auto* prepared = std::get_if<PreparedStatementQueryCommand>(&command)) {
      ARROW_ASSIGN_OR_RAISE(auto statement, statements_.Get(prepared->handle, caller.session_id));
      ARROW_ASSIGN_OR_RAISE(auto transaction, FindTransaction(caller, statement.transaction_id));
      return ExecuteQuery(context, caller, transaction, statement.sql, statement.parameters, descriptor, info);
    }
    return InvalidArgument(CommandName(command), " is sent with DoPut, not GetFlightInfo");
  }

  arrow::Status GetSchema(const fl::ServerCallContext& context, const fl::FlightDescriptor& descriptor,
                          std::unique_ptr<fl::SchemaResult>* result) {
    ARROW_ASSIGN_OR_RAISE(auto command, ParseDescriptor(descriptor));
    ARROW_ASSIGN_OR_RAISE(auto caller, ResolveCaller(context));
    if (auto* query = std::get_if<StatementQueryCommand>(&command)) {
      ARROW_ASSIGN_OR_RAISE(auto transaction, FindTransaction(caller, query->transaction_id));
      ARROW_ASSIGN_OR_RAISE(auto description, Prepare(caller, transaction.get(), query->query));
      ARROW_ASSIGN_OR_RAISE(*result, fl::SchemaResult::Make(*description.result_schema));
      return arrow::Status::OK();
    }
    if (std::holds_alternative<GetSqlInfoCommand>(command)) {
      ARROW_ASSIGN_OR_RAISE(*result, fl::SchemaResult::Make(*SqlInfoSchema()));
      return arrow::Status::OK();
    }
    if (auto* prepared = std::get_if<PreparedStatementQueryCommand>(&command)) {
      ARROW_ASSIGN_OR_RAISE(auto statement, statements_.Get(prepared->handle, caller.session_id));
      ARROW_ASSIGN_OR_RAISE(*result, fl::SchemaResult::Make(*statement.description.result_schema));
      return arrow::Status::OK();
    }
    return InvalidArgument(CommandName(command), " has no result schema");
  }

  arrow::Status DoGet(const fl::ServerCallContext& context, const fl::Ticket& ticket,
                      std::unique_ptr<fl::FlightDataStream>* stream) {
    ARROW_ASSIGN_OR_RAISE(auto contents,
                          tickets_.Decode(ticket.ticket, std::chrono::system_clock::now()));
    ARROW_ASSIGN_OR_RAISE(auto result, results_.Take(contents.result_id));
    auto reader = std::make_shared<PendingResultReader>(std::move(result), context);
    *stream = std::make_unique<fl::RecordBatchStream>(reader);
    return arrow::Status::OK();
  }

  arrow::Status DoPut(const fl::ServerCallContext& context, std::unique_ptr<fl::FlightMessageReader> reader,
                      std::unique_ptr<fl::FlightMetadataWriter> writer) {
    ARROW_ASSIGN_OR_RAISE(auto command, ParseDescriptor(reader->descriptor()));
    ARROW_ASSIGN_OR_RAISE(auto caller, ResolveCaller(context));
    auto batches = std::make_shared<ClientStreamReader>(std::move(reader), context);
    if (auto* update = std::get_if<StatementUpdateCommand>(&command)) {
      ARROW_ASSIGN_OR_RAISE(auto transaction, FindTransaction(caller, update->transaction_id));
      ARROW_ASSIGN_OR_RAISE(auto count, ExecuteUpdate(context, caller, transaction, update->query, {}));
      return writer->WriteMetadata(*arrow::Buffer::FromString(SerializeDoPutUpdateResult(count)));
    }
    if (auto* update = std::get_if<PreparedStatementUpdateCommand>(&command)) {
      ARROW_ASSIGN_OR_RAISE(auto statement, statements_.Get(update->handle, caller.session_id));
      ARROW_ASSIGN_OR_RAISE(auto parameters,
                            ReadParameterBatches(*batches, options_.max_parameter_bytes));
      if (parameters.empty()) parameters = statement.parameters;
      ARROW_ASSIGN_OR_RAISE(auto transaction, FindTransaction(caller, statement.transaction_id));
      ARROW_ASSIGN_OR_RAISE(auto count, ExecuteUpdate(context, caller, transaction, statement.sql, parameters));
      return writer->WriteMetadata(*arrow::Buffer::FromString(SerializeDoPutUpdateResult(count)));
    }
    if (auto* ingest = std::get_if<StatementIngestCommand>(&command)) {
      ARROW_ASSIGN_OR_RAISE(auto transaction, FindTransaction(caller, ingest->transaction_id));
      ARROW_ASSIGN_OR_RAISE(auto count, Ingest(context, caller, transaction, ingest->request, std::move(batches)));
      return writer->WriteMetadata(*arrow::Buffer::FromString(SerializeDoPutUpdateResult(count)));
    }
    if (auto* query = std::get_if<PreparedStatementQueryCommand>(&command)) {
      // Binds parameters for the following GetFlightInfo of the same handle.
      ARROW_ASSIGN_OR_RAISE(auto parameters,
                            ReadParameterBatches(*batches, options_.max_parameter_bytes));
      ARROW_RETURN_NOT_OK(statements_.Bind(query->handle, caller.session_id, std::move(parameters)));
      return writer->WriteMetadata(
          *arrow::Buffer::FromString(SerializeDoPutPreparedStatementResult(query->handle)));
    }
    return InvalidArgument(CommandName(command), " is not sent with DoPut");
  }

  arrow::Status DoAction(const fl::ServerCallContext& context, const fl::Action& action,
                         std::unique_ptr<fl::ResultStream>* result) {
    const std::string_view body =
        action.body ? std::string_view(*action.body) : std::string_view();
    if (action.type == fl::ActionType::kCancelFlightInfo.type) {
      return CancelFlightInfo(action, result);
    }
    if (action.type == kCancelQuery) return CancelQuery(body, result);
    if (action.type == kCreatePreparedStatement) return CreatePreparedStatement(context, body, result);
    if (action.type == kClosePreparedStatement) return ClosePreparedStatement(context, body, result);
    if (action.type == kBeginTransaction) return BeginTransaction(context, body, result);
    if (action.type == kEndTransaction) return EndTransaction(context, body, result);
    if (action.type == kBeginSavepoint || action.type == kEndSavepoint) {
      return Unimplemented(action.type, ": DuckDB has no savepoints (SqlInfo SQL_SAVEPOINTS_SUPPORTED "
                           "is false); use transactions");
    }
    if (action.type == fl::ActionType::kSetSessionOptions.type) return SetSessionOptions(context, body, result);
    if (action.type == fl::ActionType::kGetSessionOptions.type) return GetSessionOptions(context, result);
    if (action.type == fl::ActionType::kCloseSession.type) return CloseSession(context, result);
    return Unimplemented("Action '", action.type,
                         "' is not implemented by Squadron (ListActions names those that are)");
  }

  std::vector<fl::ActionType> ListActions() const {
    return {
        fl::ActionType::kCancelFlightInfo,
        {std::string(kCreatePreparedStatement),
         "Prepare a statement: returns its handle, result and parameter schemas"},
        {std::string(kClosePreparedStatement), "Close a prepared statement handle"},
        {std::string(kCancelQuery), "Deprecated: cancel the query a FlightInfo names (use CancelFlightInfo)"},
        {std::string(kBeginTransaction), "Begin a transaction: returns its id"},
        {std::string(kEndTransaction), "Commit or roll back a transaction"},
        fl::ActionType::kSetSessionOptions,
        fl::ActionType::kGetSessionOptions,
        fl::ActionType::kCloseSession,
    };
  }

  arrow::Status PollFlightInfo(const fl::ServerCallContext& context, const fl::FlightDescriptor& descriptor,
                               std::unique_ptr<fl::PollInfo>* info) {
    if (descriptor.type == fl::FlightDescriptor::CMD && descriptor.cmd.rfind(kPollPrefix, 0) == 0) {
      ARROW_ASSIGN_OR_RAISE(auto token, tickets_.Decode(descriptor.cmd.substr(kPollPrefix.size()),
                                                        std::chrono::system_clock::now()));
      ARROW_ASSIGN_OR_RAISE(*info, polls_.Poll(token.result_id, descriptor));
      return arrow::Status::OK();
    }
    ARROW_ASSIGN_OR_RAISE(auto command, ParseDescriptor(descriptor));
    ARROW_ASSIGN_OR_RAISE(auto caller, ResolveCaller(context));
    std::string sql;
    engine::ParameterBatches parameters;
    std::optional<std::string> transaction_id;
    if (auto* query = std::get_if<StatementQueryCommand>(&command)) {
      sql = query->query;
      transaction_id = query->transaction_id;
    } else if (auto* prepared = std::get_if<PreparedStatementQueryCommand>(&command)) {
      ARROW_ASSIGN_OR_RAISE(auto statement, statements_.Get(prepared->handle, caller.session_id));
      sql = statement.sql;
      parameters = statement.parameters;
      transaction_id = statement.transaction_id;
    } else {
      // Anything else is quick: answer at once, complete.
      auto complete = std::make_unique<fl::PollInfo>();
      ARROW_RETURN_NOT_OK(GetFlightInfo(context, descriptor, &complete->info));
      complete->progress = 1.0;
      *info = std::move(complete);
      return arrow::Status::OK();
    }
    ARROW_ASSIGN_OR_RAISE(auto transaction, FindTransaction(caller, transaction_id));
    return StartPoll(caller, transaction, sql, std::move(parameters), descriptor, info);
  }

  void ReleaseResults() {
    polls_.StopAll();
    results_.Stop();
  }

 private:
  // The transaction a command names, or null for none (autocommit).
  arrow::Result<std::shared_ptr<Transaction>> FindTransaction(
      const Caller& caller, const std::optional<std::string>& transaction_id) {
    if (!transaction_id || transaction_id->empty()) return nullptr;
    return transactions_.Get(*transaction_id, caller.session_id);
  }

  arrow::Result<engine::StatementDescription> Prepare(const Caller& caller, Transaction* transaction,
                                                      const std::string& sql) {
    if (transaction) return transaction->Prepare(sql);
    ARROW_ASSIGN_OR_RAISE(auto session, engine_->OpenSession(caller.session.settings));
    return session->Prepare(sql);
  }

  arrow::Status ExecuteQuery(const fl::ServerCallContext& context, const Caller& caller,
                             const std::shared_ptr<Transaction>& transaction, const std::string& sql,
                             const engine::ParameterBatches& parameters,
                             const fl::FlightDescriptor& descriptor,
                             std::unique_ptr<fl::FlightInfo>* info) {
    const auto start = Clock::now();
    const std::string result_id = ResultStore::NewId();
    auto pending = std::make_unique<PendingResult>();
    pending->description = sql;
    pending->control = Watch(context, caller, result_id);
    auto status = RunQuery(caller, transaction, sql, parameters, pending.get());
    pending->control->SetCall(nullptr);  // the GetFlightInfo call ends here
    if (!status.ok()) {
      status = pending->control->Explain(status);
      spdlog::info("event=query_failed ms={:.1f} error={:?} query={:?}", MillisSince(start),
                   status.message(), ForLog(sql));
      return status;
    }
    const int64_t total_records = KnownRowCount(*pending);
    const auto schema = pending->schema;
    ARROW_ASSIGN_OR_RAISE(*info, Publish(result_id, std::move(pending), *schema, descriptor, total_records));
    spdlog::info("event=query_executed ms={:.1f} total_records={} parameter_batches={} query={:?}",
                 MillisSince(start), total_records, parameters.size(), ForLog(sql));
    return arrow::Status::OK();
  }

  // Runs the statement and fetches its first batch, so that errors raised by
  // execution surface here rather than in DoGet, and small results are
  // complete (with a known row count) before the client fetches them.
  arrow::Status RunQuery(const Caller& caller, const std::shared_ptr<Transaction>& transaction,
                         const std::string& sql, const engine::ParameterBatches& parameters,
                         PendingResult* pending) {
    if (transaction) {
      pending->control->AttachEngine(InterruptOf(transaction));
      ARROW_ASSIGN_OR_RAISE(pending->stream, transaction->Execute(sql, parameters));
    } else {
      if (!pending->session) {
        ARROW_ASSIGN_OR_RAISE(pending->session, engine_->OpenSession(caller.session.settings));
      }
      engine::Session* session = pending->session.get();
      pending->control->AttachEngine([session] { session->Interrupt(); },
                                     [session] { return session->Progress(); });
      ARROW_ASSIGN_OR_RAISE(pending->stream, session->Execute(sql, parameters));
    }
    pending->schema = pending->stream->schema();
    ARROW_ASSIGN_OR_RAISE(auto first, pending->stream->Next());
    if (first == nullptr) {
      pending->control->DetachEngine();
      pending->stream.reset();
      pending->session.reset();
      return arrow::Status::OK();
    }
    // A first batch shorter than one engine vector almost always means the
    // result has ended; one more pull confirms it, frees the engine session
    // now and gives the client an exact row count.
    const bool small = first->num_rows() < kSmallBatchRows;
    pending->prefetched.push_back(std::move(first));
    if (small && !pending->stream->num_rows()) {
      ARROW_ASSIGN_OR_RAISE(auto second, pending->stream->Next());
      if (second == nullptr) {
        pending->control->DetachEngine();
        pending->stream.reset();
        pending->session.reset();
      } else {
        pending->prefetched.push_back(std::move(second));
      }
    }
    return arrow::Status::OK();
  }

  // Starts a query on a thread of its own and answers with a PollInfo whose
  // descriptor (a signed token) the client polls with.
  arrow::Status StartPoll(const Caller& caller, const std::shared_ptr<Transaction>& transaction,
                          const std::string& sql, engine::ParameterBatches parameters,
                          const fl::FlightDescriptor& descriptor, std::unique_ptr<fl::PollInfo>* info) {
    // Planning errors (bad SQL, missing table) come back from this first call.
    ARROW_ASSIGN_OR_RAISE(auto description, Prepare(caller, transaction.get(), sql));
    const std::string result_id = ResultStore::NewId();
    const auto expires_at = std::chrono::system_clock::now() + options_.result_ttl;
    auto pending = std::make_shared<std::unique_ptr<PendingResult>>(std::make_unique<PendingResult>());
    (*pending)->description = sql;
    (*pending)->control = std::make_shared<QueryControl>(
        caller.session.query_timeout.value_or(options_.query_timeout));
    running_.Add(result_id, (*pending)->control);
    if (!transaction) {
      ARROW_ASSIGN_OR_RAISE((*pending)->session, engine_->OpenSession(caller.session.settings));
      ARROW_RETURN_NOT_OK((*pending)->session->TrackProgress());
    }
    // While it runs, the FlightInfo has no endpoint (none is ready to fetch);
    // its app_metadata names the poll so CancelFlightInfo can stop it.
    const std::string poll_token = std::string(kPollPrefix) + tickets_.Encode({result_id, expires_at});
    ARROW_ASSIGN_OR_RAISE(auto running, fl::FlightInfo::Make(*description.result_schema, descriptor, {},
                                                             -1, -1, /*ordered=*/true, poll_token));
    auto work = [this, caller, transaction, sql, parameters = std::move(parameters), pending, result_id,
                 descriptor]() -> arrow::Result<std::unique_ptr<fl::FlightInfo>> {
      const auto start = Clock::now();
      PendingResult* result = pending->get();
      auto status = RunQuery(caller, transaction, sql, parameters, result);
      if (!status.ok()) {
        status = result->control->Explain(status);
        spdlog::info("event=query_failed mode=poll ms={:.1f} error={:?} query={:?}", MillisSince(start),
                     status.message(), ForLog(sql));
        return status;
      }
      const int64_t total_records = KnownRowCount(*result);
      const auto schema = result->schema;
      spdlog::info("event=query_executed mode=poll ms={:.1f} total_records={} query={:?}",
                   MillisSince(start), total_records, ForLog(sql));
      return Publish(result_id, std::move(*pending), *schema, descriptor, total_records);
    };
    polls_.Start(result_id, expires_at, std::make_unique<fl::FlightInfo>(running), (*pending)->control,
                 std::move(work));
    *info = std::make_unique<fl::PollInfo>();
    (*info)->info = std::make_unique<fl::FlightInfo>(std::move(running));
    (*info)->descriptor = fl::FlightDescriptor::Command(poll_token);
    (*info)->progress = 0.0;
    (*info)->expiration_time = std::chrono::time_point_cast<std::chrono::nanoseconds>(expires_at);
    return arrow::Status::OK();
  }

  static int64_t KnownRowCount(const PendingResult& pending) {
    if (pending.stream == nullptr) {
      int64_t rows = 0;
      for (const auto& batch : pending.prefetched) rows += batch->num_rows();
      return rows;
    }
    return pending.stream->num_rows().value_or(-1);
  }

  arrow::Result<int64_t> ExecuteUpdate(const fl::ServerCallContext& context, const Caller& caller,
                                       const std::shared_ptr<Transaction>& transaction, const std::string& sql,
                                       const engine::ParameterBatches& parameters) {
    const auto start = Clock::now();
    auto control = Watch(context, caller, "");
    arrow::Result<int64_t> count;
    if (transaction) {
      control->AttachEngine(InterruptOf(transaction));
      count = transaction->ExecuteUpdate(sql, parameters);
    } else {
      ARROW_ASSIGN_OR_RAISE(auto session, engine_->OpenSession(caller.session.settings));
      control->AttachEngine([s = session.get()] { s->Interrupt(); });
      count = session->ExecuteUpdate(sql, parameters);
    }
    control->DetachEngine();
    control->SetCall(nullptr);
    if (!count.ok()) count = control->Explain(count.status());
    if (!count.ok()) {
      spdlog::info("event=update_failed ms={:.1f} error={:?} query={:?}", MillisSince(start),
                   count.status().message(), ForLog(sql));
      return count.status();
    }
    spdlog::info("event=update_executed rows={} ms={:.1f} parameter_batches={} query={:?}", *count,
                 MillisSince(start), parameters.size(), ForLog(sql));
    return count;
  }

  arrow::Result<int64_t> Ingest(const fl::ServerCallContext& context, const Caller& caller,
                                const std::shared_ptr<Transaction>& transaction,
                                const engine::IngestRequest& request,
                                std::shared_ptr<arrow::RecordBatchReader> data) {
    if (request.temporary && transaction == nullptr) {
      return InvalidArgument("A temporary table lives as long as its connection, and each statement "
                             "outside a transaction gets its own: ingest temporary tables within a "
                             "transaction");
    }
    const auto start = Clock::now();
    auto control = Watch(context, caller, "");
    arrow::Result<int64_t> rows;
    if (transaction) {
      control->AttachEngine(InterruptOf(transaction));
      rows = transaction->Ingest(request, std::move(data));
    } else {
      ARROW_ASSIGN_OR_RAISE(auto session, engine_->OpenSession(caller.session.settings));
      control->AttachEngine([s = session.get()] { s->Interrupt(); });
      rows = session->Ingest(request, std::move(data));
    }
    control->DetachEngine();
    control->SetCall(nullptr);
    if (!rows.ok()) rows = control->Explain(rows.status());
    spdlog::info("event={} table={:?} rows={} ms={:.1f}{}", rows.ok() ? "ingest_done" : "ingest_failed",
                 request.table, rows.ok() ? *rows : 0, MillisSince(start),
                 rows.ok() ? "" : fmt::format(" error={:?}", rows.status().message()));
    return rows;
  }

  arrow::Status CreatePreparedStatement(const fl::ServerCallContext& context, std::string_view body,
                                        std::unique_ptr<fl::ResultStream>* result) {
    ARROW_ASSIGN_OR_RAISE(auto request, ParseCreatePreparedStatement(body));
    ARROW_ASSIGN_OR_RAISE(auto caller, ResolveCaller(context));
    ARROW_ASSIGN_OR_RAISE(auto transaction, FindTransaction(caller, request.transaction_id));
    ARROW_ASSIGN_OR_RAISE(auto description, Prepare(caller, transaction.get(), request.query));
    ARROW_ASSIGN_OR_RAISE(auto dataset_schema, SerializeSchema(description.result_schema));
    ARROW_ASSIGN_OR_RAISE(auto parameter_schema, SerializeSchema(description.parameter_schema));
    const bool is_update = !description.is_query;
    ARROW_ASSIGN_OR_RAISE(auto handle,
                          statements_.Add({request.query, std::move(description), {}, request.transaction_id},
                                          caller.session_id));
    spdlog::debug("event=statement_prepared is_update={} query={:?}", is_update, ForLog(request.query));
    *result = std::make_unique<fl::SimpleResultStream>(OneResult(
        SerializeCreatePreparedStatementResult(handle, dataset_schema, parameter_schema, is_update)));
    return arrow::Status::OK();
  }

  arrow::Status ClosePreparedStatement(const fl::ServerCallContext& context, std::string_view body,
                                       std::unique_ptr<fl::ResultStream>* result) {
    ARROW_ASSIGN_OR_RAISE(auto handle, ParseClosePreparedStatement(body));
    ARROW_ASSIGN_OR_RAISE(auto caller, ResolveCaller(context));
    ARROW_RETURN_NOT_OK(statements_.Close(handle, caller.session_id));
    *result = std::make_unique<fl::SimpleResultStream>(std::vector<fl::Result>{});
    return arrow::Status::OK();
  }

  // The caller's session, if their cookie names one. A cookie naming a closed
  // or expired session is NOT_FOUND: its settings are gone, and running the
  // call without them could silently use another catalog.
  arrow::Result<Caller> ResolveCaller(const fl::ServerCallContext& context) {
    ReleaseExpiredSessions();
    Caller caller;
    auto id = SessionIdFromHeaders(context.incoming_headers());
    if (!id) return caller;
    ARROW_ASSIGN_OR_RAISE(caller.session, sessions_.Get(*id));
    caller.session_id = std::move(*id);
    return caller;
  }

  // The caller's session, opened (and its cookie sent) when they have none.
  arrow::Result<Caller> ResolveOrOpenSession(const fl::ServerCallContext& context) {
    ARROW_ASSIGN_OR_RAISE(auto caller, ResolveCaller(context));
    if (!caller.session_id.empty()) return caller;
    ARROW_ASSIGN_OR_RAISE(caller.session_id, sessions_.Create());
    context.AddHeader("set-cookie", std::string(kSessionCookie) + "=" + caller.session_id);
    spdlog::info("event=session_opened session={}", caller.session_id);
    return caller;
  }

  void ReleaseExpiredSessions() {
    for (const auto& id : sessions_.TakeExpired()) {
      const size_t handles = statements_.CloseOwnedBy(id);
      const size_t transactions = RollBack(transactions_.TakeOwnedBy(id));
      spdlog::info("event=session_closed reason=idle session={} prepared_statements={} "
                   "transactions_rolled_back={}", id, handles, transactions);
    }
    const size_t idle = RollBack(transactions_.TakeIdle());
    if (idle > 0) spdlog::info("event=transactions_rolled_back reason=idle count={}", idle);
  }

  static size_t RollBack(const std::vector<std::shared_ptr<Transaction>>& transactions) {
    for (const auto& transaction : transactions) (void)transaction->End(/*commit=*/false);
    return transactions.size();
  }

  arrow::Status BeginTransaction(const fl::ServerCallContext& context, std::string_view body,
                                 std::unique_ptr<fl::ResultStream>* result) {
    ARROW_RETURN_NOT_OK(ParseBeginTransaction(body));
    ARROW_ASSIGN_OR_RAISE(auto caller, ResolveCaller(context));
    ARROW_ASSIGN_OR_RAISE(auto session, engine_->OpenSession(caller.session.settings));
    ARROW_RETURN_NOT_OK(session->ExecuteUpdate("BEGIN TRANSACTION", {}).status());
    ARROW_ASSIGN_OR_RAISE(auto id, transactions_.Add(std::make_shared<Transaction>(std::move(session)),
                                                     caller.session_id));
    spdlog::debug("event=transaction_begun session={}", caller.session_id);
    *result = std::make_unique<fl::SimpleResultStream>(OneResult(SerializeBeginTransactionResult(id)));
    return arrow::Status::OK();
  }

  arrow::Status EndTransaction(const fl::ServerCallContext& context, std::string_view body,
                               std::unique_ptr<fl::ResultStream>* result) {
    ARROW_ASSIGN_OR_RAISE(auto request, ParseEndTransaction(body));
    ARROW_ASSIGN_OR_RAISE(auto caller, ResolveCaller(context));
    ARROW_ASSIGN_OR_RAISE(auto transaction, transactions_.Take(request.transaction_id, caller.session_id));
    ARROW_RETURN_NOT_OK(transaction->End(request.commit));
    spdlog::debug("event=transaction_ended commit={} session={}", request.commit, caller.session_id);
    *result = std::make_unique<fl::SimpleResultStream>(std::vector<fl::Result>{});
    return arrow::Status::OK();
  }

  arrow::Status SetSessionOptions(const fl::ServerCallContext& context, std::string_view body,
                                  std::unique_ptr<fl::ResultStream>* result) {
    ARROW_ASSIGN_OR_RAISE(auto request, fl::SetSessionOptionsRequest::Deserialize(body));
    ARROW_ASSIGN_OR_RAISE(auto caller, ResolveOrOpenSession(context));
    // Options apply one by one; each is checked by opening a connection with
    // it, so a bad catalog or time zone fails alone and changes nothing.
    std::map<std::string, fl::SetSessionOptionsResult::Error> errors;
    for (const auto& [name, value] : request.session_options) {
      ClientSession candidate = caller.session;
      auto error = ApplySessionOption(name, value, &candidate);
      if (!error && !engine_->OpenSession(candidate.settings).ok()) {
        error = fl::SetSessionOptionErrorValue::kInvalidValue;
      }
      if (error) {
        errors[name] = {*error};
      } else {
        caller.session = std::move(candidate);
      }
    }
    ARROW_RETURN_NOT_OK(sessions_.Update(caller.session_id, caller.session));
    ARROW_ASSIGN_OR_RAISE(auto out, fl::SetSessionOptionsResult(std::move(errors)).SerializeToString());
    *result = std::make_unique<fl::SimpleResultStream>(OneResult(std::move(out)));
    return arrow::Status::OK();
  }

  arrow::Status GetSessionOptions(const fl::ServerCallContext& context,
                                  std::unique_ptr<fl::ResultStream>* result) {
    ARROW_ASSIGN_OR_RAISE(auto caller, ResolveOrOpenSession(context));
    ARROW_ASSIGN_OR_RAISE(auto out,
                          fl::GetSessionOptionsResult(SessionOptions(caller.session)).SerializeToString());
    *result = std::make_unique<fl::SimpleResultStream>(OneResult(std::move(out)));
    return arrow::Status::OK();
  }

  arrow::Status CloseSession(const fl::ServerCallContext& context, std::unique_ptr<fl::ResultStream>* result) {
    ARROW_ASSIGN_OR_RAISE(auto caller, ResolveCaller(context));
    if (caller.session_id.empty()) {
      return NotFound("No session to close: the call carries no ", kSessionCookie, " cookie");
    }
    ARROW_RETURN_NOT_OK(sessions_.Close(caller.session_id));
    const size_t handles = statements_.CloseOwnedBy(caller.session_id);
    const size_t transactions = RollBack(transactions_.TakeOwnedBy(caller.session_id));
    spdlog::info("event=session_closed reason=close_session session={} prepared_statements={} "
                 "transactions_rolled_back={}", caller.session_id, handles, transactions);
    ARROW_ASSIGN_OR_RAISE(auto out, fl::CloseSessionResult(fl::CloseSessionStatus::kClosed).SerializeToString());
    *result = std::make_unique<fl::SimpleResultStream>(OneResult(std::move(out)));
    return arrow::Status::OK();
  }

  arrow::Status AnswerSqlInfo(const GetSqlInfoCommand& command, const fl::FlightDescriptor& descriptor,
                              std::unique_ptr<fl::FlightInfo>* info) {
    auto pending = std::make_unique<PendingResult>();
    pending->description = "CommandGetSqlInfo";
    pending->schema = SqlInfoSchema();
    ARROW_ASSIGN_OR_RAISE(auto batch, MakeSqlInfoBatch(sql_info_, command.info));
    const int64_t rows = batch->num_rows();
    pending->prefetched.push_back(std::move(batch));
    ARROW_ASSIGN_OR_RAISE(*info, Publish(ResultStore::NewId(), std::move(pending), *SqlInfoSchema(),
                                         descriptor, rows));
    return arrow::Status::OK();
  }

  // Stores a result and describes it: one endpoint with no location (the
  // client fetches from this server over the same connection).
  arrow::Result<std::unique_ptr<fl::FlightInfo>> Publish(std::string result_id,
                                                         std::unique_ptr<PendingResult> pending,
                                                         const arrow::Schema& schema,
                                                         const fl::FlightDescriptor& descriptor,
                                                         int64_t total_records) {
    ARROW_ASSIGN_OR_RAISE(auto receipt, results_.Put(std::move(result_id), std::move(pending)));
    fl::FlightEndpoint endpoint;
    endpoint.ticket.ticket = tickets_.Encode({receipt.id, receipt.expires_at});
    endpoint.expiration_time =
        std::chrono::time_point_cast<std::chrono::nanoseconds>(receipt.expires_at);
    ARROW_ASSIGN_OR_RAISE(auto info, fl::FlightInfo::Make(schema, descriptor, {endpoint}, total_records,
                                                          /*total_bytes=*/-1, /*ordered=*/true));
    return std::make_unique<fl::FlightInfo>(std::move(info));
  }

  arrow::Status CancelFlightInfo(const fl::Action& action, std::unique_ptr<fl::ResultStream>* result) {
    if (!action.body) return InvalidArgument("CancelFlightInfo needs a CancelFlightInfoRequest body");
    ARROW_ASSIGN_OR_RAISE(auto request,
                          fl::CancelFlightInfoRequest::Deserialize(std::string_view(*action.body)));
    if (!request.info) return InvalidArgument("CancelFlightInfoRequest carries no FlightInfo");
    ARROW_ASSIGN_OR_RAISE(auto cancelled, Cancel(*request.info));
    const auto status = cancelled ? fl::CancelStatus::kCancelled : fl::CancelStatus::kNotCancellable;
    ARROW_ASSIGN_OR_RAISE(auto body, fl::CancelFlightInfoResult(status).SerializeToString());
    *result = std::make_unique<fl::SimpleResultStream>(OneResult(std::move(body)));
    return arrow::Status::OK();
  }

  // Cancels the query a FlightInfo names: a result still waiting for its
  // DoGet is released; one being computed or streamed is interrupted, and its
  // stream ends with CANCELLED. False when there was nothing left to cancel.
  arrow::Result<bool> Cancel(const fl::FlightInfo& info) {
    bool cancelled = false;
    std::vector<std::string> tickets;
    for (const auto& endpoint : info.endpoints()) tickets.push_back(endpoint.ticket.ticket);
    if (info.app_metadata().rfind(kPollPrefix, 0) == 0) {
      tickets.push_back(info.app_metadata().substr(kPollPrefix.size()));  // a running poll
    }
    for (const auto& ticket : tickets) {
      ARROW_ASSIGN_OR_RAISE(auto contents, tickets_.Decode(ticket, std::chrono::system_clock::now()));
      if (auto control = running_.Find(contents.result_id)) {
        control->Stop(QueryControl::Reason::kCancelled);
        cancelled = true;
      }
      if (results_.Take(contents.result_id).ok()) cancelled = true;
    }
    spdlog::info("event=cancel_requested cancelled={}", cancelled);
    return cancelled;
  }

  arrow::Status CancelQuery(std::string_view body, std::unique_ptr<fl::ResultStream>* result) {
    ARROW_ASSIGN_OR_RAISE(auto serialized_info, ParseCancelQuery(body));
    ARROW_ASSIGN_OR_RAISE(auto info, fl::FlightInfo::Deserialize(serialized_info));
    ARROW_ASSIGN_OR_RAISE(auto cancelled, Cancel(*info));
    *result = std::make_unique<fl::SimpleResultStream>(OneResult(SerializeCancelQueryResult(cancelled)));
    return arrow::Status::OK();
  }

  // A control for a query or update that starts now: stopped by the client
  // cancelling `context`, by its timeout, or (with a result id) by CancelFlightInfo.
  std::shared_ptr<QueryControl> Watch(const fl::ServerCallContext& context, const Caller& caller,
                                      const std::string& result_id) {
    auto control = std::make_shared<QueryControl>(caller.session.query_timeout.value_or(options_.query_timeout));
    control->SetCall(&context);
    running_.Add(result_id, control);
    return control;
  }

  static std::function<void()> InterruptOf(const std::shared_ptr<Transaction>& transaction) {
    return [weak = std::weak_ptr<Transaction>(transaction)] {
      if (auto t = weak.lock()) t->Interrupt();
    };
  }

  engine::Engine* engine_;  // borrowed; outlives the server
  const FlightSqlOptions options_;
  const TicketCodec tickets_;
  ResultStore results_;
  PreparedStatementRegistry statements_;
  SessionStore sessions_;
  TransactionRegistry transactions_;
  RunningQueries running_;
  PollRegistry polls_;  // after running_ and results_: its threads use them
  const SqlInfoMap sql_info_;
};

FlightSqlServer::FlightSqlServer(engine::Engine* engine, FlightSqlOptions options)
    : impl_(std::make_unique<Impl>(engine, std::move(options))) {}

FlightSqlServer::~FlightSqlServer() = default;

arrow::Status FlightSqlServer::GetFlightInfo(const fl::ServerCallContext& context,
                                             const fl::FlightDescriptor& request,
                                             std::unique_ptr<fl::FlightInfo>* info) {
  return impl_->GetFlightInfo(context, request, info);
}

arrow::Status FlightSqlServer::GetSchema(const fl::ServerCallContext& context,
                                         const fl::FlightDescriptor& request,
                                         std::unique_ptr<fl::SchemaResult>* schema) {
  return impl_->GetSchema(context, request, schema);
}

arrow::Status FlightSqlServer::DoGet(const fl::ServerCallContext& context, const fl::Ticket& request,
                                     std::unique_ptr<fl::FlightDataStream>* stream) {
  return impl_->DoGet(context, request, stream);
}

arrow::Status FlightSqlServer::DoPut(const fl::ServerCallContext& context,
                                     std::unique_ptr<fl::FlightMessageReader> reader,
                                     std::unique_ptr<fl::FlightMetadataWriter> writer) {
  return impl_->DoPut(context, std::move(reader), std::move(writer));
}

arrow::Status FlightSqlServer::DoAction(const fl::ServerCallContext& context, const fl::Action& action,
                                        std::unique_ptr<fl::ResultStream>* result) {
  return impl_->DoAction(context, action, result);
}

arrow::Status FlightSqlServer::ListActions(const fl::ServerCallContext&,
                                           std::vector<fl::ActionType>* actions) {
  *actions = impl_->ListActions();
  return arrow::Status::OK();
}

arrow::Status FlightSqlServer::PollFlightInfo(const fl::ServerCallContext& context,
                                              const fl::FlightDescriptor& request,
                                              std::unique_ptr<fl::PollInfo>* info) {
  return impl_->PollFlightInfo(context, request, info);
}

void FlightSqlServer::ReleaseResults() { impl_->ReleaseResults(); }

}  // namespace squadron::flight
