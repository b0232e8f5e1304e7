#include "engine/spark/spark_connect_client.h"

#include <deque>
#include <random>
#include <regex>

#include <arrow/buffer.h>
#include <arrow/io/memory.h>
#include <arrow/ipc/reader.h>
#include <grpcpp/grpcpp.h>

#include "common/status.h"
#include "common/text.h"
#include "spark/connect/base.grpc.pb.h"

namespace squadron::engine::spark {

namespace sc = ::spark::connect;

namespace {

// A random (version 4) UUID: Spark Connect requires session and operation
// ids in this form.
std::string NewUuid() {
  thread_local std::mt19937_64 random(std::random_device{}());
  const uint64_t high = (random() & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;
  const uint64_t low = (random() & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;
  char text[37];
  std::snprintf(text, sizeof(text), "%08x-%04x-%04x-%04x-%012llx", static_cast<uint32_t>(high >> 32),
                static_cast<uint32_t>((high >> 16) & 0xffff), static_cast<uint32_t>(high & 0xffff),
                static_cast<uint32_t>(low >> 48), static_cast<unsigned long long>(low & 0xffffffffffffULL));
  return text;
}

// "sc://host:port[/;params]" -> "host:port".
arrow::Result<std::string> TargetOf(const std::string& endpoint) {
  constexpr std::string_view kScheme = "sc://";
  if (endpoint.rfind(kScheme, 0) != 0) {
    return InvalidArgument("Invalid Spark Connect endpoint '", Clip(endpoint, 200), "': expected sc://HOST:PORT");
  }
  std::string target = endpoint.substr(kScheme.size());
  if (auto slash = target.find('/'); slash != std::string::npos) target.resize(slash);
  if (target.empty() || target.find(':') == std::string::npos) {
    return InvalidArgument("Invalid Spark Connect endpoint '", Clip(endpoint, 200), "': expected sc://HOST:PORT");
  }
  return target;
}

// Spark's errors carry an SQLSTATE; class 42 (syntax or access rule) and 22
// (data exception) are the caller's, the rest Spark's own failures.
arrow::Status FromGrpc(const grpc::Status& status, const std::string& endpoint) {
  const std::string message = Clip(status.error_message(), 4000);
  switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
      return Unavailable(Msg("Spark Connect at ", endpoint, " is unavailable: ", message));
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return DeadlineExceeded(Msg("Spark Connect at ", endpoint, " did not answer in time: ", message));
    case grpc::StatusCode::CANCELLED:
      return Cancelled(Msg("Spark cancelled the operation: ", message));
    case grpc::StatusCode::INVALID_ARGUMENT:
      return InvalidArgument("Spark: ", message);
    default:
      break;
  }
  static const std::regex kSqlState("SQLSTATE: (42|22)[0-9A-Z]{3}");
  if (std::regex_search(message, kSqlState)) return InvalidArgument("Spark: ", message);
  return Failed(Msg("Spark: ", message));
}

}  // namespace

class SparkConnectClient::Impl {
 public:
  SparkConnectOptions options;
  std::string target;
  std::string session_id = NewUuid();
  std::string spark_version;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<sc::SparkConnectService::Stub> stub;

  void FillUser(sc::UserContext* user) const { user->set_user_id(options.user); }
};

namespace {

// Streams one ExecutePlan's Arrow batches. Each ArrowBatch message holds an
// Arrow IPC stream (schema and batches); it is decoded as it arrives.
class ExecuteReader final : public arrow::RecordBatchReader {
 public:
  ExecuteReader(std::unique_ptr<grpc::ClientContext> context,
                std::unique_ptr<grpc::ClientReader<sc::ExecutePlanResponse>> stream, std::string endpoint)
      : context_(std::move(context)), stream_(std::move(stream)), endpoint_(std::move(endpoint)) {}

  ~ExecuteReader() override {
    if (!finished_) {
      context_->TryCancel();
      (void)stream_->Finish();
    }
  }

  // Reads up to the first Arrow batch, which gives the schema.
  arrow::Status Start() {
    while (schema_ == nullptr) {
      ARROW_ASSIGN_OR_RAISE(bool more, Pull());
      if (!more) {
        return Internal(Msg("Spark Connect at ", endpoint_, " returned no Arrow batch (not even an empty one)"));
      }
    }
    return arrow::Status::OK();
  }

