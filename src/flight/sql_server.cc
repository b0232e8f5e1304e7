// The Flight SQL server: the RPC dispatch of FlightSqlServer::Impl.
#include "flight/sql_server_internal.h"

#include "cluster/credentials.h"
#include "flight/compression.h"

namespace squadron::flight {

// The engine's dialect for SqlInfo; empty lists (with a warning) if it cannot say.
static engine::Dialect DialectOf(engine::Engine* engine) {
  auto session = engine->OpenSession({});
  auto dialect = session.ok() ? (*session)->DescribeDialect() : session.status();
  if (dialect.ok()) return std::move(*dialect);
  spdlog::warn("event=dialect_unavailable error={:?}", ForLog(dialect.status()));
  engine::Dialect fallback;  // with what the engine itself says
  fallback.transactions = engine->supports_transactions();
  return fallback;
}

FlightSqlServer::Impl::Impl(engine::Engine* engine, FlightSqlOptions options)
    : engine_(engine),
      options_(std::move(options)),
      read_ahead_(options_.max_open_results + options_.max_streams),
      stream_slots_(options_.max_streams),
      tickets_(options_.ticket_secret),
      routing_credential_(cluster::ClusterCredentials(options_.ticket_secret).DriverCredential()),
      results_({options_.result_ttl, options_.max_open_results}),
      statements_({options_.statement_idle_timeout, options_.max_prepared_statements}),
      sessions_({options_.session_idle_timeout, options_.max_sessions}),
      transactions_({options_.transaction_idle_timeout, options_.max_transactions}),
      sql_info_(MakeServerSqlInfo({engine->name(), engine->version(), engine->read_only(),
                                   Int32Millis(options_.statement_idle_timeout),
                                   Int32Millis(options_.transaction_idle_timeout), DialectOf(engine)})) {
  using std::chrono::milliseconds;
  results_.StartReaper(std::clamp(options_.result_ttl / 2, milliseconds(50), milliseconds(10000)));
  const auto interval = std::clamp(
      std::min({options_.session_idle_timeout, options_.transaction_idle_timeout}) / 4, milliseconds(50),
      milliseconds(5000));
  maintenance_.Start(interval, [this] {
    ReleaseExpiredSessions();
    polls_.size();  // drops finished polls past their expiry
    CheckDistributed();
  });
}

FlightSqlServer::Impl::~Impl() {
  StopDistributed();
  ReleaseResults();
}

arrow::Status FlightSqlServer::Impl::GetFlightInfo(const fl::ServerCallContext& context, const fl::FlightDescriptor& descriptor,
                            std::unique_ptr<fl::FlightInfo>* info) {
  ARROW_ASSIGN_OR_RAISE(auto command, ParseDescriptor(descriptor));
  ARROW_ASSIGN_OR_RAISE(auto caller, ResolveCaller(context));
  if (auto* query = std::get_if<StatementQueryCommand>(&command)) {
    ARROW_ASSIGN_OR_RAISE(auto routed_caller, RoutedCaller(context));
    if (routed_caller) return ExecuteQuery(context, *routed_caller, nullptr, query->query, {}, descriptor, info);
    ARROW_ASSIGN_OR_RAISE(auto transaction, FindTransaction(caller, query->transaction_id));
    ARROW_RETURN_NOT_OK(CheckMayRun(caller, transaction.get(), query->query));
    if (transaction == nullptr) {
      ARROW_ASSIGN_OR_RAISE(auto distributed, Distribute(context, caller, query->query, descriptor));
      if (distributed) {
        *info = std::move(distributed);
        return arrow::Status::OK();
      }
      ARROW_ASSIGN_OR_RAISE(auto routed, Route(caller, query->query, descriptor));
      if (routed) {
        *info = std::move(routed);
        return arrow::Status::OK();
      }
    }
    return ExecuteQuery(context, caller, transaction, query->query, {}, descriptor, info);
  }
  if (MetadataSchema(command) != nullptr) return AnswerMetadata(caller, command, descriptor, info);
  if (auto* prepared = std::get_if<PreparedStatementQueryCommand>(&command)) {
    ARROW_ASSIGN_OR_RAISE(auto statement, statements_.Get(prepared->handle, caller.owner));
    ARROW_RETURN_NOT_OK(CheckMayRun(caller, statement.description));
    ARROW_ASSIGN_OR_RAISE(auto transaction, FindTransaction(caller, statement.transaction_id));
    // The handle stays here; a statement without parameters may still run
    // elsewhere (ADBC and the JDBC driver prepare every query).
    if (transaction == nullptr && statement.parameters.empty()) {
      ARROW_ASSIGN_OR_RAISE(auto distributed, Distribute(context, caller, statement.sql, descriptor));
      if (distributed) {
        *info = std::move(distributed);
        return arrow::Status::OK();
      }
    }
    if (transaction == nullptr && statement.parameters.empty() && statement.description.read_only) {
      ARROW_ASSIGN_OR_RAISE(auto routed, Route(caller, statement.sql, descriptor, /*read_only=*/true));
      if (routed) {
        *info = std::move(routed);
        return arrow::Status::OK();
      }
    }
    return ExecuteQuery(context, caller, transaction, statement.sql, statement.parameters, descriptor, info);
  }
  return InvalidArgument(CommandName(command), " is sent with DoPut, not GetFlightInfo");
}

arrow::Status FlightSqlServer::Impl::GetSchema(const fl::ServerCallContext& context, const fl::FlightDescriptor& descriptor,
                        std::unique_ptr<fl::SchemaResult>* result) {
  ARROW_ASSIGN_OR_RAISE(auto command, ParseDescriptor(descriptor));
  ARROW_ASSIGN_OR_RAISE(auto caller, ResolveCaller(context));
  if (auto* query = std::get_if<StatementQueryCommand>(&command)) {
    ARROW_ASSIGN_OR_RAISE(auto transaction, FindTransaction(caller, query->transaction_id));
    ARROW_ASSIGN_OR_RAISE(auto description, Prepare(caller, transaction.get(), query->query));
    ARROW_ASSIGN_OR_RAISE(*result, fl::SchemaResult::Make(*description.result_schema));
    return arrow::Status::OK();
  }
  if (auto schema = MetadataSchema(command)) {
    ARROW_ASSIGN_OR_RAISE(*result, fl::SchemaResult::Make(*schema));
    return arrow::Status::OK();
  }
  if (auto* prepared = std::get_if<PreparedStatementQueryCommand>(&command)) {
    ARROW_ASSIGN_OR_RAISE(auto statement, statements_.Get(prepared->handle, caller.owner));
    ARROW_ASSIGN_OR_RAISE(*result, fl::SchemaResult::Make(*statement.description.result_schema));
    return arrow::Status::OK();
  }
  return InvalidArgument(CommandName(command), " has no result schema");
}

arrow::Status FlightSqlServer::Impl::DoGet(const fl::ServerCallContext& context, const fl::Ticket& ticket,
                    std::unique_ptr<fl::FlightDataStream>* stream) {
  ARROW_ASSIGN_OR_RAISE(auto identity, CallerIdentity(context));
  ARROW_ASSIGN_OR_RAISE(auto contents,
                        tickets_.Decode(ticket.ticket, std::chrono::system_clock::now()));
  ARROW_RETURN_NOT_OK(CheckTicketOwner(identity, contents));
  // Everything that can refuse the call comes before the ticket is used up.
  ARROW_ASSIGN_OR_RAISE(auto slot, stream_slots_.Acquire("this DoGet"));
  if (auto query_id = cluster::FlightManager::ExchangeQueryId(contents.result_id)) {
    auto* cluster = cluster_.load();
    if (cluster == nullptr) return NotFound("This ticket names a distributed query, and this node is in no cluster");
    ARROW_RETURN_NOT_OK(cluster->HandleGet(context, *query_id, stream));
    *stream = std::make_unique<SlotHoldingStream>(std::move(*stream), std::move(slot));
    return arrow::Status::OK();
  }
  std::optional<arrow::Compression::type> asked;
  for (auto [it, end] = context.incoming_headers().equal_range(std::string(kCompressionHeader)); it != end; ++it) {
    ARROW_ASSIGN_OR_RAISE(asked, ParseIpcCompression(it->second));
  }
  ARROW_ASSIGN_OR_RAISE(auto result, results_.Take(contents.result_id));
  const auto codec = asked.value_or(result->compression);
  ARROW_ASSIGN_OR_RAISE(auto write_options, WriteOptionsFor(codec));
  auto reader = std::make_shared<PendingResultReader>(std::move(result), context, IpcCompressionName(codec),
                                                      std::move(slot));
  const auto& schema = reader->schema();
  const bool dictionaries = std::any_of(schema->fields().begin(), schema->fields().end(),
                                        [](const auto& field) { return HasDictionary(*field->type()); });
  if (dictionaries) {
    *stream = std::make_unique<fl::RecordBatchStream>(reader, write_options);
    return arrow::Status::OK();
  }
  ARROW_ASSIGN_OR_RAISE(auto schema_payload, schema_payloads_.Get(schema, &ResultDataStream::SchemaPayload));
  *stream = std::make_unique<ResultDataStream>(reader, write_options, std::move(schema_payload));
  return arrow::Status::OK();
}

arrow::Status FlightSqlServer::Impl::DoPut(const fl::ServerCallContext& context, std::unique_ptr<fl::FlightMessageReader> reader,
                    std::unique_ptr<fl::FlightMetadataWriter> writer) {
  if (cluster::FlightManager::IsExchangePut(reader->descriptor())) {
    auto* cluster = cluster_.load();
    if (cluster == nullptr) return InvalidArgument("This node is in no cluster: it takes no exchange pushes");
    ARROW_ASSIGN_OR_RAISE(auto slot, stream_slots_.Acquire("this exchange push"));
    return cluster->HandlePut(context, std::move(reader), std::move(writer));
  }
  ARROW_ASSIGN_OR_RAISE(auto command, ParseDescriptor(reader->descriptor()));
  ARROW_ASSIGN_OR_RAISE(auto caller, ResolveCaller(context));
  ARROW_ASSIGN_OR_RAISE(auto slot, stream_slots_.Acquire("this DoPut"));
  auto batches = std::make_shared<ClientStreamReader>(std::move(reader), context);
  if (auto* update = std::get_if<StatementUpdateCommand>(&command)) {
    ARROW_ASSIGN_OR_RAISE(auto transaction, FindTransaction(caller, update->transaction_id));
    ARROW_ASSIGN_OR_RAISE(auto count, ExecuteUpdate(context, caller, transaction, update->query, {}));
    return writer->WriteMetadata(*arrow::Buffer::FromString(SerializeDoPutUpdateResult(count)));
  }
  if (auto* update = std::get_if<PreparedStatementUpdateCommand>(&command)) {
    ARROW_ASSIGN_OR_RAISE(auto statement, statements_.Get(update->handle, caller.owner));
    ARROW_ASSIGN_OR_RAISE(auto parameters,
                          ReadParameterBatches(*batches, options_.max_parameter_bytes,
                                               options_.max_parameter_sets));
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
                          ReadParameterBatches(*batches, options_.max_parameter_bytes,
                                               options_.max_parameter_sets));
    ARROW_RETURN_NOT_OK(statements_.Bind(query->handle, caller.owner, std::move(parameters)));
    return writer->WriteMetadata(
        *arrow::Buffer::FromString(SerializeDoPutPreparedStatementResult(query->handle)));
  }
  return InvalidArgument(CommandName(command), " is not sent with DoPut");
}

