// The flight manager: membership, the query registry and their events.
#include "cluster/flight_manager_internal.h"

#include <algorithm>
#include <random>

#include <arrow/ipc/api.h>
#include <arrow/io/memory.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "common/status.h"
#include "common/text.h"

namespace squadron::cluster {

namespace fl = arrow::flight;
using Json = nlohmann::json;

int64_t NowMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// --- EventQueue ---------------------------------------------------------------------

EventQueue::EventQueue() {
  thread_ = std::thread([this] {
    std::unique_lock<std::mutex> lock(mutex_);
    while (true) {
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      auto work = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      work();
      lock.lock();
    }
  });
}

EventQueue::~EventQueue() { Stop(); }

void EventQueue::Post(std::function<void()> work) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (stopping_) return;
  queue_.push_back(std::move(work));
  cv_.notify_one();
}

void EventQueue::Stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

// --- helpers ---------------------------------------------------------------------

namespace {

arrow::Result<MemberInfo> ParseMember(const std::string& id, const std::string& data) {
  try {
    const Json json = Json::parse(data);
    MemberInfo member;
    member.id = id;
    member.uri = json.at("uri").get<std::string>();
    member.engine = json.value("engine", "");
    member.version = json.value("version", "");
    member.load = json.value("load", int64_t{0});
    member.started_ms = json.value("started_ms", int64_t{0});
    member.registered_ms = json.value("registered_ms", member.started_ms);
    member.draining = json.value("draining", false);
    member.instance = json.value("instance", "");
    return member;
  } catch (const std::exception& e) {
    return InvalidArgument("Invalid member znode ", id, ": ", e.what());
  }
}

std::string NewQueryId() {
  static constexpr char kHex[] = "0123456789abcdef";
  const std::string bytes = flight::RandomBytes(8);
  std::string id = "q-";
  for (unsigned char c : bytes) {
    id.push_back(kHex[c >> 4]);
    id.push_back(kHex[c & 0xf]);
  }
  return id;
}

}  // namespace

// --- Impl: start and membership ---------------------------------------------------

WatchCallback FlightManager::Impl::Rewatch(std::function<void()> work) {
  // A watch set in an earlier generation (before a reconnect re-armed
  // everything) is dropped: each znode keeps exactly one chain of watches.
  return [this, generation = generation_.load(), work = std::move(work)] {
    events_.Post([this, generation, work] {
      if (generation == generation_.load() && !stopping_) work();
    });
  };
}

void FlightManager::Impl::RefreshAll() {
  ++generation_;
  RefreshMembers();
  RefreshQueries();
  std::vector<std::string> ids;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& [id, record] : tracked_) ids.push_back(id);
  }
  for (const auto& id : ids) {
    RefreshQuery(id);
    CheckLock(id);
  }
}

FlightManager::Impl::Impl(FlightManagerOptions options, ZooKeeperAddress address,
                          std::unique_ptr<Coordination> coordination, std::unique_ptr<Spool> spool)
    : options_(std::move(options)),
      address_(std::move(address)),
      credentials_(options_.secret),
      tickets_(options_.secret),
      members_path_(address_.root + "/members"),
      queries_path_(address_.root + "/queries"),
      started_ms_(NowMillis()),
      instance_(NewQueryId().substr(2)),
      coordination_(std::move(coordination)),
      spool_(std::move(spool)) {}

FlightManager::Impl::~Impl() {
  stopping_ = true;
  {
    // Whoever waits for a plan learns the node is going away.
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& [id, reservation] : reserved_) {
      reservation->started.set_value(Unavailable(Msg("Node ", options_.node_id, " left the cluster before distributed query ",
                                                     id, " was planned")));
    }
    reserved_.clear();
  }
  refresh_.Stop();
  events_.Stop();  // work still queued is dropped; work running finishes
  // Leaving: peers see the member go at once instead of after the session timeout.
  auto error = coordination_->Delete(members_path_ + "/" + options_.node_id);
  spdlog::info("event=cluster_left node={} member_removed={}", options_.node_id, error.ok());
  // No callback may reach the (stopped) event queue once this body ends.
  coordination_->SetSessionListener({});
  coordination_.reset();
  std::vector<std::string> ids;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& [id, record] : tracked_) ids.push_back(id);
  }
  for (const auto& id : ids) spool_->DropQuery(id);
}

