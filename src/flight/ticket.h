// Tickets: opaque to clients, self-describing and signed for Squadron nodes.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include <arrow/result.h>

#include "common/hmac.h"

namespace squadron::flight {

/// What a ticket says: which stored result it fetches and until when.
struct TicketContents {
  /// Key of the stored result on the issuing node.
  std::string result_id;
  /// The ticket is refused after this instant.
  std::chrono::system_clock::time_point expires_at;
  /// The user the result belongs to ("" without authentication).
  std::string owner = {};
};

/// Encodes and verifies signed tickets (HMAC-SHA256 over a versioned body).
///
/// Thread-safe: immutable after construction.
class TicketCodec {
 public:
  /// `secret` is the HMAC key shared by every node of a cluster; at least 16 bytes.
  explicit TicketCodec(std::string secret);

  /// Returns the wire form of a ticket.
  std::string Encode(const TicketContents& contents) const;

  /// Verifies format, signature and expiry at `now`. Errors: Invalid for a
  /// malformed or altered ticket, NotFound (KeyError) for an expired one.
  arrow::Result<TicketContents> Decode(std::string_view ticket,
                                       std::chrono::system_clock::time_point now) const;

 private:
  HmacSha256 mac_;
};

/// Returns `n` random bytes from the system's CSPRNG (secrets, ids).
std::string RandomBytes(size_t n);

/// Returns a ticket secret made of 32 random bytes.
std::string GenerateTicketSecret();

}  // namespace squadron::flight
