// The flight manager: one node's view of a cluster of Flight services
// coordinated through ZooKeeper. It keeps the member list, the registry of
// distributed queries, and the exchange through which producers push a
// query's partitions into serving nodes, which stream them to clients.
//
// A service built on it (Squadron's Flight SQL server, examples/) hands it
// the Flight calls it recognises (IsExchangePut, ExchangeQueryId,
// IsExchangeAction) and begins queries with BeginQuery. The wire protocol is
// in docs/exchange-protocol.md; the design in docs/cluster.md.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <arrow/flight/server.h>
#include <arrow/flight/types.h>
#include <arrow/result.h>
#include <arrow/status.h>

#include "cluster/coordination.h"
#include "cluster/query_record.h"
#include "cluster/spool.h"

namespace squadron::cluster {

struct FlightManagerOptions {
  /// `zk://HOST:PORT[,HOST:PORT...]/PATH`: the ZooKeeper ensemble and the
  /// cluster's root znode. Required.
  std::string cluster_uri;
  /// This node's id in the member list; unique in the cluster. Required.
  std::string node_id;
  /// The URI clients and peers reach this node at (`grpc://host:port`). Required.
  std::string advertise_uri;
  /// What this node runs, shown to operators ("duckdb", "spark", "parquet-example").
  std::string engine;
  std::string version;
  /// The cluster secret (the ticket secret), at least 16 bytes; the same on
  /// every node. Only its fingerprint is written to ZooKeeper.
  std::string secret;
  /// Where pushed batches wait for their reader.
  SpoolOptions spool;
  /// Requested ZooKeeper session timeout: a killed node leaves the member
  /// list (and its queries fail) this long after it died.
  std::chrono::milliseconds session_timeout{std::chrono::seconds(10)};
  /// Finished queries stay in the registry (and their data on the serving
  /// nodes, until read) this long.
  std::chrono::milliseconds result_ttl{std::chrono::minutes(5)};
  /// A query's deadline when its plan gives none.
  std::chrono::milliseconds default_query_timeout{std::chrono::hours(1)};
  /// How often the node's load is refreshed in its member znode, and
  /// deadlines are checked.
  std::chrono::milliseconds refresh_interval{std::chrono::seconds(1)};
  /// This node's load (e.g. queries running); called on the refresh thread.
  std::function<int64_t()> load;
};

/// One live node, as its member znode says.
struct MemberInfo {
  std::string id;
  std::string uri;
  std::string engine;
  std::string version;
  int64_t load = 0;
  /// When the process started, and when it registered with its current
  /// ZooKeeper session (later after a rejoin).
  int64_t started_ms = 0;
  int64_t registered_ms = 0;
  /// Random, one per process: tells a node's own member from another
  /// process's under the same id, even one started in the same millisecond.
  std::string instance;
  /// Shutting down: serves what it has, takes no new queries.
  bool draining = false;
};

/// What a coordinator knows about a query before any producer runs.
struct QueryPlan {
  std::shared_ptr<arrow::Schema> schema;
  /// Partitions the producers will push, numbered 0..partitions-1; >= 1.
  int32_t partitions = 1;
  /// A sorted result: contiguous partition ranges per node, endpoints in
  /// partition order, FlightInfo.ordered.
  bool ordered = false;
  /// Serving nodes wanted (the least loaded live ones); unset: all.
  std::optional<int> nodes;
  /// From now to the end of reading; unset: default_query_timeout.
  std::optional<std::chrono::milliseconds> timeout;
  /// Shown by `squadron cluster status` (e.g. the SQL).
  std::string description;
  /// The user the result belongs to: its tickets name them ("" without authentication).
  std::string owner;
};

/// A query just begun: what its producers and its client need.
struct StartedQuery {
  std::string id;
  /// Lets producers push into (and complete or fail) this query only.
  std::string producer_credential;
  /// The serving nodes, in endpoint order.
  std::vector<MemberInfo> serving;
  /// For each partition, its serving node's index in `serving`.
  std::vector<int32_t> assignment;
  /// One endpoint per serving node, with a signed ticket and its URI.
  std::unique_ptr<arrow::flight::FlightInfo> info;
};

/// The members and queries of a cluster, for `squadron cluster status`.
struct ClusterStatus {
  std::vector<MemberInfo> members;
  std::vector<QueryRecord> queries;
};

/// Reads a cluster's members and queries straight from ZooKeeper.
arrow::Result<ClusterStatus> ReadClusterStatus(const std::string& cluster_uri,
                                               std::chrono::milliseconds timeout);

/// Prefix of a producer DoPut's command descriptor.
inline constexpr std::string_view kExchangePutPrefix = "squadron.exchange.put:";
/// Actions of the exchange protocol.
inline constexpr std::string_view kBeginAction = "squadron.exchange.begin";
inline constexpr std::string_view kCompleteAction = "squadron.exchange.complete";
inline constexpr std::string_view kFailAction = "squadron.exchange.fail";
inline constexpr std::string_view kPlanAction = "squadron.exchange.plan";

/// A query whose coordinator is known (this node) but whose partitions and
/// schema its producers' driver gives later, with squadron.exchange.plan:
/// Spark decides how many tasks a job has only when it plans it.
struct ReservedQuery {
  std::string id;
  /// What the driver must present with squadron.exchange.plan (and its
  /// producers with every push, complete and fail).
  std::string producer_credential;
  /// Becomes ready when the driver planned the query (the begun query) or
  /// the reservation was withdrawn (the error given to WithdrawReservation).
  std::shared_future<arrow::Result<std::shared_ptr<StartedQuery>>> started;
};

/// One node's membership in a cluster. Thread-safe.
///
/// Threads: a ZooKeeper client thread (callbacks only queue work), one
/// event thread that applies watched changes, and one refresh thread
/// (load, deadlines, expiry of finished queries).
class FlightManager {
 public:
  /// Joins the cluster: connects to ZooKeeper, checks the secret's
  /// fingerprint (a different secret is refused with an error saying so),
  /// registers this node as an ephemeral member and starts watching.
  /// `coordination`: null to connect to options.cluster_uri; tests pass an
  /// in-memory one.
  static arrow::Result<std::unique_ptr<FlightManager>> Join(FlightManagerOptions options,
                                                            std::unique_ptr<Coordination> coordination = nullptr);

