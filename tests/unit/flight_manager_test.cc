// The flight manager over the in-memory coordination: membership, the
// secret check, the registry's states and its reactions to lost nodes.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <thread>

#include <arrow/api.h>
#include <arrow/ipc/writer.h>
#include <arrow/util/base64.h>
#include <nlohmann/json.hpp>

#include "cluster/credentials.h"
#include "cluster/flight_manager.h"
#include "cluster/memory_coordination.h"

#define ASSERT_OK(expr)                                              \
  do {                                                               \
    const ::arrow::Status _st = (expr);                              \
    ASSERT_TRUE(_st.ok()) << #expr << ": " << _st.ToString();        \
  } while (false)

#define SQUADRON_CONCAT_INNER(a, b) a##b
#define SQUADRON_CONCAT(a, b) SQUADRON_CONCAT_INNER(a, b)
#define ASSERT_OK_AND_ASSIGN(lhs, rexpr) \
  ASSERT_OK_AND_ASSIGN_IMPL(SQUADRON_CONCAT(_result_, __LINE__), lhs, rexpr)
#define ASSERT_OK_AND_ASSIGN_IMPL(result, lhs, rexpr)                           \
  auto result = (rexpr);                                                        \
  ASSERT_TRUE(result.ok()) << #rexpr << ": " << result.status().ToString();     \
  lhs = std::move(result).ValueOrDie();

namespace squadron::cluster {
namespace {

using std::chrono::milliseconds;

constexpr char kSecret[] = "0123456789abcdef0123456789abcdef";

template <typename Predicate>
bool Eventually(Predicate predicate, milliseconds timeout = milliseconds(5000)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (predicate()) return true;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return predicate();
}

class ClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = std::make_shared<MemoryCoordinationStore>("cluster-test");
    spool_dir_ = ::testing::TempDir();
  }

  // Joins node `id`; keeps a pointer to its coordination for fault injection.
  arrow::Result<std::unique_ptr<FlightManager>> Join(const std::string& id, std::string secret = kSecret,
                                                     MemoryCoordination** handle = nullptr) {
    auto coordination = std::make_unique<MemoryCoordination>(store_, milliseconds(200));
    if (handle) *handle = coordination.get();
    FlightManagerOptions options;
    options.cluster_uri = "zk://127.0.0.1:2181/squadron-test";
    options.node_id = id;
    options.advertise_uri = "grpc://127.0.0.1:" + std::to_string(40000 + id.back());
    options.engine = "test";
    options.secret = std::move(secret);
    options.spool.dir = spool_dir_;
    options.refresh_interval = milliseconds(20);
    options.result_ttl = milliseconds(200);
    return FlightManager::Join(std::move(options), std::move(coordination));
  }

  static QueryPlan Plan(int32_t partitions, bool ordered = false) {
    QueryPlan plan;
    plan.schema = arrow::schema({arrow::field("x", arrow::int64())});
    plan.partitions = partitions;
    plan.ordered = ordered;
    plan.description = "SELECT x FROM t";
    return plan;
  }

  static QueryState StateOf(FlightManager& node, const std::string& id) {
    auto record = node.GetQuery(id);
    return record.ok() ? record->state : QueryState::kRunning;
  }

  std::shared_ptr<MemoryCoordinationStore> store_;
  std::string spool_dir_;
};

TEST(ClusterCredentialsTest, MatchValuesComputedIndependently) {
  // Computed with `openssl dgst -sha256 -hmac` (as the Python reference client does).
  ClusterCredentials credentials(kSecret);
  EXPECT_EQ(credentials.Fingerprint(), "8df39867cef9d0337b16b86c5fe4369d065bd114d450fc20e8a7408ae8e8d0ae");
  EXPECT_EQ(credentials.DriverCredential(), "88fc31b76058f52f39057c6ebe831fd9158409f73078999a87897e2329486c60");
  EXPECT_EQ(credentials.ProducerCredential("q-42"),
            "61988c4564de0df85d0f1b8354a3995166739751f17071d5bbb5e4ce83194f08");
  EXPECT_TRUE(ClusterCredentials::Matches("abc", "abc"));
  EXPECT_FALSE(ClusterCredentials::Matches("abc", "abd"));
  EXPECT_FALSE(ClusterCredentials::Matches("abc", "ab"));
}