  std::shared_ptr<arrow::Schema> schema() const override { return schema_; }

  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* batch) override {
    while (pending_.empty()) {
      ARROW_ASSIGN_OR_RAISE(bool more, Pull());
      if (!more) {
        *batch = nullptr;
        return arrow::Status::OK();
      }
    }
    *batch = std::move(pending_.front());
    pending_.pop_front();
    return arrow::Status::OK();
  }

 private:
  // Reads one response; false at the end of the stream.
  arrow::Result<bool> Pull() {
    if (finished_) return false;
    sc::ExecutePlanResponse response;
    if (!stream_->Read(&response)) {
      finished_ = true;
      auto status = stream_->Finish();
      if (!status.ok()) return FromGrpc(status, endpoint_);
      return false;
    }
    if (response.has_arrow_batch()) {
      ARROW_RETURN_NOT_OK(Decode(std::move(*response.mutable_arrow_batch()->mutable_data())));
    }
    return true;
  }

  // Takes the bytes over (no copy): the batches keep them alive.
  arrow::Status Decode(std::string data) {
    auto input = std::make_shared<arrow::io::BufferReader>(arrow::Buffer::FromString(std::move(data)));
    ARROW_ASSIGN_OR_RAISE(auto reader, arrow::ipc::RecordBatchStreamReader::Open(input));
    if (schema_ == nullptr) schema_ = reader->schema();
    while (true) {
      ARROW_ASSIGN_OR_RAISE(auto batch, reader->Next());
      if (batch == nullptr) break;
      pending_.push_back(std::move(batch));
    }
    return arrow::Status::OK();
  }

  std::unique_ptr<grpc::ClientContext> context_;
  std::unique_ptr<grpc::ClientReader<sc::ExecutePlanResponse>> stream_;
  const std::string endpoint_;
  std::shared_ptr<arrow::Schema> schema_;
  std::deque<std::shared_ptr<arrow::RecordBatch>> pending_;
  bool finished_ = false;
};

}  // namespace

SparkConnectClient::SparkConnectClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SparkConnectClient::~SparkConnectClient() = default;

arrow::Result<std::unique_ptr<SparkConnectClient>> SparkConnectClient::Connect(const SparkConnectOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  ARROW_ASSIGN_OR_RAISE(impl->target, TargetOf(options.endpoint));
  grpc::ChannelArguments arguments;
  arguments.SetMaxReceiveMessageSize(-1);  // Arrow batches can be large
  impl->channel = grpc::CreateCustomChannel(impl->target, grpc::InsecureChannelCredentials(), arguments);
  impl->stub = sc::SparkConnectService::NewStub(impl->channel);

  sc::AnalyzePlanRequest request;
  request.set_session_id(impl->session_id);
  impl->FillUser(request.mutable_user_context());
  request.mutable_spark_version();
  sc::AnalyzePlanResponse response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + options.connect_timeout);
  context.set_wait_for_ready(true);  // until the deadline, while Spark is starting
  auto status = impl->stub->AnalyzePlan(&context, request, &response);
  if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    // wait_for_ready: no connection within the timeout.
    return Unavailable(Msg("Spark Connect at ", options.endpoint, " is unavailable: no answer within ",
                           options.connect_timeout.count(), " ms (", status.error_message(), ")"));
  }
  if (!status.ok()) return FromGrpc(status, options.endpoint);
  impl->spark_version = response.spark_version().version();
  return std::unique_ptr<SparkConnectClient>(new SparkConnectClient(std::move(impl)));
}

const std::string& SparkConnectClient::spark_version() const { return impl_->spark_version; }
const std::string& SparkConnectClient::session_id() const { return impl_->session_id; }

arrow::Result<std::shared_ptr<arrow::RecordBatchReader>> SparkConnectClient::Execute(const std::string& sql) {
  sc::ExecutePlanRequest request;
  request.set_session_id(impl_->session_id);
  impl_->FillUser(request.mutable_user_context());
  request.set_operation_id(NewUuid());
  request.set_client_type("squadron");
  request.mutable_plan()->mutable_root()->mutable_sql()->set_query(sql);
  auto context = std::make_unique<grpc::ClientContext>();
  auto stream = impl_->stub->ExecutePlan(context.get(), request);
  auto reader = std::make_shared<ExecuteReader>(std::move(context), std::move(stream), impl_->options.endpoint);
  ARROW_RETURN_NOT_OK(reader->Start());
  return reader;
}

}  // namespace squadron::engine::spark
