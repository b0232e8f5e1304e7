// Who is calling: the result of every authentication method (src/auth/).
#pragma once

#include <string>
#include <vector>

#include <arrow/result.h>

namespace squadron::auth {

/// Built-in roles, from least to most: a `reader` runs read-only statements
/// and metadata; a `writer` also DML, DDL and ingest; an `admin` also
/// cancels other users' queries and reads `cluster status`.
enum class Role { kNone = 0, kReader = 1, kWriter = 2, kAdmin = 3 };

const char* RoleName(Role role);
/// "reader", "writer" or "admin"; Invalid otherwise.
arrow::Result<Role> ParseRole(const std::string& name);

struct Identity {
  std::string user;
  /// The strongest role the user holds (roles are cumulative).
  Role role = Role::kNone;
  /// How the user authenticated: "password", "ldap", "kerberos", "mtls",
  /// "token" (a bearer token this cluster issued), "none".
  std::string method;
};

/// Checks a user name and password (Basic authentication): the password
/// file, LDAP. UNAUTHENTICATED (arrow::flight::MakeFlightError with
/// FlightStatusCode::Unauthenticated) for wrong credentials, with a message
/// that never says whether the user exists; UNAVAILABLE when the backing
/// service cannot be reached. Thread-safe.
class PasswordAuthenticator {
 public:
  virtual ~PasswordAuthenticator() = default;
  virtual const char* method() const = 0;
  virtual arrow::Result<Identity> Authenticate(const std::string& user, const std::string& password) = 0;
};

/// Checks an SPNEGO token (`authorization: Negotiate <base64>`): Kerberos.
/// Returns the identity and, when the mechanism has one, the base64 token
/// to send back in `www-authenticate: Negotiate <token>` (mutual auth).
/// Thread-safe.
class NegotiateAuthenticator {
 public:
  virtual ~NegotiateAuthenticator() = default;
  struct Accepted {
    Identity identity;
    std::string reply_token;  // base64, may be empty
  };
  virtual arrow::Result<Accepted> Accept(const std::string& token_base64) = 0;
};

}  // namespace squadron::auth
