// Coordination over the ZooKeeper C client (libzookeeper_mt, -DTHREADED).
//
// Threads. The client runs two threads per handle: an I/O thread and a
// completion thread. The global watcher (session events) and every per-call
// watcher run on the completion thread. Our calls use the synchronous API
// from the caller's thread.
//
// Watches. Each Get/Children with a watch allocates a WatchContext that owns
// the WatchCallback, and passes it as the watcher context of zoo_wget,
// zoo_wexists or zoo_wget_children. What the C client does with it (read in
// zookeeper.c and zk_hashtable.c of 3.8):
//   - it registers the context only if the call succeeds (zoo_wexists: also
//     on ZNONODE); on any other result it never calls it, and we free it;
//   - a node event removes the registration and calls the context once: we
//     run the callback and free the context;
//   - every session event (disconnected, reconnected, expired) is delivered
//     to every registered context too, and does not remove it. We run the
//     callback for expiry (and auth failure) only, so watchers learn to
//     re-read, and keep the context: the client still lists it, and drops it
//     without a call in zookeeper_close. Disconnections are silent: the watch
//     stays armed, and the client re-arms it on the server when it
//     reconnects within the session. The client delivers a session event to
//     the per-call watchers before the global one; we publish the expiry from
//     the first of them, so the listener hears kExpired (and state() says
//     so) before any watch fires for it.
// So each callback runs at most once, and every context is freed by the
// event that retires it or, at the latest, after zookeeper_close of its
// handle has returned (close joins the client's threads).
#include <zookeeper/zookeeper.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <mutex>
#include <shared_mutex>
#include <string_view>
#include <unordered_set>
#include <utility>

#include <spdlog/spdlog.h>

#include "cluster/coordination.h"
#include "common/status.h"

namespace squadron::cluster {
namespace {

using Code = CoordinationCode;

/// First read size for Get; a bigger node is read again at its size.
constexpr int kFirstReadBytes = 64 << 10;
/// Largest node Get reads (ZooKeeper's jute.maxbuffer default is 1 MiB - 1).
constexpr size_t kMaxNodeBytes = 1 << 20;
/// Largest data Create/Set send. A request over jute.maxbuffer (path and
/// headers included) makes the server drop the connection: the caller would
/// see kConnectionLoss and every watcher a disconnection, so refuse it here.
constexpr size_t kMaxWriteBytes = kMaxNodeBytes - 1024;
/// At most one routed client log line per this interval; the rest are counted.
constexpr auto kClientLogInterval = std::chrono::seconds(5);

class ZooKeeperCoordination;
struct Session;

/// One watch registration with the client. Owned as described at the top.
struct WatchContext {
  Session* session;
  WatchCallback callback;
  //! Set once the callback ran. GUARDED_BY(session->mutex).
  bool fired = false;
};

/// One zhandle_t and the state its callbacks touch. Deleted only after
/// zookeeper_close(zh) returned, when no callback can run.
struct Session {
  explicit Session(ZooKeeperCoordination* owner_in) : owner(owner_in) {}

  ZooKeeperCoordination* const owner;
  zhandle_t* zh = nullptr;

