// A DuckDB result collector that converts rows to Arrow on the threads that
// compute them, and hands the batches to one reader in the result's order.
//
// DuckDB's own streaming collectors copy every chunk into a buffer for the
// reader, which then converts it to Arrow on its one thread. This collector
// converts in the sink instead, on each of DuckDB's threads at once, and
// keeps at most a few batches' worth of bytes: sinks block (DuckDB's
// InterruptState) until the reader takes batches.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <utility>
#include <vector>

#include <arrow/record_batch.h>

#include "duckdb.hpp"
#include "duckdb/main/client_properties.hpp"
#include "duckdb/parallel/interrupt.hpp"

namespace duckdb {
class PhysicalPlan;
}  // namespace duckdb

namespace squadron::engine {

/// Arrow batches on their way from a query's sinks to its reader. Batches
/// carry DuckDB's batch index; they become readable in index order once
/// every lower index is complete. Thread-safe.
class ArrowBatchQueue {
 public:
  /// `ready_capacity`: bytes readable before the sink of the lowest batch
  /// waits; `pending_capacity`: bytes of higher batches held back before
  /// their sinks wait.
  ArrowBatchQueue(int64_t ready_capacity, int64_t pending_capacity)
      : ready_capacity_(ready_capacity), pending_capacity_(pending_capacity) {}

  // --- the sinks' side -------------------------------------------------------

  /// True when the sink working on `batch` must wait: `state` is kept and
  /// called back once the reader has made room. Call before adding rows.
  bool BlockIfFull(duckdb::idx_t batch, const duckdb::InterruptState& state);
  /// Adds a converted batch of rows of DuckDB batch `batch`.
  void Push(duckdb::idx_t batch, std::shared_ptr<arrow::RecordBatch> rows);
  /// No more rows of `batch` will come.
  void Complete(duckdb::idx_t batch);
  /// Every batch below `min_batch` is complete (DuckDB's min_batch_index).
  void SetMinBatch(duckdb::idx_t min_batch);
  /// Every sink is done: all rows held become readable.
  void Finish();
  /// A sink (one per DuckDB thread on the query) starts or ends.
  void SinkStarted();
  void SinkEnded();

  // --- the reader's side -----------------------------------------------------

  /// The next readable batch, or null when none is readable now.
  std::shared_ptr<arrow::RecordBatch> Pop();
  /// Waits until a batch is readable or every sink is done, at most until
  /// `until`. True when one of them holds.
  bool WaitForRows(std::chrono::steady_clock::time_point until);
  /// True once Finish() was called and every batch was popped.
  bool Drained() const;
  /// Bytes of the batches in the queue, readable or held back.
  int64_t bytes_held() const;

 private:
  struct Pending {
    std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
    bool complete = false;
  };
  bool FullLocked(duckdb::idx_t batch) const;
  void MoveReadableLocked();
  // Takes the waiting sinks that may go on out of blocked_. The caller
  // calls them back (WakeSinks) once it has released mutex_: a callback
  // takes DuckDB's executor lock, which DuckDB holds while it destroys a
  // cancelled query's sinks, which take mutex_ (SinkEnded).
  std::vector<duckdb::InterruptState> UnblockLocked(bool grant);
  static void WakeSinks(const std::vector<duckdb::InterruptState>& sinks);

