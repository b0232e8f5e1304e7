#include "engine/spark/spark_engine.h"

#include <algorithm>
#include <map>
#include <mutex>

#include <arrow/io/memory.h>
#include <arrow/ipc/writer.h>
#include <arrow/util/byte_size.h>
#include <spdlog/spdlog.h>

#include "common/status.h"
#include "common/text.h"
#include "engine/spark/spark_metadata.h"

namespace squadron::engine {

namespace {

using Clock = std::chrono::steady_clock;

// A Spark SQL identifier, back-quoted.
std::string Quote(const std::string& name) {
  std::string quoted = "`";
  for (char c : name) {
    if (c == '`') quoted.push_back('`');
    quoted.push_back(c);
  }
  return quoted + "`";
}

arrow::Status Drain(spark::Execution& execution) {
  std::shared_ptr<arrow::RecordBatch> batch;
  do {
    ARROW_RETURN_NOT_OK(execution.ReadNext(&batch));
  } while (batch != nullptr);
  return arrow::Status::OK();
}

arrow::Status RunForEffect(spark::SparkConnectClient& client, const std::string& sql) {
  ARROW_ASSIGN_OR_RAISE(auto execution, client.Execute(sql));
  return Drain(*execution);
}

// One Spark session serving one client session (or connection), with the
// settings last applied to it.
struct SharedSession {
  explicit SharedSession(std::unique_ptr<spark::SparkConnectClient> c) : client(std::move(c)) {}
  const std::shared_ptr<spark::SparkConnectClient> client;
  std::mutex mutex;  // guards applied
  /// What the Spark session has; nullopt when unknown (a failed change).
  std::optional<SessionSettings> applied = SessionSettings{};
  std::atomic<int64_t> last_used_ns{Clock::now().time_since_epoch().count()};
  void Touch() { last_used_ns.store(Clock::now().time_since_epoch().count()); }
};

// The statement's first keyword names a query. WITH may lead to an INSERT
// in Spark: not a reader's.
bool StartsLikeQuery(std::string_view sql) {
  const std::string word = FirstKeyword(sql);
  return word == "SELECT" || word == "VALUES" || word == "TABLE" || word == "FROM" || word == "SHOW" ||
         word == "DESCRIBE" || word == "DESC" || word == "EXPLAIN";
}

bool SameSettings(const SessionSettings& a, const SessionSettings& b) {
  return a.catalog == b.catalog && a.schema == b.schema && a.timezone == b.timezone;
}

// Makes the Spark session's time zone, current catalog and database those of
// `want`, changing only what differs from `had` (all when `had` is unknown).
arrow::Status Apply(spark::SparkConnectClient& client, const std::optional<SessionSettings>& had,
                    const SessionSettings& want) {
  if (!had || had->timezone != want.timezone) {
    if (want.timezone) {
      ARROW_RETURN_NOT_OK(client.SetConfig("spark.sql.session.timeZone", *want.timezone));
    } else {
      ARROW_RETURN_NOT_OK(client.UnsetConfig("spark.sql.session.timeZone"));
    }
  }
  if (!had || had->catalog != want.catalog || had->schema != want.schema) {
    // Spark's defaults: the session catalog and its database `default`.
    ARROW_RETURN_NOT_OK(RunForEffect(client, "SET CATALOG " + Quote(want.catalog.value_or("spark_catalog"))));
    if (want.schema) {
      ARROW_RETURN_NOT_OK(RunForEffect(client, "USE " + Quote(*want.schema)));
    } else if (!want.catalog) {
      ARROW_RETURN_NOT_OK(RunForEffect(client, "USE `default`"));
    }
  }
  return arrow::Status::OK();
}

// The arguments of parameter set `row`: by name when every field of the
// batch names a `:name` marker of the statement, else by position.
arrow::Result<spark::SqlArguments> ArgumentsOf(const std::string& sql, const arrow::RecordBatch& batch, int64_t row) {
  bool named = batch.num_columns() > 0;
  for (const auto& field : batch.schema()->fields()) {
    if (field->name().empty() || sql.find(":" + field->name()) == std::string::npos) named = false;
  }
  spark::SqlArguments arguments;
  for (int c = 0; c < batch.num_columns(); ++c) {
    ARROW_ASSIGN_OR_RAISE(auto value, batch.column(c)->GetScalar(row));
    if (named) {
      arguments.named.emplace_back(batch.schema()->field(c)->name(), std::move(value));
    } else {
      arguments.positional.push_back(std::move(value));
    }
  }
  return arguments;
}

// Every parameter set of `parameters`, in order (one empty set when none).
arrow::Result<std::vector<spark::SqlArguments>> ParameterSets(const std::string& sql,
                                                              const ParameterBatches& parameters) {
  std::vector<spark::SqlArguments> sets;
  // No parameters, or batches without columns (what clients bind to a
  // statement without markers): one run.
  const bool none = std::all_of(parameters.begin(), parameters.end(),
                                [](const auto& batch) { return batch->num_columns() == 0; });
  if (none) {
    sets.emplace_back();
    return sets;
  }
  for (const auto& batch : parameters) {
    for (int64_t row = 0; row < batch->num_rows(); ++row) {
      ARROW_ASSIGN_OR_RAISE(auto arguments, ArgumentsOf(sql, *batch, row));
      sets.push_back(std::move(arguments));
    }
  }
  return sets;
}

class SparkSession;

// A Spark result read from the driver as it arrives; with several parameter
// sets, the results of each run follow each other.
class SparkResultStream final : public ResultStream {
 public:
  SparkResultStream(SparkSession* session, std::string sql, std::vector<spark::SqlArguments> sets,
                    std::shared_ptr<spark::Execution> first)
      : session_(session), sql_(std::move(sql)), sets_(std::move(sets)), execution_(std::move(first)),
        schema_(spark::WithColumnMetadata(execution_->schema())) {}
  ~SparkResultStream() override;