arrow::Status FlightManager::Impl::Start() {
  coordination_->SetSessionListener([this](SessionState state) {
    events_.Post([this, state] { OnSession(state); });
  });
  for (const auto& path : {members_path_, queries_path_}) {
    auto error = coordination_->CreateRecursive(path);
    if (!error.ok()) return error.ToStatus();
  }
  ARROW_RETURN_NOT_OK(CheckFingerprint());
  ARROW_RETURN_NOT_OK(Register());
  RefreshMembers();
  RefreshQueries();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    available_ = true;
  }
  refresh_.Start(options_.refresh_interval, [this] { Refresh(); });
  spdlog::info("event=cluster_joined node={} uri={} cluster={} members={} session_timeout_ms={}",
               options_.node_id, options_.advertise_uri, options_.cluster_uri, Members().size(),
               coordination_->session_timeout().count());
  return arrow::Status::OK();
}

arrow::Status FlightManager::Impl::CheckFingerprint() {
  const std::string path = address_.root + "/secret-fingerprint";
  const std::string mine = credentials_.Fingerprint();
  auto error = coordination_->Create(path, mine, Coordination::CreateMode::kPersistent);
  if (error.ok()) return arrow::Status::OK();
  if (error.code != CoordinationCode::kNodeExists) return error.ToStatus();
  NodeData data;
  error = coordination_->Get(path, &data);
  if (!error.ok()) return error.ToStatus();
  if (!ClusterCredentials::Matches(data.data, mine)) {
    return arrow::Status::Invalid(
        "Cannot join cluster ", options_.cluster_uri,
        ": this node's ticket secret (--ticket-secret-file) differs from the one the cluster's nodes "
        "share (its fingerprint in ", path,
        " does not match). Start every node with the same secret file");
  }
  return arrow::Status::OK();
}

std::string FlightManager::Impl::MemberJson(int64_t load) const {
  return Json{{"id", options_.node_id},      {"uri", options_.advertise_uri}, {"engine", options_.engine},
              {"version", options_.version}, {"load", load},                  {"started_ms", started_ms_},
              {"registered_ms", registered_ms_.load()}, {"draining", draining_.load()},
              {"instance", instance_}}
      .dump();
}

arrow::Status FlightManager::Impl::Register() {
  const std::string path = members_path_ + "/" + options_.node_id;
  const int64_t load = options_.load ? options_.load() : 0;
  // A node restarted within the session timeout finds its old session's
  // member still there: wait for it to expire rather than fail.
  const auto deadline = std::chrono::steady_clock::now() + coordination_->session_timeout() +
                        std::chrono::seconds(2);
  // Strictly increasing: each registration is told apart from the last.
  registered_ms_ = std::max(NowMillis(), registered_ms_.load() + 1);
  while (true) {
    auto error = coordination_->Create(path, MemberJson(load), Coordination::CreateMode::kEphemeral);
    if (error.ok()) break;
    if (error.code == CoordinationCode::kNodeExists) {
      // Ours already, when an earlier Create reported a lost connection but
      // took effect.
      NodeData existing;
      if (coordination_->Get(path, &existing).ok()) {
        auto member = ParseMember(options_.node_id, existing.data);
        if (member.ok() && member->instance == instance_ && member->registered_ms == registered_ms_.load()) {
          break;
        }
      }
    }
    if (error.code != CoordinationCode::kNodeExists || std::chrono::steady_clock::now() > deadline) {
      if (error.code == CoordinationCode::kNodeExists) {
        return arrow::Status::Invalid("Cannot join cluster ", options_.cluster_uri, ": node id '",
                                      options_.node_id, "' is taken by a live node (", path,
                                      "); give each node its own --node-id");
      }
      return error.ToStatus();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  last_load_ = load;
  return arrow::Status::OK();
}

void FlightManager::Impl::RefreshMembers() {
  std::vector<std::string> ids;
  auto error = coordination_->Children(members_path_, &ids, Rewatch([this] { RefreshMembers(); }));
  if (!error.ok()) {
    spdlog::warn("event=cluster_members_unreadable error={:?}", error.message);
    return;
  }
  std::map<std::string, MemberInfo> fresh;
  for (const auto& id : ids) {
    NodeData data;
    if (!coordination_->Get(members_path_ + "/" + id, &data).ok()) continue;  // gone meanwhile
    auto member = ParseMember(id, data.data);
    if (member.ok()) fresh[id] = std::move(*member);
  }
  std::vector<MemberInfo> lost;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& [id, member] : members_) {
      // A node that restarted between two looks lost its spool: as good as gone.
      auto it = fresh.find(id);
      if (it == fresh.end() || it->second.started_ms != member.started_ms ||
          it->second.instance != member.instance) {
        lost.push_back(member);
      }
    }
    for (const auto& [id, member] : fresh) {
      if (!members_.count(id)) spdlog::info("event=cluster_member_joined node={} uri={}", id, member.uri);
    }
    members_ = std::move(fresh);
  }
  for (const auto& member : lost) {
    spdlog::warn("event=cluster_member_left node={} uri={}", member.id, member.uri);
    OnMemberLost(member);
  }
}

