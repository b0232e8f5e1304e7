#include "engine/duckdb/arrow_collector.h"

#include <algorithm>
#include <limits>
#include <optional>

#include <arrow/c/bridge.h>
#include <arrow/util/byte_size.h>

#include "duckdb/common/arrow/arrow_appender.hpp"
#include "duckdb/common/types/column/column_data_collection.hpp"
#include "duckdb/execution/operator/helper/physical_batch_collector.hpp"
#include "duckdb/execution/operator/helper/physical_materialized_collector.hpp"
#include "duckdb/execution/operator/helper/physical_result_collector.hpp"
#include "duckdb/execution/physical_plan_generator.hpp"
#include "duckdb/function/table/arrow/arrow_duck_schema.hpp"
#include "duckdb/main/client_context.hpp"
#include "duckdb/main/client_context_state.hpp"
#include "duckdb/main/materialized_query_result.hpp"
#include "duckdb/main/prepared_statement_data.hpp"
#include "engine/duckdb/duckdb_internal.h"

namespace squadron::engine {

// --- ArrowBatchQueue -----------------------------------------------------------

bool ArrowBatchQueue::FullLocked(duckdb::idx_t batch) const {
  // The lowest batch only waits for the reader; higher ones also wait for
  // the batches below them.
  return batch <= min_batch_ ? ready_bytes_ >= ready_capacity_ : pending_bytes_ >= pending_capacity_;
}

bool ArrowBatchQueue::BlockIfFull(duckdb::idx_t batch, const duckdb::InterruptState& state) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (auto grant = granted_.find(batch); grant != granted_.end()) {
    granted_.erase(grant);
    return false;
  }
  if (!FullLocked(batch)) return false;
  blocked_.emplace_back(batch, state);
  return true;
}

void ArrowBatchQueue::Push(duckdb::idx_t batch, std::shared_ptr<arrow::RecordBatch> rows) {
  std::lock_guard<std::mutex> lock(mutex_);
  const int64_t bytes = arrow::util::TotalBufferSize(*rows);
  auto& pending = pending_[batch];
  pending.batches.push_back(std::move(rows));
  pending_bytes_ += bytes;
  MoveReadableLocked();
  changed_.notify_all();
}

void ArrowBatchQueue::Complete(duckdb::idx_t batch) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = pending_.find(batch);
  if (it == pending_.end()) return;
  it->second.complete = true;
  MoveReadableLocked();
}

void ArrowBatchQueue::SetMinBatch(duckdb::idx_t min_batch) {
  std::vector<duckdb::InterruptState> wake;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (min_batch <= min_batch_) return;
    min_batch_ = min_batch;
    MoveReadableLocked();
    wake = UnblockLocked(/*grant=*/false);
    changed_.notify_all();
  }
  WakeSinks(wake);
}

void ArrowBatchQueue::Finish() {
  std::lock_guard<std::mutex> lock(mutex_);
  finished_ = true;
  MoveReadableLocked();
  changed_.notify_all();
}

void ArrowBatchQueue::MoveReadableLocked() {
  // Every batch below the minimum is complete, and no row of a lower batch
  // can still come for the minimum itself: both are readable, in order.
  for (auto it = pending_.begin(); it != pending_.end() && (finished_ || it->first <= min_batch_);) {
    for (auto& rows : it->second.batches) {
      const int64_t bytes = arrow::util::TotalBufferSize(*rows);
      pending_bytes_ -= bytes;
      ready_bytes_ += bytes;
      ready_.push_back(std::move(rows));
    }
    it->second.batches.clear();
    if (finished_ || it->first < min_batch_ || it->second.complete) {
      it = pending_.erase(it);
    } else {
      break;  // the minimum batch, still being computed
    }
  }
}

std::vector<duckdb::InterruptState> ArrowBatchQueue::UnblockLocked(bool grant) {
  std::vector<duckdb::InterruptState> wake;
  for (auto it = blocked_.begin(); it != blocked_.end();) {
    if (!grant && FullLocked(it->first)) {
      ++it;
      continue;
    }
    if (FullLocked(it->first)) granted_.insert(it->first);
    wake.push_back(std::move(it->second));
    it = blocked_.erase(it);
  }
  return wake;
}

