// Running statements: queries (also polled), updates, ingest, prepared statements.
#include "flight/sql_server_internal.h"

namespace squadron::flight {

arrow::Result<std::shared_ptr<Transaction>> FlightSqlServer::Impl::FindTransaction(
    const Caller& caller, const std::optional<std::string>& transaction_id) {
  if (!transaction_id || transaction_id->empty()) return nullptr;
  return transactions_.Get(*transaction_id, caller.owner);
}

arrow::Status FlightSqlServer::Impl::RequireRole(const Caller& caller, auth::Role role, std::string_view what) const {
  if (caller.identity.role >= role) return arrow::Status::OK();
  spdlog::warn("event=permission_denied user={:?} role={} needs={} what={:?}", caller.identity.user,
               auth::RoleName(caller.identity.role), auth::RoleName(role), what);
  return PermissionDenied(Msg(what, " needs the ", auth::RoleName(role), " role; user '", caller.identity.user,
                              "' has the ", auth::RoleName(caller.identity.role), " role"));
}

arrow::Status FlightSqlServer::Impl::CheckMayRun(const Caller& caller,
                                                 const engine::StatementDescription& description) const {
  if (caller.identity.role >= auth::Role::kWriter || description.reader_safe) return arrow::Status::OK();
  return RequireRole(caller, auth::Role::kWriter,
                     "This statement (it is not a query that changes nothing: DML, DDL, COPY, ATTACH, SET, "
                     "PRAGMA, CALL, INSTALL, LOAD, or a script)");
}

arrow::Status FlightSqlServer::Impl::CheckMayRun(const Caller& caller, Transaction* transaction,
                                                 const std::string& sql) {
  if (caller.identity.role >= auth::Role::kWriter) return arrow::Status::OK();
  ARROW_ASSIGN_OR_RAISE(auto description, Prepare(caller, transaction, sql));
  return CheckMayRun(caller, description);
}

arrow::Result<engine::StatementDescription> FlightSqlServer::Impl::Prepare(const Caller& caller, Transaction* transaction,
                                                    const std::string& sql) {
  if (transaction) return transaction->Prepare(sql);
  ARROW_ASSIGN_OR_RAISE(auto session, engine_->OpenSession(caller.session.settings));
  return session->Prepare(sql);
}

arrow::Status FlightSqlServer::Impl::ExecuteQuery(const fl::ServerCallContext& context, const Caller& caller,
                           const std::shared_ptr<Transaction>& transaction, const std::string& sql,
                           const engine::ParameterBatches& parameters,
                           const fl::FlightDescriptor& descriptor,
                           std::unique_ptr<fl::FlightInfo>* info) {
  const auto start = Clock::now();
  executing_.fetch_add(1);
  struct Done {
    std::atomic<int64_t>* executing;
    ~Done() { executing->fetch_sub(1); }
  } done{&executing_};
  const std::string result_id = ResultStore::NewId();
  auto pending = std::make_unique<PendingResult>();
  pending->description = sql;
  pending->owner = caller.ticket_owner();
  pending->control = Watch(context, caller, result_id);
  auto status =
      RunQuery(caller, transaction, sql, parameters, Clock::now() + options_.first_batch_wait, pending.get());
  pending->control->SetCall(nullptr);  // the GetFlightInfo call ends here
  if (!status.ok()) {
    status = pending->control->Explain(status);
    spdlog::info("event=query_failed ms={:.1f} error={:?} query={:?}", MillisSince(start),
                 ForLog(status), ForLog(sql));
    return status;
  }
  const int64_t total_records = KnownRowCount(*pending);
  const auto schema = pending->schema;
  ARROW_ASSIGN_OR_RAISE(*info, Publish(result_id, std::move(pending), schema, descriptor, total_records));
  spdlog::info("event=query_executed ms={:.1f} total_records={} parameter_batches={} query={:?}",
               MillisSince(start), total_records, parameters.size(), ForLog(sql));
  return arrow::Status::OK();
}

arrow::Status FlightSqlServer::Impl::RunQuery(const Caller& caller, const std::shared_ptr<Transaction>& transaction,
                       const std::string& sql, const engine::ParameterBatches& parameters,
                       std::optional<Clock::time_point> first_batch_deadline, PendingResult* pending) {
  pending->compression = caller.session.ipc_compression.value_or(options_.ipc_compression);
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
  // A stream on its own engine connection is run on the read-ahead pool from
  // the start: that thread works on the query's tasks beside DuckDB's own
  // workers, as a client of DuckDB in-process would, while this one waits for
  // the first rows until the deadline. Running tasks here instead would break
  // the deadline (one task can take seconds) and only waiting here would leave
  // the query one thread short. A short query is then complete, with its exact
  // row count; a long one answers at once and goes on computing, cancellable.
  // Materialised results (DDL, DML) are complete already; transaction streams
  // share their connection with the transaction's later statements and are
  // read here, on demand. So is a query the engine expects to finish within a
  // millisecond (its plan, on unchanged data, did last time): a hand-off to
  // the pool and back would cost more than it saves.
  const bool own_connection = pending->session != nullptr;
  const auto deadline = first_batch_deadline.value_or(Clock::time_point::max());
  auto finished = [&] {
    pending->control->DetachEngine();
    pending->stream.reset();
    pending->session.reset();
    return arrow::Status::OK();
  };
  const bool computing = own_connection && !pending->stream->num_rows() && !pending->stream->expect_quick();
  if (computing) {
    pending->stream = std::make_unique<engine::ReadAheadStream>(std::move(pending->stream), &read_ahead_);
    if (!pending->stream->Advance(deadline)) return arrow::Status::OK();
  }
  ARROW_ASSIGN_OR_RAISE(auto first, pending->stream->Next());
  if (first == nullptr) return finished();
  // A first batch shorter than one engine vector almost always means the
  // result has ended; one more pull confirms it, frees the engine session
  // now and gives the client an exact row count.
  const bool small = first->num_rows() < kSmallBatchRows;
  pending->prefetched.push_back(std::move(first));
  if (small && !pending->stream->num_rows() && pending->stream->Advance(deadline)) {
    ARROW_ASSIGN_OR_RAISE(auto second, pending->stream->Next());
    if (second == nullptr) return finished();
    pending->prefetched.push_back(std::move(second));
  }
  if (own_connection && !computing) {
    pending->stream = std::make_unique<engine::ReadAheadStream>(std::move(pending->stream), &read_ahead_);
  }
  return arrow::Status::OK();
}

arrow::Status FlightSqlServer::Impl::StartPoll(const Caller& caller, const std::shared_ptr<Transaction>& transaction,
                        const std::string& sql, engine::ParameterBatches parameters,
                        const fl::FlightDescriptor& descriptor, std::unique_ptr<fl::PollInfo>* info) {
  // Each poll runs on a thread of its own: they count against the results limit.
  if (polls_.size() >= options_.max_open_results) {
    return Unavailable(Msg("Too many queries being polled (limit --max-open-results=",
                           options_.max_open_results, "): poll them to the end or cancel them"));
  }
  // Planning errors (bad SQL, missing table) come back from this first call.
  ARROW_ASSIGN_OR_RAISE(auto description, Prepare(caller, transaction.get(), sql));
  ARROW_RETURN_NOT_OK(CheckMayRun(caller, description));
  const std::string result_id = ResultStore::NewId();
  const auto expires_at = std::chrono::system_clock::now() + options_.result_ttl;
  auto pending = std::make_shared<std::unique_ptr<PendingResult>>(std::make_unique<PendingResult>());
  (*pending)->description = sql;
  (*pending)->owner = caller.ticket_owner();
  (*pending)->control = std::make_shared<QueryControl>(
      caller.session.query_timeout.value_or(options_.query_timeout));
  running_.Add(result_id, (*pending)->control);
  if (!transaction) {
    ARROW_ASSIGN_OR_RAISE((*pending)->session, engine_->OpenSession(caller.session.settings));
    ARROW_RETURN_NOT_OK((*pending)->session->TrackProgress());
  }
  // While it runs, the FlightInfo has no endpoint (none is ready to fetch);
  // its app_metadata names the poll so CancelFlightInfo can stop it.
  const std::string poll_token =
      std::string(kPollPrefix) + tickets_.Encode({result_id, expires_at, caller.ticket_owner()});
  ARROW_ASSIGN_OR_RAISE(auto running, fl::FlightInfo::Make(*description.result_schema, descriptor, {},
                                                           -1, -1, /*ordered=*/true, poll_token));
  auto work = [this, caller, transaction, sql, parameters = std::move(parameters), pending, result_id,
               descriptor]() -> arrow::Result<std::unique_ptr<fl::FlightInfo>> {
    const auto start = Clock::now();
    PendingResult* result = pending->get();
    // A poll has a thread of its own: it waits for the first rows, so that
    // the poll reports progress until they can be fetched.
    auto status = RunQuery(caller, transaction, sql, parameters, std::nullopt, result);
    if (!status.ok()) {
      status = result->control->Explain(status);
      spdlog::info("event=query_failed mode=poll ms={:.1f} error={:?} query={:?}", MillisSince(start),
                   ForLog(status), ForLog(sql));
      return status;
    }
    const int64_t total_records = KnownRowCount(*result);
    const auto schema = result->schema;
    spdlog::info("event=query_executed mode=poll ms={:.1f} total_records={} query={:?}",
                 MillisSince(start), total_records, ForLog(sql));
    return Publish(result_id, std::move(*pending), schema, descriptor, total_records);
  };
  polls_.Start(result_id, expires_at, std::make_unique<fl::FlightInfo>(running), (*pending)->control,
               std::move(work));
  spdlog::info("event=poll_started query={:?}", ForLog(sql));
  *info = std::make_unique<fl::PollInfo>();
  (*info)->info = std::make_unique<fl::FlightInfo>(std::move(running));
  (*info)->descriptor = fl::FlightDescriptor::Command(poll_token);
  (*info)->progress = 0.0;
  (*info)->expiration_time = std::chrono::time_point_cast<std::chrono::nanoseconds>(expires_at);
  return arrow::Status::OK();
}

int64_t FlightSqlServer::Impl::KnownRowCount(const PendingResult& pending) {
  if (pending.stream == nullptr) {
    int64_t rows = 0;
    for (const auto& batch : pending.prefetched) rows += batch->num_rows();
    return rows;
  }
  return pending.stream->num_rows().value_or(-1);
}

arrow::Result<int64_t> FlightSqlServer::Impl::ExecuteUpdate(const fl::ServerCallContext& context, const Caller& caller,
                                     const std::shared_ptr<Transaction>& transaction, const std::string& sql,
                                     const engine::ParameterBatches& parameters) {
  ARROW_RETURN_NOT_OK(RequireRole(caller, auth::Role::kWriter, "An update (DML, DDL)"));
  const auto start = Clock::now();
  auto control = Watch(context, caller, "");
  arrow::Result<int64_t> count;
  if (transaction) {
    control->AttachEngine(InterruptOf(transaction));
    count = transaction->ExecuteUpdate(sql, parameters);
  } else if (auto session = engine_->OpenSession(caller.session.settings); !session.ok()) {
    count = session.status();  // the call is still let go below
  } else {
    control->AttachEngine([s = session->get()] { s->Interrupt(); });
    count = (*session)->ExecuteUpdate(sql, parameters);
    control->DetachEngine();  // before the session goes: a Stop() now must not reach it
  }
  control->DetachEngine();
  control->SetCall(nullptr);
  if (!count.ok()) count = control->Explain(count.status());
  if (!count.ok()) {
    spdlog::info("event=update_failed ms={:.1f} error={:?} query={:?}", MillisSince(start),
                 ForLog(count.status()), ForLog(sql));
    return count.status();
  }
  spdlog::info("event=update_executed rows={} ms={:.1f} parameter_batches={} query={:?}", *count,
               MillisSince(start), parameters.size(), ForLog(sql));
  return count;
}

arrow::Result<int64_t> FlightSqlServer::Impl::Ingest(const fl::ServerCallContext& context, const Caller& caller,
                              const std::shared_ptr<Transaction>& transaction,
                              const engine::IngestRequest& request,
                              std::shared_ptr<arrow::RecordBatchReader> data) {
  ARROW_RETURN_NOT_OK(RequireRole(caller, auth::Role::kWriter, "Bulk ingest"));
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
  } else if (auto session = engine_->OpenSession(caller.session.settings); !session.ok()) {
    rows = session.status();  // the call is still let go below
  } else {
    control->AttachEngine([s = session->get()] { s->Interrupt(); });
    rows = (*session)->Ingest(request, std::move(data));
    control->DetachEngine();  // before the session goes: a Stop() now must not reach it
  }
  control->DetachEngine();
  control->SetCall(nullptr);
  if (!rows.ok()) rows = control->Explain(rows.status());
  spdlog::info("event={} table={:?} rows={} ms={:.1f}{}", rows.ok() ? "ingest_done" : "ingest_failed",
               ForLog(request.table), rows.ok() ? *rows : 0, MillisSince(start),
               rows.ok() ? "" : fmt::format(" error={:?}", ForLog(rows.status())));
  return rows;
}

