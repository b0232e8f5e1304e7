#include "engine/spark/spark_connect_client.h"

#include <condition_variable>
#include <deque>
#include <fstream>
#include <mutex>
#include <random>
#include <regex>
#include <sstream>
#include <thread>

#include <arrow/array.h>
#include <arrow/buffer.h>
#include <arrow/io/memory.h>
#include <arrow/ipc/reader.h>
#include <arrow/type.h>
#include <arrow/util/decimal.h>
#include <arrow/util/key_value_metadata.h>
#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

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
  if (message.find("OPERATION_CANCELED") != std::string::npos) {
    return Cancelled(Msg("Spark cancelled the operation: ", message));
  }
  if (message.find("INVALID_HANDLE.") != std::string::npos) {
    // The server lost the session or operation: it restarted, or expired it.
    return Unavailable(Msg("Spark Connect at ", endpoint, " no longer knows this session or operation "
                           "(restarted?): ", message));
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


// What an sc:// URI names: the gRPC target and the parameters Squadron reads.
struct Endpoint {
  std::string target;
  std::optional<std::string> token;
  std::optional<bool> use_ssl;
  std::optional<std::string> user_id;
};

// "sc://host:port[/;key=value;...]", Spark Connect's URI form.
arrow::Result<Endpoint> ParseEndpoint(const std::string& uri) {
  constexpr std::string_view kScheme = "sc://";
  auto invalid = [&](const std::string& why) {
    // Never echo the URI whole: it may hold a token.
    return InvalidArgument("Invalid Spark Connect endpoint: ", why, " (expected sc://HOST:PORT[/;token=...;use_ssl=true])");
  };
  if (uri.rfind(kScheme, 0) != 0) return invalid("it does not start with sc://");
  Endpoint endpoint;
  std::string rest = uri.substr(kScheme.size());
  std::string params;
  if (auto slash = rest.find('/'); slash != std::string::npos) {
    params = rest.substr(slash + 1);
    rest.resize(slash);
  }
  if (rest.empty() || rest.find(':') == std::string::npos) return invalid("no HOST:PORT");
  endpoint.target = rest;
  std::stringstream parts(params);
  std::string part;
  while (std::getline(parts, part, ';')) {
    if (part.empty()) continue;
    const auto eq = part.find('=');
    if (eq == std::string::npos) return invalid("parameter without '=': " + Clip(part.substr(0, 40), 40));
    const std::string key = part.substr(0, eq), value = part.substr(eq + 1);
    if (key == "token") {
      endpoint.token = value;
    } else if (key == "use_ssl") {
      endpoint.use_ssl = value == "true" || value == "1";
    } else if (key == "user_id") {
      endpoint.user_id = value;
    }  // session_id, user_agent, ...: not ours to use
  }
  return endpoint;
}

// The endpoint for messages: scheme, host and port, never the parameters.
std::string Printable(const std::string& uri) {
  auto slash = uri.find('/', uri.rfind("sc://", 0) == 0 ? 5 : 0);
  return Clip(slash == std::string::npos ? uri : uri.substr(0, slash), 200);
}

bool HasTimestamp(const sc::DataType& type) {
  using K = sc::DataType::KindCase;
  switch (type.kind_case()) {
    case K::kTimestamp: return true;
    case K::kArray: return HasTimestamp(type.array().element_type());
    case K::kMap: return HasTimestamp(type.map().key_type()) || HasTimestamp(type.map().value_type());
    case K::kStruct:
      for (const auto& f : type.struct_().fields()) {
        if (HasTimestamp(f.data_type())) return true;
      }
      return false;
    default: return false;
  }
}

arrow::Result<std::shared_ptr<arrow::Schema>> ToArrowSchema(const sc::DataType& type, const std::string& timezone) {
  arrow::FieldVector fields;
  for (const auto& f : type.struct_().fields()) {
    ARROW_ASSIGN_OR_RAISE(auto child, ToArrow(f.data_type(), timezone));
    fields.push_back(arrow::field(f.name(), child, f.nullable()));
  }
  return arrow::schema(std::move(fields));
}

// An Arrow scalar as a Spark SQL literal, with the Spark type the Arrow type
// maps from (the inverse of ToArrow).
arrow::Status ToLiteral(const arrow::Scalar& scalar, sc::Expression::Literal* literal) {
  using T = arrow::Type;
  if (!scalar.is_valid) {
    // A typed NULL, so `? IS NULL` and `? + 1` analyse as they would with a value.
    auto* type = literal->mutable_null();
    switch (scalar.type->id()) {
      case T::BOOL: type->mutable_boolean(); break;
      case T::INT8: type->mutable_byte(); break;
      case T::INT16: type->mutable_short_(); break;
      case T::INT32: type->mutable_integer(); break;
      case T::INT64: type->mutable_long_(); break;
      case T::FLOAT: type->mutable_float_(); break;
      case T::DOUBLE: type->mutable_double_(); break;
      case T::STRING: case T::LARGE_STRING: case T::STRING_VIEW: type->mutable_string(); break;
      case T::BINARY: case T::LARGE_BINARY: type->mutable_binary(); break;
      case T::DATE32: type->mutable_date(); break;
      case T::DECIMAL128: {
        const auto& d = static_cast<const arrow::Decimal128Type&>(*scalar.type);
        type->mutable_decimal()->set_precision(d.precision());
        type->mutable_decimal()->set_scale(d.scale());
        break;
      }
      case T::TIMESTAMP:
        if (static_cast<const arrow::TimestampType&>(*scalar.type).timezone().empty()) {
          type->mutable_timestamp_ntz();
        } else {
          type->mutable_timestamp();
        }
        break;
      default: type->mutable_null(); break;
    }
    return arrow::Status::OK();
  }
  switch (scalar.type->id()) {
    case T::NA: literal->mutable_null()->mutable_null(); return arrow::Status::OK();
    case T::BOOL: literal->set_boolean(static_cast<const arrow::BooleanScalar&>(scalar).value); break;
    case T::INT8: literal->set_byte(static_cast<const arrow::Int8Scalar&>(scalar).value); break;
    case T::INT16: literal->set_short_(static_cast<const arrow::Int16Scalar&>(scalar).value); break;
    case T::INT32: literal->set_integer(static_cast<const arrow::Int32Scalar&>(scalar).value); break;
    case T::INT64: literal->set_long_(static_cast<const arrow::Int64Scalar&>(scalar).value); break;
    case T::UINT8: literal->set_short_(static_cast<const arrow::UInt8Scalar&>(scalar).value); break;
    case T::UINT16: literal->set_integer(static_cast<const arrow::UInt16Scalar&>(scalar).value); break;
    case T::UINT32: literal->set_long_(static_cast<const arrow::UInt32Scalar&>(scalar).value); break;
    case T::FLOAT: literal->set_float_(static_cast<const arrow::FloatScalar&>(scalar).value); break;
    case T::DOUBLE: literal->set_double_(static_cast<const arrow::DoubleScalar&>(scalar).value); break;
    case T::STRING: case T::LARGE_STRING: case T::STRING_VIEW: {
      const auto& value = *static_cast<const arrow::BaseBinaryScalar&>(scalar).value;
      literal->set_string(std::string(value.ToString()));
      break;
    }
    case T::BINARY: case T::LARGE_BINARY: case T::FIXED_SIZE_BINARY: {
      const auto& value = *static_cast<const arrow::BaseBinaryScalar&>(scalar).value;
      literal->set_binary(value.ToString());
      break;
    }
    case T::DECIMAL128: {
      const auto& d = static_cast<const arrow::Decimal128Scalar&>(scalar);
      const auto& type = static_cast<const arrow::Decimal128Type&>(*scalar.type);
      auto* decimal = literal->mutable_decimal();
      decimal->set_value(d.value.ToString(type.scale()));
      decimal->set_precision(type.precision());
      decimal->set_scale(type.scale());
      break;
    }
    case T::DATE32: literal->set_date(static_cast<const arrow::Date32Scalar&>(scalar).value); break;
    case T::DATE64:
      literal->set_date(static_cast<int32_t>(static_cast<const arrow::Date64Scalar&>(scalar).value / 86400000));
      break;
    case T::TIMESTAMP: {
      const auto& type = static_cast<const arrow::TimestampType&>(*scalar.type);
      int64_t value = static_cast<const arrow::TimestampScalar&>(scalar).value;
      switch (type.unit()) {
        case arrow::TimeUnit::SECOND: value *= 1000000; break;
        case arrow::TimeUnit::MILLI: value *= 1000; break;
        case arrow::TimeUnit::MICRO: break;
        case arrow::TimeUnit::NANO: value /= 1000; break;  // Spark keeps microseconds
      }
      if (type.timezone().empty()) {
        literal->set_timestamp_ntz(value);
      } else {
        literal->set_timestamp(value);
      }
      break;
    }
    default:
      return InvalidArgument("A parameter of Arrow type ", scalar.type->ToString(),
                             " cannot be bound on Spark (no Spark SQL literal of that type)");
  }
  return arrow::Status::OK();
}

arrow::Status BindArguments(const SqlArguments& arguments, sc::SQL* sql) {
  for (const auto& value : arguments.positional) {
    ARROW_RETURN_NOT_OK(ToLiteral(*value, sql->add_pos_arguments()->mutable_literal()));
  }
  for (const auto& [name, value] : arguments.named) {
    ARROW_RETURN_NOT_OK(ToLiteral(*value, (*sql->mutable_named_arguments())[name].mutable_literal()));
  }
  return arrow::Status::OK();
}

}  // namespace

