#include "server/server.h"

#include <pthread.h>
#include <unistd.h>

#include <cstdlib>

#include <arrow/flight/server_auth.h>
#include <arrow/memory_pool.h>
#include <spdlog/spdlog.h>

#include "common/malloc_tuning.h"
#include "common/status.h"
#include "common/units.h"
#include "common/watchdog.h"
#include "auth/password_file.h"
#include "engine/spark/spark_engine.h"
#include "flight/auth_middleware.h"
#include "flight/ticket.h"

namespace squadron::server {

namespace {

// This machine's host name, for default node ids and advertised URIs.
std::string MachineName() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0 || name[0] == '\0') return "localhost";
  return name;
}

// Ends a shutdown that cannot finish (see Server::Shutdown).
[[noreturn]] void ExitStuck(std::chrono::steady_clock::time_point start, const char* phase,
                            const std::string& in_flight) {
  spdlog::error("event=shutdown_stuck phase={:?} ms={}{}{} note=\"still running after the calls were "
                "cancelled; exiting without closing the engine\"",
                phase,
                std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start)
                    .count(),
                in_flight.empty() ? "" : " ", in_flight);
  spdlog::default_logger()->flush();
  std::_Exit(kExitShutdownStuck);
}

}  // namespace

arrow::Result<std::unique_ptr<Server>> Server::Start(ServerOptions options) {
  auto server = std::unique_ptr<Server>(new Server());
  if (options.flight.ticket_secret.empty()) {
    options.flight.ticket_secret = flight::GenerateTicketSecret();
  } else if (options.flight.ticket_secret.size() < 16) {
    return InvalidArgument("Invalid ticket secret: it must be at least 16 bytes (got ",
                           options.flight.ticket_secret.size(), ")");
  }
  server->options_ = std::move(options);
  const auto& opts = server->options_;

  // 1. The engine, with its data paths and init SQL.
  if (opts.engine == "spark") {
    ARROW_ASSIGN_OR_RAISE(server->engine_,
                          engine::OpenSparkEngine(opts.spark, opts.flight.session_idle_timeout));
    // The endpoint without its parameters: they may hold a token.
    spdlog::info("event=engine_ready engine={} version={} spark_connect={} spark_user={} tls={}",
                 server->engine_->name(), server->engine_->version(),
                 opts.spark.endpoint.substr(0, opts.spark.endpoint.find("/;")), opts.spark.user, opts.spark.tls);
  } else {
    ARROW_ASSIGN_OR_RAISE(server->engine_, engine::OpenDuckDbEngine(opts.duckdb));
    spdlog::info("event=engine_ready engine={} version={} database={:?} read_only={}",
                 server->engine_->name(), server->engine_->version(), opts.duckdb.database,
                 opts.duckdb.read_only);
  }

  // 2. Who may call, then the Flight SQL service on its port.
  ARROW_RETURN_NOT_OK(StartSecurity(*server));
  const auto& security = opts.security;
  const bool tls = !security.tls_cert.empty();
  auto flight_opts = opts.flight;
  flight_opts.authenticator = server->authenticator_.get();
  if (tls) {
    flight_opts.peer_tls_roots = !security.tls_peer_ca.empty() ? security.tls_peer_ca : security.tls_client_ca;
    flight_opts.peer_tls_cert = security.tls_cert;
    flight_opts.peer_tls_key = security.tls_key;
  }
  server->flight_ = std::make_unique<flight::FlightSqlServer>(server->engine_.get(), flight_opts);
  ARROW_ASSIGN_OR_RAISE(auto location, tls ? arrow::flight::Location::ForGrpcTls(opts.host, opts.port)
                                           : arrow::flight::Location::ForGrpcTcp(opts.host, opts.port));
  arrow::flight::FlightServerOptions flight_options(location);
  if (tls) {
    flight_options.tls_certificates.push_back({security.tls_cert, security.tls_key});
    if (!security.tls_client_ca.empty()) {
      flight_options.verify_client = true;  // mutual TLS: no certificate, no connection
      flight_options.root_certificates = security.tls_client_ca;
    }
  }
  // The handshake succeeds once the middleware has checked its credentials.
  // With mtls the certificate names the caller, which Arrow Flight reveals
  // only without a handshake handler: the handshake is then unavailable
  // (clients send Basic or Bearer headers on their calls instead).
  if (server->authenticator_ == nullptr || !server->authenticator_->mtls()) {
    flight_options.auth_handler = std::make_shared<flight::HeaderAuthHandler>();
  }
  if (server->authenticator_ != nullptr) {
    flight_options.middleware.emplace_back(
        flight::kAuthMiddlewareKey, std::make_shared<flight::AuthMiddlewareFactory>(server->authenticator_.get()));
  }
  auto status = server->flight_->Init(flight_options);
  if (!status.ok()) {
    server->flight_.reset();
    return Unavailable(Msg("Cannot listen on ", opts.host, ":", opts.port, ": ", status.message()));
  }
  // 3. The cluster: peers and clients reach this node at its advertised URI.
  if (!opts.cluster.uri.empty()) {
    auto joined = JoinCluster(*server);
    if (!joined.ok()) {
      (void)server->flight_->Shutdown();
      server->flight_.reset();
      return joined;
    }
  }
  if (opts.memory_release_interval.count() > 0) {
    engine::Engine* engine = server->engine_.get();
    server->release_memory_.Start(opts.memory_release_interval, [engine] {
      const int64_t before = ResidentBytes();
      engine->ReleaseFreeMemory();
      // Arrow's pool (mimalloc in the wheel's build) keeps freed IPC buffers too.
      arrow::default_memory_pool()->ReleaseUnused();
      ReleaseFreeHeapMemory();
      const int64_t released = before - ResidentBytes();
      if (released >= (16 << 20)) {
        spdlog::debug("event=memory_released bytes={} rss={}", released, before - released);
      }
    });
  }
  spdlog::info("event=listening uri={} result_ttl={} batch_rows={} batch_bytes={}", server->uri(),
               FormatDuration(opts.flight.result_ttl), opts.duckdb.batch_rows,
               opts.duckdb.batch_bytes);
  return server;
}