  std::mutex mutex;
  //! Signals each session event.
  std::condition_variable changed;
  //! The last ZOO_*_STATE the global watcher saw; 0 before any. GUARDED_BY(mutex).
  int zk_state = 0;
  //! Whether session events reach the owner's state and listener: cleared
  //! when the first connection timed out and before close. GUARDED_BY(mutex).
  bool publishes = true;
  //! Contexts handed to the client and not yet retired. GUARDED_BY(mutex).
  std::unordered_set<WatchContext*> watches;
};

SessionState StateOf(int zk_state) {
  if (zk_state == ZOO_CONNECTED_STATE) return SessionState::kConnected;
  if (zk_state == ZOO_EXPIRED_SESSION_STATE || zk_state == ZOO_AUTH_FAILED_STATE) return SessionState::kExpired;
  return SessionState::kDisconnected;  // connecting, associating, read-only (never asked for)
}

bool Unrecoverable(int zk_state) {
  return zk_state == ZOO_EXPIRED_SESSION_STATE || zk_state == ZOO_AUTH_FAILED_STATE;
}

/// Maps a client return code; `zh` tells ZINVALIDSTATE after expiry apart.
CoordinationError ErrorFor(int rc, const char* op, const std::string& path, zhandle_t* zh) {
  Code code = Code::kError;
  if (rc == ZOK) return {};
  if (rc == ZNONODE) code = Code::kNoNode;
  if (rc == ZNODEEXISTS) code = Code::kNodeExists;
  if (rc == ZBADVERSION) code = Code::kBadVersion;
  if (rc == ZNOTEMPTY) code = Code::kNotEmpty;
  if (rc == ZCONNECTIONLOSS || rc == ZOPERATIONTIMEOUT) code = Code::kConnectionLoss;
  if (rc == ZSESSIONEXPIRED) code = Code::kSessionExpired;
  if (rc == ZINVALIDSTATE && zoo_state(zh) == ZOO_EXPIRED_SESSION_STATE) {
    return {Code::kSessionExpired, Msg(op, " ", path, ": session expired")};  // zerror says "invalid zhandle state"
  }
  return {code, Msg(op, " ", path, ": ", zerror(rc))};
}

void RunCallback(const WatchCallback& callback) {
  // An exception must not unwind into the C client.
  try {
    callback();
  } catch (const std::exception& e) {
    spdlog::error("event=zookeeper_watch_threw error={:?}", e.what());
  } catch (...) {
    spdlog::error("event=zookeeper_watch_threw error=unknown");
  }
}

/// Routes the client's own log lines (ERROR level only) to our log, at most
/// one per kClientLogInterval: the client repeats its connection errors on
/// every retry while a server is down. Runs on the client's threads.
void LogClientMessage(const char* message) {
  static std::mutex mutex;
  static std::chrono::steady_clock::time_point next_line;
  static int suppressed = 0;
  // Drops the client's "time:pid(tid):" prefix, keeping "ZOO_ERROR@function@line: text".
  std::string_view text(message);
  if (size_t level = text.find("):ZOO_"); level != std::string_view::npos) text.remove_prefix(level + 2);
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  int skipped = 0;
  {
    std::lock_guard lock(mutex);
    const auto now = std::chrono::steady_clock::now();
    if (now < next_line) {
      ++suppressed;
      return;
    }
    next_line = now + kClientLogInterval;
    skipped = std::exchange(suppressed, 0);
  }
  spdlog::warn("event=zookeeper_client_log suppressed_before={} message={:?}", skipped, text);
}

class ZooKeeperCoordination : public Coordination {
 public:
  ZooKeeperCoordination(ZooKeeperAddress address, ZooKeeperOptions options)
      : address_(std::move(address)), options_(options) {}

  ~ZooKeeperCoordination() override {
    std::lock_guard reconnect_lock(reconnect_mutex_);
    std::unique_ptr<Session> session;
    {
      std::unique_lock lock(session_mutex_);
      session = std::move(session_);
    }
    if (session) CloseSession(std::move(session));
  }

  /// Opens the first session. Called once, before the object is shared.
  arrow::Status Connect() {
    ARROW_ASSIGN_OR_RAISE(session_, OpenSession());
    return arrow::Status::OK();
  }

  CoordinationError Create(const std::string& path, const std::string& data, CreateMode mode) override {
    std::shared_lock lock(session_mutex_);
    if (!session_) return NoSession("create", path);
    return CreateLocked(session_->zh, path, data, mode == CreateMode::kEphemeral ? ZOO_EPHEMERAL : ZOO_PERSISTENT);
  }

