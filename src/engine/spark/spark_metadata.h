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

/// Spark's catalogs (SHOW CATALOGS: those this Spark session has loaded, as
/// Spark's Catalog API lists them), sorted.
arrow::Result<std::vector<std::string>> ListCatalogs(SparkConnectClient& client);

/// (catalog, namespace) pairs, sorted: the first level of namespaces of each
/// catalog (SHOW NAMESPACES); `catalog` exact, `schema_pattern` SQL LIKE with
/// backslash escapes (engine.h), matched by Spark's LIKE. Unknown catalog: an
/// empty list. A pattern Spark's LIKE refuses: Invalid with Spark's message.
arrow::Result<std::vector<std::pair<std::string, std::string>>> ListSchemas(
    SparkConnectClient& client, const std::optional<std::string>& catalog,
    const std::optional<std::string>& schema_pattern);

/// Tables and views (types "TABLE", "VIEW", and "LOCAL TEMPORARY" for the
/// temporary views of `client`'s Spark session, listed in catalog "system",
/// schema "session" as Spark 4 qualifies them), sorted by catalog, schema,
/// name, type; with their columns when filter.with_columns: the Arrow fields
/// of `SELECT *` with ARROW:FLIGHT:SQL:* metadata (TYPE_NAME as DESCRIBE TABLE
/// spells it). Global temporary views are not listed (nor by SHOW NAMESPACES).
arrow::Result<std::vector<TableEntry>> ListTables(SparkConnectClient& client, const TableFilter& filter);

/// Spark SQL's dialect: keywords (sql_keywords()), built-in functions (SHOW
/// SYSTEM FUNCTIONS, grouped as Spark's function reference groups them),
/// CAST conversions (ANSI or not, as the session is), backquotes, identifier
/// case, NULL order, no transactions. Four queries; nothing cached.
arrow::Result<Dialect> DescribeDialect(SparkConnectClient& client);

/// Every Spark SQL type, for XdbcTypeInfo (JDBC getTypeInfo), ordered by
/// data_type, then name.
std::vector<SqlTypeInfo> SqlTypes();

}  // namespace squadron::engine::spark
