// A deadline for a step that must not hang the process.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace squadron {

/// Runs `expired` on a thread of its own if Disarm() has not been called by
/// `deadline`. For a step whose hang would hold up the whole process, such as
/// waiting for call handlers at shutdown; `expired` typically logs what is
/// still running and ends the process. Disarm() (or destruction) stops the
/// watch and joins the thread; it waits for an `expired` already running.
class Watchdog {
 public:
  Watchdog(std::chrono::steady_clock::time_point deadline, std::function<void()> expired)
      : thread_([this, deadline, expired = std::move(expired)] {
          std::unique_lock<std::mutex> lock(mutex_);
          if (cv_.wait_until(lock, deadline, [this] { return disarmed_; })) return;
          lock.unlock();
          expired();
        }) {}
  ~Watchdog() { Disarm(); }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  /// The step is done: `expired` will not run (unless it already has). Idempotent.
  void Disarm() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      disarmed_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool disarmed_ = false;  // GUARDED_BY(mutex_)
  std::thread thread_;     // last: started once the members above exist
};

}  // namespace squadron
