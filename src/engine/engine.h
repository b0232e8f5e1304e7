// The engine interface: what the Flight SQL layer needs from a SQL engine.
//
// Engine -> Session -> ResultStream. Adapters (duckdb/, later spark/) implement
// it; nothing above this header knows which engine runs a statement.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <arrow/record_batch.h>
#include <arrow/result.h>
#include <arrow/type_fwd.h>

namespace squadron::engine {

/// The rows produced by one executed statement, pulled one batch at a time.
///
/// Not thread-safe: one consumer at a time. Must be destroyed before the
/// Session that produced it.
class ResultStream {
 public:
  virtual ~ResultStream() = default;

  /// The exact schema of every batch Next() returns.
  virtual const std::shared_ptr<arrow::Schema>& schema() const = 0;

  /// Returns the next batch, or nullptr once the result is exhausted. Errors
  /// raised while the engine computes later rows surface here.
  virtual arrow::Result<std::shared_ptr<arrow::RecordBatch>> Next() = 0;

  /// The total row count when the engine knows it up front (materialised
  /// results such as DML counts), else nullopt.
  virtual std::optional<int64_t> num_rows() const = 0;

  /// Works towards the next batch on the calling thread until `deadline`.
  /// True when Next() can now return without a long wait; false when the
  /// work goes on (Next() carries it on, on whatever thread calls it). Lets a
  /// caller answer quickly for a long query without handing short ones to
  /// another thread.
  virtual bool Advance(std::chrono::steady_clock::time_point /*deadline*/) { return true; }

  /// True when the engine expects the whole result within about a
  /// millisecond (the same plan, on unchanged data, ran that fast last
  /// time): a caller may compute it on its own thread instead of handing it
  /// to another one.
  virtual bool expect_quick() const { return false; }
};

/// What the optimizer expects of a query's result.
struct ResultEstimate {
  /// Its size in bytes, when the engine has statistics.
  std::optional<int64_t> bytes;
  /// The result is sorted (a global ORDER BY at its root).
  bool ordered = false;
};

/// What a statement takes and returns, known before it runs.
struct StatementDescription {
  /// Schema of the rows it returns (for DDL/DML, DuckDB's count column).
  std::shared_ptr<arrow::Schema> result_schema;
  /// One field per parameter, in parameter order. A parameter whose type the
  /// engine cannot infer (`SELECT ? + 1`) is advertised as float64, the one
  /// type the JDBC driver binds integers, decimals and doubles to; a value of
  /// any Arrow type is accepted for it and bound with its own type.
  std::shared_ptr<arrow::Schema> parameter_schema;
  /// True when the statement returns rows; false for DDL and DML.
  bool is_query = true;
  /// A query that changes nothing (no DML, DDL or side effect): it may run on any node of
  /// a cluster over the same data.
  bool read_only = false;
  /// A statement a user with only the reader role may run: a query (SELECT,
  /// EXPLAIN) that changes nothing, and no COPY, ATTACH, SET, PRAGMA, CALL,
  /// INSTALL or LOAD, even if it would write no table.
  bool reader_safe = false;
};

/// Parameter sets: every row of every batch is one set, fields in parameter
/// order (or named like the parameters). Empty means "no parameters".
using ParameterBatches = std::vector<std::shared_ptr<arrow::RecordBatch>>;

/// Where and how a bulk ingest writes (Flight SQL CommandStatementIngest).
struct IngestRequest {
  std::string table;
  std::optional<std::string> schema;
  std::optional<std::string> catalog;
  /// A temporary table lives as long as the connection: only meaningful in a transaction.
  bool temporary = false;
  /// When the table does not exist: create it from the data's schema, or fail.
  enum class IfMissing { kCreate, kFail } if_missing = IfMissing::kFail;
  /// When it exists: fail, append the rows, or replace it (schema and rows).
  enum class IfExists { kFail, kAppend, kReplace } if_exists = IfExists::kFail;
};

/// One table or view, as catalog browsing lists it.
struct TableEntry {
  std::string catalog;
  std::string schema;
  std::string name;
  /// "TABLE", "VIEW" or "LOCAL TEMPORARY".
  std::string type;
  /// Its columns, each with ARROW:FLIGHT:SQL:* metadata; only when asked for.
  std::shared_ptr<arrow::Schema> columns;
};

/// Which tables to list. Patterns follow SQL LIKE: `%` any run, `_` one
/// character, `\` escapes the next character; an absent filter matches all.
struct TableFilter {
  std::optional<std::string> catalog;
  std::optional<std::string> schema_pattern;
  std::optional<std::string> table_pattern;
  /// Table types to keep; empty keeps all.
  std::vector<std::string> types;
  bool with_columns = false;
};

/// A table named in a metadata request; unset catalog/schema match any.
struct TableRef {
  std::optional<std::string> catalog;
  std::optional<std::string> schema;
  std::string table;
};

/// One column of a primary key.
struct PrimaryKeyColumn {
  std::string catalog, schema, table, column, key_name;
  /// 1-based position of the column in the key.
  int32_t sequence = 0;
};

/// One column pair of a foreign key: the referencing (fk) column and the
/// column it references (pk).
struct ForeignKeyColumn {
  std::string pk_catalog, pk_schema, pk_table, pk_column;
  std::string fk_catalog, fk_schema, fk_table, fk_column;
  int32_t sequence = 0;
  std::string fk_name, pk_name;
};

/// What the engine's SQL dialect offers, for SqlInfo and JDBC's DatabaseMetaData.
/// The defaults are DuckDB's.
struct Dialect {
  /// How the engine treats the case of catalog, schema and table names (the
  /// SqlSupportedCaseSensitivity values of Flight SQL).
  enum class IdentifierCase { kUnknown, kCaseInsensitive, kUppercase, kLowercase };
  /// Where NULLs sort (the SqlNullOrdering values of Flight SQL): high (last
  /// ascending, first descending), low (first ascending, last descending),
  /// or at the start or end whatever the direction.
  enum class NullOrdering { kSortedHigh, kSortedLow, kSortedAtStart, kSortedAtEnd };

