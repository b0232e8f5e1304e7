// Record batches sent by clients (DoPut: ingest data, parameter sets).
//
// Nothing a client sends is trusted: every batch is fully validated (offsets,
// dictionary indices, UTF-8, child lengths) before any engine or our own code
// reads it. Arrow's IPC reader only checks what is cheap; an out-of-range
// offset that passes it would make a later memcpy read past a buffer.
#pragma once

#include <cstdint>
#include <memory>

#include <arrow/flight/server.h>
#include <arrow/record_batch.h>
#include <arrow/result.h>

#include "engine/engine.h"

namespace squadron::flight {

/// Checks every column of `batch` with Arrow's full validation. Errors:
/// Invalid naming the first column that fails and why.
arrow::Status ValidateClientBatch(const arrow::RecordBatch& batch);

/// The batches of a DoPut, each validated before it is handed on. gRPC reports
/// a client that cancelled or disconnected mid-stream as a plain end of
/// stream; this reader turns that into an error, so nothing half-sent is ever
/// committed.
class ClientStreamReader final : public arrow::RecordBatchReader {
 public:
  /// `context` is the DoPut's call context: it must outlive this reader.
  ClientStreamReader(std::unique_ptr<arrow::flight::FlightMessageReader> reader,
                     const arrow::flight::ServerCallContext& context);

  std::shared_ptr<arrow::Schema> schema() const override;
  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* batch) override;

 private:
  std::unique_ptr<arrow::flight::FlightMessageReader> reader_;
  const arrow::flight::ServerCallContext& context_;
};

/// Reads every batch of `reader` as parameter sets, up to `max_bytes` and
/// `max_sets` rows in all. Errors: Invalid past a limit; the reader's own.
arrow::Result<engine::ParameterBatches> ReadParameterBatches(arrow::RecordBatchReader& reader,
                                                             int64_t max_bytes, int64_t max_sets);

}  // namespace squadron::flight