void ArrowBatchQueue::WakeSinks(const std::vector<duckdb::InterruptState>& sinks) {
  for (const auto& sink : sinks) sink.Callback();
}

std::shared_ptr<arrow::RecordBatch> ArrowBatchQueue::Pop() {
  std::vector<duckdb::InterruptState> wake;
  std::shared_ptr<arrow::RecordBatch> rows;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (ready_.empty()) {
      // Nothing to read, and sinks wait for room: they wait on a batch index
      // below theirs that DuckDB has not reported done (it reports the
      // minimum as threads move on). Each may add one more chunk; that moves
      // the query on, and its next batch reports the minimum.
      if (!finished_ && !blocked_.empty() && sinks_ > 0 && blocked_.size() >= static_cast<size_t>(sinks_)) {
        wake = UnblockLocked(/*grant=*/true);
      }
    } else {
      rows = std::move(ready_.front());
      ready_.pop_front();
      ready_bytes_ -= arrow::util::TotalBufferSize(*rows);
      wake = UnblockLocked(/*grant=*/false);
    }
  }
  WakeSinks(wake);
  return rows;
}

bool ArrowBatchQueue::WaitForRows(std::chrono::steady_clock::time_point until) {
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait_until(lock, until, [&] { return !ready_.empty() || finished_; });
  return !ready_.empty() || finished_;
}

bool ArrowBatchQueue::Drained() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return finished_ && ready_.empty() && pending_.empty();
}

int64_t ArrowBatchQueue::bytes_held() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return ready_bytes_ + pending_bytes_;
}

void ArrowBatchQueue::SinkStarted() {
  std::lock_guard<std::mutex> lock(mutex_);
  ++sinks_;
}

void ArrowBatchQueue::SinkEnded() {
  std::lock_guard<std::mutex> lock(mutex_);
  --sinks_;
}

// --- the collector ---------------------------------------------------------------

namespace {

using duckdb::idx_t;

// DuckDB fills one vector (2048 rows) at a time; a sink's first batch is one
// vector, quick to the client, and later ones grow to the byte target.
constexpr int64_t kVectorRows = STANDARD_VECTOR_SIZE;

class CollectorGlobalState final : public duckdb::GlobalSinkState {
 public:
  explicit CollectorGlobalState(std::shared_ptr<const CollectorChoice> choice) : choice(std::move(choice)) {}
  const std::shared_ptr<const CollectorChoice> choice;
};

class CollectorLocalState final : public duckdb::LocalSinkState {
 public:
  explicit CollectorLocalState(std::shared_ptr<ArrowBatchQueue> queue) : queue(std::move(queue)) {
    this->queue->SinkStarted();
  }
  ~CollectorLocalState() override {
    if (!ended) queue->SinkEnded();
  }
  void End() {
    if (!ended) queue->SinkEnded();
    ended = true;
  }

  std::shared_ptr<ArrowBatchQueue> queue;
  // Types ChunkBatchAppender knows.
  std::optional<ChunkBatchAppender> chunks;
  // Other types: DuckDB's own Arrow export.
  std::unique_ptr<duckdb::ArrowAppender> appender;
  idx_t batch = 0;
  int64_t target_rows = kVectorRows;
  bool ended = false;
};

class ArrowStreamCollector final : public duckdb::PhysicalResultCollector {
 public:
  using Order = CollectorChoice::Order;

  ArrowStreamCollector(duckdb::PhysicalPlan& plan, duckdb::PreparedStatementData& data,
                       std::shared_ptr<const CollectorChoice> choice, std::shared_ptr<ArrowBatchQueue> queue,
                       std::shared_ptr<arrow::Schema> schema, int64_t batch_rows, int64_t batch_bytes)
      : PhysicalResultCollector(plan, data),
        choice_(std::move(choice)),
        order_(choice_->order),
        queue_(std::move(queue)),
        schema_(std::move(schema)),
        batch_rows_(std::max<int64_t>(1, batch_rows)),
        batch_bytes_(batch_bytes),
        copies_(choice_->copies) {}

