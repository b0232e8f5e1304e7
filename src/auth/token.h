// Bearer tokens every node of a cluster accepts (docs/security.md, "Tokens").
//
// A token is a JSON Web Token (RFC 7519) signed with HMAC-SHA256 (JWS
// "HS256"): base64url(header) "." base64url(claims) "." base64url(mac). The
// key is derived from the cluster secret (HMAC-SHA256(secret,
// "squadron-token-v1")), so a token issued by one node verifies on every node
// that shares the secret, and on no other cluster. Claims: "iss" "squadron",
// "sub" the user, "role", "amr" the method that authenticated the user, "iat"
// and "exp" (seconds since the Unix epoch).
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include <arrow/result.h>

#include "auth/identity.h"
#include "common/hmac.h"

namespace squadron::auth {

class TokenSigner {
 public:
  /// `secret`: the cluster secret (at least 16 bytes).
  explicit TokenSigner(std::string_view secret);

  std::string Issue(const Identity& identity, std::chrono::seconds ttl,
                    std::chrono::system_clock::time_point now = std::chrono::system_clock::now()) const;

  /// The token's identity (method "token" unless it says otherwise), or
  /// UNAUTHENTICATED: malformed, not signed by this cluster, or expired (the
  /// message says which).
  arrow::Result<Identity> Verify(std::string_view token,
                                 std::chrono::system_clock::time_point now = std::chrono::system_clock::now()) const;

 private:
  const HmacSha256 mac_;  // under the derived key
};

std::string Base64UrlEncode(std::string_view bytes);
/// Accepts unpadded base64url only; nullopt-like error on any other byte.
arrow::Result<std::string> Base64UrlDecode(std::string_view text);

}  // namespace squadron::auth