  const std::shared_ptr<arrow::Schema>& schema() const override { return schema_; }

  arrow::Result<std::shared_ptr<arrow::RecordBatch>> Next() override;

  std::optional<int64_t> num_rows() const override { return std::nullopt; }

  // Reads wait on Spark's gRPC stream and cannot stop at a deadline: unless
  // rows are here already, say so, and the server reads on another thread
  // (a long Spark query answers GetFlightInfo once planned, and stays
  // cancellable).
  bool Advance(std::chrono::steady_clock::time_point deadline) override {
    if (execution_ == nullptr || execution_->ready()) return true;
    if (deadline != std::chrono::steady_clock::time_point::max()) return false;
    // No deadline (a poll's own thread): wait here; an error shows in Next().
    (void)execution_->Wait();
    return true;
  }

 private:
  SparkSession* session_;
  const std::string sql_;
  const std::vector<spark::SqlArguments> sets_;
  size_t next_set_ = 1;
  std::shared_ptr<spark::Execution> execution_;
  std::shared_ptr<arrow::Schema> schema_;
};

class SparkSession final : public Session {
 public:
  SparkSession(std::shared_ptr<SharedSession> shared, bool owned)
      : shared_(std::move(shared)), client_(*shared_->client), owned_(owned) {}

  ~SparkSession() override {
    shared_->Touch();
    if (owned_) client_.Release();
  }

  arrow::Result<StatementDescription> Prepare(const std::string& sql) override {
    ARROW_ASSIGN_OR_RAISE(auto described, client_.Describe(sql));
    StatementDescription description;
    description.result_schema = described.schema;
    arrow::FieldVector parameters;
    // Spark infers no parameter types: every parameter is advertised as
    // float64 (engine.h) and takes a value of any type, bound with that type.
    for (int i = 0; i < described.positional; ++i) {
      parameters.push_back(arrow::field("parameter_" + std::to_string(i + 1), arrow::float64()));
    }
    for (const auto& name : described.named) parameters.push_back(arrow::field(name, arrow::float64()));
    description.parameter_schema = arrow::schema(std::move(parameters));
    // DDL and DML describe as no columns.
    description.is_query = described.schema->num_fields() > 0;
    // Spark's analysis does not say whether a statement writes: never routed
    // elsewhere by guess.
    description.read_only = false;
    // What a reader may run: a query by its first keyword (Spark-side
    // permissions, with the Spark session running as the user, do the rest).
    description.reader_safe = description.is_query && StartsLikeQuery(sql);
    return description;
  }

