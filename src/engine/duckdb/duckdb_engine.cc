// The DuckDB adapter: sessions and the engine. Results: result_stream.cc;
// parameters: parameters.cc; errors and types: duckdb_errors.cc.
#include "engine/duckdb/duckdb_engine.h"

#include <algorithm>
#include <functional>

#include <spdlog/spdlog.h>

#include "common/status.h"
#include "duckdb/main/pending_query_result.hpp"
#include "duckdb/main/prepared_statement_data.hpp"
#include "engine/duckdb/connection_pool.h"
#include "engine/duckdb/data_paths.h"
#include "engine/duckdb/duckdb_internal.h"

namespace squadron::engine {

namespace {

// Batches' worth of bytes the threads computing rows above the lowest batch
// index may hold back (ArrowBatchQueue's pending capacity).
constexpr int64_t kPendingBatches = 2;

// How long after its Prepare a query over files may run from the plan the
// Prepare made (see TakeJustPrepared). Clients that prepare every query run
// it right after, one round trip later.
constexpr auto kJustPreparedFor = std::chrono::seconds(1);

// The values bound to a prepared statement's parameters, by identifier.
using ParameterValues = duckdb::case_insensitive_map_t<duckdb::BoundParameterData>;

// The number of rows a DML result reports (0 for statements that change none).
int64_t ChangedRows(duckdb::QueryResult& result) {
  if (result.properties.return_type != duckdb::StatementReturnType::CHANGED_ROWS) return 0;
  auto chunk = result.Fetch();
  if (!chunk || chunk->size() == 0) return 0;
  return chunk->GetValue(0, 0).GetValue<int64_t>();
}

// Clients bind an empty (zero-field) batch to statements without parameters:
// that means "run once", not "run once per row".
bool HasParameterFields(const ParameterBatches& parameters) {
  for (const auto& batch : parameters) {
    if (batch->num_columns() > 0) return true;
  }
  return false;
}

// The one query that changes its connection: setseed() seeds the random()
// of every later statement on it.
bool SeedsRandom(const std::string& sql) {
  return duckdb::StringUtil::Contains(duckdb::StringUtil::Lower(sql), "setseed");
}

// The settings a connection was opened with, as a pool key.
std::string SettingsKey(const SessionSettings& settings) {
  std::string key;
  for (const auto* value : {&settings.catalog, &settings.schema, &settings.timezone}) {
    key += value->has_value() ? "=" + **value : "-";
    key += '\0';
  }
  return key;
}

// A session on a connection borrowed from the engine's pool. The connection
// goes back when the session ends, unless the session may have changed its
// state (see ConnectionPool).
class DuckDbSession final : public Session {
 public:
  DuckDbSession(std::unique_ptr<PooledConnection> slot, ConnectionPool* pool, const DuckDbOptions& options)
      : slot_(std::move(slot)), connection_(slot_->connection), pool_(pool), options_(options) {}

  ~DuckDbSession() override {
    // A plan a run of this session used holds its files open: the session's
    // streams have ended, so it goes. One the run has yet to take stays.
    if (slot_->just_prepared && slot_->just_prepared->used) slot_->just_prepared.reset();
    try {
      // A query stopped half-way keeps its transaction open: not reusable.
      if (reusable_ && !interrupted_.load() && !connection_.HasActiveTransaction()) {
        pool_->Give(std::move(slot_));
        return;
      }
    } catch (const std::exception&) {
    }
    pool_->Discarded();
  }

