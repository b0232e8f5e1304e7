// libFuzzer target: the bytes of a DoPut, as a client sends them.
//
// The input is an Arrow IPC stream. It takes the server's path: each batch is
// decoded, then checked by ValidateClientBatch before anything reads it; the
// batches that pass are bound as parameter sets (Session::Execute and
// ExecuteUpdate) and written with Session::Ingest. Any error status is a
// correct answer; a crash, a sanitizer report, a hang or an invalid batch
// coming back from the engine is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include <arrow/buffer.h>
#include <arrow/io/memory.h>
#include <arrow/memory_pool.h>
#include <arrow/ipc/reader.h>
#include <arrow/record_batch.h>

#include "engine/duckdb/duckdb_engine.h"
#include "engine/engine.h"
#include "flight/client_batches.h"

namespace {

namespace engine = squadron::engine;

// The server's default FlightSqlServerOptions::max_parameter_bytes.
constexpr int64_t kMaxParameterBytes = int64_t{64} << 20;

// Rows read from one input, and parameter sets bound. A null or run-end
// encoded column costs next to no bytes, so a 200-byte stream can hold 10^9
// rows. The server bounds parameter sets (max_parameter_sets, 10^6) but not
// ingest rows, which are data like any other, bounded by --query-timeout and
// DuckDB's memory limit; a fuzz run needs tighter caps to stay fast.
constexpr int64_t kMaxRows = 100000;
constexpr int64_t kMaxParameterSets = 1024;

// Decodes an IPC stream held in memory and validates each batch before
// handing it on, as ClientStreamReader does for a DoPut's gRPC stream. Fails
// past kMaxRows rows.
class ValidatingReader final : public arrow::RecordBatchReader {
 public:
  explicit ValidatingReader(std::shared_ptr<arrow::RecordBatchReader> reader) : reader_(std::move(reader)) {}

  std::shared_ptr<arrow::Schema> schema() const override { return reader_->schema(); }

  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* batch) override {
    ARROW_RETURN_NOT_OK(reader_->ReadNext(batch));
    if (*batch == nullptr) return arrow::Status::OK();
    rows_ += (*batch)->num_rows();
    if (rows_ > kMaxRows) return arrow::Status::Invalid("fuzz: more than ", kMaxRows, " rows");
    return squadron::flight::ValidateClientBatch(**batch);
  }

 private:
  std::shared_ptr<arrow::RecordBatchReader> reader_;
  int64_t rows_ = 0;
};

// A compressed IPC body states its decompressed length, and Arrow allocates
// that much before it decompresses (and then fails on the mismatch). In the
// server an impossible length fails in the allocator, which Arrow reports as
// OutOfMemory; under ASan the same request aborts the run instead. This pool
// answers such requests as the server's allocator does. Nothing one 1,200-byte
// input needs comes near the cap.
class BoundedPool final : public arrow::MemoryPool {
 public:
  static constexpr int64_t kMaxAllocation = int64_t{1} << 30;

  arrow::Status Allocate(int64_t size, int64_t alignment, uint8_t** out) override {
    if (size > kMaxAllocation) return arrow::Status::OutOfMemory("fuzz: allocation of ", size, " bytes");
    return base_->Allocate(size, alignment, out);
  }
  arrow::Status Reallocate(int64_t old_size, int64_t new_size, int64_t alignment, uint8_t** ptr) override {
    if (new_size > kMaxAllocation) return arrow::Status::OutOfMemory("fuzz: allocation of ", new_size, " bytes");
    return base_->Reallocate(old_size, new_size, alignment, ptr);
  }
  void Free(uint8_t* buffer, int64_t size, int64_t alignment) override { base_->Free(buffer, size, alignment); }
  int64_t bytes_allocated() const override { return base_->bytes_allocated(); }
  int64_t max_memory() const override { return base_->max_memory(); }
  int64_t total_bytes_allocated() const override { return base_->total_bytes_allocated(); }
  int64_t num_allocations() const override { return base_->num_allocations(); }
  std::string backend_name() const override { return base_->backend_name(); }

 private:
  arrow::MemoryPool* const base_ = arrow::default_memory_pool();
};

