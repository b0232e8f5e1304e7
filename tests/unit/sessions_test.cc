#include "flight/sessions.h"

#include <gtest/gtest.h>

#include "flight/prepared_statements.h"
#include "flight/running_queries.h"

namespace squadron::flight {
namespace {

namespace fl = arrow::flight;
using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(SessionCookieTest, FindsTheSessionAmongOtherCookies) {
  fl::CallHeaders headers;
  headers.emplace("cookie", "theme=dark; arrow_flight_session_id=abc123 ; other=1");
  EXPECT_EQ(SessionIdFromHeaders(headers), "abc123");
  fl::CallHeaders none;
  none.emplace("cookie", "arrow_flight_session=nope");
  EXPECT_FALSE(SessionIdFromHeaders(none).has_value());
  EXPECT_FALSE(SessionIdFromHeaders(fl::CallHeaders{}).has_value());
}

TEST(SessionOptionsTest, KnownOptionsApplyAndRoundTrip) {
  ClientSession session;
  EXPECT_FALSE(ApplySessionOption("catalog", std::string("warehouse"), &session));
  EXPECT_FALSE(ApplySessionOption("timezone", std::string("Asia/Tokyo"), &session));
  EXPECT_FALSE(ApplySessionOption("query_timeout", 2.5, &session));
  EXPECT_EQ(session.settings.catalog, "warehouse");
  EXPECT_EQ(session.query_timeout, milliseconds(2500));
  auto options = SessionOptions(session);
  EXPECT_EQ(std::get<std::string>(options.at("timezone")), "Asia/Tokyo");
  EXPECT_DOUBLE_EQ(std::get<double>(options.at("query_timeout")), 2.5);
  EXPECT_FALSE(ApplySessionOption("query_timeout", std::string("1m"), &session));
  EXPECT_EQ(session.query_timeout, milliseconds(60000));
  EXPECT_FALSE(ApplySessionOption("catalog", std::monostate{}, &session));
  EXPECT_FALSE(session.settings.catalog.has_value());
}

TEST(SessionOptionsTest, UnknownNamesAndBadValuesAreRefused) {
  ClientSession session;
  EXPECT_EQ(ApplySessionOption("threads", int64_t{4}, &session), fl::SetSessionOptionErrorValue::kInvalidName);
  EXPECT_EQ(ApplySessionOption("catalog", true, &session), fl::SetSessionOptionErrorValue::kInvalidValue);
  EXPECT_EQ(ApplySessionOption("catalog", std::string(), &session),
            fl::SetSessionOptionErrorValue::kInvalidValue);
  EXPECT_EQ(ApplySessionOption("query_timeout", -1.0, &session), fl::SetSessionOptionErrorValue::kInvalidValue);
  EXPECT_EQ(ApplySessionOption("query_timeout", std::string("soon"), &session),
            fl::SetSessionOptionErrorValue::kInvalidValue);
  EXPECT_FALSE(session.settings.catalog.has_value());
}

struct FakeClock {
  std::chrono::steady_clock::time_point now{};
  std::function<std::chrono::steady_clock::time_point()> fn() {
    return [this] { return now; };
  }
};

TEST(SessionStoreTest, ExpiresIdleSessionsAndLimitsCount) {
  FakeClock clock;
  SessionStore store({seconds(10), 2}, clock.fn());
  auto a = store.Create();
  auto b = store.Create();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_FALSE(store.Create().ok());  // limit
  clock.now += seconds(6);
  ASSERT_TRUE(store.Get(*a).ok());  // keeps a alive
  clock.now += seconds(6);
  EXPECT_TRUE(store.Get(*a).ok());
  EXPECT_TRUE(store.Get(*b).status().IsKeyError());
  EXPECT_EQ(store.TakeExpired(), std::vector<std::string>{*b});
  EXPECT_TRUE(store.Close(*a).ok());
  EXPECT_TRUE(store.Get(*a).status().IsKeyError());
}

TEST(PreparedStatementRegistryTest, OwnershipAndIdleTimeout) {
  FakeClock clock;
  PreparedStatementRegistry registry({seconds(10), 100}, clock.fn());
  auto owned = registry.Add({"SELECT 1", {}, {}, std::nullopt}, "session-a");
  auto shared = registry.Add({"SELECT 2", {}, {}, std::nullopt}, "");
  ASSERT_TRUE(owned.ok() && shared.ok());
  EXPECT_TRUE(registry.Get(*owned, "session-a").ok());
  EXPECT_TRUE(registry.Get(*owned, "session-b").status().IsKeyError());
  EXPECT_TRUE(registry.Get(*owned, "").status().IsKeyError());
  EXPECT_TRUE(registry.Get(*shared, "session-b").ok());
  EXPECT_TRUE(registry.Close(*owned, "session-b").IsKeyError());
  EXPECT_EQ(registry.CloseOwnedBy("session-a"), 1u);
  clock.now += seconds(10);
  EXPECT_TRUE(registry.Get(*shared, "").status().IsKeyError());
}

TEST(QueryControlTest, StopsOnceAndExplainsWhy) {
  int interrupts = 0;
  QueryControl control(milliseconds(0));
  control.AttachEngine([&] { ++interrupts; });
  EXPECT_TRUE(control.status().ok());
  auto engine_error = arrow::Status::Cancelled("Interrupted!");
  EXPECT_EQ(control.Explain(engine_error).message(), "Interrupted!");
  control.Stop(QueryControl::Reason::kCancelled);
  control.Stop(QueryControl::Reason::kTimedOut);  // the first reason wins
  EXPECT_EQ(interrupts, 1);
  EXPECT_TRUE(control.status().IsCancelled());
  EXPECT_NE(control.Explain(engine_error).message().find("CancelFlightInfo"), std::string::npos);
}

TEST(QueryControlTest, DeadlinePasses) {
  QueryControl control(milliseconds(100));
  int interrupts = 0;
  control.AttachEngine([&] { ++interrupts; });
  control.Poll(std::chrono::steady_clock::now());
  EXPECT_TRUE(control.status().ok());
  control.Poll(std::chrono::steady_clock::now() + seconds(1));
  EXPECT_EQ(interrupts, 1);
  EXPECT_NE(control.status().message().find("timeout of 100ms"), std::string::npos);
  // Detached controls interrupt nothing.
  QueryControl detached(milliseconds(100));
  detached.AttachEngine([&] { ++interrupts; });
  detached.DetachEngine();
  detached.Stop(QueryControl::Reason::kCancelled);
  EXPECT_EQ(interrupts, 1);
}

}  // namespace
}  // namespace squadron::flight
