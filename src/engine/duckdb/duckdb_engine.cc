// The DuckDB adapter: the only code that includes DuckDB headers.
#include "engine/duckdb/duckdb_engine.h"

#include <algorithm>
#include <atomic>

#include <arrow/c/bridge.h>
#include <arrow/type.h>
#include <arrow/util/byte_size.h>
#include <spdlog/spdlog.h>

#include "common/status.h"
#include "duckdb.hpp"
#include "duckdb/common/arrow/arrow_converter.hpp"
#include "duckdb/common/arrow/result_arrow_wrapper.hpp"
#include "duckdb/main/materialized_query_result.hpp"
#include "duckdb/main/pending_query_result.hpp"
#include "engine/duckdb/data_paths.h"

namespace squadron::engine {

namespace {

// DuckDB appends rows to an Arrow batch one vector (2048 rows) at a time.
constexpr int64_t kVectorRows = STANDARD_VECTOR_SIZE;

// Maps a DuckDB error to the status the client should see.
arrow::Status FromDuckDb(const duckdb::ErrorData& error) {
  using duckdb::ExceptionType;
  const std::string& message = error.Message();
  switch (error.Type()) {
    case ExceptionType::INTERRUPT:
      return Cancelled(message);
    case ExceptionType::PERMISSION:
      return PermissionDenied(message);
    case ExceptionType::OUT_OF_MEMORY:
      return Unavailable(message);
    case ExceptionType::FATAL:
    case ExceptionType::INTERNAL:
    case ExceptionType::NULL_POINTER:
      return Internal(message);
    default:
      // Parser, binder, catalog, conversion, constraint, IO on a user's file...:
      // all caused by the statement the client sent.
      return InvalidArgument(message);
  }
}

// True when a read-only server may run a statement of this type at all; the
// statement must also modify no database (checked separately).
bool ReadOnlyAllows(duckdb::StatementType type) {
  using duckdb::StatementType;
  switch (type) {
    case StatementType::SELECT_STATEMENT:
    case StatementType::EXPLAIN_STATEMENT:
    case StatementType::PRAGMA_STATEMENT:
    case StatementType::SET_STATEMENT:
    case StatementType::VARIABLE_SET_STATEMENT:
    case StatementType::TRANSACTION_STATEMENT:
    case StatementType::CALL_STATEMENT:
    case StatementType::RELATION_STATEMENT:
      return true;
    default:
      return false;
  }
}

arrow::Result<std::shared_ptr<arrow::Schema>> ToArrowSchema(
    const duckdb::vector<duckdb::LogicalType>& types, const duckdb::vector<std::string>& names,
    duckdb::ClientProperties properties) {
  ArrowSchema c_schema;
  duckdb::ArrowConverter::ToArrowSchema(&c_schema, types, names, properties);
  return arrow::ImportSchema(&c_schema);
}

// A DuckDB result exported batch by batch through the Arrow C stream
// interface; each ArrowArray is imported without copying.
class DuckDbResultStream final : public ResultStream {
 public:
  static arrow::Result<std::unique_ptr<ResultStream>> Make(duckdb::unique_ptr<duckdb::QueryResult> result,
                                                           const DuckDbOptions& options) {
    std::optional<int64_t> num_rows;
    if (result->type == duckdb::QueryResultType::MATERIALIZED_RESULT) {
      num_rows = static_cast<int64_t>(result->Cast<duckdb::MaterializedQueryResult>().RowCount());
    }
    const int64_t batch_rows = std::max<int64_t>(1, options.batch_rows);
    // The first batch is one vector: quick to the client and a measure of the
    // row width; later batches grow to fit batch_bytes (FitBatchToBytes).
    const int64_t first_rows = std::min(batch_rows, kVectorRows);
    // The wrapper owns the result; stream.release deletes the wrapper.
    auto* wrapper = new duckdb::ResultArrowArrayStreamWrapper(std::move(result), first_rows);
    auto stream = std::unique_ptr<DuckDbResultStream>(
        new DuckDbResultStream(wrapper, num_rows, batch_rows, options.batch_bytes));
    ArrowSchema c_schema;
    if (wrapper->stream.get_schema(&wrapper->stream, &c_schema) != 0) {
      return FromDuckDb(wrapper->last_error);
    }
    ARROW_ASSIGN_OR_RAISE(stream->schema_, arrow::ImportSchema(&c_schema));
    return stream;
  }

