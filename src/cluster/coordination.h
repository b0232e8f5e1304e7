// The coordination service behind a cluster: a small tree of znodes with
// ephemeral nodes, versions and one-shot watches. ZooKeeper implements it
// (cluster/zookeeper/); an in-memory one with fault injection serves unit
// tests (cluster/memory_coordination.h).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <arrow/result.h>
#include <arrow/status.h>

namespace squadron::cluster {

/// Outcome of one coordination call, as ZooKeeper distinguishes them.
enum class CoordinationCode {
  kOk,
  /// The node does not exist (Get, Set, Delete, Children).
  kNoNode,
  /// The node already exists (Create).
  kNodeExists,
  /// The expected version did not match (Set, Delete).
  kBadVersion,
  /// Delete of a node that has children.
  kNotEmpty,
  /// The connection is down; the call may or may not have taken effect.
  kConnectionLoss,
  /// The session expired: every ephemeral node of it is gone.
  kSessionExpired,
  /// Anything else (bad arguments, authentication, a closed handle).
  kError,
};

/// A call's code, plus a message naming the path for logs and errors.
struct CoordinationError {
  CoordinationCode code = CoordinationCode::kOk;
  std::string message;

  bool ok() const { return code == CoordinationCode::kOk; }
  /// UNAVAILABLE for connection loss and expiry, INTERNAL-ish otherwise.
  arrow::Status ToStatus() const;
};

/// A node's data and version.
struct NodeData {
  std::string data;
  /// Incremented by every Set; pass it back to Set/Delete for compare-and-set.
  int32_t version = 0;
};

/// Where the session stands. Transitions are reported to the session listener.
enum class SessionState {
  /// Connected; ephemerals and watches are in place.
  kConnected,
  /// The connection dropped; the client retries, and the session (with its
  /// ephemerals) survives if it reconnects within the session timeout.
  kDisconnected,
  /// The session is gone for good: ephemerals are deleted by the server, and
  /// every pending watch fires once (re-reads then fail until Reconnect()).
  /// Call Reconnect() for a new session.
  kExpired,
};

const char* SessionStateName(SessionState state);

/// One-shot watch: runs once, on the coordination client's own thread, when
/// the watched node (or child list) changes, or when the session expires.
/// It must only queue work: never block and never call back into
/// Coordination (the client's thread would deadlock).
using WatchCallback = std::function<void()>;

/// Called on the client's thread on every session state change; same rules
/// as WatchCallback.
using SessionListener = std::function<void(SessionState)>;

/// The coordination tree. Paths are absolute ("/squadron/members/n1").
///
/// Thread-safe: every method may be called from any thread except the
/// client's own callback thread.
class Coordination {
 public:
  enum class CreateMode { kPersistent, kEphemeral };

  virtual ~Coordination() = default;

  /// Creates `path` with `data`. kNodeExists if it is there; kNoNode if the
  /// parent is missing.
  virtual CoordinationError Create(const std::string& path, const std::string& data, CreateMode mode) = 0;

  /// Creates `path` and its missing ancestors as empty persistent nodes; an
  /// existing node is fine.
  virtual CoordinationError CreateRecursive(const std::string& path) = 0;

  /// Reads `path`. kNoNode if absent. `watch`, if set, fires once on the
  /// next change or deletion of the node (and is set also when it is absent,
  /// firing on creation).
  virtual CoordinationError Get(const std::string& path, NodeData* out, WatchCallback watch = {}) = 0;

  /// Writes `path` if its version is `version` (-1: any).
  virtual CoordinationError Set(const std::string& path, const std::string& data, int32_t version = -1) = 0;

  /// Deletes `path` if its version is `version` (-1: any).
  virtual CoordinationError Delete(const std::string& path, int32_t version = -1) = 0;

  /// Lists the names (not paths) of `path`'s children. `watch`, if set, fires
  /// once when a child is added or removed, or the node is deleted.
  virtual CoordinationError Children(const std::string& path, std::vector<std::string>* out,
                                     WatchCallback watch = {}) = 0;

  virtual SessionState state() const = 0;

  /// Sets the listener for session state changes (replaces any earlier one).
  /// Set it before relying on notifications; it may fire at once.
  virtual void SetSessionListener(SessionListener listener) = 0;

  /// After kExpired: opens a new session. Blocks up to the connect timeout.
  virtual arrow::Status Reconnect() = 0;

  /// The session timeout the server granted.
  virtual std::chrono::milliseconds session_timeout() const = 0;

  /// "zk://host:port,.../path" or "memory://name", for logs.
  virtual std::string description() const = 0;
};

/// A parsed `zk://HOST:PORT[,HOST:PORT...]/PATH`.
struct ZooKeeperAddress {
  /// "host:port,host:port" as the ZooKeeper client takes it.
  std::string hosts;
  /// The cluster's root path, e.g. "/squadron" (never "/" or empty; no
  /// trailing slash).
  std::string root;
};

/// Parses a --cluster URI. Invalid, naming what is wrong, for anything else.
arrow::Result<ZooKeeperAddress> ParseZooKeeperAddress(const std::string& uri);

struct ZooKeeperOptions {
  /// Requested session timeout; the server clamps it to its min/max.
  std::chrono::milliseconds session_timeout{std::chrono::seconds(10)};
  /// How long Connect (and Reconnect) waits for the first connection.
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(15)};
};

/// Connects to ZooKeeper (the C client, multi-threaded). UNAVAILABLE naming
/// the hosts when no server answers within the connect timeout.
arrow::Result<std::unique_ptr<Coordination>> ConnectZooKeeper(const ZooKeeperAddress& address,
                                                              const ZooKeeperOptions& options);

}  // namespace squadron::cluster
