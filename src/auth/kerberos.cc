// The Kerberos method: SPNEGO tokens accepted with MIT's GSSAPI and a keytab.
#include "auth/kerberos.h"

#include <gssapi/gssapi.h>
#include <gssapi/gssapi_ext.h>
#include <gssapi/gssapi_krb5.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <system_error>

#include <arrow/flight/types.h>
#include <spdlog/spdlog.h>

#include "common/status.h"

namespace squadron::auth {
namespace kerberos {

namespace {

constexpr char kInvalidBase64[] = "Invalid base64: ";
constexpr char kBase64Alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int Sextet(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

}  // namespace

arrow::Result<std::string> DecodeBase64(std::string_view text) {
  std::size_t end = text.size();
  std::size_t padding = 0;
  while (end > 0 && text[end - 1] == '=' && padding < 2) {
    --end;
    ++padding;
  }
  if (padding > 0 && text.size() % 4 != 0) {
    return InvalidArgument(kInvalidBase64, "the padding does not end a 4-character group (length ", text.size(),
                           ")");
  }
  if (end % 4 == 1) return InvalidArgument(kInvalidBase64, "truncated (length ", text.size(), ")");
  std::string out;
  out.reserve(end / 4 * 3 + 2);
  std::uint32_t buffer = 0;
  int bits = 0;
  for (std::size_t i = 0; i < end; ++i) {
    const int value = Sextet(text[i]);
    if (value < 0) return InvalidArgument(kInvalidBase64, "unexpected character at offset ", i);
    buffer = (buffer << 6) | static_cast<std::uint32_t>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xff));
    }
  }
  // An encoder leaves the bits after the last byte zero; others are not base64 of anything.
  if (bits > 0 && (buffer & ((1u << bits) - 1)) != 0) {
    return InvalidArgument(kInvalidBase64, "non-zero bits after the last byte");
  }
  return out;
}

