#include "flight/result_store.h"

#include <gtest/gtest.h>

namespace squadron::flight {
namespace {

using std::chrono::seconds;
using std::chrono::system_clock;

struct FakeClock {
  system_clock::time_point now = system_clock::time_point(seconds(1000));
  ResultStore::Clock fn() {
    return [this] { return now; };
  }
};

std::unique_ptr<PendingResult> Result(const std::string& description) {
  auto r = std::make_unique<PendingResult>();
  r->description = description;
  return r;
}

TEST(ResultStoreTest, TakeReturnsTheResultOnce) {
  FakeClock clock;
  ResultStore store({seconds(60), 10}, clock.fn());
  auto receipt = store.Put(Result("q1"));
  ASSERT_TRUE(receipt.ok());
  EXPECT_EQ(receipt->expires_at, clock.now + seconds(60));
  auto taken = store.Take(receipt->id);
  ASSERT_TRUE(taken.ok());
  EXPECT_EQ((*taken)->description, "q1");
  auto again = store.Take(receipt->id);
  ASSERT_FALSE(again.ok());
  EXPECT_TRUE(again.status().IsKeyError());
}

TEST(ResultStoreTest, IdsAreDistinct) {
  FakeClock clock;
  ResultStore store({seconds(60), 10}, clock.fn());
  auto a = store.Put(Result("a"));
  auto b = store.Put(Result("b"));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->id, b->id);
  EXPECT_EQ((*store.Take(b->id))->description, "b");
}

TEST(ResultStoreTest, ExpiredResultsAreReleasedAndNotFound) {
  FakeClock clock;
  ResultStore store({seconds(60), 10}, clock.fn());
  auto keep = store.Put(Result("keep"));
  clock.now += seconds(30);
  auto late = store.Put(Result("late"));
  clock.now += seconds(31);  // "keep" is 61s old, "late" 31s
  EXPECT_EQ(store.ReleaseExpired(), 1u);
  EXPECT_EQ(store.size(), 1u);
  EXPECT_TRUE(store.Take(keep->id).status().IsKeyError());
  EXPECT_TRUE(store.Take(late->id).ok());
}

TEST(ResultStoreTest, TakeRefusesAnExpiredResultBeforeTheReaperRuns) {
  FakeClock clock;
  ResultStore store({seconds(60), 10}, clock.fn());
  auto r = store.Put(Result("x"));
  clock.now += seconds(60);
  EXPECT_TRUE(store.Take(r->id).status().IsKeyError());
  EXPECT_EQ(store.size(), 0u);
}

TEST(ResultStoreTest, FullStoreIsUnavailable) {
  FakeClock clock;
  ResultStore store({seconds(60), 2}, clock.fn());
  ASSERT_TRUE(store.Put(Result("a")).ok());
  ASSERT_TRUE(store.Put(Result("b")).ok());
  auto c = store.Put(Result("c"));
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("Too many unfetched results"), std::string::npos);
}

TEST(ResultStoreTest, StopReleasesEverythingAndRefusesMore) {
  FakeClock clock;
  ResultStore store({seconds(60), 10}, clock.fn());
  ASSERT_TRUE(store.Put(Result("a")).ok());
  store.StartReaper(std::chrono::milliseconds(10));
  store.Stop();
  EXPECT_EQ(store.size(), 0u);
  EXPECT_FALSE(store.Put(Result("b")).ok());
}

}  // namespace
}  // namespace squadron::flight
