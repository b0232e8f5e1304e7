// The exchange's spool: batches held per (query, partition, attempt) in
// memory, then in IPC spill files, then by blocking the producer.
//
// Threads: each AttemptWriter runs on its DoPut thread, each SpoolReader on
// its DoGet thread, OpenQuery/Finish/DropQuery on the caller's (coordinator
// or Flight) thread. One mutex (Core::mutex_) guards every field of Core,
// Query and Attempt. Spill writes and reads run outside it, on the writer's
// or reader's own thread, through file handles they hold a reference to, so
// a concurrent discard only unlinks the file under them.
#include "cluster/spool.h"

#include <stdlib.h>  // mkdtemp
#include <unistd.h>  // unlink

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <utility>

#include <arrow/io/file.h>
#include <arrow/ipc/message.h>
#include <arrow/ipc/reader.h>
#include <arrow/ipc/writer.h>
#include <arrow/util/byte_size.h>

#include "common/status.h"

namespace squadron::cluster {
namespace {

/// Slices every wait so keep_waiting() is asked about every 100 ms.
constexpr std::chrono::milliseconds kWaitSlice{100};

/// One batch held for the reader: in memory, or an IPC message in the spill file.
struct HeldBatch {
  std::shared_ptr<arrow::RecordBatch> batch;  //!< null when spilled
  int64_t bytes = 0;                          //!< memory bytes, or file bytes when spilled
  int64_t offset = 0;                         //!< where the spilled message starts
  int32_t metadata_length = 0;
  int64_t body_length = 0;
};

/// One (partition, attempt), shared by its query and its writer. Guarded by Core::mutex_.
struct Attempt {
  int32_t partition = 0;
  int32_t attempt = 0;
  std::deque<HeldBatch> batches;  //!< not served yet
  int64_t rows = 0;
  bool committed = false;
  arrow::Status discarded;  //!< why its data was dropped (its writer fails with it); OK while alive
  std::string path;         //!< the spill file; empty while none exists
  int64_t file_end = 0;
  std::shared_ptr<arrow::io::FileOutputStream> out;  //!< written outside the lock by the writer only
  std::shared_ptr<arrow::io::ReadableFile> in;       //!< opened by the reader
};

/// One query's area. Shared by the spool, its writers and its reader. Guarded by Core::mutex_.
struct Query {
  std::string id;
  int64_t seq = 0;  //!< names the spill files (query ids may hold any character)
  std::shared_ptr<arrow::Schema> schema;
  std::vector<int32_t> planned;
  std::set<int32_t> planned_set;
  bool ordered = false;
  std::vector<std::shared_ptr<Attempt>> writing;                  //!< uncommitted attempts
  std::map<int32_t, std::shared_ptr<Attempt>> committed;          //!< committed, not fully served
  std::vector<CommittedPartition> commit_order;                   //!< every commit, in order
  std::set<int32_t> touched;                                      //!< partitions the reader took a batch of
  std::optional<QueryOutcome> outcome;
  arrow::Status reader_error;  //!< the reader fails with it (final list mismatch, unreadable file)
  bool dropped = false;
  bool reader_opened = false;
  bool reader_closed = false;
  size_t next = 0;  //!< reader position in `planned` (ordered) or `commit_order`
};

/// What the reader does next.
struct Pick {
  enum Kind { kWait, kEnd, kBatch } kind = kWait;
  HeldBatch held;
  int32_t partition = 0;
  std::shared_ptr<arrow::io::ReadableFile> file;  //!< set when `held` is spilled
};

std::string AttemptName(const Query& q, const Attempt& a) {
  return Msg("attempt ", a.attempt, " of partition ", a.partition, " of query ", q.id);
}

/// Returns the first column whose type holds a dictionary, or null.
const arrow::Field* FindDictionary(const arrow::FieldVector& fields) {
  for (const auto& field : fields) {
    if (field->type()->id() == arrow::Type::DICTIONARY) return field.get();
    if (FindDictionary(field->type()->fields()) != nullptr) return field.get();
  }
  return nullptr;
}

/// Holds all state; the spool, its writers and readers share it, so handles
/// that outlive the spool fail cleanly instead of touching freed memory.
class Core {
 public:
  Core(SpoolOptions options, std::string dir) : options_(std::move(options)), dir_(std::move(dir)) {}