  /// Upper-case, sorted.
  std::vector<std::string> keywords;
  std::vector<std::string> numeric_functions;
  std::vector<std::string> string_functions;
  std::vector<std::string> system_functions;
  std::vector<std::string> datetime_functions;
  /// Which standard SQL types CAST converts into which. Keys and values are
  /// the ODBC convert names: BIGINT, BINARY, BIT, CHAR, DATE, DECIMAL, FLOAT,
  /// INTEGER, INTERVAL_DAY_TIME, INTERVAL_YEAR_MONTH, LONGVARBINARY,
  /// LONGVARCHAR, NUMERIC, REAL, SMALLINT, TIME, TIMESTAMP, TINYINT,
  /// VARBINARY, VARCHAR.
  std::map<std::string, std::vector<std::string>> conversions;
  /// The character that quotes an identifier (doubled inside it).
  std::string identifier_quote = "\"";
  /// Case of unquoted names; DuckDB: case-insensitive, case kept.
  IdentifierCase identifier_case = IdentifierCase::kCaseInsensitive;
  /// Case of quoted names.
  IdentifierCase quoted_identifier_case = IdentifierCase::kCaseInsensitive;
  /// DuckDB: NULLs last in both directions.
  NullOrdering null_ordering = NullOrdering::kSortedAtEnd;
  /// What the engine calls a catalog (JDBC getCatalogTerm).
  std::string catalog_term = "database";
  /// True when the engine has transactions (BeginTransaction, commit and
  /// rollback); false: every statement takes effect on its own.
  bool transactions = true;
  /// True when primary keys, foreign keys and CHECK constraints are enforced.
  bool integrity_constraints = true;
  /// True when the engine has indexes (CREATE INDEX).
  bool indexes = true;
};

/// One SQL type of the engine, as JDBC's getTypeInfo describes it.
struct SqlTypeInfo {
  std::string name;
  /// JDBC type code (java.sql.Types), e.g. 4 for INTEGER.
  int32_t data_type = 0;
  std::optional<int32_t> column_size;
  std::optional<std::string> literal_prefix;
  std::optional<std::string> literal_suffix;
  /// Parameters of the type in DDL, e.g. {"precision", "scale"}.
  std::vector<std::string> create_params;
  bool case_sensitive = false;
  /// 0 none, 1 LIKE only, 2 all but LIKE, 3 all (Searchable enum).
  int32_t searchable = 2;
  std::optional<bool> unsigned_attribute;
  bool fixed_prec_scale = false;
  std::optional<int32_t> minimum_scale;
  std::optional<int32_t> maximum_scale;
  /// ODBC SQL_DATA_TYPE: data_type, or 9 (datetime) with a sub-code.
  int32_t sql_data_type = 0;
  std::optional<int32_t> datetime_subcode;
  std::optional<int32_t> num_prec_radix;
};

/// One engine connection. Runs one statement at a time; a ResultStream it
/// returned must be destroyed (or exhausted) before the next Execute.
///
/// Not thread-safe, except Interrupt().
class Session {
 public:
  virtual ~Session() = default;

  /// Prepares a statement without running it. A script of several statements
  /// is described as a query with no known columns and no parameters.
  virtual arrow::Result<StatementDescription> Prepare(const std::string& sql) = 0;

  /// Runs `sql` and returns its result as a stream. Without parameters `sql`
  /// may hold several statements (all but the last run to completion). With
  /// parameters it is one statement, run once per parameter set; the results
  /// follow each other in one stream. DDL and DML have taken effect when the
  /// first batch is returned. Errors: Invalid for bad SQL, a missing object or
  /// parameters that do not fit (naming the field); PermissionDenied for a
  /// write on a read-only engine.
  virtual arrow::Result<std::unique_ptr<ResultStream>> Execute(const std::string& sql,
                                                               const ParameterBatches& parameters) = 0;

  /// Runs `sql` for its effect, once per parameter set (once when there are
  /// none), and returns the number of changed rows summed (0 for DDL). Several
  /// parameter sets run in one transaction: all or nothing.
  virtual arrow::Result<int64_t> ExecuteUpdate(const std::string& sql,
                                               const ParameterBatches& parameters) = 0;