TEST_F(ClusterTest, NodesSeeEachOther) {
  ASSERT_OK_AND_ASSIGN(auto a, Join("n1"));
  ASSERT_OK_AND_ASSIGN(auto b, Join("n2"));
  ASSERT_OK_AND_ASSIGN(auto c, Join("n3"));
  for (auto* node : {a.get(), b.get(), c.get()}) {
    EXPECT_TRUE(Eventually([&] { return node->Members().size() == 3; })) << node->node_id();
    EXPECT_TRUE(node->CheckAvailable().ok());
  }
  c.reset();  // leaves: its member znode goes at once
  EXPECT_TRUE(Eventually([&] { return a->Members().size() == 2; }));
}

TEST_F(ClusterTest, AnotherSecretIsRefused) {
  ASSERT_OK_AND_ASSIGN(auto a, Join("n1"));
  auto b = Join("n2", "another-secret-of-32-bytes-xxxxxx");
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.status().message().find("ticket secret"), std::string::npos) << b.status().message();
  EXPECT_NE(b.status().message().find("fingerprint"), std::string::npos) << b.status().message();
  EXPECT_FALSE(store_->Exists("/squadron-test/members/n2"));
}

TEST_F(ClusterTest, TakenNodeIdIsRefused) {
  ASSERT_OK_AND_ASSIGN(auto a, Join("n1"));
  auto again = Join("n1");
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.status().message().find("is taken"), std::string::npos) << again.status().message();
}

TEST_F(ClusterTest, PlansRoundRobinOrContiguousRanges) {
  ASSERT_OK_AND_ASSIGN(auto a, Join("n1"));
  ASSERT_OK_AND_ASSIGN(auto b, Join("n2"));
  ASSERT_TRUE(Eventually([&] { return a->Members().size() == 2; }));
  ASSERT_OK_AND_ASSIGN(auto unordered, a->BeginQuery(Plan(5), arrow::flight::FlightDescriptor::Path({"t"})));
  EXPECT_EQ(unordered.serving.size(), 2u);
  EXPECT_EQ(unordered.info->endpoints().size(), 2u);
  EXPECT_FALSE(unordered.info->ordered());
  for (size_t p = 0; p < unordered.assignment.size(); ++p) EXPECT_EQ(unordered.assignment[p], int(p % 2));

  ASSERT_OK_AND_ASSIGN(auto ordered, a->BeginQuery(Plan(5, true), arrow::flight::FlightDescriptor::Path({"t"})));
  EXPECT_TRUE(ordered.info->ordered());
  EXPECT_EQ(ordered.assignment, (std::vector<int32_t>{0, 0, 0, 1, 1}));
  // Endpoints in partition order: the first endpoint's node holds partition 0.
  EXPECT_EQ(ordered.info->endpoints()[0].locations[0].ToString(), ordered.serving[0].uri);

  ASSERT_OK_AND_ASSIGN(auto record, b->GetQuery(ordered.id));
  EXPECT_EQ(record.state, QueryState::kRunning);
  EXPECT_EQ(record.coordinator, "n1");
  EXPECT_TRUE(store_->Exists("/squadron-test/queries/" + ordered.id + "/lock"));
}

TEST_F(ClusterTest, CompleteNeedsEveryPartitionOnce) {
  ASSERT_OK_AND_ASSIGN(auto a, Join("n1"));
  ASSERT_OK_AND_ASSIGN(auto q, a->BeginQuery(Plan(3), arrow::flight::FlightDescriptor::Path({"t"})));
  auto missing = a->CompleteQuery(q.id, {{0, 0}, {1, 0}});
  EXPECT_TRUE(missing.IsInvalid());
  EXPECT_NE(missing.message().find("partition 2 is not listed"), std::string::npos) << missing.message();
  EXPECT_TRUE(a->CompleteQuery(q.id, {{0, 0}, {0, 1}, {1, 0}}).IsInvalid());
  ASSERT_OK(a->CompleteQuery(q.id, {{0, 0}, {1, 3}, {2, 0}}));
  ASSERT_OK_AND_ASSIGN(auto record, a->GetQuery(q.id));
  EXPECT_EQ(record.state, QueryState::kCompleted);
  EXPECT_EQ(record.committed.at("n1").size(), 3u);
  // A producer cannot fail a completed query...
  ASSERT_OK(a->FailQuery(q.id, "too late"));
  EXPECT_EQ(StateOf(*a, q.id), QueryState::kCompleted);
  // ...but a client can cancel it while its shares are still being read.
  ASSERT_OK_AND_ASSIGN(auto cancelled, a->CancelQuery(q.id, "the client gave up"));
  EXPECT_TRUE(cancelled);
  EXPECT_EQ(StateOf(*a, q.id), QueryState::kCancelled);
}