arrow::Status FlightSqlServer::Impl::DoAction(const fl::ServerCallContext& context, const fl::Action& action,
                       std::unique_ptr<fl::ResultStream>* result) {
  const std::string_view body =
      action.body ? std::string_view(*action.body) : std::string_view();
  if (cluster::FlightManager::IsExchangeAction(action.type)) {
    // Producers and drivers prove themselves with the query's credentials.
    auto* cluster = cluster_.load();
    if (cluster == nullptr) return InvalidArgument("This node is in no cluster: ", action.type, " is refused");
    return cluster->HandleAction(context, action, result);
  }
  ARROW_ASSIGN_OR_RAISE(auto identity, CallerIdentity(context));
  if (action.type == fl::ActionType::kCancelFlightInfo.type) {
    ARROW_ASSIGN_OR_RAISE(auto routed, RoutedCaller(context));
    return CancelFlightInfo(identity, action, result, routed.has_value());
  }
  if (action.type == kCancelQuery) return CancelQuery(identity, body, result);
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
  return Unimplemented("Action '", Clip(action.type),
                       "' is not implemented by Squadron (ListActions names those that are)");
}

std::vector<fl::ActionType> FlightSqlServer::Impl::ListActions() const {
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

arrow::Status FlightSqlServer::Impl::PollFlightInfo(const fl::ServerCallContext& context, const fl::FlightDescriptor& descriptor,
                             std::unique_ptr<fl::PollInfo>* info) {
  if (descriptor.type == fl::FlightDescriptor::CMD && descriptor.cmd.rfind(kPollPrefix, 0) == 0) {
    ARROW_ASSIGN_OR_RAISE(auto identity, CallerIdentity(context));
    ARROW_ASSIGN_OR_RAISE(auto token, tickets_.Decode(descriptor.cmd.substr(kPollPrefix.size()),
                                                      std::chrono::system_clock::now()));
    ARROW_RETURN_NOT_OK(CheckTicketOwner(identity, token));
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
    ARROW_ASSIGN_OR_RAISE(auto statement, statements_.Get(prepared->handle, caller.owner));
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

void FlightSqlServer::Impl::ReleaseResults() {
  maintenance_.Stop();
  polls_.StopAll();
  results_.Stop();
}

FlightSqlServer::FlightSqlServer(engine::Engine* engine, FlightSqlOptions options)
    : impl_(std::make_unique<Impl>(engine, std::move(options))) {}

FlightSqlServer::~FlightSqlServer() = default;

arrow::Status FlightSqlServer::GetFlightInfo(const fl::ServerCallContext& context,
                                             const fl::FlightDescriptor& request,
                                             std::unique_ptr<fl::FlightInfo>* info) {
  return ClipMessage(impl_->GetFlightInfo(context, request, info));
}

arrow::Status FlightSqlServer::GetSchema(const fl::ServerCallContext& context,
                                         const fl::FlightDescriptor& request,
                                         std::unique_ptr<fl::SchemaResult>* schema) {
  return ClipMessage(impl_->GetSchema(context, request, schema));
}

arrow::Status FlightSqlServer::DoGet(const fl::ServerCallContext& context, const fl::Ticket& request,
                                     std::unique_ptr<fl::FlightDataStream>* stream) {
  return ClipMessage(impl_->DoGet(context, request, stream));
}

arrow::Status FlightSqlServer::DoPut(const fl::ServerCallContext& context,
                                     std::unique_ptr<fl::FlightMessageReader> reader,
                                     std::unique_ptr<fl::FlightMetadataWriter> writer) {
  return ClipMessage(impl_->DoPut(context, std::move(reader), std::move(writer)));
}

arrow::Status FlightSqlServer::DoAction(const fl::ServerCallContext& context, const fl::Action& action,
                                        std::unique_ptr<fl::ResultStream>* result) {
  return ClipMessage(impl_->DoAction(context, action, result));
}

arrow::Status FlightSqlServer::ListActions(const fl::ServerCallContext& context,
                                           std::vector<fl::ActionType>* actions) {
  ARROW_RETURN_NOT_OK(CallerIdentity(context).status());
  *actions = impl_->ListActions();
  return arrow::Status::OK();
}

arrow::Status FlightSqlServer::PollFlightInfo(const fl::ServerCallContext& context,
                                              const fl::FlightDescriptor& request,
                                              std::unique_ptr<fl::PollInfo>* info) {
  return ClipMessage(impl_->PollFlightInfo(context, request, info));
}

void FlightSqlServer::ReleaseResults() { impl_->ReleaseResults(); }

void FlightSqlServer::SetCluster(cluster::FlightManager* cluster) { impl_->SetCluster(cluster); }

int64_t FlightSqlServer::Load() const { return impl_->Load(); }

std::string FlightSqlServer::DescribeInFlight() const { return impl_->DescribeInFlight(); }


}  // namespace squadron::flight
