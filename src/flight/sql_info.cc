#include "flight/sql_info.h"

#include <arrow/array.h>
#include <arrow/builder.h>
#include <arrow/config.h>
#include <arrow/type.h>

#include "proto/FlightSql.pb.h"
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

SqlInfoMap MakeServerSqlInfo(const ServerFacts& facts) {
  SqlInfoMap info;
  info[pb::FLIGHT_SQL_SERVER_NAME] = std::string("Squadron");
  info[pb::FLIGHT_SQL_SERVER_VERSION] =
      std::string(SQUADRON_VERSION) + " (" + facts.engine_name + " " + facts.engine_version + ")";
  info[pb::FLIGHT_SQL_SERVER_ARROW_VERSION] = std::string(ARROW_VERSION_STRING);
  info[pb::FLIGHT_SQL_SERVER_READ_ONLY] = facts.read_only;
  info[pb::FLIGHT_SQL_SERVER_SQL] = true;
  info[pb::FLIGHT_SQL_SERVER_SUBSTRAIT] = false;
  // Transactions yes (BeginTransaction/EndTransaction); savepoints no: DuckDB
  // has none.
  info[pb::FLIGHT_SQL_SERVER_TRANSACTION] =
      static_cast<int32_t>(pb::SQL_SUPPORTED_TRANSACTION_TRANSACTION);
  info[pb::FLIGHT_SQL_SERVER_CANCEL] = true;
  info[pb::FLIGHT_SQL_SERVER_BULK_INGESTION] = true;
  info[pb::FLIGHT_SQL_SERVER_INGEST_TRANSACTIONS_SUPPORTED] = true;
  info[pb::FLIGHT_SQL_SERVER_STATEMENT_TIMEOUT] = facts.statement_timeout_ms;
  info[pb::FLIGHT_SQL_SERVER_TRANSACTION_TIMEOUT] = facts.transaction_timeout_ms;
  info[pb::SQL_TRANSACTIONS_SUPPORTED] = true;
  info[pb::SQL_SAVEPOINTS_SUPPORTED] = false;
  info[pb::SQL_DDL_CATALOG] = true;
  info[pb::SQL_DDL_SCHEMA] = true;
  info[pb::SQL_DDL_TABLE] = true;
  info[pb::SQL_IDENTIFIER_CASE] = static_cast<int32_t>(pb::SQL_CASE_SENSITIVITY_CASE_INSENSITIVE);
  info[pb::SQL_IDENTIFIER_QUOTE_CHAR] = std::string("\"");
  info[pb::SQL_QUOTED_IDENTIFIER_CASE] =
      static_cast<int32_t>(pb::SQL_CASE_SENSITIVITY_CASE_INSENSITIVE);
  info[pb::SQL_NULL_ORDERING] = static_cast<int32_t>(pb::SQL_NULLS_SORTED_AT_END);
  // Catalog browsing patterns: SQL LIKE, with backslash escaping % and _.
  info[pb::SQL_SEARCH_STRING_ESCAPE] = std::string("\\");
  info[pb::SQL_SCHEMA_TERM] = std::string("schema");
  info[pb::SQL_CATALOG_TERM] = std::string("database");
  info[pb::SQL_PROCEDURE_TERM] = std::string("macro");
  return info;
}

}  // namespace squadron::flight
