// Catalog browsing, dialect facts and SQL types of the Spark engine, read from
// Spark itself (SHOW/DESCRIBE statements and the schemas Spark's analysis
// gives) through a SparkConnectClient. No generated protobuf types here.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <arrow/result.h>

#include "engine/engine.h"
#include "engine/spark/spark_connect_client.h"

namespace squadron::engine::spark {

/// Spark's catalogs (SHOW CATALOGS), sorted.
arrow::Result<std::vector<std::string>> ListCatalogs(SparkConnectClient& client);

/// (catalog, namespace) pairs, sorted; `catalog` exact, `schema_pattern` SQL
/// LIKE with backslash escapes (engine.h). Unknown catalog: an empty list.
arrow::Result<std::vector<std::pair<std::string, std::string>>> ListSchemas(
    SparkConnectClient& client, const std::optional<std::string>& catalog,
    const std::optional<std::string>& schema_pattern);

/// Tables and views (types "TABLE", "VIEW", "LOCAL TEMPORARY" for temporary
/// views), sorted by catalog, schema, name, type; with their columns (Arrow
/// fields with ARROW:FLIGHT:SQL:* metadata) when filter.with_columns.
arrow::Result<std::vector<TableEntry>> ListTables(SparkConnectClient& client, const TableFilter& filter);

/// Spark SQL's keywords and functions, as Spark lists them.
arrow::Result<Dialect> DescribeDialect(SparkConnectClient& client);

/// Every Spark SQL type, for XdbcTypeInfo (JDBC getTypeInfo), ordered by
/// data_type, then name.
std::vector<SqlTypeInfo> SqlTypes();

}  // namespace squadron::engine::spark