void FlightManager::Impl::OnSession(SessionState state) {
  if (stopping_) return;
  std::string reason;
  switch (state) {
    case SessionState::kConnected:
      break;
    case SessionState::kDisconnected:
      reason = Msg("the node lost its connection to ZooKeeper (", address_.hosts, ") and is reconnecting");
      break;
    case SessionState::kExpired:
      reason = Msg("the node's ZooKeeper session expired (", address_.hosts, "); it is rejoining the cluster");
      break;
  }
  bool rejoin = false;
  bool reconnected = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (state == SessionState::kConnected) {
      // A reconnect within the session timeout keeps the session and the
      // member znode (an expiry is handled by Rejoin).
      reconnected = !available_ && !expired_;
      if (reconnected) available_ = true;
    } else {
      available_ = false;
      unavailable_reason_ = reason;
      rejoin = state == SessionState::kExpired;
      expired_ = expired_ || rejoin;
    }
  }
  spdlog::warn("event=cluster_session state={} node={}", SessionStateName(state), options_.node_id);
  // Calls that failed while disconnected left no watch: read everything again.
  if (reconnected) RefreshAll();
  if (rejoin) Rejoin();
}

void FlightManager::Impl::Rejoin() {
  for (int attempt = 1; !stopping_; ++attempt) {
    auto status = coordination_->Reconnect();
    if (status.ok()) status = CheckFingerprint();
    if (status.ok()) status = Register();
    if (status.ok()) {
      RefreshAll();  // the old session's watches are gone
      {
        std::lock_guard<std::mutex> lock(mutex_);
        available_ = true;
        expired_ = false;
        unavailable_reason_.clear();
      }
      spdlog::info("event=cluster_rejoined node={} attempts={}", options_.node_id, attempt);
      return;
    }
    spdlog::warn("event=cluster_rejoin_failed node={} attempt={} error={:?}", options_.node_id, attempt,
                 Clip(status.message(), 500));
    for (int i = 0; i < 10 && !stopping_; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

arrow::Status FlightManager::Impl::CheckAvailable() const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (available_) return arrow::Status::OK();
  return Unavailable(Msg("Distributed queries are refused on node ", options_.node_id, " for now: ",
                         unavailable_reason_.empty() ? "it has not joined the cluster" : unavailable_reason_,
                         ". Streams already running go on; retry shortly or on another node"));
}

std::vector<MemberInfo> FlightManager::Impl::Members() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<MemberInfo> members;
  for (const auto& [id, member] : members_) members.push_back(member);
  return members;
}

void FlightManager::Impl::Refresh() {
  if (stopping_) return;
  if (options_.load && coordination_->state() == SessionState::kConnected) {
    const int64_t load = options_.load();
    if (load != last_load_ &&
        coordination_->Set(members_path_ + "/" + options_.node_id, MemberJson(load)).ok()) {
      last_load_ = load;
    }
  }
  Sweep();
}

// --- Impl: the registry ---------------------------------------------------------

arrow::Result<StartedQuery> FlightManager::Impl::BeginQuery(const QueryPlan& plan,
                                                            const fl::FlightDescriptor& descriptor,
                                                            const std::string& id) {
  ARROW_RETURN_NOT_OK(CheckAvailable());
  if (plan.partitions < 1) return InvalidArgument("A distributed query needs at least one partition");
  if (plan.schema == nullptr) return InvalidArgument("A distributed query needs a result schema");
  auto members = Members();
  std::erase_if(members, [](const MemberInfo& m) { return m.draining; });
  if (members.empty()) return Unavailable("No live nodes in the cluster to serve the query");
  // The least loaded first; ties broken at random so that bursts spread.
  std::shuffle(members.begin(), members.end(), std::mt19937(std::random_device()()));
  std::stable_sort(members.begin(), members.end(),
                   [](const MemberInfo& a, const MemberInfo& b) { return a.load < b.load; });
  size_t count = plan.nodes ? static_cast<size_t>(std::max(1, *plan.nodes)) : members.size();
  count = std::min({count, members.size(), static_cast<size_t>(plan.partitions)});
  members.resize(count);
  if (plan.ordered) {
    std::sort(members.begin(), members.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  }

  QueryRecord record;
  record.id = id.empty() ? NewQueryId() : id;
  record.coordinator = options_.node_id;
  record.coordinator_registered_ms = registered_ms_.load();
  for (const auto& m : members) {
    record.nodes.push_back(m.id);
    record.node_uris.push_back(m.uri);
  }
  record.assignment.resize(plan.partitions);
  for (int32_t p = 0; p < plan.partitions; ++p) {
    // Ordered: contiguous ranges in endpoint order; otherwise round robin.
    record.assignment[p] = plan.ordered ? static_cast<int32_t>(int64_t{p} * static_cast<int64_t>(count) / plan.partitions)
                                        : static_cast<int32_t>(p % count);
  }
  record.ordered = plan.ordered;
  ARROW_ASSIGN_OR_RAISE(auto schema_buffer, arrow::ipc::SerializeSchema(*plan.schema));
  record.schema_ipc = schema_buffer->ToString();
  record.description = Clip(plan.description, 2000);
  record.created_ms = NowMillis();
  record.deadline_ms = record.created_ms + plan.timeout.value_or(options_.default_query_timeout).count();

  auto error = coordination_->Create(QueryPath(record.id), record.ToJson(), Coordination::CreateMode::kPersistent);
  if (!error.ok()) return error.ToStatus();
  error = coordination_->Create(QueryPath(record.id) + "/lock", options_.node_id, Coordination::CreateMode::kEphemeral);
  if (!error.ok()) {
    (void)coordination_->Delete(QueryPath(record.id));
    return error.ToStatus();
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    tracked_[record.id] = record;
    watching_.insert(record.id);
  }
  // Serving here too: open the spool area before any producer can push.
  auto fail_begun = [&](const arrow::Status& status) {
    (void)Fail(record.id, FailureKind::kInternal, Msg("it could not be begun: ", status.message()));
    return status;
  };
  if (record.NodeIndex(options_.node_id) >= 0) {
    auto opened = spool_->OpenQuery(record.id, plan.schema, record.PartitionsOf(options_.node_id), record.ordered);
    if (!opened.ok()) return fail_begun(opened);
  }
  events_.Post([this, id = record.id] {
    RefreshQuery(id);
    CheckLock(id);
  });

  StartedQuery started;
  started.id = record.id;
  started.producer_credential = credentials_.ProducerCredential(record.id);
  started.serving = members;
  started.assignment = record.assignment;
  std::vector<fl::FlightEndpoint> endpoints;
  const auto expires = std::chrono::system_clock::time_point(std::chrono::milliseconds(record.deadline_ms));
  for (const auto& member : members) {
    fl::FlightEndpoint endpoint;
    endpoint.ticket.ticket = tickets_.Encode({"exchange:" + record.id, expires, plan.owner});
    auto location = fl::Location::Parse(member.uri);
    if (!location.ok()) return fail_begun(location.status());
    endpoint.locations.push_back(std::move(*location));
    endpoint.expiration_time = std::chrono::time_point_cast<std::chrono::nanoseconds>(expires);
    endpoints.push_back(std::move(endpoint));
  }
  auto info = fl::FlightInfo::Make(*plan.schema, descriptor, endpoints, /*total_records=*/-1,
                                   /*total_bytes=*/-1, plan.ordered);
  if (!info.ok()) return fail_begun(info.status());
  started.info = std::make_unique<fl::FlightInfo>(std::move(*info));
  spdlog::info("event=distributed_query_begun query={} partitions={} nodes={} ordered={} description={:?}",
               record.id, plan.partitions, count, plan.ordered, Clip(plan.description, 300));
  return started;
}

arrow::Result<QueryRecord> FlightManager::Impl::Load(const std::string& id) {
  NodeData data;
  auto error = coordination_->Get(QueryPath(id), &data);
  if (error.code == CoordinationCode::kNoNode) {
    return NotFound(Msg("Unknown distributed query ", id, ": it never existed, or ended more than the result TTL ago"));
  }
  if (!error.ok()) return error.ToStatus();
  ARROW_ASSIGN_OR_RAISE(auto record, QueryRecord::FromJson(data.data));
  record.znode_version = data.version;
  return record;
}

arrow::Result<QueryRecord> FlightManager::Impl::Update(const std::string& id,
                                                       const std::function<bool(QueryRecord*)>& change) {
  for (int attempt = 0; attempt < 100; ++attempt) {
    NodeData data;
    auto error = coordination_->Get(QueryPath(id), &data);
    if (error.code == CoordinationCode::kNoNode) return NotFound(Msg("Unknown distributed query ", id));
    if (!error.ok()) return error.ToStatus();
    ARROW_ASSIGN_OR_RAISE(auto record, QueryRecord::FromJson(data.data));
    record.znode_version = data.version;
    if (!change(&record)) return record;
    error = coordination_->Set(QueryPath(id), record.ToJson(), data.version);
    if (error.ok()) {
      record.znode_version = data.version + 1;
      Apply(record);
      return record;
    }
    if (error.code != CoordinationCode::kBadVersion) return error.ToStatus();
  }
  return Unavailable(Msg("Distributed query ", id, ": too many concurrent updates of its record"));
}

arrow::Status FlightManager::Impl::Fail(const std::string& id, FailureKind kind, const std::string& reason,
                                        const std::string& lost_node) {
  auto record = Update(id, [&](QueryRecord* r) {
    // A completed query fails only while a share is still being read, only
    // for a lost serving node or its deadline, and not for a node that has
    // served its share; anything else fails it only while it runs.
    if (r->ended() || r->done()) return false;
    if (!lost_node.empty() && r->HasServed(lost_node)) return false;
    if (lost_node.empty() && kind != FailureKind::kDeadline && r->state != QueryState::kRunning) return false;
    r->state = QueryState::kFailed;
    r->failure = kind;
    r->reason = reason;
    r->finished_ms = NowMillis();
    return true;
  });
  if (record.ok() && record->state == QueryState::kFailed && record->reason == reason) {
    spdlog::warn("event=distributed_query_failed query={} reason={:?}", id, Clip(reason, 1000));
  }
  return record.status();
}

arrow::Result<QueryRecord> FlightManager::Impl::Track(const std::string& id) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = tracked_.find(id);
    if (it != tracked_.end() && watching_.count(id)) return it->second;
  }
  ARROW_ASSIGN_OR_RAISE(auto record, Load(id));
  const bool serving = record.NodeIndex(options_.node_id) >= 0;
  if (!serving && record.coordinator != options_.node_id) {
    std::lock_guard<std::mutex> lock(mutex_);
    watching_.insert(id);  // nothing to do here: not read again
    return record;
  }
  if (serving) {
    auto reader = arrow::io::BufferReader::FromString(record.schema_ipc);
    arrow::ipc::DictionaryMemo memo;
    ARROW_ASSIGN_OR_RAISE(auto schema, arrow::ipc::ReadSchema(reader.get(), &memo));
    ARROW_RETURN_NOT_OK(spool_->OpenQuery(id, schema, record.PartitionsOf(options_.node_id), record.ordered));
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto [it, added] = tracked_.emplace(id, record);
    if (!added && it->second.znode_version < record.znode_version) it->second = record;
    if (!watching_.insert(id).second) return it->second;
  }
  RefreshQuery(id);  // arms the record's watch and applies its state
  CheckLock(id);
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = tracked_.find(id);
  return it == tracked_.end() ? record : it->second;
}

