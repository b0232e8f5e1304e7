// The LDAP method (OpenLDAP's libldap): service bind, user search, user bind
// on a fresh connection, group search, roles. docs/security.md, "LDAP".
#include "auth/ldap.h"

#include <ldap.h>
#include <sys/stat.h>
#include <sys/time.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>

#include <arrow/flight/types.h>
#include <spdlog/spdlog.h>

#include "auth/options.h"
#include "common/status.h"

namespace squadron::auth {

std::string EscapeFilterValue(std::string_view value) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(value.size());
  for (const char c : value) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte > 0x7e || c == '*' || c == '(' || c == ')' || c == '\\') {
      out += '\\';
      out += kHex[byte >> 4];
      out += kHex[byte & 0x0f];
    } else {
      out += c;
    }
  }
  return out;
}

std::string ExpandFilter(std::string_view filter, std::string_view user, std::string_view dn) {
  static constexpr std::string_view kUser = "{user}";
  static constexpr std::string_view kDn = "{dn}";
  std::string out;
  size_t i = 0;
  while (i < filter.size()) {
    if (filter.substr(i).starts_with(kUser)) {
      out += EscapeFilterValue(user);
      i += kUser.size();
    } else if (filter.substr(i).starts_with(kDn)) {
      out += EscapeFilterValue(dn);
      i += kDn.size();
    } else {
      out += filter[i++];
    }
  }
  return out;
}

namespace {

std::string Lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

}  // namespace

Role RoleOfGroups(const std::vector<LdapGroup>& groups, const std::map<std::string, Role>& group_roles,
                  Role default_role) {
  std::map<std::string, Role> lowered;
  for (const auto& [name, role] : group_roles) {
    Role& slot = lowered[Lower(name)];
    slot = std::max(slot, role);
  }
  auto role_of = [&lowered](const std::string& name) {
    auto it = lowered.find(Lower(name));
    return it == lowered.end() ? Role::kNone : it->second;
  };
  Role best = Role::kNone;
  for (const LdapGroup& group : groups) {
    best = std::max(best, role_of(group.dn));
    for (const std::string& cn : group.cns) best = std::max(best, role_of(cn));
  }
  return best == Role::kNone ? default_role : best;
}

namespace {

// The one message for every credential failure, so that no answer says
// whether the user exists.
constexpr const char* kInvalidCredentials = "Invalid user name or password";

arrow::Status Unauthenticated(std::string message) {
  return arrow::flight::MakeFlightError(arrow::flight::FlightStatusCode::Unauthenticated, std::move(message));
}

struct LdapCloser {
  void operator()(LDAP* ld) const { ldap_unbind_ext_s(ld, nullptr, nullptr); }
};
/// An LDAP connection; closed (and unbound) when it goes out of scope.
using LdapHandle = std::unique_ptr<LDAP, LdapCloser>;

struct MessageFreer {
  void operator()(LDAPMessage* message) const { ldap_msgfree(message); }
};
using LdapMessages = std::unique_ptr<LDAPMessage, MessageFreer>;

/// Result codes meaning that the server could not be reached or did not answer in time.
bool IsUnreachable(int rc) {
  return rc == LDAP_SERVER_DOWN || rc == LDAP_CONNECT_ERROR || rc == LDAP_TIMEOUT || rc == LDAP_UNAVAILABLE ||
         rc == LDAP_BUSY || rc == LDAP_TIMELIMIT_EXCEEDED;
}

/// The error text of `rc`, with the diagnostic message of the last operation
/// on `ld` (e.g. the server's reason) when there is one.
std::string Describe(LDAP* ld, int rc) {
  std::string text = ldap_err2string(rc);
  char* diagnostic = nullptr;
  if (ld != nullptr && ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diagnostic) == LDAP_OPT_SUCCESS &&
      diagnostic != nullptr) {
    // GnuTLS's text for a failed certificate check says nothing: leave it out.
    if (*diagnostic != '\0' && std::string_view(diagnostic) != "(unknown error code)") {
      text += Msg(" (", diagnostic, ")");
    }
    ldap_memfree(diagnostic);
  }
  return text;
}

timeval ToTimeval(std::chrono::milliseconds timeout) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  return tv;
}

