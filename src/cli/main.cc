// squadron: the command-line entry point.
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "cli/config.h"
#include "cli/passwd.h"
#include "cli/query.h"
#include "common/malloc_tuning.h"
#include "server/log.h"
#include "server/server.h"

namespace {

int Serve(const squadron::cli::Invocation& invocation) {
  auto status = squadron::server::InitLogging(invocation.log_level);
  if (!status.ok()) {
    std::cerr << "squadron: " << status.message() << "\n";
    return 2;
  }
  // Block the shutdown signals before any thread starts, so that only the
  // main thread receives them (in WaitForSignal).
  const sigset_t signals = squadron::server::BlockShutdownSignals();
  spdlog::debug("event=malloc_tuned settings={:?}", squadron::TuneMallocForStreaming());
  auto server = squadron::server::Server::Start(invocation.serve);
  if (!server.ok()) {
    spdlog::error("event=start_failed error={:?}", server.status().message());
    std::cerr << "squadron: " << server.status().message() << "\n";
    return 1;
  }
  // The one line on stdout: scripts and tests wait for it.
  std::cout << "squadron listening on " << (*server)->uri() << std::endl;
  const int signal = (*server)->WaitForSignal(signals);
  spdlog::info("event=signal_received signal={}", signal);
  status = (*server)->Shutdown();
  if (!status.ok()) {
    spdlog::warn("event=shutdown_error error={:?}", status.message());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv, argv + argc);
  const auto invocation = squadron::cli::ParseCommandLine(args);
  if (invocation.action == squadron::cli::Invocation::Action::kExit) {
    (invocation.exit_code == 0 ? std::cout : std::cerr) << invocation.output;
    return invocation.exit_code;
  }
  if (invocation.action == squadron::cli::Invocation::Action::kQuery) {
    squadron::TuneMallocForStreaming();
    return squadron::cli::RunQuery(invocation.query);
  }
  if (invocation.action == squadron::cli::Invocation::Action::kPasswd) {
    return squadron::cli::RunPasswd(invocation.passwd);
  }
  if (invocation.action == squadron::cli::Invocation::Action::kClusterStatus) {
    (void)squadron::server::InitLogging("warn");  // stdout carries the status only
    return squadron::cli::RunClusterStatus(invocation.cluster_status);
  }
  return Serve(invocation);
}