arrow::Status Server::StartSecurity(Server& server) {
  const auto& opts = server.options_;
  const auto& security = opts.security;
  const auto& methods = security.auth.methods;
  const bool loopback = opts.host == "127.0.0.1" || opts.host == "::1" || opts.host == "localhost";
  if (methods.count("none")) {
    if (!loopback && !security.allow_insecure) {
      return InvalidArgument("--auth none on ", opts.host, " would let anyone who reaches the port read and write "
                             "every table: choose --auth password, ldap, kerberos or mtls, or pass "
                             "--allow-insecure to accept that");
    }
    spdlog::warn("event=auth_disabled host={} tls={} note=\"--auth none: every caller is an anonymous admin; "
                 "fine on loopback, not on a network\"", opts.host, !security.tls_cert.empty());
    return arrow::Status::OK();
  }
  std::vector<std::unique_ptr<auth::PasswordAuthenticator>> passwords;
  if (methods.count("password")) {
    ARROW_ASSIGN_OR_RAISE(auto file, auth::PasswordFile::Open(security.password_file));
    passwords.push_back(std::move(file));
  }
  if (methods.count("ldap")) {
    ARROW_ASSIGN_OR_RAISE(auto ldap, auth::MakeLdapAuthenticator(security.ldap));
    passwords.push_back(std::move(ldap));
  }
  std::unique_ptr<auth::NegotiateAuthenticator> negotiate;
  if (methods.count("kerberos")) {
    ARROW_ASSIGN_OR_RAISE(negotiate, auth::MakeKerberosAuthenticator(security.kerberos));
  }
  server.authenticator_ = std::make_unique<auth::Authenticator>(security.auth, opts.flight.ticket_secret,
                                                                std::move(passwords), std::move(negotiate));
  std::string list;
  for (const auto& m : methods) list += (list.empty() ? "" : ",") + m;
  spdlog::info("event=auth_enabled methods={} tls={} mtls={} token_ttl={}", list, !security.tls_cert.empty(),
               !security.tls_client_ca.empty(), FormatDuration(security.auth.token_ttl));
  return arrow::Status::OK();
}

