#include "cluster/memory_coordination.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "common/status.h"

namespace squadron::cluster {

// --- shared by both implementations (no libzookeeper needed) --------------------------------

const char* SessionStateName(SessionState state) {
  switch (state) {
    case SessionState::kConnected:
      return "connected";
    case SessionState::kDisconnected:
      return "disconnected";
    case SessionState::kExpired:
      return "expired";
  }
  return "unknown";
}

arrow::Status CoordinationError::ToStatus() const {
  std::string text = "ZooKeeper: " + message;
  switch (code) {
    case CoordinationCode::kOk:
      return arrow::Status::OK();
    case CoordinationCode::kConnectionLoss:
    case CoordinationCode::kSessionExpired:
      return Unavailable(std::move(text));
    case CoordinationCode::kNoNode:
      return NotFound(std::move(text));
    case CoordinationCode::kNodeExists:
      return arrow::Status::AlreadyExists(std::move(text));
    case CoordinationCode::kBadVersion:
    case CoordinationCode::kNotEmpty:
    case CoordinationCode::kError:
      return arrow::Status::IOError(std::move(text));
  }
  return Internal("ZooKeeper: unknown coordination code for " + message);
}

namespace {

constexpr const char* kAddressForm = "expected zk://HOST:PORT[,HOST:PORT...]/PATH, e.g. zk://127.0.0.1:2181/squadron";

arrow::Status BadAddress(const std::string& uri, const std::string& problem) {
  return InvalidArgument("Invalid ZooKeeper address '", uri, "': ", problem, "; ", kAddressForm);
}

bool IsHostNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
         c == '_';
}

bool IsPathChar(char c) { return IsHostNameChar(c) || c == '/'; }

/// Checks one "host:port" (or "[v6]:port"); returns the problem or "".
std::string CheckHostPort(const std::string& entry) {
  if (entry.empty()) return "empty entry in the host list";
  const size_t colon = entry.rfind(':');
  if (colon == std::string::npos) return "host '" + entry + "' has no port";
  const std::string host = entry.substr(0, colon);
  const std::string port = entry.substr(colon + 1);
  if (host.empty()) return "no host name before the port in '" + entry + "'";
  const bool v6 = host.size() > 2 && host.front() == '[' && host.back() == ']';
  const std::string name = v6 ? host.substr(1, host.size() - 2) : host;
  for (char c : name) {
    const bool ok = v6 ? (IsHostNameChar(c) || c == ':') : IsHostNameChar(c);
    if (!ok) return "bad character in host '" + host + "'";
  }
  const bool digits = !port.empty() && port.size() <= 5 &&
                      std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!digits || std::stoi(port) < 1 || std::stoi(port) > 65535) {
    return "port '" + port + "' of '" + entry + "' is not a number in 1..65535";
  }
  return "";
}

}  // namespace