std::string SparkTypeName(const arrow::DataType& type) {
  using T = arrow::Type;
  switch (type.id()) {
    case T::NA: return "VOID";
    case T::BOOL: return "BOOLEAN";
    case T::INT8: return "TINYINT";
    case T::INT16: return "SMALLINT";
    case T::INT32: return "INT";
    case T::INT64: return "BIGINT";
    case T::FLOAT: return "FLOAT";
    case T::DOUBLE: return "DOUBLE";
    case T::DECIMAL128: {
      const auto& d = static_cast<const arrow::Decimal128Type&>(type);
      return "DECIMAL(" + std::to_string(d.precision()) + "," + std::to_string(d.scale()) + ")";
    }
    case T::STRING: case T::LARGE_STRING: return "STRING";
    case T::BINARY: case T::LARGE_BINARY: return "BINARY";
    case T::DATE32: return "DATE";
    case T::TIMESTAMP:
      return static_cast<const arrow::TimestampType&>(type).timezone().empty() ? "TIMESTAMP_NTZ" : "TIMESTAMP";
    case T::INTERVAL_MONTHS: return "INTERVAL YEAR TO MONTH";
    case T::DURATION: return "INTERVAL DAY TO SECOND";
    case T::INTERVAL_MONTH_DAY_NANO: return "INTERVAL";
    case T::LIST: case T::LARGE_LIST:
      return "ARRAY<" + SparkTypeName(*static_cast<const arrow::BaseListType&>(type).value_type()) + ">";
    case T::MAP: {
      const auto& m = static_cast<const arrow::MapType&>(type);
      return "MAP<" + SparkTypeName(*m.key_type()) + "," + SparkTypeName(*m.item_type()) + ">";
    }
    case T::STRUCT: {
      std::string name = "STRUCT<";
      for (int i = 0; i < type.num_fields(); ++i) {
        if (i > 0) name += ",";
        name += type.field(i)->name() + ":" + SparkTypeName(*type.field(i)->type());
      }
      return name + ">";
    }
    default: return type.ToString();
  }
}