void FlightManager::Impl::Apply(const QueryRecord& record) {
  bool serving = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = tracked_.find(record.id);
    if (it == tracked_.end()) return;
    if (record.znode_version < it->second.znode_version) return;  // an older read
    it->second = record;
    serving = record.NodeIndex(options_.node_id) >= 0;
  }
  if (!serving) return;
  if (auto outcome = record.OutcomeFor(options_.node_id)) spool_->Finish(record.id, std::move(*outcome));
}

void FlightManager::Impl::RefreshQuery(const std::string& id) {
  if (stopping_) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!tracked_.count(id)) return;
  }
  // Without a watch first: a watch set on a deleted znode would wait forever.
  NodeData data;
  auto error = coordination_->Get(QueryPath(id), &data);
  if (error.code == CoordinationCode::kNoNode) {
    Forget(id);
    return;
  }
  if (!error.ok()) return;  // the connection is down: RefreshAll re-reads every tracked query
  error = coordination_->Get(QueryPath(id), &data, Rewatch([this, id] { RefreshQuery(id); }));
  if (error.code == CoordinationCode::kNoNode) {
    Forget(id);
    return;
  }
  if (!error.ok()) return;
  auto record = QueryRecord::FromJson(data.data);
  if (record.ok()) {
    record->znode_version = data.version;
    Apply(*record);
  }
}

