#include "cluster/memory_coordination.h"

#include <atomic>
#include <mutex>
#include <thread>

#include <arrow/flight/types.h>
#include <gtest/gtest.h>

namespace squadron::cluster {
namespace {

using Code = CoordinationCode;
using Mode = Coordination::CreateMode;

/// Returns whether `status` reaches a Flight client as UNAVAILABLE.
bool IsUnavailable(const arrow::Status& status) {
  auto detail = arrow::flight::FlightStatusDetail::UnwrapStatus(status);
  return detail && detail->code() == arrow::flight::FlightStatusCode::Unavailable;
}

/// Counts the runs of one watch callback; records the thread it ran on.
struct WatchProbe {
  std::atomic<int> runs{0};
  std::atomic<bool> on_caller_thread{false};
  std::thread::id caller = std::this_thread::get_id();

  WatchCallback Callback() {
    return [this] {
      ++runs;
      if (std::this_thread::get_id() == caller) on_caller_thread = true;
    };
  }
};

/// Records the session states a listener receives.
struct ListenerProbe {
  std::mutex mutex;
  std::vector<SessionState> states;

  SessionListener Listener() {
    return [this](SessionState state) {
      std::lock_guard lock(mutex);
      states.push_back(state);
    };
  }
  std::vector<SessionState> Take() {
    std::lock_guard lock(mutex);
    return std::exchange(states, {});
  }
};

class MemoryCoordinationTest : public ::testing::Test {
 protected:
  std::shared_ptr<MemoryCoordinationStore> store_ = std::make_shared<MemoryCoordinationStore>("unit");
  MemoryCoordination a_{store_};
  MemoryCoordination b_{store_};
};

TEST_F(MemoryCoordinationTest, CreatesReadsWritesAndDeletesWithVersions) {
  ASSERT_TRUE(a_.Create("/sq", "root", Mode::kPersistent).ok());
  NodeData node;
  ASSERT_TRUE(b_.Get("/sq", &node).ok());
  EXPECT_EQ(node.data, "root");
  EXPECT_EQ(node.version, 0);

  EXPECT_TRUE(a_.Set("/sq", "one", /*version=*/0).ok());
  auto stale = b_.Set("/sq", "two", /*version=*/0);
  EXPECT_EQ(stale.code, Code::kBadVersion);
  EXPECT_NE(stale.message.find("/sq"), std::string::npos) << stale.message;
  EXPECT_TRUE(b_.Set("/sq", "two").ok());
  ASSERT_TRUE(a_.Get("/sq", &node).ok());
  EXPECT_EQ(node.data, "two");
  EXPECT_EQ(node.version, 2);

  EXPECT_EQ(a_.Delete("/sq", /*version=*/1).code, Code::kBadVersion);
  EXPECT_TRUE(a_.Delete("/sq", /*version=*/2).ok());
  EXPECT_EQ(a_.Get("/sq", &node).code, Code::kNoNode);
  EXPECT_EQ(a_.Delete("/sq").code, Code::kNoNode);
  EXPECT_EQ(a_.Set("/sq", "x").code, Code::kNoNode);
}

TEST_F(MemoryCoordinationTest, CreateChecksParentAndExistence) {
  EXPECT_EQ(a_.Create("/a/b", "", Mode::kPersistent).code, Code::kNoNode);
  ASSERT_TRUE(a_.Create("/a", "", Mode::kPersistent).ok());
  EXPECT_EQ(b_.Create("/a", "", Mode::kPersistent).code, Code::kNodeExists);
  ASSERT_TRUE(a_.Create("/a/e", "", Mode::kEphemeral).ok());
  EXPECT_EQ(a_.Create("/a/e/child", "", Mode::kPersistent).code, Code::kError);
  EXPECT_EQ(a_.Create("relative", "", Mode::kPersistent).code, Code::kError);
  EXPECT_EQ(a_.Create("/a/", "", Mode::kPersistent).code, Code::kError);
  EXPECT_EQ(a_.Create("/a//b", "", Mode::kPersistent).code, Code::kError);
  EXPECT_EQ(a_.Create("/big", std::string(1 << 20, 'x'), Mode::kPersistent).code, Code::kError);
  EXPECT_EQ(a_.Set("/a", std::string(1 << 20, 'x')).code, Code::kError);
}

TEST_F(MemoryCoordinationTest, CreateRecursiveMakesAncestorsAndAcceptsExisting) {
  ASSERT_TRUE(a_.CreateRecursive("/sq/members/n1").ok());
  EXPECT_TRUE(store_->Exists("/sq"));
  EXPECT_TRUE(store_->Exists("/sq/members"));
  EXPECT_TRUE(store_->Exists("/sq/members/n1"));
  EXPECT_TRUE(b_.CreateRecursive("/sq/members").ok());
  EXPECT_TRUE(b_.CreateRecursive("/sq/members/n1").ok());
  EXPECT_TRUE(b_.CreateRecursive("/").ok());
}

TEST_F(MemoryCoordinationTest, ChildrenListsSortedNamesAndRefusesNonEmptyDelete) {
  ASSERT_TRUE(a_.CreateRecursive("/sq/members").ok());
  ASSERT_TRUE(a_.Create("/sq/members/n2", "", Mode::kPersistent).ok());
  ASSERT_TRUE(b_.Create("/sq/members/n1", "", Mode::kEphemeral).ok());
  std::vector<std::string> names;
  ASSERT_TRUE(a_.Children("/sq/members", &names).ok());
  EXPECT_EQ(names, (std::vector<std::string>{"n1", "n2"}));
  EXPECT_EQ(a_.Children("/nothing", &names).code, Code::kNoNode);
  EXPECT_EQ(a_.Delete("/sq/members").code, Code::kNotEmpty);
}

TEST_F(MemoryCoordinationTest, DataWatchFiresOnceOnTheCallbackThread) {
  ASSERT_TRUE(a_.Create("/n", "v0", Mode::kPersistent).ok());
  WatchProbe probe;
  NodeData node;
  ASSERT_TRUE(b_.Get("/n", &node, probe.Callback()).ok());
  ASSERT_TRUE(a_.Set("/n", "v1").ok());
  ASSERT_TRUE(a_.Set("/n", "v2").ok());
  store_->Drain();
  EXPECT_EQ(probe.runs, 1);
  EXPECT_FALSE(probe.on_caller_thread);
  EXPECT_EQ(store_->pending_watches(), 0u);
}

TEST_F(MemoryCoordinationTest, DataWatchOnAbsentNodeFiresOnCreation) {
  WatchProbe probe;
  NodeData node;
  EXPECT_EQ(b_.Get("/later", &node, probe.Callback()).code, Code::kNoNode);
  store_->Drain();
  EXPECT_EQ(probe.runs, 0);
  ASSERT_TRUE(a_.Create("/later", "", Mode::kPersistent).ok());
  store_->Drain();
  EXPECT_EQ(probe.runs, 1);
}

TEST_F(MemoryCoordinationTest, DataWatchFiresOnDeletion) {
  ASSERT_TRUE(a_.Create("/n", "", Mode::kPersistent).ok());
  WatchProbe probe;
  NodeData node;
  ASSERT_TRUE(b_.Get("/n", &node, probe.Callback()).ok());
  ASSERT_TRUE(a_.Delete("/n").ok());
  store_->Drain();
  EXPECT_EQ(probe.runs, 1);
}

TEST_F(MemoryCoordinationTest, ChildWatchFiresOnChildChangesNotOnData) {
  ASSERT_TRUE(a_.Create("/m", "", Mode::kPersistent).ok());
  WatchProbe added;
  std::vector<std::string> names;
  ASSERT_TRUE(b_.Children("/m", &names, added.Callback()).ok());
  ASSERT_TRUE(a_.Set("/m", "data").ok());
  store_->Drain();
  EXPECT_EQ(added.runs, 0);
  ASSERT_TRUE(a_.Create("/m/x", "", Mode::kPersistent).ok());
  ASSERT_TRUE(a_.Create("/m/y", "", Mode::kPersistent).ok());
  store_->Drain();
  EXPECT_EQ(added.runs, 1);

  WatchProbe removed;
  ASSERT_TRUE(b_.Children("/m", &names, removed.Callback()).ok());
  ASSERT_TRUE(a_.Set("/m/x", "child data").ok());
  ASSERT_TRUE(a_.Delete("/m/x").ok());
  store_->Drain();
  EXPECT_EQ(removed.runs, 1);
}

TEST_F(MemoryCoordinationTest, FailedCallsSetNoWatch) {
  WatchProbe probe;
  std::vector<std::string> names;
  EXPECT_EQ(b_.Children("/absent", &names, probe.Callback()).code, Code::kNoNode);
  b_.FailNext(Code::kConnectionLoss);
  NodeData node;
  EXPECT_EQ(b_.Get("/absent", &node, probe.Callback()).code, Code::kConnectionLoss);
  EXPECT_EQ(store_->pending_watches(), 0u);
  ASSERT_TRUE(a_.Create("/absent", "", Mode::kPersistent).ok());
  ASSERT_TRUE(a_.Create("/absent/c", "", Mode::kPersistent).ok());
  store_->Drain();
  EXPECT_EQ(probe.runs, 0);
}

TEST_F(MemoryCoordinationTest, ExpiryDropsEphemeralsAndFiresWatches) {
  ListenerProbe listener;
  a_.SetSessionListener(listener.Listener());
  ASSERT_TRUE(a_.CreateRecursive("/sq/members").ok());
  ASSERT_TRUE(a_.Create("/sq/members/a", "uri-a", Mode::kEphemeral).ok());
  ASSERT_TRUE(a_.Create("/sq/kept", "", Mode::kPersistent).ok());

  WatchProbe others_data, others_children, own;
  NodeData node;
  std::vector<std::string> names;
  ASSERT_TRUE(b_.Get("/sq/members/a", &node, others_data.Callback()).ok());
  ASSERT_TRUE(b_.Children("/sq/members", &names, others_children.Callback()).ok());
  ASSERT_TRUE(a_.Get("/sq/kept", &node, own.Callback()).ok());

  const int64_t old_session = a_.session_id();
  a_.ExpireSession();
  a_.ExpireSession();  // no second round of notifications
  store_->Drain();
  EXPECT_EQ(a_.state(), SessionState::kExpired);
  EXPECT_EQ(listener.Take(), std::vector<SessionState>{SessionState::kExpired});
  EXPECT_FALSE(store_->Exists("/sq/members/a"));
  EXPECT_TRUE(store_->Exists("/sq/kept"));
  EXPECT_EQ(others_data.runs, 1);
  EXPECT_EQ(others_children.runs, 1);
  EXPECT_EQ(own.runs, 1);  // fired by the expiry itself; /sq/kept did not change
  EXPECT_EQ(store_->pending_watches(), 0u);

  const auto expired = a_.Get("/sq/kept", &node);
  EXPECT_EQ(expired.code, Code::kSessionExpired);
  EXPECT_TRUE(IsUnavailable(expired.ToStatus())) << expired.ToStatus();
  EXPECT_EQ(a_.Create("/sq/members/a", "", Mode::kEphemeral).code, Code::kSessionExpired);

  a_.FailNext(Code::kConnectionLoss);
  EXPECT_TRUE(IsUnavailable(a_.Reconnect()));
  EXPECT_EQ(a_.state(), SessionState::kExpired);
  ASSERT_TRUE(a_.Reconnect().ok());
  store_->Drain();
  EXPECT_EQ(a_.state(), SessionState::kConnected);
  EXPECT_NE(a_.session_id(), old_session);
  EXPECT_EQ(listener.Take(), std::vector<SessionState>{SessionState::kConnected});
  EXPECT_TRUE(a_.Create("/sq/members/a", "uri-a", Mode::kEphemeral).ok());
}

TEST_F(MemoryCoordinationTest, DisconnectKeepsTheSessionAndHoldsWatchesBack) {
  ListenerProbe listener;
  a_.SetSessionListener(listener.Listener());
  ASSERT_TRUE(a_.Create("/e", "", Mode::kEphemeral).ok());
  ASSERT_TRUE(b_.Create("/n", "", Mode::kPersistent).ok());
  WatchProbe probe;
  NodeData node;
  ASSERT_TRUE(a_.Get("/n", &node, probe.Callback()).ok());

  a_.Disconnect();
  EXPECT_EQ(a_.state(), SessionState::kDisconnected);
  EXPECT_EQ(a_.Get("/n", &node).code, Code::kConnectionLoss);
  EXPECT_EQ(a_.Set("/n", "x").code, Code::kConnectionLoss);
  ASSERT_TRUE(b_.Set("/n", "changed").ok());
  store_->Drain();
  EXPECT_EQ(probe.runs, 0);  // held back while disconnected
  EXPECT_TRUE(store_->Exists("/e"));

  a_.Restore();
  store_->Drain();
  EXPECT_EQ(a_.state(), SessionState::kConnected);
  EXPECT_EQ(listener.Take(), (std::vector<SessionState>{SessionState::kDisconnected, SessionState::kConnected}));
  EXPECT_EQ(probe.runs, 1);
  EXPECT_TRUE(store_->Exists("/e"));
  ASSERT_TRUE(a_.Get("/n", &node).ok());
  EXPECT_EQ(node.data, "changed");
}

TEST_F(MemoryCoordinationTest, ExpiryWhileDisconnectedFiresHeldBackWatchesOnce) {
  ASSERT_TRUE(b_.Create("/n", "", Mode::kPersistent).ok());
  WatchProbe probe;
  NodeData node;
  ASSERT_TRUE(a_.Get("/n", &node, probe.Callback()).ok());
  a_.Disconnect();
  ASSERT_TRUE(b_.Set("/n", "changed").ok());
  a_.ExpireSession();
  a_.Restore();  // no effect once expired
  store_->Drain();
  EXPECT_EQ(probe.runs, 1);
  EXPECT_EQ(a_.state(), SessionState::kExpired);
}

TEST_F(MemoryCoordinationTest, FailNextFailsCallsWithoutEffect) {
  a_.FailNext(Code::kConnectionLoss, /*count=*/2);
  EXPECT_EQ(a_.Create("/x", "", Mode::kPersistent).code, Code::kConnectionLoss);
  EXPECT_EQ(a_.CreateRecursive("/y/z").code, Code::kConnectionLoss);
  EXPECT_FALSE(store_->Exists("/x"));
  EXPECT_FALSE(store_->Exists("/y"));
  EXPECT_TRUE(a_.Create("/x", "", Mode::kPersistent).ok());

  a_.FailNext(Code::kSessionExpired);
  EXPECT_EQ(a_.Delete("/x").code, Code::kSessionExpired);
  EXPECT_TRUE(store_->Exists("/x"));
  EXPECT_EQ(a_.state(), SessionState::kConnected);  // only the call failed
  EXPECT_TRUE(b_.Delete("/x").ok());
}

TEST_F(MemoryCoordinationTest, LostReplyTakesEffect) {
  a_.LoseNextReplies();
  EXPECT_EQ(a_.Create("/x", "v", Mode::kPersistent).code, Code::kConnectionLoss);
  EXPECT_TRUE(store_->Exists("/x"));
  EXPECT_EQ(a_.Create("/x", "v", Mode::kPersistent).code, Code::kNodeExists);
}

TEST_F(MemoryCoordinationTest, DestroyingAHandleClosesItsSession) {
  auto c = std::make_unique<MemoryCoordination>(store_);
  ASSERT_TRUE(c->Create("/c", "", Mode::kEphemeral).ok());
  ASSERT_TRUE(c->Create("/p", "", Mode::kPersistent).ok());
  WatchProbe others, own;
  NodeData node;
  ASSERT_TRUE(a_.Get("/c", &node, others.Callback()).ok());
  ASSERT_TRUE(c->Get("/p", &node, own.Callback()).ok());
  c.reset();
  store_->Drain();
  EXPECT_FALSE(store_->Exists("/c"));
  EXPECT_TRUE(store_->Exists("/p"));
  EXPECT_EQ(others.runs, 1);
  EXPECT_EQ(own.runs, 0);
  EXPECT_EQ(store_->pending_watches(), 0u);
}

TEST_F(MemoryCoordinationTest, DescribesItself) {
  EXPECT_EQ(a_.description(), "memory://unit");
  EXPECT_EQ(a_.session_timeout(), std::chrono::seconds(10));
  EXPECT_NE(a_.session_id(), b_.session_id());
}

TEST_F(MemoryCoordinationTest, CallingBackFromACallbackAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        ASSERT_TRUE(a_.Create("/n", "", Mode::kPersistent).ok());
        NodeData node;
        ASSERT_TRUE(a_.Get("/n", &node, [this] {
                        NodeData again;
                        (void)a_.Get("/n", &again);
                      }).ok());
        ASSERT_TRUE(b_.Set("/n", "x").ok());
        store_->Drain();
      },
      "called from a coordination callback");
}

