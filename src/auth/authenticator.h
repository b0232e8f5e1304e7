// Who is calling, for every call: the methods `--auth` enables, the bearer
// tokens they end in, and the back-off of repeated failures.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <arrow/result.h>

#include "auth/identity.h"
#include "auth/token.h"

namespace squadron::auth {

struct AuthOptions {
  /// none, password, ldap, kerberos, mtls (several at once; none alone).
  std::set<std::string> methods{"none"};
  std::chrono::seconds token_ttl{3600};
  /// Failures from one user or one address before each next attempt waits
  /// (1 s, doubling, at most 60 s); 0: no back-off.
  int max_failures = 5;
  /// mtls: the role of a user who authenticated with a client certificate,
  /// by user (the certificate's name), else `mtls_default_role`.
  std::map<std::string, Role> mtls_roles;
  Role mtls_default_role = Role::kReader;
};

/// What the `authorization` header (or a client certificate) established.
struct Authenticated {
  Identity identity;
  /// A fresh bearer token to send back (`authorization: Bearer ...`), when
  /// the call authenticated with something other than a token.
  std::string token;
  /// Kerberos' reply token for `www-authenticate: Negotiate ...`.
  std::string negotiate_reply;
};

class Authenticator {
 public:
  Authenticator(AuthOptions options, std::string_view cluster_secret,
                std::vector<std::unique_ptr<PasswordAuthenticator>> passwords,
                std::unique_ptr<NegotiateAuthenticator> negotiate);

  bool required() const { return !options_.methods.count("none"); }
  bool mtls() const { return options_.methods.count("mtls") > 0; }
  const AuthOptions& options() const { return options_; }

  /// Checks the value of an `authorization` header (Basic, Bearer or
  /// Negotiate) and, with mtls, the client certificate's name. nullopt-like
  /// empty identity (user "") when the call carries neither. UNAUTHENTICATED
  /// for wrong, forged or expired credentials and during a back-off. Logs
  /// every success (but not a token's reuse) and every failure, with the
  /// user, the method and the peer address; never a password or token.
  arrow::Result<Authenticated> Authenticate(const std::string& authorization, const std::string& certificate_name,
                                            const std::string& peer);

  /// A token for `identity` (forwarded calls between the cluster's nodes).
  std::string IssueToken(const Identity& identity) const { return tokens_.Issue(identity, options_.token_ttl); }

 private:
  arrow::Result<Authenticated> Check(const std::string& authorization, const std::string& certificate_name,
                                     const std::string& address, std::string* user, std::string* method);
  // Back-off bookkeeping, per user and per address.
  arrow::Status CheckBackoff(const std::string& user, const std::string& address);
  void RecordFailure(const std::string& user, const std::string& address);
  void RecordSuccess(const std::string& user, const std::string& address);

  const AuthOptions options_;
  const TokenSigner tokens_;
  const std::vector<std::unique_ptr<PasswordAuthenticator>> passwords_;
  const std::unique_ptr<NegotiateAuthenticator> negotiate_;

  struct Failures {
    int count = 0;
    std::chrono::steady_clock::time_point until;
  };
  std::mutex mutex_;
  std::map<std::string, Failures> failures_;  // "user:NAME" and "addr:IP"; guarded by mutex_
};

/// The IP address part of a gRPC peer string ("ipv4:127.0.0.1:5555").
std::string PeerAddress(const std::string& peer);

}  // namespace squadron::auth
