#include "auth/authenticator.h"

#include <spdlog/spdlog.h>

#include "common/status.h"
#include "common/text.h"

namespace squadron::auth {

namespace {

constexpr size_t kMaxUserBytes = 256;
constexpr size_t kMaxFailureEntries = 100000;

bool StartsWithScheme(const std::string& value, std::string_view scheme) {
  if (value.size() <= scheme.size() || value[scheme.size()] != ' ') return false;
  for (size_t i = 0; i < scheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(value[i])) != std::tolower(static_cast<unsigned char>(scheme[i]))) {
      return false;
    }
  }
  return true;
}

std::string After(const std::string& value, std::string_view scheme) {
  size_t i = scheme.size();
  while (i < value.size() && value[i] == ' ') ++i;
  return value.substr(i);
}

arrow::Result<std::string> Base64Decode(const std::string& text) {
  static constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  size_t i = 0;
  for (; i < text.size() && text[i] != '='; ++i) {
    const size_t value = kAlphabet.find(text[i]);
    if (value == std::string_view::npos) return InvalidArgument("not base64");
    buffer = (buffer << 6) | static_cast<uint32_t>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xFF));
    }
  }
  for (; i < text.size(); ++i) {
    if (text[i] != '=') return InvalidArgument("not base64");
  }
  return out;
}

}  // namespace

std::string PeerAddress(const std::string& peer) {
  // ipv4:1.2.3.4:port, ipv6:[::1]:port
  std::string rest = peer;
  const size_t colon = rest.find(':');
  if (colon != std::string::npos && (rest.rfind("ipv4:", 0) == 0 || rest.rfind("ipv6:", 0) == 0)) {
    rest = rest.substr(colon + 1);
  }
  const size_t last = rest.rfind(':');
  if (last != std::string::npos && last > 0) rest = rest.substr(0, last);
  if (rest.size() >= 2 && rest.front() == '[' && rest.back() == ']') rest = rest.substr(1, rest.size() - 2);
  return rest;
}

Authenticator::Authenticator(AuthOptions options, std::string_view cluster_secret,
                             std::vector<std::unique_ptr<PasswordAuthenticator>> passwords,
                             std::unique_ptr<NegotiateAuthenticator> negotiate)
    : options_(std::move(options)),
      tokens_(cluster_secret),
      passwords_(std::move(passwords)),
      negotiate_(std::move(negotiate)) {}

arrow::Result<Authenticated> Authenticator::Authenticate(const std::string& authorization,
                                                         const std::string& certificate_name,
                                                         const std::string& peer) {
  std::string user, method;
  const std::string address = PeerAddress(peer);
  auto result = Check(authorization, certificate_name, address, &user, &method);
  if (result.ok()) {
    if (!result->identity.user.empty() && method != "token") {
      RecordSuccess(result->identity.user, address);
      spdlog::info("event=auth_succeeded user={:?} method={} role={} peer={}", result->identity.user, method,
                   RoleName(result->identity.role), peer);
    }
    return result;
  }
  // During a back-off the credentials were not even looked at: not a new failure.
  if (result.status().message().find("Too many failed") == std::string::npos) RecordFailure(user, address);
  spdlog::warn("event=auth_failed user={:?} method={} peer={} reason={:?}", Clip(user, 100), method, peer,
               result.status().message());
  return result.status();
}

