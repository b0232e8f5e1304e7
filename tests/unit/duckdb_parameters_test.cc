// Prepared statements and parameter sets through the DuckDB adapter.
#include <algorithm>

#include <arrow/api.h>
#include <arrow/json/from_string.h>
#include <gtest/gtest.h>

#include "engine/duckdb/duckdb_engine.h"
#include "engine/duckdb/duckdb_internal.h"

namespace squadron::engine {
namespace {

std::shared_ptr<arrow::RecordBatch> Batch(const std::string& json_ints, const std::string& json_strings) {
  auto schema = arrow::schema({arrow::field("n", arrow::int64()), arrow::field("s", arrow::utf8())});
  auto ints = arrow::json::ArrayFromJSONString(arrow::int64(), json_ints);
  auto strings = arrow::json::ArrayFromJSONString(arrow::utf8(), json_strings);
  if (!ints.ok() || !strings.ok()) return nullptr;
  return arrow::RecordBatch::Make(schema, (*ints)->length(), {*ints, *strings});
}

class DuckDbParametersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    engine_ = OpenDuckDbEngine({}).ValueOrDie();
    session_ = engine_->OpenSession({}).ValueOrDie();
    ASSERT_TRUE(session_->ExecuteUpdate("CREATE TABLE t (n BIGINT PRIMARY KEY, s VARCHAR)", {}).ok());
  }

  int64_t Count() {
    auto stream = session_->Execute("SELECT count(*) FROM t", {}).ValueOrDie();
    auto batch = stream->Next().ValueOrDie();
    return std::static_pointer_cast<arrow::Int64Array>(batch->column(0))->Value(0);
  }

  std::unique_ptr<Engine> engine_;
  std::unique_ptr<Session> session_;
};

TEST_F(DuckDbParametersTest, PrepareDescribesResultAndParameters) {
  auto d = session_->Prepare("SELECT n, s FROM t WHERE n > ? AND s = ?").ValueOrDie();
  EXPECT_TRUE(d.is_query);
  EXPECT_EQ(d.result_schema->ToString(), "n: int64\ns: string");
  ASSERT_EQ(d.parameter_schema->num_fields(), 2);
  EXPECT_TRUE(d.parameter_schema->field(0)->type()->Equals(arrow::int64()));
  EXPECT_TRUE(d.parameter_schema->field(1)->type()->Equals(arrow::utf8()));
  auto update = session_->Prepare("INSERT INTO t VALUES (?, ?)").ValueOrDie();
  EXPECT_FALSE(update.is_query);
  auto untyped = session_->Prepare("SELECT ?").ValueOrDie();
  // An untyped parameter is advertised as float64, which every JDBC numeric setter binds.
  EXPECT_TRUE(untyped.parameter_schema->field(0)->type()->Equals(arrow::float64()));
}

TEST_F(DuckDbParametersTest, UpdateRunsOncePerRowAndSumsCounts) {
  auto count = session_->ExecuteUpdate("INSERT INTO t VALUES (?, ?)",
                                       {Batch("[1, 2]", "[\"a\", null]"), Batch("[3]", "[\"c\"]")});
  ASSERT_TRUE(count.ok()) << count.status();
  EXPECT_EQ(*count, 3);
  EXPECT_EQ(Count(), 3);
}

TEST_F(DuckDbParametersTest, FailingRowUndoesTheWholeBatch) {
  ASSERT_TRUE(session_->ExecuteUpdate("INSERT INTO t VALUES (2, 'existing')", {}).ok());
  auto count = session_->ExecuteUpdate("INSERT INTO t VALUES (?, ?)", {Batch("[1, 2, 3]", "[\"a\", \"b\", \"c\"]")});
  ASSERT_FALSE(count.ok());
  EXPECT_TRUE(count.status().IsInvalid());
  EXPECT_NE(count.status().message().find("Duplicate key"), std::string::npos) << count.status();
  EXPECT_EQ(Count(), 1);
}