void FlightManager::Impl::CheckLock(const std::string& id) {
  if (stopping_) return;
  {
    // Only a RUNNING query needs its coordinator (it completes the query).
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = tracked_.find(id);
    if (it == tracked_.end() || it->second.state != QueryState::kRunning) return;
  }
  NodeData data;
  auto error = coordination_->Get(QueryPath(id) + "/lock", &data, Rewatch([this, id] { CheckLock(id); }));
  if (error.code != CoordinationCode::kNoNode) return;  // held (or unknowable now)
  QueryRecord record;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = tracked_.find(id);
    if (it == tracked_.end()) return;
    record = it->second;
  }
  // Only a RUNNING query needs its coordinator: it completes the query.
  if (record.state != QueryState::kRunning || !CoordinatorGone(record)) return;
  const int index = record.NodeIndex(record.coordinator);
  (void)Fail(id, FailureKind::kNodeLost,
             Msg("its coordinator, node ", record.coordinator,
                 index >= 0 ? " (" + record.node_uris[index] + ")" : std::string(),
                 ", left the cluster (its ZooKeeper session ended) before completing it"));
}

bool FlightManager::Impl::CoordinatorGone(const QueryRecord& record) {
  // The lock is created just after the query's znode: its absence alone may
  // mean "not yet". The coordinator is gone when its member znode is too, or
  // belongs to a later session of the node (a restart or a rejoin).
  NodeData data;
  auto error = coordination_->Get(members_path_ + "/" + record.coordinator, &data);
  if (error.code == CoordinationCode::kNoNode) return true;
  if (!error.ok()) return false;
  auto member = ParseMember(record.coordinator, data.data);
  return member.ok() && member->registered_ms != record.coordinator_registered_ms;
}

