// What the cluster secret vouches for: the fingerprint that proves two nodes
// share it, and the credentials of drivers and producers
// (docs/exchange-protocol.md, "Credentials").
#pragma once

#include <string>
#include <string_view>

#include "common/hmac.h"

namespace squadron::cluster {

/// Derives credentials from the cluster secret. Thread-safe: immutable.
class ClusterCredentials {
 public:
  /// `secret` is the cluster's ticket secret (at least 16 bytes).
  explicit ClusterCredentials(std::string secret);

  /// Hex HMAC of a fixed text: kept in ZooKeeper so that a node with another
  /// secret refuses to join. It reveals nothing about the secret.
  std::string Fingerprint() const;

  /// Lets a trusted driver (or a peer node) begin distributed queries.
  std::string DriverCredential() const;

  /// Lets producers push into, complete or fail one query only.
  std::string ProducerCredential(std::string_view query_id) const;

  /// Compares in constant time.
  static bool Matches(std::string_view expected, std::string_view presented);

 private:
  std::string Mac(std::string_view message) const;

  const HmacSha256 mac_;
};

}  // namespace squadron::cluster
