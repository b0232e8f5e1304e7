// DuckDB's SQL types as JDBC's getTypeInfo (Flight SQL CommandGetXdbcTypeInfo)
// describes them, with java.sql.Types codes.
#include <algorithm>

#include "engine/duckdb/duckdb_internal.h"

namespace squadron::engine {

namespace {

// java.sql.Types codes (the XDBC enum of the protocol where it has one).
enum JdbcType : int32_t {
  kBit = -7, kTinyInt = -6, kBigInt = -5, kVarBinary = -3, kChar = 1, kNumeric = 2, kDecimal = 3,
  kInteger = 4, kSmallInt = 5, kFloat = 6, kReal = 7, kDouble = 8, kDateTime = 9, kInterval = 10,
  kVarChar = 12, kBoolean = 16, kDate = 91, kTime = 92, kTimestamp = 93, kOther = 1111,
  kStruct = 2002, kArray = 2003, kTimeWithTimeZone = 2013, kTimestampWithTimeZone = 2014,
};

// Datetime sub-codes of the protocol's XdbcDatetimeSubcode enum.
enum Subcode : int32_t { kSubDate = 1, kSubTime = 2, kSubTimestamp = 3, kSubTimeTz = 4, kSubTimestampTz = 5 };

constexpr int32_t kSearchable = 3;       // usable in WHERE with any operator
constexpr int32_t kAllExceptLike = 2;

SqlTypeInfo Exact(const char* name, int32_t type, int32_t digits, bool is_unsigned) {
  SqlTypeInfo t;
  t.name = name;
  t.data_type = type;
  t.column_size = digits;
  t.searchable = kAllExceptLike;
  t.unsigned_attribute = is_unsigned;
  t.minimum_scale = 0;
  t.maximum_scale = 0;
  t.sql_data_type = type;
  t.num_prec_radix = 10;
  return t;
}

SqlTypeInfo Approximate(const char* name, int32_t type, int32_t bits) {
  SqlTypeInfo t;
  t.name = name;
  t.data_type = type;
  t.column_size = bits;
  t.searchable = kAllExceptLike;
  t.unsigned_attribute = false;
  t.sql_data_type = type;
  t.num_prec_radix = 2;
  return t;
}

SqlTypeInfo Temporal(const char* name, int32_t type, int32_t chars, const char* prefix, int32_t subcode) {
  SqlTypeInfo t;
  t.name = name;
  t.data_type = type;
  t.column_size = chars;
  t.literal_prefix = std::string(prefix) + " '";
  t.literal_suffix = "'";
  t.searchable = kAllExceptLike;
  t.sql_data_type = kDateTime;
  t.datetime_subcode = subcode;
  return t;
}

SqlTypeInfo Other(const char* name, int32_t type, bool quoted = false) {
  SqlTypeInfo t;
  t.name = name;
  t.data_type = type;
  if (quoted) {
    t.literal_prefix = "'";
    t.literal_suffix = "'";
  }
  t.searchable = kAllExceptLike;
  t.sql_data_type = type;
  return t;
}

}  // namespace

std::vector<SqlTypeInfo> DuckDbSqlTypes() {
  std::vector<SqlTypeInfo> types = {
      Exact("TINYINT", kTinyInt, 3, false),
      Exact("SMALLINT", kSmallInt, 5, false),
      Exact("INTEGER", kInteger, 10, false),
      Exact("BIGINT", kBigInt, 19, false),
      Exact("HUGEINT", kDecimal, 39, false),
      Exact("UTINYINT", kSmallInt, 3, true),
      Exact("USMALLINT", kInteger, 5, true),
      Exact("UINTEGER", kBigInt, 10, true),
      Exact("UBIGINT", kDecimal, 20, true),
      Exact("UHUGEINT", kDecimal, 39, true),
      Approximate("FLOAT", kReal, 24),
      Approximate("DOUBLE", kDouble, 53),
      Temporal("DATE", kDate, 10, "DATE", kSubDate),
      Temporal("TIME", kTime, 15, "TIME", kSubTime),
      Temporal("TIME_NS", kTime, 18, "TIME_NS", kSubTime),
      Temporal("TIME WITH TIME ZONE", kTimeWithTimeZone, 21, "TIMETZ", kSubTimeTz),
      Temporal("TIMESTAMP", kTimestamp, 26, "TIMESTAMP", kSubTimestamp),
      Temporal("TIMESTAMP_S", kTimestamp, 19, "TIMESTAMP_S", kSubTimestamp),
      Temporal("TIMESTAMP_MS", kTimestamp, 23, "TIMESTAMP_MS", kSubTimestamp),
      Temporal("TIMESTAMP_NS", kTimestamp, 29, "TIMESTAMP_NS", kSubTimestamp),
      Temporal("TIMESTAMP WITH TIME ZONE", kTimestampWithTimeZone, 32, "TIMESTAMPTZ", kSubTimestampTz),
      Other("BOOLEAN", kBoolean),
      Other("BLOB", kVarBinary, /*quoted=*/true),
      Other("BIT", kOther, /*quoted=*/true),
      Other("INTERVAL", kInterval),
      Other("UUID", kVarChar, /*quoted=*/true),
      Other("ENUM", kVarChar, /*quoted=*/true),
      Other("LIST", kArray),
      Other("STRUCT", kStruct),
      Other("MAP", kOther),
      Other("UNION", kOther),
      Other("VARIANT", kOther),
      Other("BIGNUM", kNumeric),
  };
  SqlTypeInfo decimal = Exact("DECIMAL", kDecimal, 38, false);
  decimal.create_params = {"precision", "scale"};
  decimal.maximum_scale = 38;
  types.push_back(decimal);
  SqlTypeInfo varchar = Other("VARCHAR", kVarChar, /*quoted=*/true);
  varchar.case_sensitive = true;
  varchar.searchable = kSearchable;
  types.push_back(varchar);
  for (auto& t : types) {
    if (t.name == "UUID" || t.name == "ENUM") t.searchable = kSearchable;
    if (t.data_type == kArray || t.data_type == kStruct) t.searchable = 0;
  }
  std::sort(types.begin(), types.end(), [](const SqlTypeInfo& a, const SqlTypeInfo& b) {
    return a.data_type != b.data_type ? a.data_type < b.data_type : a.name < b.name;
  });
  return types;
}

}  // namespace squadron::engine
