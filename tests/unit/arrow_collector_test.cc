// ArrowStreamCollector must give exactly what DuckDB's own Arrow export gives,
// in the result's order, on many threads, with the queue's memory bounded;
// ArrowBatchQueue must release batches in batch-index order and wake sinks.
#include <atomic>
#include <thread>

#include <arrow/api.h>
#include <arrow/util/byte_size.h>
#include <gtest/gtest.h>

#include "duckdb/main/materialized_query_result.hpp"
#include "duckdb/main/pending_query_result.hpp"
#include "duckdb/main/prepared_statement_data.hpp"
#include "duckdb/execution/physical_plan_generator.hpp"
#include "engine/duckdb/arrow_collector.h"
#include "engine/duckdb/duckdb_internal.h"

namespace squadron::engine {
namespace {

std::shared_ptr<arrow::RecordBatch> Rows(int64_t first, int64_t count) {
  arrow::Int64Builder builder;
  for (int64_t i = 0; i < count; ++i) EXPECT_TRUE(builder.Append(first + i).ok());
  auto array = builder.Finish().ValueOrDie();
  return arrow::RecordBatch::Make(arrow::schema({arrow::field("v", arrow::int64())}), count, {array});
}

int64_t FirstValue(const std::shared_ptr<arrow::RecordBatch>& batch) {
  return std::static_pointer_cast<arrow::Int64Array>(batch->column(0))->Value(0);
}

TEST(ArrowBatchQueueTest, ReleasesBatchesInIndexOrder) {
  ArrowBatchQueue queue(1 << 20, 1 << 20);
  queue.SinkStarted();
  queue.SinkStarted();
  // Batch 1 is computed before batch 0 is done: it waits.
  queue.Push(1, Rows(100, 10));
  queue.Push(0, Rows(0, 10));  // the lowest batch: readable at once
  auto first = queue.Pop();
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(FirstValue(first), 0);
  EXPECT_EQ(queue.Pop(), nullptr);  // batch 1 must wait for batch 0 to end
  queue.Push(0, Rows(10, 10));
  queue.Complete(0);
  queue.SetMinBatch(1);
  std::vector<int64_t> firsts;
  while (auto batch = queue.Pop()) firsts.push_back(FirstValue(batch));
  EXPECT_EQ(firsts, (std::vector<int64_t>{10, 100}));
  EXPECT_FALSE(queue.Drained());
  queue.Push(1, Rows(110, 5));
  queue.SinkEnded();
  queue.SinkEnded();
  queue.Finish();
  auto last = queue.Pop();
  ASSERT_NE(last, nullptr);
  EXPECT_EQ(FirstValue(last), 110);
  EXPECT_EQ(queue.Pop(), nullptr);
  EXPECT_TRUE(queue.Drained());
}

TEST(ArrowBatchQueueTest, FullQueueBlocksSinks) {
  const auto bytes = arrow::util::TotalBufferSize(*Rows(0, 1000));
  ArrowBatchQueue queue(/*ready_capacity=*/bytes, /*pending_capacity=*/bytes);
  queue.SinkStarted();
  queue.SinkStarted();
  // Only who waits is checked here (a state without a task cannot be woken;
  // the collector tests below wake real ones).
  duckdb::InterruptState state;
  EXPECT_FALSE(queue.BlockIfFull(0, state));
  queue.Push(0, Rows(0, 1000));
  EXPECT_TRUE(queue.BlockIfFull(0, state)) << "the lowest batch waits once the ready bytes are full";
  EXPECT_FALSE(queue.BlockIfFull(1, state)) << "a higher batch has its own room";
  queue.Push(1, Rows(5000, 1000));
  EXPECT_TRUE(queue.BlockIfFull(2, state)) << "higher batches wait once their room is full";
}

std::string AllTypes(int64_t rows) {
  return "SELECT i::BIGINT AS id, CASE WHEN i % 7 = 1 THEN NULL ELSE i % 2 = 0 END AS b, "
         "CASE WHEN i % 7 = 4 THEN NULL ELSE (i * 7919)::INTEGER END AS t32, "
         "CASE WHEN i % 7 = 0 THEN NULL ELSE i / 7.0 END AS f64, "
         "DATE '1970-01-01' + (i % 40000 - 20000)::INTEGER AS d, "
         "TIMESTAMP '2000-01-01' + INTERVAL (i) SECOND AS ts, "
         "CASE WHEN i % 7 = 2 THEN NULL ELSE (((i % 2000) - 1000) / 10)::DECIMAL(4,1) END AS dec16, "
         "CASE WHEN i % 7 = 3 THEN NULL ELSE (i * -123456789)::DECIMAL(18,3) END AS dec64, "
         "(i::HUGEINT * -1000000000000000000000)::DECIMAL(38,0) AS dec128, "
         "CASE WHEN i % 7 = 4 THEN NULL ELSE repeat(chr(97 + (i % 26)::INTEGER), (i % 41)::INTEGER) END AS s, "
         "CASE WHEN i % 7 = 5 THEN NULL ELSE ('blob' || i)::BLOB END AS bl, "
         "CASE WHEN i BETWEEN 7000 AND 7009 THEN NULL ELSE 'rare' || i END AS rare_null_string "
         "FROM range(" +
         std::to_string(rows) + ") t(i)";
}

class ArrowCollectorTest : public ::testing::Test {
 protected:
  static duckdb::DBConfig* Config(duckdb::DBConfig* config) {
    config->SetOptionByName("threads", duckdb::Value::BIGINT(4));
    config->SetOptionByName("scheduler_process_partial", duckdb::Value::BOOLEAN(true));  // as the engine runs it
    return config;
  }

