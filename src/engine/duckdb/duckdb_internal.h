// Pieces shared by the DuckDB adapter's files. Private to engine/duckdb/: the
// only header outside DuckDB itself that names DuckDB types.
#pragma once

#include <atomic>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <utility>
#include <vector>
#include <string>

#include <arrow/array.h>
#include <arrow/buffer_builder.h>
#include <arrow/result.h>
#include <arrow/status.h>

#include "duckdb.hpp"
#include "engine/duckdb/duckdb_engine.h"
#include "engine/engine.h"

namespace squadron::engine {

/// The number of common table expressions (`name AS (...)`) in `sql`, from
/// DuckDB's tokenizer (linear in the text; nothing is parsed).
size_t CountCommonTableExpressions(const std::string& sql);

/// Checks limits that must hold before DuckDB parses `sql` (see
/// DuckDbOptions::max_statement_ctes). Errors: Invalid saying which limit.
arrow::Status CheckStatementLimits(const std::string& sql, const DuckDbOptions& options);

/// Maps a DuckDB error to the status the client should see.
arrow::Status FromDuckDb(const duckdb::ErrorData& error);

/// True when a read-only server may run a statement of this type at all (it
/// must also modify no database).
bool ReadOnlyAllows(duckdb::StatementType type);

/// Adds each column's ARROW:FLIGHT:SQL:TYPE_NAME (DuckDB's type name) and,
/// for exact numbers, PRECISION and SCALE to the fields of `schema`.
std::shared_ptr<arrow::Schema> WithTypeMetadata(const std::shared_ptr<arrow::Schema>& schema,
                                                const duckdb::vector<duckdb::LogicalType>& types);

/// Converts DuckDB result types to the Arrow schema DuckDB's export produces,
/// with the column metadata of WithTypeMetadata.
arrow::Result<std::shared_ptr<arrow::Schema>> ToArrowSchema(
    const duckdb::vector<duckdb::LogicalType>& types, const duckdb::vector<std::string>& names,
    duckdb::ClientProperties properties);

/// Replaces types DuckDB cannot know before parameters are bound (`SELECT ?`)
/// by SQLNULL, which Arrow describes as its null type.
duckdb::vector<duckdb::LogicalType> KnownTypes(duckdb::vector<duckdb::LogicalType> types);

/// The parameter types clients are told: those DuckDB inferred, and DOUBLE
/// for parameters it could not type (see StatementDescription).
duckdb::vector<duckdb::LogicalType> AdvertisedParameterTypes(duckdb::vector<duckdb::LogicalType> types);

/// Streams a DuckDB result as Arrow batches: through ChunkBatchBuilder when
/// it knows every column's type, else through DuckDB's own Arrow export.
/// `schema`, when known, is ToArrowSchema of the result's types, perhaps with
/// more field metadata; the builder's batches carry it.
arrow::Result<std::unique_ptr<ResultStream>> MakeResultStream(
    duckdb::unique_ptr<duckdb::QueryResult> result, const DuckDbOptions& options,
    std::shared_ptr<arrow::Schema> schema = nullptr);

/// The same through DuckDB's own Arrow export (its ArrowAppender), whatever
/// the types; the reference the builder is tested against.
arrow::Result<std::unique_ptr<ResultStream>> MakeDuckDbExportStream(
    duckdb::unique_ptr<duckdb::QueryResult> result, const DuckDbOptions& options);

/// How ChunkBatchBuilder copies a column.
enum class ChunkColumnKind { kFixed, kBoolean, kDecimal128, kString, kLargeString };

/// Rows [offset, offset + count) of a chunk, kept alive until they are copied.
struct ChunkSlice {
  std::shared_ptr<duckdb::DataChunk> chunk;
  duckdb::idx_t offset = 0;
  duckdb::idx_t count = 0;
};

/// Gathers rows of flat DuckDB chunks (QueryResult::Fetch) and copies them
/// into one Arrow record batch of `schema`, the schema DuckDB's export gives
/// those types. Every buffer is allocated once at its exact size (string
/// bytes with 12 more, see CopyString) and filled in one pass per column
/// (memcpy for fixed-width values), where DuckDB's
/// export converts value by value and grows its string buffers as it goes.
///
/// Knows numbers, BOOLEAN, dates, times and timestamps, DECIMAL (as
/// decimal128), VARCHAR and BLOB; Make() says nullopt for anything else.
class ChunkBatchBuilder {
 public:
  static std::optional<ChunkBatchBuilder> Make(const duckdb::vector<duckdb::LogicalType>& types,
                                               std::shared_ptr<arrow::Schema> schema);

