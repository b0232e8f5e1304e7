// DuckDB results as streams of Arrow batches.
#include <algorithm>
#include <chrono>
#include <functional>
#include <limits>

#include <arrow/c/bridge.h>
#include <arrow/type.h>
#include <arrow/util/byte_size.h>

#include "common/status.h"
#include "duckdb/common/arrow/result_arrow_wrapper.hpp"
#include "duckdb/main/materialized_query_result.hpp"
#include "duckdb/main/pending_query_result.hpp"
#include "engine/duckdb/arrow_collector.h"
#include "engine/duckdb/duckdb_internal.h"

namespace squadron::engine {

namespace {

// DuckDB appends rows to an Arrow batch one vector (2048 rows) at a time.
constexpr int64_t kVectorRows = STANDARD_VECTOR_SIZE;

// The row count of a materialised result, known before it is read.
std::optional<int64_t> MaterializedRows(duckdb::QueryResult& result) {
  if (result.type != duckdb::QueryResultType::MATERIALIZED_RESULT) return std::nullopt;
  return static_cast<int64_t>(result.Cast<duckdb::MaterializedQueryResult>().RowCount());
}

// A DuckDB result exported batch by batch through the Arrow C stream
// interface; each ArrowArray is imported without copying.
class DuckDbExportStream final : public ResultStream {
 public:
  static arrow::Result<std::unique_ptr<ResultStream>> Make(duckdb::unique_ptr<duckdb::QueryResult> result,
                                                           const DuckDbOptions& options) {
    const std::optional<int64_t> num_rows = MaterializedRows(*result);
    const int64_t batch_rows = std::max<int64_t>(1, options.batch_rows);
    // The first batch is one vector: quick to the client and a measure of the
    // row width; later batches grow to fit batch_bytes (FitBatchToBytes).
    const int64_t first_rows = std::min(batch_rows, kVectorRows);
    // The wrapper owns the result; stream.release deletes the wrapper.
    auto* wrapper = new duckdb::ResultArrowArrayStreamWrapper(std::move(result), first_rows);
    auto stream = std::unique_ptr<DuckDbExportStream>(
        new DuckDbExportStream(wrapper, num_rows, batch_rows, options.batch_bytes));
    ArrowSchema c_schema;
    if (wrapper->stream.get_schema(&wrapper->stream, &c_schema) != 0) {
      return FromDuckDb(wrapper->last_error);
    }
    ARROW_ASSIGN_OR_RAISE(auto schema, arrow::ImportSchema(&c_schema));
    stream->schema_ = WithTypeMetadata(schema, wrapper->column_types);
    return stream;
  }

  ~DuckDbExportStream() override { Release(); }

  const std::shared_ptr<arrow::Schema>& schema() const override { return schema_; }

  std::optional<int64_t> num_rows() const override { return num_rows_; }

  arrow::Result<std::shared_ptr<arrow::RecordBatch>> Next() override {
    if (wrapper_ == nullptr) return nullptr;
    ArrowArray c_array;
    if (wrapper_->stream.get_next(&wrapper_->stream, &c_array) != 0) {
      auto status = FromDuckDb(wrapper_->last_error);
      Release();
      return status;
    }
    if (c_array.release == nullptr) {
      Release();  // frees DuckDB's execution state as soon as the end is seen
      return nullptr;
    }
    ARROW_ASSIGN_OR_RAISE(auto batch, arrow::ImportRecordBatch(&c_array, schema_));
    FitBatchToBytes(*batch);
    return batch;
  }

 private:
  DuckDbExportStream(duckdb::ResultArrowArrayStreamWrapper* wrapper, std::optional<int64_t> num_rows,
                     int64_t batch_rows, int64_t batch_bytes)
      : wrapper_(wrapper), num_rows_(num_rows), batch_rows_(batch_rows), batch_bytes_(batch_bytes) {}