  arrow::Result<StatementDescription> Prepare(const std::string& sql) override {
    ARROW_RETURN_NOT_OK(CheckStatementLimits(sql, options_));
    try {
      // Clients that prepare every query (ADBC, the JDBC driver) describe the
      // same SQL again and again: a plan this connection keeps describes it
      // without planning.
      if (CachedPlan* plan = slot_->plans.Find(sql, pool_->generation())) {
        return Describe(*plan->statement, plan->schema);
      }
      auto statements = connection_.ExtractStatements(sql);
      // A script cannot be described before its first statements run (the
      // second may use a table the first creates). It is described as a query
      // with no known columns; executing it runs the statements in order.
      if (statements.size() > 1) {
        return StatementDescription{arrow::schema({}), arrow::schema({}), /*is_query=*/true};
      }
      if (statements.empty()) return InvalidArgument("Empty SQL: the query holds no statement");
      const uint64_t generation = pool_->generation();
      ClearColumnOrigins(*connection_.context);
      auto prepared = connection_.Prepare(std::move(statements[0]));
      if (prepared->HasError()) return FromDuckDb(prepared->error);
      ARROW_ASSIGN_OR_RAISE(auto schema, ToArrowSchema(KnownTypes(prepared->GetTypes()), prepared->GetNames(),
                                                       connection_.context->GetClientProperties()));
      schema = WithColumnOrigins(schema, TakeColumnOrigins(*connection_.context));
      const bool per_query_values = PlanCallsPerQueryFunctions(*connection_.context);
      ARROW_ASSIGN_OR_RAISE(auto description, Describe(*prepared, schema));
      // The run that usually follows (the same SQL on this connection, which
      // the pool hands out again) starts from this plan, as a repeated query
      // does (see RunQuery).
      // (Not one a read-only server refuses: runs from a kept plan skip that check.)
      if (prepared->GetStatementType() == duckdb::StatementType::SELECT_STATEMENT && !SeedsRandom(sql) &&
          CheckWriteAllowed(*prepared).ok()) {
        const bool rebinds = prepared->data->properties.always_require_rebind;
        if (rebinds) pool_->NoteRebinds(sql, generation);
        if (PlanIsCacheable(*prepared)) {
          slot_->plans.Put(sql, CachedPlan{std::move(prepared), std::move(schema), generation});
        } else if (rebinds && !per_query_values && prepared->named_param_map.empty() &&
                   options_.plans_per_connection > 0) {
          slot_->just_prepared = PooledConnection::JustPrepared{
              sql, CachedPlan{std::move(prepared), std::move(schema), generation}, std::chrono::steady_clock::now()};
        }
      }
      return description;
    } catch (const std::exception& e) {
      return FromDuckDb(duckdb::ErrorData(e));
    }
  }

  arrow::Result<std::unique_ptr<ResultStream>> Execute(const std::string& sql,
                                                       const ParameterBatches& parameters) override {
    ARROW_RETURN_NOT_OK(CheckStatementLimits(sql, options_));
    try {
      const bool has_parameters = HasParameterFields(parameters);
      duckdb::vector<duckdb::unique_ptr<duckdb::SQLStatement>> statements;
      if (!has_parameters) {
        if (CachedPlan* plan = slot_->plans.Find(sql, pool_->generation())) {
          auto stream = Start(*plan);
          if (stream.ok()) {
            pool_->CountPlan(/*hit=*/true);
            return stream;
          }
          // The plan no longer fits (say DuckDB rebound it after a catalog
          // change and its columns changed): plan afresh, which either works
          // or reports the real error.
          slot_->plans.Erase(sql);
        }
        if (CachedPlan* plan = TakeJustPrepared(sql)) {
          pool_->CountPlan(/*hit=*/true);
          return Start(*plan);
        }
        statements = connection_.ExtractStatements(sql);
        if (statements.size() == 1 && statements[0]->type == duckdb::StatementType::SELECT_STATEMENT) {
          if (SeedsRandom(sql)) reusable_ = false;
          // DuckDB binds a query over files again each time it runs, even
          // prepared: preparing it first would bind it twice.
          if (!pool_->Rebinds(sql)) return RunQuery(sql, std::move(statements[0]));
          ClearColumnOrigins(*connection_.context);
          return StartLast(std::move(statements));
        }
      }
      if (statements.empty() && !has_parameters) {
        return InvalidArgument("Empty SQL: the query holds no statement");
      }
      ClearColumnOrigins(*connection_.context);
      if (has_parameters) {
        ARROW_ASSIGN_OR_RAISE(auto prepared, PrepareOne(sql));
        ARROW_RETURN_NOT_OK(CheckWriteAllowed(*prepared));
        const Change change(*this, PlanImpactOf(*prepared));
        return MakeParameterizedResultStream(
            std::move(prepared), parameters, TakeColumnOrigins(*connection_.context),
            [this](duckdb::PreparedStatement& statement, ParameterValues& values) {
              // Origins recorded only if binding the values plans it again.
              ClearColumnOrigins(*connection_.context);
              return StartCollected(
                  /*schema=*/nullptr, [&] { return PendingRun(statement, values); },
                  /*run_time=*/nullptr, /*after_runs=*/nullptr);
            },
            change.AfterStream());
      }
      const Change change(*this, PlanImpactOf(statements));
      return StartLast(std::move(statements), change.AfterStream());
    } catch (const std::exception& e) {
      return FromDuckDb(duckdb::ErrorData(e));
    }
  }