  /// Adds the first rows of [offset, offset + count) of `chunk` whose Arrow
  /// bytes fit `byte_budget` (always one row at least into an empty batch).
  /// Returns how many rows it added.
  duckdb::idx_t Add(const std::shared_ptr<duckdb::DataChunk>& chunk, duckdb::idx_t offset, duckdb::idx_t count,
                    int64_t byte_budget);

  /// Rows added since the last Finish.
  int64_t rows() const { return rows_; }
  /// The bytes of the batch those rows make (the validity bitmaps aside).
  int64_t bytes() const { return bytes_; }

  /// Copies the rows added into a batch and starts an empty one.
  arrow::Result<std::shared_ptr<arrow::RecordBatch>> Finish(arrow::MemoryPool* pool);

 private:
  struct Column {
    ChunkColumnKind kind = ChunkColumnKind::kFixed;
    duckdb::PhysicalType physical = duckdb::PhysicalType::INVALID;
    int64_t width = 0;  // bytes per value in DuckDB's vectors
  };
  ChunkBatchBuilder(std::shared_ptr<arrow::Schema> schema, std::vector<Column> columns);
  arrow::Result<std::shared_ptr<arrow::ArrayData>> FinishColumn(size_t column, arrow::MemoryPool* pool);
  // True when all `count` rows fit `byte_budget`; leaves each string
  // column's bytes in added_.
  bool FitsWhole(duckdb::DataChunk& chunk, duckdb::idx_t offset, duckdb::idx_t count, int64_t byte_budget);

  std::shared_ptr<arrow::Schema> schema_;
  std::vector<Column> columns_;
  std::vector<size_t> string_columns_;
  int64_t fixed_row_bytes_ = 0;  // Arrow bytes of a row apart from string values
  std::vector<ChunkSlice> slices_;
  int64_t rows_ = 0;
  int64_t bytes_ = 0;
  std::vector<int64_t> string_bytes_;  // per column, in the rows added
  std::vector<int64_t> null_counts_;   // per column, in the rows added
  std::vector<int64_t> added_, row_sizes_;  // scratch for Add
  bool oversized_ = false;
};

/// The bytes of one buffer of a batch being built. Like arrow::BufferBuilder,
/// but Finish hands the buffer over as it is: BufferBuilder zero-fills all of
/// its unused capacity there, which for a batch's reserved string headroom
/// was about 2.5 % of a wide scan's server CPU. Nothing reads past a buffer's
/// size (the IPC writer pads with its own zeros), and a buffer keeps its
/// capacity: shrinking finished buffers held far more memory (see
/// ChunkBatchAppender::Finish).
class ByteBuilder {
 public:
  ByteBuilder() = default;
  ByteBuilder(const ByteBuilder&) = delete;  // two builders would write one buffer
  ByteBuilder& operator=(const ByteBuilder&) = delete;
  ByteBuilder(ByteBuilder&& other) noexcept { *this = std::move(other); }
  ByteBuilder& operator=(ByteBuilder&& other) noexcept {
    buffer_ = std::move(other.buffer_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    capacity_ = std::exchange(other.capacity_, 0);
    return *this;
  }

  /// Room for `additional` more bytes; at least doubles when it grows.
  arrow::Status Reserve(int64_t additional) {
    const int64_t needed = size_ + additional;
    return needed <= capacity_ ? arrow::Status::OK() : Grow(needed);
  }
  arrow::Status Append(const void* bytes, int64_t length) {
    ARROW_RETURN_NOT_OK(Reserve(length));
    UnsafeAppend(bytes, length);
    return arrow::Status::OK();
  }
  void UnsafeAppend(const void* bytes, int64_t length) {
    if (length == 0) return;  // data_ may still be null
    std::memcpy(data_ + size_, bytes, static_cast<size_t>(length));
    size_ += length;
  }
  void UnsafeAdvance(int64_t length) { size_ += length; }
  uint8_t* mutable_data() { return data_; }
  int64_t length() const { return size_; }

  /// The bytes appended, as a buffer of that size; starts an empty one.
  arrow::Result<std::shared_ptr<arrow::Buffer>> Finish();

 private:
  arrow::Status Grow(int64_t needed);

  std::shared_ptr<arrow::ResizableBuffer> buffer_;
  uint8_t* data_ = nullptr;
  int64_t size_ = 0;
  int64_t capacity_ = 0;
};

/// Copies flat DuckDB chunks into one Arrow record batch as they come, for
/// the column types ChunkBatchBuilder knows. For sinks: a pipeline reuses its
/// chunk once the sink returns, so nothing of it can wait for Finish. The
/// buffers grow as rows come, sized from the expected row count.
class ChunkBatchAppender {
 public:
  static std::optional<ChunkBatchAppender> Make(const duckdb::vector<duckdb::LogicalType>& types,
                                                std::shared_ptr<arrow::Schema> schema);

