// A client of Spark Connect, the gRPC protocol of Apache Spark: runs SQL on a
// Spark Connect server and streams the Arrow batches its driver returns.
// Generated protobuf and gRPC types stay in the .cc (and in engine/spark/):
// only Arrow objects cross this header.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <arrow/record_batch.h>
#include <arrow/result.h>
#include <arrow/scalar.h>

namespace squadron::engine::spark {

struct SparkConnectOptions {
  /// sc://HOST:PORT[/;key=value;...], Spark Connect's own URI form. The
  /// parameters token, use_ssl and user_id are read (the fields below, when
  /// set, take precedence).
  std::string endpoint = "sc://127.0.0.1:15002";
  /// The user Spark sees (UserContext.user_id).
  std::string user = "squadron";
  /// Sent as "authorization: Bearer <token>" on every call (Spark's
  /// spark.connect.authenticate.token, or a proxy's token).
  std::optional<std::string> token;
  /// Connect with TLS.
  bool tls = false;
  /// PEM file of the certificate authorities trusted for TLS; empty means
  /// gRPC's default roots.
  std::string tls_ca_file;
  /// How long Connect waits for the server to answer.
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(30)};
  /// How long a result stream that broke (network error, server restart) is
  /// retried with ReattachExecute before the query fails with UNAVAILABLE.
  std::chrono::milliseconds reattach_timeout{std::chrono::seconds(15)};
};

/// Values bound to the parameter markers of one statement: `?` by position,
/// `:name` by name. Bound as Spark SQL literals (SQL relation arguments),
/// never spliced into the text.
struct SqlArguments {
  std::vector<std::shared_ptr<arrow::Scalar>> positional;
  std::vector<std::pair<std::string, std::shared_ptr<arrow::Scalar>>> named;
  bool empty() const { return positional.empty() && named.empty(); }
};

/// A statement as Spark's analysis describes it, without running it.
struct SqlDescription {
  /// Its result's schema (with NULLs bound to its parameters), with column
  /// metadata (WithColumnMetadata); no fields for most DDL and DML.
  std::shared_ptr<arrow::Schema> schema;
  /// Number of `?` markers.
  int positional = 0;
  /// Names of `:name` markers, in the order Spark reported them.
  std::vector<std::string> named;
};

/// One running ExecutePlan: its Arrow batches as they arrive, with
/// reattachable execution. Releasing (destroying) it before the end
/// interrupts the operation on Spark and releases it.
class Execution : public arrow::RecordBatchReader {
 public:
  /// True when ReadNext() returns without waiting for Spark: a batch is
  /// here, or the result has ended.
  virtual bool ready() const = 0;
  /// Reads from Spark until ready(); an error Spark sent meanwhile.
  virtual arrow::Status Wait() = 0;
  /// Spark's id of the operation (a UUID).
  virtual const std::string& operation_id() const = 0;
  /// Tasks completed out of the tasks of the stages Spark has planned so far,
  /// from Spark's execution progress; nullopt before Spark reported any.
  /// Thread-safe.
  virtual std::optional<double> progress() const = 0;
  /// Interrupts the operation on Spark (Interrupt by operation id); the
  /// stream then ends with CANCELLED. Thread-safe.
  virtual void Interrupt() = 0;
  /// The rows a command reported changing (a result column
  /// num_affected_rows, as Delta and other v2 tables report), when known
  /// after the stream ended; else nullopt.
  virtual std::optional<int64_t> affected_rows() const = 0;
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
  /// `user`, if given, is the user_context of the new session's requests.
  std::unique_ptr<SparkConnectClient> NewSession(const std::string& user = "") const;

  /// The server's Spark version, e.g. "4.3.0".
  const std::string& spark_version() const;
  /// This client's Spark session id (a UUID).
  const std::string& session_id() const;
  /// The endpoint as configured, for messages.
  const std::string& endpoint() const;
  /// True once Spark answered that it no longer knows this session (it
  /// restarted or expired it); a new session is needed.
  bool lost() const;

  /// Runs `sql` (ExecutePlan with a SQL relation) with `arguments` bound and
  /// streams its Arrow batches as they arrive from the driver. Spark's errors
  /// map to INVALID_ARGUMENT (analysis and parse errors) or UNKNOWN, with
  /// Spark's message; a lost server to UNAVAILABLE.
  arrow::Result<std::shared_ptr<Execution>> Execute(const std::string& sql, const SqlArguments& arguments = {});

  /// Writes `data` (Arrow IPC stream bytes, as a local relation) into
  /// `table` with DataFrameWriter semantics: save_as_table creates it (or
  /// appends, with append), else insertInto.
  arrow::Status WriteLocalRelation(std::string data, const std::string& table, bool save_as_table);

  /// Starts writing `sql`'s result with DataFrameWriter semantics:
  /// format(`format`).options(`options`).mode("append").save(). Reading the
  /// returned execution to its end waits for the write job. Errors as
  /// Execute.
  arrow::Result<std::shared_ptr<Execution>> StartWrite(const std::string& sql, const std::string& format,
                                                       const std::map<std::string, std::string>& options);

  /// Spark's optimizer's view of `sql`'s result (AnalyzePlan explain, cost
  /// mode): its estimated size and whether a global sort is at its root.
  struct PlanEstimate {
    std::optional<int64_t> bytes;
    bool ordered = false;
  };
  arrow::Result<PlanEstimate> Estimate(const std::string& sql);

  /// The Arrow schema of `sql`'s result, from Spark's analysis (AnalyzePlan)
  /// without running it, mapped as Spark maps its types to Arrow; each field
  /// carries ARROW:FLIGHT:SQL:TYPE_NAME (Spark's name), PRECISION and SCALE.
  arrow::Result<std::shared_ptr<arrow::Schema>> AnalyzeSchema(const std::string& sql,
                                                              const SqlArguments& arguments = {});

  /// Describes `sql`: its parameter markers, found by analysing it with NULLs
  /// bound until Spark finds no unbound parameter (one AnalyzePlan per
  /// marker, plus one), and its result schema. Errors as Execute.
  arrow::Result<SqlDescription> Describe(const std::string& sql);

  /// Sets a Spark SQL configuration of this session (e.g.
  /// spark.sql.session.timeZone). Invalid with Spark's message for a value
  /// Spark refuses.
  arrow::Status SetConfig(const std::string& key, const std::string& value);

  /// Returns a configuration of this session to its default.
  arrow::Status UnsetConfig(const std::string& key);

  /// Interrupts every operation of this session. Thread-safe.
  void InterruptAll();

  /// Ends the Spark session on the server (ReleaseSession): its temporary
  /// views and settings are gone. Best effort.
  void Release();

  /// The channel, stub and session (defined in the .cc; executions share it).
  class Impl;

 private:
  explicit SparkConnectClient(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

/// Adds ARROW:FLIGHT:SQL:TYPE_NAME (Spark's type name), PRECISION, SCALE and
/// IS_CASE_SENSITIVE to each field of a schema Spark produced.
std::shared_ptr<arrow::Schema> WithColumnMetadata(const std::shared_ptr<arrow::Schema>& schema);

/// Spark's SQL name of the Spark type an Arrow type came from, e.g. BIGINT,
/// DECIMAL(10,2), TIMESTAMP_NTZ, ARRAY<INT>.
std::string SparkTypeName(const arrow::DataType& type);

}  // namespace squadron::engine::spark
