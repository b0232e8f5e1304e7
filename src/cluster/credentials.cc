#include "cluster/credentials.h"

#include <openssl/crypto.h>

namespace squadron::cluster {

ClusterCredentials::ClusterCredentials(std::string secret) : mac_(secret) {}

std::string ClusterCredentials::Mac(std::string_view message) const {
  const std::string mac = mac_.Mac(message);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(mac.size() * 2);
  for (const char c : mac) {
    const auto byte = static_cast<unsigned char>(c);
    hex.push_back(kHex[byte >> 4]);
    hex.push_back(kHex[byte & 0xf]);
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
