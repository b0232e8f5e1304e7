// Running queries: why one must stop (cancelled, client gone, timed out) and
// how to interrupt its engine connection; a watchdog enforces the deadlines.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include <arrow/flight/server.h>
#include <arrow/status.h>

#include "common/periodic_task.h"

namespace squadron::flight {

/// The stop state of one query. Thread-safe.
class QueryControl {
 public:
  enum class Reason { kNone, kCancelled, kClientGone, kTimedOut };

  /// `timeout` zero means none; the deadline counts from construction.
  explicit QueryControl(std::chrono::milliseconds timeout);

  /// Attaches the engine session running the query: how to interrupt it and
  /// (optionally) how to read its progress.
  void AttachEngine(std::function<void()> interrupt,
                    std::function<std::optional<double>()> progress = nullptr);

  /// Detaches the engine session; call before the session is destroyed.
  void DetachEngine() { AttachEngine(nullptr); }

  /// Progress of the query from 0 to 1, when the engine tracks it.
  std::optional<double> progress() const;

  /// Watches a gRPC call while it runs (null when it ends): the query stops
  /// when the client cancels or goes away.
  void SetCall(const arrow::flight::ServerCallContext* call);

  /// Stops the query (the first reason wins) and interrupts the engine.
  void Stop(Reason why);

  /// Checks the call and the deadline; stops the query if either says so.
  void Poll(std::chrono::steady_clock::time_point now);

  /// OK while running; the status a stopped query ends with otherwise
  /// (CANCELLED, or DEADLINE_EXCEEDED for a timeout).
  arrow::Status status() const;

  /// `engine_status` unless the query was stopped, whose reason it replaces
  /// (the engine only knows it was interrupted).
  arrow::Status Explain(arrow::Status engine_status) const;

 private:
  const std::chrono::milliseconds timeout_;
  const std::optional<std::chrono::steady_clock::time_point> deadline_;
  mutable std::mutex mutex_;
  std::function<void()> interrupt_;                        // GUARDED_BY(mutex_)
  std::function<std::optional<double>()> progress_;        // GUARDED_BY(mutex_)
  const arrow::flight::ServerCallContext* call_ = nullptr;  // GUARDED_BY(mutex_)
  Reason stop_ = Reason::kNone;                               // GUARDED_BY(mutex_)
};

/// Queries in progress, by result id, with a watchdog thread that polls them.
///
/// Thread-safe. Holds weak references: a query leaves when its control dies.
class RunningQueries {
 public:
  explicit RunningQueries(std::chrono::milliseconds poll_interval = std::chrono::milliseconds(20));
  ~RunningQueries();

  /// Watches `control`; `result_id` (may be empty) lets Find() reach it.
  void Add(const std::string& result_id, const std::shared_ptr<QueryControl>& control);

  /// The running query of a result, or null.
  std::shared_ptr<QueryControl> Find(const std::string& result_id);

  void Remove(const std::string& result_id);

 private:
  void PollAll();

  std::mutex mutex_;
  std::unordered_map<std::string, std::weak_ptr<QueryControl>> by_id_;  // GUARDED_BY(mutex_)
  std::vector<std::weak_ptr<QueryControl>> anonymous_;                  // GUARDED_BY(mutex_)
  PeriodicTask watchdog_;  // last: stopped before the maps go
};

}  // namespace squadron::flight
