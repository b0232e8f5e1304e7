// The exchange's spool: the batches producers push into this node, held per
// (query, partition, attempt) in memory, then in Arrow IPC files, then by
// blocking the producer (backpressure), and served once committed.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <arrow/record_batch.h>
#include <arrow/result.h>
#include <arrow/status.h>
#include <arrow/type_fwd.h>

namespace squadron::cluster {

struct SpoolOptions {
  /// Bytes of received batches held in memory across every query
  /// (--spool-memory). Past it, batches go to files.
  int64_t memory_bytes = int64_t{256} << 20;
  /// Directory for spill files (--spool-dir). Created if missing; the spool
  /// makes a private subdirectory in it and removes it when destroyed.
  std::string dir = "/tmp";
  /// Bytes of spill files across every query (--spool-disk). When memory and
  /// disk are both full, producers block until a reader frees space.
  int64_t disk_bytes = int64_t{10} << 30;
};

/// A partition and the attempt that committed it.
struct CommittedPartition {
  int32_t partition = 0;
  int32_t attempt = 0;
  bool operator==(const CommittedPartition&) const = default;
};

/// Counters for status and tests.
struct SpoolStats {
  int64_t memory_bytes = 0;      // held in memory now
  int64_t disk_bytes = 0;        // held in spill files now
  int64_t peak_memory_bytes = 0;
  int64_t spilled_batches = 0;   // ever written to files
  int64_t spill_files = 0;       // files that exist now
  int64_t blocked_appends = 0;   // Append calls that had to wait for space
  int64_t overcommitted_appends = 0;  // Append calls spilled past disk_bytes to avoid a deadlock
  int64_t queries = 0;           // queries open now
};

/// Receives one attempt's batches. Not thread-safe (one producer stream).
/// Destroyed without Commit(): the attempt is aborted and its data dropped.
class AttemptWriter {
 public:
  virtual ~AttemptWriter() = default;

  /// Adds a batch (schema must equal the query's). Blocks while memory and
  /// disk are both full, calling `keep_waiting` about every 100 ms: a non-OK
  /// status from it ends the wait with that status (the producer hung up).
  /// Errors: the attempt was superseded or aborted, or the query ended
  /// (its outcome's status).
  virtual arrow::Status Append(const std::shared_ptr<arrow::RecordBatch>& batch,
                               const std::function<arrow::Status()>& keep_waiting) = 0;

  /// Makes the attempt the partition's data, visible to the reader. The
  /// first attempt of a partition to commit wins: every other attempt of it
  /// is discarded, and their Append/Commit fail. Returns the rows committed.
  virtual arrow::Result<int64_t> Commit() = 0;

  /// Drops the attempt's data now.
  virtual void Abort() = 0;
};

/// How a query ended, as the coordinator decided.
struct QueryOutcome {
  /// OK for COMPLETED; the failure (CANCELLED, UNAVAILABLE, ...) otherwise.
  arrow::Status status;
  /// For COMPLETED: the (partition, attempt) pairs this node must serve,
  /// exactly. Anything else committed here is discarded.
  std::vector<CommittedPartition> committed;
};

/// Serves one query's committed partitions on this node. Not thread-safe
/// (one DoGet stream).
class SpoolReader {
 public:
  virtual ~SpoolReader() = default;
  virtual std::shared_ptr<arrow::Schema> schema() const = 0;
  /// The next batch; null at the end: the query COMPLETED and every
  /// partition of its final list for this node has been served. Blocks until
  /// a batch is committed or the query ends, calling `keep_waiting` about
  /// every 100 ms (a non-OK status ends the read with it). A query that
  /// ended otherwise fails the read with its outcome's status. Served
  /// batches are freed (memory and files) as they go.
  virtual arrow::Result<std::shared_ptr<arrow::RecordBatch>> Next(
      const std::function<arrow::Status()>& keep_waiting) = 0;
};

/// The node's spool for every query it serves. Thread-safe.
class Spool {
 public:
  /// Creates the spill directory. IOError naming it if that fails.
  static arrow::Result<std::unique_ptr<Spool>> Make(SpoolOptions options);

  virtual ~Spool() = default;

  /// Opens the area of a query this node serves. `partitions` are the ones
  /// planned on this node, in order; with `ordered`, they are served in that
  /// order (each waits for its commit), otherwise in commit order.
  /// Idempotent for the same query id.
  virtual arrow::Status OpenQuery(const std::string& query_id, std::shared_ptr<arrow::Schema> schema,
                                  std::vector<int32_t> partitions, bool ordered) = 0;

  /// Starts receiving (partition, attempt). Errors: unknown query
  /// (NOT_FOUND), a partition not planned on this node or a schema that
  /// differs (INVALID_ARGUMENT), a partition already committed or a query
  /// that ended (FAILED_PRECONDITION-like Invalid naming it). An unfinished
  /// writer of the same (partition, attempt) is replaced (its Append fails).
  virtual arrow::Result<std::unique_ptr<AttemptWriter>> BeginAttempt(const std::string& query_id,
                                                                     int32_t partition, int32_t attempt,
                                                                     const arrow::Schema& schema) = 0;

  /// Records the query's end; wakes its reader and blocked writers. The
  /// first call wins, except that a failure after a completion still applies
  /// (its data is dropped and the reader fails); other later calls are ignored.
  virtual void Finish(const std::string& query_id, QueryOutcome outcome) = 0;

  /// The reader of a query (one per query: NOT_FOUND if it is unknown or
  /// already being read).
  virtual arrow::Result<std::unique_ptr<SpoolReader>> OpenReader(const std::string& query_id) = 0;

  /// Forgets a query: its data and files go, its writers and reader fail.
  virtual void DropQuery(const std::string& query_id) = 0;

  /// Committed (partition, attempt) pairs of a query on this node.
  virtual std::vector<CommittedPartition> Committed(const std::string& query_id) const = 0;

  virtual SpoolStats stats() const = 0;
};

}  // namespace squadron::cluster