  arrow::Result<int64_t> ExecuteUpdate(const std::string& sql, const ParameterBatches& parameters) override {
    ARROW_RETURN_NOT_OK(CheckStatementLimits(sql, options_));
    try {
      if (!HasParameterFields(parameters)) {
        auto statements = connection_.ExtractStatements(sql);
        const Change change(*this, PlanImpactOf(statements));
        ARROW_ASSIGN_OR_RAISE(auto result, Run(std::move(statements)));
        return ChangedRows(*result);
      }
      ARROW_ASSIGN_OR_RAISE(auto prepared, PrepareOne(sql));
      ARROW_RETURN_NOT_OK(CheckWriteAllowed(*prepared));
      const Change change(*this, PlanImpactOf(*prepared));
      return RunPerParameterSet(*prepared, parameters);
    } catch (const std::exception& e) {
      return FromDuckDb(duckdb::ErrorData(e));
    }
  }

  arrow::Result<int64_t> Ingest(const IngestRequest& request,
                                std::shared_ptr<arrow::RecordBatchReader> data) override {
    if (options_.read_only) {
      return PermissionDenied("Server is read-only (--read-only): ingest is refused");
    }
    // Appending rows retires plans as any other row change does.
    const Change change(*this, PlanImpact::kRetires);
    return IngestInto(connection_, request, std::move(data));
  }

  arrow::Result<std::vector<std::string>> ListCatalogs() override {
    return Guarded([&] { return engine::ListCatalogs(connection_); });
  }

  arrow::Result<std::vector<std::pair<std::string, std::string>>> ListSchemas(
      const std::optional<std::string>& catalog, const std::optional<std::string>& schema_pattern) override {
    return Guarded([&] { return engine::ListSchemas(connection_, catalog, schema_pattern); });
  }

  arrow::Result<std::vector<TableEntry>> ListTables(const TableFilter& filter) override {
    return Guarded([&] { return engine::ListTables(connection_, filter); });
  }

  arrow::Result<Dialect> DescribeDialect() override {
    return Guarded([&] { return engine::DescribeDialect(connection_); });
  }

  arrow::Result<std::vector<PrimaryKeyColumn>> PrimaryKeys(const TableRef& table) override {
    return Guarded([&] { return engine::PrimaryKeys(connection_, table); });
  }

  arrow::Result<std::vector<ForeignKeyColumn>> ForeignKeys(const std::optional<TableRef>& pk_table,
                                                           const std::optional<TableRef>& fk_table) override {
    return Guarded([&] { return engine::ForeignKeys(connection_, pk_table, fk_table); });
  }

  arrow::Status TrackProgress() override {
    reusable_ = false;  // the settings below stay on the connection
    // Progress is computed by DuckDB's progress bar, here never printed.
    ARROW_RETURN_NOT_OK(RunSetting("SET enable_progress_bar = true", "progress tracking"));
    ARROW_RETURN_NOT_OK(RunSetting("SET enable_progress_bar_print = false", "progress tracking"));
    return RunSetting("SET progress_bar_time = 0", "progress tracking");
  }

  std::optional<double> Progress() override {
    const double percentage = connection_.context->GetQueryProgress().GetPercentage();
    if (percentage < 0) return std::nullopt;
    return std::min(1.0, percentage / 100.0);
  }

  void Interrupt() override {
    interrupted_.store(true);
    connection_.Interrupt();
  }

