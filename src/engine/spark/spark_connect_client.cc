#include "engine/spark/spark_connect_client.h"

#include <deque>
#include <random>
#include <regex>

#include <arrow/buffer.h>
#include <arrow/type.h>
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

// Spark's type as Spark's own Arrow conversion (ArrowUtils.toArrowType) has it.
arrow::Result<std::shared_ptr<arrow::DataType>> ToArrow(const sc::DataType& type, const std::string& timezone) {
  using K = sc::DataType::KindCase;
  switch (type.kind_case()) {
    case K::kNull: return arrow::null();
    case K::kBinary: return arrow::binary();
    case K::kBoolean: return arrow::boolean();
    case K::kByte: return arrow::int8();
    case K::kShort: return arrow::int16();
    case K::kInteger: return arrow::int32();
    case K::kLong: return arrow::int64();
    case K::kFloat: return arrow::float32();
    case K::kDouble: return arrow::float64();
    case K::kDecimal:
      return arrow::decimal128(type.decimal().has_precision() ? type.decimal().precision() : 10,
                               type.decimal().has_scale() ? type.decimal().scale() : 0);
    case K::kString:
    case K::kChar:
    case K::kVarChar: return arrow::utf8();
    case K::kDate: return arrow::date32();
    case K::kTimestamp: return arrow::timestamp(arrow::TimeUnit::MICRO, timezone);
    case K::kTimestampNtz: return arrow::timestamp(arrow::TimeUnit::MICRO);
    case K::kYearMonthInterval: return arrow::month_interval();
    case K::kDayTimeInterval: return arrow::duration(arrow::TimeUnit::MICRO);
    case K::kCalendarInterval: return arrow::month_day_nano_interval();
    case K::kArray: {
      ARROW_ASSIGN_OR_RAISE(auto element, ToArrow(type.array().element_type(), timezone));
      return arrow::list(arrow::field("element", element, type.array().contains_null()));
    }
    case K::kStruct: {
      arrow::FieldVector fields;
      for (const auto& f : type.struct_().fields()) {
        ARROW_ASSIGN_OR_RAISE(auto child, ToArrow(f.data_type(), timezone));
        fields.push_back(arrow::field(f.name(), child, f.nullable()));
      }
      return arrow::struct_(fields);
    }
    case K::kMap: {
      ARROW_ASSIGN_OR_RAISE(auto key, ToArrow(type.map().key_type(), timezone));
      ARROW_ASSIGN_OR_RAISE(auto value, ToArrow(type.map().value_type(), timezone));
      return std::make_shared<arrow::MapType>(arrow::field("key", key, false),
                                              arrow::field("value", value, type.map().value_contains_null()));
    }
    default:
      return Unimplemented("Spark type ", type.ShortDebugString(), " has no Arrow mapping in Squadron yet");
  }
}

}  // namespace

class SparkConnectClient::Impl {
 public:
  SparkConnectOptions options;
  std::string target;
  std::string session_id = NewUuid();
  std::string spark_version;
  std::shared_ptr<grpc::Channel> channel;
  std::shared_ptr<sc::SparkConnectService::Stub> stub;  // thread-safe; shared by sessions

  void FillUser(sc::UserContext* user) const { user->set_user_id(options.user); }

  // The session's time zone (timestamps carry it in Arrow).
  arrow::Result<std::string> TimeZone() {
    sc::ConfigRequest request;
    request.set_session_id(session_id);
    FillUser(request.mutable_user_context());
    request.mutable_operation()->mutable_get()->add_keys("spark.sql.session.timeZone");
    sc::ConfigResponse response;
    grpc::ClientContext context;
    auto status = stub->Config(&context, request, &response);
    if (!status.ok()) return FromGrpc(status, options.endpoint);
    if (response.pairs_size() != 1 || !response.pairs(0).has_value()) return std::string("UTC");
    return response.pairs(0).value();
  }
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

std::unique_ptr<SparkConnectClient> SparkConnectClient::NewSession() const {
  auto impl = std::make_unique<Impl>(*impl_);
  impl->session_id = NewUuid();
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

arrow::Result<std::shared_ptr<arrow::Schema>> SparkConnectClient::AnalyzeSchema(const std::string& sql) {
  sc::AnalyzePlanRequest request;
  request.set_session_id(impl_->session_id);
  impl_->FillUser(request.mutable_user_context());
  request.mutable_schema()->mutable_plan()->mutable_root()->mutable_sql()->set_query(sql);
  sc::AnalyzePlanResponse response;
  grpc::ClientContext context;
  auto status = impl_->stub->AnalyzePlan(&context, request, &response);
  if (!status.ok()) return FromGrpc(status, impl_->options.endpoint);
  const auto& type = response.schema().schema();
  if (!type.has_struct_()) return Internal(Msg("Spark described a result that is not a struct: ", type.ShortDebugString()));
  ARROW_ASSIGN_OR_RAISE(auto timezone, impl_->TimeZone());
  arrow::FieldVector fields;
  for (const auto& f : type.struct_().fields()) {
    ARROW_ASSIGN_OR_RAISE(auto child, ToArrow(f.data_type(), timezone));
    fields.push_back(arrow::field(f.name(), child, f.nullable()));
  }
  return arrow::schema(fields);
}

arrow::Status SparkConnectClient::SetConfig(const std::string& key, const std::string& value) {
  sc::ConfigRequest request;
  request.set_session_id(impl_->session_id);
  impl_->FillUser(request.mutable_user_context());
  auto* pair = request.mutable_operation()->mutable_set()->add_pairs();
  pair->set_key(key);
  pair->set_value(value);
  sc::ConfigResponse response;
  grpc::ClientContext context;
  auto status = impl_->stub->Config(&context, request, &response);
  if (status.ok()) return arrow::Status::OK();
  auto error = FromGrpc(status, impl_->options.endpoint);
  // A refused value is the caller's: name the setting.
  if (status.error_code() != grpc::StatusCode::UNAVAILABLE) {
    return InvalidArgument("Spark refused ", key, " = '", Clip(value, 200), "': ", error.message());
  }
  return error;
}

void SparkConnectClient::InterruptAll() {
  sc::InterruptRequest request;
  request.set_session_id(impl_->session_id);
  impl_->FillUser(request.mutable_user_context());
  request.set_interrupt_type(sc::InterruptRequest::INTERRUPT_TYPE_ALL);
  sc::InterruptResponse response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  (void)impl_->stub->Interrupt(&context, request, &response);
}

}  // namespace squadron::engine::spark
