#include "flight/sql_info.h"

#include <arrow/array.h>
#include <arrow/builder.h>
#include <arrow/config.h>
#include <arrow/type.h>

#include "proto/FlightSql.pb.h"
#include <algorithm>

#include "common/status.h"

namespace squadron::flight {

namespace pb = arrow::flight::protocol::sql;

namespace {

std::shared_ptr<arrow::DataType> ValueType() {
  static const auto type = arrow::dense_union(
      {
          arrow::field("string_value", arrow::utf8()),
          arrow::field("bool_value", arrow::boolean()),
          arrow::field("bigint_value", arrow::int64()),
          arrow::field("int32_bitmask", arrow::int32()),
          arrow::field("string_list", arrow::list(arrow::utf8())),
          arrow::field("int32_to_int32_list_map",
                       arrow::map(arrow::int32(), arrow::list(arrow::int32()))),
      },
      {0, 1, 2, 3, 4, 5});
  return type;
}

// Appends one value to the union child its alternative names.
struct ChildBuilders {
  arrow::StringBuilder strings;
  arrow::BooleanBuilder bools;
  arrow::Int64Builder bigints;
  arrow::Int32Builder int32s;
  arrow::ListBuilder string_lists{arrow::default_memory_pool(),
                                  std::make_shared<arrow::StringBuilder>()};
  arrow::MapBuilder int_maps{
      arrow::default_memory_pool(), std::make_shared<arrow::Int32Builder>(),
      std::make_shared<arrow::ListBuilder>(arrow::default_memory_pool(),
                                           std::make_shared<arrow::Int32Builder>()),
      arrow::map(arrow::int32(), arrow::list(arrow::int32()))};

  arrow::Result<int32_t> Append(const SqlInfoValue& value) {
    switch (value.index()) {
      case 0:
        ARROW_RETURN_NOT_OK(strings.Append(std::get<std::string>(value)));
        return static_cast<int32_t>(strings.length() - 1);
      case 1:
        ARROW_RETURN_NOT_OK(bools.Append(std::get<bool>(value)));
        return static_cast<int32_t>(bools.length() - 1);
      case 2:
        ARROW_RETURN_NOT_OK(bigints.Append(std::get<int64_t>(value)));
        return static_cast<int32_t>(bigints.length() - 1);
      case 3:
        ARROW_RETURN_NOT_OK(int32s.Append(std::get<int32_t>(value)));
        return static_cast<int32_t>(int32s.length() - 1);
      case 4: {
        ARROW_RETURN_NOT_OK(string_lists.Append());
        auto* items = static_cast<arrow::StringBuilder*>(string_lists.value_builder());
        for (const auto& s : std::get<std::vector<std::string>>(value)) {
          ARROW_RETURN_NOT_OK(items->Append(s));
        }
        return static_cast<int32_t>(string_lists.length() - 1);
      }
      default: {
        ARROW_RETURN_NOT_OK(int_maps.Append());
        auto* keys = static_cast<arrow::Int32Builder*>(int_maps.key_builder());
        auto* lists = static_cast<arrow::ListBuilder*>(int_maps.item_builder());
        auto* items = static_cast<arrow::Int32Builder*>(lists->value_builder());
        for (const auto& [key, list] : std::get<std::map<int32_t, std::vector<int32_t>>>(value)) {
          ARROW_RETURN_NOT_OK(keys->Append(key));
          ARROW_RETURN_NOT_OK(lists->Append());
          ARROW_RETURN_NOT_OK(items->AppendValues(list));
        }
        return static_cast<int32_t>(int_maps.length() - 1);
      }
    }
  }

