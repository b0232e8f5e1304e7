// DuckDB's SQL dialect as SqlInfo describes it: keywords and functions from
// DuckDB's catalog, conversions from DuckDB's cast rules.
#include <algorithm>

#include "common/status.h"
#include "engine/duckdb/duckdb_internal.h"

namespace squadron::engine {

namespace {

arrow::Result<std::vector<std::string>> Names(duckdb::Connection& connection, const std::string& sql) {
  auto result = connection.Query(sql);
  if (result->HasError()) return FromDuckDb(result->GetErrorObject());
  std::vector<std::string> names;
  for (duckdb::idx_t row = 0; row < result->RowCount(); ++row) {
    names.push_back(result->GetValue(0, row).ToString());
  }
  return names;
}

// Scalar functions of DuckDB with plain names (no operators, no internals).
std::string Functions(const std::string& condition) {
  return "SELECT DISTINCT upper(function_name) FROM duckdb_functions() "
         "WHERE function_type = 'scalar' AND regexp_matches(function_name, '^[a-z][a-z0-9_]*$') AND (" +
         condition + ") ORDER BY 1";
}

// DuckDB's cast rules (its documentation's casting matrix) in ODBC convert
// names: numbers convert among themselves, to booleans and to text; text
// converts to everything; binaries among themselves and to text; DATE to
// TIMESTAMP; TIMESTAMP to DATE and TIME; intervals among themselves.
std::map<std::string, std::vector<std::string>> Conversions() {
  const std::vector<std::string> numbers = {"BIGINT", "DECIMAL", "FLOAT",  "INTEGER",
                                            "NUMERIC", "REAL",   "SMALLINT", "TINYINT"};
  const std::vector<std::string> text = {"CHAR", "LONGVARCHAR", "VARCHAR"};
  const std::vector<std::string> binaries = {"BINARY", "LONGVARBINARY", "VARBINARY"};
  const std::vector<std::string> intervals = {"INTERVAL_DAY_TIME", "INTERVAL_YEAR_MONTH"};
  auto join = [](std::initializer_list<std::vector<std::string>> parts) {
    std::vector<std::string> out;
    for (const auto& part : parts) out.insert(out.end(), part.begin(), part.end());
    return out;
  };
  std::map<std::string, std::vector<std::string>> conversions;
  for (const auto& n : numbers) conversions[n] = join({numbers, text, {"BIT"}});
  conversions["BIT"] = join({numbers, text, {"BIT"}});
  for (const auto& t : text) {
    conversions[t] = join({numbers, text, binaries, intervals, {"BIT", "DATE", "TIME", "TIMESTAMP"}});
  }
  for (const auto& b : binaries) conversions[b] = join({binaries, text});
  conversions["DATE"] = join({text, {"DATE", "TIMESTAMP"}});
  conversions["TIME"] = join({text, {"TIME"}});
  conversions["TIMESTAMP"] = join({text, {"DATE", "TIME", "TIMESTAMP"}});
  for (const auto& i : intervals) conversions[i] = join({intervals, text});
  for (auto& [from, to] : conversions) std::sort(to.begin(), to.end());
  return conversions;
}

}  // namespace

arrow::Result<Dialect> DescribeDialect(duckdb::Connection& connection) {
  Dialect dialect;
  ARROW_ASSIGN_OR_RAISE(dialect.keywords,
                        Names(connection, "SELECT DISTINCT upper(keyword_name) FROM duckdb_keywords() ORDER BY 1"));
  // DuckDB labels few functions with categories; signatures say the rest: a
  // numeric function takes and returns numbers, a string function text.
  const std::string number = "'^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|"
                             "UHUGEINT|FLOAT|DOUBLE|DECIMAL.*)$'";
  ARROW_ASSIGN_OR_RAISE(
      dialect.numeric_functions,
      Names(connection, Functions("list_contains(categories, 'numeric') OR (regexp_matches(return_type, " +
                                  number + ") AND len(parameter_types) > 0 AND list_bool_and(list_transform("
                                  "parameter_types, t -> regexp_matches(t, " + number + "))))")));
  ARROW_ASSIGN_OR_RAISE(
      dialect.string_functions,
      Names(connection, Functions("list_has_any(categories, ['string', 'regex', 'text_similarity']) OR "
                                  "(return_type = 'VARCHAR' AND list_contains(parameter_types, 'VARCHAR'))")));
  ARROW_ASSIGN_OR_RAISE(
      dialect.datetime_functions,
      Names(connection,
            Functions("list_has_any(categories, ['date', 'timestamp']) OR return_type IN ('DATE', 'TIME', "
                      "'TIMESTAMP', 'TIMESTAMP WITH TIME ZONE', 'INTERVAL') OR list_has_any(parameter_types, "
                      "['DATE', 'TIME', 'TIMESTAMP', 'TIMESTAMP WITH TIME ZONE', 'INTERVAL'])")));
  ARROW_ASSIGN_OR_RAISE(
      dialect.system_functions,
      Names(connection, Functions("function_name IN ('current_database', 'current_catalog', 'current_schema', "
                                  "'current_schemas', 'current_setting', 'current_query', 'current_user', "
                                  "'session_user', 'user', 'version', 'txid_current', 'pg_typeof', "
                                  "'typeof')")));
  dialect.conversions = Conversions();
  return dialect;
}

}  // namespace squadron::engine