arrow::Result<Authenticated> Authenticator::Check(const std::string& authorization,
                                                  const std::string& certificate_name, const std::string& address,
                                                  std::string* user, std::string* method) {
  Authenticated out;
  if (StartsWithScheme(authorization, "Bearer")) {
    *method = "token";
    ARROW_ASSIGN_OR_RAISE(out.identity, tokens_.Verify(After(authorization, "Bearer")));
    *user = out.identity.user;
    return out;
  }
  if (StartsWithScheme(authorization, "Basic")) {
    *method = "password";
    auto decoded = Base64Decode(After(authorization, "Basic"));
    const size_t colon = decoded.ok() ? decoded->find(':') : std::string::npos;
    if (colon == std::string::npos) {
      return Unauthenticated("Invalid Basic credentials: expected base64 of USER:PASSWORD");
    }
    *user = decoded->substr(0, colon);
    const std::string password = decoded->substr(colon + 1);
    if (user->empty() || user->size() > kMaxUserBytes || user->find('\0') != std::string::npos) {
      return Unauthenticated("Invalid user name or password");
    }
    if (passwords_.empty()) {
      return Unauthenticated("Basic credentials are not accepted here: --auth enables neither password nor ldap");
    }
    ARROW_RETURN_NOT_OK(CheckBackoff(*user, address));
    arrow::Status last = Unauthenticated("Invalid user name or password");
    for (const auto& backend : passwords_) {
      *method = backend->method();
      auto identity = backend->Authenticate(*user, password);
      if (identity.ok()) {
        out.identity = *identity;
        out.token = tokens_.Issue(out.identity, options_.token_ttl);
        return out;
      }
      // An unreachable directory is not a wrong password: say so, unless another method answers.
      last = identity.status();
    }
    return last;
  }
  if (StartsWithScheme(authorization, "Negotiate")) {
    *method = "kerberos";
    if (negotiate_ == nullptr) return Unauthenticated("Negotiate (Kerberos) is not accepted here: --auth has no kerberos");
    ARROW_ASSIGN_OR_RAISE(auto accepted, negotiate_->Accept(After(authorization, "Negotiate")));
    *user = accepted.identity.user;
    out.identity = accepted.identity;
    out.negotiate_reply = accepted.reply_token;
    out.token = tokens_.Issue(out.identity, options_.token_ttl);
    return out;
  }
  if (!authorization.empty()) {
    *method = "?";
    return Unauthenticated("Unsupported authorization scheme: use Basic, Bearer or Negotiate");
  }
  if (mtls() && !certificate_name.empty()) {
    *method = "mtls";
    *user = certificate_name;
    auto it = options_.mtls_roles.find(certificate_name);
    const Role role = it != options_.mtls_roles.end() ? it->second : options_.mtls_default_role;
    if (role == Role::kNone) return Unauthenticated("Client certificate '" + certificate_name + "' has no Squadron role");
    out.identity = Identity{certificate_name, role, "mtls"};
    out.token = tokens_.Issue(out.identity, options_.token_ttl);
    return out;
  }
  return out;  // no credentials
}

arrow::Status Authenticator::CheckBackoff(const std::string& user, const std::string& address) {
  if (options_.max_failures <= 0) return arrow::Status::OK();
  std::lock_guard<std::mutex> lock(mutex_);
  const auto now = std::chrono::steady_clock::now();
  for (const auto& [key, what] : {std::pair{"user:" + user, "this user"}, std::pair{"addr:" + address, "this address"}}) {
    auto it = failures_.find(key);
    if (it != failures_.end() && it->second.until > now) {
      const auto wait = std::chrono::duration_cast<std::chrono::seconds>(it->second.until - now).count() + 1;
      return Unauthenticated(Msg("Too many failed attempts from ", what, ": try again in ", wait, " s"));
    }
  }
  return arrow::Status::OK();
}

void Authenticator::RecordFailure(const std::string& user, const std::string& address) {
  if (options_.max_failures <= 0) return;
  std::lock_guard<std::mutex> lock(mutex_);
  if (failures_.size() > kMaxFailureEntries) failures_.clear();  // a flood of names: start over rather than grow
  const auto now = std::chrono::steady_clock::now();
  for (const std::string& key : {"user:" + user, "addr:" + address}) {
    if (key == "user:") continue;
    Failures& f = failures_[key];
    ++f.count;
    if (f.count >= options_.max_failures) {
      const int doublings = std::min(f.count - options_.max_failures, 6);
      f.until = now + std::chrono::seconds(1 << doublings);  // 1 s .. 64 s
    }
  }
}

void Authenticator::RecordSuccess(const std::string& user, const std::string& address) {
  std::lock_guard<std::mutex> lock(mutex_);
  failures_.erase("user:" + user);
  failures_.erase("addr:" + address);
}

}  // namespace squadron::auth