  // Lowers the rows per batch for wide rows so a batch stays near batch_bytes.
  void FitBatchToBytes(const arrow::RecordBatch& batch) {
    if (batch_bytes_ <= 0 || batch.num_rows() == 0 || wrapper_ == nullptr) return;
    const int64_t bytes = arrow::util::TotalBufferSize(batch);
    const int64_t row_bytes = std::max<int64_t>(1, bytes / batch.num_rows());
    int64_t rows = batch_bytes_ / row_bytes;
    rows = rows >= kVectorRows ? rows / kVectorRows * kVectorRows : kVectorRows;
    wrapper_->batch_size = static_cast<duckdb::idx_t>(std::min(rows, batch_rows_));
  }

  void Release() {
    if (wrapper_ != nullptr) {
      wrapper_->stream.release(&wrapper_->stream);
      wrapper_ = nullptr;
    }
  }

  duckdb::ResultArrowArrayStreamWrapper* wrapper_;  // owned via stream.release
  std::shared_ptr<arrow::Schema> schema_;
  const std::optional<int64_t> num_rows_;
  const int64_t batch_rows_;
  const int64_t batch_bytes_;
};

// A DuckDB result copied into Arrow batches by ChunkBatchBuilder, one chunk
// at a time as DuckDB produces them.
class ChunkResultStream final : public ResultStream {
 public:
  ChunkResultStream(duckdb::unique_ptr<duckdb::QueryResult> result, std::shared_ptr<arrow::Schema> schema,
                    ChunkBatchBuilder builder, std::optional<int64_t> num_rows, const DuckDbOptions& options)
      : result_(std::move(result)),
        schema_(std::move(schema)),
        builder_(std::move(builder)),
        num_rows_(num_rows),
        batch_rows_(std::max<int64_t>(1, options.batch_rows)),
        batch_bytes_(options.batch_bytes > 0 ? options.batch_bytes : std::numeric_limits<int64_t>::max()) {}

  const std::shared_ptr<arrow::Schema>& schema() const override { return schema_; }
  std::optional<int64_t> num_rows() const override { return num_rows_; }

  arrow::Result<std::shared_ptr<arrow::RecordBatch>> Next() override {
    if (result_ == nullptr) return nullptr;
    // The first batch is at most one vector, quick to the client; later
    // ones fill batch_bytes (or batch_rows).
    const int64_t rows = first_ ? std::min(batch_rows_, kVectorRows) : batch_rows_;
    first_ = false;
    try {
      while (builder_.rows() < rows && builder_.bytes() < batch_bytes_) {
        if (chunk_ == nullptr || offset_ == chunk_->size()) {
          chunk_.reset();
          if (fetched_all_) break;
          auto next = result_->Fetch();
          if (next == nullptr) {
            fetched_all_ = true;  // DuckDB closed the result: it must not be fetched again
            break;
          }
          chunk_ = std::shared_ptr<duckdb::DataChunk>(next.release());
          offset_ = 0;
          continue;
        }
        const auto wanted = std::min<duckdb::idx_t>(chunk_->size() - offset_, rows - builder_.rows());
        const auto added = builder_.Add(chunk_, offset_, wanted, batch_bytes_ - builder_.bytes());
        if (added == 0) break;  // the batch is full
        offset_ += added;
      }
    } catch (const std::exception& e) {
      result_.reset();
      return FromDuckDb(duckdb::ErrorData(e));
    }
    if (result_->HasError()) {
      auto status = FromDuckDb(result_->GetErrorObject());
      result_.reset();
      return status;
    }
    if (builder_.rows() == 0) {
      result_.reset();  // frees DuckDB's execution state as soon as the end is seen
      return nullptr;
    }
    return builder_.Finish(arrow::default_memory_pool());
  }

