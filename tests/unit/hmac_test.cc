#include "common/hmac.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace squadron {
namespace {

// OpenSSL's one-shot HMAC(): the reference the precomputed pads must match.
std::string Reference(std::string_view key, std::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), mac, &length);
  return std::string(reinterpret_cast<const char*>(mac), length);
}

std::string Hex(const std::string& bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (const char c : bytes) {
    out.push_back(kHex[static_cast<unsigned char>(c) >> 4]);
    out.push_back(kHex[static_cast<unsigned char>(c) & 0xf]);
  }
  return out;
}

TEST(HmacSha256Test, MatchesRfc4231) {
  // Test cases 1, 2 and 6 of RFC 4231 (6: a key longer than the block).
  EXPECT_EQ(Hex(HmacSha256(std::string(20, '\x0b')).Mac("Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  EXPECT_EQ(Hex(HmacSha256("Jefe").Mac("what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(Hex(HmacSha256(std::string(131, '\xaa'))
                    .Mac("Test Using Larger Than Block-Size Key - Hash Key First")),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

TEST(HmacSha256Test, MatchesOpenSslForEveryKeyLengthAroundTheBlock) {
  std::string data;
  for (int i = 0; i < 300; ++i) data.push_back(static_cast<char>(i * 7));
  for (size_t key_length : {0, 1, 16, 31, 32, 63, 64, 65, 128, 200}) {
    std::string key;
    for (size_t i = 0; i < key_length; ++i) key.push_back(static_cast<char>(i * 13 + 1));
    const HmacSha256 mac(key);
    for (size_t data_length : {0, 1, 55, 56, 64, 300}) {
      const std::string_view message(data.data(), data_length);
      EXPECT_EQ(mac.Mac(message), Reference(key, message)) << "key " << key_length << ", data " << data_length;
    }
  }
}

TEST(HmacSha256Test, IsTheSameFromManyThreadsAtOnce) {
  const HmacSha256 mac(std::string(32, 'k'));
  const std::string expected = Reference(std::string(32, 'k'), "ticket body");
  std::vector<std::thread> threads;
  std::vector<int> wrong(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) wrong[t] += mac.Mac("ticket body") != expected;
    });
  }
  for (auto& thread : threads) thread.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(wrong[t], 0) << "thread " << t;
}

}  // namespace
}  // namespace squadron