  CoordinationError CreateRecursive(const std::string& path) override {
    std::shared_lock lock(session_mutex_);
    if (!session_) return NoSession("create", path);
    if (path == "/") return {};
    auto error = CreateLocked(session_->zh, path, "", ZOO_PERSISTENT);
    if (error.code != Code::kNoNode) return error.code == Code::kNodeExists ? CoordinationError{} : error;
    // Creates the missing ancestors top-down, then the node.
    for (size_t slash = path.find('/', 1);; slash = path.find('/', slash + 1)) {
      error = CreateLocked(session_->zh, path.substr(0, slash), "", ZOO_PERSISTENT);
      if (!error.ok() && error.code != Code::kNodeExists) return error;
      if (slash == std::string::npos) return {};
    }
  }

  CoordinationError Get(const std::string& path, NodeData* out, WatchCallback watch) override {
    std::shared_lock lock(session_mutex_);
    if (!session_) return NoSession("get", path);
    zhandle_t* zh = session_->zh;
    WatchContext* context = watch ? Track(std::move(watch)) : nullptr;
    std::string buffer(kFirstReadBytes, '\0');
    int length = static_cast<int>(buffer.size());
    Stat stat{};
    int rc = context ? zoo_wget(zh, path.c_str(), OnWatch, context, buffer.data(), &length, &stat)
                     : zoo_get(zh, path.c_str(), 0, buffer.data(), &length, &stat);
    bool registered = context && rc == ZOK;
    if (context && rc == ZNONODE) {
      // getData sets no watch on an absent node; exists does, and fires on creation.
      rc = zoo_wexists(zh, path.c_str(), OnWatch, context, &stat);
      registered = rc == ZOK || rc == ZNONODE;
      if (rc == ZOK) {  // created in between: read it; the watch fires on its next change
        length = static_cast<int>(buffer.size());
        rc = zoo_get(zh, path.c_str(), 0, buffer.data(), &length, &stat);
      }
    }
    if (context && !registered) Untrack(context);
    // A node bigger than the buffer comes back cut: read it again at its size.
    while (rc == ZOK && stat.dataLength > static_cast<int>(buffer.size())) {
      if (static_cast<size_t>(stat.dataLength) > kMaxNodeBytes) {
        return {Code::kError, Msg("get ", path, ": node holds ", stat.dataLength, " bytes, over the limit of ",
                                  kMaxNodeBytes)};
      }
      buffer.resize(stat.dataLength);
      length = stat.dataLength;
      rc = zoo_get(zh, path.c_str(), 0, buffer.data(), &length, &stat);
    }
    if (rc != ZOK) return ErrorFor(rc, "get", path, zh);
    buffer.resize(std::max(length, 0));  // -1: the node has no data
    out->data = std::move(buffer);
    out->version = stat.version;
    return {};
  }

  CoordinationError Set(const std::string& path, const std::string& data, int32_t version) override {
    std::shared_lock lock(session_mutex_);
    if (!session_) return NoSession("set", path);
    if (data.size() > kMaxWriteBytes) return TooBig("set", path, data);
    const int rc = zoo_set(session_->zh, path.c_str(), data.data(), static_cast<int>(data.size()), version);
    return ErrorFor(rc, "set", path, session_->zh);
  }

  CoordinationError Delete(const std::string& path, int32_t version) override {
    std::shared_lock lock(session_mutex_);
    if (!session_) return NoSession("delete", path);
    return ErrorFor(zoo_delete(session_->zh, path.c_str(), version), "delete", path, session_->zh);
  }

  CoordinationError Children(const std::string& path, std::vector<std::string>* out, WatchCallback watch) override {
    std::shared_lock lock(session_mutex_);
    if (!session_) return NoSession("children", path);
    zhandle_t* zh = session_->zh;
    WatchContext* context = watch ? Track(std::move(watch)) : nullptr;
    String_vector children{};
    const int rc = context ? zoo_wget_children(zh, path.c_str(), OnWatch, context, &children)
                           : zoo_get_children(zh, path.c_str(), 0, &children);
    if (context && rc != ZOK) Untrack(context);
    if (rc != ZOK) return ErrorFor(rc, "children", path, zh);
    out->assign(children.data, children.data + children.count);
    deallocate_String_vector(&children);
    std::sort(out->begin(), out->end());
    return {};
  }

  SessionState state() const override { return state_.load(); }

