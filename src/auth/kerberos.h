// The Kerberos method's pieces that need no KDC: the base64 of `authorization:
// Negotiate <base64>`, how the service principal option is read, and the
// principal -> user -> role mapping. MakeKerberosAuthenticator (options.h) is
// built from them; the unit tests (tests/unit/kerberos_test.cc) use them directly.
#pragma once

#include <cstddef>
#include <map>
#include <regex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <arrow/result.h>

#include "auth/identity.h"
#include "auth/options.h"

namespace squadron::auth::kerberos {

/// The longest base64 token Accept reads. A ticket carrying a large PAC
/// (Active Directory, many groups) is about 12 KiB of base64; 64 KiB leaves
/// room and bounds what an unauthenticated caller can make the server decode.
inline constexpr std::size_t kMaxTokenBase64 = 64 * 1024;

/// Decodes standard base64 (RFC 4648 section 4; the trailing `=` padding is
/// optional). Invalid for any other character (the URL-safe alphabet
/// included), padding before the end, a length no encoder produces or
/// non-zero bits after the last byte. The message gives an offset, never the
/// input.
arrow::Result<std::string> DecodeBase64(std::string_view text);

/// Encodes bytes as standard, padded base64.
std::string EncodeBase64(std::string_view bytes);

/// How `KerberosOptions::principal` is imported as a GSS name.
enum class ServiceNameForm {
  /// `service@host` (e.g. `HTTP@db.example.com`): GSS_C_NT_HOSTBASED_SERVICE,
  /// the realm coming from the keytab entry.
  kHostBasedService,
  /// `service/host@REALM`, `service/host`, `name@REALM` or `name`:
  /// GSS_KRB5_NT_PRINCIPAL_NAME (no realm: the default realm of krb5.conf).
  kPrincipal,
};

/// Reads the form of a non-empty service name: a `/` means a Kerberos
/// principal; otherwise `name@X` is hostbased unless X has no lower-case
/// letter (then X is a realm, `squadron@EXAMPLE.COM`); a bare `name` is a
/// principal.
ServiceNameForm ClassifyServiceName(std::string_view name);

/// The principal without its realm: everything before the first `@` that is
/// not escaped by a backslash (`alice@EXAMPLE.COM` -> `alice`,
/// `HTTP/host@EXAMPLE.COM` -> `HTTP/host`).
std::string StripRealm(std::string_view principal);

/// Splits `REGEX=REPLACEMENT` (a `--kerberos-user-map` value) or `USER=ROLE`
/// at the last `=`, so a regex may hold `(?=...)`. Invalid without `=` or
/// with an empty left side.
arrow::Result<std::pair<std::string, std::string>> SplitMapping(std::string_view text);

/// Maps an authenticated principal to the identity Squadron uses: the user
/// (KerberosOptions::user_map, else StripRealm) and its role (user_roles,
/// else default_role). Immutable once made; Resolve is thread-safe.
class PrincipalMapper {
 public:
  /// Compiles the user_map regexes (ECMAScript); Invalid naming the rule
  /// that does not compile.
  static arrow::Result<PrincipalMapper> Make(const KerberosOptions& options);

  /// The user: the replacement of the first rule whose regex matches the
  /// whole principal ($1... are its groups, $& the principal), else the
  /// principal without its realm. May be empty (a rule mapping to "").
  /// PERMISSION_DENIED if std::regex gives up on the principal (too complex).
  arrow::Result<std::string> MapUser(const std::string& principal) const;

  /// The identity (method "kerberos") of a principal. PERMISSION_DENIED when
  /// it maps to an empty user (a rule that refuses, e.g. `.*@OTHER.REALM=`)
  /// or to a user with no role.
  arrow::Result<Identity> Resolve(const std::string& principal) const;

 private:
  struct Rule {
    std::string text;  //!< REGEX=REPLACEMENT as configured, for messages
    std::regex regex;
    std::string replacement;
  };
  PrincipalMapper() = default;

  std::vector<Rule> rules_;                //!< user_map, tried in order
  std::map<std::string, Role> user_roles_;  //!< mapped user -> role
  Role default_role_ = Role::kNone;         //!< users not in user_roles_
};

}  // namespace squadron::auth::kerberos
