// PollFlightInfo: queries that run in the background while the client polls.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include <arrow/flight/types.h>
#include <arrow/result.h>

#include "flight/running_queries.h"

namespace squadron::flight {

/// Background queries by poll id.
///
/// Thread-safe. Each query runs on a thread of its own; a finished poll
/// nobody asks about again is dropped after its expiry.
class PollRegistry {
 public:
  /// Produces the final FlightInfo (runs on the poll's thread).
  using Work = std::function<arrow::Result<std::unique_ptr<arrow::flight::FlightInfo>>()>;

  PollRegistry() = default;
  ~PollRegistry();

  /// Starts `work`. `running` describes the query meanwhile (schema, and the
  /// endpoint CancelFlightInfo can name); `control` reports progress and
  /// stops it at shutdown.
  void Start(const std::string& id, std::chrono::system_clock::time_point expires_at,
             std::unique_ptr<arrow::flight::FlightInfo> running, std::shared_ptr<QueryControl> control,
             Work work);

  /// The poll's state: still running (with `next` to poll again and the
  /// progress), finished (the final FlightInfo, no next descriptor; the poll is
  /// then forgotten), or failed (its error). NotFound for an unknown id.
  arrow::Result<std::unique_ptr<arrow::flight::PollInfo>> Poll(const std::string& id,
                                                               const arrow::flight::FlightDescriptor& next);

  /// Polls held (running, or finished and not yet reported).
  size_t size();

  /// Stops every running query and waits for their threads.
  void StopAll();

 private:
  struct Entry {
    std::mutex mutex;
    bool done = false;                                          // GUARDED_BY(mutex)
    arrow::Status status;                                       // GUARDED_BY(mutex)
    std::unique_ptr<arrow::flight::FlightInfo> info;            // GUARDED_BY(mutex)
    std::shared_ptr<QueryControl> control;
    std::chrono::system_clock::time_point expires_at;
    std::thread worker;
  };

  // Removes finished entries past their expiry (joining their threads).
  void DropExpired();

  std::mutex mutex_;
  std::unordered_map<std::string, std::shared_ptr<Entry>> entries_;  // GUARDED_BY(mutex_)
};

}  // namespace squadron::flight