  arrow::Result<std::unique_ptr<ResultStream>> Execute(const std::string& sql,
                                                       const ParameterBatches& parameters) override {
    ARROW_ASSIGN_OR_RAISE(auto sets, ParameterSets(sql, parameters));
    if (sets.empty()) return InvalidArgument("The parameter batches hold no parameter set (0 rows)");
    ARROW_ASSIGN_OR_RAISE(auto first, Start(sql, sets.front()));
    return std::make_unique<SparkResultStream>(this, sql, std::move(sets), std::move(first));
  }

  arrow::Result<int64_t> ExecuteUpdate(const std::string& sql, const ParameterBatches& parameters) override {
    // Spark has no transactions: parameter sets run one after the other, and
    // those before a failing one stay applied.
    ARROW_ASSIGN_OR_RAISE(auto sets, ParameterSets(sql, parameters));
    std::optional<int64_t> total;
    for (const auto& arguments : sets) {
      ARROW_ASSIGN_OR_RAISE(auto execution, Start(sql, arguments));
      ARROW_RETURN_NOT_OK(Drain(*execution));
      if (auto rows = execution->affected_rows()) total = total.value_or(0) + *rows;
      Finish(execution);
    }
    // Only tables that report changed rows (num_affected_rows: Delta, other
    // v2 sources) give a count; Spark's file tables give none: -1, unknown.
    return total.value_or(-1);
  }

  arrow::Result<int64_t> Ingest(const IngestRequest& request, std::shared_ptr<arrow::RecordBatchReader> data) override;

  arrow::Result<std::vector<std::string>> ListCatalogs() override { return spark::ListCatalogs(client_); }
  arrow::Result<std::vector<std::pair<std::string, std::string>>> ListSchemas(
      const std::optional<std::string>& catalog, const std::optional<std::string>& schema_pattern) override {
    return spark::ListSchemas(client_, catalog, schema_pattern);
  }
  arrow::Result<std::vector<TableEntry>> ListTables(const TableFilter& filter) override {
    return spark::ListTables(client_, filter);
  }
  arrow::Result<Dialect> DescribeDialect() override { return spark::DescribeDialect(client_); }
  arrow::Result<std::vector<PrimaryKeyColumn>> PrimaryKeys(const TableRef&) override {
    return std::vector<PrimaryKeyColumn>{};  // Spark tables have no enforced keys
  }
  arrow::Result<std::vector<ForeignKeyColumn>> ForeignKeys(const std::optional<TableRef>&,
                                                           const std::optional<TableRef>&) override {
    return std::vector<ForeignKeyColumn>{};
  }
  // Spark reports progress for every operation.
  arrow::Status TrackProgress() override { return arrow::Status::OK(); }

  std::optional<double> Progress() override {
    std::lock_guard lock(mutex_);
    return running_ ? running_->progress() : std::nullopt;
  }

  void Interrupt() override {
    std::shared_ptr<spark::Execution> running;
    {
      std::lock_guard lock(mutex_);
      interrupted_ = true;
      running = running_;
    }
    if (running) running->Interrupt();
  }

  arrow::Result<ResultEstimate> Estimate(const std::string& sql) override {
    ARROW_ASSIGN_OR_RAISE(auto estimate, client_.Estimate(sql));
    return ResultEstimate{estimate.bytes, estimate.ordered};
  }

  arrow::Status WriteTo(const std::string& sql, const std::string& format,
                        const std::map<std::string, std::string>& options) override {
    ARROW_ASSIGN_OR_RAISE(auto execution, Track([&] { return client_.StartWrite(sql, format, options); }));
    auto status = Drain(*execution);
    Finish(execution);
    return status;
  }