void FlightManager::Impl::RefreshQueries() {
  if (stopping_) return;
  std::vector<std::string> ids;
  auto error = coordination_->Children(queries_path_, &ids, Rewatch([this] { RefreshQueries(); }));
  if (!error.ok()) return;
  {
    // Forget the ids of queries that are gone.
    std::lock_guard<std::mutex> lock(mutex_);
    const std::set<std::string> present(ids.begin(), ids.end());
    std::erase_if(watching_, [&](const std::string& id) { return !present.count(id) && !tracked_.count(id); });
  }
  for (const auto& id : ids) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (watching_.count(id)) continue;
    }
    auto tracked = Track(id);  // a query this node has no part in is simply not kept
    if (!tracked.ok() && tracked.status().code() != arrow::StatusCode::KeyError) {
      spdlog::warn("event=distributed_query_untracked query={} error={:?}", id, Clip(tracked.status().message(), 500));
    }
  }
}

void FlightManager::Impl::Forget(const std::string& id) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    tracked_.erase(id);
    watching_.erase(id);
  }
  spool_->DropQuery(id);
}

void FlightManager::Impl::OnMemberLost(const MemberInfo& member) {
  std::vector<std::string> affected;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& [id, record] : tracked_) {
      if (!record.ended() && record.NodeIndex(member.id) >= 0 && !record.HasServed(member.id)) {
        affected.push_back(id);
      }
    }
  }
  for (const auto& id : affected) {
    (void)Fail(id, FailureKind::kNodeLost,
               Msg("node ", member.id, " (", member.uri, ") left the cluster; its part of the result is lost"),
               member.id);
  }
}

void FlightManager::Impl::MarkServed(const std::string& id) {
  auto record = Update(id, [&](QueryRecord* r) {
    if (r->HasServed(options_.node_id)) return false;
    r->served.push_back(options_.node_id);
    return true;
  });
  if (!record.ok()) {
    spdlog::debug("event=served_unrecorded query={} error={:?}", id, Clip(record.status().message(), 300));
  }
}

void FlightManager::Impl::Sweep() {
  const int64_t now = NowMillis();
  std::vector<QueryRecord> records;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& [id, record] : tracked_) records.push_back(record);
  }
  for (const auto& record : records) {
    if (!record.ended() && now > record.deadline_ms) {
      (void)Fail(record.id, FailureKind::kDeadline,
                 Msg("its deadline passed (", record.deadline_ms - record.created_ms, " ms after it began)"));
    }
  }
  if (coordination_->state() != SessionState::kConnected) return;
  // Every few seconds, every query in the registry: finished ones past the
  // TTL go (any node may remove them), and a RUNNING query whose
  // coordinator's lock is gone fails even if no serving node watched it.
  const int64_t full_interval = std::max<int64_t>(5000, options_.refresh_interval.count() * 5);
  if (now - last_full_sweep_ms_ < full_interval) return;
  last_full_sweep_ms_ = now;
  std::vector<std::string> ids;
  if (!coordination_->Children(queries_path_, &ids).ok()) return;
  const int64_t ttl = options_.result_ttl.count();
  for (const auto& id : ids) {
    auto record = Load(id);
    if (!record.ok()) continue;
    // A completed query stays while a share is unread (until its deadline).
    const bool past_deadline = now > record->deadline_ms + ttl;
    const bool expired = (record->ended() || record->done()) && now > record->finished_ms + ttl;
    if (expired || past_deadline) {
      (void)coordination_->Delete(QueryPath(id) + "/lock");
      if (coordination_->Delete(QueryPath(id)).ok()) {
        spdlog::info("event=distributed_query_removed query={} state={}", id, QueryStateName(record->state));
      }
      Forget(id);
      continue;
    }
    NodeData lock;
    if (record->state == QueryState::kRunning &&
        coordination_->Get(QueryPath(id) + "/lock", &lock).code == CoordinationCode::kNoNode &&
        CoordinatorGone(*record)) {
      (void)Fail(id, FailureKind::kNodeLost,
                 Msg("its coordinator, node ", record->coordinator, ", left the cluster before completing it"));
    }
  }
}

