#include "cluster/credentials.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace squadron::cluster {

ClusterCredentials::ClusterCredentials(std::string secret) : secret_(std::move(secret)) {}

std::string ClusterCredentials::Mac(std::string_view message) const {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), secret_.data(), static_cast<int>(secret_.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac, &length);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(length * 2);
  for (unsigned int i = 0; i < length; ++i) {
    hex.push_back(kHex[mac[i] >> 4]);
    hex.push_back(kHex[mac[i] & 0xf]);
  }
  return hex;
}

std::string ClusterCredentials::Fingerprint() const { return Mac("squadron cluster fingerprint v1"); }

std::string ClusterCredentials::DriverCredential() const { return Mac("squadron driver v1"); }

std::string ClusterCredentials::ProducerCredential(std::string_view query_id) const {
  std::string message = "squadron producer v1\n";
  message.append(query_id);
  return Mac(message);
}

bool ClusterCredentials::Matches(std::string_view expected, std::string_view presented) {
  return expected.size() == presented.size() &&
         CRYPTO_memcmp(expected.data(), presented.data(), expected.size()) == 0;
}

}  // namespace squadron::cluster