std::string EncodeBase64(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const std::uint32_t v = (std::uint32_t(std::uint8_t(bytes[i])) << 16) |
                            (std::uint32_t(std::uint8_t(bytes[i + 1])) << 8) | std::uint8_t(bytes[i + 2]);
    for (int shift : {18, 12, 6, 0}) out.push_back(kBase64Alphabet[(v >> shift) & 63]);
  }
  if (i < bytes.size()) {
    std::uint32_t v = std::uint32_t(std::uint8_t(bytes[i])) << 16;
    if (i + 1 < bytes.size()) v |= std::uint32_t(std::uint8_t(bytes[i + 1])) << 8;
    out.push_back(kBase64Alphabet[(v >> 18) & 63]);
    out.push_back(kBase64Alphabet[(v >> 12) & 63]);
    out.push_back(i + 1 < bytes.size() ? kBase64Alphabet[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

ServiceNameForm ClassifyServiceName(std::string_view name) {
  if (name.find('/') != std::string_view::npos) return ServiceNameForm::kPrincipal;
  const std::size_t at = name.find('@');
  if (at == std::string_view::npos) return ServiceNameForm::kPrincipal;
  // Realms are upper case by convention, host names are not: `squadron@EXAMPLE.COM`
  // is a principal, `HTTP@db.example.com` and `HTTP@10.0.0.1` are hosts.
  bool upper = false;
  for (char c : name.substr(at + 1)) {
    if (c >= 'a' && c <= 'z') return ServiceNameForm::kHostBasedService;
    if (c >= 'A' && c <= 'Z') upper = true;
  }
  return upper ? ServiceNameForm::kPrincipal : ServiceNameForm::kHostBasedService;
}

std::string StripRealm(std::string_view principal) {
  for (std::size_t i = 0; i < principal.size(); ++i) {
    if (principal[i] == '\\') {
      ++i;  // an escaped character, perhaps an '@' inside a component
    } else if (principal[i] == '@') {
      return std::string(principal.substr(0, i));
    }
  }
  return std::string(principal);
}

arrow::Result<std::pair<std::string, std::string>> SplitMapping(std::string_view text) {
  const std::size_t eq = text.rfind('=');
  if (eq == std::string_view::npos || eq == 0) {
    return InvalidArgument("Expected LEFT=RIGHT (e.g. '(.*)@EXAMPLE.COM=$1' or 'alice=admin'), got '", text, "'");
  }
  return std::make_pair(std::string(text.substr(0, eq)), std::string(text.substr(eq + 1)));
}

arrow::Result<PrincipalMapper> PrincipalMapper::Make(const KerberosOptions& options) {
  PrincipalMapper mapper;
  for (const auto& [pattern, replacement] : options.user_map) {
    try {
      mapper.rules_.push_back(Rule{pattern + "=" + replacement, std::regex(pattern, std::regex::ECMAScript),
                                   replacement});
    } catch (const std::regex_error& e) {
      return InvalidArgument("Invalid Kerberos user map rule '", pattern, "=", replacement, "': ", e.what());
    }
  }
  mapper.user_roles_ = options.user_roles;
  mapper.default_role_ = options.default_role;
  return mapper;
}

arrow::Result<std::string> PrincipalMapper::MapUser(const std::string& principal) const {
  for (const auto& rule : rules_) {
    try {
      std::smatch match;
      if (std::regex_match(principal, match, rule.regex)) return match.format(rule.replacement);
    } catch (const std::regex_error& e) {
      // std::regex gives up (error_complexity, error_stack) rather than run forever.
      return PermissionDenied(Msg("Kerberos principal ", principal, " could not be mapped by the rule '", rule.text,
                                  "': ", e.what()));
    }
  }
  return StripRealm(principal);
}

arrow::Result<Identity> PrincipalMapper::Resolve(const std::string& principal) const {
  ARROW_ASSIGN_OR_RAISE(std::string user, MapUser(principal));
  if (user.empty()) {
    return PermissionDenied(Msg("Kerberos principal ", principal, " is refused by the user map"));
  }
  auto it = user_roles_.find(user);
  const Role role = it == user_roles_.end() ? default_role_ : it->second;
  if (role == Role::kNone) {
    return PermissionDenied(Msg("Kerberos principal ", principal, " (user ", user, ") has no role on this server"));
  }
  return Identity{std::move(user), role, "kerberos"};
}

}  // namespace kerberos

namespace {

using kerberos::EncodeBase64;
using kerberos::kInvalidBase64;

// SPNEGO, 1.3.6.1.5.5.2 (RFC 4178); MIT exports no constant for it.
gss_OID_desc kSpnegoOid = {6, const_cast<char*>("\x2b\x06\x01\x05\x05\x02")};

arrow::Status Unauthenticated(std::string message) {
  return arrow::flight::MakeFlightError(arrow::flight::FlightStatusCode::Unauthenticated, std::move(message));
}

bool SameOid(gss_const_OID a, gss_const_OID b) {
  return a != GSS_C_NO_OID && b != GSS_C_NO_OID && a->length == b->length &&
         std::memcmp(a->elements, b->elements, a->length) == 0;
}

/// Kerberos under any of its OIDs (Microsoft clients announce the "wrong" one).
bool IsKerberos(gss_const_OID mech) {
  return SameOid(mech, gss_mech_krb5) || SameOid(mech, gss_mech_krb5_old) || SameOid(mech, gss_mech_krb5_wrong);
}

/// The text of a GSS status pair, e.g. "Request is a replay" or "Invalid token
/// was supplied; ASN.1 structure is missing a required field". Call on the
/// thread that got the status: MIT keeps the detailed minor message per thread.
std::string GssStatusText(OM_uint32 major, OM_uint32 minor) {
  std::string text;
  auto append = [&text](OM_uint32 code, int type) {
    OM_uint32 more = 0;
    do {
      OM_uint32 ignored = 0;
      gss_buffer_desc buffer = GSS_C_EMPTY_BUFFER;
      if (GSS_ERROR(gss_display_status(&ignored, code, type, GSS_C_NO_OID, &more, &buffer))) break;
      if (!text.empty()) text += "; ";
      text.append(static_cast<const char*>(buffer.value), buffer.length);
      gss_release_buffer(&ignored, &buffer);
    } while (more != 0);
  };
  // "Unspecified GSS failure.  Minor code may provide more information" says nothing the minor text does not.
  if (GSS_ROUTINE_ERROR(major) != GSS_S_FAILURE || minor == 0) append(major, GSS_C_GSS_CODE);
  if (minor != 0) append(minor, GSS_C_MECH_CODE);
  return text;
}

// Owners of GSSAPI handles, released when they go out of scope.
struct GssName {
  gss_name_t handle = GSS_C_NO_NAME;
  GssName() = default;
  GssName(const GssName&) = delete;
  GssName& operator=(const GssName&) = delete;
  ~GssName() {
    OM_uint32 minor = 0;
    if (handle != GSS_C_NO_NAME) gss_release_name(&minor, &handle);
  }
};

struct GssCred {
  gss_cred_id_t handle = GSS_C_NO_CREDENTIAL;
  GssCred() = default;
  GssCred(const GssCred&) = delete;
  GssCred& operator=(const GssCred&) = delete;
  ~GssCred() {
    OM_uint32 minor = 0;
    if (handle != GSS_C_NO_CREDENTIAL) gss_release_cred(&minor, &handle);
  }
};

struct GssContext {
  gss_ctx_id_t handle = GSS_C_NO_CONTEXT;
  GssContext() = default;
  GssContext(const GssContext&) = delete;
  GssContext& operator=(const GssContext&) = delete;
  ~GssContext() {
    OM_uint32 minor = 0;
    if (handle != GSS_C_NO_CONTEXT) gss_delete_sec_context(&minor, &handle, GSS_C_NO_BUFFER);
  }
};

struct GssBuffer {
  gss_buffer_desc buffer = GSS_C_EMPTY_BUFFER;
  GssBuffer() = default;
  GssBuffer(const GssBuffer&) = delete;
  GssBuffer& operator=(const GssBuffer&) = delete;
  ~GssBuffer() {
    OM_uint32 minor = 0;
    gss_release_buffer(&minor, &buffer);
  }
  std::string_view view() const { return {static_cast<const char*>(buffer.value), buffer.length}; }
};

struct GssOidSet {
  gss_OID_set handle = GSS_C_NO_OID_SET;
  GssOidSet() = default;
  GssOidSet(const GssOidSet&) = delete;
  GssOidSet& operator=(const GssOidSet&) = delete;
  ~GssOidSet() {
    OM_uint32 minor = 0;
    if (handle != GSS_C_NO_OID_SET) gss_release_oid_set(&minor, &handle);
  }
};

std::string_view Trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r' || text.back() == '\n')) {
    text.remove_suffix(1);
  }
  return text;
}

/// The file behind a keytab option: a path, or FILE:path.
std::string KeytabPath(const std::string& keytab) {
  return keytab.rfind("FILE:", 0) == 0 ? keytab.substr(5) : keytab;
}

arrow::Status CheckKeytabFile(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) {
    return InvalidArgument("Cannot read the Kerberos keytab '", path, "': ",
                           std::error_code(errno, std::generic_category()).message());
  }
  std::fclose(file);
  struct stat info {};
  if (::stat(path.c_str(), &info) == 0 && (info.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    spdlog::warn("event=kerberos_keytab_exposed keytab={:?} mode={:o} hint={:?}", path, info.st_mode & 0777,
                 "the keytab holds the service key: chmod 600 it");
  }
  return arrow::Status::OK();
}

/// Whoever can replay a captured token within the clock skew is that user
/// unless the replay cache is on; MIT's default is on, the environment can turn it off.
void WarnIfReplayCacheOff() {
  const char* type = std::getenv("KRB5RCACHETYPE");
  const char* name = std::getenv("KRB5RCACHENAME");
  if ((type != nullptr && std::string_view(type) == "none") ||
      (name != nullptr && std::string_view(name).rfind("none:", 0) == 0)) {
    spdlog::warn("event=kerberos_replay_cache_off hint={:?}",
                 "KRB5RCACHETYPE/KRB5RCACHENAME turn the replay cache off: a captured token can be replayed");
  }
}

class KerberosAuthenticator final : public NegotiateAuthenticator {
 public:
  static arrow::Result<std::unique_ptr<NegotiateAuthenticator>> Make(const KerberosOptions& options);

  arrow::Result<Accepted> Accept(const std::string& token_base64) override;

 private:
  explicit KerberosAuthenticator(kerberos::PrincipalMapper mapper) : mapper_(std::move(mapper)) {}

  /// Refuses with UNAUTHENTICATED and logs why (never the token).
  arrow::Status Refuse(std::string_view reason, const std::string& detail) const;

  const kerberos::PrincipalMapper mapper_;
  //! The acceptor credential (SPNEGO and Kerberos, from the keytab). Shared
  //! by all threads: MIT locks it inside each gss_accept_sec_context call.
  GssCred cred_;
};

arrow::Result<std::unique_ptr<NegotiateAuthenticator>> KerberosAuthenticator::Make(const KerberosOptions& options) {
  if (options.keytab.empty()) return InvalidArgument("Kerberos needs a keytab (--kerberos-keytab)");
  ARROW_ASSIGN_OR_RAISE(auto mapper, kerberos::PrincipalMapper::Make(options));
  const std::string path = KeytabPath(options.keytab);
  ARROW_RETURN_NOT_OK(CheckKeytabFile(path));

  OM_uint32 major = 0;
  OM_uint32 minor = 0;
  GssName name;
  if (!options.principal.empty()) {
    const bool hostbased =
        kerberos::ClassifyServiceName(options.principal) == kerberos::ServiceNameForm::kHostBasedService;
    gss_buffer_desc text{options.principal.size(), const_cast<char*>(options.principal.data())};
    major = gss_import_name(&minor, &text, hostbased ? GSS_C_NT_HOSTBASED_SERVICE : GSS_KRB5_NT_PRINCIPAL_NAME,
                            &name.handle);
    if (GSS_ERROR(major)) {
      return InvalidArgument("Invalid Kerberos service principal '", options.principal, "': ",
                             GssStatusText(major, minor));
    }
  }
  const std::string what = options.principal.empty() ? "any principal" : "principal '" + options.principal + "'";

  // The keytab goes in the credential itself (not KRB5_KTNAME, a process-wide
  // setting), so two authenticators with different keytabs can coexist.
  const std::string keytab_name = "FILE:" + path;
  gss_key_value_element_desc element{"keytab", keytab_name.c_str()};
  gss_key_value_set_desc store{1, &element};
  {
    // Kerberos alone first: SPNEGO would hide its precise error (no such
    // file, not a keytab, no key for the principal) behind "no credentials".
    GssCred krb5_only;
    gss_OID_set_desc mechs{1, gss_mech_krb5};
    major = gss_acquire_cred_from(&minor, name.handle, GSS_C_INDEFINITE, &mechs, GSS_C_ACCEPT, &store,
                                  &krb5_only.handle, nullptr, nullptr);
    if (GSS_ERROR(major)) {
      return InvalidArgument("Cannot accept Kerberos tokens for ", what, " with the keytab '", path, "': ",
                             GssStatusText(major, minor));
    }
  }
  std::unique_ptr<KerberosAuthenticator> authenticator(new KerberosAuthenticator(std::move(mapper)));
  gss_OID_desc both[2] = {*gss_mech_krb5, kSpnegoOid};
  gss_OID_set_desc mechs{2, both};
  GssOidSet actual;
  major = gss_acquire_cred_from(&minor, name.handle, GSS_C_INDEFINITE, &mechs, GSS_C_ACCEPT, &store,
                                &authenticator->cred_.handle, &actual.handle, nullptr);
  if (GSS_ERROR(major)) {
    return InvalidArgument("Cannot accept SPNEGO tokens for ", what, " with the keytab '", path, "': ",
                           GssStatusText(major, minor));
  }
  int has_spnego = 0;
  gss_test_oid_set_member(&minor, &kSpnegoOid, actual.handle, &has_spnego);
  if (!has_spnego) return Internal(Msg("GSSAPI gave no SPNEGO acceptor credential for the keytab '", path, "'"));
  // SPNEGO negotiates Kerberos only, never another mechanism a GSSAPI plugin may add (NTLM, NegoEx).
  gss_OID_set_desc negotiable{1, gss_mech_krb5};
  major = gss_set_neg_mechs(&minor, authenticator->cred_.handle, &negotiable);
  if (GSS_ERROR(major)) return Internal(Msg("Cannot limit SPNEGO to Kerberos: ", GssStatusText(major, minor)));

  WarnIfReplayCacheOff();
  spdlog::info("event=kerberos_ready keytab={:?} principal={:?} user_map_rules={} user_roles={} default_role={}",
               path, options.principal.empty() ? "(any in the keytab)" : options.principal,
               options.user_map.size(), options.user_roles.size(), RoleName(options.default_role));
  return std::unique_ptr<NegotiateAuthenticator>(std::move(authenticator));
}

arrow::Status KerberosAuthenticator::Refuse(std::string_view reason, const std::string& detail) const {
  spdlog::warn("event=kerberos_refused reason={} detail={:?}", reason, detail);
  return Unauthenticated("Kerberos authentication failed: " + detail);
}

arrow::Result<NegotiateAuthenticator::Accepted> KerberosAuthenticator::Accept(const std::string& token_base64) {
  const std::string_view text = Trim(token_base64);
  if (text.empty()) return Refuse("empty_token", "the Negotiate token is empty");
  if (text.size() > kerberos::kMaxTokenBase64) {
    return Refuse("token_too_large", Msg("the Negotiate token is ", text.size(),
                                         " characters of base64, more than the ", kerberos::kMaxTokenBase64,
                                         " accepted"));
  }
  auto decoded = kerberos::DecodeBase64(text);
  if (!decoded.ok()) {
    std::string why = decoded.status().message();
    if (why.rfind(kInvalidBase64, 0) == 0) why.erase(0, std::strlen(kInvalidBase64));
    return Refuse("bad_base64", "the Negotiate token is not base64: " + why);
  }

  gss_buffer_desc input{decoded->size(), decoded->data()};
  GssContext context;
  GssName client;
  GssBuffer output;
  gss_OID mech = GSS_C_NO_OID;
  OM_uint32 flags = 0;
  OM_uint32 minor = 0;
  const OM_uint32 major = gss_accept_sec_context(&minor, &context.handle, cred_.handle, &input,
                                                 GSS_C_NO_CHANNEL_BINDINGS, &client.handle, &mech, &output.buffer,
                                                 &flags, /*time_rec=*/nullptr, /*delegated_cred_handle=*/nullptr);
  if (GSS_ERROR(major)) return Refuse("gss", GssStatusText(major, minor));
  if (major & GSS_S_CONTINUE_NEEDED) {
    return Refuse("multi_round",
                  "the client started a multi-round negotiation, which is not supported (send a Kerberos token "
                  "through SPNEGO, as HTTP Negotiate clients do)");
  }
  if (!IsKerberos(mech)) return Refuse("mechanism", "SPNEGO negotiated a mechanism other than Kerberos");
  if (flags & GSS_C_ANON_FLAG) return Refuse("anonymous", "anonymous Kerberos tickets are not accepted");

  GssBuffer display;
  OM_uint32 name_minor = 0;
  const OM_uint32 name_major = gss_display_name(&name_minor, client.handle, &display.buffer, nullptr);
  if (GSS_ERROR(name_major)) {
    return Internal(Msg("Cannot read the Kerberos client's name: ", GssStatusText(name_major, name_minor)));
  }
  const std::string principal(display.view());
  auto identity = mapper_.Resolve(principal);
  if (!identity.ok()) {
    spdlog::warn("event=kerberos_refused reason=mapping principal={:?} detail={:?}", principal,
                 identity.status().message());
    return identity.status();
  }
  // The reply carries the AP-REP: the client checks it to know it reached the real service.
  const bool reply = output.buffer.length > 0;
  spdlog::info("event=kerberos_accepted principal={:?} user={:?} role={} reply={}", principal, identity->user,
               RoleName(identity->role), reply);
  return Accepted{std::move(*identity), reply ? EncodeBase64(output.view()) : std::string()};
}

}  // namespace

arrow::Result<std::unique_ptr<NegotiateAuthenticator>> MakeKerberosAuthenticator(const KerberosOptions& options) {
  return KerberosAuthenticator::Make(options);
}

}  // namespace squadron::auth
