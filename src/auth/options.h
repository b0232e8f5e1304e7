// Options of the authentication methods (`squadron serve --auth ...`,
// docs/security.md), and the factories of the LDAP and Kerberos methods.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <arrow/result.h>

#include "auth/identity.h"

namespace squadron::auth {

/// LDAP (OpenLDAP's libldap): bind as the service account, search the user
/// with `user_filter` (every value escaped as RFC 4515 says), bind as the
/// user's DN with the password, then map the groups the user is a member of
/// to roles.
struct LdapOptions {
  /// ldap://host:port or ldaps://host:port (several, space-separated, are tried in turn).
  std::string uri;
  /// StartTLS on an ldap:// connection (refused if the server cannot).
  bool start_tls = false;
  /// CA bundle to verify the LDAP server's certificate (ldaps://, StartTLS);
  /// empty: the system's.
  std::string ca_file;
  /// The service account: its DN and a file holding its password.
  std::string bind_dn;
  std::string bind_password_file;
  /// Where and how users are found; `{user}` is replaced by the escaped user name.
  std::string user_base_dn;
  std::string user_filter = "(uid={user})";
  /// Where and how a user's groups are found; `{dn}` is replaced by the
  /// escaped user DN, `{user}` by the escaped user name.
  std::string group_base_dn;
  std::string group_filter = "(|(member={dn})(uniqueMember={dn})(memberUid={user}))";
  /// Group DN or cn (case-insensitive) -> role; the strongest role wins.
  std::map<std::string, Role> group_roles;
  /// The role of a user who is in none of `group_roles` (kNone: refused).
  Role default_role = Role::kNone;
  /// Network timeout of each LDAP operation.
  std::chrono::milliseconds timeout{5000};
};

/// Kerberos (MIT libgssapi-krb5): SPNEGO tokens from `authorization:
/// Negotiate <base64>` accepted with the service key in `keytab`.
struct KerberosOptions {
  std::string keytab;
  /// The service principal, e.g. HTTP/host.example.com@EXAMPLE.COM; empty:
  /// any principal in the keytab.
  std::string principal;
  /// Principal -> user: rules "REGEX=REPLACEMENT" tried in order (ECMAScript
  /// regex, the whole principal must match, $1... in the replacement); no
  /// rule matching: the principal without its realm.
  std::vector<std::pair<std::string, std::string>> user_map;
  /// User -> role; others get `default_role` (kNone: refused).
  std::map<std::string, Role> user_roles;
  Role default_role = Role::kNone;
};

arrow::Result<std::unique_ptr<PasswordAuthenticator>> MakeLdapAuthenticator(const LdapOptions& options);
arrow::Result<std::unique_ptr<NegotiateAuthenticator>> MakeKerberosAuthenticator(const KerberosOptions& options);

}  // namespace squadron::auth
