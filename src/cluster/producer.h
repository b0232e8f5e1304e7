// The producer side of the exchange: pushes one attempt of one partition
// into the node that serves it (docs/exchange-protocol.md, step 2).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <arrow/record_batch.h>
#include <arrow/result.h>
#include <arrow/status.h>

namespace squadron::cluster {

/// Which attempt of which partition, and the query's producer credential
/// (StartedQuery::producer_credential).
struct PartitionTarget {
  std::string query_id;
  int32_t partition = 0;
  int32_t attempt = 0;
  std::string credential;
};

/// One producer stream. Not thread-safe. Destroyed without Commit(), the
/// stream ends without a commit message and the node drops the attempt.
class PartitionWriter {
 public:
  /// Opens the stream to `node_uri` (grpc://host:port).
  static arrow::Result<std::unique_ptr<PartitionWriter>> Open(const std::string& node_uri,
                                                              const PartitionTarget& target,
                                                              std::shared_ptr<arrow::Schema> schema);
  ~PartitionWriter();

  /// Sends a batch; blocks while the node applies backpressure.
  arrow::Status Write(const arrow::RecordBatch& batch);

  /// Commits the attempt; returns the rows the node committed. Fails if
  /// another attempt of the partition committed first.
  arrow::Result<int64_t> Commit();

  /// Drops the attempt on the node.
  arrow::Status Abort(const std::string& reason);

 private:
  class Impl;
  explicit PartitionWriter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace squadron::cluster
