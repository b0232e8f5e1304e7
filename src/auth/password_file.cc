#include "auth/password_file.h"

#include <argon2.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include "common/status.h"

namespace squadron::auth {

namespace {

// OWASP's argon2id floor (19 MiB, 2 passes, 1 lane): ~30 ms here.
constexpr uint32_t kTimeCost = 2;
constexpr uint32_t kMemoryKiB = 19 * 1024;
constexpr uint32_t kLanes = 1;
constexpr size_t kSaltBytes = 16;
constexpr size_t kHashBytes = 32;

const std::string& DummyHash() {
  // Verified for unknown users, so that their answer takes as long.
  static const std::string hash = [] {
    auto h = HashPassword("squadron-no-such-user");
    return h.ok() ? *h : std::string();
  }();
  return hash;
}

std::string Trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

}  // namespace

arrow::Result<std::map<std::string, PasswordEntry>> ParsePasswordFile(const std::string& text) {
  std::map<std::string, PasswordEntry> users;
  std::istringstream in(text);
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    line = Trim(line);
    if (line.empty() || line[0] == '#') continue;
    const size_t a = line.find(':');
    const size_t b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) return InvalidArgument("line ", number, ": expected USER:ROLE:HASH");
    std::string user = line.substr(0, a);
    auto role = ParseRole(line.substr(a + 1, b - a - 1));
    if (!role.ok()) return InvalidArgument("line ", number, ": ", role.status().message());
    std::string hash = line.substr(b + 1);
    if (user.empty() || hash.rfind("$argon2id$", 0) != 0) {
      return InvalidArgument("line ", number, ": expected a user name and an argon2id hash ($argon2id$...)");
    }
    users[user] = PasswordEntry{*role, std::move(hash)};
  }
  return users;
}

std::string FormatPasswordFile(const std::map<std::string, PasswordEntry>& users) {
  std::string out = "# Squadron users: USER:ROLE:ARGON2ID-HASH (squadron passwd FILE USER)\n";
  for (const auto& [user, entry] : users) out += user + ":" + RoleName(entry.role) + ":" + entry.hash + "\n";
  return out;
}

arrow::Result<std::string> HashPassword(const std::string& password) {
  unsigned char salt[kSaltBytes];
  if (RAND_bytes(salt, sizeof(salt)) != 1) return Internal("No randomness for a password salt");
  const size_t length = argon2_encodedlen(kTimeCost, kMemoryKiB, kLanes, kSaltBytes, kHashBytes, Argon2_id);
  std::string encoded(length, '\0');
  const int rc = argon2id_hash_encoded(kTimeCost, kMemoryKiB, kLanes, password.data(), password.size(), salt,
                                       sizeof(salt), kHashBytes, encoded.data(), encoded.size());
  if (rc != ARGON2_OK) return Internal(Msg("argon2id failed: ", argon2_error_message(rc)));
  encoded.resize(std::strlen(encoded.c_str()));
  return encoded;
}

bool VerifyPassword(const std::string& password, const std::string& hash) {
  return !hash.empty() && argon2id_verify(hash.c_str(), password.data(), password.size()) == ARGON2_OK;
}

arrow::Status UpsertPasswordFile(const std::string& path, const std::string& user, Role role,
                                 const std::string& password) {
  if (user.empty() || user.find_first_of(":\n\r") != std::string::npos) {
    return InvalidArgument("Invalid user name '", user, "': it must be non-empty, without ':' or line breaks");
  }
  if (password.empty()) return InvalidArgument("Empty password refused");
  std::map<std::string, PasswordEntry> users;
  std::ifstream existing(path);
  if (existing) {
    std::stringstream text;
    text << existing.rdbuf();
    auto parsed = ParsePasswordFile(text.str());
    if (!parsed.ok()) return InvalidArgument(path, ": ", parsed.status().message());
    users = std::move(*parsed);
  }
  ARROW_ASSIGN_OR_RAISE(auto hash, HashPassword(password));
  users[user] = PasswordEntry{role, std::move(hash)};
  const std::string temp = path + ".tmp";
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return arrow::Status::IOError("Cannot write ", temp, ": ", std::strerror(errno));
  const std::string text = FormatPasswordFile(users);
  const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!written || std::rename(temp.c_str(), path.c_str()) != 0) {
    ::unlink(temp.c_str());
    return arrow::Status::IOError("Cannot write ", path, ": ", std::strerror(errno));
  }
  return arrow::Status::OK();
}

arrow::Result<std::unique_ptr<PasswordFile>> PasswordFile::Open(std::string path) {
  auto file = std::unique_ptr<PasswordFile>(new PasswordFile(std::move(path)));
  std::lock_guard<std::mutex> lock(file->mutex_);
  ARROW_RETURN_NOT_OK(file->Refresh());
  (void)DummyHash();
  return file;
}

arrow::Status PasswordFile::Refresh() {
  const auto now = std::chrono::steady_clock::now();
  if (mtime_ns_ >= 0 && now - checked_ < std::chrono::seconds(1)) return arrow::Status::OK();
  checked_ = now;
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0) {
    return arrow::Status::IOError("Cannot read the password file ", path_, ": ", std::strerror(errno));
  }
  const int64_t mtime = int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec;
  if (mtime == mtime_ns_ && st.st_size == size_) return arrow::Status::OK();
  std::ifstream in(path_);
  if (!in) return arrow::Status::IOError("Cannot read the password file ", path_);
  std::stringstream text;
  text << in.rdbuf();
  auto users = ParsePasswordFile(text.str());
  if (!users.ok()) return InvalidArgument("Invalid password file ", path_, ": ", users.status().message());
  if ((st.st_mode & 077) != 0) {
    spdlog::warn("event=password_file_permissions path={:?} mode={:o} hint=\"chmod 600\"", path_, st.st_mode & 0777);
  }
  if (mtime_ns_ >= 0) spdlog::info("event=password_file_reloaded path={:?} users={}", path_, users->size());
  users_ = std::move(*users);
  mtime_ns_ = mtime;
  size_ = st.st_size;
  return arrow::Status::OK();
}

arrow::Result<Identity> PasswordFile::Authenticate(const std::string& user, const std::string& password) {
  PasswordEntry entry;
  bool known = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto refreshed = Refresh();
    // A broken edit keeps the users last read (and says so).
    if (!refreshed.ok()) spdlog::error("event=password_file_unreadable error={:?}", refreshed.message());
    auto it = users_.find(user);
    if (it != users_.end()) {
      entry = it->second;
      known = true;
    }
  }
  // An unknown user costs a verification too: the answer's timing tells nothing.
  const bool ok = VerifyPassword(password, known ? entry.hash : DummyHash()) && known;
  if (!ok) return Unauthenticated("Invalid user name or password");
  return Identity{user, entry.role, "password"};
}

}  // namespace squadron::auth
