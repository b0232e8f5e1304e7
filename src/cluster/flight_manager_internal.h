// Private to cluster/: FlightManager::Impl, defined across flight_manager.cc
// (membership, registry, events) and exchange.cc (the Flight calls).
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "cluster/credentials.h"
#include "cluster/flight_manager.h"
#include "common/periodic_task.h"
#include "flight/ticket.h"

namespace squadron::cluster {

int64_t NowMillis();

/// Runs queued work on one thread, in order. Callbacks of the coordination
/// client post here, so they never block its thread.
class EventQueue {
 public:
  EventQueue();
  ~EventQueue();
  void Post(std::function<void()> work);
  void Stop();

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;  // guarded by mutex_
  bool stopping_ = false;                    // guarded by mutex_
  std::thread thread_;
};

class FlightManager::Impl {
 public:
  Impl(FlightManagerOptions options, ZooKeeperAddress address, std::unique_ptr<Coordination> coordination,
       std::unique_ptr<Spool> spool);
  ~Impl();

  arrow::Status Start();

  // --- membership (flight_manager.cc) ---
  arrow::Status CheckFingerprint();
  arrow::Status Register();
  // A watch callback that queues `work` on the event thread, unless a
  // reconnect has re-armed every watch since (generation_).
  WatchCallback Rewatch(std::function<void()> work);
  // Re-reads members, queries and every tracked query, arming fresh watches.
  void RefreshAll();
  void RefreshMembers();
  void OnSession(SessionState state);
  void Rejoin();
  void Refresh();
  std::string MemberJson(int64_t load) const;
  arrow::Status CheckAvailable() const;
  std::vector<MemberInfo> Members() const;

  // --- registry (flight_manager.cc) ---
  std::string QueryPath(const std::string& id) const { return queries_path_ + "/" + id; }
  // `id`: a reserved id (ReserveQuery); empty: a new one.
  arrow::Result<StartedQuery> BeginQuery(const QueryPlan& plan, const arrow::flight::FlightDescriptor& descriptor,
                                         const std::string& id = "");
  // Applies `change` to the record with compare-and-set, retrying on races.
  // `change` returns false to leave the record as it is.
  arrow::Result<QueryRecord> Update(const std::string& id, const std::function<bool(QueryRecord*)>& change);
  // Fails a query unless it has ended, is done, or (`lost_node` set) that
  // node has served its share already.
  arrow::Status Fail(const std::string& id, FailureKind kind, const std::string& reason,
                     const std::string& lost_node = "");
  arrow::Status Complete(const std::string& id, const std::vector<CommittedPartition>& committed);
  // The attempt that committed `partition` of a query on this node, if one did.
  std::optional<int32_t> CommittedAttempt(const std::string& query_id, int32_t partition) const;
  // Serves a push of a partition that `winner` committed already: drops its
  // batches and answers its commit with {"committed": true, "committed_attempt": winner}.
  arrow::Status DeferToCommitted(const std::string& query_id, int32_t partition, int32_t attempt, int32_t winner,
                                 arrow::flight::FlightMessageReader& reader,
                                 arrow::flight::FlightMetadataWriter& writer);
  arrow::Result<bool> Cancel(const std::string& id, const std::string& reason);
  arrow::Result<QueryRecord> Load(const std::string& id);
  // Reads a query this node serves or coordinates and keeps it in view:
  // opens its spool area and watches its znode and its coordinator's lock.
  arrow::Result<QueryRecord> Track(const std::string& id);
  void Apply(const QueryRecord& record);
  void RefreshQuery(const std::string& id);
  void RefreshQueries();
  void CheckLock(const std::string& id);
  bool CoordinatorGone(const QueryRecord& record);
  void Forget(const std::string& id);
  void OnMemberLost(const MemberInfo& member);
  void MarkServed(const std::string& id);
  void Sweep();

  // --- exchange (exchange.cc) ---
  arrow::Status HandlePut(const arrow::flight::ServerCallContext& context,
                          std::unique_ptr<arrow::flight::FlightMessageReader> reader,
                          std::unique_ptr<arrow::flight::FlightMetadataWriter> writer);
  arrow::Status HandleGet(const arrow::flight::ServerCallContext& context, const std::string& query_id,
                          std::unique_ptr<arrow::flight::FlightDataStream>* stream);
  arrow::Status HandleAction(const arrow::flight::ServerCallContext& context, const arrow::flight::Action& action,
                             std::unique_ptr<arrow::flight::ResultStream>* result);
  arrow::Status CheckProducer(const std::string& query_id, const std::string& credential) const;

  const FlightManagerOptions options_;
  const ZooKeeperAddress address_;
  const ClusterCredentials credentials_;
  const flight::TicketCodec tickets_;
  const std::string members_path_;
  const std::string queries_path_;
  const int64_t started_ms_;
  const std::string instance_;  // MemberInfo::instance
  std::unique_ptr<Coordination> coordination_;
  std::unique_ptr<Spool> spool_;

  mutable std::mutex mutex_;
  std::map<std::string, MemberInfo> members_;   // guarded by mutex_
  bool available_ = false;                      // guarded by mutex_
  std::string unavailable_reason_;              // guarded by mutex_
  std::map<std::string, QueryRecord> tracked_;  // guarded by mutex_: queries this node serves or coordinates
  struct Reservation {
    QueryPlan plan;
    arrow::flight::FlightDescriptor descriptor;
    std::promise<arrow::Result<std::shared_ptr<StartedQuery>>> started;
  };
  std::map<std::string, std::unique_ptr<Reservation>> reserved_;  // guarded by mutex_: queries awaiting their plan
  std::set<std::string> watching_;              // guarded by mutex_: queries with armed watches
  std::atomic<bool> draining_{false};
  std::atomic<uint64_t> generation_{0};       // bumped when every watch is re-armed
  bool expired_ = false;                        // guarded by mutex_: the session expired, not yet rejoined
  std::atomic<int64_t> registered_ms_{0};      // when the current member znode was created
  std::atomic<int64_t> last_load_{-1};         // written by the refresh thread
  int64_t last_full_sweep_ms_ = 0;              // refresh thread only
  std::atomic<bool> stopping_{false};

  // Declared last: their threads use everything above.
  EventQueue events_;
  PeriodicTask refresh_;
};

}  // namespace squadron::cluster
