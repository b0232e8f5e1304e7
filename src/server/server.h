// Wiring and lifecycle of one Squadron node: Start -> WaitForShutdownSignal
// -> Shutdown(deadline). The start-up and shutdown order lives here only.
#pragma once

#include <chrono>
#include <csignal>
#include <memory>
#include <string>

#include <arrow/result.h>

#include "auth/authenticator.h"
#include "auth/options.h"
#include "cluster/flight_manager.h"
#include "engine/duckdb/duckdb_engine.h"
#include "engine/spark/spark_connect_client.h"
#include "common/periodic_task.h"
#include "flight/sql_server.h"

namespace squadron::server {

/// Cluster membership (docs/cluster.md); off when `uri` is empty.
struct ClusterOptions {
  /// zk://HOST:PORT[,HOST:PORT...]/PATH, or empty for a single node.
  std::string uri;
  /// Unique in the cluster; empty: HOSTNAME-PORT.
  std::string node_id;
  /// How clients and peers reach this node; empty: grpc://HOST:PORT (the
  /// machine's name when listening on all addresses).
  std::string advertise_uri;
  /// ZooKeeper session timeout.
  std::chrono::milliseconds session_timeout{std::chrono::seconds(10)};
  /// Where producers' batches wait for their readers.
  cluster::SpoolOptions spool;
};

/// Who may call (docs/security.md).
struct SecurityOptions {
  auth::AuthOptions auth;
  /// --auth none on an address other than loopback: refused unless set.
  bool allow_insecure = false;
  std::string password_file;
  auth::LdapOptions ldap;
  auth::KerberosOptions kerberos;
  /// TLS: the server's certificate chain and key (PEM text); empty: plaintext.
  std::string tls_cert;
  std::string tls_key;
  /// Mutual TLS: the CAs (PEM text) a client certificate must chain to.
  std::string tls_client_ca;
  /// The CAs (PEM text) this node trusts when it calls other nodes; empty: tls_client_ca, else the system's.
  std::string tls_peer_ca;
};

struct ServerOptions {
  /// Address to listen on.
  std::string host = "127.0.0.1";
  /// Port to listen on; 0 picks a free one (see Server::port()).
  int port = 31337;
  /// "duckdb" (embedded, the default) or "spark" (a Spark Connect server).
  std::string engine = "duckdb";
  /// Engine settings (database file, threads, batch sizes, data paths...).
  engine::DuckDbOptions duckdb;
  /// With engine "spark": the Spark Connect server and the user Spark sees.
  engine::spark::SparkConnectOptions spark;
  /// Protocol settings (result time-to-live, ticket secret...). An empty
  /// ticket secret is replaced by a random one at start-up.
  flight::FlightSqlOptions flight;
  /// Joining a cluster of nodes.
  ClusterOptions cluster;
  SecurityOptions security;
  /// How often freed heap memory is handed back to the OS (malloc_trim); 0 = never.
  std::chrono::milliseconds memory_release_interval{std::chrono::seconds(10)};
  /// How long shutdown waits for in-flight calls before cancelling them.
  std::chrono::milliseconds shutdown_timeout{std::chrono::seconds(30)};
};

class Server {
 public:
  /// Opens the engine, then listens. Errors name what failed (bad data path,
  /// port in use...).
  static arrow::Result<std::unique_ptr<Server>> Start(ServerOptions options);

  ~Server();

  /// The port actually bound.
  int port() const;

  /// "grpc://host:port", or "grpc+tls://host:port" with TLS.
  std::string uri() const;

  /// Blocks the calling thread until one of `signals` arrives; returns its
  /// number. The signals must already be blocked in every thread (see
  /// BlockShutdownSignals()).
  int WaitForSignal(const sigset_t& signals);

  /// Stops accepting calls, lets in-flight calls finish until the shutdown
  /// timeout, then cancels the rest and releases unfetched results.
  arrow::Status Shutdown();

 private:
  Server() = default;

  // Joins options_.cluster.uri and hands the membership to the Flight server.
  static arrow::Status JoinCluster(Server& server);

  // Builds the authenticator of options_.security (null when nobody is asked).
  static arrow::Status StartSecurity(Server& server);

  ServerOptions options_;
  std::unique_ptr<auth::Authenticator> authenticator_;  // outlives flight_
  std::unique_ptr<engine::Engine> engine_;  // outlives flight_
  std::unique_ptr<flight::FlightSqlServer> flight_;  // null before listening and after Shutdown
  // Membership in a cluster, or null; joined after listening (peers need the
  // port), left after the Flight server has drained.
  std::unique_ptr<cluster::FlightManager> cluster_;
  // Hands freed memory back to the OS every memory_release_interval; stopped
  // before the engine goes.
  PeriodicTask release_memory_;
};

/// Blocks SIGINT and SIGTERM in the calling thread (and the threads it starts
/// afterwards) and returns the set, for Server::WaitForSignal.
sigset_t BlockShutdownSignals();

/// How long after the shutdown timeout cancelled calls may take to return
/// before the process ends without them.
inline constexpr std::chrono::seconds kShutdownGrace{10};
/// The exit code then (docs/operations.md, Shutdown).
inline constexpr int kExitShutdownStuck = 3;

}  // namespace squadron::server