std::shared_ptr<arrow::Schema> WithColumnMetadata(const std::shared_ptr<arrow::Schema>& schema) {
  arrow::FieldVector fields;
  fields.reserve(schema->num_fields());
  for (const auto& field : schema->fields()) {
    auto metadata = field->metadata() ? field->metadata()->Copy() : std::make_shared<arrow::KeyValueMetadata>();
    auto set = [&](const std::string& key, const std::string& value) { (void)metadata->Set(key, value); };
    const auto& type = *field->type();
    set("ARROW:FLIGHT:SQL:TYPE_NAME", SparkTypeName(type));
    if (type.id() == arrow::Type::DECIMAL128) {
      const auto& d = static_cast<const arrow::Decimal128Type&>(type);
      set("ARROW:FLIGHT:SQL:PRECISION", std::to_string(d.precision()));
      set("ARROW:FLIGHT:SQL:SCALE", std::to_string(d.scale()));
    }
    // Spark compares strings by their bytes (the default UTF8_BINARY collation).
    set("ARROW:FLIGHT:SQL:IS_CASE_SENSITIVE", type.id() == arrow::Type::STRING ? "1" : "0");
    set("ARROW:FLIGHT:SQL:IS_READ_ONLY", "1");
    fields.push_back(field->WithMetadata(std::move(metadata)));
  }
  return arrow::schema(std::move(fields), schema->metadata());
}

class SparkConnectClient::Impl {
 public:
  SparkConnectOptions options;
  std::string target;
  std::string printable;  // the endpoint without parameters, for messages
  std::optional<std::string> token;
  std::string session_id = NewUuid();
  std::string spark_version;
  std::shared_ptr<grpc::Channel> channel;
  std::shared_ptr<sc::SparkConnectService::Stub> stub;  // thread-safe; shared by sessions

  // The server-side id of the session, as Spark first reported it: sent
  // back with every request, so a Spark that restarted (and would silently
  // make a fresh session under the same id, without its settings and views)
  // refuses the request instead (INVALID_HANDLE.SESSION_CHANGED).
  struct Observed {
    std::mutex mutex;
    std::string server_side_session_id;
  };
  std::shared_ptr<Observed> observed = std::make_shared<Observed>();

  void Saw(const std::string& server_side_session_id) const {
    if (server_side_session_id.empty()) return;
    std::lock_guard lock(observed->mutex);
    if (observed->server_side_session_id.empty()) observed->server_side_session_id = server_side_session_id;
  }

  template <typename Request>
  void Fill(Request* request) const {
    request->set_session_id(session_id);
    request->mutable_user_context()->set_user_id(options.user);
    request->set_client_type("squadron");
    std::lock_guard lock(observed->mutex);
    if (!observed->server_side_session_id.empty()) {
      request->set_client_observed_server_side_session_id(observed->server_side_session_id);
    }
  }

  // A call context with the token, and a deadline when given.
  std::unique_ptr<grpc::ClientContext> Context(std::optional<std::chrono::milliseconds> timeout = std::nullopt) const {
    auto context = std::make_unique<grpc::ClientContext>();
    if (token) context->AddMetadata("authorization", "Bearer " + *token);
    if (timeout) context->set_deadline(std::chrono::system_clock::now() + *timeout);
    return context;
  }

