// Structured logs: one logfmt line per event on stderr (stdout carries only
// the "listening" line scripts wait for).
#pragma once

#include <string>

#include <arrow/status.h>

namespace squadron::server {

/// Sets up the process-wide logger. `level` is trace, debug, info, warn,
/// error or off. Invalid for an unknown level.
arrow::Status InitLogging(const std::string& level);

}  // namespace squadron::server
