#include "cluster/spool.h"

#include <stdlib.h>  // mkdtemp

#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>

#include <arrow/array/builder_binary.h>
#include <arrow/array/builder_dict.h>
#include <arrow/array/builder_primitive.h>
#include <arrow/ipc/writer.h>
#include <arrow/util/byte_size.h>
#include <gtest/gtest.h>

namespace squadron::cluster {
namespace {

using std::chrono::steady_clock;
using namespace std::chrono_literals;

#define SPOOL_CONCAT_INNER(a, b) a##b
#define SPOOL_CONCAT(a, b) SPOOL_CONCAT_INNER(a, b)
#define ASSERT_OK(expr)                              \
  do {                                               \
    const arrow::Status _st = (expr);                \
    ASSERT_TRUE(_st.ok()) << _st.ToString();         \
  } while (false)
#define ASSERT_OK_AND_ASSIGN_IMPL(result, lhs, rexpr)          \
  auto result = (rexpr);                                       \
  ASSERT_TRUE(result.ok()) << result.status().ToString();      \
  lhs = std::move(result).ValueOrDie()
#define ASSERT_OK_AND_ASSIGN(lhs, rexpr) \
  ASSERT_OK_AND_ASSIGN_IMPL(SPOOL_CONCAT(_result_, __LINE__), lhs, rexpr)

using Batch = std::shared_ptr<arrow::RecordBatch>;
using KeepWaiting = std::function<arrow::Status()>;

std::shared_ptr<arrow::Schema> TestSchema() {
  return arrow::schema({arrow::field("x", arrow::int64()), arrow::field("s", arrow::utf8())});
}

/// Returns a batch of `rows` rows x = start.., s = "r<1000000 + x>" (fixed width, so equal sizes).
Batch MakeBatch(int64_t start, int64_t rows) {
  arrow::Int64Builder xs;
  arrow::StringBuilder ss;
  for (int64_t x = start; x < start + rows; ++x) {
    EXPECT_TRUE(xs.Append(x).ok());
    EXPECT_TRUE(ss.Append("r" + std::to_string(1000000 + x)).ok());
  }
  return arrow::RecordBatch::Make(TestSchema(), rows, {xs.Finish().ValueOrDie(), ss.Finish().ValueOrDie()});
}

/// Returns `count` batches of 100 rows with consecutive x starting at `start`.
std::vector<Batch> MakeBatches(int64_t start, int count) {
  std::vector<Batch> batches;
  for (int i = 0; i < count; ++i) batches.push_back(MakeBatch(start + 100 * i, 100));
  return batches;
}

/// Returns the memory a batch of MakeBatches takes.
int64_t BatchBytes() { return arrow::util::TotalBufferSize(*MakeBatch(0, 100)); }

/// Returns the spill file bytes a batch of MakeBatches takes.
int64_t FileBytes() {
  int64_t size = 0;
  EXPECT_TRUE(arrow::ipc::GetRecordBatchSize(*MakeBatch(0, 100), &size).ok());
  return size;
}

/// Never stops a wait.
arrow::Status Forever() { return arrow::Status::OK(); }

/// Stops a wait at once: the call returns Cancelled at its first wait.
arrow::Status NoWait() { return arrow::Status::Cancelled("test: no waiting"); }

/// Stops a wait after a generous deadline, so a hang fails the test instead of hanging it.
KeepWaiting Deadline() {
  const auto end = steady_clock::now() + 30s;
  return [end] {
    return steady_clock::now() < end ? arrow::Status::OK() : arrow::Status::Cancelled("test: hung for 30 s");
  };
}

/// Returns the x values of a batch, checking its s column agrees.
std::vector<int64_t> Values(const arrow::RecordBatch& batch) {
  const auto& xs = static_cast<const arrow::Int64Array&>(*batch.column(0));
  const auto& ss = static_cast<const arrow::StringArray&>(*batch.column(1));
  std::vector<int64_t> values;
  for (int64_t i = 0; i < batch.num_rows(); ++i) {
    EXPECT_EQ(ss.GetString(i), "r" + std::to_string(1000000 + xs.Value(i)));
    values.push_back(xs.Value(i));
  }
  return values;
}

std::vector<int64_t> Range(int64_t start, int64_t end) {
  std::vector<int64_t> values;
  for (int64_t x = start; x < end; ++x) values.push_back(x);
  return values;
}

/// Polls `done` until it holds or 30 s pass; returns whether it held.
bool Eventually(const std::function<bool()>& done) {
  const auto end = steady_clock::now() + 30s;
  while (!done()) {
    if (steady_clock::now() > end) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

class SpoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string root = "/tmp/spool-test-XXXXXX";
    ASSERT_NE(::mkdtemp(root.data()), nullptr);
    root_ = root;
  }

  void TearDown() override {
    spool_.reset();
    std::filesystem::remove_all(root_);
  }

  void MakeSpool(int64_t memory_bytes, int64_t disk_bytes) {
    SpoolOptions options;
    options.memory_bytes = memory_bytes;
    options.disk_bytes = disk_bytes;
    options.dir = root_;
    ASSERT_OK_AND_ASSIGN(spool_, Spool::Make(options));
  }

  void OpenQuery(const std::string& id, std::vector<int32_t> partitions, bool ordered = false) {
    ASSERT_OK(spool_->OpenQuery(id, TestSchema(), std::move(partitions), ordered));
  }

  std::unique_ptr<AttemptWriter> Begin(const std::string& id, int32_t partition, int32_t attempt) {
    auto writer = spool_->BeginAttempt(id, partition, attempt, *TestSchema());
    EXPECT_TRUE(writer.ok()) << writer.status().ToString();
    return writer.ok() ? std::move(writer).ValueOrDie() : nullptr;
  }

  void Write(AttemptWriter& writer, const std::vector<Batch>& batches) {
    for (const auto& batch : batches) ASSERT_OK(writer.Append(batch, Deadline()));
  }

  void WriteAndCommit(const std::string& id, int32_t partition, int32_t attempt, const std::vector<Batch>& batches) {
    auto writer = Begin(id, partition, attempt);
    ASSERT_NE(writer, nullptr);
    Write(*writer, batches);
    ASSERT_OK_AND_ASSIGN(int64_t rows, writer->Commit());
    EXPECT_EQ(rows, 100 * static_cast<int64_t>(batches.size()));
  }

  /// Reads up to `max_batches` batches (or to the end) and returns their x values.
  std::vector<int64_t> Read(SpoolReader& reader, int max_batches = 1 << 30) {
    std::vector<int64_t> values;
    for (int i = 0; i < max_batches; ++i) {
      auto batch = reader.Next(Deadline());
      EXPECT_TRUE(batch.ok()) << batch.status().ToString();
      if (!batch.ok() || *batch == nullptr) break;
      for (int64_t x : Values(**batch)) values.push_back(x);
    }
    return values;
  }

  /// Counts the files under the test directory (the spool's private one included).
  int FilesOnDisk() const {
    int files = 0;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(root_)) files += entry.is_regular_file();
    return files;
  }

