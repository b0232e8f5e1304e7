#include "flight/ticket.h"

#include <gtest/gtest.h>

namespace squadron::flight {
namespace {

using std::chrono::seconds;
using std::chrono::system_clock;

const system_clock::time_point kNow = system_clock::time_point(seconds(1'800'000'000));

TEST(TicketCodecTest, CarriesItsOwnerUnderTheSignature) {
  TicketCodec codec(std::string(32, 'k'));
  const std::string ticket = codec.Encode({"result-1", kNow + seconds(60), "alice"});
  auto out = codec.Decode(ticket, kNow);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->owner, "alice");
  // The owner cannot be changed without breaking the signature.
  std::string changed = ticket;
  const size_t at = changed.find("alice");
  ASSERT_NE(at, std::string::npos);
  changed[at] = 'm';
  EXPECT_FALSE(codec.Decode(changed, kNow).ok());
}

TEST(TicketCodecTest, RoundTripsResultIdAndExpiry) {
  TicketCodec codec(std::string(32, 'k'));
  const TicketContents in{"result-\x01\x02", kNow + seconds(60)};
  auto out = codec.Decode(codec.Encode(in), kNow);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->result_id, in.result_id);
  EXPECT_EQ(out->expires_at, in.expires_at);
}

TEST(TicketCodecTest, RejectsEveryFlippedByte) {
  TicketCodec codec(std::string(32, 'k'));
  const std::string ticket = codec.Encode({"abc", kNow + seconds(60)});
  for (size_t i = 0; i < ticket.size(); ++i) {
    std::string tampered = ticket;
    tampered[i] ^= 0x20;
    auto out = codec.Decode(tampered, kNow);
    ASSERT_FALSE(out.ok()) << "byte " << i;
    EXPECT_TRUE(out.status().IsInvalid()) << out.status();
  }
}

TEST(TicketCodecTest, SignatureErrorSaysWhy) {
  TicketCodec codec(std::string(32, 'k'));
  std::string ticket = codec.Encode({"abc", kNow + seconds(60)});
  ticket.back() ^= 1;
  auto out = codec.Decode(ticket, kNow);
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("signature does not match"), std::string::npos);
}

TEST(TicketCodecTest, RejectsTicketFromAnotherSecret) {
  TicketCodec ours(std::string(32, 'k'));
  TicketCodec theirs(std::string(32, 'x'));
  auto out = ours.Decode(theirs.Encode({"abc", kNow + seconds(60)}), kNow);
  ASSERT_FALSE(out.ok());
  EXPECT_TRUE(out.status().IsInvalid());
}

TEST(TicketCodecTest, RejectsExpiredTicketAsNotFound) {
  TicketCodec codec(std::string(32, 'k'));
  const std::string ticket = codec.Encode({"abc", kNow + seconds(60)});
  EXPECT_TRUE(codec.Decode(ticket, kNow + seconds(59)).ok());
  auto out = codec.Decode(ticket, kNow + seconds(60));
  ASSERT_FALSE(out.ok());
  EXPECT_TRUE(out.status().IsKeyError()) << out.status();
  EXPECT_NE(out.status().message().find("expired"), std::string::npos);
}

TEST(TicketCodecTest, RejectsGarbage) {
  TicketCodec codec(std::string(32, 'k'));
  for (std::string garbage : {std::string(), std::string("x"), std::string(64, '\x01'),
                              std::string(100, '\xff')}) {
    auto out = codec.Decode(garbage, kNow);
    ASSERT_FALSE(out.ok());
    EXPECT_TRUE(out.status().IsInvalid()) << out.status();
  }
}

TEST(TicketCodecTest, GeneratedSecretsDiffer) {
  EXPECT_EQ(GenerateTicketSecret().size(), 32u);
  EXPECT_NE(GenerateTicketSecret(), GenerateTicketSecret());
}

}  // namespace
}  // namespace squadron::flight
