// DuckDB errors and types as the rest of Squadron sees them.
#include <arrow/c/bridge.h>
#include <arrow/type.h>
#include <arrow/util/key_value_metadata.h>

#include "common/status.h"
#include "duckdb/common/arrow/arrow_converter.hpp"
#include "engine/duckdb/duckdb_internal.h"

namespace squadron::engine {

arrow::Status FromDuckDb(const duckdb::ErrorData& error) {
  using duckdb::ExceptionType;
  const std::string& message = error.Message();
  switch (error.Type()) {
    case ExceptionType::INTERRUPT:
      return Cancelled(message);
    case ExceptionType::PERMISSION:
      return PermissionDenied(message);
    case ExceptionType::OUT_OF_MEMORY:
      return Unavailable(message);
    case ExceptionType::FATAL:
    case ExceptionType::INTERNAL:
    case ExceptionType::NULL_POINTER:
      return Internal(message);
    default:
      // Parser, binder, catalog, conversion, constraint, IO on a user's file...:
      // all caused by the statement the client sent.
      return InvalidArgument(message);
  }
}

bool ReadOnlyAllows(duckdb::StatementType type) {
  using duckdb::StatementType;
  switch (type) {
    case StatementType::SELECT_STATEMENT:
    case StatementType::EXPLAIN_STATEMENT:
    case StatementType::PRAGMA_STATEMENT:
    case StatementType::SET_STATEMENT:
    case StatementType::VARIABLE_SET_STATEMENT:
    case StatementType::TRANSACTION_STATEMENT:
    case StatementType::CALL_STATEMENT:
    case StatementType::RELATION_STATEMENT:
      return true;
    default:
      return false;
  }
}

namespace {

// Decimal digits of an exact numeric type, as JDBC reports precision.
int Digits(const duckdb::LogicalType& type) {
  switch (type.id()) {
    case duckdb::LogicalTypeId::TINYINT:
    case duckdb::LogicalTypeId::UTINYINT:
      return 3;
    case duckdb::LogicalTypeId::SMALLINT:
    case duckdb::LogicalTypeId::USMALLINT:
      return 5;
    case duckdb::LogicalTypeId::INTEGER:
    case duckdb::LogicalTypeId::UINTEGER:
      return 10;
    case duckdb::LogicalTypeId::BIGINT:
      return 19;
    case duckdb::LogicalTypeId::UBIGINT:
      return 20;
    case duckdb::LogicalTypeId::HUGEINT:
    case duckdb::LogicalTypeId::UHUGEINT:
      return 39;
    default:
      return 0;
  }
}

}  // namespace

std::shared_ptr<arrow::Schema> WithTypeMetadata(const std::shared_ptr<arrow::Schema>& schema,
                                                const duckdb::vector<duckdb::LogicalType>& types) {
  arrow::FieldVector fields;
  for (int i = 0; i < schema->num_fields(); ++i) {
    const auto& field = schema->field(i);
    if (static_cast<size_t>(i) >= types.size()) {
      fields.push_back(field);
      continue;
    }
    const auto& type = types[i];
    std::vector<std::string> keys = {"ARROW:FLIGHT:SQL:TYPE_NAME"};
    std::vector<std::string> values = {type.ToString()};
    if (type.id() == duckdb::LogicalTypeId::DECIMAL) {
      keys.insert(keys.end(), {"ARROW:FLIGHT:SQL:PRECISION", "ARROW:FLIGHT:SQL:SCALE"});
      values.push_back(std::to_string(duckdb::DecimalType::GetWidth(type)));
      values.push_back(std::to_string(duckdb::DecimalType::GetScale(type)));
    } else if (Digits(type) > 0) {
      keys.insert(keys.end(), {"ARROW:FLIGHT:SQL:PRECISION", "ARROW:FLIGHT:SQL:SCALE"});
      values.push_back(std::to_string(Digits(type)));
      values.push_back("0");
    }
    auto metadata = field->metadata() ? field->metadata()->Copy() : std::make_shared<arrow::KeyValueMetadata>();
    for (size_t k = 0; k < keys.size(); ++k) metadata->Append(keys[k], values[k]);
    fields.push_back(field->WithMetadata(metadata));
  }
  return arrow::schema(std::move(fields), schema->metadata());
}

arrow::Result<std::shared_ptr<arrow::Schema>> ToArrowSchema(
    const duckdb::vector<duckdb::LogicalType>& types, const duckdb::vector<std::string>& names,
    duckdb::ClientProperties properties) {
  ArrowSchema c_schema;
  duckdb::ArrowConverter::ToArrowSchema(&c_schema, types, names, properties);
  ARROW_ASSIGN_OR_RAISE(auto schema, arrow::ImportSchema(&c_schema));
  return WithTypeMetadata(schema, types);
}

duckdb::vector<duckdb::LogicalType> KnownTypes(duckdb::vector<duckdb::LogicalType> types) {
  for (auto& type : types) {
    if (type.id() == duckdb::LogicalTypeId::UNKNOWN) type = duckdb::LogicalType::SQLNULL;
  }
  return types;
}

duckdb::vector<duckdb::LogicalType> AdvertisedParameterTypes(duckdb::vector<duckdb::LogicalType> types) {
  for (auto& type : types) {
    if (type.id() == duckdb::LogicalTypeId::UNKNOWN) type = duckdb::LogicalType::DOUBLE;
  }
  return types;
}

}  // namespace squadron::engine
