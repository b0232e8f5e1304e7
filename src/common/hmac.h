// HMAC-SHA256 under a fixed key, for tickets, bearer tokens and cluster credentials.
#pragma once

#include <string>
#include <string_view>

struct evp_md_ctx_st;  // OpenSSL's EVP_MD_CTX

namespace squadron {

/// HMAC-SHA256 (RFC 2104) under one key, set at construction.
///
/// The key's inner and outer pads are hashed once: a MAC then costs two
/// SHA-256 continuations. OpenSSL's one-shot HMAC() looks the algorithm up
/// and hashes the key on every call, which cost ~40 us per ticket in a busy
/// server, as much as the rest of a DoGet.
///
/// Thread-safe: immutable after construction.
class HmacSha256 {
 public:
  static constexpr size_t kSize = 32;

  explicit HmacSha256(std::string_view key);
  ~HmacSha256();

  HmacSha256(const HmacSha256&) = delete;
  HmacSha256& operator=(const HmacSha256&) = delete;

  /// The 32-byte MAC of `data`.
  std::string Mac(std::string_view data) const;

 private:
  evp_md_ctx_st* inner_;  // SHA-256 after key XOR ipad
  evp_md_ctx_st* outer_;  // SHA-256 after key XOR opad
};

}  // namespace squadron
