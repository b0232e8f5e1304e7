#include "common/text.h"

#include <gtest/gtest.h>

namespace squadron {
namespace {

TEST(ClipTest, ShortTextIsUnchanged) { EXPECT_EQ(Clip("abc", 3), "abc"); }

TEST(ClipTest, LongTextIsCutAndSaysSo) {
  EXPECT_EQ(Clip("abcdef", 4), "abcd... [cut: 4 of 6 bytes shown]");
}

TEST(ClipTest, NeverSplitsAUtf8Sequence) {
  // "aé" is 61 C3 A9: cutting after 2 bytes would leave half of é.
  EXPECT_EQ(Clip("a\xC3\xA9z", 2), "a... [cut: 1 of 4 bytes shown]");
}

TEST(ClipTest, StatusKeepsItsCodeWithAShortMessage) {
  const auto long_status = arrow::Status::Invalid(std::string(1 << 20, 'x'));
  const auto clipped = ClipMessage(long_status);
  EXPECT_TRUE(clipped.IsInvalid());
  EXPECT_LT(clipped.message().size(), kMaxStatusMessageBytes + 64);
  EXPECT_NE(clipped.message().find("[cut: 1024 of 1048576 bytes shown]"), std::string::npos);
  EXPECT_TRUE(ClipMessage(arrow::Status::OK()).ok());
}

}  // namespace
}  // namespace squadron

namespace squadron {
namespace {

TEST(FirstKeywordTest, SkipsBlanksCommentsAndParentheses) {
  EXPECT_EQ(FirstKeyword("  select 1"), "SELECT");
  EXPECT_EQ(FirstKeyword("-- a comment\n/* another */ (( With t AS (SELECT 1) SELECT * FROM t"), "WITH");
  EXPECT_EQ(FirstKeyword("/* unterminated"), "");
  EXPECT_EQ(FirstKeyword("-- only a comment"), "");
  EXPECT_EQ(FirstKeyword("123"), "");
}

}  // namespace
}  // namespace squadron
