// Turns the data paths given to `squadron serve` into DuckDB statements.
#pragma once

#include <string>
#include <vector>

#include <arrow/result.h>

namespace squadron::engine {

/// How one data path is exposed.
struct DataSource {
  /// View or database name, e.g. "trips".
  std::string name;
  /// The statement that creates it (CREATE VIEW ... or ATTACH ...).
  std::string sql;
};

/// Plans one data path. `spec` is a path, a glob, or "name=path". Parquet,
/// CSV/TSV and JSON/NDJSON files, directories and globs become views named
/// after the file or directory; DuckDB database files are attached (read-only
/// when `read_only`). Errors: Invalid naming the path when it does not exist or
/// holds no readable data.
arrow::Result<DataSource> PlanDataSource(const std::string& spec, bool read_only);

/// Quotes a SQL string literal: abc'd -> 'abc''d'.
std::string QuoteLiteral(const std::string& s);

/// Quotes a SQL identifier: my"t -> "my""t".
std::string QuoteIdentifier(const std::string& s);

}  // namespace squadron::engine
