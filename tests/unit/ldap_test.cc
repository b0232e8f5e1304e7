#include "auth/ldap.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include <arrow/flight/types.h>
#include <gtest/gtest.h>

#include "auth/options.h"

namespace squadron::auth {
namespace {

using namespace std::string_literals;

TEST(LdapEscapeTest, PlainNamesAreUnchanged) {
  EXPECT_EQ(EscapeFilterValue("alice"), "alice");
  EXPECT_EQ(EscapeFilterValue("j.doe-2_x@example.org"), "j.doe-2_x@example.org");
  EXPECT_EQ(EscapeFilterValue(""), "");
}

TEST(LdapEscapeTest, FilterSyntaxIsEscaped) {
  EXPECT_EQ(EscapeFilterValue("*"), "\\2a");
  EXPECT_EQ(EscapeFilterValue("("), "\\28");
  EXPECT_EQ(EscapeFilterValue(")"), "\\29");
  EXPECT_EQ(EscapeFilterValue("\\"), "\\5c");
  EXPECT_EQ(EscapeFilterValue("\0"s), "\\00");
  EXPECT_EQ(EscapeFilterValue("a*b(c)d\\e"), "a\\2ab\\28c\\29d\\5ce");
}

TEST(LdapEscapeTest, BytesOutsidePrintableAsciiAreEscaped) {
  EXPECT_EQ(EscapeFilterValue("\x01\n\x1f\x7f"), "\\01\\0a\\1f\\7f");
  // UTF-8 "é" is C3 A9: each byte escaped, which LDAP matches as the same value.
  EXPECT_EQ(EscapeFilterValue("ren\xC3\xA9"), "ren\\c3\\a9");
  EXPECT_EQ(EscapeFilterValue("\xff"), "\\ff");
  // Printable characters that mean nothing inside a value stay as they are.
  EXPECT_EQ(EscapeFilterValue(" !&|=<>~{}"), " !&|=<>~{}");
}

TEST(LdapFilterTest, UserIsReplacedEscaped) {
  EXPECT_EQ(ExpandFilter("(uid={user})", "alice"), "(uid=alice)");
  EXPECT_EQ(ExpandFilter("(&(objectClass=person)(|(uid={user})(mail={user})))", "a*"),
            "(&(objectClass=person)(|(uid=a\\2a)(mail=a\\2a)))");
}

TEST(LdapFilterTest, InjectionMatchesOnlyTheLiteralName) {
  const std::string filter = ExpandFilter("(uid={user})", "*)(uid=*))(|(uid=*");
  EXPECT_EQ(filter, "(uid=\\2a\\29\\28uid=\\2a\\29\\29\\28|\\28uid=\\2a)");
  // One equality item: the only parentheses left are the template's own.
  EXPECT_EQ(std::count(filter.begin(), filter.end(), '('), 1);
  EXPECT_EQ(std::count(filter.begin(), filter.end(), ')'), 1);
  EXPECT_EQ(filter.find('*'), std::string::npos);

  EXPECT_EQ(ExpandFilter("(uid={user})", "*"), "(uid=\\2a)");
  EXPECT_EQ(ExpandFilter("(uid={user})", "alice)(|(uid=*"), "(uid=alice\\29\\28|\\28uid=\\2a)");
  EXPECT_EQ(ExpandFilter("(uid={user})", "alice\0x"s), "(uid=alice\\00x)");
}

TEST(LdapFilterTest, DnAndUserInTheGroupFilter) {
  LdapOptions defaults;
  EXPECT_EQ(ExpandFilter(defaults.group_filter, "bob", "uid=bob,ou=people,dc=example,dc=org"),
            "(|(member=uid=bob,ou=people,dc=example,dc=org)(uniqueMember=uid=bob,ou=people,dc=example,dc=org)"
            "(memberUid=bob))");
  // A DN's own escapes are backslashes, which the filter escapes again.
  EXPECT_EQ(ExpandFilter("(member={dn})", "x", "cn=Smith\\, J (ops),dc=org"),
            "(member=cn=Smith\\5c, J \\28ops\\29,dc=org)");
}

TEST(LdapFilterTest, ReplacedValuesAreNotScannedAgain) {
  // A user named "{dn}" is the literal text, not the DN.
  EXPECT_EQ(ExpandFilter("(|(uid={user})(member={dn}))", "{dn}", "cn=x"), "(|(uid={dn})(member=cn=x))");
  EXPECT_EQ(ExpandFilter("(uid={user})", "{user}"), "(uid={user})");
  // Unknown or broken placeholders are kept as they are.
  EXPECT_EQ(ExpandFilter("(x={other})({user", "a"), "(x={other})({user");
}

TEST(LdapRoleTest, StrongestMappedRoleWins) {
  const std::map<std::string, Role> roles = {{"analysts", Role::kReader},
                                             {"engineers", Role::kWriter},
                                             {"cn=admins,ou=groups,dc=example,dc=org", Role::kAdmin}};
  const LdapGroup analysts{"cn=analysts,ou=groups,dc=example,dc=org", {"analysts"}};
  const LdapGroup engineers{"cn=engineers,ou=groups,dc=example,dc=org", {"Engineers"}};
  const LdapGroup admins{"CN=Admins,OU=Groups,DC=example,DC=org", {"admins"}};
  const LdapGroup other{"cn=other,ou=groups,dc=example,dc=org", {"other"}};
  EXPECT_EQ(RoleOfGroups({analysts}, roles, Role::kNone), Role::kReader);
  EXPECT_EQ(RoleOfGroups({engineers}, roles, Role::kNone), Role::kWriter);  // cn, case-insensitive
  EXPECT_EQ(RoleOfGroups({admins}, roles, Role::kNone), Role::kAdmin);      // DN, case-insensitive
  EXPECT_EQ(RoleOfGroups({analysts, admins, engineers}, roles, Role::kNone), Role::kAdmin);
  EXPECT_EQ(RoleOfGroups({other}, roles, Role::kNone), Role::kNone);
  EXPECT_EQ(RoleOfGroups({}, roles, Role::kReader), Role::kReader);
  // The default is only for users in no mapped group, even when it is stronger.
  EXPECT_EQ(RoleOfGroups({analysts}, roles, Role::kWriter), Role::kReader);
}

class LdapOptionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("ldap_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    password_file_ = (dir_ / "bind.pw").string();
    std::ofstream(password_file_) << "secret\n";
    std::filesystem::permissions(password_file_, std::filesystem::perms::owner_read);
    // Nothing listens on port 1: any test that reached the network would get UNAVAILABLE.
    options_.uri = "ldap://127.0.0.1:1";
    options_.bind_dn = "cn=squadron,ou=services,dc=example,dc=org";
    options_.bind_password_file = password_file_;
    options_.user_base_dn = "ou=people,dc=example,dc=org";
    options_.default_role = Role::kReader;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static bool IsUnauthenticated(const arrow::Status& status) {
    auto detail = arrow::flight::FlightStatusDetail::UnwrapStatus(status);
    return detail != nullptr && detail->code() == arrow::flight::FlightStatusCode::Unauthenticated;
  }

  std::filesystem::path dir_;
  std::string password_file_;
  LdapOptions options_;
};

TEST_F(LdapOptionsTest, BadCredentialsAreRefusedBeforeAnyConnection) {
  auto authenticator = MakeLdapAuthenticator(options_);
  ASSERT_TRUE(authenticator.ok()) << authenticator.status().ToString();
  for (const auto& [user, password] : std::vector<std::pair<std::string, std::string>>{
           {"alice", ""},
           {"", "pw"},
           {"alice\0"s, "pw"},
           {std::string(kMaxLdapUserNameBytes + 1, 'a'), "pw"},
       }) {
    auto identity = (*authenticator)->Authenticate(user, password);
    ASSERT_FALSE(identity.ok());
    EXPECT_TRUE(IsUnauthenticated(identity.status())) << identity.status().ToString();
    EXPECT_EQ(identity.status().message(), "Invalid user name or password");
  }
  EXPECT_STREQ((*authenticator)->method(), "ldap");
}

TEST_F(LdapOptionsTest, UnreachableServerIsUnavailableNamingTheUri) {
  auto authenticator = MakeLdapAuthenticator(options_);
  ASSERT_TRUE(authenticator.ok()) << authenticator.status().ToString();
  auto identity = (*authenticator)->Authenticate("alice", "not-the-secret");
  ASSERT_FALSE(identity.ok());
  auto detail = arrow::flight::FlightStatusDetail::UnwrapStatus(identity.status());
  ASSERT_NE(detail, nullptr) << identity.status().ToString();
  EXPECT_EQ(detail->code(), arrow::flight::FlightStatusCode::Unavailable);
  EXPECT_NE(identity.status().message().find("ldap://127.0.0.1:1"), std::string::npos);
  EXPECT_EQ(identity.status().message().find("not-the-secret"), std::string::npos);
  EXPECT_EQ(identity.status().message().find("secret"), std::string::npos);
}

TEST_F(LdapOptionsTest, PasswordFileMustBeReadableAndNonEmpty) {
  options_.bind_password_file = (dir_ / "missing.pw").string();
  auto missing = MakeLdapAuthenticator(options_);
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(missing.status().IsIOError());
  EXPECT_NE(missing.status().message().find("missing.pw"), std::string::npos);

  options_.bind_password_file = (dir_ / "empty.pw").string();
  std::ofstream(options_.bind_password_file) << "\n";
  auto empty = MakeLdapAuthenticator(options_);
  ASSERT_FALSE(empty.ok());
  EXPECT_TRUE(empty.status().IsInvalid());
  EXPECT_NE(empty.status().message().find("empty.pw"), std::string::npos);

  options_.bind_password_file = "";
  EXPECT_TRUE(MakeLdapAuthenticator(options_).status().IsInvalid());
}

TEST_F(LdapOptionsTest, InconsistentOptionsAreRefused) {
  auto refused = [this](auto change) {
    LdapOptions options = options_;
    change(options);
    return MakeLdapAuthenticator(options).status();
  };
  EXPECT_TRUE(refused([](LdapOptions& o) { o.uri = ""; }).IsInvalid());
  EXPECT_TRUE(refused([](LdapOptions& o) { o.uri = "http://127.0.0.1:389"; }).IsInvalid());
  EXPECT_TRUE(refused([](LdapOptions& o) { o.uri = "ldapi:///run/slapd.sock"; }).IsInvalid());
  EXPECT_TRUE(refused([](LdapOptions& o) {
                o.uri = "ldaps://127.0.0.1:636";
                o.start_tls = true;
              }).IsInvalid());
  EXPECT_TRUE(refused([](LdapOptions& o) { o.bind_dn = ""; }).IsInvalid());
  EXPECT_TRUE(refused([](LdapOptions& o) { o.user_base_dn = ""; }).IsInvalid());
  EXPECT_TRUE(refused([](LdapOptions& o) { o.user_filter = "(uid=alice)"; }).IsInvalid());
  EXPECT_TRUE(refused([](LdapOptions& o) { o.user_filter = "(member={dn})(uid={user})"; }).IsInvalid());
  EXPECT_TRUE(refused([](LdapOptions& o) { o.timeout = std::chrono::milliseconds(0); }).IsInvalid());
  EXPECT_TRUE(refused([](LdapOptions& o) {
                o.group_roles = {{"Admins", Role::kAdmin}, {"admins", Role::kReader}};
              }).IsInvalid());
  EXPECT_TRUE(refused([this](LdapOptions& o) { o.ca_file = (dir_ / "no-ca.pem").string(); }).IsIOError());
  // Several URIs, tried in turn, are fine.
  EXPECT_TRUE(refused([](LdapOptions& o) { o.uri = "ldap://127.0.0.1:1 ldap://127.0.0.1:2"; }).ok());
}

}  // namespace
}  // namespace squadron::auth