TEST_F(DuckDbParametersTest, QueryOverManyRowsConcatenatesResults) {
  ASSERT_TRUE(session_->ExecuteUpdate("INSERT INTO t SELECT range, 'v' || range FROM range(10)", {}).ok());
  auto stream = session_->Execute("SELECT n FROM t WHERE n >= ? AND s <> ? ORDER BY n",
                                  {Batch("[7, 8]", "[\"v7\", \"x\"]")});
  ASSERT_TRUE(stream.ok()) << stream.status();
  std::vector<int64_t> got;
  while (auto batch = (*stream)->Next().ValueOrDie()) {
    auto n = std::static_pointer_cast<arrow::Int64Array>(batch->column(0));
    for (int64_t i = 0; i < n->length(); ++i) got.push_back(n->Value(i));
  }
  EXPECT_EQ(got, (std::vector<int64_t>{8, 9, 8, 9}));
}

// Reads column 0 (BIGINT) of every batch until the end or an error.
arrow::Status ReadInts(ResultStream& stream, std::vector<int64_t>* out) {
  while (true) {
    ARROW_ASSIGN_OR_RAISE(auto batch, stream.Next());
    if (batch == nullptr) return arrow::Status::OK();
    auto n = std::static_pointer_cast<arrow::Int64Array>(batch->column(0));
    for (int64_t i = 0; i < n->length(); ++i) out->push_back(n->Value(i));
  }
}

TEST_F(DuckDbParametersTest, LargeSetsStreamInTableOrderOneAfterTheOther) {
  // Several row groups, so DuckDB scans them on several threads and its
  // threads convert the rows to Arrow out of order.
  ASSERT_TRUE(session_->ExecuteUpdate("INSERT INTO t SELECT range, 'v' || range FROM range(400000)", {}).ok());
  auto stream = session_->Execute("SELECT n FROM t WHERE n >= ? AND s <> ?",
                                  {Batch("[0, 399990, 1000000]", "[\"x\", \"x\", \"x\"]")});
  ASSERT_TRUE(stream.ok()) << stream.status();
  EXPECT_EQ((*stream)->schema()->ToString(), "n: int64");
  std::vector<int64_t> got;
  ASSERT_TRUE(ReadInts(**stream, &got).ok());
  std::vector<int64_t> want;
  for (int64_t i = 0; i < 400000; ++i) want.push_back(i);
  for (int64_t i = 399990; i < 400000; ++i) want.push_back(i);
  ASSERT_EQ(got.size(), want.size());
  EXPECT_TRUE(got == want) << "rows of a set out of order, or sets interleaved";

  // A set failing half-way through its rows ends the stream with its error,
  // after the earlier sets' rows; the session runs the next statement.
  stream = session_->Execute("SELECT CASE WHEN n = ? THEN error('bad row ' || n) ELSE n END FROM t WHERE s <> ?",
                             {Batch("[-1, 300000]", "[\"x\", \"x\"]")});
  ASSERT_TRUE(stream.ok()) << stream.status();
  got.clear();
  auto status = ReadInts(**stream, &got);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("bad row 300000"), std::string::npos) << status;
  EXPECT_GE(got.size(), 400000u);
  EXPECT_TRUE(std::equal(want.begin(), want.begin() + 400000, got.begin()));
  stream->reset();
  EXPECT_EQ(Count(), 400000);
}

TEST_F(DuckDbParametersTest, WrongFieldCountIsInvalid) {
  auto one = arrow::RecordBatch::Make(arrow::schema({arrow::field("only", arrow::int64())}), 1,
                                      {arrow::json::ArrayFromJSONString(arrow::int64(), "[1]").ValueOrDie()});
  auto r = session_->ExecuteUpdate("INSERT INTO t VALUES (?, ?)", {one});
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsInvalid());
  EXPECT_NE(r.status().message().find("1 field(s)"), std::string::npos) << r.status();
  EXPECT_NE(r.status().message().find("takes 2 parameter(s)"), std::string::npos);
}

