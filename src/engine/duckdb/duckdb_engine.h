// The embedded DuckDB engine: Squadron's zero-setup default.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <arrow/result.h>

#include "engine/engine.h"

namespace squadron::engine {

struct DuckDbOptions {
  /// Database file, or ":memory:" for a database that lives as long as the server.
  std::string database = ":memory:";
  /// Reject every statement that writes (PERMISSION_DENIED). Start-up SQL and
  /// data_paths are still applied. A database file is not locked for writing.
  bool read_only = false;
  /// Worker threads for DuckDB; 0 lets DuckDB choose (the number of cores).
  int threads = 0;
  /// DuckDB's memory_limit, e.g. "4GB"; empty keeps DuckDB's default (80% of RAM).
  std::string memory_limit;
  /// Maximum rows in one result batch.
  int64_t batch_rows = 65536;
  /// Target bytes in one result batch; the row count is lowered to stay near it.
  int64_t batch_bytes = 8 << 20;
  /// Most common table expressions (`WITH name AS (...)`) one statement may
  /// define; 0 = no limit. DuckDB's parser needs memory that grows with the
  /// square of that count (about 200 MiB at 500, 2 GiB at 1,600).
  int64_t max_statement_ctes = 256;
  /// Connections kept open between statements for sessions to reuse (0:
  /// every statement connects anew). Only connections that ran nothing but
  /// queries are kept.
  int64_t idle_connections = 16;
  /// Query plans each kept connection caches, by SQL text (0: none). Only
  /// plans that scan nothing but DuckDB tables are cached; any statement
  /// other than a query retires them all.
  int64_t plans_per_connection = 64;
  /// SQL run once at start-up (the contents of --init-sql), may be empty.
  std::string init_sql;
  /// Files, directories or globs to expose as views (or attached databases).
  /// An entry may be "name=path" to choose the name.
  std::vector<std::string> data_paths;
};

/// Opens the DuckDB engine, runs data_paths and init_sql. Errors name the
/// failing path or statement.
arrow::Result<std::unique_ptr<Engine>> OpenDuckDbEngine(const DuckDbOptions& options);

struct ConnectionPoolStats;
/// What the connection pool and plan caches of a DuckDB engine have done;
/// false when `engine` is not one.
bool DuckDbPoolStats(const Engine& engine, ConnectionPoolStats* stats);

}  // namespace squadron::engine