/// After a failed ldaps:// connection: whether one of the ldaps:// servers in
/// `uris` accepts a plain TCP connection, i.e. the TLS handshake failed (most
/// often the certificate check), not the network.
bool TlsPortReachable(const std::string& uris, std::chrono::milliseconds timeout) {
  std::istringstream list(uris);
  std::string uri;
  while (list >> uri) {
    LDAPURLDesc* desc = nullptr;
    if (ldap_url_parse(uri.c_str(), &desc) != LDAP_URL_SUCCESS) continue;
    const std::string scheme = Lower(desc->lud_scheme != nullptr ? desc->lud_scheme : "");
    std::string host = desc->lud_host != nullptr ? desc->lud_host : "";
    const int port = desc->lud_port != 0 ? desc->lud_port : LDAPS_PORT;
    ldap_free_urldesc(desc);
    if (scheme != "ldaps" || host.empty()) continue;
    if (host.find(':') != std::string::npos) host = Msg("[", host, "]");
    LDAP* raw = nullptr;
    if (ldap_initialize(&raw, Msg("ldap://", host, ":", port).c_str()) != LDAP_SUCCESS) continue;
    LdapHandle ld(raw);
    const timeval tv = ToTimeval(timeout);
    ldap_set_option(ld.get(), LDAP_OPT_NETWORK_TIMEOUT, &tv);
    if (ldap_connect(ld.get()) == LDAP_SUCCESS) return true;
  }
  return false;
}

/// The user name as logged: at most kMaxLdapUserNameBytes (fmt's {:?} escapes it).
std::string_view Loggable(const std::string& user) {
  return std::string_view(user).substr(0, kMaxLdapUserNameBytes);
}

arrow::Result<std::string> ReadPasswordFile(const std::string& path) {
  if (path.empty()) {
    return InvalidArgument("LDAP: the service account's password file is required (--ldap-bind-password-file)");
  }
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) {
    return arrow::Status::IOError("Cannot read the LDAP bind password file ", path, ": ", std::strerror(errno));
  }
  if (!S_ISREG(info.st_mode)) {
    return arrow::Status::IOError("Cannot read the LDAP bind password file ", path, ": not a regular file");
  }
  if ((info.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    spdlog::warn("event=ldap_password_file_permissions path={:?} mode={:o} advice=chmod_600", path,
                 info.st_mode & 07777);
  }
  std::ifstream in(path, std::ios::binary);
  std::string password(std::istreambuf_iterator<char>(in), {});
  if (!in.good() && !in.eof()) {
    return arrow::Status::IOError("Cannot read the LDAP bind password file ", path, ": ", std::strerror(errno));
  }
  if (password.ends_with('\n')) password.pop_back();
  if (password.ends_with('\r')) password.pop_back();
  if (password.empty()) return InvalidArgument("The LDAP bind password file ", path, " is empty");
  return password;
}

arrow::Status CheckOptions(const LdapOptions& options) {
  if (options.uri.empty()) return InvalidArgument("LDAP: a server URI is required (--ldap-uri)");
  std::istringstream uris(options.uri);
  std::string uri;
  while (uris >> uri) {
    const std::string scheme = Lower(uri.substr(0, uri.find("://")));
    if (scheme != "ldap" && scheme != "ldaps") {
      return InvalidArgument("LDAP: expected ldap://HOST:PORT or ldaps://HOST:PORT, got ", uri);
    }
    if (scheme == "ldaps" && options.start_tls) {
      return InvalidArgument("LDAP: StartTLS is for ldap:// URIs; ", uri, " is already TLS");
    }
  }
  if (options.bind_dn.empty()) return InvalidArgument("LDAP: the service account's DN is required (--ldap-bind-dn)");
  if (options.user_base_dn.empty()) return InvalidArgument("LDAP: the user search base is required (--ldap-user-base)");
  const std::string& user_filter = options.user_filter;
  if (user_filter.find("{user}") == std::string::npos || user_filter.find("{dn}") != std::string::npos) {
    return InvalidArgument("LDAP: the user filter must contain {user} and not {dn}, got ", options.user_filter);
  }
  if (!options.group_base_dn.empty() && options.group_filter.find('{') == std::string::npos) {
    return InvalidArgument("LDAP: the group filter must contain {dn} or {user}, got ", options.group_filter);
  }
  if (options.timeout.count() <= 0) return InvalidArgument("LDAP: the timeout must be positive");
  std::map<std::string, std::pair<std::string, Role>> seen;
  for (const auto& [name, role] : options.group_roles) {
    auto [it, inserted] = seen.emplace(Lower(name), std::make_pair(name, role));
    if (!inserted && it->second.second != role) {
      return InvalidArgument("LDAP: groups '", it->second.first, "' and '", name,
                             "' are the same (names are case-insensitive) but map to different roles");
    }
  }
  if (!options.ca_file.empty()) {
    std::ifstream ca(options.ca_file);
    if (!ca) {
      return arrow::Status::IOError("Cannot read the LDAP CA file ", options.ca_file, ": ", std::strerror(errno));
    }
  }
  return arrow::Status::OK();
}

