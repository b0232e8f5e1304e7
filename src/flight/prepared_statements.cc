#include "flight/prepared_statements.h"

#include "common/status.h"
#include "common/units.h"
#include "flight/ticket.h"

namespace squadron::flight {

PreparedStatementRegistry::PreparedStatementRegistry(Options options, Clock clock)
    : options_(options), clock_(std::move(clock)) {}

void PreparedStatementRegistry::DropIdleLocked(std::chrono::steady_clock::time_point now) {
  for (auto it = entries_.begin(); it != entries_.end();) {
    it = now - it->second.last_used >= options_.idle_timeout ? entries_.erase(it) : std::next(it);
  }
}

arrow::Status PreparedStatementRegistry::UnknownHandle() const {
  return NotFound("Unknown prepared statement handle: it was closed, was idle longer than ",
                  FormatDuration(options_.idle_timeout),
                  ", belongs to another session, or was created by another server. "
                  "Prepare the statement again");
}

PreparedStatementRegistry::Entry* PreparedStatementRegistry::FindLocked(const std::string& handle,
                                                                      const std::string& caller) {
  auto it = entries_.find(handle);
  if (it == entries_.end()) return nullptr;
  // Another session's handle is reported exactly like an unknown one.
  if (!it->second.owner.empty() && it->second.owner != caller) return nullptr;
  return &it->second;
}

arrow::Result<std::string> PreparedStatementRegistry::Add(PreparedStatement statement,
                                                          const std::string& owner) {
  std::string handle = RandomBytes(16);
  std::lock_guard<std::mutex> lock(mutex_);
  const auto now = clock_();
  DropIdleLocked(now);
  if (entries_.size() >= options_.max_handles) {
    return Unavailable(Msg("Too many open prepared statements (limit ", options_.max_handles,
                           "): close statements that are no longer needed"));
  }
  entries_.emplace(handle, Entry{std::move(statement), owner, now});
  return handle;
}

arrow::Result<PreparedStatement> PreparedStatementRegistry::Get(const std::string& handle,
                                                                const std::string& caller) {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto now = clock_();
  DropIdleLocked(now);
  Entry* entry = FindLocked(handle, caller);
  if (entry == nullptr) return UnknownHandle();
  entry->last_used = now;
  return entry->statement;
}

arrow::Status PreparedStatementRegistry::Bind(const std::string& handle, const std::string& caller,
                                              engine::ParameterBatches parameters) {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto now = clock_();
  DropIdleLocked(now);
  Entry* entry = FindLocked(handle, caller);
  if (entry == nullptr) return UnknownHandle();
  entry->statement.parameters = std::move(parameters);
  entry->last_used = now;
  return arrow::Status::OK();
}

arrow::Status PreparedStatementRegistry::Close(const std::string& handle, const std::string& caller) {
  std::lock_guard<std::mutex> lock(mutex_);
  DropIdleLocked(clock_());
  if (FindLocked(handle, caller) == nullptr) return UnknownHandle();
  entries_.erase(handle);
  return arrow::Status::OK();
}

size_t PreparedStatementRegistry::CloseOwnedBy(const std::string& session) {
  std::lock_guard<std::mutex> lock(mutex_);
  size_t closed = 0;
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (it->second.owner == session) {
      it = entries_.erase(it);
      ++closed;
    } else {
      ++it;
    }
  }
  return closed;
}

size_t PreparedStatementRegistry::size() {
  std::lock_guard<std::mutex> lock(mutex_);
  DropIdleLocked(clock_());
  return entries_.size();
}

}  // namespace squadron::flight
