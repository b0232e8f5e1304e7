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
                  ", or was created by another server. Prepare the statement again");
}

arrow::Result<std::string> PreparedStatementRegistry::Add(PreparedStatement statement) {
  std::string handle = RandomBytes(16);
  std::lock_guard<std::mutex> lock(mutex_);
  const auto now = clock_();
  DropIdleLocked(now);
  if (entries_.size() >= options_.max_handles) {
    return Unavailable(Msg("Too many open prepared statements (limit ", options_.max_handles,
                           "): close statements that are no longer needed"));
  }
  entries_.emplace(handle, Entry{std::move(statement), now});
  return handle;
}

arrow::Result<PreparedStatement> PreparedStatementRegistry::Get(const std::string& handle) {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto now = clock_();
  DropIdleLocked(now);
  auto it = entries_.find(handle);
  if (it == entries_.end()) return UnknownHandle();
  it->second.last_used = now;
  return it->second.statement;
}

arrow::Status PreparedStatementRegistry::Bind(const std::string& handle,
                                              engine::ParameterBatches parameters) {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto now = clock_();
  DropIdleLocked(now);
  auto it = entries_.find(handle);
  if (it == entries_.end()) return UnknownHandle();
  it->second.statement.parameters = std::move(parameters);
  it->second.last_used = now;
  return arrow::Status::OK();
}

arrow::Status PreparedStatementRegistry::Close(const std::string& handle) {
  std::lock_guard<std::mutex> lock(mutex_);
  DropIdleLocked(clock_());
  return entries_.erase(handle) == 1 ? arrow::Status::OK() : UnknownHandle();
}

size_t PreparedStatementRegistry::size() {
  std::lock_guard<std::mutex> lock(mutex_);
  DropIdleLocked(clock_());
  return entries_.size();
}

}  // namespace squadron::flight
