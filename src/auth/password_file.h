// The password method: a file of argon2id hashes (`squadron passwd`).
//
// One user per line, `USER:ROLE:HASH`, where HASH is an argon2id PHC string
// ($argon2id$v=19$m=...,t=...,p=...$salt$hash) and ROLE reader, writer or
// admin; blank lines and lines starting with '#' are ignored. The file is
// read again when its modification time or size changes.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <string>

#include <arrow/result.h>

#include "auth/identity.h"

namespace squadron::auth {

struct PasswordEntry {
  Role role = Role::kNone;
  std::string hash;
};

/// Parses the file's text; Invalid naming the line for anything malformed.
arrow::Result<std::map<std::string, PasswordEntry>> ParsePasswordFile(const std::string& text);
std::string FormatPasswordFile(const std::map<std::string, PasswordEntry>& users);

/// An argon2id PHC string for `password` with a random salt.
arrow::Result<std::string> HashPassword(const std::string& password);
/// Constant-time check of `password` against a PHC string.
bool VerifyPassword(const std::string& password, const std::string& hash);

/// Adds or replaces `user` in the file (created with mode 0600 if absent),
/// atomically (a temporary file renamed over it).
arrow::Status UpsertPasswordFile(const std::string& path, const std::string& user, Role role,
                                 const std::string& password);

class PasswordFile final : public PasswordAuthenticator {
 public:
  /// Reads the file now: IOError naming it if it cannot be read.
  static arrow::Result<std::unique_ptr<PasswordFile>> Open(std::string path);

  const char* method() const override { return "password"; }
  arrow::Result<Identity> Authenticate(const std::string& user, const std::string& password) override;

 private:
  explicit PasswordFile(std::string path) : path_(std::move(path)) {}
  // Reads the file again if it changed (checked at most once a second).
  arrow::Status Refresh();

  const std::string path_;
  std::mutex mutex_;
  std::map<std::string, PasswordEntry> users_;  // guarded by mutex_
  std::chrono::steady_clock::time_point checked_;
  int64_t mtime_ns_ = -1;
  int64_t size_ = -1;
};

}  // namespace squadron::auth
