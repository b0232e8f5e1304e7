// A client of Spark Connect, the gRPC protocol of Apache Spark: runs SQL on a
// Spark Connect server and streams the Arrow batches its driver returns.
// Generated protobuf and gRPC types stay in the .cc (and in engine/spark/).
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <arrow/record_batch.h>
#include <arrow/result.h>

namespace squadron::engine::spark {

struct SparkConnectOptions {
  /// sc://HOST:PORT (Spark Connect's own URI form; parameters after '/;' are
  /// not read yet).
  std::string endpoint = "sc://127.0.0.1:15002";
  /// The user Spark sees (UserContext.user_id).
  std::string user = "squadron";
  /// How long Connect waits for the server to answer.
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(30)};
};

/// One Spark Connect channel and session. Thread-safe: gRPC channels and
/// stubs are; each call carries the session id.
class SparkConnectClient {
 public:
  /// Opens a channel and asks the server its Spark version. UNAVAILABLE
  /// naming the endpoint when it does not answer.
  static arrow::Result<std::unique_ptr<SparkConnectClient>> Connect(const SparkConnectOptions& options);

  ~SparkConnectClient();

  /// A client of a new Spark session on the same channel (no round trip).
  std::unique_ptr<SparkConnectClient> NewSession() const;

  /// The server's Spark version, e.g. "4.3.0".
  const std::string& spark_version() const;
  /// This client's Spark session id (a UUID).
  const std::string& session_id() const;

  /// Runs `sql` (ExecutePlan with a SQL relation) and streams its Arrow
  /// batches as they arrive from the driver. Spark's errors map to
  /// INVALID_ARGUMENT (analysis and parse errors) or UNKNOWN, with Spark's
  /// message; a lost server to UNAVAILABLE.
  arrow::Result<std::shared_ptr<arrow::RecordBatchReader>> Execute(const std::string& sql);

  /// The Arrow schema of `sql`'s result, from Spark's analysis (AnalyzePlan)
  /// without running it, mapped as Spark maps its types to Arrow.
  arrow::Result<std::shared_ptr<arrow::Schema>> AnalyzeSchema(const std::string& sql);

  /// Sets a Spark SQL configuration of this session (e.g.
  /// spark.sql.session.timeZone). Invalid with Spark's message for a value
  /// Spark refuses.
  arrow::Status SetConfig(const std::string& key, const std::string& value);

  /// Interrupts every operation of this session. Thread-safe.
  void InterruptAll();

 private:
  class Impl;
  explicit SparkConnectClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace squadron::engine::spark
