// ChunkBatchBuilder must give exactly the batches' contents DuckDB's own
// Arrow export gives, for every type it takes, with nulls, across chunk and
// batch boundaries, from streaming and materialised results.
#include <arrow/api.h>
#include <arrow/util/byte_size.h>
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <utility>

#include "engine/duckdb/duckdb_internal.h"

namespace squadron::engine {
namespace {

// Every type the builder copies itself, a null in most columns every 7th row,
// strings of 0 to 40 bytes (inlined in DuckDB up to 12), and values at the
// edges of their ranges.
constexpr const char* kAllTypes = R"sql(
SELECT
  i::BIGINT AS id,
  CASE WHEN i % 7 = 1 THEN NULL ELSE i % 2 = 0 END AS b,
  CASE WHEN i % 7 = 2 THEN NULL ELSE (i % 256 - 128)::TINYINT END AS t8,
  CASE WHEN i % 7 = 3 THEN NULL ELSE (i * 13 % 65536 - 32768)::SMALLINT END AS t16,
  CASE WHEN i % 7 = 4 THEN NULL ELSE (i * 7919)::INTEGER END AS t32,
  CASE WHEN i % 7 = 5 THEN NULL ELSE (i * 1000003 - 9000000000)::BIGINT END AS t64,
  (i % 256)::UTINYINT AS u8, (i % 65536)::USMALLINT AS u16, (i * 3)::UINTEGER AS u32,
  (18446744073709551615 - i)::UBIGINT AS u64,
  CASE WHEN i % 7 = 6 THEN NULL ELSE (i / 3.0)::FLOAT END AS f32,
  CASE WHEN i % 7 = 0 THEN NULL ELSE i / 7.0 END AS f64,
  DATE '1970-01-01' + (i % 40000 - 20000)::INTEGER AS d,
  CASE WHEN i % 7 = 1 THEN NULL ELSE TIME '00:00:00' + INTERVAL (i % 86400) SECOND END AS tm,
  TIMESTAMP '2000-01-01' + INTERVAL (i) SECOND AS ts,
  (TIMESTAMP '2000-01-01' + INTERVAL (i) SECOND)::TIMESTAMPTZ AS tstz,
  (TIMESTAMP '2000-01-01' + INTERVAL (i) SECOND)::TIMESTAMP_MS AS ts_ms,
  (TIMESTAMP '2000-01-01' + INTERVAL (i) SECOND)::TIMESTAMP_S AS ts_s,
  (TIMESTAMP '2000-01-01' + INTERVAL (i) SECOND)::TIMESTAMP_NS AS ts_ns,
  CASE WHEN i % 7 = 2 THEN NULL ELSE (((i % 2000) - 1000) / 10)::DECIMAL(4,1) END AS dec16,
  (((i * 37) % 100000000 - 50000000) / 100)::DECIMAL(9,2) AS dec32,
  CASE WHEN i % 7 = 3 THEN NULL ELSE (i * -123456789)::DECIMAL(18,3) END AS dec64,
  (i::HUGEINT * -1000000000000000000000)::DECIMAL(38,0) AS dec128,
  CASE WHEN i % 7 = 4 THEN NULL ELSE repeat(chr(97 + (i % 26)::INTEGER), (i % 41)::INTEGER) END AS s,
  CASE WHEN i % 7 = 5 THEN NULL ELSE ('blob' || i)::BLOB END AS bl,
  -- nulls in a few chunks only: a batch mixes chunks with and without them
  CASE WHEN i BETWEEN 5000 AND 5009 THEN NULL ELSE i END AS rare_null_number,
  CASE WHEN i BETWEEN 7000 AND 7009 THEN NULL ELSE 'rare' || i END AS rare_null_string
FROM range({rows}) t(i)
)sql";

std::string AllTypes(int64_t rows) {
  std::string sql = kAllTypes;
  sql.replace(sql.find("{rows}"), 6, std::to_string(rows));
  return sql;
}

struct Drained {
  std::shared_ptr<arrow::Table> table;
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
};

arrow::Result<Drained> Drain(ResultStream& stream) {
  Drained out;
  while (true) {
    ARROW_ASSIGN_OR_RAISE(auto batch, stream.Next());
    if (batch == nullptr) break;
    ARROW_RETURN_NOT_OK(batch->ValidateFull());
    if (!batch->schema()->Equals(*stream.schema(), /*check_metadata=*/true)) {
      return arrow::Status::Invalid("batch schema ", batch->schema()->ToString(), " differs from the stream's");
    }
    out.batches.push_back(batch);
  }
  ARROW_ASSIGN_OR_RAISE(out.table, arrow::Table::FromRecordBatches(stream.schema(), out.batches));
  return out;
}

class ChunkBatchesTest : public ::testing::Test {
 protected:
  ChunkBatchesTest() : db_(nullptr), connection_(db_) {}