  /// Appends rows [offset, offset + count) of `chunk`. `expected_rows`
  /// sizes the buffers of a batch that is still empty. Errors: CapacityError
  /// when a string column outgrows Arrow's 32-bit offsets.
  arrow::Status Append(duckdb::DataChunk& chunk, int64_t offset, int64_t count, int64_t expected_rows);

  /// Rows appended since the last Finish.
  int64_t rows() const { return rows_; }
  /// Their bytes in Arrow (the validity bitmaps aside).
  int64_t bytes() const { return bytes_; }

  /// The rows appended, as one batch; starts an empty one.
  arrow::Result<std::shared_ptr<arrow::RecordBatch>> Finish();

 private:
  struct Column {
    ChunkColumnKind kind = ChunkColumnKind::kFixed;
    duckdb::PhysicalType physical = duckdb::PhysicalType::INVALID;
    int64_t width = 0;  // bytes per value in DuckDB's vectors
    std::unique_ptr<arrow::TypedBufferBuilder<bool>> validity;  // from the first null on
    int64_t null_count = 0;
    arrow::TypedBufferBuilder<bool> bits;  // BOOLEAN values
    ByteBuilder data;                      // other values; string bytes
    ByteBuilder offsets;                   // strings
    int64_t string_bytes = 0;
  };
  explicit ChunkBatchAppender(std::shared_ptr<arrow::Schema> schema) : schema_(std::move(schema)) {}
  arrow::Status AppendColumn(Column& column, duckdb::Vector& vector, int64_t offset, int64_t count,
                             int64_t expected_rows);

