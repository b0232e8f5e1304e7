// Catalog browsing, dialect facts and SQL types of the Spark engine. Every
// list is read from Spark when asked (SHOW ..., DESCRIBE TABLE, sql_keywords(),
// SET), and every name pattern is matched by Spark's own LIKE, as the DuckDB
// engine lets DuckDB's LIKE match them: nothing is cached here.
#include "engine/spark/spark_metadata.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <string_view>
#include <tuple>

#include <arrow/array.h>
#include <arrow/table.h>
#include <arrow/type.h>
#include <arrow/util/key_value_metadata.h>

#include "common/status.h"

namespace squadron::engine::spark {

namespace {

// Spark's catalog of the session's temporary views: `system`.`session`.`v`
// names a temporary view in Spark 4 (SHOW TABLES lists it with an empty
// namespace, valid in every namespace).
constexpr char kTempCatalog[] = "system";
constexpr char kTempSchema[] = "session";
constexpr char kTemporary[] = "LOCAL TEMPORARY";

// ---------------------------------------------------------------------------
// SQL text and results.

// A Spark SQL identifier, back-quoted (a backquote inside is doubled).
std::string Quote(const std::string& name) {
  std::string quoted = "`";
  for (char c : name) {
    if (c == '`') quoted.push_back('`');
    quoted.push_back(c);
  }
  return quoted + "`";
}

// A Spark SQL string literal. Spark unescapes backslash sequences in
// literals, so backslashes and quotes are escaped with one.
std::string Literal(const std::string& text) {
  std::string quoted = "'";
  for (char c : text) {
    if (c == '\\' || c == '\'') quoted.push_back('\\');
    quoted.push_back(c);
  }
  return quoted + "'";
}

std::string Qualified(const std::string& catalog, const std::string& schema, const std::string& table) {
  return Quote(catalog) + "." + Quote(schema) + "." + Quote(table);
}

arrow::Result<std::shared_ptr<arrow::Table>> Query(SparkConnectClient& client, const std::string& sql) {
  ARROW_ASSIGN_OR_RAISE(auto reader, client.Execute(sql));
  return reader->ToTable();
}

template <typename ArrayType>
void AppendStrings(const arrow::Array& chunk, std::vector<std::string>& out) {
  const auto& strings = static_cast<const ArrayType&>(chunk);
  for (int64_t i = 0; i < strings.length(); ++i) {
    out.push_back(strings.IsNull(i) ? std::string() : std::string(strings.GetView(i)));
  }
}

// Column `index` of a Spark result as text (NULL as ""). Commands' outputs
// are read by position: their column names change with Spark's legacy
// settings (namespace/database, viewName/tableName).
arrow::Result<std::vector<std::string>> Strings(const arrow::Table& table, int index) {
  if (index >= table.num_columns()) {
    return Failed(Msg("Spark returned ", table.num_columns(), " columns where ", index + 1, " were expected"));
  }
  std::vector<std::string> out;
  for (const auto& chunk : table.column(index)->chunks()) {
    switch (chunk->type_id()) {
      case arrow::Type::STRING: AppendStrings<arrow::StringArray>(*chunk, out); break;
      case arrow::Type::LARGE_STRING: AppendStrings<arrow::LargeStringArray>(*chunk, out); break;
      default:
        return Failed(Msg("Spark returned ", chunk->type()->ToString(), " where text was expected"));
    }
  }
  return out;
}

arrow::Result<std::vector<bool>> Bools(const arrow::Table& table, int index) {
  if (index >= table.num_columns() || table.column(index)->type()->id() != arrow::Type::BOOL) {
    return Failed(Msg("Spark returned no boolean column ", index + 1));
  }
  std::vector<bool> out;
  for (const auto& chunk : table.column(index)->chunks()) {
    const auto& bools = static_cast<const arrow::BooleanArray&>(*chunk);
    for (int64_t i = 0; i < bools.length(); ++i) out.push_back(!bools.IsNull(i) && bools.Value(i));
  }
  return out;
}

arrow::Result<std::vector<std::string>> Column(SparkConnectClient& client, const std::string& sql, int index) {
  ARROW_ASSIGN_OR_RAISE(auto table, Query(client, sql));
  return Strings(*table, index);
}

// The value of a Spark SQL configuration in this session.
arrow::Result<std::string> Config(SparkConnectClient& client, const std::string& key) {
  ARROW_ASSIGN_OR_RAISE(auto values, Column(client, "SET " + key, 1));
  return values.empty() ? std::string() : values.front();
}

// The subset of `names` that `pattern` (SQL LIKE, backslash escapes) matches,
// decided by Spark's LIKE in one query; all of them when there is no pattern.
// Spark refuses a backslash before any character but %, _ and backslash
// (INVALID_ARGUMENT with Spark's message).
arrow::Result<std::set<std::string>> Matching(SparkConnectClient& client, const std::set<std::string>& names,
                                              const std::optional<std::string>& pattern) {
  if (!pattern || names.empty()) return names;
  std::string rows;
  for (const auto& name : names) rows += (rows.empty() ? "(" : ", (") + Literal(name) + ")";
  ARROW_ASSIGN_OR_RAISE(auto matched, Column(client,
                                             "SELECT name FROM VALUES " + rows + " AS names(name) WHERE name LIKE " +
                                                 Literal(*pattern) + " ESCAPE '\\\\'",
                                             0));
  return std::set<std::string>(matched.begin(), matched.end());
}

bool StartsWith(std::string_view text, std::string_view prefix) { return text.substr(0, prefix.size()) == prefix; }

// ---------------------------------------------------------------------------
// Columns.

// The number in "decimal(12,2)" after `prefix` ("decimal(" gives 12, "," 2).
std::string NumberAfter(const std::string& type, const std::string& prefix) {
  auto start = type.find(prefix);
  if (start == std::string::npos) return "0";
  start += prefix.size();
  auto end = start;
  while (end < type.size() && std::isdigit(static_cast<unsigned char>(type[end]))) ++end;
  return end > start ? type.substr(start, end - start) : "0";
}

// Precision of a Spark type as JDBC reports it: digits of exact numbers,
// the declared length of CHAR and VARCHAR; empty for the rest.
std::string Precision(const std::string& type) {
  if (StartsWith(type, "decimal(")) return NumberAfter(type, "decimal(");
  if (StartsWith(type, "char(")) return NumberAfter(type, "char(");
  if (StartsWith(type, "varchar(")) return NumberAfter(type, "varchar(");
  if (type == "tinyint") return "3";
  if (type == "smallint") return "5";
  if (type == "int") return "10";
  if (type == "bigint") return "19";
  return "";
}

// Text compares case-sensitively unless its collation ignores case
// (UTF8_LCASE, or an ICU collation with the _CI specifier).
bool CaseSensitive(const std::string& type) {
  if (!StartsWith(type, "string") && !StartsWith(type, "char(") && !StartsWith(type, "varchar(")) return false;
  std::string lower = type;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower.find("utf8_lcase") == std::string::npos && lower.find("_ci") == std::string::npos;
}

// The columns of one table as Arrow fields with ARROW:FLIGHT:SQL:* metadata:
// the Arrow types of `SELECT *` (what a query of the table returns), and the
// type names and comments of DESCRIBE TABLE (Spark's own spelling, e.g.
// "decimal(12,2)", "varchar(10)", "array<string>"). A view Spark cannot
// analyze (its table was dropped) has no columns: one broken view must not
// fail the listing of every other table.
arrow::Result<std::shared_ptr<arrow::Schema>> Columns(SparkConnectClient& client, const TableEntry& table) {
  const std::string qualified = Qualified(table.catalog, table.schema, table.name);
  auto analyzed = client.AnalyzeSchema("SELECT * FROM " + qualified);
  if (!analyzed.ok() && analyzed.status().IsInvalid() && table.type != "TABLE") return arrow::schema({});
  ARROW_ASSIGN_OR_RAISE(auto arrow_schema, std::move(analyzed));
  ARROW_ASSIGN_OR_RAISE(auto described, Query(client, "DESCRIBE TABLE " + qualified));
  ARROW_ASSIGN_OR_RAISE(auto names, Strings(*described, 0));
  ARROW_ASSIGN_OR_RAISE(auto types, Strings(*described, 1));
  ARROW_ASSIGN_OR_RAISE(auto comments, Strings(*described, 2));
  const bool read_only = table.type != "TABLE";
  arrow::FieldVector fields;
  for (int i = 0; i < arrow_schema->num_fields(); ++i) {
    const auto& field = arrow_schema->field(i);
    // DESCRIBE lists the columns first, in order, then partitioning sections.
    const auto row = static_cast<size_t>(i);
    const bool known = row < names.size() && names[row] == field->name();
    const std::string type_name = known ? types[row] : "";
    auto metadata = arrow::key_value_metadata({
        {"ARROW:FLIGHT:SQL:CATALOG_NAME", table.catalog},
        {"ARROW:FLIGHT:SQL:DB_SCHEMA_NAME", table.schema},
        {"ARROW:FLIGHT:SQL:TABLE_NAME", table.name},
        {"ARROW:FLIGHT:SQL:TYPE_NAME", type_name},
        {"ARROW:FLIGHT:SQL:IS_AUTO_INCREMENT", "0"},
        {"ARROW:FLIGHT:SQL:IS_CASE_SENSITIVE", CaseSensitive(type_name) ? "1" : "0"},
        {"ARROW:FLIGHT:SQL:IS_READ_ONLY", read_only ? "1" : "0"},
        {"ARROW:FLIGHT:SQL:IS_SEARCHABLE", "1"},
        {"ARROW:FLIGHT:SQL:REMARKS", known ? comments[row] : ""},
    });
    // Without a precision (or scale) the JDBC driver derives COLUMN_SIZE
    // (DECIMAL_DIGITS) from the Arrow type, e.g. 26 (6) for a timestamp.
    if (auto precision = Precision(type_name); !precision.empty()) {
      metadata->Append("ARROW:FLIGHT:SQL:PRECISION", precision);
    }
    if (StartsWith(type_name, "decimal(")) metadata->Append("ARROW:FLIGHT:SQL:SCALE", NumberAfter(type_name, ","));
    fields.push_back(field->WithMetadata(metadata));
  }
  return arrow::schema(std::move(fields));
}

// ---------------------------------------------------------------------------
// Tables.

bool Wants(const TableFilter& filter, const std::string& type) {
  return filter.types.empty() || std::find(filter.types.begin(), filter.types.end(), type) != filter.types.end();
}

// Tables and views of one namespace. SHOW TABLES lists both (and the
// session's temporary views, left out here); SHOW VIEWS says which are views.
arrow::Status AddNamespace(SparkConnectClient& client, const TableFilter& filter, const std::string& catalog,
                           const std::string& schema, std::vector<TableEntry>& entries) {
  const std::string where = Quote(catalog) + "." + Quote(schema);
  std::set<std::string> views;
  ARROW_ASSIGN_OR_RAISE(auto shown_views, Query(client, "SHOW VIEWS IN " + where));
  ARROW_ASSIGN_OR_RAISE(auto view_names, Strings(*shown_views, 1));
  ARROW_ASSIGN_OR_RAISE(auto view_temporary, Bools(*shown_views, 2));
  for (size_t i = 0; i < view_names.size(); ++i) {
    if (!view_temporary[i]) views.insert(view_names[i]);
  }
  if (Wants(filter, "VIEW")) {
    for (const auto& view : views) entries.push_back({catalog, schema, view, "VIEW", nullptr});
  }
  if (!Wants(filter, "TABLE")) return arrow::Status::OK();
  ARROW_ASSIGN_OR_RAISE(auto shown_tables, Query(client, "SHOW TABLES IN " + where));
  ARROW_ASSIGN_OR_RAISE(auto table_names, Strings(*shown_tables, 1));
  ARROW_ASSIGN_OR_RAISE(auto table_temporary, Bools(*shown_tables, 2));
  for (size_t i = 0; i < table_names.size(); ++i) {
    if (!table_temporary[i] && !views.count(table_names[i])) {
      entries.push_back({catalog, schema, table_names[i], "TABLE", nullptr});
    }
  }
  return arrow::Status::OK();
}

// The session's temporary views, when the filter admits system.session.
arrow::Status AddTemporaryViews(SparkConnectClient& client, const TableFilter& filter,
                                std::vector<TableEntry>& entries) {
  if (!Wants(filter, kTemporary) || (filter.catalog && *filter.catalog != kTempCatalog)) {
    return arrow::Status::OK();
  }
  ARROW_ASSIGN_OR_RAISE(auto schemas, Matching(client, {kTempSchema}, filter.schema_pattern));
  if (schemas.empty()) return arrow::Status::OK();
  // SHOW VIEWS of the current namespace lists every temporary view of the
  // session, with an empty namespace.
  ARROW_ASSIGN_OR_RAISE(auto shown, Query(client, "SHOW VIEWS"));
  ARROW_ASSIGN_OR_RAISE(auto namespaces, Strings(*shown, 0));
  ARROW_ASSIGN_OR_RAISE(auto names, Strings(*shown, 1));
  ARROW_ASSIGN_OR_RAISE(auto temporary, Bools(*shown, 2));
  for (size_t i = 0; i < names.size(); ++i) {
    if (temporary[i] && namespaces[i].empty()) entries.push_back({kTempCatalog, kTempSchema, names[i], kTemporary, nullptr});
  }
  return arrow::Status::OK();
}

}  // namespace

arrow::Result<std::vector<std::string>> ListCatalogs(SparkConnectClient& client) {
  ARROW_ASSIGN_OR_RAISE(auto catalogs, Column(client, "SHOW CATALOGS", 0));
  std::sort(catalogs.begin(), catalogs.end());
  return catalogs;
}

arrow::Result<std::vector<std::pair<std::string, std::string>>> ListSchemas(
    SparkConnectClient& client, const std::optional<std::string>& catalog,
    const std::optional<std::string>& schema_pattern) {
  // SHOW CATALOGS lists the catalogs this Spark session has loaded, as
  // Spark's Catalog API does; SHOW NAMESPACES lists the first level of each.
  ARROW_ASSIGN_OR_RAISE(auto catalogs, ListCatalogs(client));
  std::vector<std::pair<std::string, std::string>> schemas;
  std::set<std::string> names;
  for (const auto& name : catalogs) {
    if (catalog && *catalog != name) continue;
    ARROW_ASSIGN_OR_RAISE(auto namespaces, Column(client, "SHOW NAMESPACES IN " + Quote(name), 0));
    for (auto& schema : namespaces) {
      names.insert(schema);
      schemas.emplace_back(name, std::move(schema));
    }
  }
  ARROW_ASSIGN_OR_RAISE(auto matching, Matching(client, names, schema_pattern));
  schemas.erase(std::remove_if(schemas.begin(), schemas.end(),
                               [&matching](const auto& schema) { return !matching.count(schema.second); }),
                schemas.end());
  std::sort(schemas.begin(), schemas.end());
  return schemas;
}

arrow::Result<std::vector<TableEntry>> ListTables(SparkConnectClient& client, const TableFilter& filter) {
  std::vector<TableEntry> entries;
  if (Wants(filter, "TABLE") || Wants(filter, "VIEW")) {
    ARROW_ASSIGN_OR_RAISE(auto schemas, ListSchemas(client, filter.catalog, filter.schema_pattern));
    for (const auto& [catalog, schema] : schemas) {
      ARROW_RETURN_NOT_OK(AddNamespace(client, filter, catalog, schema, entries));
    }
  }
  ARROW_RETURN_NOT_OK(AddTemporaryViews(client, filter, entries));
  std::set<std::string> names;
  for (const auto& entry : entries) names.insert(entry.name);
  ARROW_ASSIGN_OR_RAISE(auto matching, Matching(client, names, filter.table_pattern));
  entries.erase(std::remove_if(entries.begin(), entries.end(),
                               [&matching](const TableEntry& entry) { return !matching.count(entry.name); }),
                entries.end());
  std::sort(entries.begin(), entries.end(), [](const TableEntry& a, const TableEntry& b) {
    return std::tie(a.catalog, a.schema, a.name, a.type) < std::tie(b.catalog, b.schema, b.name, b.type);
  });
  if (filter.with_columns) {
    for (auto& entry : entries) {
      ARROW_ASSIGN_OR_RAISE(entry.columns, Columns(client, entry));
    }
  }
  return entries;
}

// ---------------------------------------------------------------------------
// Dialect.

namespace {

// Spark's groups of its built-in functions (ExpressionInfo.group: the sections
// of Spark's SQL function reference), as Spark 4.3 has them, for the names
// with plain identifiers. math_funcs are the numeric functions, string_funcs
// the string ones, datetime_funcs the date and time ones, misc_funcs and
// conditional_funcs (current_user, version, ifnull, coalesce...) the system
// ones. A function SHOW SYSTEM FUNCTIONS does not list on the server is left
// out; one that is in no group here is in none of the four lists.
constexpr std::string_view kNumericFunctions[] = {
    "abs", "acos", "acosh", "asin", "asinh", "atan", "atan2", "atanh", "bin", "bround", "cbrt", "ceil", "ceiling",
    "conv", "cos", "cosh", "cot", "csc", "degrees", "div", "e", "exp", "expm1", "factorial", "floor", "greatest",
    "hex", "hypot", "least", "ln", "log", "log10", "log1p", "log2", "mod", "negative", "pi", "pmod", "positive",
    "pow", "power", "radians", "rand", "randn", "random", "rint", "round", "sec", "sign", "signum", "sin", "sinh",
    "sqrt", "tan", "tanh", "try_add", "try_divide", "try_mod", "try_multiply", "try_subtract", "unhex", "uniform",
    "width_bucket"};
constexpr std::string_view kStringFunctions[] = {
    "ascii", "base64", "bit_length", "btrim", "char", "char_length", "character_length", "chr", "collate",
    "collation", "concat_ws", "contains", "decode", "elt", "encode", "endswith", "find_in_set", "format_number",
    "format_string", "from_base32", "initcap", "instr", "is_valid_utf8", "jaro_winkler_similarity", "lcase",
    "left", "len", "length", "levenshtein", "locate", "lower", "lpad", "ltrim", "luhn_check", "make_valid_utf8",
    "mask", "octet_length", "overlay", "position", "printf", "quote", "randstr", "regexp_count", "regexp_extract",
    "regexp_extract_all", "regexp_instr", "regexp_replace", "regexp_substr", "repeat", "replace", "right", "rpad",
    "rtrim", "sentences", "soundex", "space", "split", "split_part", "startswith", "substr", "substring",
    "substring_index", "to_base32", "to_binary", "to_char", "to_number", "to_varchar", "translate", "trim",
    "try_to_binary", "try_to_number", "try_validate_utf8", "ucase", "unbase64", "upper", "validate_utf8"};
constexpr std::string_view kDatetimeFunctions[] = {
    "add_months", "convert_timezone", "curdate", "current_date", "current_time", "current_timestamp",
    "current_timezone", "date_add", "date_diff", "date_format", "date_from_unix_date", "date_part", "date_sub",
    "date_trunc", "dateadd", "datediff", "datepart", "day", "dayname", "dayofmonth", "dayofweek", "dayofyear",
    "extract", "from_unixtime", "from_utc_timestamp", "hour", "last_day", "localtime", "localtimestamp",
    "make_date", "make_dt_interval", "make_interval", "make_time", "make_timestamp", "make_timestamp_ltz",
    "make_timestamp_ntz", "make_ym_interval", "minute", "month", "monthname", "months_between", "next_day", "now",
    "quarter", "second", "session_window", "time_bucket", "time_diff", "time_from_micros", "time_from_millis",
    "time_from_seconds", "time_to_micros", "time_to_millis", "time_to_seconds", "time_trunc", "timestamp_micros",
    "timestamp_millis", "timestamp_nanos", "timestamp_seconds", "to_date", "to_time", "to_timestamp",
    "to_timestamp_ltz", "to_timestamp_ntz", "to_unix_timestamp", "to_utc_timestamp", "trunc", "try_make_interval",
    "try_make_timestamp", "try_make_timestamp_ltz", "try_make_timestamp_ntz", "try_to_date", "try_to_time",
    "try_to_timestamp", "unix_date", "unix_micros", "unix_millis", "unix_nanos", "unix_seconds", "unix_timestamp",
    "weekday", "weekofyear", "window", "window_time", "year"};
constexpr std::string_view kSystemFunctions[] = {
    "aes_decrypt", "aes_encrypt", "assert_true", "bitmap_bit_position", "bitmap_bucket_number", "bitmap_count",
    "current_catalog", "current_database", "current_path", "current_schema", "current_user", "hmac",
    "input_file_block_length", "input_file_block_start", "input_file_name", "java_method",
    "monotonically_increasing_id", "raise_error", "reflect", "session_user", "spark_partition_id",
    "try_aes_decrypt", "try_reflect", "typeof", "user", "uuid", "version",
    "between", "coalesce", "if", "ifnull", "nanvl", "nullif", "nullifzero", "nvl", "nvl2", "when", "zeroifnull"};

template <size_t N>
bool Contains(const std::string_view (&names)[N], std::string_view name) {
  return std::find(std::begin(names), std::end(names), name) != std::end(names);
}

std::string Upper(std::string text) {
  for (char& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return text;
}

// Spark's CAST rules in ODBC convert names, as Spark 4.3's analyzer accepts
// CAST(CAST(NULL AS from) AS to) (each pair checked against a real Spark by
// tests/integration/test_spark_metadata.py). ANSI mode (Spark's default):
// numbers convert among themselves, to BOOLEAN (BIT), text and TIMESTAMP;
// exact numbers also to intervals; BOOLEAN to numbers and text; text to
// everything; binaries to binaries and text; DATE to text and TIMESTAMP;
// TIMESTAMP to numbers, text and DATE; an interval to itself, exact numbers
// and text. Without ANSI mode integers also convert to binaries, BOOLEAN and
// TIMESTAMP into each other, DATE to numbers and BOOLEAN. Spark's TIME type
// is disabled by default: nothing converts to or from TIME.
std::map<std::string, std::vector<std::string>> Conversions(bool ansi) {
  const std::vector<std::string> integers = {"BIGINT", "INTEGER", "SMALLINT", "TINYINT"};
  const std::vector<std::string> decimals = {"DECIMAL", "NUMERIC"};
  const std::vector<std::string> floats = {"FLOAT", "REAL"};
  const std::vector<std::string> text = {"CHAR", "LONGVARCHAR", "VARCHAR"};
  const std::vector<std::string> binaries = {"BINARY", "LONGVARBINARY", "VARBINARY"};
  const std::vector<std::string> intervals = {"INTERVAL_DAY_TIME", "INTERVAL_YEAR_MONTH"};
  auto join = [](std::initializer_list<std::vector<std::string>> parts) {
    std::vector<std::string> out;
    for (const auto& part : parts) out.insert(out.end(), part.begin(), part.end());
    return out;
  };
  const auto numbers = join({integers, decimals, floats});
  std::map<std::string, std::vector<std::string>> conversions;
  for (const auto& n : integers) {
    conversions[n] = join({numbers, text, intervals, {"BIT", "TIMESTAMP"}, ansi ? std::vector<std::string>{} : binaries});
  }
  for (const auto& n : decimals) conversions[n] = join({numbers, text, intervals, {"BIT", "TIMESTAMP"}});
  for (const auto& n : floats) conversions[n] = join({numbers, text, {"BIT", "TIMESTAMP"}});
  conversions["BIT"] = join({numbers, text, {"BIT"}});
  if (!ansi) conversions["BIT"].push_back("TIMESTAMP");
  for (const auto& t : text) conversions[t] = join({numbers, text, binaries, intervals, {"BIT", "DATE", "TIMESTAMP"}});
  for (const auto& b : binaries) conversions[b] = join({binaries, text});
  conversions["DATE"] = join({text, {"DATE", "TIMESTAMP"}});
  if (!ansi) conversions["DATE"] = join({conversions["DATE"], numbers, {"BIT"}});
  conversions["TIMESTAMP"] = join({numbers, text, {"DATE", "TIMESTAMP"}});
  if (!ansi) conversions["TIMESTAMP"].push_back("BIT");
  for (const auto& i : intervals) conversions[i] = join({integers, decimals, text, {i}});
  for (auto& [from, to] : conversions) std::sort(to.begin(), to.end());
  return conversions;
}

}  // namespace

arrow::Result<Dialect> DescribeDialect(SparkConnectClient& client) {
  Dialect dialect;
  // sql_keywords() is Spark 4's; an older Spark has no list to give.
  auto keywords = Column(client, "SELECT DISTINCT upper(keyword) FROM sql_keywords() ORDER BY 1", 0);
  if (keywords.ok()) {
    dialect.keywords = std::move(*keywords);
  } else if (!keywords.status().IsInvalid()) {
    return keywords.status();
  }
  ARROW_ASSIGN_OR_RAISE(auto functions, Column(client, "SHOW SYSTEM FUNCTIONS", 0));
  for (const auto& name : functions) {
    if (Contains(kNumericFunctions, name)) dialect.numeric_functions.push_back(Upper(name));
    if (Contains(kStringFunctions, name)) dialect.string_functions.push_back(Upper(name));
    if (Contains(kDatetimeFunctions, name)) dialect.datetime_functions.push_back(Upper(name));
    if (Contains(kSystemFunctions, name)) dialect.system_functions.push_back(Upper(name));
  }
  for (auto* list : {&dialect.numeric_functions, &dialect.string_functions, &dialect.datetime_functions,
                     &dialect.system_functions}) {
    std::sort(list->begin(), list->end());
  }
  ARROW_ASSIGN_OR_RAISE(auto ansi, Config(client, "spark.sql.ansi.enabled"));
  dialect.conversions = Conversions(ansi == "true");
  dialect.identifier_quote = "`";
  // Spark's session catalog stores database and table names in lower case,
  // quoted or not, unless spark.sql.caseSensitive keeps them as written (a
  // case-sensitive mix Flight SQL has no value for).
  ARROW_ASSIGN_OR_RAISE(auto case_sensitive, Config(client, "spark.sql.caseSensitive"));
  dialect.identifier_case =
      case_sensitive == "true" ? Dialect::IdentifierCase::kUnknown : Dialect::IdentifierCase::kLowercase;
  dialect.quoted_identifier_case = dialect.identifier_case;
  // ORDER BY x puts NULLs first, ORDER BY x DESC last: NULL sorts as the
  // lowest value.
  dialect.null_ordering = Dialect::NullOrdering::kSortedLow;
  dialect.catalog_term = "catalog";
  dialect.transactions = false;
  dialect.integrity_constraints = false;  // Spark enforces no keys or CHECKs on its tables
  dialect.indexes = false;
  return dialect;
}

// ---------------------------------------------------------------------------
// SQL types.

namespace {

// java.sql.Types codes.
enum JdbcType : int32_t {
  kTinyInt = -6, kBigInt = -5, kVarBinary = -3, kChar = 1, kDecimal = 3, kInteger = 4, kSmallInt = 5,
  kReal = 7, kDouble = 8, kVarChar = 12, kBoolean = 16, kDate = 91, kTimestamp = 93, kOther = 1111,
  kJavaObject = 2000, kStruct = 2002, kArray = 2003, kTimestampWithTimeZone = 2014,
};

// The protocol's XdbcDataType codes for SQL_DATA_TYPE of datetimes and intervals.
constexpr int32_t kXdbcDatetime = 9;
constexpr int32_t kXdbcInterval = 10;
// XdbcDatetimeSubcode values.
enum Subcode : int32_t {
  kSubDate = 1, kSubTimestamp = 3, kSubTimestampTz = 5,
  kSubYear = 1, kSubMonth = 2, kSubDay = 3, kSubHour = 4, kSubMinute = 5, kSubSecond = 6, kSubYearToMonth = 7,
  kSubDayToHour = 8, kSubDayToMinute = 9, kSubDayToSecond = 10, kSubHourToMinute = 11, kSubHourToSecond = 12,
  kSubMinuteToSecond = 13,
};

constexpr int32_t kSearchableNone = 0;
constexpr int32_t kSearchableBasic = 2;  // usable in WHERE with any operator but LIKE
constexpr int32_t kSearchableFull = 3;

SqlTypeInfo Type(const char* name, int32_t type) {
  SqlTypeInfo t;
  t.name = name;
  t.data_type = type;
  t.searchable = kSearchableBasic;
  t.sql_data_type = type;
  return t;
}

SqlTypeInfo Exact(const char* name, int32_t type, int32_t digits) {
  SqlTypeInfo t = Type(name, type);
  t.column_size = digits;
  t.unsigned_attribute = false;
  t.minimum_scale = 0;
  t.maximum_scale = 0;
  t.num_prec_radix = 10;
  return t;
}

SqlTypeInfo Approximate(const char* name, int32_t type, int32_t bits) {
  SqlTypeInfo t = Type(name, type);
  t.column_size = bits;
  t.unsigned_attribute = false;
  t.num_prec_radix = 2;
  return t;
}

SqlTypeInfo Text(const char* name, int32_t type, std::vector<std::string> create_params) {
  SqlTypeInfo t = Type(name, type);
  t.literal_prefix = "'";
  t.literal_suffix = "'";
  t.create_params = std::move(create_params);
  t.case_sensitive = true;
  t.searchable = kSearchableFull;
  return t;
}

SqlTypeInfo Temporal(const char* name, int32_t type, int32_t chars, int32_t subcode) {
  SqlTypeInfo t = Type(name, type);
  t.column_size = chars;
  t.literal_prefix = std::string(name) + " '";
  t.literal_suffix = "'";
  t.sql_data_type = kXdbcDatetime;
  t.datetime_subcode = subcode;
  return t;
}

// JDBC has no interval type: java.sql.Types.OTHER, as Spark's Thrift server
// reports intervals, with the interval kind in SQL_DATA_TYPE and the sub-code.
SqlTypeInfo Interval(const char* qualifier, int32_t subcode) {
  SqlTypeInfo t;
  t.name = std::string("INTERVAL ") + qualifier;
  t.data_type = kOther;
  t.literal_prefix = "INTERVAL '";
  t.literal_suffix = std::string("' ") + qualifier;
  t.searchable = kSearchableBasic;
  t.sql_data_type = kXdbcInterval;
  t.datetime_subcode = subcode;
  return t;
}

}  // namespace

std::vector<SqlTypeInfo> SqlTypes() {
  SqlTypeInfo decimal = Exact("DECIMAL", kDecimal, 38);
  decimal.create_params = {"precision", "scale"};
  decimal.maximum_scale = 38;
  SqlTypeInfo binary = Type("BINARY", kVarBinary);
  binary.literal_prefix = "X'";
  binary.literal_suffix = "'";
  std::vector<SqlTypeInfo> types = {
      Type("BOOLEAN", kBoolean),
      Exact("TINYINT", kTinyInt, 3),
      Exact("SMALLINT", kSmallInt, 5),
      Exact("INT", kInteger, 10),
      Exact("BIGINT", kBigInt, 19),
      Approximate("FLOAT", kReal, 24),
      Approximate("DOUBLE", kDouble, 53),
      decimal,
      Text("STRING", kVarChar, {}),
      Text("VARCHAR", kVarChar, {"length"}),
      Text("CHAR", kChar, {"length"}),
      binary,
      Temporal("DATE", kDate, 10, kSubDate),
      // TIMESTAMP is an instant shown in the session's time zone (Arrow
      // timestamp with a time zone); TIMESTAMP_NTZ a wall-clock time.
      Temporal("TIMESTAMP", kTimestampWithTimeZone, 26, kSubTimestampTz),
      Temporal("TIMESTAMP_NTZ", kTimestamp, 26, kSubTimestamp),
      Interval("YEAR", kSubYear),
      Interval("YEAR TO MONTH", kSubYearToMonth),
      Interval("MONTH", kSubMonth),
      Interval("DAY", kSubDay),
      Interval("DAY TO HOUR", kSubDayToHour),
      Interval("DAY TO MINUTE", kSubDayToMinute),
      Interval("DAY TO SECOND", kSubDayToSecond),
      Interval("HOUR", kSubHour),
      Interval("HOUR TO MINUTE", kSubHourToMinute),
      Interval("HOUR TO SECOND", kSubHourToSecond),
      Interval("MINUTE", kSubMinute),
      Interval("MINUTE TO SECOND", kSubMinuteToSecond),
      Interval("SECOND", kSubSecond),
      Type("ARRAY", kArray),
      Type("STRUCT", kStruct),
      // Spark compares neither maps nor variants.
      Type("MAP", kJavaObject),
      Type("VARIANT", kOther),
  };
  for (auto& t : types) {
    if (t.name == "MAP" || t.name == "VARIANT") t.searchable = kSearchableNone;
  }
  std::sort(types.begin(), types.end(), [](const SqlTypeInfo& a, const SqlTypeInfo& b) {
    return a.data_type != b.data_type ? a.data_type < b.data_type : a.name < b.name;
  });
  return types;
}

}  // namespace squadron::engine::spark
