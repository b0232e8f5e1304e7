// Parsing of human-written durations ("30s", "5m") and byte sizes ("4MiB").
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include <arrow/result.h>

namespace squadron {

/// Parses a duration: an integer followed by ms, s, m or h ("250ms", "30s",
/// "5m", "2h"). A bare integer means seconds. Negative values are invalid.
arrow::Result<std::chrono::milliseconds> ParseDuration(std::string_view text);

/// Parses a byte size: an integer with an optional unit B, KB, MB, GB (powers of
/// 1000) or KiB, MiB, GiB (powers of 1024), case-insensitive ("4MiB", "64kb").
arrow::Result<int64_t> ParseByteSize(std::string_view text);

/// Formats a duration the way ParseDuration reads it back ("1500ms", "30s").
std::string FormatDuration(std::chrono::milliseconds d);

}  // namespace squadron