 private:
  duckdb::unique_ptr<duckdb::QueryResult> result_;  // null once ended
  const std::shared_ptr<arrow::Schema> schema_;
  ChunkBatchBuilder builder_;
  const std::optional<int64_t> num_rows_;
  const int64_t batch_rows_;
  const int64_t batch_bytes_;
  std::shared_ptr<duckdb::DataChunk> chunk_;  // rows not yet in a batch
  duckdb::idx_t offset_ = 0;                  // into chunk_
  bool fetched_all_ = false;
  bool first_ = true;
};

// How long a plan took last time, from the first Next() to the end of its
// rows, shared by its runs through CachedPlan::last_run_us (may be null).
class RunTimer {
 public:
  explicit RunTimer(std::shared_ptr<std::atomic<int64_t>> last_run) : last_run_(std::move(last_run)) {}

  // The last run was this short: it may be computed on the caller's own
  // thread this time.
  bool quick() const {
    if (last_run_ == nullptr) return false;
    const int64_t micros = last_run_->load(std::memory_order_relaxed);
    return micros >= 0 && micros <= kQuickRunMicros;
  }
  void Start() {
    if (!started_) started_at_ = std::chrono::steady_clock::now();
    started_ = true;
  }
  void Stop() {
    if (last_run_ == nullptr || !started_ || stopped_) return;
    stopped_ = true;
    const auto elapsed = std::chrono::steady_clock::now() - started_at_;
    last_run_->store(std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count(),
                     std::memory_order_relaxed);
  }

 private:
  static constexpr int64_t kQuickRunMicros = 1000;
  const std::shared_ptr<std::atomic<int64_t>> last_run_;
  std::chrono::steady_clock::time_point started_at_;
  bool started_ = false;
  bool stopped_ = false;
};

// A query whose rows DuckDB's threads convert to Arrow as they compute them
// (ArrowStreamCollector), read from its ArrowBatchQueue. DuckDB runs it as a
// non-streaming statement; the sinks wait whenever the queue is full. While
// no batch is ready the reader runs the query's tasks beside DuckDB's
// workers, as DuckDB's own client thread does, a part of one at a time
// (scheduler_process_partial): it holds no task while it is away sending.
class CollectedResultStream final : public ResultStream {
 public:
  CollectedResultStream(duckdb::unique_ptr<duckdb::PendingQueryResult> pending,
                        std::shared_ptr<ArrowBatchQueue> queue, std::shared_ptr<arrow::Schema> schema,
                        std::shared_ptr<std::atomic<int64_t>> run_time, std::function<void()> after_runs)
      : pending_(std::move(pending)),
        queue_(std::move(queue)),
        schema_(std::move(schema)),
        timer_(std::move(run_time)),
        after_runs_(std::move(after_runs)) {}

  ~CollectedResultStream() override {
    pending_.reset();  // ends a query still running
    if (after_runs_) after_runs_();
  }

  const std::shared_ptr<arrow::Schema>& schema() const override { return schema_; }
  std::optional<int64_t> num_rows() const override { return std::nullopt; }

  bool expect_quick() const override { return timer_.quick(); }

  // Waits (running no task: one can take seconds) until a batch is ready or
  // the query has ended, or until the deadline.
  bool Advance(std::chrono::steady_clock::time_point deadline) override {
    while (true) {
      if (pending_ == nullptr) return true;
      const auto now = std::chrono::steady_clock::now();
      if (queue_->WaitForRows(std::min(deadline, now + std::chrono::milliseconds(1)))) return true;
      try {
        if (duckdb::PendingQueryResult::IsResultReady(pending_->CheckPulse())) return true;
      } catch (const std::exception&) {
        return true;  // Next() reports it
      }
      if (std::chrono::steady_clock::now() >= deadline) return false;
    }
  }

  arrow::Result<std::shared_ptr<arrow::RecordBatch>> Next() override {
    timer_.Start();
    while (true) {
      if (!failed_.ok()) return failed_;  // later calls repeat the error
      if (auto rows = queue_->Pop()) return rows;
      if (pending_ == nullptr) {
        timer_.Stop();
        return nullptr;
      }
      ARROW_RETURN_NOT_OK(Work());
    }
  }