  duckdb::SinkResultType Sink(duckdb::ExecutionContext& context, duckdb::DataChunk& chunk,
                              duckdb::OperatorSinkInput& input) const override {
    auto& local = input.local_state.Cast<CollectorLocalState>();
    if (order_ == Order::kBatchIndex) {
      local.batch = local.partition_info.batch_index.GetIndex();
      queue_->SetMinBatch(local.partition_info.min_batch_index.GetIndex());
    }
    if (queue_->BlockIfFull(local.batch, input.interrupt_state)) return duckdb::SinkResultType::BLOCKED;
    const idx_t count = chunk.size();
    if (copies_) {
      if (!local.chunks) local.chunks = ChunkBatchAppender::Make(types, schema_);
      chunk.Flatten();
      for (int64_t done = 0, total = static_cast<int64_t>(count); done < total;) {
        const int64_t take = std::min(local.target_rows - local.chunks->rows(), total - done);
        auto status = local.chunks->Append(chunk, done, take, local.target_rows);
        if (!status.ok()) throw duckdb::InvalidInputException(status.message());
        done += take;
        if (local.chunks->rows() >= local.target_rows ||
            (batch_bytes_ > 0 && local.chunks->bytes() >= batch_bytes_)) {
          Flush(local);
        }
      }
      return duckdb::SinkResultType::NEED_MORE_INPUT;
    }
    for (idx_t done = 0; done < count;) {
      if (!local.appender) {
        local.appender = std::make_unique<duckdb::ArrowAppender>(
            types, static_cast<idx_t>(local.target_rows), choice_->properties,
            duckdb::ArrowTypeExtensionData::GetExtensionTypes(context.client, types));
      }
      const idx_t room = static_cast<idx_t>(local.target_rows) - local.appender->RowCount();
      const idx_t take = std::min(room, count - done);
      local.appender->Append(chunk, done, done + take, count);
      done += take;
      if (local.appender->RowCount() >= static_cast<idx_t>(local.target_rows)) Flush(local);
    }
    return duckdb::SinkResultType::NEED_MORE_INPUT;
  }

  duckdb::SinkNextBatchType NextBatch(duckdb::ExecutionContext&,
                                      duckdb::OperatorSinkNextBatchInput& input) const override {
    auto& local = input.local_state.Cast<CollectorLocalState>();
    Flush(local);
    queue_->Complete(local.batch);
    local.batch = local.partition_info.batch_index.GetIndex();
    queue_->SetMinBatch(local.partition_info.min_batch_index.GetIndex());
    return duckdb::SinkNextBatchType::READY;
  }

  duckdb::SinkCombineResultType Combine(duckdb::ExecutionContext&,
                                        duckdb::OperatorSinkCombineInput& input) const override {
    auto& local = input.local_state.Cast<CollectorLocalState>();
    Flush(local);
    if (order_ == Order::kBatchIndex) {
      queue_->Complete(local.batch);
      queue_->SetMinBatch(local.partition_info.min_batch_index.GetIndex());
    }
    local.End();
    return duckdb::SinkCombineResultType::FINISHED;
  }

  duckdb::SinkFinalizeType Finalize(duckdb::Pipeline&, duckdb::Event&, duckdb::ClientContext&,
                                    duckdb::OperatorSinkFinalizeInput&) const override {
    queue_->Finish();
    return duckdb::SinkFinalizeType::READY;
  }

  duckdb::unique_ptr<duckdb::LocalSinkState> GetLocalSinkState(duckdb::ExecutionContext&) const override {
    auto local = duckdb::make_uniq<CollectorLocalState>(queue_);
    local->target_rows = std::min(kVectorRows, batch_rows_);
    return local;
  }

  duckdb::unique_ptr<duckdb::GlobalSinkState> GetGlobalSinkState(duckdb::ClientContext&) const override {
    return duckdb::make_uniq<CollectorGlobalState>(choice_);
  }

