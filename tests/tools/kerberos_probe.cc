// squadron-kerberos-probe --keytab FILE [--principal NAME] [--user-map REGEX=REPLACEMENT]...
//   [--user-role USER=ROLE]... [--default-role ROLE] [--threads N] [--print-reply yes] < tokens
//
// Builds the Kerberos authenticator (MakeKerberosAuthenticator) and accepts
// each line of stdin as the base64 of `authorization: Negotiate <base64>`,
// all with the same authenticator (so a token given twice meets the replay
// cache in the same process, as in the server), from N threads at once with
// --threads (default 1: in order). Prints one line per token, in input order:
//   OK user=USER role=ROLE reply=<yes|no>[ reply_token=BASE64 with --print-reply yes]
//   REFUSED code=<FlightStatusCode> <status>
// or, when the authenticator cannot be built, `START_FAILED <status>`.
// The authenticator's logs go to stderr. Exit 0 when every token is
// accepted, 1 otherwise, 2 for bad usage.
// The integration tests drive it (tests/integration/test_kerberos_authenticator.py).
#include <atomic>
#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <arrow/flight/types.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "auth/kerberos.h"
#include "auth/options.h"

namespace {

using squadron::auth::KerberosOptions;

std::string CodeOf(const arrow::Status& status) {
  if (auto detail = arrow::flight::FlightStatusDetail::UnwrapStatus(status)) return detail->CodeAsString();
  return status.CodeAsString();
}

/// One result line for a token.
std::string Result(squadron::auth::NegotiateAuthenticator& authenticator, const std::string& token,
                   bool print_reply) {
  auto accepted = authenticator.Accept(token);
  if (!accepted.ok()) return "REFUSED code=" + CodeOf(accepted.status()) + " " + accepted.status().ToString();
  std::string result = "OK user=" + accepted->identity.user + " role=" + RoleName(accepted->identity.role) +
                       " reply=" + (accepted->reply_token.empty() ? "no" : "yes");
  // The reply (an AP-REP) is no credential; the tests give it back to the client to finish mutual auth.
  if (print_reply) result += " reply_token=" + accepted->reply_token;
  return result;
}

int Usage(const std::string& problem) {
  std::cerr << "squadron-kerberos-probe: " << problem << "\n"
            << "usage: squadron-kerberos-probe --keytab FILE [--principal NAME] [--user-map REGEX=REPLACEMENT]... "
               "[--user-role USER=ROLE]... [--default-role ROLE] [--threads N] [--print-reply yes] < tokens\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  // stdout carries only the results; the authenticator's logs go to stderr.
  spdlog::set_default_logger(spdlog::stderr_color_mt("kerberos-probe"));
  KerberosOptions options;
  int threads = 1;
  bool print_reply = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (i + 1 >= argc) return Usage("missing the value of " + std::string(flag));
    const std::string value = argv[++i];
    if (flag == "--keytab") {
      options.keytab = value;
    } else if (flag == "--principal") {
      options.principal = value;
    } else if (flag == "--user-map" || flag == "--user-role") {
      auto pair = squadron::auth::kerberos::SplitMapping(value);
      if (!pair.ok()) return Usage(pair.status().message());
      if (flag == "--user-map") {
        options.user_map.push_back(*pair);
        continue;
      }
      auto role = squadron::auth::ParseRole(pair->second);
      if (!role.ok()) return Usage(role.status().message());
      options.user_roles[pair->first] = *role;
    } else if (flag == "--print-reply") {
      print_reply = value == "yes";
    } else if (flag == "--threads") {
      threads = std::atoi(value.c_str());
      if (threads < 1) return Usage("--threads needs a positive number");
    } else if (flag == "--default-role") {
      if (value == "none") {
        options.default_role = squadron::auth::Role::kNone;
        continue;
      }
      auto role = squadron::auth::ParseRole(value);
      if (!role.ok()) return Usage(role.status().message());
      options.default_role = *role;
    } else {
      return Usage("unknown flag " + std::string(flag));
    }
  }

  auto authenticator = squadron::auth::MakeKerberosAuthenticator(options);
  if (!authenticator.ok()) {
    std::cout << "START_FAILED " << authenticator.status().ToString() << std::endl;
    return 1;
  }
  std::vector<std::string> tokens;
  std::string line;
  while (std::getline(std::cin, line)) {
    if (!line.empty()) tokens.push_back(line);
  }
  std::vector<std::string> results(tokens.size());
  std::atomic<std::size_t> next{0};
  auto work = [&] {
    for (std::size_t i = next++; i < tokens.size(); i = next++) results[i] = Result(**authenticator, tokens[i], print_reply);
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& thread : pool) thread.join();
  bool all_ok = true;
  for (const auto& result : results) {
    all_ok = all_ok && result.rfind("OK ", 0) == 0;
    std::cout << result << "\n";
  }
  return all_ok ? 0 : 1;
}
