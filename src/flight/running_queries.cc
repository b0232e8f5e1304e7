#include "flight/running_queries.h"

#include "common/status.h"
#include "common/units.h"

namespace squadron::flight {

QueryControl::QueryControl(std::chrono::milliseconds timeout)
    : timeout_(timeout),
      deadline_(timeout.count() > 0 ? std::optional(std::chrono::steady_clock::now() + timeout)
                                    : std::nullopt) {}

void QueryControl::AttachEngine(std::function<void()> interrupt,
                                std::function<std::optional<double>()> progress) {
  std::lock_guard<std::mutex> lock(mutex_);
  interrupt_ = std::move(interrupt);
  progress_ = std::move(progress);
  // A query stopped before its engine session existed is interrupted now.
  if (stop_ != Reason::kNone && interrupt_) interrupt_();
}

std::optional<double> QueryControl::progress() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return progress_ ? progress_() : std::nullopt;
}

void QueryControl::SetCall(const arrow::flight::ServerCallContext* call) {
  std::lock_guard<std::mutex> lock(mutex_);
  call_ = call;
}

void QueryControl::Stop(Reason why) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (stop_ != Reason::kNone) return;
  stop_ = why;
  if (interrupt_) interrupt_();
}

void QueryControl::Poll(std::chrono::steady_clock::time_point now) {
  bool client_gone;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stop_ != Reason::kNone) return;
    client_gone = call_ != nullptr && call_->is_cancelled();
  }
  if (client_gone) {
    Stop(Reason::kClientGone);
  } else if (deadline_ && now >= *deadline_) {
    Stop(Reason::kTimedOut);
  }
}

arrow::Status QueryControl::status() const {
  std::lock_guard<std::mutex> lock(mutex_);
  switch (stop_) {
    case Reason::kNone:
      return arrow::Status::OK();
    case Reason::kCancelled:
      return Cancelled("Query cancelled (CancelFlightInfo)");
    case Reason::kClientGone:
      return Cancelled("Query cancelled: the client cancelled the call or went away");
    case Reason::kTimedOut:
      return DeadlineExceeded(Msg("Query exceeded its timeout of ", FormatDuration(timeout_),
                                  " (--query-timeout, or the session option query_timeout)"));
  }
  return arrow::Status::OK();
}

arrow::Status QueryControl::Explain(arrow::Status engine_status) const {
  auto stopped = status();
  return stopped.ok() ? engine_status : stopped;
}

RunningQueries::RunningQueries(std::chrono::milliseconds poll_interval) {
  watchdog_.Start(poll_interval, [this] { PollAll(); });
}

RunningQueries::~RunningQueries() { watchdog_.Stop(); }

void RunningQueries::Add(const std::string& result_id, const std::shared_ptr<QueryControl>& control) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (result_id.empty()) {
    anonymous_.push_back(control);
  } else {
    by_id_[result_id] = control;
  }
}

std::shared_ptr<QueryControl> RunningQueries::Find(const std::string& result_id) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = by_id_.find(result_id);
  return it == by_id_.end() ? nullptr : it->second.lock();
}

void RunningQueries::Remove(const std::string& result_id) {
  std::lock_guard<std::mutex> lock(mutex_);
  by_id_.erase(result_id);
}

void RunningQueries::PollAll() {
  std::vector<std::shared_ptr<QueryControl>> live;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto it = by_id_.begin(); it != by_id_.end();) {
      if (auto control = it->second.lock()) {
        live.push_back(std::move(control));
        ++it;
      } else {
        it = by_id_.erase(it);
      }
    }
    std::vector<std::weak_ptr<QueryControl>> still;
    for (auto& weak : anonymous_) {
      if (auto control = weak.lock()) {
        live.push_back(std::move(control));
        still.push_back(std::move(weak));
      }
    }
    anonymous_.swap(still);
  }
  const auto now = std::chrono::steady_clock::now();
  for (const auto& control : live) control->Poll(now);
}

}  // namespace squadron::flight
