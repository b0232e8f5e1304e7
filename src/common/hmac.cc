#include "common/hmac.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <cstdlib>
#include <memory>

namespace squadron {

namespace {

constexpr size_t kBlockSize = 64;  // SHA-256's block: HMAC pads the key to it

// Out of memory, or an OpenSSL without SHA-256: nothing sound can be done.
void Check(int ok) {
  if (ok != 1) std::abort();
}

// A SHA-256 state that has absorbed `key` XOR `pad`.
EVP_MD_CTX* PaddedKeyState(std::string_view key, unsigned char pad) {
  unsigned char block[kBlockSize];
  for (size_t i = 0; i < kBlockSize; ++i) {
    block[i] = static_cast<unsigned char>((i < key.size() ? static_cast<unsigned char>(key[i]) : 0) ^ pad);
  }
  EVP_MD_CTX* state = EVP_MD_CTX_new();
  if (state == nullptr) std::abort();
  Check(EVP_DigestInit_ex(state, EVP_sha256(), nullptr));
  Check(EVP_DigestUpdate(state, block, sizeof(block)));
  OPENSSL_cleanse(block, sizeof(block));
  return state;
}

}  // namespace

HmacSha256::HmacSha256(std::string_view key) {
  unsigned char hashed[EVP_MAX_MD_SIZE];
  if (key.size() > kBlockSize) {  // a key longer than a block is hashed first
    unsigned int length = 0;
    Check(EVP_Digest(key.data(), key.size(), hashed, &length, EVP_sha256(), nullptr));
    key = std::string_view(reinterpret_cast<const char*>(hashed), length);
  }
  inner_ = PaddedKeyState(key, 0x36);
  outer_ = PaddedKeyState(key, 0x5c);
  OPENSSL_cleanse(hashed, sizeof(hashed));
}

HmacSha256::~HmacSha256() {
  EVP_MD_CTX_free(inner_);
  EVP_MD_CTX_free(outer_);
}

// SHA256(key ^ opad || SHA256(key ^ ipad || data)), continued from the pads.
std::string HmacSha256::Mac(std::string_view data) const {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> state(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  if (state == nullptr) std::abort();
  unsigned char inner_hash[EVP_MAX_MD_SIZE];
  unsigned int inner_length = 0;
  Check(EVP_MD_CTX_copy_ex(state.get(), inner_));
  Check(EVP_DigestUpdate(state.get(), data.data(), data.size()));
  Check(EVP_DigestFinal_ex(state.get(), inner_hash, &inner_length));
  std::string mac(kSize, '\0');
  unsigned int mac_length = 0;
  Check(EVP_MD_CTX_copy_ex(state.get(), outer_));
  Check(EVP_DigestUpdate(state.get(), inner_hash, inner_length));
  Check(EVP_DigestFinal_ex(state.get(), reinterpret_cast<unsigned char*>(mac.data()), &mac_length));
  return mac;
}

}  // namespace squadron