arrow::Result<ZooKeeperAddress> ParseZooKeeperAddress(const std::string& uri) {
  constexpr std::string_view kScheme = "zk://";
  if (uri.compare(0, kScheme.size(), kScheme) != 0) return BadAddress(uri, "it does not start with zk://");
  const std::string rest = uri.substr(kScheme.size());
  const size_t slash = rest.find('/');
  ZooKeeperAddress address;
  address.hosts = rest.substr(0, slash);
  if (address.hosts.empty()) return BadAddress(uri, "no hosts");
  size_t start = 0;
  while (true) {
    const size_t comma = address.hosts.find(',', start);
    const std::string problem = CheckHostPort(address.hosts.substr(start, comma - start));
    if (!problem.empty()) return BadAddress(uri, problem);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (slash == std::string::npos) return BadAddress(uri, "no path after the hosts");
  std::string root = rest.substr(slash);
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  if (root == "/") return BadAddress(uri, "the path is '/'; the cluster needs its own node");
  for (char c : root) {
    if (!IsPathChar(c)) return BadAddress(uri, std::string("bad character '") + c + "' in path '" + root + "'");
  }
  for (size_t at = 0; at != std::string::npos; at = root.find('/', at + 1)) {
    const size_t next = root.find('/', at + 1);
    const std::string segment = root.substr(at + 1, next == std::string::npos ? std::string::npos : next - at - 1);
    if (segment.empty() || segment == "." || segment == "..") {
      return BadAddress(uri, "empty, '.' or '..' segment in path '" + root + "'");
    }
  }
  address.root = std::move(root);
  return address;
}

// --- the in-memory tree ---------------------------------------------------------------------

namespace {

using Code = CoordinationCode;

/// Largest data Create/Set accept, as in the ZooKeeper implementation.
constexpr size_t kMaxWriteBytes = (1 << 20) - 1024;

CoordinationError Error(Code code, const char* op, const std::string& path, const std::string& reason) {
  return {code, Msg(op, " ", path, ": ", reason)};
}

/// Returns whether `path` is absolute, without empty, "." or ".." segments
/// and without a trailing slash ("/" itself is valid).
bool ValidPath(const std::string& path) {
  if (path.empty() || path[0] != '/') return false;
  if (path == "/") return true;
  if (path.back() == '/') return false;
  for (size_t at = 0; at != std::string::npos; at = path.find('/', at + 1)) {
    const size_t next = path.find('/', at + 1);
    const std::string segment = path.substr(at + 1, next == std::string::npos ? std::string::npos : next - at - 1);
    if (segment.empty() || segment == "." || segment == ".." || segment.find('\0') != std::string::npos) return false;
  }
  return true;
}

std::string ParentOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string NameOf(const std::string& path) { return path.substr(path.rfind('/') + 1); }

}  // namespace

MemoryCoordinationStore::MemoryCoordinationStore(std::string name) : name_(std::move(name)) {
  nodes_["/"] = Node{};
  thread_ = std::thread([this] { RunCallbacks(); });
}

MemoryCoordinationStore::~MemoryCoordinationStore() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

void MemoryCoordinationStore::RunCallbacks() {
  std::unique_lock lock(mutex_);
  while (true) {
    changed_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
    if (tasks_.empty()) return;  // stopping, and nothing left to run
    Task task = std::move(tasks_.front());
    tasks_.pop_front();
    running_ = task.handle;
    lock.unlock();
    task.run();
    task.run = nullptr;  // destroys the callback's captures outside the lock too
    lock.lock();
    running_ = nullptr;
    changed_.notify_all();
  }
}

void MemoryCoordinationStore::Drain() {
  if (OnCallbackThread()) {
    std::fprintf(stderr, "MemoryCoordinationStore::Drain called from a coordination callback\n");
    std::abort();
  }
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [this] { return tasks_.empty() && running_ == nullptr; });
}

bool MemoryCoordinationStore::Exists(const std::string& path) const {
  std::lock_guard lock(mutex_);
  return nodes_.count(path) > 0;
}

size_t MemoryCoordinationStore::pending_watches() const {
  std::lock_guard lock(mutex_);
  return data_watches_.size() + child_watches_.size();
}

void MemoryCoordinationStore::QueueLocked(const MemoryCoordination* handle, std::function<void()> run) {
  tasks_.push_back(Task{handle, std::move(run)});
  changed_.notify_all();
}

void MemoryCoordinationStore::TriggerLocked(std::multimap<std::string, Watch>* watches, const std::string& path) {
  auto [begin, end] = watches->equal_range(path);
  std::vector<Watch> fired;
  for (auto it = begin; it != end; ++it) fired.push_back(std::move(it->second));
  watches->erase(begin, end);
  for (Watch& watch : fired) watch.handle->DeliverLocked(std::move(watch.callback));
}