arrow::Status FlightSqlServer::Impl::CreatePreparedStatement(const fl::ServerCallContext& context, std::string_view body,
                                      std::unique_ptr<fl::ResultStream>* result) {
  ARROW_ASSIGN_OR_RAISE(auto request, ParseCreatePreparedStatement(body));
  ARROW_ASSIGN_OR_RAISE(auto caller, ResolveCaller(context));
  ARROW_ASSIGN_OR_RAISE(auto transaction, FindTransaction(caller, request.transaction_id));
  ARROW_ASSIGN_OR_RAISE(auto description, Prepare(caller, transaction.get(), request.query));
  // A reader learns at once that it may not run this statement.
  ARROW_RETURN_NOT_OK(CheckMayRun(caller, description));
  const bool is_update = !description.is_query;
  // Statements that return no rows describe an empty dataset: the JDBC
  // driver (18.x) reads an empty dataset_schema, not is_update, as "this is an
  // update", and only then reports the update count.
  ARROW_ASSIGN_OR_RAISE(auto dataset_schema,
                        SerializeSchema(is_update ? arrow::schema({}) : description.result_schema));
  ARROW_ASSIGN_OR_RAISE(auto parameter_schema, SerializeSchema(description.parameter_schema));
  ARROW_ASSIGN_OR_RAISE(auto handle,
                        statements_.Add({request.query, std::move(description), {}, request.transaction_id},
                                        caller.owner));
  spdlog::debug("event=statement_prepared is_update={} query={:?}", is_update, ForLog(request.query));
  *result = std::make_unique<fl::SimpleResultStream>(OneResult(
      SerializeCreatePreparedStatementResult(handle, dataset_schema, parameter_schema, is_update)));
  return arrow::Status::OK();
}

