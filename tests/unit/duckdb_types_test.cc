// The DuckDB -> Arrow type mapping as clients see it, through the engine
// adapter (the same path GetFlightInfo/DoGet use).
#include <arrow/array.h>
#include <arrow/type.h>
#include <gtest/gtest.h>

#include "engine/duckdb/duckdb_engine.h"

namespace squadron::engine {
namespace {

class DuckDbTypesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    DuckDbOptions options;
    options.init_sql = "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');";
    engine_ = OpenDuckDbEngine(options).ValueOrDie().release();
  }
  static void TearDownTestSuite() { delete engine_; }

  // The Arrow type of the single column `sql` returns.
  std::shared_ptr<arrow::DataType> TypeOf(const std::string& sql) {
    auto session = engine_->OpenSession({}).ValueOrDie();
    auto stream = session->Execute(sql, {}).ValueOrDie();
    EXPECT_EQ(stream->schema()->num_fields(), 1);
    auto batch = stream->Next().ValueOrDie();
    EXPECT_NE(batch, nullptr);
    EXPECT_TRUE(batch->schema()->Equals(*stream->schema()));
    EXPECT_TRUE(batch->ValidateFull().ok());
    // Describe (GetSchema) agrees with execution (GetFlightInfo).
    auto described = session->Prepare(sql).ValueOrDie().result_schema;
    EXPECT_TRUE(described->Equals(*stream->schema())) << described->ToString();
    return stream->schema()->field(0)->type();
  }

  static Engine* engine_;
};

Engine* DuckDbTypesTest::engine_ = nullptr;

TEST_F(DuckDbTypesTest, Integers) {
  EXPECT_TRUE(TypeOf("SELECT 1::TINYINT")->Equals(arrow::int8()));
  EXPECT_TRUE(TypeOf("SELECT 1::SMALLINT")->Equals(arrow::int16()));
  EXPECT_TRUE(TypeOf("SELECT 1::INTEGER")->Equals(arrow::int32()));
  EXPECT_TRUE(TypeOf("SELECT 1::BIGINT")->Equals(arrow::int64()));
  EXPECT_TRUE(TypeOf("SELECT 1::UTINYINT")->Equals(arrow::uint8()));
  EXPECT_TRUE(TypeOf("SELECT 1::USMALLINT")->Equals(arrow::uint16()));
  EXPECT_TRUE(TypeOf("SELECT 1::UINTEGER")->Equals(arrow::uint32()));
  EXPECT_TRUE(TypeOf("SELECT 1::UBIGINT")->Equals(arrow::uint64()));
  EXPECT_TRUE(TypeOf("SELECT 1::HUGEINT")->Equals(arrow::decimal128(38, 0)));
}

TEST_F(DuckDbTypesTest, NumbersAndText) {
  EXPECT_TRUE(TypeOf("SELECT true")->Equals(arrow::boolean()));
  EXPECT_TRUE(TypeOf("SELECT 1.5::FLOAT")->Equals(arrow::float32()));
  EXPECT_TRUE(TypeOf("SELECT 1.5::DOUBLE")->Equals(arrow::float64()));
  EXPECT_TRUE(TypeOf("SELECT 1.5::DECIMAL(18,3)")->Equals(arrow::decimal128(18, 3)));
  EXPECT_TRUE(TypeOf("SELECT 1.5::DECIMAL(4,1)")->Equals(arrow::decimal128(4, 1)));
  EXPECT_TRUE(TypeOf("SELECT 'x'")->Equals(arrow::utf8()));
  EXPECT_TRUE(TypeOf("SELECT 'x'::BLOB")->Equals(arrow::binary()));
  EXPECT_TRUE(TypeOf("SELECT uuid()")->Equals(arrow::utf8()));
}

TEST_F(DuckDbTypesTest, Temporal) {
  EXPECT_TRUE(TypeOf("SELECT DATE '2024-01-02'")->Equals(arrow::date32()));
  EXPECT_TRUE(TypeOf("SELECT TIME '01:02:03'")->Equals(arrow::time64(arrow::TimeUnit::MICRO)));
  EXPECT_TRUE(TypeOf("SELECT TIMESTAMP '2024-01-02 03:04:05'")
                  ->Equals(arrow::timestamp(arrow::TimeUnit::MICRO)));
  auto tz = TypeOf("SELECT TIMESTAMPTZ '2024-01-02 03:04:05+00'");
  ASSERT_EQ(tz->id(), arrow::Type::TIMESTAMP);
  EXPECT_FALSE(static_cast<const arrow::TimestampType&>(*tz).timezone().empty());
  EXPECT_TRUE(TypeOf("SELECT INTERVAL 1 DAY")->Equals(arrow::month_day_nano_interval()));
}

