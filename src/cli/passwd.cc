#include "cli/passwd.h"

#include <termios.h>
#include <unistd.h>

#include <iostream>

#include "auth/password_file.h"

namespace squadron::cli {

namespace {

// One line from the terminal with echo off.
bool ReadHidden(const char* prompt, std::string* out) {
  std::cerr << prompt << std::flush;
  termios old_mode{};
  const bool tty = tcgetattr(STDIN_FILENO, &old_mode) == 0;
  if (tty) {
    termios quiet = old_mode;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
  }
  const bool ok = static_cast<bool>(std::getline(std::cin, *out));
  if (tty) {
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &old_mode);
    std::cerr << "\n";
  }
  return ok;
}

}  // namespace

int RunPasswd(const PasswdOptions& options) {
  auto role = auth::ParseRole(options.role);
  if (!role.ok()) {
    std::cerr << "squadron passwd: " << role.status().message() << "\n";
    return 2;
  }
  std::string password;
  if (isatty(STDIN_FILENO)) {
    std::string again;
    if (!ReadHidden(("Password for " + options.user + ": ").c_str(), &password) ||
        !ReadHidden("Again: ", &again)) {
      std::cerr << "squadron passwd: no password read\n";
      return 1;
    }
    if (password != again) {
      std::cerr << "squadron passwd: the passwords differ; nothing written\n";
      return 1;
    }
  } else if (!std::getline(std::cin, password)) {
    std::cerr << "squadron passwd: no password on stdin\n";
    return 1;
  }
  if (!password.empty() && password.back() == '\r') password.pop_back();
  auto status = auth::UpsertPasswordFile(options.file, options.user, *role, password);
  if (!status.ok()) {
    std::cerr << "squadron passwd: " << status.message() << "\n";
    return 1;
  }
  std::cerr << "squadron passwd: " << options.user << " (" << options.role << ") written to " << options.file
            << "\n";
  return 0;
}

}  // namespace squadron::cli