TEST_F(ClusterTest, CancelOnAnyNodeEndsTheQuery) {
  ASSERT_OK_AND_ASSIGN(auto a, Join("n1"));
  ASSERT_OK_AND_ASSIGN(auto b, Join("n2"));
  ASSERT_TRUE(Eventually([&] { return a->Members().size() == 2; }));
  ASSERT_OK_AND_ASSIGN(auto q, a->BeginQuery(Plan(4), arrow::flight::FlightDescriptor::Path({"t"})));
  ASSERT_OK_AND_ASSIGN(auto cancelled, b->CancelFlightInfo(*q.info));
  ASSERT_TRUE(cancelled.has_value());
  EXPECT_TRUE(*cancelled);
  ASSERT_OK_AND_ASSIGN(auto record, a->GetQuery(q.id));
  EXPECT_EQ(record.state, QueryState::kCancelled);
  EXPECT_TRUE(record.ErrorStatus().IsCancelled());
  ASSERT_OK_AND_ASSIGN(auto again, b->CancelFlightInfo(*q.info));
  EXPECT_FALSE(*again);
}

TEST_F(ClusterTest, LostServingNodeFailsItsQueries) {
  ASSERT_OK_AND_ASSIGN(auto a, Join("n1"));
  ASSERT_OK_AND_ASSIGN(auto b, Join("n2"));
  ASSERT_TRUE(Eventually([&] { return a->Members().size() == 2; }));
  ASSERT_OK_AND_ASSIGN(auto q, a->BeginQuery(Plan(4), arrow::flight::FlightDescriptor::Path({"t"})));
  b.reset();  // its process, and the spool with its partitions, are gone
  ASSERT_TRUE(Eventually([&] { return StateOf(*a, q.id) == QueryState::kFailed; }));
  ASSERT_OK_AND_ASSIGN(auto record, a->GetQuery(q.id));
  auto error = record.ErrorStatus();
  auto detail = arrow::flight::FlightStatusDetail::UnwrapStatus(error);
  ASSERT_NE(detail, nullptr);
  EXPECT_EQ(detail->code(), arrow::flight::FlightStatusCode::Unavailable);
  EXPECT_NE(error.message().find("node n2"), std::string::npos) << error.message();
  // The next query is planned on the survivor only.
  ASSERT_OK_AND_ASSIGN(auto next, a->BeginQuery(Plan(4), arrow::flight::FlightDescriptor::Path({"t"})));
  ASSERT_EQ(next.serving.size(), 1u);
  EXPECT_EQ(next.serving[0].id, "n1");
}

TEST_F(ClusterTest, ExpiredSessionRejoins) {
  MemoryCoordination* b_handle = nullptr;
  ASSERT_OK_AND_ASSIGN(auto a, Join("n1"));
  ASSERT_OK_AND_ASSIGN(auto b, Join("n2", kSecret, &b_handle));
  ASSERT_TRUE(Eventually([&] { return a->Members().size() == 2; }));
  b_handle->ExpireSession();
  // The process lived on: it registers again by itself, and takes queries.
  EXPECT_TRUE(Eventually([&] { return store_->Exists("/squadron-test/members/n2") && b->CheckAvailable().ok(); }));
  EXPECT_TRUE(Eventually([&] { return a->Members().size() == 2 && b->Members().size() == 2; }));
  ASSERT_OK_AND_ASSIGN(auto q, b->BeginQuery(Plan(4), arrow::flight::FlightDescriptor::Path({"t"})));
  EXPECT_EQ(q.serving.size(), 2u);
}

TEST_F(ClusterTest, DisconnectedNodeRefusesNewQueries) {
  MemoryCoordination* handle = nullptr;
  ASSERT_OK_AND_ASSIGN(auto a, Join("n1", kSecret, &handle));
  handle->Disconnect();
  ASSERT_TRUE(Eventually([&] { return !a->CheckAvailable().ok(); }));
  auto refused = a->BeginQuery(Plan(1), arrow::flight::FlightDescriptor::Path({"t"}));
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("ZooKeeper"), std::string::npos) << refused.status().message();
  handle->Restore();
  EXPECT_TRUE(Eventually([&] { return a->CheckAvailable().ok(); }));
}

