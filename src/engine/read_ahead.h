// Result streams that compute their next batch while the caller sends the
// current one, on a shared pool of threads.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "engine/engine.h"

namespace squadron::engine {

/// Threads that compute result batches for ReadAheadStreams. A thread is
/// taken only while it computes one batch: a stream whose client reads
/// slowly, or not at all, holds none. Threads are started on demand up to
/// `max_threads` and exit after `idle_timeout` without work.
///
/// Thread-safe. Must outlive every stream that uses it.
class ReadAheadPool {
 public:
  explicit ReadAheadPool(size_t max_threads,
                         std::chrono::milliseconds idle_timeout = std::chrono::seconds(10));
  /// Waits for running tasks and for every thread to exit.
  ~ReadAheadPool();
  ReadAheadPool(const ReadAheadPool&) = delete;
  ReadAheadPool& operator=(const ReadAheadPool&) = delete;

  /// Runs `task` on a pool thread, starting one if none is idle and the
  /// limit allows; past the limit the task waits for a thread. False only
  /// when there is no thread and the system refuses to start one: the caller
  /// then does the work itself.
  bool TrySubmit(std::function<void()> task);

  /// Threads alive now (busy or idle).
  size_t threads() const;

 private:
  void Work();

  // A thread waiting for work; lives on its own stack.
  struct IdleWorker {
    std::condition_variable wake;  // a task was handed over, or stopping_
    std::function<void()> task;    // GUARDED_BY(mutex_)
  };

  const size_t max_threads_;
  const std::chrono::milliseconds idle_timeout_;
  mutable std::mutex mutex_;
  std::condition_variable exited_;            // a thread exited
  std::deque<std::function<void()>> tasks_;   // waiting for a thread; GUARDED_BY(mutex_)
  std::vector<IdleWorker*> idle_;             // the most recently idle last; GUARDED_BY(mutex_)
  size_t threads_ = 0;                        // GUARDED_BY(mutex_)
  bool stopping_ = false;                     // GUARDED_BY(mutex_)
};

/// Wraps a stream so that a pool thread calls inner->Next() ahead of the
/// caller, keeping at most `depth` finished batches waiting. The engine's
/// Arrow conversion then overlaps with serialising and sending the previous
/// batch instead of alternating with it. When the pool cannot run anything
/// (the system refuses threads), Next() computes the batch on the caller's
/// thread.
///
/// Errors are delivered in order, after the batches before them. Destroying
/// the stream waits for a batch being computed (interrupt the engine first
/// to make that prompt) and then destroys `inner`.
///
/// `inner` must not be used by anyone else meanwhile: not for streams that
/// share an engine connection with later statements (transactions).
class ReadAheadStream final : public ResultStream {
 public:
  /// `pool` is borrowed and must outlive the stream. Starts computing the
  /// first batch at once.
  ReadAheadStream(std::unique_ptr<ResultStream> inner, ReadAheadPool* pool, size_t depth = 1);
  ~ReadAheadStream() override;

  const std::shared_ptr<arrow::Schema>& schema() const override { return schema_; }
  std::optional<int64_t> num_rows() const override { return num_rows_; }
  arrow::Result<std::shared_ptr<arrow::RecordBatch>> Next() override;

  /// Waits until Next() would return without computing (a batch, the end or
  /// an error is waiting), or until `deadline`; the pool does the work. True
  /// when it would.
  bool Advance(std::chrono::steady_clock::time_point deadline) override;

 private:
  // Queues a fetch on the pool if there is room and none is running. Returns
  // false when the pool refused it. Requires mutex_ held.
  bool ScheduleLocked();
  void Fetch();

  const std::unique_ptr<ResultStream> inner_;
  ReadAheadPool* const pool_;
  const std::shared_ptr<arrow::Schema> schema_;
  const std::optional<int64_t> num_rows_;
  const size_t depth_;
  std::mutex mutex_;
  std::condition_variable changed_;  // an entry was queued, or a fetch ended
  std::deque<arrow::Result<std::shared_ptr<arrow::RecordBatch>>> queue_;  // GUARDED_BY(mutex_)
  bool fetching_ = false;  // a pool task owns inner_; GUARDED_BY(mutex_)
  bool ended_ = false;     // the end or an error was queued; GUARDED_BY(mutex_)
  bool stopping_ = false;  // GUARDED_BY(mutex_)
};

}  // namespace squadron::engine
