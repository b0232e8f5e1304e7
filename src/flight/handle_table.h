// A table of handles (prepared statements, sessions, transactions): random
// ids, an optional owning session, an idle timeout and a size limit.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <arrow/result.h>

#include "common/status.h"

namespace squadron::flight {

/// Values of type T under ids. An entry with an owner is visible to that
/// owner only (to anyone else it is reported exactly like an unknown id); an
/// entry unused for the idle timeout is gone.
///
/// Thread-safe. T is copied out by Get(); keep it cheap to copy (shared data).
template <typename T>
class HandleTable {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  struct Options {
    std::chrono::milliseconds idle_timeout;
    size_t max_entries;
  };

  /// `unknown` is the error for an unknown, ended, timed-out or foreign id;
  /// `full` the error when the table is full.
  HandleTable(Options options, Clock clock, std::function<arrow::Status(const std::string& id)> unknown,
              std::function<arrow::Status()> full)
      : options_(options), clock_(std::move(clock)), unknown_(std::move(unknown)), full_(std::move(full)) {}

  arrow::Status Add(const std::string& id, T value, const std::string& owner) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (entries_.size() >= options_.max_entries) return full_();
    entries_.emplace(id, Entry{std::move(value), owner, clock_()});
    return arrow::Status::OK();
  }

  /// A copy of the caller's live entry, marked used.
  arrow::Result<T> Get(const std::string& id, const std::string& caller) {
    std::lock_guard<std::mutex> lock(mutex_);
    Entry* entry = FindLocked(id, caller);
    if (entry == nullptr) return unknown_(id);
    entry->last_used = clock_();
    return entry->value;
  }

  /// Applies `change` to the caller's live entry, marked used.
  arrow::Status Update(const std::string& id, const std::string& caller, const std::function<void(T&)>& change) {
    std::lock_guard<std::mutex> lock(mutex_);
    Entry* entry = FindLocked(id, caller);
    if (entry == nullptr) return unknown_(id);
    change(entry->value);
    entry->last_used = clock_();
    return arrow::Status::OK();
  }

  /// Removes and returns the caller's live entry.
  arrow::Result<T> Take(const std::string& id, const std::string& caller) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (FindLocked(id, caller) == nullptr) return unknown_(id);
    auto it = entries_.find(id);
    T value = std::move(it->second.value);
    entries_.erase(it);
    return value;
  }

  /// Removes and returns every entry `owner` owns.
  std::vector<std::pair<std::string, T>> TakeOwnedBy(const std::string& owner) {
    return TakeIf([&owner](const Entry& e, std::chrono::steady_clock::time_point) { return e.owner == owner; });
  }

  /// Removes and returns every entry idle past the timeout.
  std::vector<std::pair<std::string, T>> TakeIdle() {
    return TakeIf([this](const Entry& e, std::chrono::steady_clock::time_point now) { return Idle(e, now); });
  }

  size_t size() {
    std::lock_guard<std::mutex> lock(mutex_);
    return entries_.size();
  }

  const Options& options() const { return options_; }

 private:
  struct Entry {
    T value;
    std::string owner;
    std::chrono::steady_clock::time_point last_used;
  };

  bool Idle(const Entry& entry, std::chrono::steady_clock::time_point now) const {
    return now - entry.last_used >= options_.idle_timeout;
  }

  // The caller's live entry, or null. Requires mutex_.
  Entry* FindLocked(const std::string& id, const std::string& caller) {
    auto it = entries_.find(id);
    if (it == entries_.end() || Idle(it->second, clock_())) return nullptr;
    if (!it->second.owner.empty() && it->second.owner != caller) return nullptr;
    return &it->second;
  }

  template <typename Predicate>
  std::vector<std::pair<std::string, T>> TakeIf(Predicate predicate) {
    std::vector<std::pair<std::string, T>> taken;
    std::lock_guard<std::mutex> lock(mutex_);
    const auto now = clock_();
    for (auto it = entries_.begin(); it != entries_.end();) {
      if (predicate(it->second, now)) {
        taken.emplace_back(it->first, std::move(it->second.value));
        it = entries_.erase(it);
      } else {
        ++it;
      }
    }
    return taken;
  }

  const Options options_;
  const Clock clock_;
  const std::function<arrow::Status(const std::string& id)> unknown_;
  const std::function<arrow::Status()> full_;
  std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;  // GUARDED_BY(mutex_)
};

}  // namespace squadron::flight