TEST_F(ClusterTest, LostCoordinatorFailsRunningQueries) {
  MemoryCoordination* a_handle = nullptr;
  ASSERT_OK_AND_ASSIGN(auto a, Join("n1", kSecret, &a_handle));
  ASSERT_OK_AND_ASSIGN(auto b, Join("n2"));
  ASSERT_TRUE(Eventually([&] { return a->Members().size() == 2; }));
  auto plan = Plan(4);
  ASSERT_OK_AND_ASSIGN(auto q, a->BeginQuery(plan, arrow::flight::FlightDescriptor::Path({"t"})));
  a_handle->ExpireSession();
  ASSERT_TRUE(Eventually([&] { return StateOf(*b, q.id) == QueryState::kFailed; }));
  ASSERT_OK_AND_ASSIGN(auto record, b->GetQuery(q.id));
  // Either as its coordinator or as one of its serving nodes, whichever is seen first.
  EXPECT_EQ(record.failure, FailureKind::kNodeLost);
  EXPECT_NE(record.reason.find("node n1"), std::string::npos) << record.reason;
}

TEST_F(ClusterTest, DeadlineFailsTheQueryAndFinishedOnesAreRemoved) {
  ASSERT_OK_AND_ASSIGN(auto a, Join("n1"));
  auto plan = Plan(2);
  plan.timeout = milliseconds(50);
  ASSERT_OK_AND_ASSIGN(auto q, a->BeginQuery(plan, arrow::flight::FlightDescriptor::Path({"t"})));
  ASSERT_TRUE(Eventually([&] { return StateOf(*a, q.id) == QueryState::kFailed; }));
  ASSERT_OK_AND_ASSIGN(auto record, a->GetQuery(q.id));
  EXPECT_EQ(record.failure, FailureKind::kDeadline);
  // Past the result TTL the registry forgets it.
  EXPECT_TRUE(Eventually([&] { return !store_->Exists("/squadron-test/queries/" + q.id); }, milliseconds(15000)));
}

// A call context for calling HandleAction directly.
class FakeCallContext final : public arrow::flight::ServerCallContext {
 public:
  const std::string& peer_identity() const override { return empty_; }
  const std::string& peer() const override { return peer_; }
  void AddHeader(const std::string&, const std::string&) const override {}
  void AddTrailer(const std::string&, const std::string&) const override {}
  arrow::flight::ServerMiddleware* GetMiddleware(const std::string&) const override { return nullptr; }
  bool is_cancelled() const override { return false; }
  const arrow::flight::CallHeaders& incoming_headers() const override { return headers_; }

 private:
  std::string empty_, peer_ = "ipv4:127.0.0.1:1";
  arrow::flight::CallHeaders headers_;
};

arrow::Result<nlohmann::json> Act(FlightManager& node, std::string_view type, const nlohmann::json& body) {
  FakeCallContext context;
  std::unique_ptr<arrow::flight::ResultStream> results;
  ARROW_RETURN_NOT_OK(node.HandleAction(context, {std::string(type), arrow::Buffer::FromString(body.dump())},
                                        &results));
  ARROW_ASSIGN_OR_RAISE(auto result, results->Next());
  return nlohmann::json::parse(result->body->ToString());
}

std::string SchemaBase64(const std::shared_ptr<arrow::Schema>& schema) {
  auto buffer = arrow::ipc::SerializeSchema(*schema).ValueOrDie();
  return arrow::util::base64_encode(buffer->ToString());
}

