// Error helpers: one place that decides which gRPC status a failure becomes.
//
// Flight's gRPC transport maps arrow::Status to gRPC codes: Invalid ->
// INVALID_ARGUMENT, KeyError -> NOT_FOUND, NotImplemented -> UNIMPLEMENTED,
// Cancelled -> CANCELLED, and a FlightStatusDetail for the rest. These helpers
// name the gRPC meaning so call sites read as the client will see them.
#pragma once

#include <sstream>
#include <string>

#include <arrow/status.h>

namespace squadron {

/// Bad SQL, a bad argument or a malformed request: INVALID_ARGUMENT.
template <typename... Args>
arrow::Status InvalidArgument(Args&&... args) {
  return arrow::Status::Invalid(std::forward<Args>(args)...);
}

/// An unknown, expired or already used handle or ticket: NOT_FOUND.
template <typename... Args>
arrow::Status NotFound(Args&&... args) {
  return arrow::Status::KeyError(std::forward<Args>(args)...);
}

/// A request Squadron does not implement: UNIMPLEMENTED.
template <typename... Args>
arrow::Status Unimplemented(Args&&... args) {
  return arrow::Status::NotImplemented(std::forward<Args>(args)...);
}

/// The caller may not do this (e.g. a write on a read-only server): PERMISSION_DENIED.
arrow::Status PermissionDenied(std::string message);

/// Who the caller is could not be established (no, wrong or expired
/// credentials): UNAUTHENTICATED.
arrow::Status Unauthenticated(std::string message);

/// Try again later or elsewhere (draining, overloaded): UNAVAILABLE.
arrow::Status Unavailable(std::string message);

/// The operation was cancelled or interrupted: CANCELLED.
arrow::Status Cancelled(std::string message);

/// A deadline passed: DEADLINE_EXCEEDED.
arrow::Status DeadlineExceeded(std::string message);

/// Squadron's own bug or an impossible state: INTERNAL.
arrow::Status Internal(std::string message);

/// Failed elsewhere (a producer, a driver), for a reason it gave: UNKNOWN.
arrow::Status Failed(std::string message);

/// Builds a message from pieces, as arrow::Status does.
template <typename... Args>
std::string Msg(Args&&... args) {
  std::ostringstream out;
  (out << ... << std::forward<Args>(args));
  return out.str();
}

}  // namespace squadron
