// `squadron query`: the command-line Flight SQL client.
#pragma once

#include <string>

namespace squadron::cli {

struct QueryOptions {
  /// Server to ask, e.g. grpc://127.0.0.1:31337.
  std::string uri = "grpc://127.0.0.1:31337";
  /// The SQL; read from stdin when empty (and no path is given).
  std::string sql;
  /// Instead of SQL, a Flight path descriptor (for Flight services such as
  /// the distributed Parquet example, which plan a directory).
  std::string path;
  /// Write every row here instead of printing a table: .arrow (Arrow IPC
  /// file), .arrows (IPC stream), .parquet or .csv.
  std::string output;
  /// Endpoints fetched at once.
  int parallel = 4;
  /// Rows printed as a table when there is no --output.
  int max_rows = 100;
  /// Print plan/fetch timings and throughput to stderr.
  bool timing = false;
  /// Progress on stderr: "auto" (only on a terminal), "always" or "never".
  std::string progress = "auto";
  /// IPC body compression to ask the server for ("" = the server's choice).
  std::string compression;
  /// Credentials, sent as an authorization header (Basic or Bearer).
  std::string username;
  std::string password;
  std::string token;
  /// TLS (grpc+tls://): PEM files of the CAs to trust (default: the
  /// system's), and of a client certificate and key for mutual TLS.
  std::string tls_ca;
  std::string tls_cert;
  std::string tls_key;
  /// Authenticate with Kerberos: a SPNEGO token for `kerberos_service`@host
  /// (the URI's host) from the ticket cache (kinit), then the bearer token
  /// the server answers with.
  bool kerberos = false;
  std::string kerberos_service = "HTTP";
};

/// What `squadron cluster status` asks for.
struct ClusterStatusOptions {
  /// zk://HOST:PORT[,HOST:PORT...]/PATH
  std::string cluster;
  /// Print JSON instead of tables.
  bool json = false;
  /// How long to wait for ZooKeeper.
  int timeout_seconds = 10;
};

/// Prints the cluster's nodes and distributed queries; returns the exit code.
int RunClusterStatus(const ClusterStatusOptions& options);

/// Runs the query; returns the process exit code (0 ok, 1 query failed,
/// 2 bad options). Output goes to stdout; errors, progress and timings to stderr.
int RunQuery(const QueryOptions& options);

}  // namespace squadron::cli