  std::mutex mutex_;
  std::condition_variable changed_;  //!< notified when space is freed or any query/attempt changes
  const SpoolOptions options_;
  const std::string dir_;  //!< the private spill directory
  std::map<std::string, std::shared_ptr<Query>> queries_;  // guarded by mutex_
  SpoolStats stats_;                                       // guarded by mutex_
  int64_t next_seq_ = 0;                                   // guarded by mutex_

  /// Waits one slice, then asks keep_waiting (outside the lock).
  arrow::Status Wait(std::unique_lock<std::mutex>& lock, const std::function<arrow::Status()>& keep_waiting) {
    changed_.wait_for(lock, kWaitSlice);
    if (!keep_waiting) return arrow::Status::OK();
    lock.unlock();
    arrow::Status st = keep_waiting();
    lock.lock();
    return st;
  }

  void RemoveFile(Attempt& a) {
    if (a.path.empty()) return;
    a.out.reset();
    a.in.reset();
    ::unlink(a.path.c_str());
    a.path.clear();
    --stats_.spill_files;
  }

  /// Drops an attempt's data and makes its writer fail with `why`.
  void Discard(Query& q, const std::shared_ptr<Attempt>& a, arrow::Status why) {
    if (!a->discarded.ok()) return;
    a->discarded = std::move(why);
    for (const auto& held : a->batches) (held.batch ? stats_.memory_bytes : stats_.disk_bytes) -= held.bytes;
    a->batches.clear();
    RemoveFile(*a);
    std::erase(q.writing, a);
    auto it = q.committed.find(a->partition);
    if (it != q.committed.end() && it->second == a) q.committed.erase(it);
    changed_.notify_all();
  }

  void DropData(Query& q, const arrow::Status& why) {
    for (const auto& a : std::vector(q.writing)) Discard(q, a, why);
    std::vector<std::shared_ptr<Attempt>> committed;
    for (const auto& [partition, a] : q.committed) committed.push_back(a);
    for (const auto& a : committed) Discard(q, a, why);
  }

  void FailReader(Query& q, const arrow::Status& why) {
    if (q.reader_error.ok()) q.reader_error = why;
    DropData(q, why);
  }

  /// Returns whether a reader can free space of `q` without waiting for another commit.
  static bool Drainable(const Query& q) {
    if (q.reader_closed || !q.reader_error.ok() || (q.outcome && !q.outcome->status.ok())) return false;
    if (!q.ordered) {
      return std::any_of(q.committed.begin(), q.committed.end(),
                         [](const auto& entry) { return !entry.second->batches.empty(); });
    }
    for (size_t i = q.next; i < q.planned.size(); ++i) {
      auto it = q.committed.find(q.planned[i]);
      if (it == q.committed.end()) {
        if (q.outcome) continue;  // skipped: not in the final list
        return false;
      }
      if (!it->second->batches.empty()) return true;
    }
    return false;
  }

  bool AnyDrainable() const {
    return std::any_of(queries_.begin(), queries_.end(), [](const auto& entry) { return Drainable(*entry.second); });
  }

  /// Returns whether `partition` is the one an ordered query's reader waits for.
  static bool IsHead(const Query& q, int32_t partition) {
    if (!q.ordered || q.outcome) return false;
    size_t i = q.next;
    for (; i < q.planned.size(); ++i) {
      auto it = q.committed.find(q.planned[i]);
      if (it == q.committed.end() || !it->second->batches.empty()) break;
    }
    return i < q.planned.size() && q.planned[i] == partition;
  }

  static arrow::Status Writable(const Query& q, const Attempt& a) {
    ARROW_RETURN_NOT_OK(a.discarded);
    if (a.committed) return InvalidArgument("Spool: the attempt is already committed: ", AttemptName(q, a));
    return arrow::Status::OK();
  }