arrow::Status FlightSqlServer::Impl::ClosePreparedStatement(const fl::ServerCallContext& context, std::string_view body,
                                     std::unique_ptr<fl::ResultStream>* result) {
  ARROW_ASSIGN_OR_RAISE(auto handle, ParseClosePreparedStatement(body));
  ARROW_ASSIGN_OR_RAISE(auto caller, ResolveCaller(context));
  ARROW_RETURN_NOT_OK(statements_.Close(handle, caller.owner));
  *result = std::make_unique<fl::SimpleResultStream>(std::vector<fl::Result>{});
  return arrow::Status::OK();
}

arrow::Status FlightSqlServer::Impl::AnswerMetadata(const Caller& caller, const Command& command,
                                                    const fl::FlightDescriptor& descriptor,
                                                    std::unique_ptr<fl::FlightInfo>* info) {
  ARROW_ASSIGN_OR_RAISE(auto batch, MetadataBatch(caller, command));
  auto pending = std::make_unique<PendingResult>();
  pending->description = std::string(CommandName(command));
  pending->owner = caller.ticket_owner();
  pending->schema = batch->schema();
  const int64_t rows = batch->num_rows();
  pending->prefetched.push_back(std::move(batch));
  const auto schema = pending->schema;
  ARROW_ASSIGN_OR_RAISE(*info, Publish(ResultStore::NewId(), std::move(pending), schema, descriptor, rows));
  return arrow::Status::OK();
}