  ArrowCollectorTest() : db_(nullptr, Config(&config_)), connection_(db_), switch_(*connection_.context) {
    // A table of several row groups, so that the scan runs on many threads.
    auto created = connection_.Query("CREATE TABLE big AS SELECT i AS id, 'v' || i AS s FROM range(1000000) t(i)");
    EXPECT_FALSE(created->HasError()) << created->GetError();
  }

  std::unique_ptr<ResultStream> Collect(const std::string& sql, const DuckDbOptions& options,
                                        int64_t capacity = 8 << 20) {
    auto prepared = connection_.Prepare(sql);
    EXPECT_FALSE(prepared->HasError()) << prepared->GetError();
    auto schema = ToArrowSchema(prepared->GetTypes(), prepared->GetNames(),
                                connection_.context->GetClientProperties())
                      .ValueOrDie();
    queue_ = std::make_shared<ArrowBatchQueue>(capacity, capacity);
    switch_.Arm(queue_, schema, options.batch_rows, options.batch_bytes);
    duckdb::vector<duckdb::Value> no_parameters;
    auto pending = prepared->PendingQuery(no_parameters, /*allow_stream_result=*/false);
    switch_.Disarm();
    EXPECT_FALSE(pending->HasError()) << pending->GetError();
    return MakeCollectedResultStream(std::move(pending), queue_, schema, nullptr);
  }

  static arrow::Result<std::vector<std::shared_ptr<arrow::RecordBatch>>> Drain(ResultStream& stream) {
    std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
    while (true) {
      ARROW_ASSIGN_OR_RAISE(auto batch, stream.Next());
      if (batch == nullptr) return batches;
      ARROW_RETURN_NOT_OK(batch->ValidateFull());
      batches.push_back(batch);
    }
  }

  std::shared_ptr<arrow::Table> Reference(const std::string& sql) {
    auto result = connection_.SendQuery(sql);
    EXPECT_FALSE(result->HasError()) << result->GetError();
    auto stream = MakeDuckDbExportStream(std::move(result), DuckDbOptions{}).ValueOrDie();
    auto batches = Drain(*stream).ValueOrDie();
    return arrow::Table::FromRecordBatches(stream->schema(), batches).ValueOrDie();
  }

  void ExpectSameAsDuckDb(const std::string& sql, const DuckDbOptions& options) {
    auto stream = Collect(sql, options);
    auto drained = Drain(*stream);
    ASSERT_TRUE(drained.ok()) << drained.status();
    batches_ = *drained;
    auto got = arrow::Table::FromRecordBatches(stream->schema(), batches_).ValueOrDie();
    auto want = Reference(sql);
    ASSERT_EQ(got->num_rows(), want->num_rows());
    ASSERT_EQ(got->num_columns(), want->num_columns());
    for (int c = 0; c < want->num_columns(); ++c) {
      EXPECT_TRUE(got->column(c)->Equals(*want->column(c))) << "column " << want->schema()->field(c)->name();
    }
  }

