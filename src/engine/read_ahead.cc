#include "engine/read_ahead.h"

#include <algorithm>
#include <system_error>
#include <thread>

namespace squadron::engine {

ReadAheadPool::ReadAheadPool(size_t max_threads, std::chrono::milliseconds idle_timeout)
    : max_threads_(std::max<size_t>(1, max_threads)), idle_timeout_(idle_timeout) {}

ReadAheadPool::~ReadAheadPool() {
  std::unique_lock<std::mutex> lock(mutex_);
  stopping_ = true;
  for (IdleWorker* worker : idle_) worker->wake.notify_one();
  exited_.wait(lock, [&] { return threads_ == 0; });
}

namespace {
// The pool whose worker runs on this thread, if any.
thread_local const ReadAheadPool* current_pool = nullptr;
}  // namespace

bool ReadAheadPool::TrySubmit(std::function<void()> task) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (stopping_) return false;
  if (current_pool == this) {
    // Queued by a task of ours as it ends (a stream's next fetch): this
    // thread takes it next, with the stream's data still in its caches.
    tasks_.push_back(std::move(task));
    return true;
  }
  if (!idle_.empty()) {
    // The thread idle for the shortest time: a stream read steadily keeps
    // getting the same thread, as with a thread of its own.
    IdleWorker* worker = idle_.back();
    idle_.pop_back();
    worker->task = std::move(task);
    worker->wake.notify_one();
    return true;
  }
  tasks_.push_back(std::move(task));
  if (threads_ < max_threads_) {
    try {
      std::thread([this] { Work(); }).detach();
      ++threads_;
    } catch (const std::system_error&) {
      // Out of threads or memory: wait for the threads there are, or, with
      // none, let the caller compute the batch itself.
      if (threads_ == 0) {
        tasks_.pop_back();
        return false;
      }
    }
  }
  return true;
}

size_t ReadAheadPool::threads() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return threads_;
}

void ReadAheadPool::Work() {
  current_pool = this;
  IdleWorker self;
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    std::function<void()> task;
    if (!tasks_.empty()) {
      task = std::move(tasks_.front());
      tasks_.pop_front();
    } else {
      if (stopping_) break;
      idle_.push_back(&self);
      self.wake.wait_for(lock, idle_timeout_, [&] { return self.task != nullptr || stopping_; });
      if (self.task == nullptr) {
        idle_.erase(std::find(idle_.begin(), idle_.end(), &self));
        break;  // idle too long, or stopping
      }
      task = std::move(self.task);
      self.task = nullptr;
    }
    lock.unlock();
    task();
    task = nullptr;  // release what it captured before the pool may go away
    lock.lock();
  }
  --threads_;
  exited_.notify_all();  // under the lock: the pool may be destroyed once it is released
}

ReadAheadStream::ReadAheadStream(std::unique_ptr<ResultStream> inner, ReadAheadPool* pool, size_t depth)
    : inner_(std::move(inner)),
      pool_(pool),
      schema_(inner_->schema()),
      num_rows_(inner_->num_rows()),
      depth_(std::max<size_t>(1, depth)) {
  std::lock_guard<std::mutex> lock(mutex_);
  ScheduleLocked();
}

ReadAheadStream::~ReadAheadStream() {
  std::unique_lock<std::mutex> lock(mutex_);
  stopping_ = true;
  changed_.wait(lock, [&] { return !fetching_; });
}

bool ReadAheadStream::ScheduleLocked() {
  if (fetching_ || ended_ || stopping_ || queue_.size() >= depth_) return true;
  fetching_ = true;
  if (pool_->TrySubmit([this] { Fetch(); })) return true;
  fetching_ = false;
  return false;
}

void ReadAheadStream::Fetch() {
  {
    // A fetch queued behind busy threads may start after the stream began
    // to go away: it must not compute a batch nobody will read.
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) {
      fetching_ = false;
      changed_.notify_all();
      return;
    }
  }
  auto next = inner_->Next();
  std::lock_guard<std::mutex> lock(mutex_);
  ended_ = !next.ok() || *next == nullptr;
  queue_.push_back(std::move(next));
  fetching_ = false;
  ScheduleLocked();
  changed_.notify_all();
}

arrow::Result<std::shared_ptr<arrow::RecordBatch>> ReadAheadStream::Next() {
  std::unique_lock<std::mutex> lock(mutex_);
  if (queue_.empty() && !fetching_ && !ScheduleLocked()) {
    // No pool thread to spare: compute this batch here. fetching_ keeps any
    // other fetch away from inner_ meanwhile.
    fetching_ = true;
    lock.unlock();
    auto next = inner_->Next();
    lock.lock();
    fetching_ = false;
    ended_ = !next.ok() || *next == nullptr;
    changed_.notify_all();
    if (!ended_) ScheduleLocked();
    if (ended_) queue_.push_back(next);  // the end and errors repeat on later calls
    return next;
  }
  changed_.wait(lock, [&] { return !queue_.empty(); });
  auto next = queue_.front();
  // The end (null) and errors stay queued: every later call returns them too.
  const bool last = !next.ok() || *next == nullptr;
  if (!last) {
    queue_.pop_front();
    ScheduleLocked();
  }
  return next;
}

bool ReadAheadStream::Advance(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mutex_);
  // Done waiting: a batch is there, or no fetch runs and none can start.
  auto done = [&] { return !queue_.empty() || (!fetching_ && !ScheduleLocked()); };
  if (deadline == std::chrono::steady_clock::time_point::max()) {
    changed_.wait(lock, done);
  } else {
    changed_.wait_until(lock, deadline, done);
  }
  return !queue_.empty();
}

}  // namespace squadron::engine