  void SetSessionListener(SessionListener listener) override {
    std::lock_guard lock(listener_mutex_);
    listener_ = std::move(listener);
  }

  /// Holds session_mutex_ throughout, so calls made meanwhile wait and then
  /// run on the new session rather than fail.
  arrow::Status Reconnect() override {
    std::lock_guard reconnect_lock(reconnect_mutex_);
    if (state_.load() != SessionState::kExpired) return arrow::Status::OK();
    std::unique_lock lock(session_mutex_);
    if (session_) CloseSession(std::move(session_));
    ARROW_ASSIGN_OR_RAISE(session_, OpenSession());
    return arrow::Status::OK();
  }

  std::chrono::milliseconds session_timeout() const override {
    return std::chrono::milliseconds(session_timeout_ms_.load());
  }

  std::string description() const override { return "zk://" + address_.hosts + address_.root; }

  /// Handles a session event of `session` (completion thread): records it,
  /// and if it changes state(), logs it and calls the listener.
  void OnSessionEvent(Session* session, zhandle_t* zh, int zk_state) {
    const SessionState next = StateOf(zk_state);
    bool changed = false;
    SessionListener listener;
    {
      // state() changes before OpenSession wakes, so Connect and Reconnect return with it set.
      std::lock_guard lock(session->mutex);
      session->zk_state = zk_state;
      if (session->publishes) {
        if (next == SessionState::kConnected) session_timeout_ms_.store(zoo_recv_timeout(zh));
        std::lock_guard listener_lock(listener_mutex_);
        changed = state_.exchange(next) != next;
        if (changed) listener = listener_;
      }
    }
    session->changed.notify_all();
    if (!changed) return;
    const clientid_t* id = zoo_client_id(zh);
    spdlog::log(next == SessionState::kConnected ? spdlog::level::info : spdlog::level::warn,
                "event=zookeeper_session state={} cluster={} session_id={:#x} timeout_ms={}",
                SessionStateName(next), description(), id ? id->client_id : 0, session_timeout_ms_.load());
    if (listener) listener(next);
  }

 private:
  /// Starts a client and waits up to the connect timeout for its session.
  arrow::Result<std::unique_ptr<Session>> OpenSession() {
    auto session = std::make_unique<Session>(this);
    session->zh = zookeeper_init2(address_.hosts.c_str(), &OnGlobalWatch,
                                  static_cast<int>(options_.session_timeout.count()), nullptr, session.get(),
                                  /*flags=*/0, &LogClientMessage);
    if (session->zh == nullptr) {
      return Unavailable(Msg("ZooKeeper: cannot start a client for ", address_.hosts, ": ", std::strerror(errno)));
    }
    int last_state = 0;
    {
      std::unique_lock lock(session->mutex);
      session->changed.wait_for(lock, options_.connect_timeout, [&] {
        return session->zk_state == ZOO_CONNECTED_STATE || Unrecoverable(session->zk_state);
      });
      last_state = session->zk_state;
      // Decided under the mutex: either the CONNECTED event was published, or it never will be.
      if (last_state != ZOO_CONNECTED_STATE) session->publishes = false;
    }
    if (last_state == ZOO_CONNECTED_STATE) {
      session_timeout_ms_.store(zoo_recv_timeout(session->zh));
      return session;
    }
    CloseSession(std::move(session));
    if (Unrecoverable(last_state)) {
      return Unavailable(Msg("ZooKeeper: the servers at ", address_.hosts, " refused a new session (",
                             last_state == ZOO_AUTH_FAILED_STATE ? "authentication failed" : "expired", ")"));
    }
    return Unavailable(Msg("ZooKeeper: no server at ", address_.hosts, " answered within ",
                           options_.connect_timeout.count(), " ms"));
  }

  /// Closes `session`'s client, then frees the contexts it still held.
  /// Must not run on the client's thread.
  static void CloseSession(std::unique_ptr<Session> session) {
    {
      std::lock_guard lock(session->mutex);
      session->publishes = false;
    }
    zookeeper_close(session->zh);  // joins the client's threads: no callback runs after this
    for (WatchContext* watch : session->watches) delete watch;
    session->watches.clear();
  }