  // Applies a client session's settings to a new connection. It is kept for
  // sessions with the same settings only once they all applied.
  arrow::Status Apply(const SessionSettings& settings) {
    reusable_ = false;
    ARROW_RETURN_NOT_OK(ApplyEach(settings));
    reusable_ = true;
    return arrow::Status::OK();
  }

 private:
  arrow::Status ApplyEach(const SessionSettings& settings) {
    if (settings.catalog || settings.schema) {
      std::string target = settings.catalog ? QuoteIdentifier(*settings.catalog) : "";
      if (settings.schema) target += (target.empty() ? "" : ".") + QuoteIdentifier(*settings.schema);
      ARROW_RETURN_NOT_OK(RunSetting("USE " + target, "catalog/schema"));
    }
    if (settings.timezone) {
      ARROW_RETURN_NOT_OK(RunSetting("SET SESSION TimeZone = " + QuoteLiteral(*settings.timezone), "timezone"));
    }
    return arrow::Status::OK();
  }

  // Describes a planned statement whose result has `result_schema` (with
  // its column origins).
  arrow::Result<StatementDescription> Describe(duckdb::PreparedStatement& prepared,
                                               std::shared_ptr<arrow::Schema> result_schema) {
    StatementDescription description;
    auto statement_properties = prepared.GetStatementProperties();
    description.is_query = statement_properties.return_type == duckdb::StatementReturnType::QUERY_RESULT;
    description.read_only = description.is_query && statement_properties.IsReadOnly();
    const auto type = prepared.GetStatementType();
    description.reader_safe = description.read_only && (type == duckdb::StatementType::SELECT_STATEMENT ||
                                                         type == duckdb::StatementType::EXPLAIN_STATEMENT);
    description.result_schema = std::move(result_schema);
    const ParameterSpec spec = DescribeParameters(prepared);
    duckdb::vector<std::string> names(spec.identifiers.begin(), spec.identifiers.end());
    ARROW_ASSIGN_OR_RAISE(description.parameter_schema,
                          ToArrowSchema(AdvertisedParameterTypes({spec.types.begin(), spec.types.end()}), names,
                                        connection_.context->GetClientProperties()));
    return description;
  }

  // A statement other than one plain query runs while this lives: it may
  // leave state on the connection (settings, temporary objects, a
  // transaction), which is then not reused. When its impact retires cached
  // plans (see ConnectionPool), they are retired before it runs and again
  // when this goes, once it ran: a plan another session made meanwhile may
  // have seen the state before it.
  class Change {
   public:
    Change(DuckDbSession& session, PlanImpact impact) {
      session.reusable_ = false;
      if (impact == PlanImpact::kRetires || (impact == PlanImpact::kEndsTransaction && session.retired_plans_)) {
        session.retired_plans_ = true;
        pool_ = session.pool_;
        pool_->Invalidate();
      }
    }
    ~Change() {
      if (pool_ != nullptr) pool_->Invalidate();
    }
    Change(const Change&) = delete;
    Change& operator=(const Change&) = delete;

    // For a stream that may still run the statement as it is read: retires
    // the plans again when the stream goes. Empty when none are retired.
    std::function<void()> AfterStream() const {
      if (pool_ == nullptr) return nullptr;
      return [pool = pool_] { pool->Invalidate(); };
    }

   private:
    ConnectionPool* pool_ = nullptr;  // set when the statement retires plans
  };

  // Plans one query, caches the plan when it reads only DuckDB tables, and
  // starts it.
  arrow::Result<std::unique_ptr<ResultStream>> RunQuery(const std::string& sql,
                                                        duckdb::unique_ptr<duckdb::SQLStatement> statement) {
    // The generation before planning: a statement that changes something
    // while this one plans retires the plan.
    const uint64_t generation = pool_->generation();
    ClearColumnOrigins(*connection_.context);
    auto prepared = connection_.Prepare(std::move(statement));
    if (prepared->HasError()) return FromDuckDb(prepared->error);
    ARROW_RETURN_NOT_OK(CheckWriteAllowed(*prepared));
    if (prepared->data->properties.always_require_rebind) pool_->NoteRebinds(sql, generation);
    ARROW_ASSIGN_OR_RAISE(auto schema, ToArrowSchema(prepared->GetTypes(), prepared->GetNames(),
                                                     connection_.context->GetClientProperties()));
    CachedPlan plan{std::move(prepared), WithColumnOrigins(schema, TakeColumnOrigins(*connection_.context)),
                    generation};
    pool_->CountPlan(/*hit=*/false);
    auto stream = Start(plan);
    if (stream.ok() && PlanIsCacheable(*plan.statement)) slot_->plans.Put(sql, std::move(plan));
    return stream;
  }