  ~DuckDbResultStream() override { Release(); }

  const std::shared_ptr<arrow::Schema>& schema() const override { return schema_; }

  std::optional<int64_t> num_rows() const override { return num_rows_; }

  arrow::Result<std::shared_ptr<arrow::RecordBatch>> Next() override {
    if (wrapper_ == nullptr) return nullptr;
    ArrowArray c_array;
    if (wrapper_->stream.get_next(&wrapper_->stream, &c_array) != 0) {
      auto status = FromDuckDb(wrapper_->last_error);
      Release();
      return status;
    }
    if (c_array.release == nullptr) {
      Release();  // frees DuckDB's execution state as soon as the end is seen
      return nullptr;
    }
    ARROW_ASSIGN_OR_RAISE(auto batch, arrow::ImportRecordBatch(&c_array, schema_));
    FitBatchToBytes(*batch);
    return batch;
  }

 private:
  DuckDbResultStream(duckdb::ResultArrowArrayStreamWrapper* wrapper, std::optional<int64_t> num_rows,
                     int64_t batch_rows, int64_t batch_bytes)
      : wrapper_(wrapper), num_rows_(num_rows), batch_rows_(batch_rows), batch_bytes_(batch_bytes) {}

  // Lowers the rows per batch for wide rows so a batch stays near batch_bytes.
  void FitBatchToBytes(const arrow::RecordBatch& batch) {
    if (batch_bytes_ <= 0 || batch.num_rows() == 0 || wrapper_ == nullptr) return;
    const int64_t bytes = arrow::util::TotalBufferSize(batch);
    const int64_t row_bytes = std::max<int64_t>(1, bytes / batch.num_rows());
    int64_t rows = batch_bytes_ / row_bytes;
    rows = rows >= kVectorRows ? rows / kVectorRows * kVectorRows : kVectorRows;
    wrapper_->batch_size = static_cast<duckdb::idx_t>(std::min(rows, batch_rows_));
  }

  void Release() {
    if (wrapper_ != nullptr) {
      wrapper_->stream.release(&wrapper_->stream);
      wrapper_ = nullptr;
    }
  }

  duckdb::ResultArrowArrayStreamWrapper* wrapper_;  // owned via stream.release
  std::shared_ptr<arrow::Schema> schema_;
  const std::optional<int64_t> num_rows_;
  const int64_t batch_rows_;
  const int64_t batch_bytes_;
};

class DuckDbSession final : public Session {
 public:
  DuckDbSession(duckdb::DuckDB& db, const DuckDbOptions& options)
      : connection_(db), options_(options) {}

  arrow::Result<std::shared_ptr<arrow::Schema>> Describe(const std::string& sql) override {
    try {
      auto prepared = connection_.Prepare(sql);
      if (prepared->HasError()) return FromDuckDb(prepared->error);
      return ToArrowSchema(prepared->GetTypes(), prepared->GetNames(),
                           connection_.context->GetClientProperties());
    } catch (const std::exception& e) {
      return FromDuckDb(duckdb::ErrorData(e));
    }
  }

  arrow::Result<std::unique_ptr<ResultStream>> Execute(const std::string& sql) override {
    try {
      ARROW_ASSIGN_OR_RAISE(auto result, Run(sql, /*stream_last=*/true));
      return DuckDbResultStream::Make(std::move(result), options_);
    } catch (const std::exception& e) {
      return FromDuckDb(duckdb::ErrorData(e));
    }
  }