TEST_F(ClusterTest, ReservedQueryIsBegunWhenItsDriverPlansIt) {
  ASSERT_OK_AND_ASSIGN(auto a, Join("n1"));
  ASSERT_OK_AND_ASSIGN(auto b, Join("n2"));
  ASSERT_TRUE(Eventually([&] { return a->Members().size() == 2; }));
  QueryPlan shape;
  shape.ordered = true;
  shape.description = "SELECT * FROM t ORDER BY x";
  ASSERT_OK_AND_ASSIGN(auto reserved, a->ReserveQuery(shape, arrow::flight::FlightDescriptor::Command("q")));
  EXPECT_EQ(reserved.started.wait_for(std::chrono::seconds(0)), std::future_status::timeout);
  const auto schema = arrow::schema({arrow::field("x", arrow::int64())});
  // Only the query's credential plans it, and only on the node that reserved it.
  auto wrong = Act(*a, kPlanAction, {{"query", reserved.id}, {"credential", "00"}, {"partitions", 4},
                                     {"schema", SchemaBase64(schema)}});
  EXPECT_EQ(wrong.status().code(), arrow::StatusCode::IOError) << wrong.status().ToString();  // UNAUTHENTICATED
  nlohmann::json plan = {{"query", reserved.id}, {"credential", reserved.producer_credential},
                         {"partitions", 4}, {"schema", SchemaBase64(schema)}};
  auto elsewhere = Act(*b, kPlanAction, plan);
  EXPECT_TRUE(elsewhere.status().IsKeyError()) << elsewhere.status().ToString();
  ASSERT_OK_AND_ASSIGN(auto reply, Act(*a, kPlanAction, plan));
  EXPECT_EQ(reply["query_id"], reserved.id);
  EXPECT_EQ(reply["assignment"].size(), 4u);
  EXPECT_EQ(reply["assignment"][0]["node"], reply["assignment"][1]["node"]);  // ordered: contiguous ranges
  ASSERT_EQ(reserved.started.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  const auto& started = reserved.started.get();
  ASSERT_OK(started.status());
  EXPECT_EQ((*started)->id, reserved.id);
  EXPECT_TRUE((*started)->info->ordered());
  EXPECT_EQ(StateOf(*b, reserved.id), QueryState::kRunning);
  // Planned once only.
  EXPECT_TRUE(Act(*a, kPlanAction, plan).status().IsKeyError());
  ASSERT_OK(a->CompleteQuery(reserved.id, {{0, 0}, {1, 0}, {2, 0}, {3, 0}}));
}

TEST_F(ClusterTest, WithdrawnReservationGivesItsReason) {
  ASSERT_OK_AND_ASSIGN(auto a, Join("n1"));
  ASSERT_OK_AND_ASSIGN(auto reserved, a->ReserveQuery(QueryPlan{}, arrow::flight::FlightDescriptor::Command("q")));
  EXPECT_TRUE(a->WithdrawReservation(reserved.id, arrow::Status::Invalid("Spark: [PARSE_SYNTAX_ERROR]")));
  EXPECT_FALSE(a->WithdrawReservation(reserved.id, arrow::Status::Invalid("again")));
  const auto& started = reserved.started.get();
  EXPECT_TRUE(started.status().IsInvalid());
  EXPECT_NE(started.status().message().find("PARSE_SYNTAX_ERROR"), std::string::npos);
  // A reservation still open when the node leaves is answered too.
  ASSERT_OK_AND_ASSIGN(auto pending, a->ReserveQuery(QueryPlan{}, arrow::flight::FlightDescriptor::Command("q")));
  a.reset();
  EXPECT_TRUE(pending.started.get().status().IsIOError());  // UNAVAILABLE
}

TEST(QueryRecordTest, JsonRoundTrip) {
  QueryRecord record;
  record.id = "q-1";
  record.state = QueryState::kCompleted;
  record.coordinator = "n1";
  record.nodes = {"n1", "n2"};
  record.node_uris = {"grpc://a:1", "grpc://b:2"};
  record.assignment = {0, 1, 0};
  record.schema_ipc = std::string("\0\x01\xff binary", 10);
  record.committed["n1"] = {{0, 0}, {2, 1}};
  record.served = {"n2"};
  ASSERT_OK_AND_ASSIGN(auto back, QueryRecord::FromJson(record.ToJson()));
  EXPECT_EQ(back.schema_ipc, record.schema_ipc);
  EXPECT_EQ(back.assignment, record.assignment);
  EXPECT_EQ(back.committed.at("n1"), record.committed.at("n1"));
  EXPECT_EQ(back.PartitionsOf("n1"), (std::vector<int32_t>{0, 2}));
  EXPECT_TRUE(back.HasServed("n2"));
  EXPECT_FALSE(QueryRecord::FromJson("{\"id\": 1}").ok());
  record.assignment = {0, 5};
  EXPECT_FALSE(QueryRecord::FromJson(record.ToJson()).ok());
}

}  // namespace
}  // namespace squadron::cluster
