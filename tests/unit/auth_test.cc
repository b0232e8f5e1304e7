#include <gtest/gtest.h>

#include <filesystem>

#include <arrow/flight/types.h>

#include "auth/authenticator.h"
#include "auth/password_file.h"
#include "auth/token.h"

namespace squadron::auth {
namespace {

using std::chrono::seconds;

bool IsUnauthenticated(const arrow::Status& status) {
  auto detail = arrow::flight::FlightStatusDetail::UnwrapStatus(status);
  return detail && detail->code() == arrow::flight::FlightStatusCode::Unauthenticated;
}

TEST(TokenTest, RoundTripsAndExpires) {
  TokenSigner signer("0123456789abcdef-cluster-secret");
  const auto now = std::chrono::system_clock::now();
  const std::string token = signer.Issue({"alice", Role::kWriter, "ldap"}, seconds(60), now);
  auto identity = signer.Verify(token, now + seconds(59));
  ASSERT_TRUE(identity.ok()) << identity.status();
  EXPECT_EQ(identity->user, "alice");
  EXPECT_EQ(identity->role, Role::kWriter);
  EXPECT_EQ(identity->method, "ldap");
  auto expired = signer.Verify(token, now + seconds(60));
  ASSERT_TRUE(IsUnauthenticated(expired.status()));
  EXPECT_NE(expired.status().message().find("expired"), std::string::npos);
}

TEST(TokenTest, RefusesTamperedTruncatedAndForeignTokens) {
  TokenSigner signer("0123456789abcdef-cluster-secret");
  TokenSigner other("another-cluster-secret-fedcba9876");
  const std::string token = signer.Issue({"alice", Role::kReader, "password"}, seconds(60));
  const size_t dot = token.find('.');
  std::string tampered = token;
  tampered[dot + 3] = tampered[dot + 3] == 'A' ? 'B' : 'A';  // a claim byte
  for (const std::string& bad : {tampered, token.substr(0, token.size() - 1), other.Issue({"alice", Role::kAdmin, "x"},
                                                                                        seconds(60)),
                                 std::string("a.b"), std::string("a.b.c.d"), std::string(9000, 'x')}) {
    auto verified = signer.Verify(bad);
    EXPECT_TRUE(IsUnauthenticated(verified.status())) << bad;
  }
}

TEST(Base64UrlTest, RoundTripsEveryLength) {
  std::string bytes;
  for (int i = 0; i < 40; ++i) {
    auto decoded = Base64UrlDecode(Base64UrlEncode(bytes));
    ASSERT_TRUE(decoded.ok());
    EXPECT_EQ(*decoded, bytes);
    bytes.push_back(static_cast<char>(i * 37));
  }
  EXPECT_FALSE(Base64UrlDecode("ab+c").ok());  // standard base64, not base64url
}

TEST(PasswordFileTest, ParsesAndNamesTheBadLine) {
  auto hash = HashPassword("s3cret");
  ASSERT_TRUE(hash.ok());
  EXPECT_TRUE(VerifyPassword("s3cret", *hash));
  EXPECT_FALSE(VerifyPassword("s3cret ", *hash));
  auto users = ParsePasswordFile("# comment\n\nalice:reader:" + *hash + "\nbob:admin:" + *hash + "\n");
  ASSERT_TRUE(users.ok()) << users.status();
  EXPECT_EQ(users->at("bob").role, Role::kAdmin);
  auto bad = ParsePasswordFile("alice:reader:" + *hash + "\ncarol:root:" + *hash + "\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("line 2"), std::string::npos);
  EXPECT_FALSE(ParsePasswordFile("dave:reader:plaintext\n").ok());
  // Written and read back through the file format.
  auto again = ParsePasswordFile(FormatPasswordFile(*users));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->size(), 2u);
}

TEST(AuthenticatorTest, BacksOffAfterRepeatedFailures) {
  const std::string dir = ::testing::TempDir() + "/squadron-auth-test";
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/users";
  ASSERT_TRUE(UpsertPasswordFile(path, "erin", Role::kReader, "right").ok());
  auto file = PasswordFile::Open(path);
  ASSERT_TRUE(file.ok());
  std::vector<std::unique_ptr<PasswordAuthenticator>> passwords;
  passwords.push_back(std::move(*file));
  AuthOptions options;
  options.methods = {"password"};
  options.max_failures = 2;
  Authenticator authenticator(options, "0123456789abcdef-cluster-secret", std::move(passwords), nullptr);
  const std::string peer = "ipv4:10.1.2.3:5555";
  const std::string wrong = "Basic ZXJpbjp3cm9uZw==";  // erin:wrong
  const std::string right = "Basic ZXJpbjpyaWdodA==";  // erin:right
  EXPECT_TRUE(IsUnauthenticated(authenticator.Authenticate(wrong, "", peer).status()));
  EXPECT_TRUE(IsUnauthenticated(authenticator.Authenticate(wrong, "", peer).status()));
  auto blocked = authenticator.Authenticate(right, "", peer);
  ASSERT_FALSE(blocked.ok());
  EXPECT_NE(blocked.status().message().find("Too many failed attempts"), std::string::npos);
  auto empty = authenticator.Authenticate("", "", peer);  // no credentials: no identity, no error
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->identity.user.empty());
  EXPECT_EQ(PeerAddress("ipv6:[::1]:443"), "::1");
  EXPECT_EQ(PeerAddress("ipv4:127.0.0.1:31337"), "127.0.0.1");
}

}  // namespace
}  // namespace squadron::auth