  std::string root_;
  std::unique_ptr<Spool> spool_;
};

TEST_F(SpoolTest, RoundTripInMemory) {
  MakeSpool(1 << 20, 1 << 20);
  OpenQuery("q", {0});
  OpenQuery("q", {0});  // idempotent
  EXPECT_TRUE(spool_->OpenQuery("q", TestSchema(), {0, 1}, false).IsInvalid());
  const auto batches = MakeBatches(0, 3);
  WriteAndCommit("q", 0, 0, batches);
  EXPECT_EQ(spool_->Committed("q"), (std::vector<CommittedPartition>{{0, 0}}));
  EXPECT_EQ(spool_->stats().memory_bytes, 3 * BatchBytes());
  EXPECT_EQ(spool_->stats().spilled_batches, 0);

  ASSERT_OK_AND_ASSIGN(auto reader, spool_->OpenReader("q"));
  EXPECT_TRUE(spool_->OpenReader("q").status().IsKeyError());
  spool_->Finish("q", QueryOutcome{arrow::Status::OK(), {{0, 0}}});
  for (const auto& expected : batches) {
    ASSERT_OK_AND_ASSIGN(Batch batch, reader->Next(Forever));
    ASSERT_NE(batch, nullptr);
    EXPECT_TRUE(batch->Equals(*expected));
  }
  ASSERT_OK_AND_ASSIGN(Batch end, reader->Next(Forever));
  EXPECT_EQ(end, nullptr);
  EXPECT_EQ(spool_->stats().memory_bytes, 0);
  EXPECT_EQ(spool_->stats().peak_memory_bytes, 3 * BatchBytes());
}

TEST_F(SpoolTest, UnorderedServesInCommitOrderAsTheyCommit) {
  MakeSpool(1 << 20, 1 << 20);
  OpenQuery("q", {0, 1});
  ASSERT_OK_AND_ASSIGN(auto reader, spool_->OpenReader("q"));
  WriteAndCommit("q", 1, 0, MakeBatches(1000, 1));
  EXPECT_EQ(Read(*reader, 1), Range(1000, 1100));
  WriteAndCommit("q", 0, 0, MakeBatches(0, 1));
  EXPECT_EQ(Read(*reader, 1), Range(0, 100));
  spool_->Finish("q", QueryOutcome{arrow::Status::OK(), {{0, 0}, {1, 0}}});
  EXPECT_TRUE(Read(*reader).empty());
}

TEST_F(SpoolTest, SpillsWhenMemoryIsSmallAndRemovesFilesAfterServing) {
  MakeSpool(BatchBytes(), 1 << 20);
  OpenQuery("q", {0});
  const auto batches = MakeBatches(0, 4);
  WriteAndCommit("q", 0, 0, batches);
  SpoolStats stats = spool_->stats();
  EXPECT_EQ(stats.memory_bytes, BatchBytes());
  EXPECT_EQ(stats.spilled_batches, 3);
  EXPECT_EQ(stats.spill_files, 1);
  EXPECT_EQ(stats.disk_bytes, 3 * FileBytes());
  EXPECT_EQ(FilesOnDisk(), 1);

  ASSERT_OK_AND_ASSIGN(auto reader, spool_->OpenReader("q"));
  for (const auto& expected : batches) {
    ASSERT_OK_AND_ASSIGN(Batch batch, reader->Next(Deadline()));
    ASSERT_NE(batch, nullptr);
    EXPECT_TRUE(batch->Equals(*expected));
  }
  stats = spool_->stats();
  EXPECT_EQ(stats.spill_files, 0);
  EXPECT_EQ(stats.disk_bytes, 0);
  EXPECT_EQ(stats.memory_bytes, 0);
  EXPECT_EQ(FilesOnDisk(), 0);
  spool_->Finish("q", QueryOutcome{arrow::Status::OK(), {{0, 0}}});
  ASSERT_OK_AND_ASSIGN(Batch end, reader->Next(Forever));
  EXPECT_EQ(end, nullptr);

  reader.reset();
  spool_.reset();
  EXPECT_TRUE(std::filesystem::is_empty(root_));  // the private directory is gone
}

TEST_F(SpoolTest, BackpressureBlocksUntilTheReaderDrains) {
  MakeSpool(2 * BatchBytes(), 2 * FileBytes());
  OpenQuery("q", {0, 1});
  WriteAndCommit("q", 0, 0, MakeBatches(0, 4));  // fills memory and disk
  ASSERT_EQ(spool_->stats().disk_bytes, 2 * FileBytes());

  std::atomic<int> appended{0};
  arrow::Status writer_status;
  std::thread producer([&] {
    auto writer = Begin("q", 1, 0);
    if (writer == nullptr) return;
    for (const auto& batch : MakeBatches(400, 6)) {
      writer_status = writer->Append(batch, Deadline());
      if (!writer_status.ok()) return;
      ++appended;
    }
    writer_status = writer->Commit().status();
  });
  ASSERT_TRUE(Eventually([&] { return spool_->stats().blocked_appends > 0; }));
  EXPECT_EQ(appended.load(), 0);

  ASSERT_OK_AND_ASSIGN(auto reader, spool_->OpenReader("q"));
  std::vector<int64_t> values = Read(*reader, 10);
  producer.join();
  ASSERT_OK(writer_status);
  spool_->Finish("q", QueryOutcome{arrow::Status::OK(), {{0, 0}, {1, 0}}});
  EXPECT_TRUE(Read(*reader).empty());
  EXPECT_EQ(values, Range(0, 1000));
  EXPECT_LE(spool_->stats().peak_memory_bytes, 2 * BatchBytes() + BatchBytes());
}

TEST_F(SpoolTest, FirstCommitWinsAndTheOtherAttemptFails) {
  MakeSpool(1 << 20, 1 << 20);
  OpenQuery("q", {0});
  auto first = Begin("q", 0, 0);
  auto second = Begin("q", 0, 1);
  Write(*first, MakeBatches(0, 1));
  Write(*second, MakeBatches(500, 1));
  ASSERT_OK_AND_ASSIGN(int64_t rows, second->Commit());
  EXPECT_EQ(rows, 100);
  EXPECT_EQ(spool_->stats().memory_bytes, BatchBytes());  // the loser's data is freed at once

  const arrow::Status commit = first->Commit().status();
  EXPECT_TRUE(commit.IsInvalid());
  EXPECT_NE(commit.message().find("attempt 0 of partition 0"), std::string::npos) << commit.message();
  EXPECT_NE(commit.message().find("superseded by attempt 1, which committed first"), std::string::npos);
  EXPECT_TRUE(first->Append(MakeBatch(0, 1), Forever).IsInvalid());
  const arrow::Status again = spool_->BeginAttempt("q", 0, 2, *TestSchema()).status();
  EXPECT_TRUE(again.IsInvalid());
  EXPECT_NE(again.message().find("partition 0 of query q by attempt 1"), std::string::npos) << again.message();

  spool_->Finish("q", QueryOutcome{arrow::Status::OK(), {{0, 1}}});
  ASSERT_OK_AND_ASSIGN(auto reader, spool_->OpenReader("q"));
  EXPECT_EQ(Read(*reader), Range(500, 600));
}

TEST_F(SpoolTest, AbortHalfwayThenRetryServesTheRetryOnce) {
  MakeSpool(BatchBytes(), 1 << 20);
  OpenQuery("q", {0, 1});
  auto failed = Begin("q", 0, 0);
  Write(*failed, MakeBatches(0, 2));  // one in memory, one spilled
  EXPECT_EQ(spool_->stats().spill_files, 1);
  failed->Abort();
  EXPECT_EQ(spool_->stats().memory_bytes, 0);
  EXPECT_EQ(spool_->stats().disk_bytes, 0);
  EXPECT_EQ(spool_->stats().spill_files, 0);
  EXPECT_EQ(FilesOnDisk(), 0);
  EXPECT_TRUE(failed->Append(MakeBatch(0, 1), Forever).IsInvalid());

  auto abandoned = Begin("q", 1, 0);
  Write(*abandoned, MakeBatches(0, 1));
  abandoned.reset();  // destroyed uncommitted: dropped
  EXPECT_EQ(spool_->stats().memory_bytes, 0);

  WriteAndCommit("q", 0, 1, MakeBatches(0, 4));
  spool_->Finish("q", QueryOutcome{arrow::Status::OK(), {{0, 1}}});
  ASSERT_OK_AND_ASSIGN(auto reader, spool_->OpenReader("q"));
  EXPECT_EQ(Read(*reader), Range(0, 400));
}

TEST_F(SpoolTest, SameAttemptReplacesTheUnfinishedWriter) {
  MakeSpool(1 << 20, 1 << 20);
  OpenQuery("q", {0});
  auto old_writer = Begin("q", 0, 0);
  Write(*old_writer, MakeBatches(0, 1));
  auto new_writer = Begin("q", 0, 0);
  EXPECT_EQ(spool_->stats().memory_bytes, 0);
  const arrow::Status append = old_writer->Append(MakeBatch(0, 1), Forever);
  EXPECT_TRUE(append.IsInvalid());
  EXPECT_NE(append.message().find("replaced"), std::string::npos) << append.message();
  Write(*new_writer, MakeBatches(700, 1));
  ASSERT_OK(new_writer->Commit().status());
  old_writer.reset();  // must not disturb the committed attempt
  spool_->Finish("q", QueryOutcome{arrow::Status::OK(), {{0, 0}}});
  ASSERT_OK_AND_ASSIGN(auto reader, spool_->OpenReader("q"));
  EXPECT_EQ(Read(*reader), Range(700, 800));
}

TEST_F(SpoolTest, OrderedWaitsForThePartitionAtTheHead) {
  MakeSpool(1 << 20, 1 << 20);
  OpenQuery("q", {0, 1}, /*ordered=*/true);
  ASSERT_OK_AND_ASSIGN(auto reader, spool_->OpenReader("q"));
  WriteAndCommit("q", 1, 0, MakeBatches(100, 1));
  EXPECT_TRUE(reader->Next(NoWait).status().IsCancelled());  // waits for partition 0
  WriteAndCommit("q", 0, 0, MakeBatches(0, 1));
  EXPECT_EQ(Read(*reader, 2), Range(0, 200));
  spool_->Finish("q", QueryOutcome{arrow::Status::OK(), {{0, 0}, {1, 0}}});
  EXPECT_TRUE(Read(*reader).empty());
}

TEST_F(SpoolTest, OrderedSkipsPartitionsLeftOutOfTheFinalList) {
  MakeSpool(1 << 20, 1 << 20);
  OpenQuery("q", {0, 1, 2}, /*ordered=*/true);
  WriteAndCommit("q", 2, 0, MakeBatches(200, 1));
  WriteAndCommit("q", 1, 0, MakeBatches(100, 1));
  spool_->Finish("q", QueryOutcome{arrow::Status::OK(), {{2, 0}}});
  ASSERT_OK_AND_ASSIGN(auto reader, spool_->OpenReader("q"));
  EXPECT_EQ(Read(*reader), Range(200, 300));
}

TEST_F(SpoolTest, FailedQueryFailsTheReaderAndReleasesBlockedWriters) {
  MakeSpool(BatchBytes(), FileBytes());
  OpenQuery("q", {0, 1});
  WriteAndCommit("q", 0, 0, MakeBatches(0, 2));  // fills memory and disk
  ASSERT_OK_AND_ASSIGN(auto reader, spool_->OpenReader("q"));
  arrow::Status writer_status;
  std::thread producer([&] {
    auto writer = Begin("q", 1, 0);
    if (writer != nullptr) writer_status = writer->Append(MakeBatch(0, 100), Deadline());
  });
  ASSERT_TRUE(Eventually([&] { return spool_->stats().blocked_appends > 0; }));
  spool_->Finish("q", QueryOutcome{arrow::Status::ExecutionError("task 3 failed"), {}});
  producer.join();
  EXPECT_TRUE(writer_status.IsExecutionError()) << writer_status.ToString();
  EXPECT_TRUE(reader->Next(Forever).status().IsExecutionError());
  spool_->Finish("q", QueryOutcome{arrow::Status::OK(), {}});  // ignored: the first call wins
  EXPECT_TRUE(reader->Next(Forever).status().IsExecutionError());
  const SpoolStats stats = spool_->stats();
  EXPECT_EQ(stats.memory_bytes, 0);
  EXPECT_EQ(stats.disk_bytes, 0);
  EXPECT_EQ(stats.spill_files, 0);
  EXPECT_EQ(FilesOnDisk(), 0);
  EXPECT_TRUE(spool_->BeginAttempt("q", 1, 1, *TestSchema()).status().IsInvalid());
}

TEST_F(SpoolTest, FinishDiscardsCommittedPartitionsNotInTheList) {
  MakeSpool(1 << 20, 1 << 20);
  OpenQuery("q", {0, 1});
  WriteAndCommit("q", 0, 0, MakeBatches(0, 1));
  WriteAndCommit("q", 1, 0, MakeBatches(100, 1));
  spool_->Finish("q", QueryOutcome{arrow::Status::OK(), {{0, 0}}});
  EXPECT_EQ(spool_->stats().memory_bytes, BatchBytes());
  ASSERT_OK_AND_ASSIGN(auto reader, spool_->OpenReader("q"));
  EXPECT_EQ(Read(*reader), Range(0, 100));
}

TEST_F(SpoolTest, ListNamingAnUncommittedPartitionFailsTheReader) {
  MakeSpool(1 << 20, 1 << 20);
  OpenQuery("q", {0, 1});
  WriteAndCommit("q", 0, 0, MakeBatches(0, 1));
  spool_->Finish("q", QueryOutcome{arrow::Status::OK(), {{0, 0}, {1, 0}}});
  ASSERT_OK_AND_ASSIGN(auto reader, spool_->OpenReader("q"));
  const arrow::Status st = reader->Next(Forever).status();
  EXPECT_TRUE(st.IsIOError()) << st.ToString();
  EXPECT_NE(st.message().find("partition 1 attempt 0, which is not committed on this node"), std::string::npos)
      << st.message();
  EXPECT_EQ(spool_->stats().memory_bytes, 0);
}

TEST_F(SpoolTest, UncommittedWritersProceedWhenNothingCanBeDrained) {
  MakeSpool(BatchBytes(), FileBytes());
  OpenQuery("q", {0, 1});
  // Both attempts stay uncommitted while they write: no reader could free
  // anything, so waiting for space would wait forever.
  std::unique_ptr<AttemptWriter> writers[2] = {Begin("q", 0, 0), Begin("q", 1, 0)};
  arrow::Status statuses[2];
  std::vector<std::thread> producers;
  for (int32_t partition = 0; partition < 2; ++partition) {
    producers.emplace_back([&, partition] {
      for (const auto& batch : MakeBatches(1000 * partition, 5)) {
        statuses[partition] = writers[partition]->Append(batch, Deadline());  // Cancelled if it hangs
        if (!statuses[partition].ok()) return;
      }
    });
  }
  for (auto& producer : producers) producer.join();
  ASSERT_OK(statuses[0]);
  ASSERT_OK(statuses[1]);
  ASSERT_OK(writers[0]->Commit().status());
  ASSERT_OK(writers[1]->Commit().status());
  EXPECT_GT(spool_->stats().overcommitted_appends, 0);
  EXPECT_LE(spool_->stats().peak_memory_bytes, BatchBytes());

  spool_->Finish("q", QueryOutcome{arrow::Status::OK(), {{0, 0}, {1, 0}}});
  ASSERT_OK_AND_ASSIGN(auto reader, spool_->OpenReader("q"));
  std::vector<int64_t> values = Read(*reader);
  std::sort(values.begin(), values.end());
  std::vector<int64_t> expected = Range(0, 500);
  for (int64_t x : Range(1000, 1500)) expected.push_back(x);
  EXPECT_EQ(values, expected);
  EXPECT_EQ(spool_->stats().spill_files, 0);
}

TEST_F(SpoolTest, HeadWriterOfAnOrderedQueryProceedsOthersWait) {
  MakeSpool(BatchBytes(), FileBytes());
  OpenQuery("other", {0});
  WriteAndCommit("other", 0, 0, MakeBatches(0, 2));  // drainable: fills memory and disk
  OpenQuery("q", {0, 1}, /*ordered=*/true);
  auto head = Begin("q", 0, 0);
  auto behind = Begin("q", 1, 0);
  EXPECT_TRUE(behind->Append(MakeBatch(0, 100), NoWait).IsCancelled());
  EXPECT_EQ(spool_->stats().blocked_appends, 1);
  ASSERT_OK(head->Append(MakeBatch(0, 100), NoWait));
  EXPECT_EQ(spool_->stats().overcommitted_appends, 1);
  EXPECT_EQ(spool_->stats().disk_bytes, 2 * FileBytes());
}

TEST_F(SpoolTest, DropQueryFreesFilesAndFailsEveryone) {
  MakeSpool(0, 1 << 20);  // everything spills
  OpenQuery("q", {0, 1});
  auto writer = Begin("q", 0, 0);
  Write(*writer, MakeBatches(0, 2));
  WriteAndCommit("q", 1, 0, MakeBatches(100, 1));
  ASSERT_OK_AND_ASSIGN(auto reader, spool_->OpenReader("q"));
  EXPECT_EQ(spool_->stats().spill_files, 2);
  EXPECT_EQ(FilesOnDisk(), 2);

  spool_->DropQuery("q");
  const SpoolStats stats = spool_->stats();
  EXPECT_EQ(stats.spill_files, 0);
  EXPECT_EQ(stats.disk_bytes, 0);
  EXPECT_EQ(stats.queries, 0);
  EXPECT_EQ(FilesOnDisk(), 0);
  EXPECT_TRUE(writer->Append(MakeBatch(0, 1), Forever).IsCancelled());
  EXPECT_TRUE(reader->Next(Forever).status().IsCancelled());
  EXPECT_TRUE(spool_->BeginAttempt("q", 0, 1, *TestSchema()).status().IsKeyError());
  EXPECT_TRUE(spool_->OpenReader("q").status().IsKeyError());
  EXPECT_TRUE(spool_->Committed("q").empty());
}

TEST_F(SpoolTest, KeepWaitingEndsBlockedNextAndAppend) {
  MakeSpool(BatchBytes(), FileBytes());
  OpenQuery("q", {0, 1});
  int calls = 0;
  auto second_call_cancels = [&] {
    return ++calls < 2 ? arrow::Status::OK() : arrow::Status::Cancelled("client hung up");
  };
  ASSERT_OK_AND_ASSIGN(auto reader, spool_->OpenReader("q"));
  EXPECT_TRUE(reader->Next(second_call_cancels).status().IsCancelled());
  EXPECT_EQ(calls, 2);

  WriteAndCommit("q", 0, 0, MakeBatches(0, 2));  // fills memory and disk
  auto writer = Begin("q", 1, 0);
  calls = 0;
  EXPECT_TRUE(writer->Append(MakeBatch(0, 100), second_call_cancels).IsCancelled());
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(spool_->stats().blocked_appends, 1);
  EXPECT_EQ(spool_->stats().memory_bytes, BatchBytes());  // the refused batch is not held
}

TEST_F(SpoolTest, RefusesBadAttempts) {
  MakeSpool(1 << 20, 1 << 20);
  OpenQuery("q", {0});
  EXPECT_TRUE(spool_->BeginAttempt("nope", 0, 0, *TestSchema()).status().IsKeyError());
  EXPECT_TRUE(spool_->BeginAttempt("q", 7, 0, *TestSchema()).status().IsInvalid());
  const auto other = arrow::schema({arrow::field("x", arrow::int32())});
  EXPECT_TRUE(spool_->BeginAttempt("q", 0, 0, *other).status().IsInvalid());
  const auto dict = arrow::schema({arrow::field("d", arrow::dictionary(arrow::int32(), arrow::utf8()))});
  ASSERT_OK(spool_->OpenQuery("dq", dict, {0}, false));
  const arrow::Status st = spool_->BeginAttempt("dq", 0, 0, *dict).status();
  EXPECT_TRUE(st.IsInvalid());
  EXPECT_NE(st.message().find("dictionary-encoded column d is not supported"), std::string::npos) << st.message();

  auto writer = Begin("q", 0, 0);
  arrow::Int32Builder ints;
  ASSERT_OK(ints.Append(1));
  auto wrong = arrow::RecordBatch::Make(other, 1, {ints.Finish().ValueOrDie()});
  EXPECT_TRUE(writer->Append(wrong, Forever).IsInvalid());
  spool_->Finish("q", QueryOutcome{arrow::Status::OK(), {}});
  EXPECT_TRUE(writer->Append(MakeBatch(0, 1), Forever).IsInvalid());
  EXPECT_TRUE(spool_->BeginAttempt("q", 0, 1, *TestSchema()).status().IsInvalid());
}

}  // namespace
}  // namespace squadron::cluster