class LdapAuthenticator final : public PasswordAuthenticator {
 public:
  LdapAuthenticator(LdapOptions options, std::string service_password)
      : options_(std::move(options)), service_password_(std::move(service_password)) {}

  const char* method() const override { return "ldap"; }

  arrow::Result<Identity> Authenticate(const std::string& user, const std::string& password) override {
    if (user.empty() || user.size() > kMaxLdapUserNameBytes || user.find('\0') != std::string::npos) {
      return Reject(user, "malformed_user_name");
    }
    // A simple bind with a DN and an empty password is an unauthenticated
    // one, which many servers answer with success.
    if (password.empty()) return Reject(user, "empty_password");

    ARROW_ASSIGN_OR_RAISE(LdapHandle service, Connect());
    ARROW_RETURN_NOT_OK(BindService(service.get()));
    ARROW_ASSIGN_OR_RAISE(std::vector<std::string> dns, FindUser(service.get(), user));
    if (dns.size() != 1) return Reject(user, dns.empty() ? "no_such_user" : "several_entries_match");
    const std::string& dn = dns.front();
    // An empty DN would make the user bind anonymous.
    if (dn.empty()) return Reject(user, "empty_dn");
    ARROW_RETURN_NOT_OK(BindUser(user, dn, password));

    ARROW_ASSIGN_OR_RAISE(std::vector<LdapGroup> groups, FindGroups(service.get(), user, dn));
    const Role role = RoleOfGroups(groups, options_.group_roles, options_.default_role);
    if (role == Role::kNone) {
      spdlog::info("event=ldap_auth_failed user={:?} dn={:?} reason=no_role groups={}", Loggable(user), dn,
                   groups.size());
      // Said only after the password was verified, so it tells nothing to a guesser.
      return Unauthenticated(Msg("User '", user,
                                 "' has no Squadron role: none of their LDAP groups is mapped to a role and there "
                                 "is no default role"));
    }
    spdlog::info("event=ldap_auth_ok user={:?} dn={:?} role={} groups={}", Loggable(user), dn, RoleName(role),
                 groups.size());
    return Identity{user, role, "ldap"};
  }

  /// Opens a connection with every option set but does not connect: checks
  /// the URI and the CA file at startup.
  arrow::Result<LdapHandle> Prepare() const {
    LDAP* raw = nullptr;
    int rc = ldap_initialize(&raw, options_.uri.c_str());
    if (rc != LDAP_SUCCESS) return InvalidArgument("LDAP: bad URI '", options_.uri, "': ", ldap_err2string(rc));
    LdapHandle ld(raw);
    const int version = LDAP_VERSION3;
    const timeval timeout = ToTimeval(options_.timeout);
    const int require_cert = LDAP_OPT_X_TLS_DEMAND;
    const int tls_min = LDAP_OPT_X_TLS_PROTOCOL_TLS1_2;
    const int is_server = 0;
    struct Option {
      int option;
      const void* value;
      const char* name;
    };
    std::vector<Option> settings = {
        {LDAP_OPT_PROTOCOL_VERSION, &version, "protocol version 3"},
        // Referrals would be followed with an anonymous bind to another server.
        {LDAP_OPT_REFERRALS, LDAP_OPT_OFF, "no referrals"},
        {LDAP_OPT_NETWORK_TIMEOUT, &timeout, "network timeout"},
        {LDAP_OPT_TIMEOUT, &timeout, "operation timeout"},
        {LDAP_OPT_X_TLS_REQUIRE_CERT, &require_cert, "certificate verification"},
        {LDAP_OPT_X_TLS_PROTOCOL_MIN, &tls_min, "TLS 1.2 or later"},
    };
    if (!options_.ca_file.empty()) {
      settings.push_back({LDAP_OPT_X_TLS_CACERTFILE, options_.ca_file.c_str(), "CA file"});
    }
    // Last: the handle's own TLS context, built from the options above.
    settings.push_back({LDAP_OPT_X_TLS_NEWCTX, &is_server, "TLS context"});
    for (const Option& setting : settings) {
      rc = ldap_set_option(ld.get(), setting.option, setting.value);
      if (rc != LDAP_OPT_SUCCESS) {
        return InvalidArgument("LDAP: cannot set the ", setting.name, " of ", options_.uri, ": ",
                               Describe(ld.get(), rc));
      }
    }
    return ld;
  }

