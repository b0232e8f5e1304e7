// The command line: flags, the TOML file (--config) and SQUADRON_* variables,
// parsed once into plain option structs.
#pragma once

#include <string>
#include <vector>

#include "cli/passwd.h"
#include "cli/query.h"
#include "server/server.h"

namespace squadron::cli {

/// What one invocation asks for.
struct Invocation {
  enum class Action {
    /// Run the server with `serve`.
    kServe,
    /// Run one query with `query`.
    kQuery,
    /// Print a cluster's nodes and queries with `cluster status`.
    kClusterStatus,
    /// Add or change a user of a password file with `passwd`.
    kPasswd,
    /// Print `output` (help, version or an error) and exit with `exit_code`.
    kExit,
  };
  Action action = Action::kExit;
  int exit_code = 0;
  std::string output;
  server::ServerOptions serve;
  QueryOptions query;
  ClusterStatusOptions cluster_status;
  PasswdOptions passwd;
  std::string log_level = "info";
};

/// Parses argv (and the environment, and the --config file). Precedence:
/// flag, then environment variable, then config file, then default.
Invocation ParseCommandLine(const std::vector<std::string>& args);

}  // namespace squadron::cli