TEST_F(DuckDbParametersTest, UncastableValueNamesTheField) {
  auto schema = arrow::schema({arrow::field("id", arrow::utf8()), arrow::field("label", arrow::utf8())});
  auto batch = arrow::RecordBatch::Make(
      schema, 1,
      {arrow::json::ArrayFromJSONString(arrow::utf8(), "[\"not a number\"]").ValueOrDie(),
       arrow::json::ArrayFromJSONString(arrow::utf8(), "[\"x\"]").ValueOrDie()});
  auto r = session_->ExecuteUpdate("INSERT INTO t VALUES (?, ?)", {batch});
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsInvalid());
  EXPECT_NE(r.status().message().find("'id'"), std::string::npos) << r.status();
  EXPECT_EQ(Count(), 0);
}

TEST_F(DuckDbParametersTest, TypedValuesRoundTrip) {
  auto schema = arrow::schema({arrow::field("d", arrow::decimal128(10, 2)), arrow::field("day", arrow::date32()),
                               arrow::field("ts", arrow::timestamp(arrow::TimeUnit::MICRO)),
                               arrow::field("f", arrow::float64()), arrow::field("b", arrow::boolean())});
  auto batch = arrow::RecordBatch::Make(
      schema, 2,
      {arrow::json::ArrayFromJSONString(arrow::decimal128(10, 2), "[\"12.34\", null]").ValueOrDie(),
       arrow::json::ArrayFromJSONString(arrow::date32(), "[19782, null]").ValueOrDie(),
       arrow::json::ArrayFromJSONString(arrow::timestamp(arrow::TimeUnit::MICRO), "[1709210096000000, null]").ValueOrDie(),
       arrow::json::ArrayFromJSONString(arrow::float64(), "[2.5, null]").ValueOrDie(),
       arrow::json::ArrayFromJSONString(arrow::boolean(), "[true, null]").ValueOrDie()});
  auto stream = session_->Execute("SELECT ?::VARCHAR || '|' || ?::VARCHAR || '|' || ?::VARCHAR || '|' || ?::VARCHAR || '|' || ?::VARCHAR AS v", {batch});
  ASSERT_TRUE(stream.ok()) << stream.status();
  std::vector<std::string> got;
  while (auto b = (*stream)->Next().ValueOrDie()) {
    auto v = std::static_pointer_cast<arrow::StringArray>(b->column(0));
    for (int64_t i = 0; i < v->length(); ++i) got.push_back(v->IsNull(i) ? "NULL" : v->GetString(i));
  }
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0], "12.34|2024-02-29|2024-02-29 12:34:56|2.5|true");
  EXPECT_EQ(got[1], "NULL");
}

}  // namespace
}  // namespace squadron::engine

namespace squadron::engine {
namespace {

TEST(StatementLimitsTest, CountsCommonTableExpressionsFromTokens) {
  EXPECT_EQ(CountCommonTableExpressions("SELECT 1"), 0u);
  EXPECT_EQ(CountCommonTableExpressions("WITH a AS (SELECT 1), b AS MATERIALIZED (SELECT 2), "
                                        "c AS NOT MATERIALIZED (SELECT 3) SELECT * FROM a, b, c"),
            3u);
  // Text inside strings and comments, and AS without a parenthesis, are not CTEs.
  EXPECT_EQ(CountCommonTableExpressions("SELECT 'x AS (' AS y -- z AS (\n FROM t AS u"), 0u);
  DuckDbOptions options;
  options.max_statement_ctes = 2;
  EXPECT_TRUE(CheckStatementLimits("WITH a AS (SELECT 1), b AS (SELECT 2) SELECT 1", options).ok());
  auto refused = CheckStatementLimits("WITH a AS (SELECT 1), b AS (SELECT 2), c AS (SELECT 3) SELECT 1", options);
  EXPECT_TRUE(refused.IsInvalid());
  EXPECT_NE(refused.message().find("3 common table expressions"), std::string::npos);
  options.max_statement_ctes = 0;
  EXPECT_TRUE(CheckStatementLimits("WITH a AS (SELECT 1), b AS (SELECT 2), c AS (SELECT 3) SELECT 1", options).ok());
}

}  // namespace
}  // namespace squadron::engine