  /// Streams `data` into a table, all or nothing: if the stream breaks or a
  /// batch does not fit, the table is as before. Columns are matched by name.
  /// Returns the rows written. Errors: AlreadyExists (if_exists=FAIL),
  /// NotFound (if_missing=FAIL), Invalid for data that does not fit,
  /// PermissionDenied on a read-only engine.
  virtual arrow::Result<int64_t> Ingest(const IngestRequest& request,
                                        std::shared_ptr<arrow::RecordBatchReader> data) = 0;

  /// Catalogs (databases), sorted.
  virtual arrow::Result<std::vector<std::string>> ListCatalogs() = 0;

  /// (catalog, schema) pairs, sorted; `catalog` exact, `schema_pattern` LIKE.
  virtual arrow::Result<std::vector<std::pair<std::string, std::string>>> ListSchemas(
      const std::optional<std::string>& catalog, const std::optional<std::string>& schema_pattern) = 0;

  /// Tables and views, sorted by catalog, schema, name, type.
  virtual arrow::Result<std::vector<TableEntry>> ListTables(const TableFilter& filter) = 0;

  /// Describes the SQL dialect (keywords, functions, conversions).
  virtual arrow::Result<Dialect> DescribeDialect() = 0;

  /// The primary key columns of a table, ordered by catalog, schema, table,
  /// key name, sequence.
  virtual arrow::Result<std::vector<PrimaryKeyColumn>> PrimaryKeys(const TableRef& table) = 0;

  /// Foreign key columns whose referenced table is `pk_table` and/or whose
  /// referencing table is `fk_table` (at least one is set).
  virtual arrow::Result<std::vector<ForeignKeyColumn>> ForeignKeys(const std::optional<TableRef>& pk_table,
                                                                   const std::optional<TableRef>& fk_table) = 0;

  /// Makes the engine track the progress of the statements this session runs
  /// from now on (a small cost per statement).
  virtual arrow::Status TrackProgress() = 0;

  /// Progress of the running statement, from 0 to 1; nullopt when unknown.
  /// Thread-safe.
  virtual std::optional<double> Progress() = 0;

  /// Interrupts the running statement, if any. Thread-safe.
  virtual void Interrupt() = 0;

  /// What the engine's optimizer expects of a query's result, without
  /// running it. Unimplemented where the engine cannot say.
  virtual arrow::Result<ResultEstimate> Estimate(const std::string& /*sql*/) {
    return arrow::Status::NotImplemented("This engine gives no estimate of a result");
  }

  /// Runs `sql` and writes its result through the engine's data source
  /// `format` with `options` (Spark: DataFrameWriter format/options/save in
  /// append mode), returning when the write has ended. Interrupt() stops
  /// it. Unimplemented for engines without pluggable writers.
  virtual arrow::Status WriteTo(const std::string& /*sql*/, const std::string& /*format*/,
                                const std::map<std::string, std::string>& /*options*/) {
    return arrow::Status::NotImplemented("This engine cannot write a result to a data source");
  }
};

/// Settings a client session applies to every connection it opens.
struct SessionSettings {
  /// Default catalog (DuckDB database), e.g. "warehouse".
  std::optional<std::string> catalog;
  /// Default schema, e.g. "main".
  std::optional<std::string> schema;
  /// Time zone for TIMESTAMPTZ arithmetic and display, e.g. "Europe/Lisbon".
  std::optional<std::string> timezone;
  /// The client session (or, for clients without one, the connection) the
  /// engine session serves. Engines that keep state per client (a Spark
  /// session) key it by this; empty for internal sessions.
  std::string client;
  /// The authenticated user the session runs for; empty: the engine's own
  /// (without authentication). The Spark engine runs the user's Spark
  /// session as this user (Spark Connect's user_context).
  std::string user;
};

/// A SQL engine: a factory of sessions. Thread-safe.
class Engine {
 public:
  virtual ~Engine() = default;

  /// Opens a new session (a connection) with `settings` applied. Thread-safe.
  /// Errors: Invalid naming the setting that does not apply (unknown catalog,
  /// schema or time zone).
  virtual arrow::Result<std::unique_ptr<Session>> OpenSession(const SessionSettings& settings) = 0;

  /// Every SQL type of the engine, ordered by data_type, then name.
  virtual std::vector<SqlTypeInfo> SqlTypes() const = 0;

  /// A short name for logs and SqlInfo, e.g. "duckdb".
  virtual std::string name() const = 0;

  /// The engine's own version string, e.g. "v1.4.4".
  virtual std::string version() const = 0;

  /// True when the engine refuses every statement that writes.
  virtual bool read_only() const = 0;

  /// False when the engine has no transactions (BeginTransaction is refused).
  virtual bool supports_transactions() const { return true; }

  /// The client (SessionSettings::client) is gone: drop what the engine kept
  /// for it. Thread-safe.
  virtual void ReleaseClient(const std::string& /*client*/) {}

  /// Hands memory the engine's own allocator holds but no longer uses back
  /// to the operating system. Thread-safe; may take a few milliseconds.
  virtual void ReleaseFreeMemory() {}
};

}  // namespace squadron::engine
