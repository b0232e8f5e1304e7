// Debian's gRPC++ and protobuf (the Spark Connect client's stack) and the
// pyarrow wheel's Arrow Flight (with its own private gRPC and protobuf) in one
// process, both serving and calling at the same time. If a future wheel or
// Debian update made the two stacks bind to each other's symbols, these calls
// would crash or return garbage.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <arrow/api.h>
#include <arrow/flight/client.h>
#include <arrow/flight/server.h>
#include <grpcpp/grpcpp.h>

#include "spark/connect/base.grpc.pb.h"

namespace {

namespace fl = arrow::flight;
namespace sc = spark::connect;

// A Spark Connect service that answers AnalyzePlan(SparkVersion) with a
// version naming the session, so that replies cannot be mixed up.
class FakeSparkConnect final : public sc::SparkConnectService::Service {
 public:
  grpc::Status AnalyzePlan(grpc::ServerContext*, const sc::AnalyzePlanRequest* request,
                           sc::AnalyzePlanResponse* response) override {
    if (!request->has_spark_version()) return {grpc::StatusCode::INVALID_ARGUMENT, "only spark_version"};
    response->set_session_id(request->session_id());
    response->mutable_spark_version()->set_version("4.3.0-" + request->session_id());
    return grpc::Status::OK;
  }
};

// An Arrow Flight service whose DoGet returns `rows` consecutive integers.
class CountingFlight final : public fl::FlightServerBase {
 public:
  arrow::Status DoGet(const fl::ServerCallContext&, const fl::Ticket& ticket,
                      std::unique_ptr<fl::FlightDataStream>* stream) override {
    const int64_t rows = std::stoll(ticket.ticket);
    arrow::Int64Builder builder;
    for (int64_t i = 0; i < rows; ++i) ARROW_RETURN_NOT_OK(builder.Append(i));
    ARROW_ASSIGN_OR_RAISE(auto column, builder.Finish());
    auto batch = arrow::RecordBatch::Make(arrow::schema({arrow::field("i", arrow::int64())}), rows, {column});
    ARROW_ASSIGN_OR_RAISE(auto reader, arrow::RecordBatchReader::Make({batch}));
    *stream = std::make_unique<fl::RecordBatchStream>(reader);
    return arrow::Status::OK();
  }
};

TEST(SparkConnectCoexistenceTest, BothStacksServeAndCallAtOnce) {
  // Spark Connect side: Debian's gRPC++ server and client.
  FakeSparkConnect spark_service;
  int spark_port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &spark_port);
  builder.RegisterService(&spark_service);
  std::unique_ptr<grpc::Server> spark_server = builder.BuildAndStart();
  ASSERT_NE(spark_server, nullptr);
  ASSERT_GT(spark_port, 0);
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(spark_port), grpc::InsecureChannelCredentials());
  auto stub = sc::SparkConnectService::NewStub(channel);

  // Flight side: the wheel's server and client.
  CountingFlight flight_service;
  auto location = fl::Location::ForGrpcTcp("127.0.0.1", 0);
  ASSERT_TRUE(location.ok());
  fl::FlightServerOptions options(*location);
  ASSERT_TRUE(flight_service.Init(options).ok());
  auto flight_location = fl::Location::ForGrpcTcp("127.0.0.1", flight_service.port());
  auto flight_client = fl::FlightClient::Connect(*flight_location);
  ASSERT_TRUE(flight_client.ok());

  std::atomic<int> spark_ok{0};
  std::atomic<int> flight_ok{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        const std::string session = "s" + std::to_string(t) + "-" + std::to_string(i);
        sc::AnalyzePlanRequest request;
        request.set_session_id(session);
        request.mutable_spark_version();
        sc::AnalyzePlanResponse response;
        grpc::ClientContext context;
        auto status = stub->AnalyzePlan(&context, request, &response);
        if (status.ok() && response.spark_version().version() == "4.3.0-" + session) {
          ++spark_ok;
        } else {
          ++failures;
        }
      }
    });
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        const int64_t rows = 1000 + 17 * t + i;
        auto stream = (*flight_client)->DoGet(fl::Ticket{std::to_string(rows)});
        auto table = stream.ok() ? (*stream)->ToTable() : arrow::Result<std::shared_ptr<arrow::Table>>(stream.status());
        if (table.ok() && (*table)->num_rows() == rows) {
          ++flight_ok;
        } else {
          ++failures;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(spark_ok.load(), 200);
  EXPECT_EQ(flight_ok.load(), 200);

  // An unreachable Spark Connect endpoint is UNAVAILABLE, as the engine will report it.
  auto dead = sc::SparkConnectService::NewStub(
      grpc::CreateChannel("127.0.0.1:1", grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  sc::AnalyzePlanRequest request;
  request.mutable_spark_version();
  sc::AnalyzePlanResponse response;
  EXPECT_EQ(dead->AnalyzePlan(&context, request, &response).error_code(), grpc::StatusCode::UNAVAILABLE);

  ASSERT_TRUE(flight_service.Shutdown().ok());
  spark_server->Shutdown();
}

}  // namespace
