#include "engine/read_ahead.h"

#include <atomic>

#include <arrow/array/builder_primitive.h>
#include <arrow/record_batch.h>
#include <gtest/gtest.h>

#include "flight/compression.h"

namespace squadron::engine {
namespace {

std::shared_ptr<arrow::RecordBatch> Batch(int64_t value) {
  arrow::Int64Builder builder;
  EXPECT_TRUE(builder.Append(value).ok());
  auto array = builder.Finish().ValueOrDie();
  return arrow::RecordBatch::Make(arrow::schema({arrow::field("v", arrow::int64())}), 1, {array});
}

// Yields `count` batches numbered 0.., then an error if `fail`, else the end.
class CountingStream final : public ResultStream {
 public:
  CountingStream(int count, bool fail, std::atomic<int>* produced)
      : count_(count), fail_(fail), produced_(produced) {}
  const std::shared_ptr<arrow::Schema>& schema() const override { return schema_; }
  std::optional<int64_t> num_rows() const override { return count_; }
  arrow::Result<std::shared_ptr<arrow::RecordBatch>> Next() override {
    if (next_ < count_) {
      ++*produced_;
      return Batch(next_++);
    }
    if (fail_) return arrow::Status::IOError("disk on fire");
    return nullptr;
  }

 private:
  const std::shared_ptr<arrow::Schema> schema_ = arrow::schema({arrow::field("v", arrow::int64())});
  const int count_;
  const bool fail_;
  std::atomic<int>* produced_;
  int next_ = 0;
};

int64_t ValueOf(const arrow::RecordBatch& batch) {
  return std::static_pointer_cast<arrow::Int64Array>(batch.column(0))->Value(0);
}

TEST(ReadAheadTest, KeepsOrderAndEndsOnce) {
  std::atomic<int> produced{0};
  auto stream = ReadAhead(std::make_unique<CountingStream>(50, false, &produced), 2);
  EXPECT_EQ(stream->num_rows(), 50);
  EXPECT_EQ(stream->schema()->field(0)->name(), "v");
  for (int64_t i = 0; i < 50; ++i) {
    auto batch = stream->Next();
    ASSERT_TRUE(batch.ok());
    ASSERT_NE(*batch, nullptr);
    EXPECT_EQ(ValueOf(**batch), i);
  }
  for (int repeat = 0; repeat < 2; ++repeat) {
    auto end = stream->Next();
    ASSERT_TRUE(end.ok());
    EXPECT_EQ(*end, nullptr);
  }
}

TEST(ReadAheadTest, ErrorComesAfterTheBatchesBeforeIt) {
  std::atomic<int> produced{0};
  auto stream = ReadAhead(std::make_unique<CountingStream>(3, true, &produced));
  for (int64_t i = 0; i < 3; ++i) ASSERT_EQ(ValueOf(**stream->Next()), i);
  auto error = stream->Next();
  ASSERT_FALSE(error.ok());
  EXPECT_NE(error.status().message().find("disk on fire"), std::string::npos);
  EXPECT_FALSE(stream->Next().ok());
}

TEST(ReadAheadTest, ReadsAtMostDepthAheadAndStopsWhenDestroyed) {
  std::atomic<int> produced{0};
  {
    auto stream = ReadAhead(std::make_unique<CountingStream>(1000, false, &produced), 1);
    ASSERT_EQ(ValueOf(**stream->Next()), 0);
    // One batch handed out, at most one waiting, at most one being made.
    for (int i = 0; i < 100 && produced.load() < 3; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    EXPECT_LE(produced.load(), 3);
  }  // destroyed mid-stream: joins the producer without reading on
  EXPECT_LE(produced.load(), 3);
}

TEST(IpcCompressionTest, ParsesNamesAndRejectsOthers) {
  EXPECT_EQ(*flight::ParseIpcCompression("ZSTD"), arrow::Compression::ZSTD);
  EXPECT_EQ(*flight::ParseIpcCompression("lz4"), arrow::Compression::LZ4_FRAME);
  EXPECT_EQ(*flight::ParseIpcCompression("none"), arrow::Compression::UNCOMPRESSED);
  auto bad = flight::ParseIpcCompression("gzip");
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(bad.status().IsInvalid());
  EXPECT_NE(bad.status().message().find("use none, zstd or lz4"), std::string::npos);
  for (auto codec : {arrow::Compression::ZSTD, arrow::Compression::LZ4_FRAME}) {
    EXPECT_EQ(*flight::ParseIpcCompression(flight::IpcCompressionName(codec)), codec);
    auto options = flight::WriteOptionsFor(codec);
    ASSERT_TRUE(options.ok()) << options.status().ToString();
    ASSERT_NE(options->codec, nullptr);
  }
  EXPECT_EQ(flight::WriteOptionsFor(arrow::Compression::UNCOMPRESSED)->codec, nullptr);
}

}  // namespace
}  // namespace squadron::engine