  arrow::Status Append(Query& q, const std::shared_ptr<Attempt>& a, const std::shared_ptr<arrow::RecordBatch>& batch,
                       const std::function<arrow::Status()>& keep_waiting);
  arrow::Status Spill(std::unique_lock<std::mutex>& lock, Query& q, const std::shared_ptr<Attempt>& a,
                      const std::shared_ptr<arrow::RecordBatch>& batch, int64_t file_bytes);
  arrow::Result<int64_t> Commit(Query& q, const std::shared_ptr<Attempt>& a);
  arrow::Result<Pick> PickLocked(Query& q);
};

arrow::Status Core::Append(Query& q, const std::shared_ptr<Attempt>& a,
                           const std::shared_ptr<arrow::RecordBatch>& batch,
                           const std::function<arrow::Status()>& keep_waiting) {
  if (batch == nullptr) return InvalidArgument("Spool: null batch for ", AttemptName(q, *a));
  std::unique_lock<std::mutex> lock(mutex_);
  ARROW_RETURN_NOT_OK(Writable(q, *a));
  if (!batch->schema()->Equals(*q.schema, /*check_metadata=*/false)) {
    return InvalidArgument("Spool: the batch's schema differs from the query's, for ", AttemptName(q, *a),
                           ": got ", batch->schema()->ToString(), ", expected ", q.schema->ToString());
  }
  const int64_t bytes = arrow::util::TotalBufferSize(*batch);
  std::optional<int64_t> file_bytes;
  bool waited = false;
  for (;;) {
    ARROW_RETURN_NOT_OK(Writable(q, *a));
    if (stats_.memory_bytes + bytes <= options_.memory_bytes) {
      stats_.memory_bytes += bytes;
      stats_.peak_memory_bytes = std::max(stats_.peak_memory_bytes, stats_.memory_bytes);
      a->batches.push_back(HeldBatch{batch, bytes});
      a->rows += batch->num_rows();
      return arrow::Status::OK();
    }
    if (!file_bytes) {
      int64_t size = 0;
      ARROW_RETURN_NOT_OK(arrow::ipc::GetRecordBatchSize(*batch, &size));
      file_bytes = size;
    }
    if (stats_.disk_bytes + *file_bytes <= options_.disk_bytes) return Spill(lock, q, a, batch, *file_bytes);
    // Nothing a reader could free, or the reader waits for exactly this
    // partition: waiting would deadlock, so go past the disk limit.
    if (IsHead(q, a->partition) || !AnyDrainable()) {
      ++stats_.overcommitted_appends;
      return Spill(lock, q, a, batch, *file_bytes);
    }
    if (!waited) ++stats_.blocked_appends;
    waited = true;
    ARROW_RETURN_NOT_OK(Wait(lock, keep_waiting));
  }
}

arrow::Status Core::Spill(std::unique_lock<std::mutex>& lock, Query& q, const std::shared_ptr<Attempt>& a,
                          const std::shared_ptr<arrow::RecordBatch>& batch, int64_t file_bytes) {
  if (a->path.empty()) {
    std::string path =
        Msg(dir_, "/q", q.seq, "-p", a->partition, "-a", a->attempt, "-", ++next_seq_, ".arrow");
    auto out = arrow::io::FileOutputStream::Open(path);
    if (!out.ok()) {
      return arrow::Status::IOError("Spool: could not create the spill file ", path, ": ",
                                    out.status().message());
    }
    a->path = std::move(path);
    a->out = *std::move(out);
    a->file_end = 0;
    ++stats_.spill_files;
  }
  // Write outside the lock; reserve the space meanwhile.
  const std::shared_ptr<arrow::io::FileOutputStream> out = a->out;
  const int64_t offset = a->file_end;
  stats_.disk_bytes += file_bytes;
  lock.unlock();
  int32_t metadata_length = 0;
  int64_t body_length = 0;
  arrow::Status st = arrow::ipc::WriteRecordBatch(*batch, /*buffer_start_offset=*/0, out.get(), &metadata_length,
                                                  &body_length, arrow::ipc::IpcWriteOptions::Defaults());
  int64_t end = offset;
  if (st.ok()) {
    auto tell = out->Tell();
    st = tell.status();
    if (tell.ok()) end = *tell;
  }
  lock.lock();
  stats_.disk_bytes -= file_bytes;
  changed_.notify_all();
  ARROW_RETURN_NOT_OK(a->discarded);  // aborted, superseded or dropped while writing: its file is gone
  if (!st.ok()) {
    auto error = arrow::Status::IOError("Spool: could not write the spill file ", a->path, ": ", st.message());
    Discard(q, a, error);
    return error;
  }
  HeldBatch held{nullptr, end - offset, offset, metadata_length, body_length};
  stats_.disk_bytes += held.bytes;
  ++stats_.spilled_batches;
  a->file_end = end;
  a->rows += batch->num_rows();
  a->batches.push_back(std::move(held));
  return arrow::Status::OK();
}

arrow::Result<int64_t> Core::Commit(Query& q, const std::shared_ptr<Attempt>& a) {
  std::lock_guard<std::mutex> lock(mutex_);
  ARROW_RETURN_NOT_OK(Writable(q, *a));
  if (a->out) {
    arrow::Status st = a->out->Close();
    a->out.reset();
    if (!st.ok()) {
      auto error = arrow::Status::IOError("Spool: could not close the spill file ", a->path, ": ", st.message());
      Discard(q, a, error);
      return error;
    }
  }
  a->committed = true;
  std::erase(q.writing, a);
  for (const auto& other : std::vector(q.writing)) {
    if (other->partition != a->partition) continue;
    Discard(q, other,
            InvalidArgument("Spool: ", AttemptName(q, *other), " was superseded by attempt ", a->attempt,
                            ", which committed first"));
  }
  q.committed[a->partition] = a;
  q.commit_order.push_back(CommittedPartition{a->partition, a->attempt});
  changed_.notify_all();
  return a->rows;
}

arrow::Result<Pick> Core::PickLocked(Query& q) {
  if (q.outcome && !q.outcome->status.ok()) return q.outcome->status;
  ARROW_RETURN_NOT_OK(q.reader_error);
  if (q.dropped) return Cancelled(Msg("Spool: query ", q.id, " was dropped on this node"));
  const bool finished = q.outcome.has_value();
  for (;;) {
    const size_t size = q.ordered ? q.planned.size() : q.commit_order.size();
    if (q.next >= size) return Pick{finished ? Pick::kEnd : Pick::kWait, {}, /*partition=*/0, nullptr};
    const int32_t partition = q.ordered ? q.planned[q.next] : q.commit_order[q.next].partition;
    auto it = q.committed.find(partition);
    if (it == q.committed.end()) {
      // Unordered: discarded by Finish. Ordered: not committed yet, or not in the final list.
      if (q.ordered && !finished) return Pick{Pick::kWait, {}, partition, nullptr};
      ++q.next;
      continue;
    }
    Attempt& a = *it->second;
    if (a.batches.empty()) {  // fully served (or committed empty): go on
      RemoveFile(a);
      q.committed.erase(it);
      ++q.next;
      continue;
    }
    Pick pick{Pick::kBatch, {}, partition, nullptr};
    if (a.batches.front().batch == nullptr) {
      if (!a.in) {
        auto in = arrow::io::ReadableFile::Open(a.path);
        if (!in.ok()) {
          auto error = arrow::Status::IOError("Spool: could not open the spill file ", a.path, ": ",
                                              in.status().message());
          FailReader(q, error);
          return error;
        }
        a.in = *std::move(in);
      }
      pick.file = a.in;  // keeps the file readable after RemoveFile unlinks it
    }
    pick.held = std::move(a.batches.front());
    a.batches.pop_front();
    (pick.held.batch ? stats_.memory_bytes : stats_.disk_bytes) -= pick.held.bytes;
    q.touched.insert(partition);
    if (a.batches.empty()) {
      RemoveFile(a);
      q.committed.erase(it);
      ++q.next;
    }
    changed_.notify_all();
    return pick;
  }
}

class Writer : public AttemptWriter {
 public:
  Writer(std::shared_ptr<Core> core, std::shared_ptr<Query> query, std::shared_ptr<Attempt> attempt)
      : core_(std::move(core)), query_(std::move(query)), attempt_(std::move(attempt)) {}
  ~Writer() override { Abort(); }