 private:
  /// The one answer to every bad credential; the log says which it was.
  arrow::Status Reject(const std::string& user, std::string_view reason, std::string_view ldap_error = {}) const {
    if (ldap_error.empty()) {
      spdlog::info("event=ldap_auth_failed user={:?} reason={}", Loggable(user), reason);
    } else {
      spdlog::info("event=ldap_auth_failed user={:?} reason={} ldap_error={:?}", Loggable(user), reason, ldap_error);
    }
    return Unauthenticated(kInvalidCredentials);
  }

  /// UNAVAILABLE naming the URI: the server is down, slow, or refused the
  /// service account's request (never a verdict on the user's credentials).
  arrow::Status ServiceFailure(std::string_view what, LDAP* ld, int rc, bool tls_failed = false) const {
    std::string reason = Describe(ld, rc);
    if (tls_failed) {
      reason += Msg(": the TLS handshake failed; is the server's certificate signed by ",
                    options_.ca_file.empty() ? "one of the system's CAs" : "the CA in " + options_.ca_file,
                    " and issued for the host name in the URI?");
    }
    spdlog::warn("event=ldap_unavailable uri={:?} step={} reason={:?}", options_.uri, what, reason);
    return Unavailable(Msg("LDAP server ", options_.uri, " unavailable (", what, "): ", reason));
  }

  /// A connected (and, with start_tls, encrypted) connection, not yet bound.
  arrow::Result<LdapHandle> Connect() const {
    auto prepared = Prepare();
    if (!prepared.ok()) {
      // Checked at startup: this is the server host's problem (say, the CA file went away).
      spdlog::warn("event=ldap_unavailable uri={:?} step=setup reason={:?}", options_.uri,
                   prepared.status().message());
      return Unavailable(Msg("LDAP server ", options_.uri, " unavailable (setup): ", prepared.status().message()));
    }
    LdapHandle ld = std::move(prepared).MoveValueUnsafe();
    int rc = ldap_connect(ld.get());
    if (rc != LDAP_SUCCESS) {
      return ServiceFailure("connect", ld.get(), rc, /*tls_failed=*/TlsPortReachable(options_.uri, options_.timeout));
    }
    if (options_.start_tls) {
      rc = ldap_start_tls_s(ld.get(), nullptr, nullptr);
      // LDAP_CONNECT_ERROR: the server agreed to StartTLS, then the handshake failed.
      if (rc != LDAP_SUCCESS) return ServiceFailure("starttls", ld.get(), rc, /*tls_failed=*/rc == LDAP_CONNECT_ERROR);
    }
    return ld;
  }

  arrow::Status BindService(LDAP* ld) const {
    berval credentials{service_password_.size(), const_cast<char*>(service_password_.data())};
    const int rc = ldap_sasl_bind_s(ld, options_.bind_dn.c_str(), LDAP_SASL_SIMPLE, &credentials, nullptr, nullptr,
                                    nullptr);
    if (rc == LDAP_SUCCESS) return arrow::Status::OK();
    if (IsUnreachable(rc)) return ServiceFailure("service_bind", ld, rc);
    std::string reason = Describe(ld, rc);
    spdlog::warn("event=ldap_service_bind_failed uri={:?} bind_dn={:?} reason={:?}", options_.uri, options_.bind_dn,
                 reason);
    return Unavailable(Msg("LDAP server ", options_.uri, " refused the service account ", options_.bind_dn, ": ",
                           reason));
  }

  /// The DNs of the entries matching the user filter: none, one or several
  /// (two, or one and a size limit reached).
  arrow::Result<std::vector<std::string>> FindUser(LDAP* ld, const std::string& user) const {
    const std::string filter = ExpandFilter(options_.user_filter, user);
    char no_attributes[] = LDAP_NO_ATTRS;
    char* attributes[] = {no_attributes, nullptr};
    ARROW_ASSIGN_OR_RAISE(SearchResult result,
                          Search(ld, "user_search", options_.user_base_dn, filter, attributes, /*size_limit=*/2));
    std::vector<std::string> dns;
    for (LDAPMessage* entry = ldap_first_entry(ld, result.messages.get()); entry != nullptr;
         entry = ldap_next_entry(ld, entry)) {
      char* dn = ldap_get_dn(ld, entry);
      dns.emplace_back(dn == nullptr ? "" : dn);
      ldap_memfree(dn);
    }
    // A server-side size limit of 1 must not pass for "exactly one".
    if (result.truncated && dns.size() < 2) dns.resize(2);
    if (dns.size() > 1) {
      spdlog::warn("event=ldap_ambiguous_user user={:?} base={:?} filter={:?}", Loggable(user),
                   options_.user_base_dn, filter);
    }
    return dns;
  }