  // Starts one run of `sql`: the operation Interrupt() and Progress() follow.
  arrow::Result<std::shared_ptr<spark::Execution>> Start(const std::string& sql,
                                                         const spark::SqlArguments& arguments) {
    return Track([&] { return client_.Execute(sql, arguments); });
  }

  // Starts an operation with `start` and makes it the one Interrupt() and
  // Progress() follow.
  template <typename StartFn>
  arrow::Result<std::shared_ptr<spark::Execution>> Track(StartFn start) {
    {
      std::lock_guard lock(mutex_);
      if (interrupted_) return Cancelled("The statement was interrupted");
    }
    ARROW_ASSIGN_OR_RAISE(auto execution, start());
    std::shared_ptr<spark::Execution> started = execution;
    bool interrupted;
    {
      std::lock_guard lock(mutex_);
      running_ = execution;
      interrupted = interrupted_;
    }
    // An Interrupt() that came while the operation started.
    if (interrupted) started->Interrupt();
    return started;
  }

  void Finish(const std::shared_ptr<spark::Execution>& execution) {
    std::lock_guard lock(mutex_);
    if (running_ == execution) running_.reset();
  }

 private:
  std::shared_ptr<SharedSession> shared_;
  spark::SparkConnectClient& client_;
  const bool owned_;
  std::mutex mutex_;  // guards running_ and interrupted_
  std::shared_ptr<spark::Execution> running_;
  bool interrupted_ = false;
};

SparkResultStream::~SparkResultStream() {
  if (execution_) session_->Finish(execution_);
}

arrow::Result<std::shared_ptr<arrow::RecordBatch>> SparkResultStream::Next() {
  while (execution_ != nullptr) {
    std::shared_ptr<arrow::RecordBatch> batch;
    ARROW_RETURN_NOT_OK(execution_->ReadNext(&batch));
    if (batch == nullptr) {
      session_->Finish(execution_);
      execution_.reset();
      if (next_set_ < sets_.size()) {
        ARROW_ASSIGN_OR_RAISE(execution_, session_->Start(sql_, sets_[next_set_++]));
        if (!execution_->schema()->Equals(*schema_, /*check_metadata=*/false)) {
          return InvalidArgument("Parameter set ", next_set_, " gives a result of another schema (",
                                 execution_->schema()->ToString(), ") than the first (", schema_->ToString(),
                                 "): bind values of the same types");
        }
      }
      continue;
    }
    // Spark's batches can be empty (an empty result still has one).
    if (batch->num_rows() == 0) continue;
    return arrow::RecordBatch::Make(schema_, batch->num_rows(), batch->columns());
  }
  return nullptr;
}

// Bulk ingest: the client's batches go to Spark in chunks, each a local
// relation appended to a staging table next to the target; one statement
// then moves every row into the target, so the target gets all rows or none.
arrow::Result<int64_t> SparkSession::Ingest(const IngestRequest& request,
                                            std::shared_ptr<arrow::RecordBatchReader> data) {
  if (request.temporary) {
    return InvalidArgument("Spark has no temporary tables (only temporary views): ingest into a table");
  }
  std::string prefix;
  if (request.catalog) prefix += Quote(*request.catalog) + ".";
  if (request.schema) prefix += Quote(*request.schema) + ".";
  const std::string target = prefix + Quote(request.table);
  // Does the target exist? Spark's analysis of a query of it says.
  auto existing = client_.Describe("SELECT * FROM " + target);
  const bool exists = existing.ok();
  if (!exists && existing.status().message().find("TABLE_OR_VIEW_NOT_FOUND") == std::string::npos) {
    return existing.status();
  }
  if (exists && request.if_exists == IngestRequest::IfExists::kFail) {
    return arrow::Status::AlreadyExists("Table ", target, " already exists (ingest with if_exists=FAIL)");
  }
  if (!exists && request.if_missing == IngestRequest::IfMissing::kFail) {
    return NotFound("Table ", target, " does not exist (ingest with if_missing=FAIL)");
  }

  const std::string staging = prefix + Quote("_squadron_ingest_" + client_.session_id().substr(0, 8) + "_" +
                                             std::to_string(Clock::now().time_since_epoch().count()));
  struct DropStaging {
    spark::SparkConnectClient& client;
    const std::string& table;
    bool created = false;
    ~DropStaging() {
      if (created) {
        auto status = RunForEffect(client, "DROP TABLE IF EXISTS " + table);
        if (!status.ok()) spdlog::warn("event=ingest_staging_not_dropped table={} error={:?}", table, status.message());
      }
    }
  } drop{client_, staging};

  // Chunks of about this much Arrow data (Spark Connect takes 128 MiB messages).
  constexpr int64_t kChunkBytes = 16 << 20;
  int64_t rows = 0;
  std::vector<std::shared_ptr<arrow::RecordBatch>> chunk;
  int64_t chunk_bytes = 0;
  auto flush = [&]() -> arrow::Status {
    if (chunk.empty() && drop.created) return arrow::Status::OK();
    ARROW_ASSIGN_OR_RAISE(auto sink, arrow::io::BufferOutputStream::Create());
    ARROW_ASSIGN_OR_RAISE(auto writer, arrow::ipc::MakeStreamWriter(sink, data->schema()));
    for (const auto& batch : chunk) ARROW_RETURN_NOT_OK(writer->WriteRecordBatch(*batch));
    ARROW_RETURN_NOT_OK(writer->Close());
    ARROW_ASSIGN_OR_RAISE(auto buffer, sink->Finish());
    drop.created = true;
    ARROW_RETURN_NOT_OK(client_.WriteLocalRelation(buffer->ToString(), staging, /*save_as_table=*/true));
    chunk.clear();
    chunk_bytes = 0;
    return arrow::Status::OK();
  };
  while (true) {
    std::shared_ptr<arrow::RecordBatch> batch;
    ARROW_RETURN_NOT_OK(data->ReadNext(&batch));
    if (batch == nullptr) break;
    rows += batch->num_rows();
    chunk_bytes += static_cast<int64_t>(arrow::util::TotalBufferSize(*batch));
    chunk.push_back(std::move(batch));
    if (chunk_bytes >= kChunkBytes) ARROW_RETURN_NOT_OK(flush());
  }
  ARROW_RETURN_NOT_OK(flush());  // also creates the staging table of an empty stream

  // One statement moves the rows: a Spark job commits all its files or none.
  std::string move;
  if (!exists) {
    move = "CREATE TABLE " + target + " USING parquet AS SELECT * FROM " + staging;
  } else if (request.if_exists == IngestRequest::IfExists::kReplace) {
    // Replace the schema too: Spark's file tables cannot REPLACE TABLE, so
    // drop, then create (not atomic: see docs/spark.md).
    ARROW_RETURN_NOT_OK(RunForEffect(client_, "DROP TABLE " + target));
    move = "CREATE TABLE " + target + " USING parquet AS SELECT * FROM " + staging;
  } else {
    move = "INSERT INTO " + target + " BY NAME SELECT * FROM " + staging;
  }
  ARROW_RETURN_NOT_OK(RunForEffect(client_, move));
  return rows;
}

// The engine: Spark sessions kept per client session (or connection), so a
// client's SET statements, temporary views and USE carry over between its
// statements, as on any SQL connection.
class SparkEngine final : public Engine {
 public:
  SparkEngine(std::unique_ptr<spark::SparkConnectClient> base, std::chrono::milliseconds idle_timeout)
      : base_(std::move(base)), idle_timeout_(idle_timeout) {}

