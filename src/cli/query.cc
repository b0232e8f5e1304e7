#include "cli/query.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <thread>

#include <arrow/csv/writer.h>
#include <arrow/flight/client.h>
#include <arrow/flight/client_middleware.h>
#include <arrow/io/file.h>
#include <arrow/ipc/writer.h>
#include <arrow/record_batch.h>
#include <arrow/scalar.h>
#include <arrow/table.h>
#include <arrow/util/base64.h>
#include <arrow/util/byte_size.h>
#include <gssapi/gssapi.h>
#include <parquet/arrow/writer.h>

#include "flight/command.h"
#include "flight/compression.h"

namespace squadron::cli {

namespace fl = arrow::flight;
using Clock = std::chrono::steady_clock;

namespace {

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Where fetched batches go: a file writer, or a bounded sample for the table.
class Sink {
 public:
  virtual ~Sink() = default;
  virtual arrow::Status Write(const std::shared_ptr<arrow::RecordBatch>& batch) = 0;
  virtual arrow::Status Close() = 0;
};

class FileSink final : public Sink {
 public:
  static arrow::Result<std::unique_ptr<Sink>> Open(const std::string& path,
                                                   const std::shared_ptr<arrow::Schema>& schema) {
    auto sink = std::unique_ptr<FileSink>(new FileSink());
    ARROW_ASSIGN_OR_RAISE(sink->file_, arrow::io::FileOutputStream::Open(path));
    if (EndsWith(path, ".parquet")) {
      ARROW_ASSIGN_OR_RAISE(sink->parquet_,
                            parquet::arrow::FileWriter::Open(*schema, arrow::default_memory_pool(), sink->file_));
    } else if (EndsWith(path, ".csv")) {
      ARROW_ASSIGN_OR_RAISE(sink->batches_, arrow::csv::MakeCSVWriter(sink->file_, schema));
    } else if (EndsWith(path, ".arrows")) {
      ARROW_ASSIGN_OR_RAISE(sink->batches_, arrow::ipc::MakeStreamWriter(sink->file_, schema));
    } else if (EndsWith(path, ".arrow") || EndsWith(path, ".feather") || EndsWith(path, ".ipc")) {
      ARROW_ASSIGN_OR_RAISE(sink->batches_, arrow::ipc::MakeFileWriter(sink->file_, schema));
    } else {
      return arrow::Status::Invalid("Unknown --output format for '", path,
                                    "': use .arrow (Arrow IPC file), .arrows (IPC stream), .parquet or .csv");
    }
    return sink;
  }

  arrow::Status Write(const std::shared_ptr<arrow::RecordBatch>& batch) override {
    return parquet_ ? parquet_->WriteRecordBatch(*batch) : batches_->WriteRecordBatch(*batch);
  }

  arrow::Status Close() override {
    ARROW_RETURN_NOT_OK(parquet_ ? parquet_->Close() : batches_->Close());
    return file_->Close();
  }

 private:
  FileSink() = default;
  std::shared_ptr<arrow::io::FileOutputStream> file_;
  std::unique_ptr<parquet::arrow::FileWriter> parquet_;
  std::shared_ptr<arrow::ipc::RecordBatchWriter> batches_;
};

// Keeps the first rows for printing; counts the rest.
class TableSink final : public Sink {
 public:
  explicit TableSink(int64_t max_rows) : max_rows_(max_rows) {}
  arrow::Status Write(const std::shared_ptr<arrow::RecordBatch>& batch) override {
    if (kept_ < max_rows_) {
      auto slice = batch->Slice(0, std::min(batch->num_rows(), max_rows_ - kept_));
      kept_ += slice->num_rows();
      batches_.push_back(std::move(slice));
    }
    return arrow::Status::OK();
  }
  arrow::Status Close() override { return arrow::Status::OK(); }
  const arrow::RecordBatchVector& batches() const { return batches_; }