// --- FlightManager ---------------------------------------------------------------

FlightManager::FlightManager(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
FlightManager::~FlightManager() = default;

arrow::Result<std::unique_ptr<FlightManager>> FlightManager::Join(FlightManagerOptions options,
                                                                  std::unique_ptr<Coordination> coordination) {
  ARROW_ASSIGN_OR_RAISE(auto address, ParseZooKeeperAddress(options.cluster_uri));
  if (options.node_id.empty()) return InvalidArgument("A cluster node needs a node id");
  if (options.node_id.find('/') != std::string::npos) {
    return InvalidArgument("Invalid node id '", options.node_id, "': it may not contain '/'");
  }
  if (options.advertise_uri.empty()) return InvalidArgument("A cluster node needs an advertised URI");
  if (options.secret.size() < 16) return InvalidArgument("The cluster secret must be at least 16 bytes");
  if (coordination == nullptr) {
    ZooKeeperOptions zk;
    zk.session_timeout = options.session_timeout;
    ARROW_ASSIGN_OR_RAISE(coordination, ConnectZooKeeper(address, zk));
  }
  ARROW_ASSIGN_OR_RAISE(auto spool, Spool::Make(options.spool));
  auto impl = std::make_unique<Impl>(std::move(options), std::move(address), std::move(coordination), std::move(spool));
  ARROW_RETURN_NOT_OK(impl->Start());
  return std::unique_ptr<FlightManager>(new FlightManager(std::move(impl)));
}

arrow::Result<ReservedQuery> FlightManager::ReserveQuery(const QueryPlan& plan, const fl::FlightDescriptor& descriptor) {
  ARROW_RETURN_NOT_OK(impl_->CheckAvailable());
  ReservedQuery reserved;
  reserved.id = NewQueryId();
  reserved.producer_credential = impl_->credentials_.ProducerCredential(reserved.id);
  auto reservation = std::make_unique<Impl::Reservation>();
  reservation->plan = plan;
  reservation->descriptor = descriptor;
  reserved.started = reservation->started.get_future().share();
  std::lock_guard<std::mutex> lock(impl_->mutex_);
  impl_->reserved_[reserved.id] = std::move(reservation);
  return reserved;
}

bool FlightManager::WithdrawReservation(const std::string& query_id, const arrow::Status& why) {
  std::unique_ptr<Impl::Reservation> reservation;
  {
    std::lock_guard<std::mutex> lock(impl_->mutex_);
    auto it = impl_->reserved_.find(query_id);
    if (it == impl_->reserved_.end()) return false;
    reservation = std::move(it->second);
    impl_->reserved_.erase(it);
  }
  reservation->started.set_value(why.ok() ? Internal("Reservation withdrawn without a reason") : why);
  return true;
}

void FlightManager::Drain() {
  impl_->draining_ = true;
  auto error = impl_->coordination_->Set(impl_->members_path_ + "/" + node_id(), impl_->MemberJson(std::max<int64_t>(0, impl_->last_load_.load())));
  spdlog::info("event=cluster_draining node={} announced={}", node_id(), error.ok());
}

const std::string& FlightManager::node_id() const { return impl_->options_.node_id; }
const std::string& FlightManager::advertise_uri() const { return impl_->options_.advertise_uri; }
arrow::Status FlightManager::CheckAvailable() const { return impl_->CheckAvailable(); }
std::vector<MemberInfo> FlightManager::Members() const { return impl_->Members(); }

arrow::Result<StartedQuery> FlightManager::BeginQuery(const QueryPlan& plan, const fl::FlightDescriptor& descriptor) {
  return impl_->BeginQuery(plan, descriptor);
}

arrow::Status FlightManager::CompleteQuery(const std::string& query_id,
                                           const std::vector<CommittedPartition>& committed) {
  return impl_->Complete(query_id, committed);
}

arrow::Status FlightManager::Impl::Complete(const std::string& query_id,
                                            const std::vector<CommittedPartition>& committed) {
  ARROW_ASSIGN_OR_RAISE(auto current, Load(query_id));
  if (current.ended()) return current.ErrorStatus();
  std::vector<int> seen(current.partitions_count(), 0);
  for (const auto& c : committed) {
    if (c.partition < 0 || c.partition >= current.partitions_count()) {
      return InvalidArgument("Cannot complete query ", query_id, ": partition ", c.partition, " is outside 0..",
                             current.partitions_count() - 1);
    }
    if (seen[c.partition]++) {
      return InvalidArgument("Cannot complete query ", query_id, ": partition ", c.partition, " is listed twice");
    }
  }
  for (int32_t p = 0; p < current.partitions_count(); ++p) {
    if (!seen[p]) return InvalidArgument("Cannot complete query ", query_id, ": partition ", p, " is not listed");
  }
  ARROW_ASSIGN_OR_RAISE(auto record, Update(query_id, [&](QueryRecord* r) {
    if (r->state != QueryState::kRunning) return false;
    r->state = QueryState::kCompleted;
    r->finished_ms = NowMillis();
    r->committed.clear();
    for (const auto& c : committed) r->committed[r->nodes[r->assignment[c.partition]]].push_back(c);
    return true;
  }));
  if (record.state != QueryState::kCompleted) return record.ErrorStatus();
  spdlog::info("event=distributed_query_completed query={} partitions={}", query_id, committed.size());
  return arrow::Status::OK();
}

arrow::Status FlightManager::FailQuery(const std::string& query_id, const std::string& reason, FailureKind kind) {
  return impl_->Fail(query_id, kind, reason);
}

arrow::Result<bool> FlightManager::CancelQuery(const std::string& query_id, const std::string& reason) {
  return impl_->Cancel(query_id, reason);
}

arrow::Result<bool> FlightManager::Impl::Cancel(const std::string& query_id, const std::string& reason) {
  bool cancelled = false;
  ARROW_ASSIGN_OR_RAISE(auto record, Update(query_id, [&](QueryRecord* r) {
    if (r->ended() || r->done()) return false;
    r->state = QueryState::kCancelled;
    r->reason = reason;
    r->finished_ms = NowMillis();
    cancelled = true;
    return true;
  }));
  if (cancelled) {
    spdlog::info("event=distributed_query_cancelled query={} node={} state={}", query_id, options_.node_id,
                 QueryStateName(record.state));
  }
  return cancelled;
}

arrow::Result<QueryRecord> FlightManager::GetQuery(const std::string& query_id) { return impl_->Load(query_id); }

SpoolStats FlightManager::spool_stats() const { return impl_->spool_->stats(); }

// --- status for operators ----------------------------------------------------------

arrow::Result<ClusterStatus> ReadClusterStatus(const std::string& cluster_uri, std::chrono::milliseconds timeout) {
  ARROW_ASSIGN_OR_RAISE(auto address, ParseZooKeeperAddress(cluster_uri));
  ZooKeeperOptions zk;
  zk.connect_timeout = timeout;
  ARROW_ASSIGN_OR_RAISE(auto coordination, ConnectZooKeeper(address, zk));
  ClusterStatus status;
  std::vector<std::string> ids;
  auto error = coordination->Children(address.root + "/members", &ids);
  if (error.code == CoordinationCode::kNoNode) {
    return NotFound(Msg("No Squadron cluster at ", cluster_uri, " (", address.root, "/members does not exist)"));
  }
  if (!error.ok()) return error.ToStatus();
  for (const auto& id : ids) {
    NodeData data;
    if (!coordination->Get(address.root + "/members/" + id, &data).ok()) continue;
    auto member = ParseMember(id, data.data);
    if (member.ok()) status.members.push_back(std::move(*member));
  }
  ids.clear();
  error = coordination->Children(address.root + "/queries", &ids);
  if (!error.ok() && error.code != CoordinationCode::kNoNode) return error.ToStatus();
  for (const auto& id : ids) {
    NodeData data;
    if (!coordination->Get(address.root + "/queries/" + id, &data).ok()) continue;
    auto record = QueryRecord::FromJson(data.data);
    if (record.ok()) status.queries.push_back(std::move(*record));
  }
  std::sort(status.members.begin(), status.members.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  std::sort(status.queries.begin(), status.queries.end(),
            [](const auto& a, const auto& b) { return a.created_ms < b.created_ms; });
  return status;
}

}  // namespace squadron::cluster