  /// Set once Spark said it no longer knows this session (it restarted, or
  /// expired the session): the session must be replaced.
  std::shared_ptr<std::atomic<bool>> lost = std::make_shared<std::atomic<bool>>(false);

  arrow::Status Error(const grpc::Status& status) const {
    if (status.error_message().find("INVALID_HANDLE.SESSION") != std::string::npos) lost->store(true);
    return FromGrpc(status, printable);
  }

  // The session's time zone (timestamps carry it in Arrow).
  arrow::Result<std::string> TimeZone() const {
    sc::ConfigRequest request;
    Fill(&request);
    request.mutable_operation()->mutable_get()->add_keys("spark.sql.session.timeZone");
    sc::ConfigResponse response;
    auto context = Context(std::chrono::seconds(60));
    auto status = stub->Config(context.get(), request, &response);
    if (!status.ok()) return Error(status);
    if (response.pairs_size() != 1 || !response.pairs(0).has_value()) return std::string("UTC");
    return response.pairs(0).value();
  }

  void ReleaseExecute(const std::string& operation_id, const std::optional<std::string>& until) const {
    sc::ReleaseExecuteRequest request;
    Fill(&request);
    request.set_operation_id(operation_id);
    if (until) {
      request.mutable_release_until()->set_response_id(*until);
    } else {
      request.mutable_release_all();
    }
    sc::ReleaseExecuteResponse response;
    auto context = Context(std::chrono::seconds(10));
    (void)stub->ReleaseExecute(context.get(), request, &response);  // best effort: Spark also expires them
  }

  void InterruptOperation(const std::string& operation_id) const {
    sc::InterruptRequest request;
    Fill(&request);
    request.set_interrupt_type(sc::InterruptRequest::INTERRUPT_TYPE_OPERATION_ID);
    request.set_operation_id(operation_id);
    sc::InterruptResponse response;
    auto context = Context(std::chrono::seconds(10));
    (void)stub->Interrupt(context.get(), request, &response);
  }
};

namespace {

// One ExecutePlan, reattachable: Spark keeps its responses until released,
// so a stream that ends early (a network error, or the server's limit on a
// stream's duration) resumes where it stopped, with ReattachExecute.
class ExecutionImpl final : public Execution {
 public:
  ExecutionImpl(std::shared_ptr<const SparkConnectClient::Impl> client, std::string operation_id)
      : client_(std::move(client)), operation_id_(std::move(operation_id)) {}

  ~ExecutionImpl() override {
    if (reattaches_ > 0) {
      spdlog::info("event=spark_stream_reattached operation={} times={} complete={}", operation_id_, reattaches_,
                   complete_);
    }
    if (stream_ != nullptr) {
      context_->TryCancel();
      (void)stream_->Finish();
    }
    // Frees Spark's buffers and, if the operation still runs, interrupts it
    // and waits until it is torn down.
    client_->ReleaseExecute(operation_id_, std::nullopt);
  }

  arrow::Status Start(const sc::ExecutePlanRequest& request) {
    context_ = client_->Context();
    stream_ = client_->stub->ExecutePlan(context_.get(), request);
    if (request.plan().has_command()) {
      // A command returns no rows; reading it to the end waits for it.
      schema_ = arrow::schema({});
      return arrow::Status::OK();
    }
    // Up to the schema: Spark sends it once the plan is analysed, before
    // running it (or, failing that, the first Arrow batch carries it).
    while (schema_ == nullptr) {
      ARROW_ASSIGN_OR_RAISE(bool more, Pull());
      if (!more) {
        return Internal(Msg("Spark Connect at ", client_->printable,
                            " returned neither a schema nor an Arrow batch"));
      }
    }
    return arrow::Status::OK();
  }

  bool ready() const override { return !error_.ok() || !pending_.empty() || (complete_ && stream_ == nullptr); }