  const int64_t ready_capacity_;
  const int64_t pending_capacity_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;  // rows became readable, or the sinks finished
  std::map<duckdb::idx_t, Pending> pending_;               // batches above the minimum, by index
  std::deque<std::shared_ptr<arrow::RecordBatch>> ready_;  // readable, in order
  int64_t ready_bytes_ = 0;
  int64_t pending_bytes_ = 0;
  int64_t sinks_ = 0;  // sinks started and not ended
  duckdb::idx_t min_batch_ = 0;
  bool finished_ = false;
  std::vector<std::pair<duckdb::idx_t, duckdb::InterruptState>> blocked_;
  // Batches whose sink may add once more although the queue is full: given
  // when the reader finds nothing to read while sinks wait, so a minimum
  // batch index that DuckDB has not yet reported cannot stall the query.
  std::multiset<duckdb::idx_t> granted_;
};

/// What a statement's collector takes from its physical plan and the
/// connection's settings: the order its rows must keep, DuckDB's client
/// properties (time zone, Arrow export options), and which converter it uses. DuckDB looks each setting up
/// by name, about 30 µs a query for these, so a plan that runs again reuses
/// them. Valid for the physical plan it was made for while the settings stay
/// as they were (a SET retires cached plans; see ConnectionPool).
struct CollectorChoice {
  enum class Order { kBatchIndex, kNone, kSingleThread };
  const duckdb::PhysicalPlan* plan = nullptr;
  Order order = Order::kSingleThread;
  duckdb::ClientProperties properties;
  bool copies = false;  // ChunkBatchAppender converts every column (else DuckDB's ArrowAppender)
};

/// Makes DuckDB build this collector for the next statement the connection
/// plans without streaming (ClientConfig::get_result_collector), then its
/// usual collector again. The collector pushes into `queue`.
///
/// Every collector it makes, DuckDB's usual ones included, is owned by the
/// connection and freed when its statement ends: DuckDB 1.4 would add each
/// to the statement's plan, so a prepared statement run again and again would
/// grow by one collector (about 1.6 KB) a run, for as long as it lives.
class ArrowCollectorSwitch {
 public:
  /// Installs the switch on `context`; statements use DuckDB's usual
  /// collectors until Arm().
  explicit ArrowCollectorSwitch(duckdb::ClientContext& context);
  /// Uninstalls the switch: statements then get DuckDB's usual collectors.
  ~ArrowCollectorSwitch();
  ArrowCollectorSwitch(const ArrowCollectorSwitch&) = delete;
  ArrowCollectorSwitch& operator=(const ArrowCollectorSwitch&) = delete;

  /// The next statement planned collects into `queue`, in batches of at
  /// most `batch_rows` rows and about `batch_bytes` bytes, of `schema`
  /// (ToArrowSchema of the statement's types; null: made from them when the
  /// statement is planned). `known`: the choice an earlier run of the same
  /// plan made (see CollectorChoice), or null. A statement DuckDB does not
  /// stream gets DuckDB's usual collector instead: DuckDB streams only
  /// queries, not DML (even with RETURNING), EXPLAIN, COPY and the like.
  void Arm(std::shared_ptr<ArrowBatchQueue> queue, std::shared_ptr<arrow::Schema> schema, int64_t batch_rows,
           int64_t batch_bytes, std::shared_ptr<const CollectorChoice> known = nullptr);
  /// Forgets an Arm() that no statement took.
  void Disarm() {
    armed_ = nullptr;
    known_ = nullptr;
  }
  /// The schema of the rows the statement that took the last Arm() makes,
  /// or null when no statement took it.
  const std::shared_ptr<arrow::Schema>& taken() const { return taken_; }
  /// The choice the statement that took the last Arm() ran with.
  const std::shared_ptr<const CollectorChoice>& choice() const { return choice_; }

 private:
  class Keeper;
  duckdb::PhysicalOperator& Make(duckdb::ClientContext& context, duckdb::PreparedStatementData& data);

  duckdb::ClientContext& context_;
  duckdb::shared_ptr<Keeper> keeper_;  // lives as long as the connection
  std::shared_ptr<ArrowBatchQueue> armed_;
  std::shared_ptr<arrow::Schema> schema_;  // of the rows armed_ gets
  std::shared_ptr<const CollectorChoice> known_;
  std::shared_ptr<arrow::Schema> taken_;   // set when a statement takes armed_
  std::shared_ptr<const CollectorChoice> choice_;  // likewise
  int64_t batch_rows_ = 0;
  int64_t batch_bytes_ = 0;
};

}  // namespace squadron::engine
