// squadron-auth-probe --ldap-uri URI ... --user NAME --password PASSWORD:
// builds LdapOptions from the same flags as `squadron serve` and
// authenticates one user. Prints `OK user=... role=...` (exit 0) or
// `ERROR CODE: message` (exit 1); 2 for bad flags. Logs go to stderr.
// The integration tests drive it (tests/integration/test_ldap_authenticator.py).
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>

#include <arrow/flight/types.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "auth/options.h"
#include "common/status.h"

namespace {

using squadron::auth::LdapOptions;

constexpr const char* kUsage =
    "usage: squadron-auth-probe --ldap-uri URI [--ldap-start-tls] [--ldap-ca FILE] --ldap-bind-dn DN\n"
    "         --ldap-bind-password-file FILE --ldap-user-base DN [--ldap-user-filter F] [--ldap-group-base DN]\n"
    "         [--ldap-group-filter F] [--ldap-group-role GROUP=ROLE]... [--ldap-default-role ROLE]\n"
    "         [--ldap-timeout MS] (--user NAME | --user-hex HEX) [--password PASSWORD | --password-hex HEX]\n";

std::string FromHex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out += static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16));
  }
  return out;
}

/// The gRPC name of a failure, as a Flight client would see it.
std::string CodeName(const arrow::Status& status) {
  if (auto detail = arrow::flight::FlightStatusDetail::UnwrapStatus(status)) {
    switch (detail->code()) {
      case arrow::flight::FlightStatusCode::Unauthenticated:
        return "UNAUTHENTICATED";
      case arrow::flight::FlightStatusCode::Unauthorized:
        return "PERMISSION_DENIED";
      case arrow::flight::FlightStatusCode::Unavailable:
        return "UNAVAILABLE";
      default:
        return detail->CodeAsString();
    }
  }
  if (status.IsInvalid()) return "INVALID_ARGUMENT";
  return status.CodeAsString();
}

struct Flags {
  LdapOptions options;
  std::string user;
  std::string password;
};

arrow::Result<Flags> Parse(int argc, char** argv) {
  Flags flags;
  LdapOptions& o = flags.options;
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (flag == "--ldap-start-tls") {
      o.start_tls = true;
      continue;
    }
    if (i + 1 >= argc) return squadron::InvalidArgument("missing the value of ", flag);
    const std::string value = argv[++i];
    if (flag == "--ldap-uri") {
      o.uri = value;
    } else if (flag == "--ldap-ca") {
      o.ca_file = value;
    } else if (flag == "--ldap-bind-dn") {
      o.bind_dn = value;
    } else if (flag == "--ldap-bind-password-file") {
      o.bind_password_file = value;
    } else if (flag == "--ldap-user-base") {
      o.user_base_dn = value;
    } else if (flag == "--ldap-user-filter") {
      o.user_filter = value;
    } else if (flag == "--ldap-group-base") {
      o.group_base_dn = value;
    } else if (flag == "--ldap-group-filter") {
      o.group_filter = value;
    } else if (flag == "--ldap-group-role") {
      const size_t eq = value.rfind('=');
      if (eq == std::string::npos) return squadron::InvalidArgument("expected GROUP=ROLE, got ", value);
      ARROW_ASSIGN_OR_RAISE(o.group_roles[value.substr(0, eq)], squadron::auth::ParseRole(value.substr(eq + 1)));
    } else if (flag == "--ldap-default-role") {
      ARROW_ASSIGN_OR_RAISE(o.default_role, squadron::auth::ParseRole(value));
    } else if (flag == "--ldap-timeout") {
      o.timeout = std::chrono::milliseconds(std::atoll(value.c_str()));
    } else if (flag == "--user") {
      flags.user = value;
    } else if (flag == "--user-hex") {
      flags.user = FromHex(value);
    } else if (flag == "--password") {
      flags.password = value;
    } else if (flag == "--password-hex") {
      flags.password = FromHex(value);
    } else {
      return squadron::InvalidArgument("unknown flag ", flag);
    }
  }
  return flags;
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  spdlog::set_default_logger(spdlog::stderr_logger_mt("probe"));
  spdlog::set_pattern("level=%l %v");
  auto flags = Parse(argc, argv);
  if (!flags.ok()) {
    std::cerr << "squadron-auth-probe: " << flags.status().message() << "\n" << kUsage;
    return 2;
  }
  auto identity = [&]() -> arrow::Result<squadron::auth::Identity> {
    ARROW_ASSIGN_OR_RAISE(auto authenticator, squadron::auth::MakeLdapAuthenticator(flags->options));
    return authenticator->Authenticate(flags->user, flags->password);
  }();
  if (!identity.ok()) {
    std::cout << "ERROR " << CodeName(identity.status()) << ": " << identity.status().message() << std::endl;
    return 1;
  }
  std::cout << "OK user=" << identity->user << " role=" << squadron::auth::RoleName(identity->role)
            << " method=" << identity->method << std::endl;
  return 0;
}