TEST_F(DuckDbTypesTest, Nested) {
  auto list = TypeOf("SELECT [1, 2]");
  ASSERT_EQ(list->id(), arrow::Type::LIST);
  EXPECT_TRUE(list->field(0)->type()->Equals(arrow::int32()));
  auto st = TypeOf("SELECT {'a': 1, 'b': 'x'}");
  ASSERT_EQ(st->id(), arrow::Type::STRUCT);
  EXPECT_EQ(st->field(1)->name(), "b");
  auto map = TypeOf("SELECT MAP {'k': 1}");
  ASSERT_EQ(map->id(), arrow::Type::MAP);
  auto e = TypeOf("SELECT 'ok'::mood");
  ASSERT_EQ(e->id(), arrow::Type::DICTIONARY);
  EXPECT_TRUE(static_cast<const arrow::DictionaryType&>(*e).value_type()->Equals(arrow::utf8()));
}

TEST_F(DuckDbTypesTest, BatchesRespectBatchRows) {
  DuckDbOptions options;
  options.batch_rows = 4096;
  auto engine = OpenDuckDbEngine(options).ValueOrDie();
  auto session = engine->OpenSession({}).ValueOrDie();
  auto stream = session->Execute("SELECT range AS i FROM range(10000)", {}).ValueOrDie();
  int64_t total = 0;
  while (auto batch = stream->Next().ValueOrDie()) {
    EXPECT_LE(batch->num_rows(), 4096);
    total += batch->num_rows();
  }
  EXPECT_EQ(total, 10000);
}

TEST_F(DuckDbTypesTest, WideRowsGetSmallerBatches) {
  DuckDbOptions options;
  options.batch_bytes = 1 << 20;  // 1 MiB; each row is ~1 KiB of text
  auto engine = OpenDuckDbEngine(options).ValueOrDie();
  auto session = engine->OpenSession({}).ValueOrDie();
  auto stream = session->Execute("SELECT repeat('x', 1000) AS s FROM range(100000)", {}).ValueOrDie();
  int64_t batches = 0;
  int64_t total = 0;
  while (auto batch = stream->Next().ValueOrDie()) {
    if (++batches > 1) {
      EXPECT_LE(batch->num_rows(), 2048);  // after the first, fitted to ~1 MiB
    }
    total += batch->num_rows();
  }
  EXPECT_EQ(total, 100000);
  EXPECT_GE(batches, 100000 / 2048);  // never more than one 2048-row vector over 1 MiB
}

TEST_F(DuckDbTypesTest, SqlErrorsAreInvalidWithDuckDbsMessage) {
  auto session = engine_->OpenSession({}).ValueOrDie();
  auto missing = session->Execute("SELECT * FROM no_such_table", {});
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(missing.status().IsInvalid());
  EXPECT_NE(missing.status().message().find("no_such_table"), std::string::npos);
  auto syntax = session->Execute("SELEC 1", {});
  ASSERT_FALSE(syntax.ok());
  EXPECT_TRUE(syntax.status().IsInvalid());
  EXPECT_NE(syntax.status().message().find("syntax error"), std::string::npos);
}

TEST_F(DuckDbTypesTest, ReadOnlyRefusesWrites) {
  DuckDbOptions options;
  options.read_only = true;
  options.init_sql = "CREATE TABLE t AS SELECT 1 AS x; CREATE SEQUENCE seq";
  auto engine = OpenDuckDbEngine(options).ValueOrDie();
  auto session = engine->OpenSession({}).ValueOrDie();
  EXPECT_TRUE(session->Execute("SELECT * FROM t", {}).ok());
  for (const char* write : {"INSERT INTO t VALUES (2)", "CREATE TABLE u (x INT)", "DROP TABLE t",
                            "COPY t TO '/tmp/squadron-should-not-exist.csv'",
                            "CREATE TEMP TABLE tt (x INT)"}) {
    auto r = session->ExecuteUpdate(write, {});
    ASSERT_FALSE(r.ok()) << write;
    EXPECT_NE(r.status().message().find("read-only"), std::string::npos) << r.status();
  }
  // A query that writes (nextval advances a sequence) is refused too, also
  // when a client prepared it first and when it prepared it twice.
  for (int i = 0; i < 3; ++i) {
    if (i > 0) (void)session->Prepare("SELECT nextval('seq')");
    auto r = session->Execute("SELECT nextval('seq')", {});
    ASSERT_FALSE(r.ok()) << "run " << i;
    EXPECT_NE(r.status().message().find("read-only"), std::string::npos) << r.status();
  }
}

TEST_F(DuckDbTypesTest, ExecuteUpdateCountsRows) {
  auto session = engine_->OpenSession({}).ValueOrDie();
  ASSERT_EQ(*session->ExecuteUpdate("CREATE OR REPLACE TABLE counted (x INT)", {}), 0);
  EXPECT_EQ(*session->ExecuteUpdate("INSERT INTO counted SELECT * FROM range(7)", {}), 7);
  EXPECT_EQ(*session->ExecuteUpdate("DELETE FROM counted WHERE x < 3", {}), 3);
}

}  // namespace
}  // namespace squadron::engine
