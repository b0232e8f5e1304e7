#include "engine/spark/spark_engine.h"

#include <mutex>

#include "common/status.h"
#include "engine/spark/spark_metadata.h"

namespace squadron::engine {

namespace {

constexpr char kNotYet[] = " is not available on the Spark engine yet";

// A Spark result read from the driver as it arrives.
class SparkResultStream final : public ResultStream {
 public:
  explicit SparkResultStream(std::shared_ptr<arrow::RecordBatchReader> reader)
      : reader_(std::move(reader)), schema_(reader_->schema()) {}

  const std::shared_ptr<arrow::Schema>& schema() const override { return schema_; }

  arrow::Result<std::shared_ptr<arrow::RecordBatch>> Next() override {
    // Spark's batches can be empty (an empty result still has one).
    while (true) {
      ARROW_ASSIGN_OR_RAISE(auto batch, reader_->Next());
      if (batch == nullptr || batch->num_rows() > 0) return batch;
    }
  }

  std::optional<int64_t> num_rows() const override { return std::nullopt; }

 private:
  std::shared_ptr<arrow::RecordBatchReader> reader_;
  std::shared_ptr<arrow::Schema> schema_;
};

class SparkSession final : public Session {
 public:
  explicit SparkSession(std::unique_ptr<spark::SparkConnectClient> client) : client_(std::move(client)) {}

  arrow::Result<StatementDescription> Prepare(const std::string& sql) override {
    StatementDescription description;
    ARROW_ASSIGN_OR_RAISE(description.result_schema, client_->AnalyzeSchema(sql));
    description.parameter_schema = arrow::schema({});
    // Spark's analysis does not say whether a statement writes: only plain
    // queries are treated as read-only, never routed elsewhere by guess.
    description.is_query = true;
    description.read_only = false;
    return description;
  }

  arrow::Result<std::unique_ptr<ResultStream>> Execute(const std::string& sql,
                                                       const ParameterBatches& parameters) override {
    if (!parameters.empty()) return Unimplemented("Parameters", kNotYet);
    ARROW_ASSIGN_OR_RAISE(auto reader, client_->Execute(sql));
    return std::make_unique<SparkResultStream>(std::move(reader));
  }

  arrow::Result<int64_t> ExecuteUpdate(const std::string& sql, const ParameterBatches& parameters) override {
    ARROW_ASSIGN_OR_RAISE(auto stream, Execute(sql, parameters));
    while (true) {
      ARROW_ASSIGN_OR_RAISE(auto batch, stream->Next());
      if (batch == nullptr) break;
    }
    return -1;  // Spark does not report the rows a statement changed
  }

  arrow::Result<int64_t> Ingest(const IngestRequest&, std::shared_ptr<arrow::RecordBatchReader>) override {
    return Unimplemented("Bulk ingest", kNotYet);
  }
  arrow::Result<std::vector<std::string>> ListCatalogs() override { return spark::ListCatalogs(*client_); }
  arrow::Result<std::vector<std::pair<std::string, std::string>>> ListSchemas(
      const std::optional<std::string>& catalog, const std::optional<std::string>& schema_pattern) override {
    return spark::ListSchemas(*client_, catalog, schema_pattern);
  }
  arrow::Result<std::vector<TableEntry>> ListTables(const TableFilter& filter) override {
    return spark::ListTables(*client_, filter);
  }
  arrow::Result<Dialect> DescribeDialect() override { return spark::DescribeDialect(*client_); }
  arrow::Result<std::vector<PrimaryKeyColumn>> PrimaryKeys(const TableRef&) override {
    return std::vector<PrimaryKeyColumn>{};  // Spark tables have no enforced keys
  }
  arrow::Result<std::vector<ForeignKeyColumn>> ForeignKeys(const std::optional<TableRef>&,
                                                           const std::optional<TableRef>&) override {
    return std::vector<ForeignKeyColumn>{};
  }
  arrow::Status TrackProgress() override { return arrow::Status::OK(); }
  std::optional<double> Progress() override { return std::nullopt; }
  void Interrupt() override { client_->InterruptAll(); }

 private:
  std::unique_ptr<spark::SparkConnectClient> client_;
};

// A Spark SQL identifier, back-quoted.
std::string Quote(const std::string& name) {
  std::string quoted = "`";
  for (char c : name) {
    if (c == '`') quoted.push_back('`');
    quoted.push_back(c);
  }
  return quoted + "`";
}

arrow::Status RunForEffect(spark::SparkConnectClient& client, const std::string& sql) {
  ARROW_ASSIGN_OR_RAISE(auto reader, client.Execute(sql));
  while (true) {
    ARROW_ASSIGN_OR_RAISE(auto batch, reader->Next());
    if (batch == nullptr) return arrow::Status::OK();
  }
}

class SparkEngine final : public Engine {
 public:
  SparkEngine(spark::SparkConnectOptions options, std::unique_ptr<spark::SparkConnectClient> base)
      : options_(std::move(options)), base_(std::move(base)) {}

  arrow::Result<std::unique_ptr<Session>> OpenSession(const SessionSettings& settings) override {
    // A Spark session of its own, on the engine's one gRPC channel, with the
    // client session's settings applied: Spark's time zone, current catalog
    // and current database.
    auto client = base_->NewSession();
    if (settings.timezone) ARROW_RETURN_NOT_OK(client->SetConfig("spark.sql.session.timeZone", *settings.timezone));
    if (settings.catalog) ARROW_RETURN_NOT_OK(RunForEffect(*client, "USE CATALOG " + Quote(*settings.catalog)));
    if (settings.schema) ARROW_RETURN_NOT_OK(RunForEffect(*client, "USE " + Quote(*settings.schema)));
    return std::make_unique<SparkSession>(std::move(client));
  }

  std::vector<SqlTypeInfo> SqlTypes() const override { return spark::SqlTypes(); }
  std::string name() const override { return "spark"; }
  std::string version() const override { return base_->spark_version(); }
  bool read_only() const override { return false; }

 private:
  const spark::SparkConnectOptions options_;
  const std::unique_ptr<spark::SparkConnectClient> base_;  // the channel every session shares
};

}  // namespace

arrow::Result<std::unique_ptr<Engine>> OpenSparkEngine(const spark::SparkConnectOptions& options) {
  ARROW_ASSIGN_OR_RAISE(auto base, spark::SparkConnectClient::Connect(options));
  return std::make_unique<SparkEngine>(options, std::move(base));
}

}  // namespace squadron::engine
