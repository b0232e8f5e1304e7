// squadron-spark-probe ENDPOINT SQL OUT.arrows: runs SQL through the C++
// Spark Connect client and writes the result as an Arrow IPC stream. The
// integration tests compare it with a reference (tests/integration/test_spark_client.py).
#include <cstdlib>
#include <iostream>

#include <arrow/io/file.h>
#include <arrow/ipc/writer.h>

#include "engine/spark/spark_connect_client.h"

namespace {

arrow::Status Run(const std::string& endpoint, const std::string& sql, const std::string& out) {
  squadron::engine::spark::SparkConnectOptions options;
  options.endpoint = endpoint;
  if (const char* ms = std::getenv("SQUADRON_SPARK_CONNECT_TIMEOUT_MS")) {
    options.connect_timeout = std::chrono::milliseconds(std::atoll(ms));
  }
  ARROW_ASSIGN_OR_RAISE(auto client, squadron::engine::spark::SparkConnectClient::Connect(options));
  std::cerr << "spark " << client->spark_version() << " session " << client->session_id() << "\n";
  ARROW_ASSIGN_OR_RAISE(auto reader, client->Execute(sql));
  ARROW_ASSIGN_OR_RAISE(auto file, arrow::io::FileOutputStream::Open(out));
  ARROW_ASSIGN_OR_RAISE(auto writer, arrow::ipc::MakeStreamWriter(file, reader->schema()));
  while (true) {
    ARROW_ASSIGN_OR_RAISE(auto batch, reader->Next());
    if (batch == nullptr) break;
    ARROW_RETURN_NOT_OK(writer->WriteRecordBatch(*batch));
  }
  ARROW_RETURN_NOT_OK(writer->Close());
  return file->Close();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: squadron-spark-probe sc://HOST:PORT SQL OUT.arrows\n";
    return 2;
  }
  auto status = Run(argv[1], argv[2], argv[3]);
  if (!status.ok()) {
    std::cerr << "squadron-spark-probe: " << status.ToString() << "\n";
    return 1;
  }
  return 0;
}