  // Runs every statement but the last, and starts the last one without
  // preparing it. Planning errors surface here; a query is run by the
  // stream's Next(), which the caller may call on another thread.
  // `after_runs` is for a last statement that runs as it is read (see
  // MakeCollectedResultStream).
  arrow::Result<std::unique_ptr<ResultStream>> StartLast(
      duckdb::vector<duckdb::unique_ptr<duckdb::SQLStatement>> statements,
      std::function<void()> after_runs = nullptr) {
    ARROW_RETURN_NOT_OK(RunAllButLast(statements));
    return StartCollected(
        /*schema=*/nullptr, [&] { return Pending(std::move(statements.back()), /*stream=*/false); },
        /*run_time=*/nullptr, std::move(after_runs));
  }

  // The plan the Prepare of `sql` just made on this connection, for this one
  // run, if nothing may have changed its meaning since (the pool's
  // generation) and it is at most kJustPreparedFor old; else null. DuckDB
  // would plan a query over files again to run it: the plan runs as it is,
  // over the files as they were when it was prepared, a moment ago.
  CachedPlan* TakeJustPrepared(const std::string& sql) {
    auto& just = slot_->just_prepared;
    if (!just || just->used) return nullptr;
    if (just->sql != sql || just->plan.generation != pool_->generation() ||
        std::chrono::steady_clock::now() - just->at > kJustPreparedFor) {
      just.reset();  // a plan holds its files open
      return nullptr;
    }
    just->used = true;
    just->plan.statement->data->properties.always_require_rebind = false;
    return &just->plan;
  }

  // Starts a planned query.
  arrow::Result<std::unique_ptr<ResultStream>> Start(CachedPlan& plan) {
    ParameterValues no_parameters;
    return StartCollected(
        plan.schema, [&] { return PendingRun(*plan.statement, no_parameters); }, plan.last_run_us,
        /*after_runs=*/nullptr, &plan.collector);
  }

  // Plans a run of a prepared statement, without DuckDB's streaming.
  static arrow::Result<duckdb::unique_ptr<duckdb::PendingQueryResult>> PendingRun(
      duckdb::PreparedStatement& statement, ParameterValues& values) {
    auto pending = statement.PendingQuery(values, /*allow_stream_result=*/false);
    if (pending->HasError()) return FromDuckDb(pending->GetErrorObject());
    return pending;
  }

  // Plans a statement (`plan` makes its pending query) with the connection's
  // collector switch armed, so its rows go to Arrow on DuckDB's threads as
  // they are computed, and returns the stream that reads them. A statement
  // DuckDB does not stream (anything but a query: DML, even with RETURNING,
  // EXPLAIN...) keeps DuckDB's usual collector and runs to the end here.
  // `schema` is the one the statement makes, with its column origins; null
  // when it is not known before planning (then the origins are those the
  // planning recorded). `run_time` and `after_runs`: see
  // MakeCollectedResultStream. `collector`, for a plan that runs again: the
  // collector's choice from its last run, updated with this one's.
  template <typename Plan>
  arrow::Result<std::unique_ptr<ResultStream>> StartCollected(
      std::shared_ptr<arrow::Schema> schema, Plan&& plan, std::shared_ptr<std::atomic<int64_t>> run_time,
      std::function<void()> after_runs, std::shared_ptr<const CollectorChoice>* collector = nullptr) {
    const bool known = schema != nullptr;
    auto queue = MakeBatchQueue();
    slot_->collectors.Arm(queue, std::move(schema), options_.batch_rows, options_.batch_bytes,
                          collector != nullptr ? *collector : nullptr);
    auto disarm = DisarmOnExit();
    ARROW_ASSIGN_OR_RAISE(auto pending, plan());
    disarm.reset();
    if (collector != nullptr && slot_->collectors.choice() != nullptr) *collector = slot_->collectors.choice();
    if (std::shared_ptr<arrow::Schema> taken = slot_->collectors.taken()) {
      if (!known) taken = WithColumnOrigins(taken, TakeColumnOrigins(*connection_.context));
      return MakeCollectedResultStream(std::move(pending), std::move(queue), std::move(taken), std::move(run_time),
                                       std::move(after_runs));
    }
    auto result = pending->Execute();
    if (result->HasError()) return FromDuckDb(result->GetErrorObject());
    return MakeResultStream(std::move(result), options_);
  }