  arrow::Status Append(const std::shared_ptr<arrow::RecordBatch>& batch,
                       const std::function<arrow::Status()>& keep_waiting) override {
    return core_->Append(*query_, attempt_, batch, keep_waiting);
  }

  arrow::Result<int64_t> Commit() override { return core_->Commit(*query_, attempt_); }

  void Abort() override {
    std::lock_guard<std::mutex> lock(core_->mutex_);
    if (attempt_->committed) return;
    core_->Discard(*query_, attempt_,
                   InvalidArgument("Spool: ", AttemptName(*query_, *attempt_), " was aborted"));
  }

 private:
  std::shared_ptr<Core> core_;
  std::shared_ptr<Query> query_;
  std::shared_ptr<Attempt> attempt_;
};

class Reader : public SpoolReader {
 public:
  Reader(std::shared_ptr<Core> core, std::shared_ptr<Query> query)
      : core_(std::move(core)), query_(std::move(query)), schema_(query_->schema) {}

  ~Reader() override {
    std::lock_guard<std::mutex> lock(core_->mutex_);
    query_->reader_closed = true;  // its data can no longer be drained: blocked writers may proceed
    core_->changed_.notify_all();
  }

  std::shared_ptr<arrow::Schema> schema() const override { return schema_; }

  arrow::Result<std::shared_ptr<arrow::RecordBatch>> Next(
      const std::function<arrow::Status()>& keep_waiting) override {
    if (done_) return nullptr;
    std::unique_lock<std::mutex> lock(core_->mutex_);
    for (;;) {
      ARROW_ASSIGN_OR_RAISE(Pick pick, core_->PickLocked(*query_));
      if (pick.kind == Pick::kEnd) {
        done_ = true;
        return nullptr;
      }
      if (pick.kind == Pick::kWait) {
        ARROW_RETURN_NOT_OK(core_->Wait(lock, keep_waiting));
        continue;
      }
      if (pick.held.batch) return pick.held.batch;
      lock.unlock();
      auto batch = ReadSpilled(pick);
      if (batch.ok()) return batch;
      lock.lock();
      core_->FailReader(*query_, batch.status());
      return batch.status();
    }
  }