  // The rows went to the queue: DuckDB gets an empty result.
  duckdb::unique_ptr<duckdb::QueryResult> GetResult(duckdb::GlobalSinkState& state) override {
    auto& global = state.Cast<CollectorGlobalState>();
    auto empty = duckdb::make_uniq<duckdb::ColumnDataCollection>(duckdb::Allocator::DefaultAllocator(), types);
    return duckdb::make_uniq<duckdb::MaterializedQueryResult>(statement_type, properties, names, std::move(empty),
                                                              global.choice->properties);
  }

  duckdb::OperatorPartitionInfo RequiredPartitionInfo() const override {
    return order_ == Order::kBatchIndex ? duckdb::OperatorPartitionInfo::BatchIndex()
                                        : duckdb::OperatorPartitionInfo::NoPartitionInfo();
  }
  bool ParallelSink() const override { return order_ != Order::kSingleThread; }
  bool SinkOrderDependent() const override { return order_ != Order::kNone; }

 private:
  // Hands the sink's rows to the queue as one Arrow batch, and sizes its
  // next batch to the byte target from this one's row width.
  void Flush(CollectorLocalState& local) const {
    std::shared_ptr<arrow::RecordBatch> rows;
    if (local.chunks) {
      if (local.chunks->rows() == 0) return;
      auto finished = local.chunks->Finish();
      if (!finished.ok()) throw duckdb::InvalidInputException(finished.status().message());
      rows = std::move(*finished);
    } else {
      if (!local.appender || local.appender->RowCount() == 0) return;
      ArrowArray array = local.appender->Finalize();
      local.appender.reset();
      auto imported = arrow::ImportRecordBatch(&array, schema_);
      if (!imported.ok()) {
        throw duckdb::InternalException("Arrow import of a result batch failed: %s", imported.status().ToString());
      }
      rows = std::move(*imported);
    }
    const int64_t n = rows->num_rows();
    if (batch_bytes_ > 0 && n > 0) {
      const int64_t row_bytes = std::max<int64_t>(1, arrow::util::TotalBufferSize(*rows) / n);
      int64_t fit = batch_bytes_ / row_bytes;
      // Whole vectors when a batch holds several; else as many rows as fit.
      fit = fit >= kVectorRows ? fit / kVectorRows * kVectorRows : std::max<int64_t>(1, fit);
      local.target_rows = std::min(fit, batch_rows_);
    } else {
      local.target_rows = batch_rows_;
    }
    queue_->Push(local.batch, std::move(rows));
  }

  const std::shared_ptr<const CollectorChoice> choice_;
  const Order order_;
  const std::shared_ptr<ArrowBatchQueue> queue_;
  const std::shared_ptr<arrow::Schema> schema_;
  const int64_t batch_rows_;
  const int64_t batch_bytes_;
  const bool copies_;  // ChunkBatchAppender knows every column's type
};

}  // namespace

// Owns the collector of the connection's current statement, until the
// statement ends. It is the context's registered state, so it goes with the
// context, after the context has ended its last query.
//
// It must not keep a collector past its statement: DuckDB's materialized
// collector keeps a shared_ptr to the context in its sink state, which would
// then keep the context (and its open transaction, and the database) alive
// through this state forever.
class ArrowCollectorSwitch::Keeper final : public duckdb::ClientContextState {
 public:
  using duckdb::ClientContextState::QueryEnd;
  // DuckDB calls this once the statement's executor is gone
  // (ClientContext::EndQueryInternal), after the result was taken from the
  // collector.
  void QueryEnd(duckdb::ClientContext&, duckdb::optional_ptr<duckdb::ErrorData>) override { current.reset(); }

  duckdb::unique_ptr<duckdb::PhysicalOperator> current;
};

