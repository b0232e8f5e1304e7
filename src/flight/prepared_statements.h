// Prepared statement handles: what CreatePreparedStatement returns and later
// commands name.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include <arrow/result.h>

#include "engine/engine.h"

namespace squadron::flight {

/// A prepared statement as the protocol layer keeps it: the SQL (re-planned on
/// the connection that runs it), its description and the last parameters
/// bound by DoPut.
struct PreparedStatement {
  std::string sql;
  engine::StatementDescription description;
  engine::ParameterBatches parameters;
  /// The transaction it was prepared in; its executions run there too.
  std::optional<std::string> transaction_id;
};

/// Live handles, each dropped when closed or idle too long.
///
/// Thread-safe. Idle handles are dropped lazily, during later calls.
class PreparedStatementRegistry {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  struct Options {
    /// A handle unused this long is closed.
    std::chrono::milliseconds idle_timeout{std::chrono::minutes(15)};
    /// Handles open at once; Add() beyond it fails with UNAVAILABLE.
    size_t max_handles = 10000;
  };

  explicit PreparedStatementRegistry(Options options, Clock clock = &std::chrono::steady_clock::now);

  /// Stores a statement and returns its new handle. A handle created in a
  /// session (`owner` not empty) can only be used from that session; one
  /// created outside any session by anyone who holds it.
  arrow::Result<std::string> Add(PreparedStatement statement, const std::string& owner);

  /// Returns a copy of the statement (cheap: batches are shared) and marks it
  /// used. `caller` is the calling session's id ("" for none). NotFound for an
  /// unknown, closed, timed-out or other session's handle.
  arrow::Result<PreparedStatement> Get(const std::string& handle, const std::string& caller);

  /// Replaces the statement's bound parameters. NotFound as Get().
  arrow::Status Bind(const std::string& handle, const std::string& caller,
                     engine::ParameterBatches parameters);

  /// Closes a handle. NotFound as Get().
  arrow::Status Close(const std::string& handle, const std::string& caller);

  /// Closes every handle a session owns; returns how many.
  size_t CloseOwnedBy(const std::string& session);

  /// Number of open handles (after dropping idle ones).
  size_t size();

 private:
  struct Entry {
    PreparedStatement statement;
    std::string owner;
    std::chrono::steady_clock::time_point last_used;
  };

  // Drops handles idle longer than the timeout. Requires mutex_.
  void DropIdleLocked(std::chrono::steady_clock::time_point now);
  // The caller's entry for `handle`, or null. Requires mutex_.
  Entry* FindLocked(const std::string& handle, const std::string& caller);
  arrow::Status UnknownHandle() const;

  const Options options_;
  const Clock clock_;
  std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;  // GUARDED_BY(mutex_)
};

}  // namespace squadron::flight
