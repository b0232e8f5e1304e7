#include "common/status.h"

#include <arrow/flight/types.h>

namespace squadron {

namespace {
arrow::Status FlightError(arrow::flight::FlightStatusCode code, std::string message) {
  return arrow::flight::MakeFlightError(code, std::move(message));
}
}  // namespace

arrow::Status PermissionDenied(std::string message) {
  return FlightError(arrow::flight::FlightStatusCode::Unauthorized, std::move(message));
}

arrow::Status Unauthenticated(std::string message) {
  return FlightError(arrow::flight::FlightStatusCode::Unauthenticated, std::move(message));
}

arrow::Status Unavailable(std::string message) {
  return FlightError(arrow::flight::FlightStatusCode::Unavailable, std::move(message));
}

arrow::Status Cancelled(std::string message) {
  return arrow::Status::Cancelled(std::move(message));
}

arrow::Status DeadlineExceeded(std::string message) {
  return FlightError(arrow::flight::FlightStatusCode::TimedOut, std::move(message));
}

arrow::Status Internal(std::string message) {
  return FlightError(arrow::flight::FlightStatusCode::Internal, std::move(message));
}

arrow::Status Failed(std::string message) {
  return FlightError(arrow::flight::FlightStatusCode::Failed, std::move(message));
}

}  // namespace squadron
