#include "cli/config.h"

#include <cstdlib>
#include <fstream>

#include <gtest/gtest.h>

namespace squadron::cli {
namespace {

Invocation Parse(std::vector<std::string> args) {
  args.insert(args.begin(), "squadron");
  return ParseCommandLine(args);
}

TEST(ConfigTest, Defaults) {
  auto inv = Parse({"serve"});
  ASSERT_EQ(inv.action, Invocation::Action::kServe) << inv.output;
  EXPECT_EQ(inv.serve.host, "127.0.0.1");
  EXPECT_EQ(inv.serve.port, 31337);
  EXPECT_EQ(inv.serve.duckdb.database, ":memory:");
  EXPECT_EQ(inv.serve.duckdb.batch_rows, 65536);
  EXPECT_EQ(inv.serve.duckdb.batch_bytes, 8 << 20);
  EXPECT_EQ(inv.serve.flight.result_ttl, std::chrono::minutes(5));
  EXPECT_FALSE(inv.serve.duckdb.read_only);
}

TEST(ConfigTest, FlagsAndPositionalData) {
  auto inv = Parse({"serve", "--port", "0", "--read-only", "--batch-bytes", "1MiB", "--result-ttl",
                    "1500ms", "a.parquet", "zones=b.csv"});
  ASSERT_EQ(inv.action, Invocation::Action::kServe) << inv.output;
  EXPECT_EQ(inv.serve.port, 0);
  EXPECT_TRUE(inv.serve.duckdb.read_only);
  EXPECT_EQ(inv.serve.duckdb.batch_bytes, 1 << 20);
  EXPECT_EQ(inv.serve.flight.result_ttl, std::chrono::milliseconds(1500));
  EXPECT_EQ(inv.serve.duckdb.data_paths, (std::vector<std::string>{"a.parquet", "zones=b.csv"}));
}

TEST(ConfigTest, EnvironmentThenConfigFilePrecedence) {
  const std::string path = ::testing::TempDir() + "/squadron_config_test.toml";
  {
    std::ofstream f(path);
    f << "port = 4000\nthreads = 3\nlog-level = \"debug\"\n";
  }
  setenv("SQUADRON_THREADS", "5", 1);
  auto inv = Parse({"serve", "--config", path});
  unsetenv("SQUADRON_THREADS");
  ASSERT_EQ(inv.action, Invocation::Action::kServe) << inv.output;
  EXPECT_EQ(inv.serve.port, 4000);              // from the file
  EXPECT_EQ(inv.serve.duckdb.threads, 5);       // environment beats the file
  EXPECT_EQ(inv.log_level, "debug");
  auto flag = Parse({"serve", "--config", path, "--port", "5000"});
  EXPECT_EQ(flag.serve.port, 5000);             // a flag beats both
}

TEST(ConfigTest, BadValuesExitWithAMessage) {
  auto inv = Parse({"serve", "--result-ttl", "soon"});
  EXPECT_EQ(inv.action, Invocation::Action::kExit);
  EXPECT_NE(inv.exit_code, 0);
  EXPECT_NE(inv.output.find("soon"), std::string::npos) << inv.output;
  auto port = Parse({"serve", "--port", "70000"});
  EXPECT_NE(port.exit_code, 0);
  auto unknown = Parse({"serve", "--no-such-flag"});
  EXPECT_NE(unknown.exit_code, 0);
}

TEST(ConfigTest, HelpListsEveryFlag) {
  auto inv = Parse({"serve", "--help"});
  EXPECT_EQ(inv.exit_code, 0);
  for (const char* flag : {"--host", "--port", "--database", "--init-sql", "--read-only",
                           "--batch-rows", "--batch-bytes", "--threads", "--memory-limit",
                           "--log-level", "--result-ttl", "--config", "SQUADRON_PORT"}) {
    EXPECT_NE(inv.output.find(flag), std::string::npos) << flag;
  }
}

}  // namespace
}  // namespace squadron::cli