CoordinationError MemoryCoordinationStore::CreateLocked(const std::string& path, const std::string& data,
                                                        int64_t ephemeral_owner) {
  if (nodes_.count(path)) return Error(Code::kNodeExists, "create", path, "node exists");
  const std::string parent = ParentOf(path);
  auto parent_node = nodes_.find(parent);
  if (parent_node == nodes_.end()) return Error(Code::kNoNode, "create", path, "parent does not exist");
  if (parent_node->second.ephemeral_owner != 0) {
    return Error(Code::kError, "create", path, "ephemeral nodes may not have children");
  }
  parent_node->second.children.insert(NameOf(path));
  nodes_[path] = Node{data, 0, ephemeral_owner, {}};
  TriggerLocked(&data_watches_, path);
  TriggerLocked(&child_watches_, parent);
  return {};
}

void MemoryCoordinationStore::DeleteLocked(const std::string& path) {
  const std::string parent = ParentOf(path);
  nodes_.erase(path);
  nodes_[parent].children.erase(NameOf(path));
  TriggerLocked(&data_watches_, path);
  TriggerLocked(&child_watches_, path);
  TriggerLocked(&child_watches_, parent);
}

std::vector<WatchCallback> MemoryCoordinationStore::TakeWatchesLocked(const MemoryCoordination* handle) {
  std::vector<WatchCallback> taken;
  for (auto* watches : {&data_watches_, &child_watches_}) {
    for (auto it = watches->begin(); it != watches->end();) {
      if (it->second.handle == handle) {
        taken.push_back(std::move(it->second.callback));
        it = watches->erase(it);
      } else {
        ++it;
      }
    }
  }
  return taken;
}

void MemoryCoordinationStore::DeleteEphemeralsLocked(int64_t session_id) {
  std::vector<std::string> owned;
  for (const auto& [path, node] : nodes_) {
    if (node.ephemeral_owner == session_id) owned.push_back(path);
  }
  for (const std::string& path : owned) DeleteLocked(path);  // ephemerals have no children
}

// --- one handle ---------------------------------------------------------------------------

MemoryCoordination::MemoryCoordination(std::shared_ptr<MemoryCoordinationStore> store,
                                       std::chrono::milliseconds session_timeout)
    : store_(std::move(store)), session_timeout_(session_timeout) {
  std::lock_guard lock(store_->mutex_);
  session_id_ = store_->next_session_id_++;
}

MemoryCoordination::~MemoryCoordination() {
  // Destroys the dropped callbacks after unlocking: their captures are the caller's.
  std::vector<WatchCallback> dropped;
  std::deque<MemoryCoordinationStore::Task> dropped_tasks;
  std::unique_lock lock(store_->mutex_);
  dropped = store_->TakeWatchesLocked(this);
  dropped.insert(dropped.end(), std::make_move_iterator(held_back_.begin()),
                 std::make_move_iterator(held_back_.end()));
  held_back_.clear();
  auto& tasks = store_->tasks_;
  for (auto it = tasks.begin(); it != tasks.end();) {
    if (it->handle == this) {
      dropped_tasks.push_back(std::move(*it));
      it = tasks.erase(it);
    } else {
      ++it;
    }
  }
  if (!store_->OnCallbackThread()) {
    store_->changed_.wait(lock, [this] { return store_->running_ != this; });
  }
  if (state_ != SessionState::kExpired) store_->DeleteEphemeralsLocked(session_id_);
  lock.unlock();
}

CoordinationError MemoryCoordination::CheckCallLocked(const char* op, const std::string& path) {
  if (store_->OnCallbackThread()) {
    std::fprintf(stderr, "MemoryCoordination: %s %s called from a coordination callback\n", op, path.c_str());
    std::abort();
  }
  if (state_ == SessionState::kExpired) return Error(Code::kSessionExpired, op, path, "session expired");
  if (state_ == SessionState::kDisconnected) return Error(Code::kConnectionLoss, op, path, "connection loss");
  if (fail_count_ > 0) {
    --fail_count_;
    return Error(fail_code_, op, path, "injected fault");
  }
  if (!ValidPath(path)) return Error(Code::kError, op, path, "bad arguments (invalid path)");
  return {};
}

bool MemoryCoordination::LoseReplyLocked() {
  if (lose_count_ == 0) return false;
  --lose_count_;
  return true;
}

