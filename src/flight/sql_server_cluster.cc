// A Flight SQL server as a node of a cluster: routing read-only queries to
// the least loaded node, and cancelling on the node that runs a query.
#include <random>

#include "cluster/credentials.h"
#include "flight/sql_server_internal.h"

namespace squadron::flight {

namespace {

// Marks a GetFlightInfo that a node routed here: the driver credential,
// so that clients cannot claim it.
constexpr char kRoutedHeader[] = "x-squadron-routed";
constexpr char kCatalogHeader[] = "x-squadron-session-catalog";
constexpr char kSchemaHeader[] = "x-squadron-session-schema";
constexpr char kTimezoneHeader[] = "x-squadron-session-timezone";

std::optional<std::string> Header(const fl::ServerCallContext& context, const char* name) {
  auto it = context.incoming_headers().find(name);
  if (it == context.incoming_headers().end()) return std::nullopt;
  return std::string(it->second);
}

}  // namespace

arrow::Result<std::optional<Caller>> FlightSqlServer::Impl::RoutedCaller(const fl::ServerCallContext& context) {
  auto routed = Header(context, kRoutedHeader);
  if (!routed) return std::nullopt;
  if (!cluster::ClusterCredentials::Matches(routing_credential_,
                                            *routed)) {
    return fl::MakeFlightError(fl::FlightStatusCode::Unauthenticated,
                               "Invalid routing credential: only nodes of this cluster may route queries here");
  }
  Caller caller;
  // The forwarding node sent the user's identity as a token of this cluster.
  ARROW_ASSIGN_OR_RAISE(caller.identity, CallerIdentity(context));
  caller.session.settings.catalog = Header(context, kCatalogHeader);
  caller.session.settings.schema = Header(context, kSchemaHeader);
  caller.session.settings.timezone = Header(context, kTimezoneHeader);
  return caller;
}

arrow::Result<std::shared_ptr<fl::FlightClient>> FlightSqlServer::Impl::Peer(const std::string& uri) {
  std::lock_guard<std::mutex> lock(peers_mutex_);
  auto it = peers_.find(uri);
  if (it != peers_.end()) return it->second;
  ARROW_ASSIGN_OR_RAISE(auto location, fl::Location::Parse(uri));
  fl::FlightClientOptions client_options = fl::FlightClientOptions::Defaults();
  client_options.tls_root_certs = options_.peer_tls_roots;
  client_options.cert_chain = options_.peer_tls_cert;
  client_options.private_key = options_.peer_tls_key;
  ARROW_ASSIGN_OR_RAISE(auto client, fl::FlightClient::Connect(location, client_options));
  std::shared_ptr<fl::FlightClient> shared = std::move(client);
  peers_[uri] = shared;
  return shared;
}

arrow::Result<std::unique_ptr<fl::FlightInfo>> FlightSqlServer::Impl::Route(const Caller& caller,
                                                                           const std::string& sql,
                                                                           const fl::FlightDescriptor& descriptor,
                                                                           std::optional<bool> read_only) {
  auto* cluster = cluster_.load();
  if (cluster == nullptr) return nullptr;
  // Per-session timeouts and compression live on this node only.
  if (caller.session.query_timeout || caller.session.ipc_compression) return nullptr;
  auto members = cluster->Members();
  std::erase_if(members, [](const cluster::MemberInfo& m) { return m.draining; });
  if (members.size() < 2) return nullptr;
  // The least loaded node: this one by its live load, the others by what
  // they last reported plus what this node has sent them since.
  std::shuffle(members.begin(), members.end(), std::mt19937(std::random_device()()));
  const cluster::MemberInfo* target = nullptr;
  int64_t best = 0;
  {
    std::lock_guard<std::mutex> lock(peers_mutex_);
    for (const auto& member : members) {
      const bool self = member.id == cluster->node_id();
      const int64_t load = self ? Load() : member.load + routed_in_flight_[member.id];
      if (target == nullptr || load < best) {
        target = &member;
        best = load;
      }
    }
  }
  if (target == nullptr || target->id == cluster->node_id()) return nullptr;
  // Only a statement that changes nothing may run elsewhere.
  if (!read_only) {
    auto description = Prepare(caller, nullptr, sql);
    read_only = description.ok() && description->read_only;
  }
  if (!*read_only) return nullptr;

  fl::FlightCallOptions call;
  call.headers.emplace_back(kRoutedHeader,
                            routing_credential_);
  const auto& settings = caller.session.settings;
  if (settings.catalog) call.headers.emplace_back(kCatalogHeader, *settings.catalog);
  if (settings.schema) call.headers.emplace_back(kSchemaHeader, *settings.schema);
  if (settings.timezone) call.headers.emplace_back(kTimezoneHeader, *settings.timezone);
  AddIdentityHeader(caller.identity, &call);
  const auto start = Clock::now();
  {
    std::lock_guard<std::mutex> lock(peers_mutex_);
    ++routed_in_flight_[target->id];
  }
  arrow::Result<std::unique_ptr<fl::FlightInfo>> info = Unavailable("no peer");
  auto peer = Peer(target->uri);
  const auto statement = fl::FlightDescriptor::Command(SerializeCommand(StatementQueryCommand{sql, {}}));
  if (peer.ok()) info = (*peer)->GetFlightInfo(call, statement);
  {
    std::lock_guard<std::mutex> lock(peers_mutex_);
    --routed_in_flight_[target->id];
  }
  if (!info.ok()) {
    auto detail = fl::FlightStatusDetail::UnwrapStatus(info.status());
    if (!peer.ok() || (detail && detail->code() == fl::FlightStatusCode::Unavailable)) {
      // The peer is going or gone: run here rather than fail the query.
      spdlog::warn("event=route_failed node={} uri={} error={:?}", target->id, target->uri, ForLog(info.status()));
      return nullptr;
    }
    return info.status();
  }
  // The result waits on the peer: its endpoints are read there.
  ARROW_ASSIGN_OR_RAISE(auto location, fl::Location::Parse(target->uri));
  std::vector<fl::FlightEndpoint> endpoints = (*info)->endpoints();
  for (auto& endpoint : endpoints) {
    if (endpoint.locations.empty()) endpoint.locations.push_back(location);
  }
  ARROW_ASSIGN_OR_RAISE(auto schema, (*info)->GetSchema(nullptr));
  ARROW_ASSIGN_OR_RAISE(auto routed, fl::FlightInfo::Make(*schema, descriptor, endpoints, (*info)->total_records(),
                                                          (*info)->total_bytes(), (*info)->ordered()));
  spdlog::info("event=query_routed node={} uri={} ms={:.1f} query={:?}", target->id, target->uri,
               MillisSince(start), ForLog(sql));
  return std::make_unique<fl::FlightInfo>(std::move(routed));
}

void FlightSqlServer::Impl::AddIdentityHeader(const auth::Identity& identity, fl::FlightCallOptions* call) const {
  if (options_.authenticator == nullptr || identity.method == "none" || identity.user.empty()) return;
  call->headers.emplace_back("authorization", "Bearer " + options_.authenticator->IssueToken(identity));
}

bool FlightSqlServer::Impl::CancelOnPeers(const auth::Identity& identity, const fl::FlightInfo& info) {
  auto* cluster = cluster_.load();
  if (cluster == nullptr) return false;
  bool cancelled = false;
  for (const auto& endpoint : info.endpoints()) {
    if (endpoint.locations.empty()) continue;
    const std::string uri = endpoint.locations[0].ToString();
    if (uri == cluster->advertise_uri()) continue;
    bool member = false;
    for (const auto& m : cluster->Members()) member = member || m.uri == uri;
    if (!member) continue;  // only nodes of this cluster, never an arbitrary address
    auto peer = Peer(uri);
    if (!peer.ok()) continue;
    // Marked as forwarded, so that the peer does not send it on again.
    fl::FlightCallOptions call;
    call.timeout = fl::TimeoutDuration{10.0};
    call.headers.emplace_back(kRoutedHeader, routing_credential_);
    AddIdentityHeader(identity, &call);
    auto result = (*peer)->CancelFlightInfo(call, fl::CancelFlightInfoRequest{std::make_unique<fl::FlightInfo>(info)});
    if (result.ok() && result->status == fl::CancelStatus::kCancelled) cancelled = true;
  }
  return cancelled;
}


// --- distributed queries: the engine's executors push into the nodes ------------------

namespace {

// Statements that only read: the ones worth distributing.
bool LooksLikeQuery(std::string_view sql) {
  const std::string word = FirstKeyword(sql);
  return word == "SELECT" || word == "WITH" || word == "TABLE" || word == "VALUES" || word == "FROM";
}

// How readers see the engine's failed write job: its SQL or data at fault
// (INVALID_ARGUMENT), the engine gone (UNAVAILABLE), or else INTERNAL.
cluster::FailureKind FailureOf(const arrow::Status& status) {
  if (status.IsInvalid()) return cluster::FailureKind::kInvalid;
  auto detail = fl::FlightStatusDetail::UnwrapStatus(status);
  if (detail && detail->code() == fl::FlightStatusCode::Unavailable) return cluster::FailureKind::kNodeLost;
  return cluster::FailureKind::kInternal;
}

}  // namespace

arrow::Result<std::unique_ptr<fl::FlightInfo>> FlightSqlServer::Impl::Distribute(const fl::ServerCallContext& context,
                                                                                const Caller& caller,
                                                                                const std::string& sql,
                                                                                const fl::FlightDescriptor& descriptor) {
  auto* cluster = cluster_.load();
  if (cluster == nullptr || options_.distribute == FlightSqlOptions::Distribute::kNever) return nullptr;
  if (!LooksLikeQuery(sql)) return nullptr;
  ARROW_ASSIGN_OR_RAISE(auto session, engine_->OpenSession(caller.session.settings));
  auto estimate = session->Estimate(sql);
  if (estimate.status().IsNotImplemented()) return nullptr;  // this engine has no distributed writer
  ARROW_RETURN_NOT_OK(estimate.status());                     // bad SQL: Spark's message
  if (options_.distribute == FlightSqlOptions::Distribute::kAuto &&
      estimate->bytes.value_or(0) < options_.distribute_min_bytes) {
    return nullptr;  // small: through the driver
  }
  const auto start = Clock::now();
  cluster::QueryPlan shape;
  shape.ordered = estimate->ordered;
  shape.description = Clip(sql, 2000);
  shape.owner = caller.ticket_owner();
  const auto timeout = caller.session.query_timeout.value_or(options_.query_timeout);
  if (timeout.count() > 0) shape.timeout = timeout;
  ARROW_ASSIGN_OR_RAISE(auto reserved, cluster->ReserveQuery(shape, descriptor));
  std::map<std::string, std::string> writer_options = options_.writer_options;
  for (auto& [key, value] : std::map<std::string, std::string>{
      {"squadron.query", reserved.id},
      {"squadron.coordinator", cluster->advertise_uri()},
      {"squadron.credential", reserved.producer_credential},
      {"squadron.ordered", estimate->ordered ? "true" : "false"},
  }) {
    writer_options.insert_or_assign(key, value);  // never overridden by --spark-writer-option
  }
  auto write = std::make_shared<DistributedWrite>();
  write->query_id = reserved.id;
  write->session = std::move(session);
  {
    std::lock_guard<std::mutex> lock(distributed_mutex_);
    distributed_[reserved.id] = write;
  }
  // The engine's write job runs until its producers have pushed every
  // partition; its driver plans the query (squadron.exchange.plan) first.
  write->thread = std::thread([write, cluster, sql, writer_options] {
    auto status = write->session->WriteTo(sql, "squadron", writer_options);
    if (!status.ok()) {
      if (!cluster->WithdrawReservation(write->query_id, status)) {
        (void)cluster->FailQuery(write->query_id, status.message(), FailureOf(status));
      }
      spdlog::info("event=distributed_write_failed query={} error={:?}", write->query_id, ForLog(status));
    } else if (cluster->WithdrawReservation(write->query_id,
                                            Internal("The engine's write job ended without planning the query "
                                                     "(no squadron writer ran: is the connector on its classpath?)"))) {
      spdlog::warn("event=distributed_write_unplanned query={}", write->query_id);
    }
    write->done = true;
  });
  // Wait for the plan, the job's failure, the client going away or the deadline.
  const auto deadline = timeout.count() > 0 ? start + timeout : Clock::time_point::max();
  while (reserved.started.wait_for(std::chrono::milliseconds(100)) != std::future_status::ready) {
    const bool gone = context.is_cancelled();
    if (gone || Clock::now() >= deadline) {
      const auto why = gone ? Cancelled("Query cancelled: the client went away before it was planned")
                            : DeadlineExceeded("Query exceeded its timeout before it was planned");
      if (cluster->WithdrawReservation(reserved.id, why)) write->session->Interrupt();
    }
  }
  const auto& started = reserved.started.get();
  if (!started.ok()) {
    write->session->Interrupt();
    return started.status();
  }
  spdlog::info("event=query_distributed query={} ms={:.1f} nodes={} ordered={} estimated_bytes={} sql={:?}",
               reserved.id, MillisSince(start), (*started)->serving.size(), estimate->ordered,
               estimate->bytes.value_or(-1), ForLog(sql));
  return std::make_unique<fl::FlightInfo>(*(*started)->info);
}

void FlightSqlServer::Impl::CheckDistributed() {
  auto* cluster = cluster_.load();
  std::vector<std::shared_ptr<DistributedWrite>> writes;
  {
    std::lock_guard<std::mutex> lock(distributed_mutex_);
    for (auto it = distributed_.begin(); it != distributed_.end();) {
      if (it->second->done) {
        it->second->thread.join();
        it = distributed_.erase(it);
      } else {
        writes.push_back(it->second);
        ++it;
      }
    }
  }
  if (cluster == nullptr) return;
  for (const auto& write : writes) {
    auto record = cluster->GetQuery(write->query_id);
    if (record.ok() && record->ended()) {
      spdlog::info("event=distributed_write_interrupted query={} state={}", write->query_id,
                   cluster::QueryStateName(record->state));
      write->session->Interrupt();
    }
  }
}

void FlightSqlServer::Impl::StopDistributed() {
  std::map<std::string, std::shared_ptr<DistributedWrite>> writes;
  {
    std::lock_guard<std::mutex> lock(distributed_mutex_);
    writes.swap(distributed_);
  }
  for (auto& [id, write] : writes) write->session->Interrupt();
  for (auto& [id, write] : writes) {
    if (write->thread.joinable()) write->thread.join();
  }
}

}  // namespace squadron::flight
