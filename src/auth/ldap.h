// The LDAP method's pure parts (filter escaping, templating, group -> role),
// declared for the unit tests. MakeLdapAuthenticator is in auth/options.h.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "auth/identity.h"

namespace squadron::auth {

/// The longest user name the LDAP method accepts, in bytes.
inline constexpr size_t kMaxLdapUserNameBytes = 256;

/// Escapes a value for an LDAP search filter as RFC 4515 requires: `*`, `(`,
/// `)`, `\` and NUL become \2a \28 \29 \5c \00, and so does every byte outside
/// printable ASCII (0x20-0x7e) as \XX. The result matches the value literally.
std::string EscapeFilterValue(std::string_view value);

/// Replaces each `{user}` in `filter` with EscapeFilterValue(user) and each
/// `{dn}` with EscapeFilterValue(dn), in one pass (a replaced value is never
/// scanned again); any other text is kept as is.
std::string ExpandFilter(std::string_view filter, std::string_view user, std::string_view dn = {});

/// A group the user is a member of: its DN and its `cn` values.
struct LdapGroup {
  std::string dn;
  std::vector<std::string> cns;
};

/// The strongest role that `group_roles` (group DN or cn -> role, keys
/// compared case-insensitively) gives to any of `groups`; `default_role`
/// when none of them is mapped.
Role RoleOfGroups(const std::vector<LdapGroup>& groups, const std::map<std::string, Role>& group_roles,
                  Role default_role);

}  // namespace squadron::auth
