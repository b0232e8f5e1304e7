// DuckDB errors and types as the rest of Squadron sees them.
#include <arrow/c/bridge.h>
#include <arrow/type.h>

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

arrow::Result<std::shared_ptr<arrow::Schema>> ToArrowSchema(
    const duckdb::vector<duckdb::LogicalType>& types, const duckdb::vector<std::string>& names,
    duckdb::ClientProperties properties) {
  ArrowSchema c_schema;
  duckdb::ArrowConverter::ToArrowSchema(&c_schema, types, names, properties);
  return arrow::ImportSchema(&c_schema);
}

duckdb::vector<duckdb::LogicalType> KnownTypes(duckdb::vector<duckdb::LogicalType> types) {
  for (auto& type : types) {
    if (type.id() == duckdb::LogicalTypeId::UNKNOWN) type = duckdb::LogicalType::SQLNULL;
  }
  return types;
}

}  // namespace squadron::engine