  duckdb::DBConfig config_;
  duckdb::DuckDB db_;
  duckdb::Connection connection_;
  ArrowCollectorSwitch switch_;
  std::shared_ptr<ArrowBatchQueue> queue_;
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches_;
};

TEST_F(ArrowCollectorTest, SameAsDuckDbExportForTheCommonTypes) {
  ExpectSameAsDuckDb(AllTypes(50000), DuckDbOptions{});
  ASSERT_FALSE(batches_.empty());
  EXPECT_EQ(batches_.front()->num_rows(), 2048);  // the first batch is one vector
}

TEST_F(ArrowCollectorTest, SameAsDuckDbExportForOtherTypes) {
  // Lists, structs, intervals and UUIDs go through DuckDB's ArrowAppender.
  ExpectSameAsDuckDb("SELECT i, [i, i + 1] AS l, {'a': i} AS st, INTERVAL (i) DAY AS iv, "
                     "'0b5d4f0e-8f6c-4e0f-9b0a-4a8a3d5b6c7d'::UUID AS u FROM range(10000) t(i)",
                     DuckDbOptions{});
}

TEST_F(ArrowCollectorTest, KeepsTheTableOrderAcrossThreads) {
  ExpectSameAsDuckDb("SELECT * FROM big", DuckDbOptions{});
  EXPECT_GT(batches_.size(), 3u);
}

TEST_F(ArrowCollectorTest, KeepsOrderByOrder) {
  ExpectSameAsDuckDb("SELECT * FROM big ORDER BY id % 1000, id DESC", DuckDbOptions{});
}

TEST_F(ArrowCollectorTest, BatchRowsSplitChunks) {
  DuckDbOptions options;
  options.batch_rows = 1000;  // not a multiple of DuckDB's 2048-row vectors
  ExpectSameAsDuckDb(AllTypes(10000), options);
  ASSERT_EQ(batches_.size(), 10u);
  for (const auto& batch : batches_) EXPECT_EQ(batch->num_rows(), 1000);
}

TEST_F(ArrowCollectorTest, BatchBytesBoundEachBatch) {
  DuckDbOptions options;
  options.batch_bytes = 64 << 10;
  ExpectSameAsDuckDb(AllTypes(30000), options);
  ASSERT_GT(batches_.size(), 5u);
  // Each sink's first batch is one vector (it measures the row width); the
  // others fit the budget, give or take their validity bitmaps.
  const int64_t slack = 30000 / 8 * batches_.front()->num_columns();
  int checked = 0;
  for (const auto& batch : batches_) {
    if (batch->num_rows() == 2048) continue;
    EXPECT_LE(arrow::util::TotalBufferSize(*batch), options.batch_bytes + slack);
    ++checked;
  }
  EXPECT_GT(checked, 5);
}

TEST_F(ArrowCollectorTest, StringsThatRunLongerLaterInABatch) {
  // A batch reserves its strings' bytes from its first vector's mean length.
  // Here the batches are rows [0, 2048), [2048, 67584) and [67584, 133120)
  // (one vector, then batch_rows each), and each begins with short strings
  // (some empty, some of exactly 12 bytes, DuckDB's inline limit, some null)
  // that give way to strings of 13 to 300 bytes: the buffer must grow several
  // times over and keep every byte.
  DuckDbOptions options;
  options.batch_bytes = 0;
  ASSERT_EQ(options.batch_rows, 65536);
  ExpectSameAsDuckDb(
      "SELECT i, CASE WHEN i < 4096 OR i BETWEEN 67584 AND 69631 THEN (CASE WHEN i % 5 = 0 THEN NULL "
      "WHEN i % 5 = 1 THEN '' ELSE repeat('s', (i % 13)::INTEGER) END) "
      "ELSE repeat(chr(97 + (i % 26)::INTEGER), (13 + i % 288)::INTEGER) END AS s FROM range(133120) t(i)",
      options);
  ASSERT_EQ(batches_.size(), 3u);
  EXPECT_EQ(batches_[0]->num_rows(), 2048);
  EXPECT_EQ(batches_[1]->num_rows(), 65536);
  EXPECT_EQ(batches_[2]->num_rows(), 65536);
  for (const auto& batch : batches_) {
    // Buffers are handed on at the size of what they hold.
    const auto& data = *batch->column(1)->data();
    const auto* offsets = data.GetValues<int32_t>(1);
    EXPECT_EQ(data.buffers[2]->size(), offsets[batch->num_rows()]);
    EXPECT_EQ(data.buffers[1]->size(), (batch->num_rows() + 1) * 4);
    EXPECT_EQ(batch->column(0)->data()->buffers[1]->size(), batch->num_rows() * 8);
  }
}

TEST_F(ArrowCollectorTest, EmptyResultsKeepTheirSchema) {
  ExpectSameAsDuckDb("SELECT * FROM big WHERE id < 0", DuckDbOptions{});
  EXPECT_TRUE(batches_.empty());
}

TEST_F(ArrowCollectorTest, RowsInAnyOrderWhenTheQueryAllowsIt) {
  auto set = connection_.Query("SET preserve_insertion_order = false");
  ASSERT_FALSE(set->HasError()) << set->GetError();
  auto stream = Collect("SELECT id FROM big", DuckDbOptions{});
  auto batches = Drain(*stream).ValueOrDie();
  std::vector<bool> seen(1000000);
  int64_t rows = 0;
  for (const auto& batch : batches) {
    const auto& ids = static_cast<const arrow::Int64Array&>(*batch->column(0));
    for (int64_t i = 0; i < ids.length(); ++i) {
      ASSERT_FALSE(seen[ids.Value(i)]) << "row " << ids.Value(i) << " twice";
      seen[ids.Value(i)] = true;
      ++rows;
    }
  }
  EXPECT_EQ(rows, 1000000);
}

TEST_F(ArrowCollectorTest, ErrorsMidStreamSurface) {
  auto stream = Collect(
      "SELECT CASE WHEN i = 3000000 THEN error('boom at 3000000') ELSE i END AS v FROM range(5000000) t(i)",
      DuckDbOptions{});
  auto drained = Drain(*stream);
  ASSERT_FALSE(drained.ok());
  EXPECT_NE(drained.status().message().find("boom at 3000000"), std::string::npos) << drained.status();
  // The connection runs the next statement as usual.
  auto next = connection_.Query("SELECT 42");
  ASSERT_FALSE(next->HasError()) << next->GetError();
}

TEST_F(ArrowCollectorTest, ASlowReaderHoldsOnlyAFewBatches) {
  // 1 MiB of room, a ~16 MB result: the sinks wait while the reader sleeps.
  DuckDbOptions options;
  options.batch_bytes = 256 << 10;
  auto stream = Collect("SELECT * FROM big", options, /*capacity=*/1 << 20);
  auto first = stream->Next().ValueOrDie();
  ASSERT_NE(first, nullptr);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the workers fill the queue meanwhile
  // The queue's room, and up to a batch and a chunk more per sink (a sink
  // checks for room before it adds a chunk).
  EXPECT_LE(queue_->bytes_held(), int64_t{2 << 20} + 4 * 2 * options.batch_bytes);
  int64_t rows = first->num_rows();
  while (auto batch = stream->Next().ValueOrDie()) rows += batch->num_rows();
  EXPECT_EQ(rows, 1000000);
}

TEST_F(ArrowCollectorTest, AbandonedStreamLeavesTheConnectionUsable) {
  {
    auto stream = Collect("SELECT * FROM big", DuckDbOptions{}, /*capacity=*/1 << 20);
    ASSERT_NE(stream->Next().ValueOrDie(), nullptr);
  }  // dropped with the sinks waiting for room
  auto next = connection_.Query("SELECT count(*) FROM big");
  ASSERT_FALSE(next->HasError()) << next->GetError();
  EXPECT_EQ(next->GetValue(0, 0).GetValue<int64_t>(), 1000000);
}

TEST_F(ArrowCollectorTest, ArmedWithoutASchemaMakesItWhenTheStatementIsPlanned) {
  const std::string sql = AllTypes(20000);
  auto want = Reference(sql);  // first: a query on the connection closes the one pending
  auto queue = std::make_shared<ArrowBatchQueue>(8 << 20, 8 << 20);
  switch_.Arm(queue, /*schema=*/nullptr, DuckDbOptions{}.batch_rows, DuckDbOptions{}.batch_bytes);
  auto pending = connection_.PendingQuery(sql, /*allow_stream_result=*/false);
  switch_.Disarm();
  ASSERT_FALSE(pending->HasError()) << pending->GetError();
  ASSERT_NE(switch_.taken(), nullptr);
  EXPECT_TRUE(switch_.taken()->Equals(*want->schema()));
  auto stream = MakeCollectedResultStream(std::move(pending), queue, switch_.taken());
  auto batches = Drain(*stream).ValueOrDie();
  auto got = arrow::Table::FromRecordBatches(want->schema(), batches).ValueOrDie();
  EXPECT_TRUE(got->Equals(*want));
}

TEST_F(ArrowCollectorTest, StatementsDuckDbCannotStreamKeepItsUsualCollector) {
  auto created = connection_.Query("CREATE TABLE r (n INTEGER)");
  ASSERT_FALSE(created->HasError()) << created->GetError();
  auto queue = std::make_shared<ArrowBatchQueue>(8 << 20, 8 << 20);
  switch_.Arm(queue, /*schema=*/nullptr, DuckDbOptions{}.batch_rows, DuckDbOptions{}.batch_bytes);
  auto pending = connection_.PendingQuery("INSERT INTO r VALUES (1), (2) RETURNING n", false);
  switch_.Disarm();
  ASSERT_FALSE(pending->HasError()) << pending->GetError();
  EXPECT_EQ(switch_.taken(), nullptr);
  auto result = pending->Execute();
  ASSERT_FALSE(result->HasError()) << result->GetError();
  EXPECT_EQ(result->Cast<duckdb::MaterializedQueryResult>().RowCount(), 2u);
  EXPECT_EQ(queue->bytes_held(), 0);
}

TEST_F(ArrowCollectorTest, RunsOfAPreparedStatementDoNotGrowItsPlan) {
  // DuckDB 1.4 puts each run's collector in the statement's plan, where it
  // stays until the plan goes: a cached plan would grow with every run.
  auto prepared = connection_.Prepare("SELECT i, 'v' || i AS s FROM range(3000) t(i)");
  ASSERT_FALSE(prepared->HasError()) << prepared->GetError();
  auto schema = ToArrowSchema(prepared->GetTypes(), prepared->GetNames(), connection_.context->GetClientProperties())
                    .ValueOrDie();
  auto& arena = prepared->data->physical_plan->ArenaRef();
  duckdb::vector<duckdb::Value> no_parameters;
  std::shared_ptr<const CollectorChoice> choice;
  auto run = [&](bool armed) {
    if (armed) {
      queue_ = std::make_shared<ArrowBatchQueue>(8 << 20, 8 << 20);
      switch_.Arm(queue_, schema, DuckDbOptions{}.batch_rows, DuckDbOptions{}.batch_bytes, choice);
    }
    auto pending = prepared->PendingQuery(no_parameters, /*allow_stream_result=*/false);
    switch_.Disarm();
    ASSERT_FALSE(pending->HasError()) << pending->GetError();
    int64_t rows = 0, sum = 0;
    if (armed) {
      ASSERT_NE(switch_.choice(), nullptr);
      choice = switch_.choice();
      auto stream = MakeCollectedResultStream(std::move(pending), queue_, schema, nullptr);
      for (const auto& batch : Drain(*stream).ValueOrDie()) {
        const auto& ids = static_cast<const arrow::Int64Array&>(*batch->column(0));
        for (int64_t i = 0; i < ids.length(); ++i) sum += ids.Value(i);
        rows += batch->num_rows();
      }
    } else {  // DuckDB's own collector, made by the switch
      auto result = pending->Execute();
      ASSERT_FALSE(result->HasError()) << result->GetError();
      auto& materialized = result->Cast<duckdb::MaterializedQueryResult>();
      for (duckdb::idx_t i = 0; i < materialized.RowCount(); ++i) sum += materialized.GetValue(0, i).GetValue<int64_t>();
      rows = static_cast<int64_t>(materialized.RowCount());
    }
    EXPECT_EQ(rows, 3000);
    EXPECT_EQ(sum, int64_t{3000} * 2999 / 2);
  };
  run(true);
  run(false);
  const auto first = choice;
  EXPECT_EQ(first->plan, prepared->data->physical_plan.get());
  const duckdb::idx_t size = arena.SizeInBytes();
  for (int i = 0; i < 300; ++i) run(i % 3 != 0);
  EXPECT_EQ(arena.SizeInBytes(), size) << "each run left its collector in the plan";
  EXPECT_EQ(choice, first) << "a later run of the same plan chooses again";
  // A choice made for another plan (DuckDB planned the statement again) is not used.
  auto stale = std::make_shared<CollectorChoice>(*first);
  stale->plan = nullptr;
  choice = stale;
  run(true);
  EXPECT_NE(choice, stale);
  EXPECT_EQ(choice->plan, prepared->data->physical_plan.get());
}

TEST(ArrowCollectorLifetimeTest, AConnectionGoesWithItsTransactionWhateverItRanLast) {
  // DuckDB's materialized collector holds its context: a collector kept past
  // its statement would keep the connection, and its open transaction, alive.
  duckdb::DuckDB db(nullptr);
  {
    duckdb::Connection setup(db);
    ASSERT_FALSE(setup.Query("CREATE TABLE t (id INTEGER, x INTEGER); INSERT INTO t VALUES (1, 0)")->HasError());
  }
  for (const bool armed_last : {false, true}) {
    duckdb::weak_ptr<duckdb::ClientContext> context;
    {
      duckdb::Connection connection(db);
      ArrowCollectorSwitch collectors(*connection.context);
      context = connection.context;
      ASSERT_FALSE(connection.Query("BEGIN")->HasError());
      ASSERT_FALSE(connection.Query("UPDATE t SET x = x + 1 WHERE id = 1")->HasError());  // DuckDB's collector
      if (armed_last) {
        auto prepared = connection.Prepare("SELECT x FROM t");
        ASSERT_FALSE(prepared->HasError()) << prepared->GetError();
        auto queue = std::make_shared<ArrowBatchQueue>(1 << 20, 1 << 20);
        collectors.Arm(queue, nullptr, 65536, 8 << 20);
        duckdb::vector<duckdb::Value> no_parameters;
        auto pending = prepared->PendingQuery(no_parameters, /*allow_stream_result=*/false);
        collectors.Disarm();
        ASSERT_NE(collectors.taken(), nullptr);
        auto stream = MakeCollectedResultStream(std::move(pending), queue, collectors.taken(), nullptr);
        while (stream->Next().ValueOrDie() != nullptr) {
        }
      }
    }  // the connection goes with its transaction open
    EXPECT_TRUE(context.expired()) << "the connection's context outlived it (armed last: " << armed_last << ")";
    // Its transaction was rolled back: another connection may change the row.
    duckdb::Connection other(db);
    auto update = other.Query("UPDATE t SET x = 10 WHERE id = 1");
    EXPECT_FALSE(update->HasError()) << update->GetError();
  }
}

TEST(ArrowCollectorNoWorkerTest, TheReaderRunsTheTasksWhenDuckDbHasNoWorker) {
  duckdb::DBConfig config;
  config.SetOptionByName("threads", duckdb::Value::BIGINT(1));  // one thread, the client's: no worker
  duckdb::DuckDB db(nullptr, &config);
  duckdb::Connection connection(db);
  ArrowCollectorSwitch collectors(*connection.context);
  auto prepared = connection.Prepare("SELECT i FROM range(300000) t(i)");
  ASSERT_FALSE(prepared->HasError()) << prepared->GetError();
  auto schema = ToArrowSchema(prepared->GetTypes(), prepared->GetNames(), connection.context->GetClientProperties())
                    .ValueOrDie();
  auto queue = std::make_shared<ArrowBatchQueue>(1 << 20, 1 << 20);
  collectors.Arm(queue, schema, 65536, 8 << 20);
  duckdb::vector<duckdb::Value> no_parameters;
  auto pending = prepared->PendingQuery(no_parameters, /*allow_stream_result=*/false);
  collectors.Disarm();
  auto stream = MakeCollectedResultStream(std::move(pending), queue, schema, nullptr);
  int64_t rows = 0, sum = 0;
  while (auto batch = stream->Next().ValueOrDie()) {
    const auto& values = static_cast<const arrow::Int64Array&>(*batch->column(0));
    for (int64_t i = 0; i < values.length(); ++i) sum += values.Value(i);
    rows += batch->num_rows();
  }
  EXPECT_EQ(rows, 300000);
  EXPECT_EQ(sum, int64_t{300000} * 299999 / 2);
}

}  // namespace
}  // namespace squadron::engine