 private:
  arrow::Result<std::shared_ptr<arrow::RecordBatch>> ReadSpilled(const Pick& pick) const {
    auto batch = [&]() -> arrow::Result<std::shared_ptr<arrow::RecordBatch>> {
      ARROW_ASSIGN_OR_RAISE(auto message, arrow::ipc::ReadMessage(pick.held.offset, pick.held.metadata_length,
                                                                  pick.held.body_length, pick.file.get()));
      if (message == nullptr) return arrow::Status::IOError("the message is missing");
      return arrow::ipc::ReadRecordBatch(*message, schema_, /*dictionary_memo=*/nullptr,
                                         arrow::ipc::IpcReadOptions::Defaults());
    }();
    if (batch.ok()) return batch;
    return arrow::Status::IOError("Spool: could not read back a spilled batch of partition ", pick.partition,
                                  " of query ", query_->id, ": ", batch.status().ToString());
  }

  std::shared_ptr<Core> core_;
  std::shared_ptr<Query> query_;
  const std::shared_ptr<arrow::Schema> schema_;
  bool done_ = false;  //!< returned the end already
};

class SpoolImpl : public Spool {
 public:
  explicit SpoolImpl(std::shared_ptr<Core> core) : core_(std::move(core)) {}

  ~SpoolImpl() override {
    {
      std::lock_guard<std::mutex> lock(core_->mutex_);
      for (auto& [id, q] : core_->queries_) {
        core_->DropData(*q, Cancelled(Msg("Spool: the spool was shut down; query ", id, " is gone")));
        q->dropped = true;
      }
      core_->queries_.clear();
      core_->changed_.notify_all();
    }
    std::error_code ignored;
    std::filesystem::remove_all(core_->dir_, ignored);
  }

