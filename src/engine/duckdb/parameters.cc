// Parameter sets: Arrow batches from clients bound to DuckDB statements.
#include <algorithm>

#include <arrow/array.h>
#include <arrow/record_batch.h>
#include <arrow/type.h>
#include <arrow/util/decimal.h>

#include "common/status.h"
#include "duckdb/main/prepared_statement_data.hpp"
#include "engine/duckdb/duckdb_internal.h"

namespace squadron::engine {

namespace {

using duckdb::Value;

// Converts a time value to microseconds; Invalid when it does not fit.
arrow::Result<int64_t> ToMicros(int64_t value, arrow::TimeUnit::type unit) {
  int64_t factor = 1;
  switch (unit) {
    case arrow::TimeUnit::SECOND:
      factor = 1000000;
      break;
    case arrow::TimeUnit::MILLI:
      factor = 1000;
      break;
    case arrow::TimeUnit::MICRO:
      return value;
    case arrow::TimeUnit::NANO:
      return value / 1000;
  }
  int64_t micros = 0;
  if (__builtin_mul_overflow(value, factor, &micros)) {
    return InvalidArgument("time value ", value, " (", unit,
                           ") is out of range for microseconds");
  }
  return micros;
}

duckdb::hugeint_t ToHugeint(const arrow::Decimal128& d) {
  duckdb::hugeint_t h;
  h.lower = d.low_bits();
  h.upper = d.high_bits();
  return h;
}

arrow::Result<Value> Convert(const arrow::Array& array, int64_t row);

arrow::Result<Value> ConvertList(const arrow::Array& values, int64_t offset, int64_t length) {
  duckdb::vector<Value> items;
  for (int64_t i = 0; i < length; ++i) {
    ARROW_ASSIGN_OR_RAISE(auto item, Convert(values, offset + i));
    items.push_back(std::move(item));
  }
  if (items.empty()) {
    // An empty list needs its element type; a NULL of the child gives it.
    ARROW_ASSIGN_OR_RAISE(auto typed_null, Convert(*arrow::MakeArrayOfNull(values.type(), 1).ValueOrDie(), 0));
    return Value::LIST(typed_null.type(), {});
  }
  return Value::LIST(std::move(items));
}

arrow::Result<Value> Convert(const arrow::Array& array, int64_t row) {
  const bool null = array.IsNull(row);
  switch (array.type_id()) {
    case arrow::Type::NA:
      return Value();
    case arrow::Type::BOOL:
      return null ? Value(duckdb::LogicalType::BOOLEAN)
                  : Value::BOOLEAN(static_cast<const arrow::BooleanArray&>(array).Value(row));
#define SQUADRON_INT_CASE(ARROW_TYPE, ARRAY, DUCK_TYPE, MAKE)                                    \
  case arrow::Type::ARROW_TYPE:                                                                  \
    return null ? Value(duckdb::LogicalType::DUCK_TYPE)                                         \
                : Value::MAKE(static_cast<const arrow::ARRAY&>(array).Value(row));
      SQUADRON_INT_CASE(INT8, Int8Array, TINYINT, TINYINT)
      SQUADRON_INT_CASE(INT16, Int16Array, SMALLINT, SMALLINT)
      SQUADRON_INT_CASE(INT32, Int32Array, INTEGER, INTEGER)
      SQUADRON_INT_CASE(INT64, Int64Array, BIGINT, BIGINT)
      SQUADRON_INT_CASE(UINT8, UInt8Array, UTINYINT, UTINYINT)
      SQUADRON_INT_CASE(UINT16, UInt16Array, USMALLINT, USMALLINT)
      SQUADRON_INT_CASE(UINT32, UInt32Array, UINTEGER, UINTEGER)
      SQUADRON_INT_CASE(UINT64, UInt64Array, UBIGINT, UBIGINT)
      SQUADRON_INT_CASE(FLOAT, FloatArray, FLOAT, FLOAT)
      SQUADRON_INT_CASE(DOUBLE, DoubleArray, DOUBLE, DOUBLE)
#undef SQUADRON_INT_CASE
    case arrow::Type::DECIMAL128: {
      const auto& type = static_cast<const arrow::Decimal128Type&>(*array.type());
      if (type.precision() > 38 || type.scale() < 0) {
        return InvalidArgument("decimal128(", type.precision(), ", ", type.scale(),
                               ") does not fit DuckDB's DECIMAL (precision up to 38)");
      }
      const auto width = static_cast<uint8_t>(type.precision());
      const auto scale = static_cast<uint8_t>(type.scale());
      if (null) return Value(duckdb::LogicalType::DECIMAL(width, scale));
      arrow::Decimal128 d(static_cast<const arrow::Decimal128Array&>(array).GetValue(row));
      return Value::DECIMAL(ToHugeint(d), width, scale);
    }
    case arrow::Type::STRING:
    case arrow::Type::LARGE_STRING:
    case arrow::Type::STRING_VIEW: {
      if (null) return Value(duckdb::LogicalType::VARCHAR);
      std::string s;
      if (array.type_id() == arrow::Type::STRING) {
        s = static_cast<const arrow::StringArray&>(array).GetString(row);
      } else if (array.type_id() == arrow::Type::LARGE_STRING) {
        s = static_cast<const arrow::LargeStringArray&>(array).GetString(row);
      } else {
        s = std::string(static_cast<const arrow::StringViewArray&>(array).GetView(row));
      }
      return Value(s);
    }
    case arrow::Type::BINARY:
    case arrow::Type::LARGE_BINARY:
    case arrow::Type::FIXED_SIZE_BINARY: {
      if (null) return Value(duckdb::LogicalType::BLOB);
      std::string_view view =
          array.type_id() == arrow::Type::BINARY
              ? static_cast<const arrow::BinaryArray&>(array).GetView(row)
              : array.type_id() == arrow::Type::LARGE_BINARY
                    ? static_cast<const arrow::LargeBinaryArray&>(array).GetView(row)
                    : static_cast<const arrow::FixedSizeBinaryArray&>(array).GetView(row);
      return Value::BLOB(reinterpret_cast<duckdb::const_data_ptr_t>(view.data()), view.size());
    }
    case arrow::Type::DATE32:
      return null ? Value(duckdb::LogicalType::DATE)
                  : Value::DATE(duckdb::date_t(static_cast<const arrow::Date32Array&>(array).Value(row)));
    case arrow::Type::DATE64:
      return null ? Value(duckdb::LogicalType::DATE)
                  : Value::DATE(duckdb::date_t(static_cast<int32_t>(
                        static_cast<const arrow::Date64Array&>(array).Value(row) / 86400000)));
    case arrow::Type::TIME32:
    case arrow::Type::TIME64: {
      if (null) return Value(duckdb::LogicalType::TIME);
      const auto unit = static_cast<const arrow::TimeType&>(*array.type()).unit();
      const int64_t raw = array.type_id() == arrow::Type::TIME32
                              ? static_cast<const arrow::Time32Array&>(array).Value(row)
                              : static_cast<const arrow::Time64Array&>(array).Value(row);
      ARROW_ASSIGN_OR_RAISE(const int64_t micros, ToMicros(raw, unit));
      return Value::TIME(duckdb::dtime_t(micros));
    }
    case arrow::Type::TIMESTAMP: {
      const auto& type = static_cast<const arrow::TimestampType&>(*array.type());
      const bool tz = !type.timezone().empty();
      if (null) return Value(tz ? duckdb::LogicalType::TIMESTAMP_TZ : duckdb::LogicalType::TIMESTAMP);
      ARROW_ASSIGN_OR_RAISE(const int64_t micros,
                            ToMicros(static_cast<const arrow::TimestampArray&>(array).Value(row), type.unit()));
      return tz ? Value::TIMESTAMPTZ(duckdb::timestamp_tz_t(micros))
                : Value::TIMESTAMP(duckdb::timestamp_t(micros));
    }
    case arrow::Type::INTERVAL_MONTH_DAY_NANO: {
      if (null) return Value(duckdb::LogicalType::INTERVAL);
      const auto v = static_cast<const arrow::MonthDayNanoIntervalArray&>(array).GetValue(row);
      return Value::INTERVAL(v.months, v.days, v.nanoseconds / 1000);
    }
    case arrow::Type::DENSE_UNION:
    case arrow::Type::SPARSE_UNION: {
      // The value is the chosen child's; a union has no nulls of its own.
      const auto& un = static_cast<const arrow::UnionArray&>(array);
      const int child = un.child_id(row);
      // A sparse union's field() is already sliced to the union's rows.
      const int64_t index = array.type_id() == arrow::Type::DENSE_UNION
                                ? static_cast<const arrow::DenseUnionArray&>(array).value_offset(row)
                                : row;
      return Convert(*un.field(child), index);
    }
    case arrow::Type::DICTIONARY: {
      const auto& dict = static_cast<const arrow::DictionaryArray&>(array);
      if (null) return Convert(*arrow::MakeArrayOfNull(dict.dictionary()->type(), 1).ValueOrDie(), 0);
      return Convert(*dict.dictionary(), dict.GetValueIndex(row));
    }
    case arrow::Type::LIST: {
      const auto& list = static_cast<const arrow::ListArray&>(array);
      ARROW_ASSIGN_OR_RAISE(auto empty, ConvertList(*list.values(), 0, 0));
      if (null) return Value(empty.type());
      return ConvertList(*list.values(), list.value_offset(row), list.value_length(row));
    }
    case arrow::Type::STRUCT: {
      const auto& st = static_cast<const arrow::StructArray&>(array);
      duckdb::child_list_t<Value> children;
      for (int i = 0; i < st.num_fields(); ++i) {
        ARROW_ASSIGN_OR_RAISE(auto child, Convert(*st.field(i), row));
        children.emplace_back(st.type()->field(i)->name(), std::move(child));
      }
      auto value = Value::STRUCT(std::move(children));
      return null ? Value(value.type()) : value;
    }
    default:
      return InvalidArgument("Arrow type ", array.type()->ToString(),
                             " is not supported as a parameter value");
  }
}

}  // namespace

ParameterSpec DescribeParameters(duckdb::PreparedStatement& prepared) {
  std::vector<std::pair<duckdb::idx_t, std::string>> ordered;
  for (const auto& [identifier, index] : prepared.named_param_map) ordered.emplace_back(index, identifier);
  std::sort(ordered.begin(), ordered.end());
  const auto expected = prepared.GetExpectedParameterTypes();
  ParameterSpec spec;
  for (const auto& [index, identifier] : ordered) {
    spec.identifiers.push_back(identifier);
    auto it = expected.find(identifier);
    spec.types.push_back(it == expected.end() ? duckdb::LogicalType::UNKNOWN : it->second);
  }
  return spec;
}

arrow::Status CheckParameterBatch(const ParameterSpec& spec, const arrow::RecordBatch& batch) {
  const auto expected = static_cast<int>(spec.identifiers.size());
  if (batch.num_columns() != expected) {
    return InvalidArgument("Parameter batch has ", batch.num_columns(), " field(s) (",
                           batch.schema()->ToString(/*show_metadata=*/false),
                           ") but the statement takes ", expected, " parameter(s)");
  }
  return arrow::Status::OK();
}

arrow::Result<duckdb::case_insensitive_map_t<duckdb::BoundParameterData>> BindRow(
    const ParameterSpec& spec, const arrow::RecordBatch& batch, int64_t row) {
  duckdb::case_insensitive_map_t<duckdb::BoundParameterData> values;
  for (size_t i = 0; i < spec.identifiers.size(); ++i) {
    const auto& field = batch.schema()->field(static_cast<int>(i));
    auto value = ArrowCellToValue(*batch.column(static_cast<int>(i)), row);
    if (!value.ok()) {
      return InvalidArgument("Parameter field '", field->name(), "' (parameter ", i + 1,
                             "): ", value.status().message());
    }
    const auto& target = spec.types[i];
    if (target.id() != duckdb::LogicalTypeId::UNKNOWN && target.id() != duckdb::LogicalTypeId::ANY &&
        value->type() != target) {
      duckdb::Value cast;
      std::string error;
      if (!value->DefaultTryCastAs(target, cast, &error, /*strict=*/false)) {
        return InvalidArgument("Parameter field '", field->name(), "' (parameter ", i + 1,
                               "): cannot use ", value->type().ToString(), " value ",
                               value->ToSQLString(), " as ", target.ToString(),
                               error.empty() ? "" : ": ", error);
      }
      *value = std::move(cast);
    }
    values.emplace(spec.identifiers[i], duckdb::BoundParameterData(std::move(*value)));
  }
  return values;
}

arrow::Result<duckdb::Value> ArrowCellToValue(const arrow::Array& array, int64_t row) {
  try {
    return Convert(array, row);
  } catch (const std::exception& e) {
    return InvalidArgument("Cannot convert a ", array.type()->ToString(), " parameter: ", e.what());
  }
}

}  // namespace squadron::engine