 private:
  // Runs a part of one of the query's tasks, and ends the statement once
  // DuckDB is done.
  arrow::Status Work() {
    try {
      const auto state = pending_->ExecuteTask();
      if (duckdb::PendingQueryResult::IsResultReady(state)) {
        if (pending_->HasError()) return Fail(pending_->GetErrorObject());
        auto result = pending_->Execute();  // the collector's empty result; ends the statement
        if (result->HasError()) return Fail(result->GetErrorObject());
        pending_.reset();
        return arrow::Status::OK();
      }
      if (state == duckdb::PendingExecutionResult::BLOCKED ||
          state == duckdb::PendingExecutionResult::NO_TASKS_AVAILABLE) {
        // Every task is on a worker or waits for room: wait for a batch.
        queue_->WaitForRows(std::chrono::steady_clock::now() + std::chrono::microseconds(200));
      }
      return arrow::Status::OK();
    } catch (const std::exception& e) {
      return Fail(duckdb::ErrorData(e));
    }
  }

  arrow::Status Fail(const duckdb::ErrorData& error) {
    auto status = FromDuckDb(error);
    pending_.reset();
    failed_ = status;
    return status;
  }

  duckdb::unique_ptr<duckdb::PendingQueryResult> pending_;  // null once the statement has ended
  const std::shared_ptr<ArrowBatchQueue> queue_;
  const std::shared_ptr<arrow::Schema> schema_;
  RunTimer timer_;
  const std::function<void()> after_runs_;  // may be empty
  arrow::Status failed_;
};

// Runs a prepared statement once per parameter set, streaming each result
// in turn. Only one DuckDB result is open at a time.
class ParameterizedResultStream final : public ResultStream {
 public:
  ParameterizedResultStream(duckdb::unique_ptr<duckdb::PreparedStatement> prepared,
                            ParameterBatches parameters, ParameterSpec spec, ColumnOrigins origins,
                            ParameterSetRunner run_set, std::function<void()> after_runs)
      : prepared_(std::move(prepared)),
        parameters_(std::move(parameters)),
        spec_(std::move(spec)),
        origins_(std::move(origins)),
        run_set_(std::move(run_set)),
        after_runs_(std::move(after_runs)) {}

  ~ParameterizedResultStream() override {
    current_.reset();
    if (after_runs_) after_runs_();
  }

  const std::shared_ptr<arrow::Schema>& schema() const override { return schema_; }
  std::optional<int64_t> num_rows() const override { return std::nullopt; }

  // Waits for the current set's rows; the later sets run as they are read.
  bool Advance(std::chrono::steady_clock::time_point deadline) override {
    return current_ == nullptr || current_->Advance(deadline);
  }

  arrow::Result<std::shared_ptr<arrow::RecordBatch>> Next() override {
    while (true) {
      if (current_) {
        ARROW_ASSIGN_OR_RAISE(auto batch, current_->Next());
        if (batch) return batch;
        current_.reset();
      }
      if (!AdvanceToNextSet()) return nullptr;
      ARROW_RETURN_NOT_OK(RunCurrentSet());
    }
  }

  // Runs the first parameter set, whose result fixes the schema (DuckDB binds
  // untyped parameters only when it sees their values).
  arrow::Status Start() {
    if (AdvanceToNextSet()) {
      ARROW_RETURN_NOT_OK(RunCurrentSet());
      schema_ = WithColumnOrigins(current_->schema(), origins_);
      return arrow::Status::OK();
    }
    ARROW_ASSIGN_OR_RAISE(schema_, ToArrowSchema(KnownTypes(prepared_->GetTypes()), prepared_->GetNames(),
                                                 prepared_->context->GetClientProperties()));
    schema_ = WithColumnOrigins(schema_, origins_);
    return arrow::Status::OK();
  }

