// The shutdown watchdog: it acts once its deadline passes, and never once
// disarmed in time.
#include "common/watchdog.h"

#include <atomic>
#include <chrono>
#include <thread>

#include <gtest/gtest.h>

namespace squadron {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

TEST(WatchdogTest, ActsWhenTheStepOutlastsItsDeadline) {
  std::atomic<bool> expired{false};
  const auto start = Clock::now();
  Watchdog watchdog(start + milliseconds(50), [&] { expired = true; });
  while (!expired && Clock::now() - start < std::chrono::seconds(10)) std::this_thread::sleep_for(milliseconds(5));
  EXPECT_TRUE(expired);
  EXPECT_GE(Clock::now() - start, milliseconds(50));
  watchdog.Disarm();  // after it acted: joins, and does not act again
}

TEST(WatchdogTest, DisarmedInTimeItNeverActs) {
  std::atomic<int> expired{0};
  {
    Watchdog watchdog(Clock::now() + milliseconds(200), [&] { ++expired; });
    watchdog.Disarm();
    watchdog.Disarm();  // idempotent
  }
  std::this_thread::sleep_for(milliseconds(300));
  EXPECT_EQ(expired.load(), 0);
  {
    Watchdog destroyed(Clock::now() + milliseconds(100), [&] { ++expired; });
  }  // destruction disarms
  std::this_thread::sleep_for(milliseconds(200));
  EXPECT_EQ(expired.load(), 0);
}

}  // namespace
}  // namespace squadron