  std::shared_ptr<arrow::Schema> schema_;
  std::vector<Column> columns_;
  int64_t rows_ = 0;
  int64_t bytes_ = 0;
};

/// The table a result column is read from, unchanged.
struct ColumnOrigin {
  std::string catalog, schema, table;
};
/// One entry per result column; empty where the column is computed.
using ColumnOrigins = std::vector<std::optional<ColumnOrigin>>;

/// Makes every connection of a database opened with `config` record the
/// column origins of each statement it plans (see column_origin.cc).
void TrackColumnOrigins(duckdb::DBConfig& config);
/// Forgets the origins recorded on `context`; call before planning.
void ClearColumnOrigins(duckdb::ClientContext& context);
/// The origins of the statement planned last on `context` (none if it had no
/// optimised plan).
ColumnOrigins TakeColumnOrigins(duckdb::ClientContext& context);
/// Whether the statement planned last on `context` (since the last
/// ClearColumnOrigins) calls a function DuckDB evaluates once per query and
/// folds into its plan (now(), current_date, txid_current()...): its plan
/// holds values of the moment it was planned.
bool PlanCallsPerQueryFunctions(duckdb::ClientContext& context);
/// Adds ARROW:FLIGHT:SQL:CATALOG_NAME, SCHEMA_NAME and TABLE_NAME to the
/// fields that have an origin; `schema` unchanged if the counts differ.
std::shared_ptr<arrow::Schema> WithColumnOrigins(const std::shared_ptr<arrow::Schema>& schema,
                                                 const ColumnOrigins& origins);

class ArrowBatchQueue;

/// Streams a query planned with ArrowCollectorSwitch armed with `queue` (and
/// without DuckDB's streaming). Next() runs the query's tasks beside
/// DuckDB's workers while no batch is ready; the database should set
/// scheduler_process_partial, so a reader away sending holds no task.
/// `schema` is the one the collector's batches have, with the column origins.
/// `run_time`, when given, records how long a complete run took (see
/// CachedPlan); a stream whose plan last ran within a millisecond says
/// expect_quick(). `after_runs`, when given, is called when the stream goes
/// (the query finished, failed or was abandoned), on the thread that drops it.
std::unique_ptr<ResultStream> MakeCollectedResultStream(duckdb::unique_ptr<duckdb::PendingQueryResult> pending,
                                                        std::shared_ptr<ArrowBatchQueue> queue,
                                                        std::shared_ptr<arrow::Schema> schema,
                                                        std::shared_ptr<std::atomic<int64_t>> run_time = nullptr,
                                                        std::function<void()> after_runs = nullptr);

/// Starts one run of a prepared statement with one set of parameter values,
/// on the statement's connection.
using ParameterSetRunner = std::function<arrow::Result<std::unique_ptr<ResultStream>>(
    duckdb::PreparedStatement& prepared, duckdb::case_insensitive_map_t<duckdb::BoundParameterData>& values)>;

/// Streams the results of running `prepared` once per parameter set, one
/// after the other, each started by `run_set`. Fetching from it runs the next
/// set when one is exhausted. `prepared` must belong to a connection that
/// runs nothing else meanwhile. `after_runs`, when given, is called when the
/// stream goes (every set it ran has finished), on the thread that drops it.
arrow::Result<std::unique_ptr<ResultStream>> MakeParameterizedResultStream(
    duckdb::unique_ptr<duckdb::PreparedStatement> prepared, ParameterBatches parameters,
    ColumnOrigins origins, ParameterSetRunner run_set, std::function<void()> after_runs = nullptr);

/// The parameters of a prepared statement, in order.
struct ParameterSpec {
  /// Identifiers: "1", "2"... for `?`/`$1`, or the names of `$name` parameters.
  std::vector<std::string> identifiers;
  /// Expected types; UNKNOWN where DuckDB could not infer one.
  std::vector<duckdb::LogicalType> types;
};

/// Reads the parameters of a prepared statement.
ParameterSpec DescribeParameters(duckdb::PreparedStatement& prepared);

/// Checks that a parameter batch has one field per parameter. Errors: Invalid
/// naming the count or the missing field.
arrow::Status CheckParameterBatch(const ParameterSpec& spec, const arrow::RecordBatch& batch);

/// Returns row `row` of a checked parameter batch as bound values, each cast to
/// its parameter's type. Errors: Invalid naming the field that does not fit.
arrow::Result<duckdb::case_insensitive_map_t<duckdb::BoundParameterData>> BindRow(
    const ParameterSpec& spec, const arrow::RecordBatch& batch, int64_t row);

/// Streams `data` into the table `request` names, on `connection`, in one
/// transaction (or the connection's open one).
arrow::Result<int64_t> IngestInto(duckdb::Connection& connection, const IngestRequest& request,
                                  std::shared_ptr<arrow::RecordBatchReader> data);

/// Catalog browsing on `connection` (see Session).
arrow::Result<std::vector<std::string>> ListCatalogs(duckdb::Connection& connection);
arrow::Result<std::vector<std::pair<std::string, std::string>>> ListSchemas(
    duckdb::Connection& connection, const std::optional<std::string>& catalog,
    const std::optional<std::string>& schema_pattern);
arrow::Result<std::vector<TableEntry>> ListTables(duckdb::Connection& connection, const TableFilter& filter);
arrow::Result<Dialect> DescribeDialect(duckdb::Connection& connection);
std::vector<SqlTypeInfo> DuckDbSqlTypes();
arrow::Result<std::vector<PrimaryKeyColumn>> PrimaryKeys(duckdb::Connection& connection, const TableRef& table);
arrow::Result<std::vector<ForeignKeyColumn>> ForeignKeys(duckdb::Connection& connection,
                                                         const std::optional<TableRef>& pk_table,
                                                         const std::optional<TableRef>& fk_table);

/// Returns row `row` of `array` as a DuckDB value; null cells become typed NULLs.
arrow::Result<duckdb::Value> ArrowCellToValue(const arrow::Array& array, int64_t row);

}  // namespace squadron::engine