  // The queue a query's rows wait in on their way to its stream
  // (ArrowStreamCollector): one batch ready for the reader, and room for the
  // threads ahead of the lowest batch to keep working (a row group of a wide
  // table is tens of MB).
  std::shared_ptr<ArrowBatchQueue> MakeBatchQueue() const {
    const int64_t batch = std::max<int64_t>(options_.batch_bytes, 1 << 20);
    return std::make_shared<ArrowBatchQueue>(batch, kPendingBatches * batch);
  }

  // Disarms the connection's collector switch when it goes, however planning
  // ends, so no later statement takes a queue meant for this one.
  std::unique_ptr<ArrowCollectorSwitch, void (*)(ArrowCollectorSwitch*)> DisarmOnExit() {
    return {&slot_->collectors, [](ArrowCollectorSwitch* s) { s->Disarm(); }};
  }

  // Runs `f`, turning DuckDB's exceptions into statuses.
  template <typename F>
  static auto Guarded(F&& f) -> decltype(f()) {
    try {
      return f();
    } catch (const std::exception& e) {
      return FromDuckDb(duckdb::ErrorData(e));
    }
  }

  arrow::Status RunSetting(const std::string& sql, const char* what) {
    auto result = connection_.Query(sql);
    if (result->HasError()) {
      return InvalidArgument("Invalid session ", what, ": ", result->GetError());
    }
    return arrow::Status::OK();
  }

  arrow::Result<duckdb::unique_ptr<duckdb::PreparedStatement>> PrepareOne(const std::string& sql) {
    auto prepared = connection_.Prepare(sql);
    if (prepared->HasError()) return FromDuckDb(prepared->error);
    return prepared;
  }

  arrow::Status CheckWriteAllowed(duckdb::PreparedStatement& prepared) {
    if (!options_.read_only) return arrow::Status::OK();
    const auto type = prepared.GetStatementType();
    if (ReadOnlyAllows(type) && prepared.GetStatementProperties().IsReadOnly()) {
      return arrow::Status::OK();
    }
    return PermissionDenied(Msg("Server is read-only (--read-only): ",
                                duckdb::StatementTypeToString(type), " statements are refused"));
  }

  // Runs an update once per parameter set; several sets in one transaction
  // (unless the connection is already in one), so a failing set undoes all.
  arrow::Result<int64_t> RunPerParameterSet(duckdb::PreparedStatement& prepared,
                                            const ParameterBatches& parameters) {
    const ParameterSpec spec = DescribeParameters(prepared);
    int64_t sets = 0;
    for (const auto& batch : parameters) {
      ARROW_RETURN_NOT_OK(CheckParameterBatch(spec, *batch));
      sets += batch->num_rows();
    }
    const bool own_transaction = sets > 1 && !connection_.HasActiveTransaction();
    if (own_transaction) connection_.BeginTransaction();
    auto total = RunSets(prepared, spec, parameters);
    if (own_transaction) {
      if (total.ok()) {
        connection_.Commit();
      } else if (connection_.HasActiveTransaction()) {
        connection_.Rollback();
      }
    }
    return total;
  }

  arrow::Result<int64_t> RunSets(duckdb::PreparedStatement& prepared, const ParameterSpec& spec,
                                 const ParameterBatches& parameters) {
    int64_t total = 0;
    for (const auto& batch : parameters) {
      for (int64_t row = 0; row < batch->num_rows(); ++row) {
        ARROW_ASSIGN_OR_RAISE(auto values, BindRow(spec, *batch, row));
        ARROW_ASSIGN_OR_RAISE(auto pending, PendingRun(prepared, values));
        auto result = pending->Execute();
        if (result->HasError()) return FromDuckDb(result->GetErrorObject());
        total += ChangedRows(*result);
      }
    }
    return total;
  }

