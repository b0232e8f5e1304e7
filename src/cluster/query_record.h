// A distributed query as the registry keeps it: the JSON in
// <root>/queries/<query-id> that every serving node watches.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <arrow/result.h>
#include <arrow/status.h>

#include "cluster/spool.h"

namespace squadron::cluster {

enum class QueryState { kRunning, kCompleted, kFailed, kCancelled };

const char* QueryStateName(QueryState state);

/// Base64 (RFC 4648; the URL-safe alphabet is accepted when decoding), for
/// binary values inside the JSON of records and exchange messages.
std::string Base64(const std::string& bytes);
arrow::Result<std::string> Base64Decode(std::string_view text);

/// How a failed query's readers see it (docs/exchange-protocol.md).
enum class FailureKind {
  /// A node or the coordinator left the cluster: UNAVAILABLE.
  kNodeLost,
  /// The driver or a producer failed it: UNKNOWN with its reason.
  kProducer,
  /// The engine's job failed on the query's data or SQL (a cast, a
  /// division by zero, a bad argument): INVALID_ARGUMENT with its reason.
  kInvalid,
  /// Its deadline passed: DEADLINE_EXCEEDED.
  kDeadline,
  /// Squadron found an inconsistency (e.g. a listed partition missing), or
  /// the engine's job failed for a reason of its own: INTERNAL.
  kInternal,
};

struct QueryRecord {
  std::string id;
  QueryState state = QueryState::kRunning;
  /// For kFailed.
  FailureKind failure = FailureKind::kProducer;
  /// Why it failed or who cancelled it.
  std::string reason;
  /// Node id of the coordinator (the node that began it), and the
  /// registration of its member znode then: a later registration (a restart
  /// or a rejoin) no longer holds the query's lock.
  std::string coordinator;
  int64_t coordinator_registered_ms = 0;
  /// Serving nodes: ids and URIs, in endpoint order.
  std::vector<std::string> nodes;
  std::vector<std::string> node_uris;
  /// Index into `nodes` of each partition's serving node.
  std::vector<int32_t> assignment;
  bool ordered = false;
  /// The result schema, as an IPC schema message.
  std::string schema_ipc;
  std::string description;
  int64_t created_ms = 0;
  int64_t deadline_ms = 0;
  int64_t finished_ms = 0;
  /// For kCompleted: the committed (partition, attempt) pairs of each node.
  std::map<std::string, std::vector<CommittedPartition>> committed;
  /// Nodes whose reader has served their whole share.
  std::vector<std::string> served;

  /// Failed or cancelled: nothing more will be served.
  bool ended() const { return state == QueryState::kFailed || state == QueryState::kCancelled; }
  /// Completed, and every serving node has served its share: nothing can
  /// fail or cancel it any more.
  bool done() const;
  /// Version of the znode this record was read from (not serialized);
  /// newer records replace older ones in a node's view, never the reverse.
  int32_t znode_version = -1;
  int32_t partitions_count() const { return static_cast<int32_t>(assignment.size()); }
  /// The partitions planned on `node`, in partition order.
  std::vector<int32_t> PartitionsOf(const std::string& node) const;
  /// Index of `node` in `nodes`, or -1.
  int NodeIndex(const std::string& node) const;
  bool HasServed(const std::string& node) const;

  /// What a reader gets once the query is past RUNNING; nullopt while running.
  std::optional<QueryOutcome> OutcomeFor(const std::string& node) const;
  /// The error readers see for a failed or cancelled query.
  arrow::Status ErrorStatus() const;

  std::string ToJson() const;
  static arrow::Result<QueryRecord> FromJson(const std::string& json);
};

}  // namespace squadron::cluster
