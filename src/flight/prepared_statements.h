// Prepared statement handles: what CreatePreparedStatement returns and later
// commands name.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>

#include <arrow/result.h>

#include "engine/engine.h"
#include "flight/handle_table.h"

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
/// Thread-safe.
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

  /// Drops handles idle past the timeout; returns how many are left.
  size_t size();

 private:
  HandleTable<PreparedStatement> table_;
};

}  // namespace squadron::flight