 private:
  arrow::Status RunCurrentSet() {
    ARROW_ASSIGN_OR_RAISE(auto values, BindRow(spec_, *parameters_[batch_], row_));
    try {
      ARROW_ASSIGN_OR_RAISE(current_, run_set_(*prepared_, values));
    } catch (const std::exception& e) {
      return FromDuckDb(duckdb::ErrorData(e));
    }
    if (schema_ && !current_->schema()->Equals(*schema_)) {
      return InvalidArgument("Parameter set ", row_ + 1, " gives result columns (",
                             current_->schema()->ToString(), ") unlike the earlier sets (",
                             schema_->ToString(), "): cast the parameters in the SQL");
    }
    return arrow::Status::OK();
  }

  // Moves (batch_, row_) to the next parameter set; false when none is left.
  bool AdvanceToNextSet() {
    if (started_) ++row_;
    started_ = true;
    while (batch_ < parameters_.size() && row_ >= parameters_[batch_]->num_rows()) {
      ++batch_;
      row_ = 0;
    }
    return batch_ < parameters_.size();
  }

  duckdb::unique_ptr<duckdb::PreparedStatement> prepared_;
  const ParameterBatches parameters_;
  const ParameterSpec spec_;
  const ColumnOrigins origins_;
  std::shared_ptr<arrow::Schema> schema_;  // set by Start()
  const ParameterSetRunner run_set_;
  const std::function<void()> after_runs_;  // may be empty
  std::unique_ptr<ResultStream> current_;
  size_t batch_ = 0;
  int64_t row_ = 0;
  bool started_ = false;
};

}  // namespace

arrow::Result<std::unique_ptr<ResultStream>> MakeResultStream(
    duckdb::unique_ptr<duckdb::QueryResult> result, const DuckDbOptions& options,
    std::shared_ptr<arrow::Schema> schema) {
  if (schema == nullptr) {
    ARROW_ASSIGN_OR_RAISE(schema, ToArrowSchema(result->types, result->names, result->client_properties));
  }
  auto builder = ChunkBatchBuilder::Make(result->types, schema);
  if (!builder) return DuckDbExportStream::Make(std::move(result), options);
  const std::optional<int64_t> num_rows = MaterializedRows(*result);
  return std::make_unique<ChunkResultStream>(std::move(result), std::move(schema), std::move(*builder), num_rows,
                                             options);
}

arrow::Result<std::unique_ptr<ResultStream>> MakeDuckDbExportStream(
    duckdb::unique_ptr<duckdb::QueryResult> result, const DuckDbOptions& options) {
  return DuckDbExportStream::Make(std::move(result), options);
}

std::unique_ptr<ResultStream> MakeCollectedResultStream(duckdb::unique_ptr<duckdb::PendingQueryResult> pending,
                                                        std::shared_ptr<ArrowBatchQueue> queue,
                                                        std::shared_ptr<arrow::Schema> schema,
                                                        std::shared_ptr<std::atomic<int64_t>> run_time,
                                                        std::function<void()> after_runs) {
  return std::make_unique<CollectedResultStream>(std::move(pending), std::move(queue), std::move(schema),
                                                 std::move(run_time), std::move(after_runs));
}

arrow::Result<std::unique_ptr<ResultStream>> MakeParameterizedResultStream(
    duckdb::unique_ptr<duckdb::PreparedStatement> prepared, ParameterBatches parameters,
    ColumnOrigins origins, ParameterSetRunner run_set, std::function<void()> after_runs) {
  ParameterSpec spec = DescribeParameters(*prepared);
  for (const auto& batch : parameters) ARROW_RETURN_NOT_OK(CheckParameterBatch(spec, *batch));
  auto stream = std::make_unique<ParameterizedResultStream>(std::move(prepared), std::move(parameters),
                                                            std::move(spec), std::move(origins),
                                                            std::move(run_set), std::move(after_runs));
  ARROW_RETURN_NOT_OK(stream->Start());
  return stream;
}

}  // namespace squadron::engine