// Opens the input as an IPC stream; `data` must outlive the reader (no copy).
arrow::Result<std::shared_ptr<ValidatingReader>> OpenStream(const uint8_t* data, size_t size) {
  static BoundedPool pool;
  auto options = arrow::ipc::IpcReadOptions::Defaults();
  options.memory_pool = &pool;
  auto buffer = std::make_shared<arrow::Buffer>(data, static_cast<int64_t>(size));
  ARROW_ASSIGN_OR_RAISE(auto reader, arrow::ipc::RecordBatchStreamReader::Open(
                                         std::make_shared<arrow::io::BufferReader>(std::move(buffer)), options));
  return std::make_shared<ValidatingReader>(std::move(reader));
}

// Crashes the fuzzer: the engine handed back something a client would choke on.
[[noreturn]] void Fail(const std::string& what, const arrow::Status& status) {
  std::fprintf(stderr, "fuzz_client_batches: %s: %s\n", what.c_str(), status.ToString().c_str());
  std::abort();
}

// Reads a result to the end; every batch the server would send must be valid.
void Drain(arrow::Result<std::unique_ptr<engine::ResultStream>> stream, const std::string& sql) {
  if (!stream.ok()) return;
  while (true) {
    auto batch = (*stream)->Next();
    if (!batch.ok() || *batch == nullptr) return;
    auto status = (*batch)->ValidateFull();
    if (!status.ok()) Fail("invalid result batch of " + sql, status);
    if (!(*batch)->schema()->Equals(*(*stream)->schema())) {
      Fail("result batch schema differs from the stream's for " + sql,
           arrow::Status::Invalid((*batch)->schema()->ToString(), " vs ", (*stream)->schema()->ToString()));
    }
  }
}

// `prefix` then `count` times `item`, comma-separated.
std::string Repeat(const std::string& prefix, const std::string& item, int count) {
  std::string sql = prefix;
  for (int i = 0; i < count; ++i) sql += (i == 0 ? "" : ", ") + item;
  return sql;
}

engine::Engine& TheEngine() {
  // One engine for the whole run, deliberately never destroyed.
  static engine::Engine* const the_engine = [] {
    engine::DuckDbOptions options;
    options.threads = 1;
    options.memory_limit = "256MB";
    auto opened = engine::OpenDuckDbEngine(options);
    if (!opened.ok()) Fail("cannot open DuckDB", opened.status());
    return opened->release();
  }();
  return *the_engine;
}

void BindParameters(engine::Session& session, const uint8_t* data, size_t size) {
  auto reader = OpenStream(data, size);
  if (!reader.ok()) return;
  auto parameters = squadron::flight::ReadParameterBatches(**reader, kMaxParameterBytes, kMaxParameterSets);
  if (!parameters.ok() || parameters->empty()) return;
  const int columns = (*reader)->schema()->num_fields();
  // Every value rendered as text, then every value handed back as itself.
  for (const auto& sql : {Repeat("SELECT ", "?::VARCHAR", columns), Repeat("SELECT ", "?", columns)}) {
    Drain(session.Execute(sql, *parameters), sql);
  }
}

void IngestAndInsert(engine::Session& session, const uint8_t* data, size_t size) {
  auto reader = OpenStream(data, size);
  if (!reader.ok()) return;
  const int columns = (*reader)->schema()->num_fields();
  engine::IngestRequest request;
  request.table = "fuzz_ingest";
  request.if_missing = engine::IngestRequest::IfMissing::kCreate;
  request.if_exists = engine::IngestRequest::IfExists::kReplace;
  if (!session.Ingest(request, *reader).ok() || columns == 0) return;
  // The table now has the stream's columns: insert the rows again as parameter sets.
  auto again = OpenStream(data, size);
  if (!again.ok()) return;
  auto parameters = squadron::flight::ReadParameterBatches(**again, kMaxParameterBytes, kMaxParameterSets);
  if (!parameters.ok() || parameters->empty()) return;
  (void)session.ExecuteUpdate(Repeat("INSERT INTO fuzz_ingest VALUES (", "?", columns) + ")", *parameters);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  // Arrow's buffers from malloc rather than jemalloc, so ASan sees them.
  setenv("ARROW_DEFAULT_MEMORY_POOL", "system", /*overwrite=*/0);
  TheEngine();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto session = TheEngine().OpenSession({});
  if (!session.ok()) Fail("cannot open a session", session.status());
  BindParameters(**session, data, size);
  IngestAndInsert(**session, data, size);
  return 0;
}