  duckdb::unique_ptr<duckdb::QueryResult> Run(const std::string& sql, bool streaming) {
    auto result = streaming ? connection_.SendQuery(sql) : connection_.Query(sql);
    EXPECT_FALSE(result->HasError()) << result->GetError();
    return result;
  }

  // The same query through the builder and through DuckDB's export.
  void ExpectSameAsDuckDb(const std::string& sql, const DuckDbOptions& options, bool streaming) {
    auto ours = MakeResultStream(Run(sql, streaming), options).ValueOrDie();
    auto ours_drained = Drain(*ours);
    ASSERT_TRUE(ours_drained.ok()) << ours_drained.status();
    auto reference = MakeDuckDbExportStream(Run(sql, streaming), options).ValueOrDie();
    auto reference_drained = Drain(*reference);
    ASSERT_TRUE(reference_drained.ok()) << reference_drained.status();
    const auto& got = *ours_drained->table;
    const auto& want = *reference_drained->table;
    ASSERT_TRUE(got.schema()->Equals(*want.schema(), /*check_metadata=*/true))
        << got.schema()->ToString(true) << "\nvs\n" << want.schema()->ToString(true);
    ASSERT_EQ(got.num_rows(), want.num_rows());
    for (int c = 0; c < want.num_columns(); ++c) {
      EXPECT_TRUE(got.column(c)->Equals(*want.column(c))) << "column " << want.schema()->field(c)->name();
    }
    last_batches_ = ours_drained->batches;
  }