  ~SparkEngine() override {
    std::lock_guard lock(mutex_);
    for (auto& [key, shared] : sessions_) shared->client->Release();
  }

  arrow::Result<std::unique_ptr<Session>> OpenSession(const SessionSettings& settings) override {
    if (settings.client.empty()) {
      // A Spark session of its own, released with the engine session.
      auto shared = std::make_shared<SharedSession>(base_->NewSession(settings.user));
      ARROW_RETURN_NOT_OK(Apply(*shared->client, SessionSettings{}, settings));
      return std::make_unique<SparkSession>(std::move(shared), /*owned=*/true);
    }
    ReleaseIdle();
    std::shared_ptr<SharedSession> shared;
    {
      std::lock_guard lock(mutex_);
      // One Spark session per client and user: a connection whose calls
      // change user never shares another user's Spark session.
      auto& slot = sessions_[settings.user.empty() ? settings.client : settings.client + "\x1f" + settings.user];
      if (slot != nullptr && slot->client->lost()) {
        // Spark forgot it (restarted, or expired it): its SETs and temporary
        // views are gone; start a new one with the client's settings.
        spdlog::warn("event=spark_session_lost client={} spark_session={}", settings.client,
                     slot->client->session_id());
        slot.reset();
      }
      if (slot == nullptr) {
        slot = std::make_shared<SharedSession>(base_->NewSession(settings.user));
        spdlog::info("event=spark_session_opened client={} user={:?} spark_session={}", settings.client,
                     settings.user, slot->client->session_id());
      }
      shared = slot;
    }
    shared->Touch();
    {
      std::lock_guard lock(shared->mutex);
      if (!shared->applied || !SameSettings(*shared->applied, settings)) {
        const auto had = shared->applied;
        shared->applied.reset();  // unknown until every change went through
        ARROW_RETURN_NOT_OK(Apply(*shared->client, had, settings));
        shared->applied = settings;
      }
    }
    return std::make_unique<SparkSession>(std::move(shared), /*owned=*/false);
  }