  arrow::Status OpenQuery(const std::string& query_id, std::shared_ptr<arrow::Schema> schema,
                          std::vector<int32_t> partitions, bool ordered) override {
    if (schema == nullptr) return InvalidArgument("Spool: no schema for query ", query_id);
    std::set<int32_t> planned_set(partitions.begin(), partitions.end());
    if (planned_set.size() != partitions.size()) {
      return InvalidArgument("Spool: a partition is planned twice on this node for query ", query_id);
    }
    std::lock_guard<std::mutex> lock(core_->mutex_);
    auto it = core_->queries_.find(query_id);
    if (it != core_->queries_.end()) {
      const Query& q = *it->second;
      if (q.schema->Equals(*schema, /*check_metadata=*/false) && q.planned == partitions && q.ordered == ordered) {
        return arrow::Status::OK();
      }
      return InvalidArgument("Spool: the query is already open with another schema or partitions: ", query_id);
    }
    auto q = std::make_shared<Query>();
    q->id = query_id;
    q->seq = ++core_->next_seq_;
    q->schema = std::move(schema);
    q->planned = std::move(partitions);
    q->planned_set = std::move(planned_set);
    q->ordered = ordered;
    core_->queries_.emplace(query_id, std::move(q));
    return arrow::Status::OK();
  }

  arrow::Result<std::unique_ptr<AttemptWriter>> BeginAttempt(const std::string& query_id, int32_t partition,
                                                             int32_t attempt,
                                                             const arrow::Schema& schema) override {
    std::lock_guard<std::mutex> lock(core_->mutex_);
    auto it = core_->queries_.find(query_id);
    if (it == core_->queries_.end()) return NotFound("Spool: unknown query ", query_id);
    const std::shared_ptr<Query>& q = it->second;
    if (q->outcome) {
      return InvalidArgument("Spool: query ", query_id, " already ended (",
                             q->outcome->status.ok() ? "completed" : q->outcome->status.ToString(),
                             "); attempt ", attempt, " of partition ", partition, " is refused");
    }
    if (q->planned_set.count(partition) == 0) {
      return InvalidArgument("Spool: the partition is not planned on this node: partition ", partition,
                             " of query ", query_id);
    }
    if (const arrow::Field* field = FindDictionary(schema.fields())) {
      return InvalidArgument("Spool: query ", query_id, ": dictionary-encoded column ", field->name(),
                             " is not supported by the exchange; send it decoded");
    }
    if (!schema.Equals(*q->schema, /*check_metadata=*/false)) {
      return InvalidArgument("Spool: the schema differs from the query's, for partition ", partition,
                             " of query ", query_id, ": got ", schema.ToString(), ", expected ",
                             q->schema->ToString());
    }
    for (const auto& c : q->commit_order) {
      if (c.partition != partition) continue;
      return InvalidArgument("Spool: the partition is already committed: partition ", partition, " of query ",
                             query_id, " by attempt ", c.attempt);
    }
    for (const auto& old : std::vector(q->writing)) {
      if (old->partition != partition || old->attempt != attempt) continue;
      core_->Discard(*q, old,
                     InvalidArgument("Spool: ", AttemptName(*q, *old), " was replaced by a new writer of it"));
    }
    auto a = std::make_shared<Attempt>();
    a->partition = partition;
    a->attempt = attempt;
    q->writing.push_back(a);
    return std::make_unique<Writer>(core_, q, std::move(a));
  }

