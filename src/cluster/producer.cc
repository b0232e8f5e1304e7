#include "cluster/producer.h"

#include <arrow/flight/client.h>
#include <nlohmann/json.hpp>

#include "cluster/flight_manager.h"
#include "common/status.h"

namespace squadron::cluster {

namespace fl = arrow::flight;
using Json = nlohmann::json;

class PartitionWriter::Impl {
 public:
  std::unique_ptr<fl::FlightClient> client;
  std::unique_ptr<fl::FlightStreamWriter> writer;
  std::unique_ptr<fl::FlightMetadataReader> reader;
  PartitionTarget target;
  bool finished = false;

  // Sends the closing message and reads the node's reply.
  arrow::Result<Json> Finish(const Json& message) {
    finished = true;
    ARROW_RETURN_NOT_OK(writer->WriteMetadata(arrow::Buffer::FromString(message.dump())));
    ARROW_RETURN_NOT_OK(writer->DoneWriting());
    std::shared_ptr<arrow::Buffer> reply;
    ARROW_RETURN_NOT_OK(reader->ReadMetadata(&reply));
    ARROW_RETURN_NOT_OK(writer->Close());
    if (!reply) return Internal("The node sent no reply to the exchange's closing message");
    try {
      return Json::parse(reply->ToString());
    } catch (const std::exception& e) {
      return Internal(Msg("Invalid exchange reply from the node: ", e.what()));
    }
  }
};

PartitionWriter::PartitionWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

PartitionWriter::~PartitionWriter() {
  if (impl_ && impl_->writer && !impl_->finished) (void)impl_->writer->Close();
}

arrow::Result<std::unique_ptr<PartitionWriter>> PartitionWriter::Open(const std::string& node_uri,
                                                                      const PartitionTarget& target,
                                                                      std::shared_ptr<arrow::Schema> schema) {
  auto impl = std::make_unique<Impl>();
  impl->target = target;
  ARROW_ASSIGN_OR_RAISE(auto location, fl::Location::Parse(node_uri));
  ARROW_ASSIGN_OR_RAISE(impl->client, fl::FlightClient::Connect(location));
  const Json descriptor = {{"query", target.query_id},
                           {"partition", target.partition},
                           {"attempt", target.attempt},
                           {"credential", target.credential}};
  ARROW_ASSIGN_OR_RAISE(
      auto put, impl->client->DoPut(fl::FlightDescriptor::Command(std::string(kExchangePutPrefix) + descriptor.dump()),
                                    std::move(schema)));
  impl->writer = std::move(put.writer);
  impl->reader = std::move(put.reader);
  return std::unique_ptr<PartitionWriter>(new PartitionWriter(std::move(impl)));
}

arrow::Status PartitionWriter::Write(const arrow::RecordBatch& batch) { return impl_->writer->WriteRecordBatch(batch); }

arrow::Result<int64_t> PartitionWriter::Commit() {
  ARROW_ASSIGN_OR_RAISE(auto reply, impl_->Finish({{"commit", true}}));
  if (!reply.value("committed", false)) {
    return Internal(Msg("The node did not commit partition ", impl_->target.partition, " attempt ",
                        impl_->target.attempt, ": ", reply.dump()));
  }
  return reply.value("rows", int64_t{0});
}

arrow::Status PartitionWriter::Abort(const std::string& reason) {
  return impl_->Finish({{"abort", reason}}).status();
}

}  // namespace squadron::cluster
