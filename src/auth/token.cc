#include "auth/token.h"

#include <openssl/crypto.h>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace squadron::auth {

namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr std::string_view kHeader = R"({"alg":"HS256","typ":"JWT"})";
constexpr size_t kMaxTokenBytes = 8192;

arrow::Status Refused(std::string why) {
  return Unauthenticated("Invalid bearer token: " + why + "; authenticate again (user and password, Kerberos or a "
                         "client certificate) for a new one");
}

int64_t Seconds(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

}  // namespace

std::string Base64UrlEncode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  uint32_t buffer = 0;
  int bits = 0;
  for (unsigned char c : bytes) {
    buffer = (buffer << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kAlphabet[(buffer >> bits) & 0x3F]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(buffer << (6 - bits)) & 0x3F]);
  return out;
}

arrow::Result<std::string> Base64UrlDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size() * 3 / 4);
  uint32_t buffer = 0;
  int bits = 0;
  for (char c : text) {
    int value;
    if (c >= 'A' && c <= 'Z') {
      value = c - 'A';
    } else if (c >= 'a' && c <= 'z') {
      value = c - 'a' + 26;
    } else if (c >= '0' && c <= '9') {
      value = c - '0' + 52;
    } else if (c == '-') {
      value = 62;
    } else if (c == '_') {
      value = 63;
    } else {
      return InvalidArgument("not base64url");
    }
    buffer = (buffer << 6) | static_cast<uint32_t>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xFF));
    }
  }
  if (bits >= 6) return InvalidArgument("not base64url: truncated");
  return out;
}

TokenSigner::TokenSigner(std::string_view secret) : mac_(HmacSha256(secret).Mac("squadron-token-v1")) {}

std::string TokenSigner::Issue(const Identity& identity, std::chrono::seconds ttl,
                               std::chrono::system_clock::time_point now) const {
  const nlohmann::json claims = {
      {"iss", "squadron"},
      {"sub", identity.user},
      {"role", RoleName(identity.role)},
      {"amr", identity.method},
      {"iat", Seconds(now)},
      {"exp", Seconds(now + ttl)},
  };
  std::string signed_part = Base64UrlEncode(kHeader) + "." + Base64UrlEncode(claims.dump());
  return signed_part + "." + Base64UrlEncode(mac_.Mac(signed_part));
}

arrow::Result<Identity> TokenSigner::Verify(std::string_view token, std::chrono::system_clock::time_point now) const {
  if (token.size() > kMaxTokenBytes) return Refused("longer than any token Squadron issues");
  const size_t first = token.find('.');
  const size_t second = first == std::string_view::npos ? first : token.find('.', first + 1);
  if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos) {
    return Refused("not a JSON Web Token (header.claims.signature)");
  }
  const std::string_view signed_part = token.substr(0, second);
  auto mac = Base64UrlDecode(token.substr(second + 1));
  const std::string expected = mac_.Mac(signed_part);
  // The signature first, in constant time: nothing else is read before it holds.
  if (!mac.ok() || mac->size() != expected.size() ||
      CRYPTO_memcmp(mac->data(), expected.data(), expected.size()) != 0) {
    return Refused("its signature does not match (altered, truncated, or issued by another cluster)");
  }
  auto header = Base64UrlDecode(token.substr(0, first));
  auto claims_text = Base64UrlDecode(token.substr(first + 1, second - first - 1));
  if (!header.ok() || *header != kHeader || !claims_text.ok()) return Refused("unexpected header");
  Identity identity;
  int64_t expires = 0;
  try {
    const auto claims = nlohmann::json::parse(*claims_text);
    if (claims.at("iss").get<std::string>() != "squadron") return Refused("not issued by Squadron");
    identity.user = claims.at("sub").get<std::string>();
    ARROW_ASSIGN_OR_RAISE(identity.role, ParseRole(claims.at("role").get<std::string>()));
    identity.method = claims.value("amr", std::string("token"));
    expires = claims.at("exp").get<int64_t>();
  } catch (const std::exception&) {
    return Refused("its claims do not parse");
  }
  if (Seconds(now) >= expires) {
    return Refused("it expired " + std::to_string(Seconds(now) - expires) + " s ago (--token-ttl)");
  }
  return identity;
}

}  // namespace squadron::auth
