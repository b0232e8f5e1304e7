// `squadron passwd FILE USER`: adds or changes a user of a password file.
#pragma once

#include <string>

namespace squadron::cli {

struct PasswdOptions {
  std::string file;
  std::string user;
  std::string role = "reader";
};

/// Reads the password (twice, without echo, on a terminal; one line from
/// stdin otherwise) and writes the user's argon2id hash. Returns the exit code.
int RunPasswd(const PasswdOptions& options);

}  // namespace squadron::cli