// --- shared helpers ---------------------------------------------------------------------------

arrow::Status StatusFor(Code code) { return CoordinationError{code, "m"}.ToStatus(); }

TEST(CoordinationErrorTest, MapsCodesToStatuses) {
  EXPECT_TRUE(CoordinationError{}.ToStatus().ok());
  const auto loss = CoordinationError{Code::kConnectionLoss, "get /sq: connection loss"}.ToStatus();
  EXPECT_EQ(loss.message(), "ZooKeeper: get /sq: connection loss");
  EXPECT_TRUE(IsUnavailable(loss)) << loss;
  EXPECT_TRUE(IsUnavailable(StatusFor(Code::kSessionExpired)));
  EXPECT_TRUE(StatusFor(Code::kNoNode).IsKeyError());
  EXPECT_TRUE(StatusFor(Code::kNodeExists).IsAlreadyExists());
  EXPECT_TRUE(StatusFor(Code::kBadVersion).IsIOError());
  EXPECT_FALSE(IsUnavailable(StatusFor(Code::kBadVersion)));
  EXPECT_TRUE(StatusFor(Code::kNotEmpty).IsIOError());
  EXPECT_TRUE(StatusFor(Code::kError).IsIOError());
}

TEST(SessionStateNameTest, NamesEveryState) {
  EXPECT_STREQ(SessionStateName(SessionState::kConnected), "connected");
  EXPECT_STREQ(SessionStateName(SessionState::kDisconnected), "disconnected");
  EXPECT_STREQ(SessionStateName(SessionState::kExpired), "expired");
}

