#include "flight/ticket.h"

#include <algorithm>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <cstdlib>
#include <ctime>

#include "common/status.h"
#include "proto/squadron.pb.h"

namespace squadron::flight {

namespace {

constexpr char kTicketVersion = 0x01;
constexpr size_t kMacSize = 32;  // SHA-256

std::string FormatUtc(std::chrono::system_clock::time_point t) {
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

TicketCodec::TicketCodec(std::string secret) : mac_(secret) {
  if (secret.size() < 16) {
    // An impossible state: the server generates or validates the secret first.
    std::abort();
  }
}

std::string TicketCodec::Encode(const TicketContents& contents) const {
  internal::TicketBody body;
  body.set_result_id(contents.result_id);
  body.set_owner(contents.owner);
  body.set_expires_at_unix_ms(std::chrono::duration_cast<std::chrono::milliseconds>(
                                  contents.expires_at.time_since_epoch())
                                  .count());
  std::string out(1, kTicketVersion);
  body.AppendToString(&out);
  out += mac_.Mac(out);
  return out;
}

arrow::Result<TicketContents> TicketCodec::Decode(std::string_view ticket,
                                                  std::chrono::system_clock::time_point now) const {
  if (ticket.size() < 1 + kMacSize) {
    return InvalidArgument("Invalid ticket: ", ticket.size(),
                           " bytes is too short to be a Squadron ticket");
  }
  if (ticket[0] != kTicketVersion) {
    return InvalidArgument("Invalid ticket: unknown format version ",
                           static_cast<int>(static_cast<unsigned char>(ticket[0])));
  }
  const std::string_view signed_part = ticket.substr(0, ticket.size() - kMacSize);
  const std::string_view mac = ticket.substr(ticket.size() - kMacSize);
  const std::string expected = mac_.Mac(signed_part);
  if (CRYPTO_memcmp(expected.data(), mac.data(), kMacSize) != 0) {
    return InvalidArgument(
        "Invalid ticket: signature does not match (the ticket was altered, or issued by a "
        "server with another ticket secret)");
  }
  internal::TicketBody body;
  if (!body.ParseFromArray(signed_part.data() + 1, static_cast<int>(signed_part.size() - 1))) {
    return InvalidArgument("Invalid ticket: body does not parse");
  }
  TicketContents contents;
  contents.result_id = body.result_id();
  contents.owner = body.owner();
  // A time point counts nanoseconds: an expiry past ~2262 would overflow it.
  constexpr int64_t kMaxExpiryMs = int64_t{9'000'000'000'000};  // the year 2255
  contents.expires_at = std::chrono::system_clock::time_point(
      std::chrono::milliseconds(std::clamp<int64_t>(body.expires_at_unix_ms(), -kMaxExpiryMs, kMaxExpiryMs)));
  if (now >= contents.expires_at) {
    return NotFound("Ticket expired at ", FormatUtc(contents.expires_at),
                    "; results not fetched within their time-to-live are released. "
                    "Run the query again (GetFlightInfo) for a new ticket");
  }
  return contents;
}

std::string RandomBytes(size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
    std::abort();  // no entropy: nothing sound can be done
  }
  return out;
}

std::string GenerateTicketSecret() { return RandomBytes(32); }

}  // namespace squadron::flight