 private:
  const int64_t max_rows_;
  int64_t kept_ = 0;
  arrow::RecordBatchVector batches_;
};

// One value as a person reads it: text unquoted, enums decoded, lists as
// [a, b], structs as {name: value}.
std::string Format(const arrow::Scalar& scalar) {
  if (!scalar.is_valid) return "NULL";
  switch (scalar.type->id()) {
    case arrow::Type::STRING:
    case arrow::Type::LARGE_STRING:
    case arrow::Type::STRING_VIEW:
      return static_cast<const arrow::BaseBinaryScalar&>(scalar).ToString();
    case arrow::Type::DICTIONARY: {
      auto decoded = static_cast<const arrow::DictionaryScalar&>(scalar).GetEncodedValue();
      return decoded.ok() ? Format(**decoded) : "?";
    }
    case arrow::Type::LIST:
    case arrow::Type::LARGE_LIST:
    case arrow::Type::FIXED_SIZE_LIST:
    case arrow::Type::MAP: {
      const auto& values = *static_cast<const arrow::BaseListScalar&>(scalar).value;
      std::string out = "[";
      for (int64_t i = 0; i < values.length(); ++i) {
        auto item = values.GetScalar(i);
        out += (i ? ", " : "") + (item.ok() ? Format(**item) : "?");
      }
      return out + "]";
    }
    case arrow::Type::STRUCT: {
      const auto& st = static_cast<const arrow::StructScalar&>(scalar);
      std::string out = "{";
      for (size_t i = 0; i < st.value.size(); ++i) {
        out += (i ? ", " : "") + st.type->field(static_cast<int>(i))->name() + ": " + Format(*st.value[i]);
      }
      return out + "}";
    }
    default:
      return scalar.ToString();
  }
}

std::string Cell(const std::shared_ptr<arrow::Array>& column, int64_t row) {
  auto scalar = column->GetScalar(row);
  return scalar.ok() ? Format(**scalar) : "?";
}

// Prints rows as an aligned text table, with a row count line.
void PrintTable(const arrow::Schema& schema, const arrow::RecordBatchVector& batches, int64_t total_rows) {
  const int columns = schema.num_fields();
  std::vector<std::vector<std::string>> cells;
  std::vector<size_t> widths(columns);
  std::vector<std::string> header;
  for (int c = 0; c < columns; ++c) {
    header.push_back(schema.field(c)->name());
    widths[c] = header.back().size();
  }
  for (const auto& batch : batches) {
    for (int64_t r = 0; r < batch->num_rows(); ++r) {
      std::vector<std::string> row;
      for (int c = 0; c < columns; ++c) {
        row.push_back(Cell(batch->column(c), r));
        widths[c] = std::min<size_t>(std::max(widths[c], row.back().size()), 60);
      }
      cells.push_back(std::move(row));
    }
  }
  auto print_row = [&](const std::vector<std::string>& row) {
    std::string line;
    for (int c = 0; c < columns; ++c) {
      std::string value = row[c].size() > widths[c] ? row[c].substr(0, widths[c] - 1) + "~" : row[c];
      line += (c ? " | " : "") + value + std::string(widths[c] - value.size(), ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    std::cout << line << "\n";
  };
  print_row(header);
  std::string rule;
  for (int c = 0; c < columns; ++c) rule += (c ? "-+-" : "") + std::string(widths[c], '-');
  std::cout << rule << "\n";
  for (const auto& row : cells) print_row(row);
  const int64_t shown = static_cast<int64_t>(cells.size());
  if (shown < total_rows) {
    std::cout << "(" << total_rows << " rows, first " << shown << " shown; --output FILE writes them all)\n";
  } else {
    std::cout << "(" << total_rows << (total_rows == 1 ? " row)\n" : " rows)\n");
  }
}

class Progress {
 public:
  explicit Progress(bool enabled) : enabled_(enabled), start_(Clock::now()) {}
  void Add(int64_t rows, int64_t bytes) {
    rows_ += rows;
    bytes_ += bytes;
    if (!enabled_) return;
    const auto now = Clock::now();
    std::lock_guard<std::mutex> lock(mutex_);
    if (now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    Print(now, "\r");
  }
  void Finish() {
    if (!enabled_) return;
    std::lock_guard<std::mutex> lock(mutex_);
    Print(Clock::now(), "\r");
    std::fputs("\n", stderr);
  }
  int64_t rows() const { return rows_; }
  int64_t bytes() const { return bytes_; }

 private:
  void Print(Clock::time_point now, const char* prefix) {
    const double seconds = std::max(1e-9, Seconds(now - start_));
    std::fprintf(stderr, "%s%lld rows, %.1f MB, %.1f MB/s   ", prefix, static_cast<long long>(rows_.load()),
                 bytes_ / 1e6, bytes_ / 1e6 / seconds);
    std::fflush(stderr);
  }
  const bool enabled_;
  const Clock::time_point start_;
  std::atomic<int64_t> rows_{0};
  std::atomic<int64_t> bytes_{0};
  std::mutex mutex_;
  Clock::time_point last_{};
};

arrow::Result<std::string> ReadPem(const std::string& path, const char* flag) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return arrow::Status::Invalid("Cannot read ", flag, " '", path, "'");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Remembers the bearer token a server sends back in `authorization`.
class TokenCatcher final : public fl::ClientMiddlewareFactory {
 public:
  void StartCall(const fl::CallInfo&, std::unique_ptr<fl::ClientMiddleware>* middleware) override {
    *middleware = std::make_unique<Catch>(this);
  }
  std::string token() {
    std::lock_guard<std::mutex> lock(mutex_);
    return token_;
  }

 private:
  class Catch final : public fl::ClientMiddleware {
   public:
    explicit Catch(TokenCatcher* owner) : owner_(owner) {}
    void SendingHeaders(fl::AddCallHeaders*) override {}
    void ReceivedHeaders(const fl::CallHeaders& headers) override {
      auto it = headers.find("authorization");
      if (it == headers.end() || it->second.rfind("Bearer ", 0) != 0) return;
      std::lock_guard<std::mutex> lock(owner_->mutex_);
      owner_->token_ = std::string(it->second);
    }
    void CallCompleted(const arrow::Status&) override {}

   private:
    TokenCatcher* owner_;
  };
  std::mutex mutex_;
  std::string token_;
};

TokenCatcher& Tokens() {
  static auto* catcher = new TokenCatcher();
  return *catcher;
}

std::string GssMessage(OM_uint32 code, int type) {
  std::string out;
  OM_uint32 minor = 0, context = 0;
  do {
    gss_buffer_desc text{0, nullptr};
    gss_display_status(&minor, code, type, GSS_C_NO_OID, &context, &text);
    if (text.length > 0) out += (out.empty() ? "" : "; ") + std::string(static_cast<const char*>(text.value), text.length);
    gss_release_buffer(&minor, &text);
  } while (context != 0);
  return out;
}

// A SPNEGO token (base64) for service@host from the default ticket cache.
arrow::Result<std::string> NegotiateToken(const std::string& service, const std::string& host) {
  OM_uint32 minor = 0;
  const std::string target_text = service + "@" + host;
  gss_buffer_desc name_buffer{target_text.size(), const_cast<char*>(target_text.data())};
  gss_name_t target = GSS_C_NO_NAME;
  OM_uint32 major = gss_import_name(&minor, &name_buffer, GSS_C_NT_HOSTBASED_SERVICE, &target);
  if (GSS_ERROR(major)) return arrow::Status::Invalid("Kerberos: bad service name ", target_text);
  static gss_OID_desc spnego{6, const_cast<char*>("\x2b\x06\x01\x05\x05\x02")};
  gss_ctx_id_t context = GSS_C_NO_CONTEXT;
  gss_buffer_desc out{0, nullptr};
  major = gss_init_sec_context(&minor, GSS_C_NO_CREDENTIAL, &context, target, &spnego, GSS_C_MUTUAL_FLAG, 0,
                               GSS_C_NO_CHANNEL_BINDINGS, GSS_C_NO_BUFFER, nullptr, &out, nullptr, nullptr);
  gss_release_name(&minor, &target);
  if (GSS_ERROR(major)) {
    const std::string why = GssMessage(major, GSS_C_GSS_CODE) + " (" + GssMessage(minor, GSS_C_MECH_CODE) + ")";
    gss_delete_sec_context(&minor, &context, GSS_C_NO_BUFFER);
    return arrow::Status::Invalid("Kerberos: no token for ", target_text, ": ", why, " (kinit first?)");
  }
  std::string token = arrow::util::base64_encode(std::string_view(static_cast<const char*>(out.value), out.length));
  gss_release_buffer(&minor, &out);
  gss_delete_sec_context(&minor, &context, GSS_C_NO_BUFFER);
  return token;
}

arrow::Result<fl::FlightClientOptions> ClientOptions(const QueryOptions& options) {
  auto client = fl::FlightClientOptions::Defaults();
  client.middleware.push_back(std::shared_ptr<fl::ClientMiddlewareFactory>(&Tokens(), [](auto*) {}));
  if (!options.tls_ca.empty()) {
    ARROW_ASSIGN_OR_RAISE(client.tls_root_certs, ReadPem(options.tls_ca, "--tls-ca"));
  }
  if (options.tls_cert.empty() != options.tls_key.empty()) {
    return arrow::Status::Invalid("--tls-cert and --tls-key go together");
  }
  if (!options.tls_cert.empty()) {
    ARROW_ASSIGN_OR_RAISE(client.cert_chain, ReadPem(options.tls_cert, "--tls-cert"));
    ARROW_ASSIGN_OR_RAISE(client.private_key, ReadPem(options.tls_key, "--tls-key"));
  }
  return client;
}

arrow::Result<std::unique_ptr<fl::FlightClient>> Connect(const fl::Location& location, const QueryOptions& options) {
  ARROW_ASSIGN_OR_RAISE(auto client_options, ClientOptions(options));
  return fl::FlightClient::Connect(location, client_options);
}

// The call's credentials: a bearer token given, or one the handshake returns
// for the user and password (Basic on every call where the server has no
// handshake: mutual-TLS servers).
arrow::Result<fl::FlightCallOptions> CallOptions(fl::FlightClient& client, const QueryOptions& options) {
  fl::FlightCallOptions call;
  if (options.kerberos) {
    // A Negotiate token is good once: trade it for the server's bearer token.
    std::string host = options.uri.substr(options.uri.find("://") == std::string::npos ? 0 : options.uri.find("://") + 3);
    host = host.front() == '[' ? host.substr(1, host.find(']') - 1) : host.substr(0, host.find_first_of(":/"));
    ARROW_ASSIGN_OR_RAISE(auto token, NegotiateToken(options.kerberos_service, host));
    fl::FlightCallOptions negotiate;
    negotiate.headers.emplace_back("authorization", "Negotiate " + token);
    ARROW_RETURN_NOT_OK(client.ListActions(negotiate).status());
    const std::string bearer = Tokens().token();
    if (bearer.empty()) return arrow::Status::Invalid("Kerberos: the server answered with no bearer token");
    call.headers.emplace_back("authorization", bearer);
  } else if (!options.token.empty()) {
    call.headers.emplace_back("authorization", "Bearer " + options.token);
  } else if (!options.username.empty()) {
    auto token = client.AuthenticateBasicToken(call, options.username, options.password);
    if (token.ok() && !token->second.empty()) {
      call.headers.emplace_back("authorization", token->second);
    } else if (token.ok() || token.status().IsNotImplemented() ||
               token.status().message().find("does not have an authentication mechanism") != std::string::npos) {
      call.headers.emplace_back("authorization",
                                "Basic " + arrow::util::base64_encode(options.username + ":" + options.password));
    } else {
      return token.status();
    }
  }
  if (!options.compression.empty()) {
    call.headers.emplace_back(std::string(flight::kCompressionHeader), options.compression);
  }
  return call;
}

// Fetches every endpoint into `sink` (in order when the FlightInfo is ordered,
// else up to `parallel` at once).
arrow::Status FetchAll(fl::FlightClient& client, const fl::FlightCallOptions& call, const fl::FlightInfo& info,
                       const QueryOptions& options, Sink* sink, Progress* progress) {
  const int parallel = options.parallel;
  const auto& endpoints = info.endpoints();
  std::mutex sink_mutex;
  std::atomic<size_t> next{0};
  arrow::Status first_error;
  std::mutex error_mutex;
  auto worker = [&] {
    for (size_t i = next++; i < endpoints.size(); i = next++) {
      auto status = [&]() -> arrow::Status {
        std::unique_ptr<fl::FlightClient> other;
        fl::FlightClient* source = &client;
        if (!endpoints[i].locations.empty()) {
          ARROW_ASSIGN_OR_RAISE(other, Connect(endpoints[i].locations[0], options));
          source = other.get();
        }
        auto where = [&](const arrow::Status& status) {
          const std::string at = endpoints[i].locations.empty() ? "" : " at " + endpoints[i].locations[0].ToString();
          return status.WithMessage("endpoint ", i + 1, " of ", endpoints.size(), at, ": ", status.message());
        };
        auto opened = source->DoGet(call, endpoints[i].ticket);
        if (!opened.ok()) return where(opened.status());
        auto stream = std::move(*opened);
        while (true) {
          auto next = stream->Next();
          if (!next.ok()) return where(next.status());
          auto chunk = std::move(*next);
          if (!chunk.data) return arrow::Status::OK();
          progress->Add(chunk.data->num_rows(), arrow::util::TotalBufferSize(*chunk.data));
          std::lock_guard<std::mutex> lock(sink_mutex);
          ARROW_RETURN_NOT_OK(sink->Write(chunk.data));
        }
      }();
      if (!status.ok()) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (first_error.ok()) first_error = status;
        next = endpoints.size();
      }
    }
  };
  const int threads = info.ordered() ? 1 : std::max(1, std::min<int>(parallel, static_cast<int>(endpoints.size())));
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& thread : pool) thread.join();
  return first_error;
}

arrow::Status Run(const QueryOptions& options) {
  const auto start = Clock::now();
  ARROW_ASSIGN_OR_RAISE(auto location, fl::Location::Parse(options.uri));
  ARROW_ASSIGN_OR_RAISE(auto client, Connect(location, options));
  ARROW_ASSIGN_OR_RAISE(auto call, CallOptions(*client, options));
  const auto descriptor =
      options.path.empty()
          ? fl::FlightDescriptor::Command(flight::SerializeCommand(flight::StatementQueryCommand{options.sql, {}}))
          : fl::FlightDescriptor::Path({options.path});
  ARROW_ASSIGN_OR_RAISE(auto info, client->GetFlightInfo(call, descriptor));
  const auto planned = Clock::now();
  arrow::ipc::DictionaryMemo memo;
  ARROW_ASSIGN_OR_RAISE(auto schema, info->GetSchema(&memo));

  std::unique_ptr<Sink> sink;
  TableSink* table = nullptr;
  if (options.output.empty()) {
    auto table_sink = std::make_unique<TableSink>(options.max_rows);
    table = table_sink.get();
    sink = std::move(table_sink);
  } else {
    ARROW_ASSIGN_OR_RAISE(sink, FileSink::Open(options.output, schema));
  }
  const bool show_progress =
      options.progress == "always" || (options.progress == "auto" && isatty(STDERR_FILENO) && !options.output.empty());
  Progress progress(show_progress);
  ARROW_RETURN_NOT_OK(FetchAll(*client, call, *info, options, sink.get(), &progress));
  ARROW_RETURN_NOT_OK(sink->Close());
  progress.Finish();
  const auto fetched = Clock::now();

  if (table) PrintTable(*schema, table->batches(), progress.rows());
  if (options.timing) {
    const double fetch = Seconds(fetched - planned);
    std::fprintf(stderr,
                 "timing: plan %.3f ms, fetch %.3f ms, total %.3f ms; %lld rows, %lld bytes, %zu endpoint(s), "
                 "%.1f MB/s\n",
                 Seconds(planned - start) * 1e3, fetch * 1e3, Seconds(fetched - start) * 1e3,
                 static_cast<long long>(progress.rows()), static_cast<long long>(progress.bytes()),
                 info->endpoints().size(), fetch > 0 ? progress.bytes() / 1e6 / fetch : 0.0);
  }
  return arrow::Status::OK();
}

}  // namespace

int RunQuery(const QueryOptions& options) {
  QueryOptions resolved = options;
  if (resolved.sql.empty() && resolved.path.empty()) {
    std::stringstream in;
    in << std::cin.rdbuf();
    resolved.sql = in.str();
  }
  if (resolved.path.empty() && resolved.sql.find_first_not_of(" \t\r\n;") == std::string::npos) {
    std::cerr << "squadron query: no SQL given (as an argument or on stdin)\n";
    return 2;
  }
  auto status = Run(resolved);
  if (!status.ok()) {
    std::cerr << "squadron query: " << status.ToString() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace squadron::cli