TEST(ParseZooKeeperAddressTest, AcceptsHostListsAndPaths) {
  auto one = ParseZooKeeperAddress("zk://127.0.0.1:2181/squadron");
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ(one->hosts, "127.0.0.1:2181");
  EXPECT_EQ(one->root, "/squadron");

  auto many = ParseZooKeeperAddress("zk://zk1.example.com:2181,zk2:2182,[::1]:2183/apps/squadron-prod_1/");
  ASSERT_TRUE(many.ok()) << many.status();
  EXPECT_EQ(many->hosts, "zk1.example.com:2181,zk2:2182,[::1]:2183");
  EXPECT_EQ(many->root, "/apps/squadron-prod_1");
}

void ExpectRejected(const std::string& uri, const std::string& problem) {
  auto parsed = ParseZooKeeperAddress(uri);
  ASSERT_FALSE(parsed.ok()) << uri;
  EXPECT_TRUE(parsed.status().IsInvalid()) << parsed.status();
  const std::string& message = parsed.status().message();
  EXPECT_NE(message.find(problem), std::string::npos) << uri << " -> " << message;
  EXPECT_NE(message.find("expected zk://HOST:PORT[,HOST:PORT...]/PATH"), std::string::npos) << message;
  EXPECT_NE(message.find("'" + uri + "'"), std::string::npos) << message;
}