arrow::Result<std::shared_ptr<arrow::RecordBatch>> FlightSqlServer::Impl::MetadataBatch(const Caller& caller,
                                                                                      const Command& command) {
  if (auto* sql_info = std::get_if<GetSqlInfoCommand>(&command)) {
    return MakeSqlInfoBatch(sql_info_, sql_info->info);
  }
  if (std::holds_alternative<GetTableTypesCommand>(command)) return TableTypesBatch();
  if (auto* types = std::get_if<GetXdbcTypeInfoCommand>(&command)) {
    return XdbcTypeInfoBatch(engine_->SqlTypes(), types->data_type);
  }
  ARROW_ASSIGN_OR_RAISE(auto session, engine_->OpenSession(caller.session.settings));
  if (std::holds_alternative<GetCatalogsCommand>(command)) {
    ARROW_ASSIGN_OR_RAISE(auto catalogs, session->ListCatalogs());
    return CatalogsBatch(catalogs);
  }
  if (auto* schemas = std::get_if<GetDbSchemasCommand>(&command)) {
    ARROW_ASSIGN_OR_RAISE(auto list, session->ListSchemas(schemas->catalog, schemas->schema_pattern));
    return DbSchemasBatch(list);
  }
  if (auto* tables = std::get_if<GetTablesCommand>(&command)) {
    ARROW_ASSIGN_OR_RAISE(auto list, session->ListTables(tables->filter));
    return TablesBatch(list, tables->filter.with_columns);
  }
  if (auto* keys = std::get_if<GetPrimaryKeysCommand>(&command)) {
    ARROW_ASSIGN_OR_RAISE(auto list, session->PrimaryKeys(keys->table));
    return PrimaryKeysBatch(list);
  }
  if (auto* keys = std::get_if<GetExportedKeysCommand>(&command)) {
    ARROW_ASSIGN_OR_RAISE(auto list, session->ForeignKeys(keys->table, std::nullopt));
    return ForeignKeysBatch(list);
  }
  if (auto* keys = std::get_if<GetImportedKeysCommand>(&command)) {
    ARROW_ASSIGN_OR_RAISE(auto list, session->ForeignKeys(std::nullopt, keys->table));
    return ForeignKeysBatch(list);
  }
  if (auto* keys = std::get_if<GetCrossReferenceCommand>(&command)) {
    ARROW_ASSIGN_OR_RAISE(auto list, session->ForeignKeys(keys->pk_table, keys->fk_table));
    return ForeignKeysBatch(list);
  }
  return Internal(Msg("Not a metadata command: ", CommandName(command)));
}

