#include "flight/polls.h"

#include <vector>

#include "common/status.h"

namespace squadron::flight {

namespace fl = arrow::flight;

PollRegistry::~PollRegistry() { StopAll(); }

void PollRegistry::Start(const std::string& id, std::chrono::system_clock::time_point expires_at,
                         std::unique_ptr<fl::FlightInfo> running, std::shared_ptr<QueryControl> control,
                         Work work) {
  DropExpired();
  auto entry = std::make_shared<Entry>();
  entry->info = std::move(running);
  entry->control = std::move(control);
  entry->expires_at = expires_at;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    entries_[id] = entry;
  }
  entry->worker = std::thread([entry, work = std::move(work)] {
    auto result = work();
    std::lock_guard<std::mutex> lock(entry->mutex);
    entry->done = true;
    if (result.ok()) {
      entry->info = std::move(*result);
    } else {
      entry->status = result.status();
    }
  });
}

arrow::Result<std::unique_ptr<fl::PollInfo>> PollRegistry::Poll(const std::string& id,
                                                                 const fl::FlightDescriptor& next) {
  DropExpired();
  std::shared_ptr<Entry> entry;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = entries_.find(id);
    if (it == entries_.end()) {
      return NotFound("Unknown poll: the query already reported its final FlightInfo, or its "
                      "result expired. Run the query again");
    }
    entry = it->second;
  }
  std::unique_lock<std::mutex> lock(entry->mutex);
  auto info = std::make_unique<fl::PollInfo>();
  info->expiration_time = std::chrono::time_point_cast<std::chrono::nanoseconds>(entry->expires_at);
  if (!entry->done) {
    info->info = std::make_unique<fl::FlightInfo>(*entry->info);
    info->descriptor = next;
    info->progress = entry->control->progress();
    return info;
  }
  const arrow::Status status = entry->status;
  info->info = std::move(entry->info);
  info->progress = 1.0;
  lock.unlock();
  {
    std::lock_guard<std::mutex> registry_lock(mutex_);
    entries_.erase(id);
  }
  if (entry->worker.joinable()) entry->worker.join();
  if (!status.ok()) return status;
  return info;
}

void PollRegistry::DropExpired() {
  std::vector<std::shared_ptr<Entry>> expired;
  const auto now = std::chrono::system_clock::now();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto it = entries_.begin(); it != entries_.end();) {
      bool done;
      {
        std::lock_guard<std::mutex> entry_lock(it->second->mutex);
        done = it->second->done;
      }
      if (done && now >= it->second->expires_at) {
        expired.push_back(std::move(it->second));
        it = entries_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& entry : expired) {
    if (entry->worker.joinable()) entry->worker.join();
  }
}

size_t PollRegistry::size() {
  DropExpired();
  std::lock_guard<std::mutex> lock(mutex_);
  return entries_.size();
}

void PollRegistry::StopAll() {
  std::unordered_map<std::string, std::shared_ptr<Entry>> all;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    all.swap(entries_);
  }
  for (auto& [id, entry] : all) entry->control->Stop(QueryControl::Reason::kCancelled);
  for (auto& [id, entry] : all) {
    if (entry->worker.joinable()) entry->worker.join();
  }
}

}  // namespace squadron::flight