  arrow::Result<int64_t> ExecuteUpdate(const std::string& sql) override {
    try {
      ARROW_ASSIGN_OR_RAISE(auto result, Run(sql, /*stream_last=*/false));
      if (result->properties.return_type != duckdb::StatementReturnType::CHANGED_ROWS) return 0;
      auto chunk = result->Fetch();
      if (!chunk || chunk->size() == 0) return 0;
      return chunk->GetValue(0, 0).GetValue<int64_t>();
    } catch (const std::exception& e) {
      return FromDuckDb(duckdb::ErrorData(e));
    }
  }

  void Interrupt() override { connection_.Interrupt(); }

 private:
  // Runs every statement of `sql`; all but the last to completion. The last
  // one's result streams when `stream_last` and DuckDB allows it.
  arrow::Result<duckdb::unique_ptr<duckdb::QueryResult>> Run(const std::string& sql, bool stream_last) {
    auto statements = connection_.ExtractStatements(sql);
    if (statements.empty()) return InvalidArgument("Empty SQL: the query holds no statement");
    duckdb::unique_ptr<duckdb::QueryResult> result;
    for (size_t i = 0; i < statements.size(); ++i) {
      const bool stream = i + 1 == statements.size() && stream_last;
      ARROW_ASSIGN_OR_RAISE(auto pending, Pending(std::move(statements[i]), stream));
      result = pending->Execute();
      if (result->HasError()) return FromDuckDb(result->GetErrorObject());
    }
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
      const auto type = prepared->GetStatementType();
      if (!ReadOnlyAllows(type) || !prepared->GetStatementProperties().IsReadOnly()) {
        return PermissionDenied(Msg("Server is read-only (--read-only): ",
                                    duckdb::StatementTypeToString(type), " statements are refused"));
      }
      duckdb::vector<duckdb::Value> no_parameters;
      pending = prepared->PendingQuery(no_parameters, stream);
    } else {
      pending = connection_.PendingQuery(std::move(statement), stream);
    }
    if (pending->HasError()) return FromDuckDb(pending->GetErrorObject());
    return pending;
  }

  duckdb::Connection connection_;
  const DuckDbOptions& options_;  // owned by the engine, which outlives sessions
};

class DuckDbEngine final : public Engine {
 public:
  DuckDbEngine(duckdb::unique_ptr<duckdb::DuckDB> db, DuckDbOptions options)
      : db_(std::move(db)), options_(std::move(options)) {}

  arrow::Result<std::unique_ptr<Session>> OpenSession() override {
    try {
      return std::make_unique<DuckDbSession>(*db_, options_);
    } catch (const std::exception& e) {
      return FromDuckDb(duckdb::ErrorData(e));
    }
  }

  std::string name() const override { return "duckdb"; }
  std::string version() const override { return duckdb::DuckDB::LibraryVersion(); }
  bool read_only() const override { return options_.read_only; }

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
};

}  // namespace

arrow::Result<std::unique_ptr<Engine>> OpenDuckDbEngine(const DuckDbOptions& options) {
  try {
    duckdb::DBConfig config;
    if (options.threads > 0) config.SetOptionByName("threads", duckdb::Value::BIGINT(options.threads));
    if (!options.memory_limit.empty()) {
      config.SetOptionByName("memory_limit", duckdb::Value(options.memory_limit));
    }
    const bool in_memory = options.database.empty() || options.database == ":memory:";
    auto db = duckdb::make_uniq<duckdb::DuckDB>(in_memory ? nullptr : options.database.c_str(), &config);
    auto engine = std::make_unique<DuckDbEngine>(std::move(db), options);
    ARROW_RETURN_NOT_OK(engine->RunSetup());
    return engine;
  } catch (const std::exception& e) {
    const duckdb::ErrorData error(e);
    return InvalidArgument("Cannot open DuckDB database '", options.database, "': ", error.Message());
  }
}

}  // namespace squadron::engine