  /// The per-call watcher (completion thread); see the top of the file.
  static void OnWatch(zhandle_t* zh, int type, int state, const char*, void* context) {
    auto* watch = static_cast<WatchContext*>(context);
    Session* session = watch->session;
    const bool node_event = type != ZOO_SESSION_EVENT;
    if (!node_event && !Unrecoverable(state)) return;
    // The client calls per-call watchers before the global one: report the
    // expiry first, so the listener hears it before any watch fires for it.
    if (!node_event) session->owner->OnSessionEvent(session, zh, state);
    bool run = false;
    {
      std::lock_guard lock(session->mutex);
      run = !watch->fired;
      watch->fired = true;
      if (node_event) session->watches.erase(watch);
    }
    if (run) RunCallback(watch->callback);
    if (node_event) delete watch;  // the client dropped its registration
  }

  static void OnGlobalWatch(zhandle_t* zh, int type, int state, const char*, void* context) {
    if (type != ZOO_SESSION_EVENT) return;  // node events go to per-call watchers only
    auto* session = static_cast<Session*>(context);
    session->owner->OnSessionEvent(session, zh, state);
  }

  /// Makes a context for `callback` and records it (session_mutex_ held shared).
  WatchContext* Track(WatchCallback callback) {
    auto* watch = new WatchContext{session_.get(), std::move(callback)};
    std::lock_guard lock(session_->mutex);
    session_->watches.insert(watch);
    return watch;
  }

  /// Frees a context the client did not register (so never calls).
  static void Untrack(WatchContext* watch) {
    {
      std::lock_guard lock(watch->session->mutex);
      watch->session->watches.erase(watch);
    }
    delete watch;
  }

  CoordinationError CreateLocked(zhandle_t* zh, const std::string& path, const std::string& data, int flags) {
    if (data.size() > kMaxWriteBytes) return TooBig("create", path, data);
    const int rc = zoo_create(zh, path.c_str(), data.data(), static_cast<int>(data.size()), &ZOO_OPEN_ACL_UNSAFE,
                              flags, /*path_buffer=*/nullptr, /*path_buffer_len=*/0);
    return ErrorFor(rc, "create", path, zh);
  }

  static CoordinationError NoSession(const char* op, const std::string& path) {
    return {Code::kSessionExpired, Msg(op, " ", path, ": session expired (reconnect failed)")};
  }

  static CoordinationError TooBig(const char* op, const std::string& path, const std::string& data) {
    return {Code::kError, Msg(op, " ", path, ": ", data.size(), " bytes, over the limit of ", kMaxWriteBytes)};
  }

  const ZooKeeperAddress address_;
  const ZooKeeperOptions options_;

  //! Serializes Reconnect and the destructor.
  std::mutex reconnect_mutex_;
  //! Shared by calls for as long as they use session_; exclusive to replace it.
  std::shared_mutex session_mutex_;
  //! The live session; null after a failed Reconnect. GUARDED_BY(session_mutex_).
  std::unique_ptr<Session> session_;

  //! Written on the client's thread (and read anywhere) under listener_mutex_.
  std::atomic<SessionState> state_{SessionState::kDisconnected};
  std::atomic<int64_t> session_timeout_ms_{0};
  std::mutex listener_mutex_;
  //! GUARDED_BY(listener_mutex_).
  SessionListener listener_;
};

}  // namespace

arrow::Result<std::unique_ptr<Coordination>> ConnectZooKeeper(const ZooKeeperAddress& address,
                                                              const ZooKeeperOptions& options) {
  static std::once_flag quiet_client;
  std::call_once(quiet_client, [] { zoo_set_debug_level(ZOO_LOG_LEVEL_ERROR); });
  auto coordination = std::make_unique<ZooKeeperCoordination>(address, options);
  ARROW_RETURN_NOT_OK(coordination->Connect());
  return coordination;
}

}  // namespace squadron::cluster
