#include "flight/client_batches.h"

#include <arrow/array.h>
#include <arrow/type.h>
#include <arrow/util/byte_size.h>

#include "common/status.h"
#include "common/text.h"

namespace squadron::flight {

arrow::Status ValidateClientBatch(const arrow::RecordBatch& batch) {
  for (int i = 0; i < batch.num_columns(); ++i) {
    const auto& column = batch.column(i);
    // The batch's own length check first: a column shorter than the batch is
    // read past its end by anything that walks rows.
    if (column->length() != batch.num_rows()) {
      return InvalidArgument("Invalid data in column '", Clip(batch.schema()->field(i)->name()), "' (",
                             i + 1, "): ", column->length(), " values in a batch of ", batch.num_rows(),
                             " rows; nothing was written");
    }
    auto status = column->ValidateFull();
    if (!status.ok()) {
      return InvalidArgument("Invalid data in column '", Clip(batch.schema()->field(i)->name()), "' (",
                             i + 1, ", ", column->type()->ToString(), "): ", Clip(status.message()),
                             "; nothing was written");
    }
  }
  return arrow::Status::OK();
}

ClientStreamReader::ClientStreamReader(std::unique_ptr<arrow::flight::FlightMessageReader> reader,
                                       const arrow::flight::ServerCallContext& context)
    : reader_(std::move(reader)), context_(context) {}

std::shared_ptr<arrow::Schema> ClientStreamReader::schema() const {
  auto schema = reader_->GetSchema();
  return schema.ok() ? *schema : arrow::schema({});
}

arrow::Status ClientStreamReader::ReadNext(std::shared_ptr<arrow::RecordBatch>* batch) {
  ARROW_ASSIGN_OR_RAISE(auto chunk, reader_->Next());
  if (chunk.data == nullptr && context_.is_cancelled()) {
    return Cancelled("The client cancelled or disconnected before the end of its stream; "
                     "nothing from it was written");
  }
  if (chunk.data != nullptr) ARROW_RETURN_NOT_OK(ValidateClientBatch(*chunk.data));
  *batch = std::move(chunk.data);
  return arrow::Status::OK();
}

arrow::Result<engine::ParameterBatches> ReadParameterBatches(arrow::RecordBatchReader& reader,
                                                             int64_t max_bytes, int64_t max_sets) {
  engine::ParameterBatches batches;
  int64_t bytes = 0;
  int64_t sets = 0;
  while (true) {
    ARROW_ASSIGN_OR_RAISE(auto batch, reader.Next());
    if (batch == nullptr) return batches;
    bytes += arrow::util::TotalBufferSize(*batch);
    if (bytes > max_bytes) {
      return InvalidArgument("Parameter batches exceed ", max_bytes,
                             " bytes in one DoPut: send fewer parameter rows per call");
    }
    sets += batch->num_rows();
    if (sets > max_sets) {
      return InvalidArgument("Parameter batches hold more than ", max_sets,
                             " parameter sets (rows) in one DoPut, each a run of the statement: send fewer "
                             "per call, or load rows with bulk ingest (CommandStatementIngest)");
    }
    batches.push_back(std::move(batch));
  }
}

}  // namespace squadron::flight
