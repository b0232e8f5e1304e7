// An in-memory coordination tree with fault injection, for unit tests of
// what sits above Coordination (membership, the query registry). It follows
// ClickHouse's TestKeeper and its fault-injecting wrapper: one shared store
// plays the server, each MemoryCoordination plays one node's client.
//
// Semantics match the ZooKeeper implementation where a caller can tell:
//   - Get's watch fires once on the node's next creation, change or deletion;
//     Children's watch fires once on a child's creation or deletion, or the
//     node's deletion. No watch is set when a call fails (Children on an
//     absent node fails, so it sets none; Get on an absent node sets one).
//   - Every callback (watches and session listeners) runs on the store's one
//     callback thread, never on the caller's thread, in the order queued.
//   - ExpireSession() fires the handle's listener with kExpired, then each of
//     its pending watches once, and deletes its ephemerals (firing the other
//     handles' watches on them).
//   - While disconnected, watches that trigger are held back and fire right
//     after the kConnected notification, as ZooKeeper re-arms watches on
//     reconnection.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cluster/coordination.h"

namespace squadron::cluster {

class MemoryCoordination;

/// The shared "server": one tree of nodes (data, version, ephemeral owner)
/// that several MemoryCoordination handles use, and the thread that runs the
/// callbacks of all of them.
///
/// Thread-safe. Handles hold a shared_ptr to it, so it outlives them.
class MemoryCoordinationStore {
 public:
  /// Starts the callback thread. `name` shows in descriptions as
  /// "memory://NAME".
  explicit MemoryCoordinationStore(std::string name = "test");
  /// Runs the callbacks still queued, then joins the callback thread.
  ~MemoryCoordinationStore();

  MemoryCoordinationStore(const MemoryCoordinationStore&) = delete;
  MemoryCoordinationStore& operator=(const MemoryCoordinationStore&) = delete;

  /// Blocks until every callback queued so far has run and none is running.
  /// Aborts if called from a callback (it would wait for itself).
  void Drain();

  /// Returns whether `path` exists. For assertions: no faults, no watches.
  bool Exists(const std::string& path) const;

  /// Returns how many watches are registered and not yet triggered, across
  /// all handles (for leak checks; held-back ones are not counted).
  size_t pending_watches() const;

  const std::string& name() const { return name_; }

 private:
  friend class MemoryCoordination;

  struct Node {
    std::string data;
    int32_t version = 0;
    //! Session id of the owner for an ephemeral node; 0 for a persistent one.
    int64_t ephemeral_owner = 0;
    //! Names of the children.
    std::set<std::string> children;
  };

  struct Watch {
    MemoryCoordination* handle;
    WatchCallback callback;
  };

  struct Task {
    //! The handle whose callback this is; its destructor drops its tasks.
    const MemoryCoordination* handle;
    std::function<void()> run;
  };

  /// Runs queued tasks until the destructor asks it to stop.
  void RunCallbacks();
  /// Queues `run` for `handle` on the callback thread.
  void QueueLocked(const MemoryCoordination* handle, std::function<void()> run);
  /// Creates `path` under an existing parent and fires the watches.
  CoordinationError CreateLocked(const std::string& path, const std::string& data, int64_t ephemeral_owner);
  /// Deletes `path` (a leaf) and fires the watches.
  void DeleteLocked(const std::string& path);
  /// Hands each watch registered on `path` in `watches` to its handle.
  void TriggerLocked(std::multimap<std::string, Watch>* watches, const std::string& path);
  /// Takes every watch of `handle` out of the tables.
  std::vector<WatchCallback> TakeWatchesLocked(const MemoryCoordination* handle);
  /// Deletes every ephemeral node that `session_id` owns.
  void DeleteEphemeralsLocked(int64_t session_id);
  bool OnCallbackThread() const { return std::this_thread::get_id() == thread_.get_id(); }

  const std::string name_;