  arrow::Status Wait() override {
    while (!ready()) {
      ARROW_ASSIGN_OR_RAISE(bool more, Pull());
      if (!more) break;
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

  const std::string& operation_id() const override { return operation_id_; }

  std::optional<double> progress() const override {
    const double value = progress_.load();
    if (value < 0) return std::nullopt;
    return value;
  }

  void Interrupt() override {
    interrupted_.store(true);
    client_->InterruptOperation(operation_id_);
  }

  std::optional<int64_t> affected_rows() const override { return affected_rows_; }

 private:
  static constexpr int kReleaseEvery = 32;

  // Reads one response; false at the end of the result. An error stays: every
  // later call returns it.
  arrow::Result<bool> Pull() {
    if (!error_.ok()) return error_;
    auto more = PullOnce();
    if (!more.ok()) error_ = more.status();
    return more;
  }

  arrow::Result<bool> PullOnce() {
    while (true) {
      if (complete_ && stream_ == nullptr) return false;
      if (stream_ == nullptr) ARROW_RETURN_NOT_OK(Reattach());
      sc::ExecutePlanResponse response;
      if (stream_->Read(&response)) {
        retry_since_.reset();
        ARROW_RETURN_NOT_OK(Handle(&response));
        return true;
      }
      const grpc::Status status = stream_->Finish();
      stream_.reset();
      context_.reset();
      if (complete_) return false;
      if (interrupted_.load()) {
        return Cancelled(Msg("The Spark operation ", operation_id_, " was interrupted"));
      }
      if (status.ok()) continue;  // Spark ended the stream early on purpose: reattach
      // A stream that broke: retry for a while if the server may come back,
      // unless the operation never started there.
      // (Spark's own errors come as INTERNAL, with their error class: final.)
      const bool transient = status.error_code() == grpc::StatusCode::UNAVAILABLE;
      if (!transient || !last_response_id_) return client_->Error(status);
      const auto now = std::chrono::steady_clock::now();
      if (!retry_since_) retry_since_ = now;
      if (now - *retry_since_ > client_->options.reattach_timeout) {
        return Unavailable(Msg("Spark Connect at ", client_->printable, " was lost during the query and did not "
                               "come back within ", client_->options.reattach_timeout.count(), " ms: ",
                               Clip(status.error_message(), 2000)));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }

  arrow::Status Reattach() {
    ++reattaches_;
    spdlog::debug("event=spark_reattach operation={} attempt={}", operation_id_, reattaches_);
    sc::ReattachExecuteRequest request;
    client_->Fill(&request);
    request.set_operation_id(operation_id_);
    if (last_response_id_) request.set_last_response_id(*last_response_id_);
    context_ = client_->Context();
    stream_ = client_->stub->ReattachExecute(context_.get(), request);
    return arrow::Status::OK();
  }

  arrow::Status Handle(sc::ExecutePlanResponse* response) {
    client_->Saw(response->server_side_session_id());
    if (!response->response_id().empty()) last_response_id_ = response->response_id();
    if (response->has_schema() && schema_ == nullptr) ARROW_RETURN_NOT_OK(SetSchema(response->schema()));
    switch (response->response_type_case()) {
      case sc::ExecutePlanResponse::kArrowBatch:
        ARROW_RETURN_NOT_OK(Decode(std::move(*response->mutable_arrow_batch()->mutable_data())));
        break;
      case sc::ExecutePlanResponse::kExecutionProgress: {
        int64_t tasks = 0, done = 0;
        for (const auto& stage : response->execution_progress().stages()) {
          tasks += stage.num_tasks();
          done += stage.done() ? stage.num_tasks() : stage.num_completed_tasks();
        }
        // Spark adds stages as it plans them (adaptive execution): the share
        // of tasks done can drop; progress is never shown going back.
        if (tasks > 0) {
          progress_.store(std::max(progress_.load(), static_cast<double>(done) / static_cast<double>(tasks)));
        }
        break;
      }
      case sc::ExecutePlanResponse::kResultComplete:
        complete_ = true;
        progress_.store(1.0);
        break;
      default:
        break;
    }
    if (++unreleased_ >= kReleaseEvery && last_response_id_ && !complete_) {
      // Spark keeps every response until told the client has it.
      client_->ReleaseExecute(operation_id_, last_response_id_);
      unreleased_ = 0;
    }
    return arrow::Status::OK();
  }

  // The result's schema as Spark maps its types to Arrow.
  arrow::Status SetSchema(const sc::DataType& type) {
    if (!type.has_struct_()) return arrow::Status::OK();  // not a table: the batches say
    std::string timezone;
    if (HasTimestamp(type)) {
      ARROW_ASSIGN_OR_RAISE(timezone, client_->TimeZone());
    }
    ARROW_ASSIGN_OR_RAISE(auto schema, ToArrowSchema(type, timezone));
    UseSchema(std::move(schema));
    return arrow::Status::OK();
  }

  void UseSchema(std::shared_ptr<arrow::Schema> schema) {
    schema_ = std::move(schema);
    affected_column_ = schema_->GetFieldIndex("num_affected_rows");
    if (affected_column_ >= 0 && schema_->field(affected_column_)->type()->id() != arrow::Type::INT64) {
      affected_column_ = -1;
    }
  }

  // Takes the bytes over (no copy): the batches keep them alive.
  arrow::Status Decode(std::string data) {
    auto input = std::make_shared<arrow::io::BufferReader>(arrow::Buffer::FromString(std::move(data)));
    ARROW_ASSIGN_OR_RAISE(auto reader, arrow::ipc::RecordBatchStreamReader::Open(input));
    if (schema_ == nullptr) {
      UseSchema(reader->schema());
    } else if (!reader->schema()->Equals(*schema_, /*check_metadata=*/false)) {
      return Internal(Msg("Spark's Arrow batches have the schema ", reader->schema()->ToString(),
                          " but its plan said ", schema_->ToString(), ": a type mapping Squadron gets wrong"));
    }
    while (true) {
      ARROW_ASSIGN_OR_RAISE(auto batch, reader->Next());
      if (batch == nullptr) break;
      if (affected_column_ >= 0) {
        const auto& counts = static_cast<const arrow::Int64Array&>(*batch->column(affected_column_));
        for (int64_t i = 0; i < counts.length(); ++i) {
          if (counts.IsValid(i)) affected_rows_ = affected_rows_.value_or(0) + counts.Value(i);
        }
      }
      pending_.push_back(std::move(batch));
    }
    return arrow::Status::OK();
  }

  const std::shared_ptr<const SparkConnectClient::Impl> client_;
  const std::string operation_id_;
  std::unique_ptr<grpc::ClientContext> context_;
  std::unique_ptr<grpc::ClientReader<sc::ExecutePlanResponse>> stream_;
  std::optional<std::string> last_response_id_;
  std::optional<std::chrono::steady_clock::time_point> retry_since_;
  int unreleased_ = 0;
  int reattaches_ = 0;
  bool complete_ = false;
  std::atomic<bool> interrupted_{false};
  std::atomic<double> progress_{-1};
  std::shared_ptr<arrow::Schema> schema_;
  int affected_column_ = -1;
  std::optional<int64_t> affected_rows_;
  std::deque<std::shared_ptr<arrow::RecordBatch>> pending_;
  arrow::Status error_;
};

arrow::Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return InvalidArgument("Cannot read the Spark Connect CA file ", Clip(path, 300));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

SparkConnectClient::SparkConnectClient(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
SparkConnectClient::~SparkConnectClient() = default;

arrow::Result<std::unique_ptr<SparkConnectClient>> SparkConnectClient::Connect(const SparkConnectOptions& options) {
  auto impl = std::make_shared<Impl>();
  impl->options = options;
  ARROW_ASSIGN_OR_RAISE(auto endpoint, ParseEndpoint(options.endpoint));
  impl->target = endpoint.target;
  impl->printable = Printable(options.endpoint);
  impl->token = options.token ? options.token : endpoint.token;
  if (endpoint.user_id && options.user == SparkConnectOptions{}.user) impl->options.user = *endpoint.user_id;
  const bool tls = options.tls || endpoint.use_ssl.value_or(false);
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (tls) {
    grpc::SslCredentialsOptions ssl;
    if (!options.tls_ca_file.empty()) {
      ARROW_ASSIGN_OR_RAISE(ssl.pem_root_certs, ReadFile(options.tls_ca_file));
    }
    credentials = grpc::SslCredentials(ssl);
  } else {
    credentials = grpc::InsecureChannelCredentials();
  }
  grpc::ChannelArguments arguments;
  arguments.SetMaxReceiveMessageSize(-1);  // Arrow batches can be large
  arguments.SetMaxSendMessageSize(-1);     // local relations (ingest) too
  // After Spark restarts, reconnect within seconds (gRPC's default backoff
  // grows to two minutes).
  arguments.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
  arguments.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  impl->channel = grpc::CreateCustomChannel(impl->target, credentials, arguments);
  impl->stub = sc::SparkConnectService::NewStub(impl->channel);

  sc::AnalyzePlanRequest request;
  impl->Fill(&request);
  request.mutable_spark_version();
  sc::AnalyzePlanResponse response;
  auto context = impl->Context(options.connect_timeout);
  context->set_wait_for_ready(true);  // until the deadline, while Spark is starting
  auto status = impl->stub->AnalyzePlan(context.get(), request, &response);
  if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    // wait_for_ready: no connection within the timeout.
    return Unavailable(Msg("Spark Connect at ", impl->printable, " is unavailable: no answer within ",
                           options.connect_timeout.count(), " ms (", status.error_message(), ")"));
  }
  if (status.error_code() == grpc::StatusCode::UNAUTHENTICATED ||
      status.error_code() == grpc::StatusCode::PERMISSION_DENIED) {
    return InvalidArgument("Spark Connect at ", impl->printable, " refused the credentials",
                           impl->token ? " (the token)" : " (no token was given: see --spark-connect-token)", ": ",
                           Clip(status.error_message(), 500));
  }
  if (!status.ok()) return impl->Error(status);
  impl->spark_version = response.spark_version().version();
  return std::unique_ptr<SparkConnectClient>(new SparkConnectClient(std::move(impl)));
}

std::unique_ptr<SparkConnectClient> SparkConnectClient::NewSession(const std::string& user) const {
  auto impl = std::make_shared<Impl>(*impl_);
  if (!user.empty()) impl->options.user = user;
  impl->session_id = NewUuid();
  impl->lost = std::make_shared<std::atomic<bool>>(false);
  impl->observed = std::make_shared<Impl::Observed>();
  return std::unique_ptr<SparkConnectClient>(new SparkConnectClient(std::move(impl)));
}

const std::string& SparkConnectClient::spark_version() const { return impl_->spark_version; }
const std::string& SparkConnectClient::session_id() const { return impl_->session_id; }
const std::string& SparkConnectClient::endpoint() const { return impl_->printable; }
bool SparkConnectClient::lost() const { return impl_->lost->load(); }

namespace {

arrow::Result<std::shared_ptr<Execution>> Run(const std::shared_ptr<SparkConnectClient::Impl>& impl, sc::Plan plan) {
  sc::ExecutePlanRequest request;
  impl->Fill(&request);
  std::string operation_id = NewUuid();
  request.set_operation_id(operation_id);
  *request.mutable_plan() = std::move(plan);
  request.add_request_options()->mutable_reattach_options()->set_reattachable(true);
  auto execution = std::make_shared<ExecutionImpl>(impl, std::move(operation_id));
  ARROW_RETURN_NOT_OK(execution->Start(request));
  return execution;
}

}  // namespace

arrow::Result<std::shared_ptr<Execution>> SparkConnectClient::Execute(const std::string& sql,
                                                                      const SqlArguments& arguments) {
  sc::Plan plan;
  auto* relation = plan.mutable_root()->mutable_sql();
  relation->set_query(sql);
  ARROW_RETURN_NOT_OK(BindArguments(arguments, relation));
  return Run(impl_, std::move(plan));
}

arrow::Status SparkConnectClient::WriteLocalRelation(std::string data, const std::string& table, bool save_as_table) {
  sc::Plan plan;
  auto* write = plan.mutable_command()->mutable_write_operation();
  write->mutable_input()->mutable_local_relation()->set_data(std::move(data));
  write->mutable_table()->set_table_name(table);
  if (save_as_table) {
    write->set_source("parquet");
    write->mutable_table()->set_save_method(sc::WriteOperation::SaveTable::TABLE_SAVE_METHOD_SAVE_AS_TABLE);
    write->set_mode(sc::WriteOperation::SAVE_MODE_APPEND);
  } else {
    write->mutable_table()->set_save_method(sc::WriteOperation::SaveTable::TABLE_SAVE_METHOD_INSERT_INTO);
    write->set_mode(sc::WriteOperation::SAVE_MODE_APPEND);
  }
  ARROW_ASSIGN_OR_RAISE(auto execution, Run(impl_, std::move(plan)));
  std::shared_ptr<arrow::RecordBatch> batch;
  do {
    ARROW_RETURN_NOT_OK(execution->ReadNext(&batch));
  } while (batch != nullptr);
  return arrow::Status::OK();
}

arrow::Result<std::shared_ptr<Execution>> SparkConnectClient::StartWrite(
    const std::string& sql, const std::string& format, const std::map<std::string, std::string>& options) {
  sc::Plan plan;
  auto* write = plan.mutable_command()->mutable_write_operation();
  write->mutable_input()->mutable_sql()->set_query(sql);
  write->set_source(format);
  write->set_mode(sc::WriteOperation::SAVE_MODE_APPEND);
  for (const auto& [key, value] : options) (*write->mutable_options())[key] = value;
  return Run(impl_, std::move(plan));
}

arrow::Result<SparkConnectClient::PlanEstimate> SparkConnectClient::Estimate(const std::string& sql) {
  sc::AnalyzePlanRequest request;
  impl_->Fill(&request);
  request.mutable_explain()->mutable_plan()->mutable_root()->mutable_sql()->set_query(sql);
  request.mutable_explain()->set_explain_mode(sc::AnalyzePlanRequest::Explain::EXPLAIN_MODE_COST);
  sc::AnalyzePlanResponse response;
  auto context = impl_->Context();
  auto status = impl_->stub->AnalyzePlan(context.get(), request, &response);
  if (!status.ok()) return impl_->Error(status);
  // The optimized plan's root line, e.g.
  //   Sort [y#1L DESC NULLS LAST], true, Statistics(sizeInBytes=114.4 MiB)
  const std::string& text = response.explain().explain_string();
  PlanEstimate estimate;
  constexpr std::string_view kHeader = "== Optimized Logical Plan ==\n";
  const auto start = text.find(kHeader);
  if (start == std::string::npos) return estimate;
  const auto line_start = start + kHeader.size();
  const std::string root = text.substr(line_start, text.find('\n', line_start) - line_start);
  estimate.ordered = root.rfind("Sort ", 0) == 0 && root.find("], true") != std::string::npos;
  static const std::regex kSize("sizeInBytes=([0-9.]+(?:E[0-9]+)?) ?(B|KiB|MiB|GiB|TiB|PiB|EiB)");
  std::smatch match;
  if (std::regex_search(root, match, kSize)) {
    static const std::map<std::string, double> kUnits = {{"B", 1.0},          {"KiB", 1024.0},
                                                         {"MiB", 1048576.0},  {"GiB", 1073741824.0},
                                                         {"TiB", 1099511627776.0}, {"PiB", 1125899906842624.0},
                                                         {"EiB", 1152921504606846976.0}};
    const double bytes = std::stod(match[1].str()) * kUnits.at(match[2].str());
    estimate.bytes = bytes >= 9.0e18 ? std::numeric_limits<int64_t>::max() : static_cast<int64_t>(bytes);
  }
  return estimate;
}

arrow::Result<std::shared_ptr<arrow::Schema>> SparkConnectClient::AnalyzeSchema(const std::string& sql,
                                                                                const SqlArguments& arguments) {
  sc::AnalyzePlanRequest request;
  impl_->Fill(&request);
  auto* relation = request.mutable_schema()->mutable_plan()->mutable_root()->mutable_sql();
  relation->set_query(sql);
  ARROW_RETURN_NOT_OK(BindArguments(arguments, relation));
  sc::AnalyzePlanResponse response;
  auto context = impl_->Context();
  auto status = impl_->stub->AnalyzePlan(context.get(), request, &response);
  if (!status.ok()) return impl_->Error(status);
  impl_->Saw(response.server_side_session_id());
  const auto& type = response.schema().schema();
  if (!type.has_struct_()) {
    return Internal(Msg("Spark described a result that is not a struct: ", Clip(type.ShortDebugString(), 500)));
  }
  std::string timezone;
  if (HasTimestamp(type)) {
    ARROW_ASSIGN_OR_RAISE(timezone, impl_->TimeZone());
  }
  ARROW_ASSIGN_OR_RAISE(auto schema, ToArrowSchema(type, timezone));
  return WithColumnMetadata(schema);
}

arrow::Result<SqlDescription> SparkConnectClient::Describe(const std::string& sql) {
  // Spark names the first unbound marker it meets: `_<offset>` for `?`, the
  // name for `:name`. Bind a NULL for it and ask again.
  static const std::regex kUnbound("UNBOUND_SQL_PARAMETER\\] Found the unbound parameter: ([A-Za-z0-9_]+)");
  constexpr int kMaxParameters = 2000;
  SqlDescription found;
  SqlArguments nulls;
  for (int round = 0; round <= kMaxParameters; ++round) {
    auto schema = AnalyzeSchema(sql, nulls);
    if (schema.ok()) {
      found.schema = std::move(schema).ValueOrDie();
      return found;
    }
    std::smatch match;
    const std::string message = schema.status().message();
    if (!std::regex_search(message, match, kUnbound)) return schema.status();
    const std::string name = match[1].str();
    auto null = arrow::MakeNullScalar(arrow::null());
    if (name.size() > 1 && name[0] == '_' &&
        std::all_of(name.begin() + 1, name.end(), [](unsigned char c) { return std::isdigit(c) != 0; })) {
      ++found.positional;
      nulls.positional.push_back(null);
    } else {
      found.named.push_back(name);
      nulls.named.emplace_back(name, null);
    }
  }
  return InvalidArgument("The statement has more than ", kMaxParameters, " parameters");
}

arrow::Status SparkConnectClient::SetConfig(const std::string& key, const std::string& value) {
  sc::ConfigRequest request;
  impl_->Fill(&request);
  auto* pair = request.mutable_operation()->mutable_set()->add_pairs();
  pair->set_key(key);
  pair->set_value(value);
  sc::ConfigResponse response;
  auto context = impl_->Context(std::chrono::seconds(60));
  auto status = impl_->stub->Config(context.get(), request, &response);
  if (status.ok()) return arrow::Status::OK();
  auto error = impl_->Error(status);
  // A refused value is the caller's: name the setting.
  if (status.error_code() != grpc::StatusCode::UNAVAILABLE) {
    return InvalidArgument("Spark refused ", key, " = '", Clip(value, 200), "': ", error.message());
  }
  return error;
}

arrow::Status SparkConnectClient::UnsetConfig(const std::string& key) {
  sc::ConfigRequest request;
  impl_->Fill(&request);
  request.mutable_operation()->mutable_unset()->add_keys(key);
  sc::ConfigResponse response;
  auto context = impl_->Context(std::chrono::seconds(60));
  auto status = impl_->stub->Config(context.get(), request, &response);
  return status.ok() ? arrow::Status::OK() : impl_->Error(status);
}

void SparkConnectClient::InterruptAll() {
  sc::InterruptRequest request;
  impl_->Fill(&request);
  request.set_interrupt_type(sc::InterruptRequest::INTERRUPT_TYPE_ALL);
  sc::InterruptResponse response;
  auto context = impl_->Context(std::chrono::seconds(10));
  (void)impl_->stub->Interrupt(context.get(), request, &response);
}

void SparkConnectClient::Release() {
  sc::ReleaseSessionRequest request;
  request.set_session_id(impl_->session_id);
  request.mutable_user_context()->set_user_id(impl_->options.user);
  request.set_client_type("squadron");
  sc::ReleaseSessionResponse response;
  auto context = impl_->Context(std::chrono::seconds(10));
  (void)impl_->stub->ReleaseSession(context.get(), request, &response);
}

}  // namespace squadron::engine::spark