  arrow::Result<arrow::ArrayVector> Finish() {
    arrow::ArrayVector out(6);
    ARROW_RETURN_NOT_OK(strings.Finish(&out[0]));
    ARROW_RETURN_NOT_OK(bools.Finish(&out[1]));
    ARROW_RETURN_NOT_OK(bigints.Finish(&out[2]));
    ARROW_RETURN_NOT_OK(int32s.Finish(&out[3]));
    ARROW_RETURN_NOT_OK(string_lists.Finish(&out[4]));
    ARROW_RETURN_NOT_OK(int_maps.Finish(&out[5]));
    return out;
  }
};

}  // namespace

const std::shared_ptr<arrow::Schema>& SqlInfoSchema() {
  static const auto schema = arrow::schema({
      arrow::field("info_name", arrow::uint32(), /*nullable=*/false),
      arrow::field("value", ValueType(), /*nullable=*/false),
  });
  return schema;
}

arrow::Result<std::shared_ptr<arrow::RecordBatch>> MakeSqlInfoBatch(
    const SqlInfoMap& values, const std::vector<uint32_t>& requested) {
  std::vector<uint32_t> ids;
  if (requested.empty()) {
    for (const auto& [id, value] : values) ids.push_back(id);
  } else {
    for (uint32_t id : requested) {
      if (values.count(id)) ids.push_back(id);
    }
  }
  arrow::UInt32Builder names;
  arrow::Int8Builder type_ids;
  arrow::Int32Builder offsets;
  ChildBuilders children;
  for (uint32_t id : ids) {
    const SqlInfoValue& value = values.at(id);
    ARROW_RETURN_NOT_OK(names.Append(id));
    ARROW_RETURN_NOT_OK(type_ids.Append(static_cast<int8_t>(value.index())));
    ARROW_ASSIGN_OR_RAISE(int32_t offset, children.Append(value));
    ARROW_RETURN_NOT_OK(offsets.Append(offset));
  }
  ARROW_ASSIGN_OR_RAISE(auto names_array, names.Finish());
  ARROW_ASSIGN_OR_RAISE(auto type_ids_array, type_ids.Finish());
  ARROW_ASSIGN_OR_RAISE(auto offsets_array, offsets.Finish());
  ARROW_ASSIGN_OR_RAISE(auto child_arrays, children.Finish());
  auto union_array = std::make_shared<arrow::DenseUnionArray>(
      ValueType(), static_cast<int64_t>(ids.size()), std::move(child_arrays),
      type_ids_array->data()->buffers[1], offsets_array->data()->buffers[1]);
  ARROW_RETURN_NOT_OK(union_array->ValidateFull());
  return arrow::RecordBatch::Make(SqlInfoSchema(), static_cast<int64_t>(ids.size()),
                                  {names_array, union_array});
}

namespace {

// The SqlSupportsConvert enum value of each ODBC convert name.
const std::map<std::string, int32_t>& ConvertCodes() {
  static const std::map<std::string, int32_t> codes = {
      {"BIGINT", pb::SQL_CONVERT_BIGINT},
      {"BINARY", pb::SQL_CONVERT_BINARY},
      {"BIT", pb::SQL_CONVERT_BIT},
      {"CHAR", pb::SQL_CONVERT_CHAR},
      {"DATE", pb::SQL_CONVERT_DATE},
      {"DECIMAL", pb::SQL_CONVERT_DECIMAL},
      {"FLOAT", pb::SQL_CONVERT_FLOAT},
      {"INTEGER", pb::SQL_CONVERT_INTEGER},
      {"INTERVAL_DAY_TIME", pb::SQL_CONVERT_INTERVAL_DAY_TIME},
      {"INTERVAL_YEAR_MONTH", pb::SQL_CONVERT_INTERVAL_YEAR_MONTH},
      {"LONGVARBINARY", pb::SQL_CONVERT_LONGVARBINARY},
      {"LONGVARCHAR", pb::SQL_CONVERT_LONGVARCHAR},
      {"NUMERIC", pb::SQL_CONVERT_NUMERIC},
      {"REAL", pb::SQL_CONVERT_REAL},
      {"SMALLINT", pb::SQL_CONVERT_SMALLINT},
      {"TIME", pb::SQL_CONVERT_TIME},
      {"TIMESTAMP", pb::SQL_CONVERT_TIMESTAMP},
      {"TINYINT", pb::SQL_CONVERT_TINYINT},
      {"VARBINARY", pb::SQL_CONVERT_VARBINARY},
      {"VARCHAR", pb::SQL_CONVERT_VARCHAR},
  };
  return codes;
}

std::map<int32_t, std::vector<int32_t>> ConvertMap(const std::map<std::string, std::vector<std::string>>& by_name) {
  std::map<int32_t, std::vector<int32_t>> out;
  for (const auto& [from, targets] : by_name) {
    auto from_code = ConvertCodes().find(from);
    if (from_code == ConvertCodes().end()) continue;
    auto& list = out[from_code->second];
    for (const auto& to : targets) {
      auto to_code = ConvertCodes().find(to);
      if (to_code != ConvertCodes().end()) list.push_back(to_code->second);
    }
    std::sort(list.begin(), list.end());
  }
  return out;
}

constexpr int32_t Bit(int position) { return int32_t{1} << position; }

int32_t CaseCode(engine::Dialect::IdentifierCase identifier_case) {
  using Case = engine::Dialect::IdentifierCase;
  switch (identifier_case) {
    case Case::kCaseInsensitive: return pb::SQL_CASE_SENSITIVITY_CASE_INSENSITIVE;
    case Case::kUppercase: return pb::SQL_CASE_SENSITIVITY_UPPERCASE;
    case Case::kLowercase: return pb::SQL_CASE_SENSITIVITY_LOWERCASE;
    case Case::kUnknown: break;
  }
  return pb::SQL_CASE_SENSITIVITY_UNKNOWN;
}

int32_t NullOrderingCode(engine::Dialect::NullOrdering ordering) {
  using Ordering = engine::Dialect::NullOrdering;
  switch (ordering) {
    case Ordering::kSortedHigh: return pb::SQL_NULLS_SORTED_HIGH;
    case Ordering::kSortedLow: return pb::SQL_NULLS_SORTED_LOW;
    case Ordering::kSortedAtStart: return pb::SQL_NULLS_SORTED_AT_START;
    case Ordering::kSortedAtEnd: break;
  }
  return pb::SQL_NULLS_SORTED_AT_END;
}

}  // namespace

SqlInfoMap MakeServerSqlInfo(const ServerFacts& facts) {
  const engine::Dialect& dialect = facts.dialect;
  SqlInfoMap info;
  // Server.
  info[pb::FLIGHT_SQL_SERVER_NAME] = std::string("Squadron");
  info[pb::FLIGHT_SQL_SERVER_VERSION] =
      std::string(SQUADRON_VERSION) + " (" + facts.engine_name + " " + facts.engine_version + ")";
  info[pb::FLIGHT_SQL_SERVER_ARROW_VERSION] = std::string(ARROW_VERSION_STRING);
  info[pb::FLIGHT_SQL_SERVER_READ_ONLY] = facts.read_only;
  info[pb::FLIGHT_SQL_SERVER_SQL] = true;
  info[pb::FLIGHT_SQL_SERVER_SUBSTRAIT] = false;
  // No Substrait: the protocol asks for null; the union has no null, so empty.
  info[pb::FLIGHT_SQL_SERVER_SUBSTRAIT_MIN_VERSION] = std::string();
  info[pb::FLIGHT_SQL_SERVER_SUBSTRAIT_MAX_VERSION] = std::string();
  // Transactions (BeginTransaction/EndTransaction) where the engine has them;
  // savepoints no: neither DuckDB nor Spark has any.
  info[pb::FLIGHT_SQL_SERVER_TRANSACTION] = static_cast<int32_t>(
      dialect.transactions ? pb::SQL_SUPPORTED_TRANSACTION_TRANSACTION : pb::SQL_SUPPORTED_TRANSACTION_NONE);
  info[pb::FLIGHT_SQL_SERVER_CANCEL] = true;
  info[pb::FLIGHT_SQL_SERVER_BULK_INGESTION] = true;
  info[pb::FLIGHT_SQL_SERVER_INGEST_TRANSACTIONS_SUPPORTED] = dialect.transactions;
  info[pb::FLIGHT_SQL_SERVER_STATEMENT_TIMEOUT] = facts.statement_timeout_ms;
  info[pb::FLIGHT_SQL_SERVER_TRANSACTION_TIMEOUT] = facts.transaction_timeout_ms;

  // DDL: schemas and tables; catalogs are ATTACHed database files, not created.
  info[pb::SQL_DDL_CATALOG] = false;
  info[pb::SQL_DDL_SCHEMA] = true;
  info[pb::SQL_DDL_TABLE] = true;
  // Identifier case, quoting and NULL order are the engine's (DuckDB: case-
  // insensitive, case kept, "quotes", NULLs last in both directions).
  info[pb::SQL_IDENTIFIER_CASE] = CaseCode(dialect.identifier_case);
  info[pb::SQL_IDENTIFIER_QUOTE_CHAR] = dialect.identifier_quote;
  info[pb::SQL_QUOTED_IDENTIFIER_CASE] = CaseCode(dialect.quoted_identifier_case);
  info[pb::SQL_ALL_TABLES_ARE_SELECTABLE] = true;
  info[pb::SQL_NULL_ORDERING] = NullOrderingCode(dialect.null_ordering);
  info[pb::SQL_KEYWORDS] = dialect.keywords;
  info[pb::SQL_NUMERIC_FUNCTIONS] = dialect.numeric_functions;
  info[pb::SQL_STRING_FUNCTIONS] = dialect.string_functions;
  info[pb::SQL_SYSTEM_FUNCTIONS] = dialect.system_functions;
  info[pb::SQL_DATETIME_FUNCTIONS] = dialect.datetime_functions;
  // Catalog browsing patterns: SQL LIKE, with backslash escaping % and _.
  info[pb::SQL_SEARCH_STRING_ESCAPE] = std::string("\\");
  info[pb::SQL_EXTRA_NAME_CHARACTERS] = std::string();
  info[pb::SQL_SUPPORTS_COLUMN_ALIASING] = true;
  info[pb::SQL_NULL_PLUS_NULL_IS_NULL] = true;
  info[pb::SQL_SUPPORTS_CONVERT] = ConvertMap(dialect.conversions);
  info[pb::SQL_SUPPORTS_TABLE_CORRELATION_NAMES] = true;
  // Correlation names need not differ from table names.
  info[pb::SQL_SUPPORTS_DIFFERENT_TABLE_CORRELATION_NAMES] = false;
  info[pb::SQL_SUPPORTS_EXPRESSIONS_IN_ORDER_BY] = true;
  info[pb::SQL_SUPPORTS_ORDER_BY_UNRELATED] = true;
  info[pb::SQL_SUPPORTED_GROUP_BY] = Bit(pb::SQL_GROUP_BY_UNRELATED) | Bit(pb::SQL_GROUP_BY_BEYOND_SELECT);
  info[pb::SQL_SUPPORTS_LIKE_ESCAPE_CLAUSE] = true;
  info[pb::SQL_SUPPORTS_NON_NULLABLE_COLUMNS] = true;
  info[pb::SQL_SUPPORTED_GRAMMAR] = Bit(pb::SQL_MINIMUM_GRAMMAR) | Bit(pb::SQL_CORE_GRAMMAR);
  info[pb::SQL_ANSI92_SUPPORTED_LEVEL] = Bit(pb::ANSI92_ENTRY_SQL) | Bit(pb::ANSI92_INTERMEDIATE_SQL);
  // Primary keys, foreign keys, CHECK and NOT NULL constraints.
  info[pb::SQL_SUPPORTS_INTEGRITY_ENHANCEMENT_FACILITY] = facts.dialect.integrity_constraints;
  // The spec calls this an ordinal, but the Flight SQL JDBC driver (DBeaver's)
  // reads it as a bitmask of SqlOuterJoinsSupportLevel: set every level
  // DuckDB supports, limited and full, so supportsFullOuterJoins() is true.
  info[pb::SQL_OUTER_JOINS_SUPPORT_LEVEL] = Bit(pb::SQL_LIMITED_OUTER_JOINS) | Bit(pb::SQL_FULL_OUTER_JOINS);
  info[pb::SQL_SCHEMA_TERM] = std::string("schema");
  info[pb::SQL_PROCEDURE_TERM] = std::string("procedure");
  info[pb::SQL_CATALOG_TERM] = dialect.catalog_term;
  info[pb::SQL_CATALOG_AT_START] = true;
  // Catalog and schema names qualify tables in CREATE INDEX; DuckDB has no
  // procedures and no privileges.
  const int32_t in_index = facts.dialect.indexes ? Bit(pb::SQL_ELEMENT_IN_INDEX_DEFINITIONS) : 0;
  info[pb::SQL_SCHEMAS_SUPPORTED_ACTIONS] = in_index;
  info[pb::SQL_CATALOGS_SUPPORTED_ACTIONS] = in_index;
  info[pb::SQL_SUPPORTED_POSITIONED_COMMANDS] = int32_t{0};
  info[pb::SQL_SELECT_FOR_UPDATE_SUPPORTED] = false;
  info[pb::SQL_STORED_PROCEDURES_SUPPORTED] = false;
  info[pb::SQL_SUPPORTED_SUBQUERIES] = Bit(pb::SQL_SUBQUERIES_IN_COMPARISONS) | Bit(pb::SQL_SUBQUERIES_IN_EXISTS) |
                                       Bit(pb::SQL_SUBQUERIES_IN_INS) | Bit(pb::SQL_SUBQUERIES_IN_QUANTIFIEDS);
  info[pb::SQL_CORRELATED_SUBQUERIES_SUPPORTED] = true;
  info[pb::SQL_SUPPORTED_UNIONS] = Bit(pb::SQL_UNION) | Bit(pb::SQL_UNION_ALL);
  // DuckDB sets none of these limits: 0 means "no limit".
  for (auto id : {pb::SQL_MAX_BINARY_LITERAL_LENGTH, pb::SQL_MAX_CHAR_LITERAL_LENGTH,
                  pb::SQL_MAX_COLUMN_NAME_LENGTH, pb::SQL_MAX_COLUMNS_IN_GROUP_BY, pb::SQL_MAX_COLUMNS_IN_INDEX,
                  pb::SQL_MAX_COLUMNS_IN_ORDER_BY, pb::SQL_MAX_COLUMNS_IN_SELECT, pb::SQL_MAX_COLUMNS_IN_TABLE,
                  pb::SQL_MAX_CONNECTIONS, pb::SQL_MAX_CURSOR_NAME_LENGTH, pb::SQL_MAX_INDEX_LENGTH,
                  pb::SQL_DB_SCHEMA_NAME_LENGTH, pb::SQL_MAX_PROCEDURE_NAME_LENGTH, pb::SQL_MAX_CATALOG_NAME_LENGTH,
                  pb::SQL_MAX_ROW_SIZE, pb::SQL_MAX_STATEMENT_LENGTH, pb::SQL_MAX_STATEMENTS,
                  pb::SQL_MAX_TABLE_NAME_LENGTH, pb::SQL_MAX_TABLES_IN_SELECT, pb::SQL_MAX_USERNAME_LENGTH}) {
    info[id] = int64_t{0};
  }
  info[pb::SQL_MAX_ROW_SIZE_INCLUDES_BLOBS] = true;
  // DuckDB's MVCC gives each transaction a snapshot: repeatable reads; an
  // engine without transactions has the level NONE only. The spec says int32,
  // but the Flight SQL JDBC driver casts this id to a Long (Arrow Java's own
  // servers send int64): an int32 here throws in DBeaver.
  const auto isolation = dialect.transactions ? pb::SQL_TRANSACTION_REPEATABLE_READ : pb::SQL_TRANSACTION_NONE;
  info[pb::SQL_DEFAULT_TRANSACTION_ISOLATION] = static_cast<int64_t>(isolation);
  info[pb::SQL_TRANSACTIONS_SUPPORTED] = dialect.transactions;
  info[pb::SQL_SUPPORTED_TRANSACTIONS_ISOLATION_LEVELS] = Bit(isolation);
  // DDL is transactional in DuckDB (without transactions the question does not arise).
  info[pb::SQL_DATA_DEFINITION_CAUSES_TRANSACTION_COMMIT] = false;
  info[pb::SQL_DATA_DEFINITIONS_IN_TRANSACTIONS_IGNORED] = false;
  // Results stream forward only and are read-only.
  info[pb::SQL_SUPPORTED_RESULT_SET_TYPES] = Bit(pb::SQL_RESULT_SET_TYPE_FORWARD_ONLY);
  info[pb::SQL_SUPPORTED_CONCURRENCIES_FOR_RESULT_SET_UNSPECIFIED] = int32_t{0};
  info[pb::SQL_SUPPORTED_CONCURRENCIES_FOR_RESULT_SET_FORWARD_ONLY] = Bit(pb::SQL_RESULT_SET_CONCURRENCY_READ_ONLY);
  info[pb::SQL_SUPPORTED_CONCURRENCIES_FOR_RESULT_SET_SCROLL_SENSITIVE] = int32_t{0};
  info[pb::SQL_SUPPORTED_CONCURRENCIES_FOR_RESULT_SET_SCROLL_INSENSITIVE] = int32_t{0};
  info[pb::SQL_BATCH_UPDATES_SUPPORTED] = true;
  info[pb::SQL_SAVEPOINTS_SUPPORTED] = false;
  info[pb::SQL_NAMED_PARAMETERS_SUPPORTED] = true;
  info[pb::SQL_LOCATORS_UPDATE_COPY] = false;
  info[pb::SQL_STORED_FUNCTIONS_USING_CALL_SYNTAX_SUPPORTED] = false;
  return info;
}

}  // namespace squadron::flight
