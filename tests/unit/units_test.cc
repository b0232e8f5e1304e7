#include "common/units.h"

#include <gtest/gtest.h>

namespace squadron {
namespace {

using std::chrono::milliseconds;

TEST(ParseDurationTest, Units) {
  EXPECT_EQ(*ParseDuration("250ms"), milliseconds(250));
  EXPECT_EQ(*ParseDuration("30s"), milliseconds(30000));
  EXPECT_EQ(*ParseDuration("30"), milliseconds(30000));
  EXPECT_EQ(*ParseDuration("5m"), milliseconds(300000));
  EXPECT_EQ(*ParseDuration("2h"), milliseconds(7200000));
  EXPECT_EQ(*ParseDuration(" 1 s "), milliseconds(1000));
}

TEST(ParseDurationTest, RejectsNonsense) {
  for (const char* bad : {"", "s", "-1s", "5 days", "1.5s", "99999999999999999999h"}) {
    auto d = ParseDuration(bad);
    EXPECT_FALSE(d.ok()) << bad;
    if (!d.ok()) {
      EXPECT_TRUE(d.status().IsInvalid());
    }
  }
}

TEST(ParseByteSizeTest, Units) {
  EXPECT_EQ(*ParseByteSize("123"), 123);
  EXPECT_EQ(*ParseByteSize("4KB"), 4000);
  EXPECT_EQ(*ParseByteSize("4kib"), 4096);
  EXPECT_EQ(*ParseByteSize("8MiB"), 8 << 20);
  EXPECT_EQ(*ParseByteSize("1GB"), 1000000000);
  EXPECT_FALSE(ParseByteSize("8 potatoes").ok());
  EXPECT_FALSE(ParseByteSize("-1").ok());
}

TEST(FormatDurationTest, RoundTrips) {
  for (int64_t ms : {0, 1, 1500, 30000, 300000, 7200000}) {
    EXPECT_EQ(*ParseDuration(FormatDuration(milliseconds(ms))), milliseconds(ms));
  }
}

}  // namespace
}  // namespace squadron