  mutable std::mutex mutex_;
  //! Signals a new task, the end of a task, and stopping.
  std::condition_variable changed_;
  //! The tree, by absolute path; always holds "/". GUARDED_BY(mutex_).
  std::map<std::string, Node> nodes_;
  //! Get watches by path. GUARDED_BY(mutex_).
  std::multimap<std::string, Watch> data_watches_;
  //! Children watches by path. GUARDED_BY(mutex_).
  std::multimap<std::string, Watch> child_watches_;
  //! Callbacks waiting for the callback thread. GUARDED_BY(mutex_).
  std::deque<Task> tasks_;
  //! The handle whose callback runs now, or null. GUARDED_BY(mutex_).
  const MemoryCoordination* running_ = nullptr;
  //! Set by the destructor. GUARDED_BY(mutex_).
  bool stopping_ = false;
  //! Next session id to hand out. GUARDED_BY(mutex_).
  int64_t next_session_id_ = 1;
  //! Runs RunCallbacks(); started last in the constructor.
  std::thread thread_;
};

/// One simulated client of a MemoryCoordinationStore, with fault injection.
/// Starts connected, with a new session.
///
/// Thread-safe, like Coordination: every method may be called from any thread
/// except the store's callback thread (the tree operations abort there,
/// where the real client would deadlock).
///
/// Destroying it closes its session as zookeeper_close does: its ephemerals
/// are deleted (firing other handles' watches), its pending watches and
/// queued callbacks are dropped without running, and it waits for a callback
/// of its own that is running now.
class MemoryCoordination : public Coordination {
 public:
  explicit MemoryCoordination(std::shared_ptr<MemoryCoordinationStore> store,
                              std::chrono::milliseconds session_timeout = std::chrono::seconds(10));
  ~MemoryCoordination() override;

  CoordinationError Create(const std::string& path, const std::string& data, CreateMode mode) override;
  CoordinationError CreateRecursive(const std::string& path) override;
  CoordinationError Get(const std::string& path, NodeData* out, WatchCallback watch = {}) override;
  CoordinationError Set(const std::string& path, const std::string& data, int32_t version = -1) override;
  CoordinationError Delete(const std::string& path, int32_t version = -1) override;
  CoordinationError Children(const std::string& path, std::vector<std::string>* out,
                             WatchCallback watch = {}) override;
  SessionState state() const override;
  void SetSessionListener(SessionListener listener) override;
  /// Opens a new session after kExpired (listener: kConnected); does nothing
  /// in another state. Fails with UNAVAILABLE, using up one, while FailNext
  /// faults are pending.
  arrow::Status Reconnect() override;
  std::chrono::milliseconds session_timeout() const override { return session_timeout_; }
  std::string description() const override;

  // --- fault injection ---------------------------------------------------------------------

  /// Ends the session as the server would: sets kExpired (listener called),
  /// fires each pending watch of this handle once, and deletes its
  /// ephemerals. Calls return kSessionExpired until Reconnect(). Does nothing
  /// if already expired.
  void ExpireSession();

  /// Drops the connection (listener: kDisconnected). Calls return
  /// kConnectionLoss; the session and its ephemerals survive; watches that
  /// trigger meanwhile are held back. Does nothing unless connected.
  void Disconnect();

  /// Ends a Disconnect(): listener gets kConnected, then the held-back
  /// watches fire. Does nothing unless disconnected.
  void Restore();

  /// Makes the next `count` calls (tree operations and Reconnect) fail with
  /// `code` before they touch the tree.
  void FailNext(CoordinationCode code, int count = 1);

  /// Makes the next `count` tree operations take effect but report
  /// kConnectionLoss, as when a reply is lost; a watch they asked for is not
  /// set. Checked after FailNext faults.
  void LoseNextReplies(int count = 1);

  /// Returns the current session's id (changes on Reconnect).
  int64_t session_id() const;

 private:
  friend class MemoryCoordinationStore;

  /// Returns the error a call meets before it runs (disconnected, expired,
  /// an injected fault), or kOk. Aborts on the callback thread.
  CoordinationError CheckCallLocked(const char* op, const std::string& path);
  /// Returns true, using one up, if the call's reply is to be lost.
  bool LoseReplyLocked();
  /// Runs `callback` now or, while disconnected, after Restore().
  void DeliverLocked(WatchCallback callback);
  /// Queues a session listener call with `state`.
  void NotifyLocked(SessionState state);

  const std::shared_ptr<MemoryCoordinationStore> store_;
  const std::chrono::milliseconds session_timeout_;

  //! GUARDED_BY(store_->mutex_).
  int64_t session_id_ = 0;
  //! GUARDED_BY(store_->mutex_).
  SessionState state_ = SessionState::kConnected;
  //! Code and count of FailNext(). GUARDED_BY(store_->mutex_).
  CoordinationCode fail_code_ = CoordinationCode::kOk;
  int fail_count_ = 0;
  //! Count of LoseNextReplies(). GUARDED_BY(store_->mutex_).
  int lose_count_ = 0;
  //! Watches triggered while disconnected. GUARDED_BY(store_->mutex_).
  std::vector<WatchCallback> held_back_;

  //! Guards listener_ (read on the callback thread, without store_->mutex_).
  std::mutex listener_mutex_;
  SessionListener listener_;
};

}  // namespace squadron::cluster