void MemoryCoordination::DeliverLocked(WatchCallback callback) {
  if (state_ == SessionState::kDisconnected) {
    held_back_.push_back(std::move(callback));
  } else {
    store_->QueueLocked(this, std::move(callback));
  }
}

void MemoryCoordination::NotifyLocked(SessionState state) {
  store_->QueueLocked(this, [this, state] {
    SessionListener listener;
    {
      std::lock_guard lock(listener_mutex_);
      listener = listener_;
    }
    if (listener) listener(state);
  });
}

CoordinationError MemoryCoordination::Create(const std::string& path, const std::string& data, CreateMode mode) {
  std::lock_guard lock(store_->mutex_);
  if (auto error = CheckCallLocked("create", path); !error.ok()) return error;
  if (data.size() > kMaxWriteBytes) return Error(Code::kError, "create", path, "data over the size limit");
  auto error = store_->CreateLocked(path, data, mode == CreateMode::kEphemeral ? session_id_ : 0);
  if (LoseReplyLocked()) return Error(Code::kConnectionLoss, "create", path, "connection loss (reply lost)");
  return error;
}

CoordinationError MemoryCoordination::CreateRecursive(const std::string& path) {
  std::lock_guard lock(store_->mutex_);
  if (auto error = CheckCallLocked("create", path); !error.ok()) return error;
  for (size_t slash = path.find('/', 1);; slash = path.find('/', slash + 1)) {
    const std::string prefix = path.substr(0, slash);
    if (prefix != "/") {
      auto error = store_->CreateLocked(prefix, "", 0);
      if (!error.ok() && error.code != Code::kNodeExists) return error;
    }
    if (slash == std::string::npos) break;
  }
  if (LoseReplyLocked()) return Error(Code::kConnectionLoss, "create", path, "connection loss (reply lost)");
  return {};
}

CoordinationError MemoryCoordination::Get(const std::string& path, NodeData* out, WatchCallback watch) {
  std::lock_guard lock(store_->mutex_);
  if (auto error = CheckCallLocked("get", path); !error.ok()) return error;
  if (LoseReplyLocked()) return Error(Code::kConnectionLoss, "get", path, "connection loss (reply lost)");
  // As ZooKeeper's exists(): the watch is set whether or not the node exists.
  if (watch) store_->data_watches_.emplace(path, MemoryCoordinationStore::Watch{this, std::move(watch)});
  auto node = store_->nodes_.find(path);
  if (node == store_->nodes_.end()) return Error(Code::kNoNode, "get", path, "no node");
  out->data = node->second.data;
  out->version = node->second.version;
  return {};
}

CoordinationError MemoryCoordination::Set(const std::string& path, const std::string& data, int32_t version) {
  std::lock_guard lock(store_->mutex_);
  if (auto error = CheckCallLocked("set", path); !error.ok()) return error;
  if (data.size() > kMaxWriteBytes) return Error(Code::kError, "set", path, "data over the size limit");
  auto node = store_->nodes_.find(path);
  CoordinationError error;
  if (node == store_->nodes_.end()) {
    error = Error(Code::kNoNode, "set", path, "no node");
  } else if (version != -1 && version != node->second.version) {
    error = Error(Code::kBadVersion, "set", path, Msg("bad version (expected ", version, ", node has ",
                                                        node->second.version, ")"));
  } else {
    node->second.data = data;
    ++node->second.version;
    store_->TriggerLocked(&store_->data_watches_, path);
  }
  if (LoseReplyLocked()) return Error(Code::kConnectionLoss, "set", path, "connection loss (reply lost)");
  return error;
}