TEST(ParseZooKeeperAddressTest, RejectsMalformedAddressesNamingTheProblem) {
  ExpectRejected("127.0.0.1:2181/squadron", "does not start with zk://");
  ExpectRejected("zookeeper://h:2181/squadron", "does not start with zk://");
  ExpectRejected("zk:///squadron", "no hosts");
  ExpectRejected("zk://h/squadron", "host 'h' has no port");
  ExpectRejected("zk://:2181/squadron", "no host name");
  ExpectRejected("zk://h:2181,/squadron", "empty entry");
  ExpectRejected("zk://h:0/squadron", "port '0'");
  ExpectRejected("zk://h:65536/squadron", "1..65535");
  ExpectRejected("zk://h:21a/squadron", "port '21a'");
  ExpectRejected("zk://h:/squadron", "port ''");
  ExpectRejected("zk://h:2181", "no path");
  ExpectRejected("zk://h:2181/", "the path is '/'");
  ExpectRejected("zk://h:2181///", "the path is '/'");
  ExpectRejected("zk://h:2181/a b", "bad character ' '");
  ExpectRejected("zk://h:2181/a?x=1", "bad character '?'");
  ExpectRejected("zk://h:2181/a//b", "segment");
  ExpectRejected("zk://h:2181/a/../b", "segment");
  ExpectRejected("zk://h st:2181/a", "bad character in host");
}

}  // namespace
}  // namespace squadron::cluster