  void ReleaseClient(const std::string& client) override {
    std::vector<std::shared_ptr<SharedSession>> released;
    {
      std::lock_guard lock(mutex_);
      // The client's session, and those of each user it ran as.
      for (auto it = sessions_.lower_bound(client); it != sessions_.end();) {
        if (it->first != client && it->first.rfind(client + "\x1f", 0) != 0) break;
        released.push_back(std::move(it->second));
        it = sessions_.erase(it);
      }
    }
    for (const auto& shared : released) {
      shared->client->Release();
      spdlog::info("event=spark_session_released reason=client_closed client={} spark_session={}", client,
                   shared->client->session_id());
    }
  }

  std::vector<SqlTypeInfo> SqlTypes() const override { return spark::SqlTypes(); }
  std::string name() const override { return "spark"; }
  std::string version() const override { return base_->spark_version(); }
  bool read_only() const override { return false; }
  bool supports_transactions() const override { return false; }

 private:
  // Spark sessions of clients without a session cookie live per connection;
  // those idle past the timeout (and not in use) are released.
  void ReleaseIdle() {
    const int64_t now = Clock::now().time_since_epoch().count();
    const int64_t limit = std::chrono::duration_cast<Clock::duration>(idle_timeout_).count();
    std::vector<std::pair<std::string, std::shared_ptr<SharedSession>>> idle;
    {
      std::lock_guard lock(mutex_);
      for (auto it = sessions_.begin(); it != sessions_.end();) {
        if (it->second.use_count() == 1 && now - it->second->last_used_ns.load() > limit) {
          idle.emplace_back(it->first, std::move(it->second));
          it = sessions_.erase(it);
        } else {
          ++it;
        }
      }
    }
    for (const auto& [key, shared] : idle) {
      shared->client->Release();
      spdlog::info("event=spark_session_released reason=idle client={} spark_session={}", key,
                   shared->client->session_id());
    }
  }

  const std::unique_ptr<spark::SparkConnectClient> base_;  // the channel every session shares
  const std::chrono::milliseconds idle_timeout_;
  std::mutex mutex_;  // guards sessions_
  std::map<std::string, std::shared_ptr<SharedSession>> sessions_;
};

}  // namespace

arrow::Result<std::unique_ptr<Engine>> OpenSparkEngine(const spark::SparkConnectOptions& options,
                                                       std::chrono::milliseconds client_idle_timeout) {
  ARROW_ASSIGN_OR_RAISE(auto base, spark::SparkConnectClient::Connect(options));
  return std::make_unique<SparkEngine>(std::move(base), client_idle_timeout);
}

}  // namespace squadron::engine
