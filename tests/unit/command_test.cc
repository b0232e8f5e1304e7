#include "flight/command.h"

#include <google/protobuf/any.pb.h>
#include <gtest/gtest.h>

#include "proto/FlightSql.pb.h"

namespace squadron::flight {
namespace {

namespace pb = arrow::flight::protocol::sql;

std::string Pack(const google::protobuf::Message& m) {
  google::protobuf::Any any;
  any.PackFrom(m);
  return any.SerializeAsString();
}

TEST(ParseCommandTest, StatementQuery) {
  pb::CommandStatementQuery m;
  m.set_query("SELECT 1");
  auto c = ParseCommand(Pack(m));
  ASSERT_TRUE(c.ok()) << c.status();
  auto* q = std::get_if<StatementQueryCommand>(&*c);
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->query, "SELECT 1");
  EXPECT_FALSE(q->transaction_id.has_value());
}

TEST(ParseCommandTest, StatementQueryWithTransaction) {
  pb::CommandStatementQuery m;
  m.set_query("SELECT 1");
  m.set_transaction_id("tx");
  auto c = ParseCommand(Pack(m));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(std::get<StatementQueryCommand>(*c).transaction_id, "tx");
}

TEST(ParseCommandTest, StatementUpdate) {
  pb::CommandStatementUpdate m;
  m.set_query("INSERT INTO t VALUES (1)");
  auto c = ParseCommand(Pack(m));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(std::get<StatementUpdateCommand>(*c).query, "INSERT INTO t VALUES (1)");
}

TEST(ParseCommandTest, GetSqlInfo) {
  pb::CommandGetSqlInfo m;
  m.add_info(0);
  m.add_info(8);
  auto c = ParseCommand(Pack(m));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(std::get<GetSqlInfoCommand>(*c).info, (std::vector<uint32_t>{0, 8}));
}

TEST(ParseCommandTest, TypeUrlsMatchUpstream) {
  pb::CommandStatementQuery m;
  google::protobuf::Any any;
  any.PackFrom(m);
  EXPECT_EQ(any.type_url(), "type.googleapis.com/arrow.flight.protocol.sql.CommandStatementQuery");
}

TEST(ParseCommandTest, RoundTripsThroughSerializeCommand) {
  const Command in = StatementUpdateCommand{"DELETE FROM t", std::string("tx")};
  auto out = ParseCommand(SerializeCommand(in));
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(std::get<StatementUpdateCommand>(*out).query, "DELETE FROM t");
  EXPECT_EQ(CommandName(*out), "CommandStatementUpdate");
}

TEST(ParseCommandTest, IngestOptionsRoundTrip) {
  StatementIngestCommand in;
  in.request.table = "t";
  in.request.if_missing = engine::IngestRequest::IfMissing::kCreate;
  for (auto if_exists : {engine::IngestRequest::IfExists::kAppend, engine::IngestRequest::IfExists::kReplace,
                         engine::IngestRequest::IfExists::kFail}) {
    in.request.if_exists = if_exists;
    auto out = ParseCommand(SerializeCommand(in));
    ASSERT_TRUE(out.ok());
    const auto& request = std::get<StatementIngestCommand>(*out).request;
    EXPECT_EQ(request.if_missing, engine::IngestRequest::IfMissing::kCreate);
    EXPECT_EQ(request.if_exists, if_exists);
  }
}

TEST(ParseCommandTest, GetTablesWithFilters) {
  pb::CommandGetTables m;
  m.set_catalog("memory");
  m.set_table_name_filter_pattern("tr\\_%");
  m.add_table_types("VIEW");
  m.set_include_schema(true);
  auto c = ParseCommand(Pack(m));
  ASSERT_TRUE(c.ok()) << c.status();
  const auto& filter = std::get<GetTablesCommand>(*c).filter;
  EXPECT_EQ(filter.catalog, "memory");
  EXPECT_FALSE(filter.schema_pattern.has_value());
  EXPECT_EQ(filter.table_pattern, "tr\\_%");
  EXPECT_EQ(filter.types, std::vector<std::string>{"VIEW"});
  EXPECT_TRUE(filter.with_columns);
}

TEST(ParseCommandTest, KnownButUnservedCommandIsUnimplementedAndNamed) {
  pb::CommandStatementSubstraitPlan m;
  auto c = ParseCommand(Pack(m));
  ASSERT_FALSE(c.ok());
  EXPECT_TRUE(c.status().IsNotImplemented());
  EXPECT_NE(c.status().message().find("arrow.flight.protocol.sql.CommandStatementSubstraitPlan"),
            std::string::npos)
      << c.status();
}

TEST(ParseCommandTest, ForeignTypeUrlIsUnimplementedAndNamed) {
  google::protobuf::Any any;
  any.set_type_url("type.googleapis.com/acme.DoSomething");
  auto c = ParseCommand(any.SerializeAsString());
  ASSERT_FALSE(c.status().ok());
  EXPECT_TRUE(c.status().IsNotImplemented());
  EXPECT_NE(c.status().message().find("acme.DoSomething"), std::string::npos);
}

TEST(ParseCommandTest, GarbageIsInvalid) {
  for (std::string garbage : {std::string(), std::string("\xff\xff\xff"), std::string("SELECT 1")}) {
    auto c = ParseCommand(garbage);
    ASSERT_FALSE(c.ok());
    EXPECT_TRUE(c.status().IsInvalid()) << c.status();
  }
}

TEST(ParseCommandTest, AnyWithUnparseableValueIsInvalid) {
  google::protobuf::Any any;
  any.set_type_url("type.googleapis.com/arrow.flight.protocol.sql.CommandStatementQuery");
  any.set_value("\x0a\xff\xff\xff\xff\x0f");  // field 1, absurd length
  auto c = ParseCommand(any.SerializeAsString());
  ASSERT_FALSE(c.ok());
  EXPECT_TRUE(c.status().IsInvalid()) << c.status();
}

TEST(DoPutUpdateResultTest, Serializes) {
  pb::DoPutUpdateResult r;
  ASSERT_TRUE(r.ParseFromString(SerializeDoPutUpdateResult(42)));
  EXPECT_EQ(r.record_count(), 42);
}

}  // namespace
}  // namespace squadron::flight