  void Finish(const std::string& query_id, QueryOutcome outcome) override {
    std::lock_guard<std::mutex> lock(core_->mutex_);
    auto it = core_->queries_.find(query_id);
    if (it == core_->queries_.end()) return;
    Query& q = *it->second;
    // The first outcome wins, except that a failure still ends a completed
    // query: its readers stop with it.
    if (q.outcome && (!q.outcome->status.ok() || outcome.status.ok())) return;
    q.outcome = std::move(outcome);
    core_->changed_.notify_all();
    if (!q.outcome->status.ok()) {
      core_->DropData(q, q.outcome->status);
      return;
    }
    for (const auto& a : std::vector(q.writing)) {
      core_->Discard(q, a, InvalidArgument("Spool: query ", q.id, " completed without ", AttemptName(q, *a)));
    }
    std::string problems;
    const auto& listed = q.outcome->committed;
    for (const auto& c : listed) {
      if (std::find(q.commit_order.begin(), q.commit_order.end(), c) != q.commit_order.end()) continue;
      problems += Msg("; the coordinator lists partition ", c.partition, " attempt ", c.attempt,
                      ", which is not committed on this node");
    }
    for (const auto& c : q.commit_order) {
      if (std::find(listed.begin(), listed.end(), c) != listed.end()) continue;
      if (q.touched.count(c.partition) != 0) {
        problems += Msg("; partition ", c.partition, " attempt ", c.attempt,
                        " was already served but the coordinator does not list it");
      } else if (auto a = q.committed.find(c.partition); a != q.committed.end()) {
        core_->Discard(q, a->second, InvalidArgument("Spool: query ", q.id, " completed without ",
                                                     AttemptName(q, *a->second)));
      }
    }
    if (!problems.empty()) {
      core_->FailReader(q, arrow::Status::IOError("Spool: the final result of query ", q.id,
                                                  " does not match this node", problems));
    }
  }

  arrow::Result<std::unique_ptr<SpoolReader>> OpenReader(const std::string& query_id) override {
    std::lock_guard<std::mutex> lock(core_->mutex_);
    auto it = core_->queries_.find(query_id);
    if (it == core_->queries_.end()) return NotFound("Spool: unknown query ", query_id);
    if (it->second->reader_opened) return NotFound("Spool: the query is already being read: ", query_id);
    it->second->reader_opened = true;
    return std::make_unique<Reader>(core_, it->second);
  }

  void DropQuery(const std::string& query_id) override {
    std::lock_guard<std::mutex> lock(core_->mutex_);
    auto it = core_->queries_.find(query_id);
    if (it == core_->queries_.end()) return;
    core_->DropData(*it->second, Cancelled(Msg("Spool: query ", query_id, " was dropped on this node")));
    it->second->dropped = true;
    core_->queries_.erase(it);
    core_->changed_.notify_all();
  }

  std::vector<CommittedPartition> Committed(const std::string& query_id) const override {
    std::lock_guard<std::mutex> lock(core_->mutex_);
    auto it = core_->queries_.find(query_id);
    if (it == core_->queries_.end()) return {};
    return it->second->commit_order;
  }

  SpoolStats stats() const override {
    std::lock_guard<std::mutex> lock(core_->mutex_);
    SpoolStats stats = core_->stats_;
    stats.queries = static_cast<int64_t>(core_->queries_.size());
    return stats;
  }

 private:
  std::shared_ptr<Core> core_;
};

}  // namespace

arrow::Result<std::unique_ptr<Spool>> Spool::Make(SpoolOptions options) {
  if (options.memory_bytes < 0 || options.disk_bytes < 0) {
    return InvalidArgument("Spool: memory and disk limits must not be negative: --spool-memory=",
                           options.memory_bytes, " --spool-disk=", options.disk_bytes);
  }
  std::error_code error;
  std::filesystem::create_directories(options.dir, error);
  if (error) {
    return arrow::Status::IOError("Spool: could not create the spool directory ", options.dir, ": ",
                                  error.message());
  }
  std::string dir = (std::filesystem::path(options.dir) / "squadron-spool-XXXXXX").string();
  if (::mkdtemp(dir.data()) == nullptr) {
    return arrow::Status::IOError("Spool: could not create a private directory in the spool directory ",
                                  options.dir, ": ", std::strerror(errno));
  }
  return std::make_unique<SpoolImpl>(std::make_shared<Core>(std::move(options), std::move(dir)));
}

}  // namespace squadron::cluster
