// Bounds on client-supplied text that Squadron echoes back: in status
// messages (which travel in gRPC trailers, limited to a few KiB) and in log
// fields. A client may send megabytes of SQL or binary junk; what comes back
// or reaches the log is cut, and says that it was.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <arrow/status.h>

namespace squadron {

/// Longest piece of client text (a name, a type URL, an action type) quoted
/// in one message or log field.
constexpr size_t kMaxQuotedBytes = 200;

/// Longest status message sent to a client. gRPC percent-encodes the message
/// into a trailer (non-ASCII bytes take three), Arrow repeats it in a second
/// trailer, and clients refuse trailers
/// over 8 KiB by default; this keeps any message well inside that.
constexpr size_t kMaxStatusMessageBytes = 1024;

/// Returns `text` if it has at most `max_bytes` bytes; otherwise its first
/// bytes (never splitting a UTF-8 sequence) and a note of how much was cut.
std::string Clip(std::string_view text, size_t max_bytes = kMaxQuotedBytes);

/// The first keyword of a SQL statement, upper-cased, after blanks, `--`
/// and `/* */` comments and opening parentheses; "" if there is none.
std::string FirstKeyword(std::string_view sql);

/// Returns `status` with its message clipped to kMaxStatusMessageBytes; the
/// code and detail are kept.
arrow::Status ClipMessage(const arrow::Status& status);

}  // namespace squadron
