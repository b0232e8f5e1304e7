#include "engine/read_ahead.h"

#include <atomic>
#include <thread>
#include <vector>

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
  ReadAheadPool pool(4);
  auto stream = std::make_unique<ReadAheadStream>(std::make_unique<CountingStream>(50, false, &produced), &pool, 2);
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
  ReadAheadPool pool(4);
  auto stream = std::make_unique<ReadAheadStream>(std::make_unique<CountingStream>(3, true, &produced), &pool);
  for (int64_t i = 0; i < 3; ++i) ASSERT_EQ(ValueOf(**stream->Next()), i);
  auto error = stream->Next();
  ASSERT_FALSE(error.ok());
  EXPECT_NE(error.status().message().find("disk on fire"), std::string::npos);
  EXPECT_FALSE(stream->Next().ok());
}

TEST(ReadAheadTest, ReadsAtMostDepthAheadAndStopsWhenDestroyed) {
  std::atomic<int> produced{0};
  ReadAheadPool pool(4);
  {
    auto stream = std::make_unique<ReadAheadStream>(std::make_unique<CountingStream>(1000, false, &produced), &pool, 1);
    ASSERT_EQ(ValueOf(**stream->Next()), 0);
    // One batch handed out, at most one waiting, at most one being made.
    for (int i = 0; i < 100 && produced.load() < 3; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    EXPECT_LE(produced.load(), 3);
  }  // destroyed mid-stream: waits for a fetch in progress without reading on
  EXPECT_LE(produced.load(), 3);
}

TEST(ReadAheadTest, UnreadStreamsHoldNoThread) {
  std::atomic<int> produced{0};
  ReadAheadPool pool(2, std::chrono::milliseconds(20));
  std::vector<std::unique_ptr<ReadAheadStream>> streams;
  for (int i = 0; i < 50; ++i) {
    streams.push_back(std::make_unique<ReadAheadStream>(std::make_unique<CountingStream>(10, false, &produced), &pool));
  }
  // Each stream computed its first batch ahead, on at most two threads...
  for (auto& stream : streams) ASSERT_TRUE(stream->Advance(std::chrono::steady_clock::now() + std::chrono::seconds(30)));
  EXPECT_LE(pool.threads(), 2u);
  // ...which exit once idle, though no stream was read.
  for (int i = 0; i < 3000 && pool.threads() > 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_EQ(pool.threads(), 0u);
  for (auto& stream : streams) {
    for (int64_t i = 0; i < 10; ++i) ASSERT_EQ(ValueOf(**stream->Next()), i);
    EXPECT_EQ(*stream->Next(), nullptr);
  }
}

TEST(ReadAheadTest, WaitsForAThreadPastTheLimit) {
  std::atomic<int> produced{0};
  ReadAheadPool pool(1);
  // A stream that blocks the only pool thread until released.
  class BlockingStream final : public ResultStream {
   public:
    explicit BlockingStream(std::atomic<bool>* release) : release_(release) {}
    const std::shared_ptr<arrow::Schema>& schema() const override { return schema_; }
    std::optional<int64_t> num_rows() const override { return std::nullopt; }
    arrow::Result<std::shared_ptr<arrow::RecordBatch>> Next() override {
      while (!release_->load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      return nullptr;
    }
   private:
    const std::shared_ptr<arrow::Schema> schema_ = arrow::schema({});
    std::atomic<bool>* release_;
  };
  std::atomic<bool> release{false};
  auto blocked = std::make_unique<ReadAheadStream>(std::make_unique<BlockingStream>(&release), &pool);
  auto other = std::make_unique<ReadAheadStream>(std::make_unique<CountingStream>(3, false, &produced), &pool);
  // The only thread is busy: the other stream's fetch waits for it.
  EXPECT_FALSE(other->Advance(std::chrono::steady_clock::now() + std::chrono::milliseconds(20)));
  EXPECT_EQ(produced.load(), 0);
  release = true;
  EXPECT_EQ(*blocked->Next(), nullptr);
  for (int64_t i = 0; i < 3; ++i) ASSERT_EQ(ValueOf(**other->Next()), i);
  EXPECT_EQ(*other->Next(), nullptr);
  EXPECT_EQ(pool.threads(), 1u);
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