  // Runs every statement but the last to completion.
  arrow::Status RunAllButLast(duckdb::vector<duckdb::unique_ptr<duckdb::SQLStatement>>& statements) {
    if (statements.empty()) return InvalidArgument("Empty SQL: the query holds no statement");
    for (size_t i = 0; i + 1 < statements.size(); ++i) {
      ARROW_ASSIGN_OR_RAISE(auto pending, Pending(std::move(statements[i]), /*stream=*/false));
      auto result = pending->Execute();
      if (result->HasError()) return FromDuckDb(result->GetErrorObject());
    }
    return arrow::Status::OK();
  }

  // Runs every statement to completion; returns the last result.
  arrow::Result<duckdb::unique_ptr<duckdb::QueryResult>> Run(
      duckdb::vector<duckdb::unique_ptr<duckdb::SQLStatement>> statements) {
    ARROW_RETURN_NOT_OK(RunAllButLast(statements));
    ARROW_ASSIGN_OR_RAISE(auto last, Pending(std::move(statements.back()), /*stream=*/false));
    auto result = last->Execute();
    if (result->HasError()) return FromDuckDb(result->GetErrorObject());
    return result;
  }

  // Plans one statement up to the point of execution. A read-only server
  // prepares it first and inspects the plan: merely creating the pending
  // query would already open a COPY's target file.
  arrow::Result<duckdb::unique_ptr<duckdb::PendingQueryResult>> Pending(
      duckdb::unique_ptr<duckdb::SQLStatement> statement, bool stream) {
    duckdb::unique_ptr<duckdb::PendingQueryResult> pending;
    if (options_.read_only) {
      auto prepared = connection_.Prepare(std::move(statement));
      if (prepared->HasError()) return FromDuckDb(prepared->error);
      ARROW_RETURN_NOT_OK(CheckWriteAllowed(*prepared));
      duckdb::vector<duckdb::Value> no_parameters;
      pending = prepared->PendingQuery(no_parameters, stream);
    } else {
      pending = connection_.PendingQuery(std::move(statement), stream);
    }
    if (pending->HasError()) return FromDuckDb(pending->GetErrorObject());
    return pending;
  }

  std::unique_ptr<PooledConnection> slot_;
  duckdb::Connection& connection_;  // slot_'s
  ConnectionPool* const pool_;      // the engine's, which outlives sessions
  const DuckDbOptions& options_;    // owned by the engine
  bool reusable_ = true;            // ran nothing that may leave state behind
  // Ran a statement that retired plans: the COMMIT or ROLLBACK of its
  // transaction retires them again.
  bool retired_plans_ = false;
  std::atomic<bool> interrupted_{false};
};

class DuckDbEngine final : public Engine {
 public:
  DuckDbEngine(duckdb::unique_ptr<duckdb::DuckDB> db, DuckDbOptions options)
      : db_(std::move(db)),
        options_(std::move(options)),
        pool_(static_cast<size_t>(std::max<int64_t>(0, options_.idle_connections)),
              static_cast<size_t>(std::max<int64_t>(0, options_.plans_per_connection))) {}

  arrow::Result<std::unique_ptr<Session>> OpenSession(const SessionSettings& settings) override {
    try {
      bool reused = false;
      auto slot = pool_.Take(*db_, SettingsKey(settings), &reused);
      auto session = std::make_unique<DuckDbSession>(std::move(slot), &pool_, options_);
      if (!reused) ARROW_RETURN_NOT_OK(session->Apply(settings));
      return session;
    } catch (const std::exception& e) {
      return FromDuckDb(duckdb::ErrorData(e));
    }
  }

  std::vector<SqlTypeInfo> SqlTypes() const override { return DuckDbSqlTypes(); }
  std::string name() const override { return "duckdb"; }
  std::string version() const override { return duckdb::DuckDB::LibraryVersion(); }
  bool read_only() const override { return options_.read_only; }

