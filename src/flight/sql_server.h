// The Flight SQL protocol layer on arrow::flight::FlightServerBase.
#pragma once

#include <chrono>
#include <map>
#include <cstddef>
#include <memory>
#include <string>

#include <arrow/flight/server.h>

#include "engine/engine.h"

namespace squadron::auth {
class Authenticator;
}  // namespace squadron::auth

namespace squadron::cluster {
class FlightManager;
}

namespace squadron::flight {

struct FlightSqlOptions {
  /// Checks who calls (borrowed; null: nobody is asked, everyone is an
  /// anonymous admin). The server installs its middleware.
  auth::Authenticator* authenticator = nullptr;
  /// TLS of this node's calls to other nodes (forwarding, cancelling): the
  /// CAs to trust (PEM; empty: the system's) and, where they require a
  /// client certificate, this node's own certificate and key (PEM).
  std::string peer_tls_roots;
  std::string peer_tls_cert;
  std::string peer_tls_key;
  /// How long a result waits for its DoGet; also the tickets' expiration.
  std::chrono::milliseconds result_ttl{std::chrono::minutes(5)};
  /// Unfetched results held at once; beyond it GetFlightInfo is UNAVAILABLE.
  size_t max_open_results = 1024;
  /// Result streams (DoGet) and uploads (DoPut) served at once. Each holds a
  /// gRPC thread and up to about three result batches; past the limit calls
  /// get RESOURCE_EXHAUSTED and a DoGet's ticket stays unused.
  size_t max_streams = 128;
  /// How long GetFlightInfo waits for a query's first batch before it
  /// answers; the query goes on computing and can be cancelled meanwhile. A
  /// result complete within the wait reports its exact row count.
  std::chrono::milliseconds first_batch_wait{50};
  /// HMAC key for tickets, at least 16 bytes; shared by a cluster's nodes.
  std::string ticket_secret;
  /// A prepared statement handle unused this long is closed.
  std::chrono::milliseconds statement_idle_timeout{std::chrono::minutes(15)};
  /// Prepared statement handles open at once.
  size_t max_prepared_statements = 10000;
  /// A client session unused this long is closed with its handles.
  std::chrono::milliseconds session_idle_timeout{std::chrono::hours(1)};
  /// Client sessions open at once.
  size_t max_sessions = 10000;
  /// A transaction with no statement for this long is rolled back.
  std::chrono::milliseconds transaction_idle_timeout{std::chrono::minutes(15)};
  /// Transactions open at once (each holds an engine connection).
  size_t max_transactions = 1000;
  /// Longest a query or update may run, from GetFlightInfo/DoPut to the end
  /// of its result stream; 0 = no limit. Sessions may override it.
  std::chrono::milliseconds query_timeout{0};
  /// Parameter data one DoPut may bind (all its batches together).
  int64_t max_parameter_bytes = int64_t{64} << 20;
  /// Parameter sets (rows) one DoPut may bind: each runs the statement once,
  /// and a few bytes (a null or run-end encoded column) can declare billions.
  int64_t max_parameter_sets = 1000000;
  /// IPC body compression of query results when neither the DoGet call nor
  /// the session asks for one.
  arrow::Compression::type ipc_compression = arrow::Compression::UNCOMPRESSED;
  /// In a cluster, on an engine whose executors can push results into the
  /// nodes (Spark): which queries run distributed. kAuto: those the engine's
  /// optimizer expects to return at least distribute_min_bytes.
  enum class Distribute { kAuto, kAlways, kNever } distribute = Distribute::kAuto;
  int64_t distribute_min_bytes = int64_t{64} << 20;
  /// Extra options for the engine's writer of distributed results (the
  /// Spark connector's squadron.* options, e.g. squadron.batchRows).
  std::map<std::string, std::string> writer_options;
};

/// Serves Flight SQL commands from an engine.
///
/// Every statement runs at GetFlightInfo on its own engine session; its result
/// waits in a store until the DoGet of its signed ticket streams it. Thread-safe:
/// gRPC calls it from many threads.
class FlightSqlServer : public arrow::flight::FlightServerBase {
 public:
  /// `engine` is borrowed and must outlive the server. `options.ticket_secret`
  /// must be set (see GenerateTicketSecret()).
  FlightSqlServer(engine::Engine* engine, FlightSqlOptions options);
  ~FlightSqlServer() override;

  arrow::Status GetFlightInfo(const arrow::flight::ServerCallContext& context,
                              const arrow::flight::FlightDescriptor& request,
                              std::unique_ptr<arrow::flight::FlightInfo>* info) override;

  arrow::Status GetSchema(const arrow::flight::ServerCallContext& context,
                          const arrow::flight::FlightDescriptor& request,
                          std::unique_ptr<arrow::flight::SchemaResult>* schema) override;

  arrow::Status DoGet(const arrow::flight::ServerCallContext& context,
                      const arrow::flight::Ticket& request,
                      std::unique_ptr<arrow::flight::FlightDataStream>* stream) override;

  arrow::Status DoPut(const arrow::flight::ServerCallContext& context,
                      std::unique_ptr<arrow::flight::FlightMessageReader> reader,
                      std::unique_ptr<arrow::flight::FlightMetadataWriter> writer) override;

  arrow::Status DoAction(const arrow::flight::ServerCallContext& context,
                         const arrow::flight::Action& action,
                         std::unique_ptr<arrow::flight::ResultStream>* result) override;

  arrow::Status PollFlightInfo(const arrow::flight::ServerCallContext& context,
                               const arrow::flight::FlightDescriptor& request,
                               std::unique_ptr<arrow::flight::PollInfo>* info) override;

  arrow::Status ListActions(const arrow::flight::ServerCallContext& context,
                            std::vector<arrow::flight::ActionType>* actions) override;

  /// Releases every unfetched result; called by the server on shutdown.
  void ReleaseResults();

  /// Makes this server a node of a cluster (null: leave it). `cluster` is
  /// borrowed and must outlive the server or be unset first. With it, the
  /// exchange's calls are served, and read-only queries may run on the least
  /// loaded node.
  void SetCluster(cluster::FlightManager* cluster);

  /// Work in progress, for load balancing: queries running, results
  /// waiting for their fetch and streams being served.
  int64_t Load() const;

  /// What is in progress, for the log when shutdown is stuck: queries being
  /// started (GetFlightInfo), streams and uploads open (DoGet, DoPut), and
  /// results waiting for their fetch.
  std::string DescribeInFlight() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace squadron::flight