std::shared_ptr<arrow::Schema> MetadataSchema(const Command& command) {
  if (std::holds_alternative<GetSqlInfoCommand>(command)) return SqlInfoSchema();
  if (std::holds_alternative<GetCatalogsCommand>(command)) return CatalogsSchema();
  if (std::holds_alternative<GetDbSchemasCommand>(command)) return DbSchemasSchema();
  if (auto* tables = std::get_if<GetTablesCommand>(&command)) return TablesSchema(tables->filter.with_columns);
  if (std::holds_alternative<GetTableTypesCommand>(command)) return TableTypesSchema();
  if (std::holds_alternative<GetPrimaryKeysCommand>(command)) return PrimaryKeysSchema();
  if (std::holds_alternative<GetXdbcTypeInfoCommand>(command)) return XdbcTypeInfoSchema();
  if (std::holds_alternative<GetExportedKeysCommand>(command) ||
      std::holds_alternative<GetImportedKeysCommand>(command) ||
      std::holds_alternative<GetCrossReferenceCommand>(command)) {
    return ForeignKeysSchema();
  }
  return nullptr;
}

arrow::Result<std::unique_ptr<fl::FlightInfo>> FlightSqlServer::Impl::Publish(std::string result_id,
                                                       std::unique_ptr<PendingResult> pending,
                                                       const std::shared_ptr<arrow::Schema>& schema,
                                                       const fl::FlightDescriptor& descriptor,
                                                       int64_t total_records) {
  const std::string owner = pending->owner;
  ARROW_ASSIGN_OR_RAISE(auto receipt, results_.Put(std::move(result_id), std::move(pending)));
  fl::FlightEndpoint endpoint;
  endpoint.ticket.ticket = tickets_.Encode({receipt.id, receipt.expires_at, owner});
  endpoint.expiration_time =
      std::chrono::time_point_cast<std::chrono::nanoseconds>(receipt.expires_at);
  // FlightInfo::Make would serialize the schema each time.
  fl::FlightInfo::Data data;
  ARROW_ASSIGN_OR_RAISE(data.schema, schema_bytes_.Get(schema, &SerializeSchema));
  data.descriptor = descriptor;
  data.endpoints = {std::move(endpoint)};
  data.total_records = total_records;
  data.total_bytes = -1;
  data.ordered = true;
  return std::make_unique<fl::FlightInfo>(std::move(data));
}

}  // namespace squadron::flight