  /// Leaves the cluster (removes the member znode), stops the threads and
  /// fails this node's streams.
  ~FlightManager();

  const std::string& node_id() const;
  const std::string& advertise_uri() const;

  /// OK while the node holds a ZooKeeper session; UNAVAILABLE saying why
  /// otherwise (new distributed queries are refused then; running streams
  /// go on).
  arrow::Status CheckAvailable() const;

  /// The live members, this node included, as last seen.
  std::vector<MemberInfo> Members() const;

  /// Starts shutting down: the member znode says so, and other nodes plan
  /// and route no new queries here; streams and pushes go on. Call before
  /// draining the Flight server, then destroy the manager.
  void Drain();

  /// Plans and registers a query (RUNNING), this node coordinating it.
  /// UNAVAILABLE without a session or without live nodes.
  arrow::Result<StartedQuery> BeginQuery(const QueryPlan& plan,
                                         const arrow::flight::FlightDescriptor& descriptor);

  /// Reserves a query id for a plan given later by its driver
  /// (squadron.exchange.plan, docs/exchange-protocol.md step 1b). `plan`'s
  /// partitions and schema are ignored; the rest (ordered, nodes, timeout,
  /// description) applies. UNAVAILABLE without a session.
  arrow::Result<ReservedQuery> ReserveQuery(const QueryPlan& plan, const arrow::flight::FlightDescriptor& descriptor);

  /// Withdraws a reservation not planned yet: its `started` becomes `why`.
  /// False if it was planned (or withdrawn) already.
  bool WithdrawReservation(const std::string& query_id, const arrow::Status& why);

  /// Marks a query COMPLETED with the committed attempt of every partition.
  /// Invalid unless each partition appears exactly once.
  arrow::Status CompleteQuery(const std::string& query_id, const std::vector<CommittedPartition>& committed);

  /// Marks a query FAILED while it runs: its readers get `reason` with the
  /// status of `kind` (UNKNOWN for kProducer; see FailureKind).
  arrow::Status FailQuery(const std::string& query_id, const std::string& reason,
                          FailureKind kind = FailureKind::kProducer);

  /// Marks a query CANCELLED on every node. False if it had ended already.
  arrow::Result<bool> CancelQuery(const std::string& query_id, const std::string& reason);

  /// The query's record as ZooKeeper has it now.
  arrow::Result<QueryRecord> GetQuery(const std::string& query_id);

  /// Whether a DoPut descriptor is a producer's push.
  static bool IsExchangePut(const arrow::flight::FlightDescriptor& descriptor);
  /// Receives one producer stream (docs/exchange-protocol.md, step 2).
  arrow::Status HandlePut(const arrow::flight::ServerCallContext& context,
                          std::unique_ptr<arrow::flight::FlightMessageReader> reader,
                          std::unique_ptr<arrow::flight::FlightMetadataWriter> writer);

  /// The query id of an exchange ticket's result id (what TicketCodec
  /// decodes), or nullopt for other tickets.
  static std::optional<std::string> ExchangeQueryId(std::string_view result_id);
  /// Decodes and verifies a ticket issued by BeginQuery (on any node);
  /// nullopt if it is not an exchange ticket.
  arrow::Result<std::optional<std::string>> DecodeTicket(const arrow::flight::Ticket& ticket) const;
  /// Streams this node's share of a query (one reader per node and query).
  arrow::Status HandleGet(const arrow::flight::ServerCallContext& context, const std::string& query_id,
                          std::unique_ptr<arrow::flight::FlightDataStream>* stream);

  static bool IsExchangeAction(std::string_view type);
  /// Begin, complete and fail, from drivers and producers (step 1 and 3).
  arrow::Status HandleAction(const arrow::flight::ServerCallContext& context, const arrow::flight::Action& action,
                             std::unique_ptr<arrow::flight::ResultStream>* result);

  /// Cancels the query a FlightInfo's tickets name. nullopt if they name
  /// no distributed query.
  arrow::Result<std::optional<bool>> CancelFlightInfo(const arrow::flight::FlightInfo& info);

  SpoolStats spool_stats() const;

 private:
  class Impl;
  explicit FlightManager(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace squadron::cluster
