// Results executed at GetFlightInfo that wait for their DoGet.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <arrow/record_batch.h>
#include <arrow/result.h>

#include "common/periodic_task.h"
#include "engine/engine.h"
#include "flight/running_queries.h"

namespace squadron::flight {

/// One executed statement's result, with what keeps it alive.
struct PendingResult {
  PendingResult() = default;
  PendingResult(const PendingResult&) = delete;
  PendingResult& operator=(const PendingResult&) = delete;
  /// Detaches the control from the engine session before the session goes.
  ~PendingResult() {
    if (control) control->DetachEngine();
    // Rows nobody will read: stop computing them before waiting for the stream.
    if (stream && session) session->Interrupt();
    stream.reset();
  }

  /// The exact schema of the batches.
  std::shared_ptr<arrow::Schema> schema;
  /// The user it belongs to (its ticket says so); "" without authentication.
  std::string owner;
  /// The engine connection the stream reads from; declared before `stream` so
  /// the stream is destroyed first. Null for results computed in memory.
  std::unique_ptr<engine::Session> session;
  /// Batches already produced (the first batch is fetched at GetFlightInfo).
  std::vector<std::shared_ptr<arrow::RecordBatch>> prefetched;
  /// The rest of the rows; null when `prefetched` holds everything.
  std::unique_ptr<engine::ResultStream> stream;
  /// What produced it, for logs (SQL text or command name).
  std::string description;
  /// Stops the query while it still computes rows; null for results computed
  /// in memory. Its interrupt must be detached before `session` is destroyed.
  std::shared_ptr<QueryControl> control;
  /// IPC body compression the stream is sent with, unless the DoGet asks.
  arrow::Compression::type compression = arrow::Compression::UNCOMPRESSED;
};

/// Holds PendingResults under random ids until they are taken or expire.
///
/// Thread-safe. Expired results are released by a reaper thread started with
/// StartReaper(); results are destroyed outside the lock.
class ResultStore {
 public:
  using Clock = std::function<std::chrono::system_clock::time_point()>;

  struct Options {
    /// How long an unfetched result is kept.
    std::chrono::milliseconds ttl{std::chrono::minutes(5)};
    /// Results held at once; Put() beyond it fails with UNAVAILABLE.
    size_t max_results = 1024;
  };

  struct Receipt {
    std::string id;
    std::chrono::system_clock::time_point expires_at;
  };

  explicit ResultStore(Options options, Clock clock = &std::chrono::system_clock::now);
  ~ResultStore();

  ResultStore(const ResultStore&) = delete;
  ResultStore& operator=(const ResultStore&) = delete;

  /// Returns a new result id, unique to this process and, by a random
  /// prefix, to it among other processes. Not secret: ids travel signed.
  static std::string NewId();

  /// Stores a result under `id` (from NewId()); returns the id and expiry.
  arrow::Result<Receipt> Put(std::string id, std::unique_ptr<PendingResult> result);

  /// Stores a result under a new id.
  arrow::Result<Receipt> Put(std::unique_ptr<PendingResult> result) { return Put(NewId(), std::move(result)); }

  /// Removes and returns a result (a result is fetched once). NotFound when
  /// the id is unknown, already taken or expired.
  arrow::Result<std::unique_ptr<PendingResult>> Take(const std::string& id);

  /// Releases every expired result; returns how many.
  size_t ReleaseExpired();

  /// Starts a thread that calls ReleaseExpired() every `interval` until Stop().
  void StartReaper(std::chrono::milliseconds interval);

  /// Stops the reaper and releases every stored result.
  void Stop();

  /// Number of results held.
  size_t size() const;

 private:
  struct Entry {
    std::unique_ptr<PendingResult> result;
    std::chrono::system_clock::time_point expires_at;
  };

  const Options options_;
  const Clock clock_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;  // GUARDED_BY(mutex_)
  bool stopping_ = false;                           // GUARDED_BY(mutex_)
  PeriodicTask reaper_;
};

}  // namespace squadron::flight