  // DuckDB allocates through its bundled jemalloc, whose arenas keep freed
  // pages for reuse; this purges them (every --memory-release-interval).
  void ReleaseFreeMemory() override {
    // A plan a Prepare left that no run took holds its files and memory.
    pool_.DropStalePreparedPlans(kJustPreparedFor);
    duckdb::Allocator::FlushAll();
  }

  const ConnectionPool& pool() const { return pool_; }

  // Runs start-up SQL (data paths, --init-sql) with writes allowed.
  arrow::Status RunSetup() {
    duckdb::Connection connection(*db_);
    for (const auto& spec : options_.data_paths) {
      ARROW_ASSIGN_OR_RAISE(auto source, PlanDataSource(spec, options_.read_only));
      auto result = connection.Query(source.sql);
      if (result->HasError()) {
        return InvalidArgument("Cannot serve data path '", spec, "' as ", source.name, ": ",
                               result->GetError());
      }
      spdlog::info("event=data_path_ready name={} path={:?}", source.name, spec);
    }
    if (!options_.init_sql.empty()) {
      auto statements = connection.ExtractStatements(options_.init_sql);
      for (auto& statement : statements) {
        const std::string text = statement->ToString();
        auto result = connection.Query(std::move(statement));
        if (result->HasError()) {
          return InvalidArgument("Init SQL failed: ", result->GetError(), " (statement: ", text, ")");
        }
      }
      spdlog::info("event=init_sql_done statements={}", statements.size());
    }
    return arrow::Status::OK();
  }

 private:
  duckdb::unique_ptr<duckdb::DuckDB> db_;
  const DuckDbOptions options_;
  ConnectionPool pool_;  // after db_: its connections close first
};

}  // namespace

bool DuckDbPoolStats(const Engine& engine, ConnectionPoolStats* stats) {
  const auto* duckdb_engine = dynamic_cast<const DuckDbEngine*>(&engine);
  if (duckdb_engine == nullptr) return false;
  *stats = duckdb_engine->pool().stats();
  return true;
}

arrow::Result<std::unique_ptr<Engine>> OpenDuckDbEngine(const DuckDbOptions& options) {
  try {
    duckdb::DBConfig config;
    if (options.threads > 0) config.SetOptionByName("threads", duckdb::Value::BIGINT(options.threads));
    // A thread that runs a task for a while and returns (a reader waiting
    // for its query's rows, see MakeCollectedResultStream) puts it back in
    // the queue for any worker, instead of keeping it until it calls again:
    // a query never waits on a task its reader holds while it sends rows.
    // Workers likewise take turns between queries.
    config.SetOptionByName("scheduler_process_partial", duckdb::Value::BOOLEAN(true));
    // Squadron plans a statement (Prepare, for its schema) in one
    // transaction and runs the plan in another, and keeps plans to run again
    // (--plan-cache). DuckDB's statistics propagation removes a filter that
    // the table's statistics say every row passes: `id >= 7e12` planned
    // while the table held only such ids, then run after another session
    // committed smaller ones, returned those too (DuckDB's own PREPARE and
    // EXECUTE do the same). With it off, every filter is applied when the
    // plan runs.
    config.SetOptionByName("disabled_optimizers", duckdb::Value("statistics_propagation"));
    if (!options.memory_limit.empty()) {
      config.SetOptionByName("memory_limit", duckdb::Value(options.memory_limit));
    }
    const bool in_memory = options.database.empty() || options.database == ":memory:";
    auto db = duckdb::make_uniq<duckdb::DuckDB>(in_memory ? nullptr : options.database.c_str(), &config);
    // As an extension would: on the running instance's configuration (the
    // one passed in is copied without its extensions).
    TrackColumnOrigins(duckdb::DBConfig::GetConfig(*db->instance));
    auto engine = std::make_unique<DuckDbEngine>(std::move(db), options);
    ARROW_RETURN_NOT_OK(engine->RunSetup());
    return engine;
  } catch (const std::exception& e) {
    const duckdb::ErrorData error(e);
    return InvalidArgument("Cannot open DuckDB database '", options.database, "': ", error.Message());
  }
}

}  // namespace squadron::engine