namespace {

// The order DuckDB's own collectors keep (PhysicalResultCollector::
// GetResultCollector): rows in any order when the plan need not keep it,
// else by batch index when every source has one, else on one thread.
CollectorChoice::Order OrderFor(duckdb::ClientContext& context, duckdb::PhysicalOperator& root) {
  if (!duckdb::PhysicalPlanGenerator::PreserveInsertionOrder(context, root)) return CollectorChoice::Order::kNone;
  if (duckdb::PhysicalPlanGenerator::UseBatchIndex(context, root)) return CollectorChoice::Order::kBatchIndex;
  return CollectorChoice::Order::kSingleThread;
}

// DuckDB's own collector for a statement it does not stream, made outside
// the plan.
duckdb::unique_ptr<duckdb::PhysicalOperator> DuckDbCollector(duckdb::ClientContext& context,
                                                             duckdb::PreparedStatementData& data) {
  auto& plan = *data.physical_plan;
  switch (OrderFor(context, plan.Root())) {
    case CollectorChoice::Order::kNone:
      return duckdb::make_uniq<duckdb::PhysicalMaterializedCollector>(plan, data, /*parallel=*/true);
    case CollectorChoice::Order::kSingleThread:
      return duckdb::make_uniq<duckdb::PhysicalMaterializedCollector>(plan, data, /*parallel=*/false);
    case CollectorChoice::Order::kBatchIndex:
      break;
  }
  return duckdb::make_uniq<duckdb::PhysicalBatchCollector>(plan, data);
}

}  // namespace

ArrowCollectorSwitch::~ArrowCollectorSwitch() { context_.config.get_result_collector = nullptr; }

ArrowCollectorSwitch::ArrowCollectorSwitch(duckdb::ClientContext& context)
    : context_(context), keeper_(context.registered_state->GetOrCreate<Keeper>("squadron_arrow_collector")) {
  context.config.get_result_collector = [this](duckdb::ClientContext& c,
                                               duckdb::PreparedStatementData& data) -> duckdb::PhysicalOperator& {
    return Make(c, data);
  };
}

void ArrowCollectorSwitch::Arm(std::shared_ptr<ArrowBatchQueue> queue, std::shared_ptr<arrow::Schema> schema,
                               int64_t batch_rows, int64_t batch_bytes, std::shared_ptr<const CollectorChoice> known) {
  armed_ = std::move(queue);
  schema_ = std::move(schema);
  known_ = std::move(known);
  taken_ = nullptr;
  choice_ = nullptr;
  batch_rows_ = batch_rows;
  batch_bytes_ = batch_bytes;
}

duckdb::PhysicalOperator& ArrowCollectorSwitch::Make(duckdb::ClientContext& context,
                                                     duckdb::PreparedStatementData& data) {
  // DuckDB ends a connection's query before it plans the next one
  // (ClientContext::InitialCleanup): nothing uses the last collector now.
  // (Keeper::QueryEnd has freed it already.)
  keeper_->current.reset();
  auto queue = std::move(armed_);
  auto known = std::move(known_);
  armed_ = nullptr;
  known_ = nullptr;
  if (queue == nullptr || !data.properties.allow_stream_result) {
    keeper_->current = DuckDbCollector(context, data);
    return *keeper_->current;
  }
  if (schema_ == nullptr) {
    // Armed before the statement was planned. DuckDB's converter throws for
    // a type Arrow cannot hold, which fails the statement as it should.
    auto schema = ToArrowSchema(data.types, data.names, context.GetClientProperties());
    if (!schema.ok()) throw duckdb::InvalidInputException(schema.status().ToString());
    schema_ = *std::move(schema);
  }
  taken_ = schema_;
  auto& plan = *data.physical_plan;
  if (known == nullptr || known->plan != &plan) {
    // DuckDB may have planned the statement again (a rebind): choose anew.
    auto choice = std::make_shared<CollectorChoice>();
    choice->plan = &plan;
    choice->properties = context.GetClientProperties();
    choice->order = OrderFor(context, plan.Root());
    choice->copies = ChunkBatchAppender::Make(data.types, schema_).has_value();
    known = std::move(choice);
  }
  choice_ = known;
  keeper_->current = duckdb::make_uniq<ArrowStreamCollector>(plan, data, std::move(known), std::move(queue),
                                                             std::move(schema_), batch_rows_, batch_bytes_);
  return *keeper_->current;
}

}  // namespace squadron::engine
