// The Kerberos method's pieces that need no KDC (src/auth/kerberos.h): the
// Negotiate token's base64, the service name forms, the principal -> user ->
// role mapping. tests/integration/test_kerberos_authenticator.py covers the
// GSSAPI part against a real KDC.
#include "auth/kerberos.h"

#include <gtest/gtest.h>

#include <arrow/flight/types.h>

namespace squadron::auth::kerberos {
namespace {

arrow::flight::FlightStatusCode FlightCode(const arrow::Status& status) {
  auto detail = arrow::flight::FlightStatusDetail::UnwrapStatus(status);
  EXPECT_NE(detail, nullptr) << status.ToString();
  return detail ? detail->code() : arrow::flight::FlightStatusCode::Internal;
}

TEST(KerberosBase64, RoundTripsEveryLengthAndByte) {
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes.push_back(static_cast<char>(i));
  for (std::size_t n = 0; n <= bytes.size(); n += 1) {
    const std::string slice = bytes.substr(bytes.size() - n);
    const std::string text = EncodeBase64(slice);
    EXPECT_EQ(text.size() % 4, 0u);
    auto decoded = DecodeBase64(text);
    ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
    EXPECT_EQ(*decoded, slice);
  }
}

TEST(KerberosBase64, KnownVectors) {
  // RFC 4648 section 10.
  EXPECT_EQ(EncodeBase64(""), "");
  EXPECT_EQ(EncodeBase64("f"), "Zg==");
  EXPECT_EQ(EncodeBase64("fo"), "Zm8=");
  EXPECT_EQ(EncodeBase64("foo"), "Zm9v");
  EXPECT_EQ(EncodeBase64("foobar"), "Zm9vYmFy");
  EXPECT_EQ(*DecodeBase64("Zm9vYg=="), "foob");
  EXPECT_EQ(*DecodeBase64("Zm9vYmE="), "fooba");
  EXPECT_EQ(*DecodeBase64("+/+/"), "\xfb\xff\xbf");
}

TEST(KerberosBase64, PaddingIsOptional) {
  EXPECT_EQ(*DecodeBase64("Zm9vYg"), "foob");
  EXPECT_EQ(*DecodeBase64("Zm9vYmE"), "fooba");
}

TEST(KerberosBase64, RefusesWhatNoEncoderProduces) {
  for (const char* bad : {
           "Zm9v!mFy",     // a character outside the alphabet
           "Zm9v YmFy",    // inner space
           "Zm9v-_Fy",     // the URL-safe alphabet
           "Zm=vYmFy",     // padding inside
           "Zm9vY",        // 5 characters: a sextet cannot end a byte
           "Zm9vYg=",      // padding that does not end a group
           "Zm9vYg===",    // three padding characters
           "Zh==",         // 'h' leaves non-zero bits after the byte
           "Zm9=",         // '9' leaves non-zero bits after the two bytes
           "=",
       }) {
    auto decoded = DecodeBase64(bad);
    EXPECT_TRUE(decoded.status().IsInvalid()) << bad;
  }
}

TEST(KerberosBase64, MessageNeverQuotesTheInput) {
  const std::string secret = "c2VjcmV0LXRva2Vu$2VjcmV0";
  auto decoded = DecodeBase64(secret);
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.status().message().find("c2Vj"), std::string::npos) << decoded.status().message();
  EXPECT_NE(decoded.status().message().find("offset 16"), std::string::npos) << decoded.status().message();
}

TEST(KerberosServiceName, Forms) {
  EXPECT_EQ(ClassifyServiceName("HTTP@localhost"), ServiceNameForm::kHostBasedService);
  EXPECT_EQ(ClassifyServiceName("HTTP@db.example.com"), ServiceNameForm::kHostBasedService);
  EXPECT_EQ(ClassifyServiceName("HTTP@10.0.0.1"), ServiceNameForm::kHostBasedService);
  EXPECT_EQ(ClassifyServiceName("HTTP@Db.Example.com"), ServiceNameForm::kHostBasedService);
  EXPECT_EQ(ClassifyServiceName("HTTP/localhost@SQUADRON.TEST"), ServiceNameForm::kPrincipal);
  EXPECT_EQ(ClassifyServiceName("HTTP/localhost"), ServiceNameForm::kPrincipal);
  EXPECT_EQ(ClassifyServiceName("squadron@EXAMPLE.COM"), ServiceNameForm::kPrincipal);
  EXPECT_EQ(ClassifyServiceName("squadron"), ServiceNameForm::kPrincipal);
}

TEST(KerberosPrincipal, StripRealm) {
  EXPECT_EQ(StripRealm("alice@EXAMPLE.COM"), "alice");
  EXPECT_EQ(StripRealm("HTTP/db.example.com@EXAMPLE.COM"), "HTTP/db.example.com");
  EXPECT_EQ(StripRealm("alice"), "alice");
  EXPECT_EQ(StripRealm("a\\@b@EXAMPLE.COM"), "a\\@b");
  EXPECT_EQ(StripRealm(""), "");
}

TEST(KerberosMapping, SplitsAtTheLastEquals) {
  auto rule = SplitMapping("(.*)@EXAMPLE.COM=$1");
  ASSERT_TRUE(rule.ok());
  EXPECT_EQ(rule->first, "(.*)@EXAMPLE.COM");
  EXPECT_EQ(rule->second, "$1");
  auto lookahead = SplitMapping("(?=a)(.*)@R=$1");
  ASSERT_TRUE(lookahead.ok());
  EXPECT_EQ(lookahead->first, "(?=a)(.*)@R");
  auto refuse = SplitMapping(".*@OTHER=");
  ASSERT_TRUE(refuse.ok());
  EXPECT_EQ(refuse->second, "");
  EXPECT_TRUE(SplitMapping("no-equals").status().IsInvalid());
  EXPECT_TRUE(SplitMapping("=admin").status().IsInvalid());
}

TEST(KerberosMapping, DefaultIsThePrincipalWithoutItsRealm) {
  KerberosOptions options;
  options.default_role = Role::kReader;
  auto mapper = PrincipalMapper::Make(options);
  ASSERT_TRUE(mapper.ok());
  EXPECT_EQ(*mapper->MapUser("alice@SQUADRON.TEST"), "alice");
  auto identity = mapper->Resolve("alice@SQUADRON.TEST");
  ASSERT_TRUE(identity.ok()) << identity.status().ToString();
  EXPECT_EQ(identity->user, "alice");
  EXPECT_EQ(identity->role, Role::kReader);
  EXPECT_EQ(identity->method, "kerberos");
}

TEST(KerberosMapping, FirstWholeMatchWinsInOrder) {
  KerberosOptions options;
  options.user_map = {
      {"(.*)/admin@EXAMPLE\\.COM", "$1-admin"},
      {"(.*)@EXAMPLE\\.COM", "$1"},
      {"(.*)@PARTNER\\.COM", "partner-$1"},
      {"lice@EXAMPLE\\.COM", "never"},  // shadowed by the rule before it, and not a whole match anyway
  };
  options.default_role = Role::kReader;
  auto mapper = PrincipalMapper::Make(options);
  ASSERT_TRUE(mapper.ok());
  EXPECT_EQ(*mapper->MapUser("alice/admin@EXAMPLE.COM"), "alice-admin");
  EXPECT_EQ(*mapper->MapUser("alice@EXAMPLE.COM"), "alice");
  EXPECT_EQ(*mapper->MapUser("bob@PARTNER.COM"), "partner-bob");
  // A rule must match the whole principal: "EXAMPLE.COM.EVIL" is not EXAMPLE.COM.
  EXPECT_EQ(*mapper->MapUser("mallory@EXAMPLE.COM.EVIL"), "mallory");
  // No rule: the realm is dropped.
  EXPECT_EQ(*mapper->MapUser("carol@OTHER.ORG"), "carol");
}

TEST(KerberosMapping, WholeMatchNotSearch) {
  KerberosOptions options;
  options.user_map = {{"alice", "admin-alice"}};
  options.default_role = Role::kReader;
  auto mapper = PrincipalMapper::Make(options);
  ASSERT_TRUE(mapper.ok());
  EXPECT_EQ(*mapper->MapUser("alice@EXAMPLE.COM"), "alice");
  EXPECT_EQ(*mapper->MapUser("alice"), "admin-alice");
}

TEST(KerberosMapping, RolesByMappedUserElseDefault) {
  KerberosOptions options;
  options.user_map = {{"(.*)@EXAMPLE\\.COM", "$1"}, {"(.*)@PARTNER\\.COM", "partner-$1"}};
  options.user_roles = {{"alice", Role::kAdmin}, {"partner-bob", Role::kWriter}, {"bob", Role::kReader}};
  options.default_role = Role::kReader;
  auto mapper = PrincipalMapper::Make(options);
  ASSERT_TRUE(mapper.ok());
  EXPECT_EQ(mapper->Resolve("alice@EXAMPLE.COM")->role, Role::kAdmin);
  EXPECT_EQ(mapper->Resolve("bob@PARTNER.COM")->role, Role::kWriter);
  EXPECT_EQ(mapper->Resolve("bob@EXAMPLE.COM")->role, Role::kReader);
  EXPECT_EQ(mapper->Resolve("carol@EXAMPLE.COM")->role, Role::kReader);
}

TEST(KerberosMapping, NoRoleIsPermissionDenied) {
  KerberosOptions options;
  options.user_roles = {{"alice", Role::kWriter}};
  auto mapper = PrincipalMapper::Make(options);  // default_role: kNone
  ASSERT_TRUE(mapper.ok());
  EXPECT_EQ(mapper->Resolve("alice@EXAMPLE.COM")->role, Role::kWriter);
  auto refused = mapper->Resolve("bob@EXAMPLE.COM");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(FlightCode(refused.status()), arrow::flight::FlightStatusCode::Unauthorized);
  EXPECT_NE(refused.status().message().find("bob@EXAMPLE.COM"), std::string::npos);
}

TEST(KerberosMapping, EmptyReplacementRefusesThePrincipal) {
  KerberosOptions options;
  options.user_map = {{"(.*)@EXAMPLE\\.COM", "$1"}, {".*", ""}};
  options.default_role = Role::kReader;
  auto mapper = PrincipalMapper::Make(options);
  ASSERT_TRUE(mapper.ok());
  EXPECT_TRUE(mapper->Resolve("alice@EXAMPLE.COM").ok());
  auto refused = mapper->Resolve("alice@TRUSTED.ELSEWHERE");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(FlightCode(refused.status()), arrow::flight::FlightStatusCode::Unauthorized);
  EXPECT_NE(refused.status().message().find("refused by the user map"), std::string::npos);
}

TEST(KerberosMapping, BadRegexIsInvalidNamingTheRule) {
  KerberosOptions options;
  options.user_map = {{"(.*)@EXAMPLE\\.COM", "$1"}, {"(unclosed@EXAMPLE", "$1"}};
  auto mapper = PrincipalMapper::Make(options);
  ASSERT_FALSE(mapper.ok());
  EXPECT_TRUE(mapper.status().IsInvalid());
  EXPECT_NE(mapper.status().message().find("(unclosed@EXAMPLE=$1"), std::string::npos) << mapper.status().message();
}

TEST(KerberosAuthenticatorStart, MissingKeytabNamesTheFile) {
  KerberosOptions options;
  options.keytab = "/nonexistent/squadron-test.keytab";
  options.default_role = Role::kReader;
  auto authenticator = MakeKerberosAuthenticator(options);
  ASSERT_FALSE(authenticator.ok());
  EXPECT_TRUE(authenticator.status().IsInvalid());
  EXPECT_NE(authenticator.status().message().find("/nonexistent/squadron-test.keytab"), std::string::npos);
}

TEST(KerberosAuthenticatorStart, NoKeytabIsInvalid) {
  KerberosOptions options;
  auto authenticator = MakeKerberosAuthenticator(options);
  ASSERT_FALSE(authenticator.ok());
  EXPECT_TRUE(authenticator.status().IsInvalid());
}

}  // namespace
}  // namespace squadron::auth::kerberos
