// The transport baseline: a minimal Arrow Flight server that serves record
// batches held in memory. It does nothing per call but look the ticket up and
// hand the batches to Arrow Flight, so Squadron's DoGet is measured against the
// cost of the transport alone, on the same Arrow build.
//
//   squadron-raw-flight [--host H] [--port P] NAME=FILE.arrows ...
//
// Each FILE is an Arrow IPC stream read whole at startup; the ticket NAME
// streams its batches, as they were written; GetFlightInfo of any descriptor
// points at the dataset select_1. Prints "raw flight listening on
// grpc://H:P" once ready; stops on SIGINT/SIGTERM.
#include <csignal>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <string>
#include <thread>

#include <pthread.h>

#include <arrow/flight/server.h>
#include <arrow/io/file.h>
#include <arrow/ipc/reader.h>
#include <arrow/record_batch.h>
#include <arrow/util/byte_size.h>

#include "common/malloc_tuning.h"

namespace fl = arrow::flight;

namespace {

struct Dataset {
  std::shared_ptr<arrow::Schema> schema;
  arrow::RecordBatchVector batches;
};

arrow::Result<Dataset> Load(const std::string& path) {
  ARROW_ASSIGN_OR_RAISE(auto file, arrow::io::ReadableFile::Open(path));
  ARROW_ASSIGN_OR_RAISE(auto reader, arrow::ipc::RecordBatchStreamReader::Open(file));
  Dataset data;
  data.schema = reader->schema();
  ARROW_ASSIGN_OR_RAISE(data.batches, reader->ToRecordBatches());
  return data;
}

class RawFlightServer final : public fl::FlightServerBase {
 public:
  explicit RawFlightServer(std::map<std::string, Dataset> data) : data_(std::move(data)) {}

  // Any descriptor names the dataset "select_1": the small-query floor, the
  // same two calls a Flight SQL query makes, with no work between them.
  arrow::Status GetFlightInfo(const fl::ServerCallContext&, const fl::FlightDescriptor& descriptor,
                              std::unique_ptr<fl::FlightInfo>* info) override {
    auto it = data_.find("select_1");
    if (it == data_.end()) return arrow::Status::KeyError("no dataset named 'select_1'");
    fl::FlightEndpoint endpoint{fl::Ticket{"select_1"}, {}, std::nullopt, ""};
    ARROW_ASSIGN_OR_RAISE(auto made, fl::FlightInfo::Make(*it->second.schema, descriptor, {endpoint}, -1, -1));
    *info = std::make_unique<fl::FlightInfo>(std::move(made));
    return arrow::Status::OK();
  }

  arrow::Status DoGet(const fl::ServerCallContext&, const fl::Ticket& ticket,
                      std::unique_ptr<fl::FlightDataStream>* stream) override {
    auto it = data_.find(ticket.ticket);
    if (it == data_.end()) return arrow::Status::KeyError("no dataset named '", ticket.ticket, "'");
    ARROW_ASSIGN_OR_RAISE(auto reader, arrow::RecordBatchReader::Make(it->second.batches, it->second.schema));
    *stream = std::make_unique<fl::RecordBatchStream>(std::move(reader));
    return arrow::Status::OK();
  }

 private:
  const std::map<std::string, Dataset> data_;
};

arrow::Status Main(int argc, char** argv) {
  // The same allocator settings as Squadron, so the comparison is of the
  // servers' work and not of malloc's.
  squadron::TuneMallocForStreaming();
  // SIGINT/SIGTERM are taken by a thread with sigwait, blocked everywhere else.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::string host = "127.0.0.1";
  int port = 0;
  std::map<std::string, Dataset> data;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--host" && i + 1 < argc) {
      host = argv[++i];
    } else if (arg == "--port" && i + 1 < argc) {
      port = std::atoi(argv[++i]);
    } else if (auto eq = arg.find('='); eq != std::string::npos && arg[0] != '-') {
      ARROW_ASSIGN_OR_RAISE(auto dataset, Load(arg.substr(eq + 1)));
      data.emplace(arg.substr(0, eq), std::move(dataset));
    } else {
      return arrow::Status::Invalid("usage: squadron-raw-flight [--host H] [--port P] NAME=FILE.arrows ...; got '",
                                    arg, "'");
    }
  }
  ARROW_ASSIGN_OR_RAISE(auto location, fl::Location::ForGrpcTcp(host, port));
  RawFlightServer server(std::move(data));
  ARROW_RETURN_NOT_OK(server.Init(fl::FlightServerOptions(location)));
  std::thread stopper([&] {
    int signal = 0;
    sigwait(&stop_signals, &signal);
    (void)server.Shutdown();
  });
  stopper.detach();  // the process ends with main
  std::printf("raw flight listening on grpc://%s:%d\n", host.c_str(), server.port());
  std::fflush(stdout);
  ARROW_RETURN_NOT_OK(server.Wait());
  return arrow::Status::OK();
}

}  // namespace

int main(int argc, char** argv) {
  auto status = Main(argc, argv);
  if (!status.ok()) {
    std::cerr << "squadron-raw-flight: " << status.ToString() << "\n";
    return 1;
  }
  return 0;
}