  duckdb::DuckDB db_;
  duckdb::Connection connection_;
  std::vector<std::shared_ptr<arrow::RecordBatch>> last_batches_;
};

TEST_F(ChunkBatchesTest, TakesTheCommonTypesAndLeavesTheRestToDuckDb) {
  auto all = Run(AllTypes(1), /*streaming=*/false);
  auto schema = ToArrowSchema(all->types, all->names, all->client_properties).ValueOrDie();
  EXPECT_TRUE(ChunkBatchBuilder::Make(all->types, schema).has_value());
  for (const char* sql : {"SELECT [1, 2]", "SELECT {'a': 1}", "SELECT INTERVAL 1 DAY", "SELECT uuid()",
                          "SELECT 1::HUGEINT", "SELECT TIMETZ '01:02:03+04'", "SELECT 'a'::ENUM('a', 'b')"}) {
    auto result = Run(sql, /*streaming=*/false);
    auto other = ToArrowSchema(result->types, result->names, result->client_properties).ValueOrDie();
    EXPECT_FALSE(ChunkBatchBuilder::Make(result->types, other).has_value()) << sql;
  }
}

TEST_F(ChunkBatchesTest, SameAsDuckDbExportStreaming) {
  ExpectSameAsDuckDb(AllTypes(50000), DuckDbOptions{}, /*streaming=*/true);
  ASSERT_FALSE(last_batches_.empty());
  EXPECT_EQ(last_batches_.front()->num_rows(), 2048);  // the first batch is one vector
}

TEST_F(ChunkBatchesTest, SameAsDuckDbExportMaterialised) {
  ExpectSameAsDuckDb(AllTypes(50000), DuckDbOptions{}, /*streaming=*/false);
}

TEST_F(ChunkBatchesTest, BatchRowsSplitChunks) {
  DuckDbOptions options;
  options.batch_rows = 1000;  // not a multiple of DuckDB's 2048-row vectors
  ExpectSameAsDuckDb(AllTypes(10000), options, /*streaming=*/true);
  ASSERT_EQ(last_batches_.size(), 10u);
  for (const auto& batch : last_batches_) EXPECT_EQ(batch->num_rows(), 1000);
}

TEST_F(ChunkBatchesTest, BatchBytesBoundEachBatch) {
  DuckDbOptions options;
  options.batch_bytes = 64 << 10;
  ExpectSameAsDuckDb(AllTypes(30000), options, /*streaming=*/true);
  ASSERT_GT(last_batches_.size(), 5u);
  // Each batch after the first fits the budget, give or take its validity
  // bitmaps (a bit per row and column).
  const int64_t slack = 30000 / 8 * last_batches_.front()->num_columns();
  for (size_t i = 1; i + 1 < last_batches_.size(); ++i) {
    const int64_t bytes = arrow::util::TotalBufferSize(*last_batches_[i]);
    EXPECT_LE(bytes, options.batch_bytes + slack) << "batch " << i;
    EXPECT_GT(bytes, options.batch_bytes / 2) << "batch " << i;
  }
}

TEST_F(ChunkBatchesTest, EmptyAndAllNullResults) {
  ExpectSameAsDuckDb("SELECT * FROM (" + AllTypes(100) + ") WHERE id < 0", DuckDbOptions{}, /*streaming=*/true);
  EXPECT_TRUE(last_batches_.empty());
  ExpectSameAsDuckDb("SELECT NULL::VARCHAR AS s, NULL::INTEGER AS n, NULL::BOOLEAN AS b FROM range(5000)",
                     DuckDbOptions{}, /*streaming=*/true);
  ExpectSameAsDuckDb("SELECT '' AS s FROM range(3)", DuckDbOptions{}, /*streaming=*/true);
}

TEST_F(ChunkBatchesTest, LargeStringsAreNotCutBelowOneRow) {
  DuckDbOptions options;
  options.batch_bytes = 1000;  // smaller than one value
  ExpectSameAsDuckDb("SELECT repeat('x', 5000 + i::INTEGER) AS s FROM range(10) t(i)", options, /*streaming=*/true);
  ASSERT_EQ(last_batches_.size(), 10u);
}

TEST_F(ChunkBatchesTest, ErrorsMidStreamSurface) {
  // Far enough that DuckDB has sent batches before it meets the error.
  auto result = connection_.SendQuery(
      "SELECT CASE WHEN i = 3000000 THEN error('boom at 3000000') ELSE i END AS v FROM range(5000000) t(i)");
  ASSERT_FALSE(result->HasError()) << result->GetError();
  auto stream = MakeResultStream(std::move(result), DuckDbOptions{});
  ASSERT_TRUE(stream.ok()) << stream.status();
  auto drained = Drain(**stream);
  ASSERT_FALSE(drained.ok());
  EXPECT_NE(drained.status().message().find("boom at 3000000"), std::string::npos) << drained.status();
}

// The bytes of a batch's buffer: kept across growth, handed over at their
// size, and nothing of them left in the builder for the next batch.
TEST(ByteBuilderTest, GrowsKeepsItsBytesAndStartsEmptyAfterFinish) {
  ByteBuilder builder;
  std::string expected;
  for (int i = 0; i < 5000; ++i) {
    const std::string piece = std::to_string(i) + ",";
    ASSERT_TRUE(builder.Append(piece.data(), static_cast<int64_t>(piece.size())).ok());
    expected += piece;
  }
  ASSERT_TRUE(builder.Reserve(8).ok());
  std::memcpy(builder.mutable_data() + builder.length(), "unsafe!!", 8);
  builder.UnsafeAdvance(8);
  expected += "unsafe!!";
  auto buffer = builder.Finish();
  ASSERT_TRUE(buffer.ok()) << buffer.status();
  EXPECT_EQ((*buffer)->ToString(), expected);
  EXPECT_EQ(builder.length(), 0);

  auto empty = builder.Finish();  // nothing appended since
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_EQ((*empty)->size(), 0);
  ASSERT_TRUE(builder.Append("next", 4).ok());
  auto next = builder.Finish();
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ((*next)->ToString(), "next");
  EXPECT_EQ((*buffer)->ToString(), expected);  // the first buffer is its own

  // A moved-from builder starts empty and does not write into the other's bytes.
  ASSERT_TRUE(builder.Append("kept", 4).ok());
  ByteBuilder moved(std::move(builder));
  ASSERT_TRUE(builder.Append("", 0).ok());
  ASSERT_TRUE(builder.Append("new", 3).ok());
  auto kept = moved.Finish();
  auto fresh = builder.Finish();
  ASSERT_TRUE(kept.ok() && fresh.ok());
  EXPECT_EQ((*kept)->ToString(), "kept");
  EXPECT_EQ((*fresh)->ToString(), "new");
}

}  // namespace
}  // namespace squadron::engine
