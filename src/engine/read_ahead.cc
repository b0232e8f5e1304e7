#include "engine/read_ahead.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

namespace squadron::engine {

namespace {

class ReadAheadStream final : public ResultStream {
 public:
  ReadAheadStream(std::unique_ptr<ResultStream> inner, size_t depth)
      : inner_(std::move(inner)), schema_(inner_->schema()), num_rows_(inner_->num_rows()),
        depth_(std::max<size_t>(1, depth)) {
    producer_ = std::thread([this] { Produce(); });
  }

  ~ReadAheadStream() override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    space_.notify_all();
    producer_.join();
  }

  const std::shared_ptr<arrow::Schema>& schema() const override { return schema_; }
  std::optional<int64_t> num_rows() const override { return num_rows_; }

  arrow::Result<std::shared_ptr<arrow::RecordBatch>> Next() override {
    std::unique_lock<std::mutex> lock(mutex_);
    ready_.wait(lock, [&] { return !queue_.empty(); });
    auto next = std::move(queue_.front());
    // The end (null) and errors stay queued: every later call returns them too.
    const bool last = !next.ok() || *next == nullptr;
    if (!last) queue_.pop_front();
    lock.unlock();
    if (!last) space_.notify_one();
    return next;
  }

 private:
  void Produce() {
    while (true) {
      {
        std::unique_lock<std::mutex> lock(mutex_);
        space_.wait(lock, [&] { return stopping_ || queue_.size() < depth_; });
        if (stopping_) return;
      }
      auto next = inner_->Next();
      const bool last = !next.ok() || *next == nullptr;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        queue_.push_back(std::move(next));
      }
      ready_.notify_one();
      if (last) return;
    }
  }

  const std::unique_ptr<ResultStream> inner_;
  const std::shared_ptr<arrow::Schema> schema_;
  const std::optional<int64_t> num_rows_;
  const size_t depth_;
  std::mutex mutex_;
  std::condition_variable ready_;  // the queue got an entry
  std::condition_variable space_;  // the queue has room, or stopping_
  std::deque<arrow::Result<std::shared_ptr<arrow::RecordBatch>>> queue_;
  bool stopping_ = false;
  std::thread producer_;  // last: started after everything it uses
};

}  // namespace

std::unique_ptr<ResultStream> ReadAhead(std::unique_ptr<ResultStream> inner, size_t depth) {
  return std::make_unique<ReadAheadStream>(std::move(inner), depth);
}

}  // namespace squadron::engine