arrow::Status Server::JoinCluster(Server& server) {
  const auto& opts = server.options_;
  cluster::FlightManagerOptions cluster;
  cluster.cluster_uri = opts.cluster.uri;
  const std::string host = opts.host == "0.0.0.0" || opts.host == "::" ? MachineName() : opts.host;
  cluster.node_id = opts.cluster.node_id.empty() ? Msg(MachineName(), "-", server.port()) : opts.cluster.node_id;
  cluster.advertise_uri = opts.cluster.advertise_uri;
  if (cluster.advertise_uri.empty()) {
    const bool ipv6 = host.find(':') != std::string::npos;
    cluster.advertise_uri = std::string(opts.security.tls_cert.empty() ? "grpc://" : "grpc+tls://") +
                            (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(server.port());
  }
  cluster.engine = server.engine_->name();
  cluster.version = SQUADRON_VERSION;
  cluster.secret = opts.flight.ticket_secret;
  cluster.spool = opts.cluster.spool;
  cluster.session_timeout = opts.cluster.session_timeout;
  cluster.result_ttl = opts.flight.result_ttl;
  if (opts.flight.query_timeout.count() > 0) cluster.default_query_timeout = opts.flight.query_timeout;
  flight::FlightSqlServer* flight = server.flight_.get();
  cluster.load = [flight] { return flight->Load(); };
  ARROW_ASSIGN_OR_RAISE(server.cluster_, cluster::FlightManager::Join(std::move(cluster)));
  server.flight_->SetCluster(server.cluster_.get());
  return arrow::Status::OK();
}

Server::~Server() {
  if (flight_) (void)Shutdown();
}

int Server::port() const { return flight_->port(); }

std::string Server::uri() const {
  const std::string& host = options_.host;
  const bool ipv6 = host.find(':') != std::string::npos;
  return std::string(options_.security.tls_cert.empty() ? "grpc://" : "grpc+tls://") +
         (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port());
}

int Server::WaitForSignal(const sigset_t& signals) {
  int signal = 0;
  while (sigwait(&signals, &signal) != 0) {
  }
  return signal;
}

arrow::Status Server::Shutdown() {
  if (!flight_) return arrow::Status::OK();
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = std::chrono::system_clock::now() + options_.shutdown_timeout;
  spdlog::info("event=shutdown_started timeout={}", FormatDuration(options_.shutdown_timeout));
  // 1. Other nodes of a cluster stop sending work here; then stop accepting
  // calls, and let in-flight streams drain until the deadline.
  //
  // gRPC cancels the calls still running at the deadline, but then waits for
  // every handler to return. One that never did would hold the process
  // forever: a grace period after the deadline, the watchdog logs what was
  // still open and ends the process without closing the engine (exit code 3;
  // docs/operations.md, Shutdown). The same holds for releasing what the
  // calls left.
  flight::FlightSqlServer* flight = flight_.get();
  Watchdog draining(start + options_.shutdown_timeout + kShutdownGrace, [flight, start] {
    ExitStuck(start, "draining calls", flight->DescribeInFlight());
  });
  if (cluster_) cluster_->Drain();
  auto status = flight_->Shutdown(&deadline);
  if (status.ok()) status = flight_->Wait();
  draining.Disarm();
  // 2. Release results nobody fetched, leave the cluster (which may wait
  // for ZooKeeper), then the engine.
  Watchdog releasing(std::chrono::steady_clock::now() + kShutdownGrace + options_.cluster.session_timeout,
                     [start] { ExitStuck(start, "releasing results", ""); });
  flight_->ReleaseResults();
  flight_->SetCluster(nullptr);
  cluster_.reset();  // leaves the cluster
  flight_.reset();
  releasing.Disarm();
  release_memory_.Stop();
  engine_.reset();
  spdlog::info("event=shutdown_done ms={}", std::chrono::duration_cast<std::chrono::milliseconds>(
                                                std::chrono::steady_clock::now() - start)
                                                .count());
  return status;
}

sigset_t BlockShutdownSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

}  // namespace squadron::server
