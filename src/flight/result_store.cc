#include "flight/result_store.h"

#include <atomic>

#include <spdlog/spdlog.h>

#include "common/status.h"
#include "common/text.h"
#include "flight/ticket.h"

namespace squadron::flight {

ResultStore::ResultStore(Options options, Clock clock)
    : options_(options), clock_(std::move(clock)) {}

ResultStore::~ResultStore() { Stop(); }

std::string ResultStore::NewId() {
  // A result id travels only inside signed tickets and poll tokens, so it
  // need not be secret, only unique: this process's random prefix (ids of
  // other nodes and earlier runs differ) and a count. OpenSSL's generator
  // cost 14 µs a query on a gRPC thread.
  static const std::string prefix = RandomBytes(8);
  static std::atomic<uint64_t> count{0};
  const uint64_t n = count.fetch_add(1, std::memory_order_relaxed);
  std::string id = prefix;
  id.resize(16);
  for (int i = 0; i < 8; ++i) id[8 + i] = static_cast<char>(n >> (8 * i));
  return id;
}

arrow::Result<ResultStore::Receipt> ResultStore::Put(std::string id, std::unique_ptr<PendingResult> result) {
  Receipt receipt{std::move(id), clock_() + options_.ttl};
  std::lock_guard<std::mutex> lock(mutex_);
  if (stopping_) return Unavailable("Server is shutting down: no new results are accepted");
  if (entries_.size() >= options_.max_results) {
    return Unavailable(Msg("Too many unfetched results (", entries_.size(),
                           " held, limit --max-open-results=", options_.max_results,
                           "): fetch or cancel earlier results, or retry later"));
  }
  entries_.emplace(receipt.id, Entry{std::move(result), receipt.expires_at});
  return receipt;
}

arrow::Result<std::unique_ptr<PendingResult>> ResultStore::Take(const std::string& id) {
  std::unique_ptr<PendingResult> expired;  // destroyed after the lock is released
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = entries_.find(id);
    if (it != entries_.end()) {
      if (clock_() < it->second.expires_at) {
        auto result = std::move(it->second.result);
        entries_.erase(it);
        return result;
      }
      expired = std::move(it->second.result);
      entries_.erase(it);
    }
  }
  return NotFound(
      "No result for this ticket: it was already fetched (a ticket is read once), was "
      "released after its time-to-live, or the server restarted. Run the query again");
}

size_t ResultStore::ReleaseExpired() {
  std::vector<std::unique_ptr<PendingResult>> released;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto now = clock_();
    for (auto it = entries_.begin(); it != entries_.end();) {
      if (now >= it->second.expires_at) {
        released.push_back(std::move(it->second.result));
        it = entries_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (const auto& r : released) {
    spdlog::info("event=result_released reason=ttl_expired query={:?}", Clip(r->description, 300));
  }
  return released.size();
}

void ResultStore::StartReaper(std::chrono::milliseconds interval) {
  reaper_.Start(interval, [this] { ReleaseExpired(); });
}

void ResultStore::Stop() {
  std::unordered_map<std::string, Entry> remaining;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    remaining.swap(entries_);
  }
  reaper_.Stop();
}

size_t ResultStore::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return entries_.size();
}

}  // namespace squadron::flight