  /// Binds as `dn` on a connection of its own, so the service connection's
  /// bound state is never the user's and the other way round.
  arrow::Status BindUser(const std::string& user, const std::string& dn, const std::string& password) const {
    ARROW_ASSIGN_OR_RAISE(LdapHandle ld, Connect());
    berval credentials{password.size(), const_cast<char*>(password.data())};
    const int rc = ldap_sasl_bind_s(ld.get(), dn.c_str(), LDAP_SASL_SIMPLE, &credentials, nullptr, nullptr, nullptr);
    if (rc == LDAP_SUCCESS) return arrow::Status::OK();
    if (IsUnreachable(rc)) return ServiceFailure("user_bind", ld.get(), rc);
    // Invalid credentials, a locked account, anything else: refused, all alike.
    return Reject(user, "bind_refused", ldap_err2string(rc));
  }

  arrow::Result<std::vector<LdapGroup>> FindGroups(LDAP* ld, const std::string& user, const std::string& dn) const {
    std::vector<LdapGroup> groups;
    if (options_.group_base_dn.empty()) return groups;
    const std::string filter = ExpandFilter(options_.group_filter, user, dn);
    char cn[] = "cn";
    char* attributes[] = {cn, nullptr};
    ARROW_ASSIGN_OR_RAISE(SearchResult result,
                          Search(ld, "group_search", options_.group_base_dn, filter, attributes, LDAP_NO_LIMIT));
    // Fail closed: a truncated group list could give a role the rest would not.
    if (result.truncated) return ServiceFailure("group_search", ld, LDAP_SIZELIMIT_EXCEEDED);
    for (LDAPMessage* entry = ldap_first_entry(ld, result.messages.get()); entry != nullptr;
         entry = ldap_next_entry(ld, entry)) {
      LdapGroup group;
      if (char* group_dn = ldap_get_dn(ld, entry)) {
        group.dn = group_dn;
        ldap_memfree(group_dn);
      }
      if (berval** values = ldap_get_values_len(ld, entry, "cn")) {
        for (berval** value = values; *value != nullptr; ++value) {
          group.cns.emplace_back((*value)->bv_val, (*value)->bv_len);
        }
        ldap_value_free_len(values);
      }
      groups.push_back(std::move(group));
    }
    return groups;
  }

  struct SearchResult {
    LdapMessages messages;
    /// A size limit (ours or the server's) cut the result short.
    bool truncated = false;
  };

  /// A subtree search with the time limit of options_.timeout. A missing base
  /// is an empty result (logged: it is a configuration mistake).
  arrow::Result<SearchResult> Search(LDAP* ld, std::string_view step, const std::string& base,
                                     const std::string& filter, char** attributes, int size_limit) const {
    timeval timeout = ToTimeval(options_.timeout);
    LDAPMessage* raw = nullptr;
    const int rc = ldap_search_ext_s(ld, base.c_str(), LDAP_SCOPE_SUBTREE, filter.c_str(), attributes,
                                     /*attrsonly=*/0, nullptr, nullptr, &timeout, size_limit, &raw);
    SearchResult result{LdapMessages(raw), rc == LDAP_SIZELIMIT_EXCEEDED};
    if (rc == LDAP_SUCCESS || rc == LDAP_SIZELIMIT_EXCEEDED) return result;
    if (rc == LDAP_NO_SUCH_OBJECT) {
      spdlog::warn("event=ldap_base_missing step={} base={:?}", step, base);
      return SearchResult{};
    }
    return ServiceFailure(step, ld, rc);
  }

  const LdapOptions options_;
  /// The service account's password, read once at startup.
  const std::string service_password_;
};

}  // namespace

arrow::Result<std::unique_ptr<PasswordAuthenticator>> MakeLdapAuthenticator(const LdapOptions& options) {
  ARROW_RETURN_NOT_OK(CheckOptions(options));
  ARROW_ASSIGN_OR_RAISE(std::string service_password, ReadPasswordFile(options.bind_password_file));
  auto authenticator = std::make_unique<LdapAuthenticator>(options, std::move(service_password));
  ARROW_RETURN_NOT_OK(authenticator->Prepare().status());
  if (!options.start_tls && Lower(options.uri).find("ldap://") != std::string::npos) {
    spdlog::warn("event=ldap_cleartext uri={:?} note=passwords_cross_the_network_unencrypted advice=ldaps_or_starttls",
                 options.uri);
  }
  spdlog::info("event=ldap_ready uri={:?} start_tls={} user_base={:?} group_base={:?} mapped_groups={}", options.uri,
               options.start_tls, options.user_base_dn, options.group_base_dn, options.group_roles.size());
  return authenticator;
}

}  // namespace squadron::auth
