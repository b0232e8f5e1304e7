#include "flight/sql_info.h"

#include <arrow/array.h>
#include <arrow/type.h>
#include <gtest/gtest.h>

namespace squadron::flight {
namespace {

TEST(SqlInfoTest, SchemaMatchesTheProtocol) {
  const auto& schema = SqlInfoSchema();
  ASSERT_EQ(schema->num_fields(), 2);
  EXPECT_TRUE(schema->field(0)->type()->Equals(arrow::uint32()));
  EXPECT_FALSE(schema->field(0)->nullable());
  const auto& value = schema->field(1)->type();
  ASSERT_EQ(value->id(), arrow::Type::DENSE_UNION);
  const auto& u = static_cast<const arrow::UnionType&>(*value);
  ASSERT_EQ(u.num_fields(), 6);
  EXPECT_EQ(u.field(0)->name(), "string_value");
  EXPECT_EQ(u.field(3)->name(), "int32_bitmask");
  EXPECT_TRUE(u.field(3)->type()->Equals(arrow::int32()));
  EXPECT_EQ(u.type_codes(), (std::vector<int8_t>{0, 1, 2, 3, 4, 5}));
}

TEST(SqlInfoTest, ValuesLandInTheirUnionChild) {
  SqlInfoMap values;
  values[0] = std::string("Squadron");
  values[3] = true;
  values[8] = int32_t{1};
  values[100] = int64_t{7};
  values[508] = std::vector<std::string>{"a", "b"};
  values[517] = std::map<int32_t, std::vector<int32_t>>{{1, {2, 3}}};
  auto batch = MakeSqlInfoBatch(values, {});
  ASSERT_TRUE(batch.ok()) << batch.status();
  ASSERT_EQ((*batch)->num_rows(), 6);
  auto names = std::static_pointer_cast<arrow::UInt32Array>((*batch)->column(0));
  auto u = std::static_pointer_cast<arrow::DenseUnionArray>((*batch)->column(1));
  std::map<uint32_t, int8_t> child_of;
  for (int64_t i = 0; i < u->length(); ++i) child_of[names->Value(i)] = u->type_code(i);
  EXPECT_EQ(child_of[0], 0);
  EXPECT_EQ(child_of[3], 1);
  EXPECT_EQ(child_of[100], 2);
  EXPECT_EQ(child_of[8], 3);
  EXPECT_EQ(child_of[508], 4);
  EXPECT_EQ(child_of[517], 5);
  auto int32s = std::static_pointer_cast<arrow::Int32Array>(u->field(3));
  for (int64_t i = 0; i < u->length(); ++i) {
    if (names->Value(i) == 8) {
      EXPECT_EQ(int32s->Value(u->value_offset(i)), 1);
    }
  }
}

TEST(SqlInfoTest, RequestedSubsetSkipsUnknownIds) {
  SqlInfoMap values = MakeServerSqlInfo({"duckdb", "v1", true, 0, 0, {}});
  auto batch = MakeSqlInfoBatch(values, {8, 3, 99999});
  ASSERT_TRUE(batch.ok());
  ASSERT_EQ((*batch)->num_rows(), 2);
  auto names = std::static_pointer_cast<arrow::UInt32Array>((*batch)->column(0));
  EXPECT_EQ(names->Value(0), 8u);
  EXPECT_EQ(names->Value(1), 3u);
}

TEST(SqlInfoTest, ServerFacts) {
  SqlInfoMap values = MakeServerSqlInfo({"duckdb", "v1.4.4", true, 900000, 60000, {}});
  EXPECT_EQ(std::get<int32_t>(values.at(100)), 900000);
  EXPECT_EQ(std::get<std::string>(values.at(0)), "Squadron");
  EXPECT_NE(std::get<std::string>(values.at(1)).find("duckdb v1.4.4"), std::string::npos);
  EXPECT_TRUE(std::get<bool>(values.at(3)));
  // Transactions are announced through int32 child 3, as clients expect.
  EXPECT_EQ(values.at(8).index(), 3u);
}

TEST(SqlInfoTest, DialectFactsComeFromTheEngine) {
  // The defaults are DuckDB's answers.
  SqlInfoMap duckdb = MakeServerSqlInfo({"duckdb", "v1.4.4", false, 0, 0, {}});
  EXPECT_EQ(std::get<std::string>(duckdb.at(504)), "\"");
  EXPECT_EQ(std::get<int32_t>(duckdb.at(503)), 1);  // case-insensitive
  EXPECT_EQ(std::get<int32_t>(duckdb.at(507)), 3);  // NULLs at the end
  EXPECT_EQ(std::get<std::string>(duckdb.at(531)), "database");
  EXPECT_EQ(std::get<int32_t>(duckdb.at(8)), 1);  // transactions
  EXPECT_TRUE(std::get<bool>(duckdb.at(563)));
  EXPECT_EQ(std::get<int64_t>(duckdb.at(562)), 3);  // repeatable read

  engine::Dialect spark;
  spark.identifier_quote = "`";
  spark.identifier_case = engine::Dialect::IdentifierCase::kLowercase;
  spark.quoted_identifier_case = engine::Dialect::IdentifierCase::kLowercase;
  spark.null_ordering = engine::Dialect::NullOrdering::kSortedLow;
  spark.catalog_term = "catalog";
  spark.transactions = false;
  SqlInfoMap values = MakeServerSqlInfo({"spark", "4.3.0", false, 0, 0, spark});
  EXPECT_EQ(std::get<std::string>(values.at(504)), "`");
  EXPECT_EQ(std::get<int32_t>(values.at(503)), 3);  // lower case
  EXPECT_EQ(std::get<int32_t>(values.at(505)), 3);
  EXPECT_EQ(std::get<int32_t>(values.at(507)), 1);  // NULLs sorted low
  EXPECT_EQ(std::get<std::string>(values.at(531)), "catalog");
  EXPECT_EQ(std::get<int32_t>(values.at(8)), 0);  // SQL_SUPPORTED_TRANSACTION_NONE
  EXPECT_FALSE(std::get<bool>(values.at(11)));      // ingest transactions
  EXPECT_FALSE(std::get<bool>(values.at(563)));
  EXPECT_EQ(std::get<int64_t>(values.at(562)), 0);  // SQL_TRANSACTION_NONE
  EXPECT_EQ(std::get<int32_t>(values.at(564)), 1);  // only the level NONE
}

}  // namespace
}  // namespace squadron::flight