CoordinationError MemoryCoordination::Delete(const std::string& path, int32_t version) {
  std::lock_guard lock(store_->mutex_);
  if (auto error = CheckCallLocked("delete", path); !error.ok()) return error;
  auto node = store_->nodes_.find(path);
  CoordinationError error;
  if (path == "/") {
    error = Error(Code::kError, "delete", path, "bad arguments (the root)");
  } else if (node == store_->nodes_.end()) {
    error = Error(Code::kNoNode, "delete", path, "no node");
  } else if (version != -1 && version != node->second.version) {
    error = Error(Code::kBadVersion, "delete", path, Msg("bad version (expected ", version, ", node has ",
                                                           node->second.version, ")"));
  } else if (!node->second.children.empty()) {
    error = Error(Code::kNotEmpty, "delete", path, "not empty");
  } else {
    store_->DeleteLocked(path);
  }
  if (LoseReplyLocked()) return Error(Code::kConnectionLoss, "delete", path, "connection loss (reply lost)");
  return error;
}

CoordinationError MemoryCoordination::Children(const std::string& path, std::vector<std::string>* out,
                                               WatchCallback watch) {
  std::lock_guard lock(store_->mutex_);
  if (auto error = CheckCallLocked("children", path); !error.ok()) return error;
  if (LoseReplyLocked()) return Error(Code::kConnectionLoss, "children", path, "connection loss (reply lost)");
  auto node = store_->nodes_.find(path);
  if (node == store_->nodes_.end()) return Error(Code::kNoNode, "children", path, "no node");
  out->assign(node->second.children.begin(), node->second.children.end());
  if (watch) store_->child_watches_.emplace(path, MemoryCoordinationStore::Watch{this, std::move(watch)});
  return {};
}

SessionState MemoryCoordination::state() const {
  std::lock_guard lock(store_->mutex_);
  return state_;
}

void MemoryCoordination::SetSessionListener(SessionListener listener) {
  std::lock_guard lock(listener_mutex_);
  listener_ = std::move(listener);
}

arrow::Status MemoryCoordination::Reconnect() {
  std::lock_guard lock(store_->mutex_);
  if (state_ != SessionState::kExpired) return arrow::Status::OK();
  if (fail_count_ > 0) {
    --fail_count_;
    return Unavailable(Msg("ZooKeeper: cannot open a new session at ", description(), ": injected fault"));
  }
  session_id_ = store_->next_session_id_++;
  state_ = SessionState::kConnected;
  NotifyLocked(SessionState::kConnected);
  return arrow::Status::OK();
}

std::string MemoryCoordination::description() const { return "memory://" + store_->name(); }

void MemoryCoordination::ExpireSession() {
  std::lock_guard lock(store_->mutex_);
  if (state_ == SessionState::kExpired) return;
  state_ = SessionState::kExpired;
  NotifyLocked(SessionState::kExpired);
  std::vector<WatchCallback> pending = store_->TakeWatchesLocked(this);
  for (auto& callback : held_back_) pending.push_back(std::move(callback));
  held_back_.clear();
  for (auto& callback : pending) store_->QueueLocked(this, std::move(callback));
  store_->DeleteEphemeralsLocked(session_id_);
}

void MemoryCoordination::Disconnect() {
  std::lock_guard lock(store_->mutex_);
  if (state_ != SessionState::kConnected) return;
  state_ = SessionState::kDisconnected;
  NotifyLocked(SessionState::kDisconnected);
}

void MemoryCoordination::Restore() {
  std::lock_guard lock(store_->mutex_);
  if (state_ != SessionState::kDisconnected) return;
  state_ = SessionState::kConnected;
  NotifyLocked(SessionState::kConnected);
  for (auto& callback : held_back_) store_->QueueLocked(this, std::move(callback));
  held_back_.clear();
}

void MemoryCoordination::FailNext(CoordinationCode code, int count) {
  std::lock_guard lock(store_->mutex_);
  fail_code_ = code;
  fail_count_ = count;
}

void MemoryCoordination::LoseNextReplies(int count) {
  std::lock_guard lock(store_->mutex_);
  lose_count_ = count;
}

int64_t MemoryCoordination::session_id() const {
  std::lock_guard lock(store_->mutex_);
  return session_id_;
}

}  // namespace squadron::cluster
