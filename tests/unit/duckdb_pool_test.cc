// Connections kept between sessions and the plans they cache: reuse must be
// invisible, apart from the time it saves.
#include <chrono>
#include <filesystem>
#include <thread>

#include <arrow/api.h>
#include <arrow/json/from_string.h>
#include <gtest/gtest.h>

#include "engine/duckdb/connection_pool.h"
#include "engine/duckdb/duckdb_engine.h"

namespace squadron::engine {
namespace {

namespace fs = std::filesystem;

// The files under `dir` this process has open.
std::vector<std::string> OpenFiles(const fs::path& dir) {
  std::vector<std::string> open;
  for (const auto& entry : fs::directory_iterator("/proc/self/fd")) {
    std::error_code error;
    const auto target = fs::read_symlink(entry.path(), error);
    if (!error && target.string().rfind(dir.string(), 0) == 0) open.push_back(target.string());
  }
  return open;
}

class DuckDbPoolTest : public ::testing::Test {
 protected:
  void SetUp() override { engine_ = OpenDuckDbEngine({}).ValueOrDie(); }

  ConnectionPoolStats Stats() {
    ConnectionPoolStats stats;
    EXPECT_TRUE(DuckDbPoolStats(*engine_, &stats));
    return stats;
  }

  // Runs `sql` in a session of its own and returns every value of the first
  // column as text, or the error.
  arrow::Result<std::vector<std::string>> Query(const std::string& sql, const SessionSettings& settings = {}) {
    ARROW_ASSIGN_OR_RAISE(auto session, engine_->OpenSession(settings));
    return QueryOn(*session, sql);
  }

  arrow::Result<std::vector<std::string>> QueryOn(Session& session, const std::string& sql) {
    ARROW_ASSIGN_OR_RAISE(auto stream, session.Execute(sql, {}));
    last_schema_ = stream->schema();
    std::vector<std::string> values;
    while (true) {
      ARROW_ASSIGN_OR_RAISE(auto batch, stream->Next());
      if (batch == nullptr) break;
      for (int64_t i = 0; i < batch->num_rows(); ++i) {
        ARROW_ASSIGN_OR_RAISE(auto scalar, batch->column(0)->GetScalar(i));
        values.push_back(scalar->ToString());
      }
    }
    return values;
  }

  void Update(const std::string& sql) {
    auto session = engine_->OpenSession({}).ValueOrDie();
    auto changed = session->ExecuteUpdate(sql, {});
    ASSERT_TRUE(changed.ok()) << sql << ": " << changed.status();
  }

  // Runs `sql` until its plan is cached, then holds the connection that
  // caches it: statements of other sessions run on other connections.
  std::unique_ptr<Session> CachedOn(const std::string& sql) {
    EXPECT_TRUE(Query(sql).ok()) << sql;
    const uint64_t hits = Stats().plan_hits;
    EXPECT_TRUE(Query(sql).ok()) << sql;
    EXPECT_EQ(Stats().plan_hits, hits + 1) << sql;
    return engine_->OpenSession({}).ValueOrDie();
  }

  // The tables the statistics tests read: s.x in 0..9, u.y in 0..4.
  void MakeSmallTables() {
    Update("CREATE OR REPLACE TABLE s AS SELECT range::INTEGER AS x FROM range(10)");
    Update("CREATE OR REPLACE TABLE u AS SELECT range::INTEGER AS y FROM range(5)");
  }

  std::unique_ptr<Engine> engine_;
  std::shared_ptr<arrow::Schema> last_schema_;
};

TEST_F(DuckDbPoolTest, RepeatedQueryReusesConnectionAndPlan) {
  ASSERT_EQ(Query("SELECT 41 + 1").ValueOrDie(), std::vector<std::string>{"42"});
  ASSERT_EQ(Query("SELECT 41 + 1").ValueOrDie(), std::vector<std::string>{"42"});
  ASSERT_EQ(Query("SELECT 41 + 1").ValueOrDie(), std::vector<std::string>{"42"});
  const auto stats = Stats();
  EXPECT_EQ(stats.opened, 1u);
  EXPECT_EQ(stats.reused, 2u);
  EXPECT_EQ(stats.plan_misses, 1u);
  EXPECT_EQ(stats.plan_hits, 2u);
  EXPECT_EQ(stats.idle, 1u);
}

TEST_F(DuckDbPoolTest, CachedPlanSeesNewRowsAndChangedColumns) {
  Update("CREATE TABLE t (a INTEGER)");
  Update("INSERT INTO t VALUES (1)");
  ASSERT_EQ(Query("SELECT * FROM t").ValueOrDie(), std::vector<std::string>{"1"});
  ASSERT_EQ(last_schema_->num_fields(), 1);
  Update("INSERT INTO t VALUES (2)");
  EXPECT_EQ(Query("SELECT * FROM t ORDER BY ALL").ValueOrDie(), (std::vector<std::string>{"1", "2"}));
  Update("ALTER TABLE t ADD COLUMN b VARCHAR DEFAULT 'x'");
  ASSERT_EQ(Query("SELECT * FROM t").ValueOrDie().size(), 2u);
  EXPECT_EQ(last_schema_->num_fields(), 2);
  Update("DROP TABLE t");
  auto dropped = Query("SELECT * FROM t");
  ASSERT_FALSE(dropped.ok());
  EXPECT_NE(dropped.status().message().find("does not exist"), std::string::npos) << dropped.status();
}

TEST_F(DuckDbPoolTest, IngestThroughAnotherSessionIsSeen) {
  Update("CREATE TABLE c (n INTEGER)");
  ASSERT_EQ(Query("SELECT count(*) FROM c").ValueOrDie(), std::vector<std::string>{"0"});
  const auto before = Stats();
  {
    auto session = engine_->OpenSession({}).ValueOrDie();
    auto values = arrow::json::ArrayFromJSONString(arrow::int32(), "[1, 2, 3]").ValueOrDie();
    auto batch = arrow::RecordBatch::Make(arrow::schema({arrow::field("n", arrow::int32())}), 3, {values});
    IngestRequest request;
    request.table = "c";
    request.if_exists = IngestRequest::IfExists::kAppend;
    auto ingested = session->Ingest(request, arrow::RecordBatchReader::Make({batch}).ValueOrDie());
    ASSERT_TRUE(ingested.ok()) << ingested.status();
  }
  EXPECT_EQ(Query("SELECT count(*) FROM c").ValueOrDie(), std::vector<std::string>{"3"});
  EXPECT_GT(Stats().generation, before.generation);
}

TEST_F(DuckDbPoolTest, TimeFunctionsAreEvaluatedAtEachRun) {
  const auto first = Query("SELECT epoch_us(get_current_timestamp())").ValueOrDie();
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const auto second = Query("SELECT epoch_us(get_current_timestamp())").ValueOrDie();
  EXPECT_LT(std::stoll(first.at(0)), std::stoll(second.at(0)));
  // DuckDB binds such a query again at every run, so it is not cached.
  EXPECT_EQ(Stats().plan_hits, 0u);
}

TEST_F(DuckDbPoolTest, GlobalSettingRetiresPlansThatReadIt) {
  // current_setting() is read when the query is planned: a plan cached
  // across the SET would keep answering the old value.
  const std::string query = "SELECT current_setting('threads')";
  const auto before = Query(query).ValueOrDie().at(0);
  ASSERT_EQ(Query(query).ValueOrDie().at(0), before);
  ASSERT_EQ(Stats().plan_hits, 1u);
  // The connection with that plan is busy while another one runs the SET.
  auto session = engine_->OpenSession({}).ValueOrDie();
  const std::string other = before == "1" ? "2" : "1";
  Update("SET GLOBAL threads = " + other);
  EXPECT_EQ(QueryOn(*session, query).ValueOrDie().at(0), other);
  EXPECT_EQ(Stats().plan_hits, 1u);
}

TEST_F(DuckDbPoolTest, SessionThatChangedStateDoesNotLeakIt) {
  {
    auto session = engine_->OpenSession({}).ValueOrDie();
    ASSERT_TRUE(session->ExecuteUpdate("CREATE TEMP TABLE scratch AS SELECT 1 AS x", {}).ok());
    ASSERT_TRUE(session->ExecuteUpdate("SET SESSION TimeZone = 'Asia/Tokyo'", {}).ok());
    ASSERT_TRUE(session->ExecuteUpdate("SET VARIABLE marker = 7", {}).ok());
  }
  EXPECT_EQ(Stats().discarded, 1u);
  for (int i = 0; i < 3; ++i) {  // whichever connection the pool hands out
    auto scratch = Query("SELECT * FROM scratch");
    ASSERT_FALSE(scratch.ok());
    EXPECT_NE(scratch.status().message().find("scratch"), std::string::npos) << scratch.status();
    EXPECT_NE(Query("SELECT current_setting('TimeZone')").ValueOrDie().at(0), "Asia/Tokyo");
    EXPECT_EQ(Query("SELECT getvariable('marker')").ValueOrDie().at(0), "null");
  }
}

TEST_F(DuckDbPoolTest, SeededRandomDoesNotCarryOver) {
  // What random() answers first after setseed(0.25) on a connection.
  const auto seeded = Query("SELECT setseed(0.25); SELECT random()").ValueOrDie();
  // A session seeds its connection and ends; the next session must not
  // start from that seed.
  ASSERT_TRUE(Query("SELECT setseed(0.25)").ok());
  EXPECT_NE(Query("SELECT random()").ValueOrDie(), seeded);
  // Nor when the client prepared it first (as ADBC does), twice.
  for (int i = 0; i < 2; ++i) {
    auto session = engine_->OpenSession({}).ValueOrDie();
    ASSERT_TRUE(session->Prepare("SELECT setseed(0.25)").ok());
    ASSERT_TRUE(QueryOn(*session, "SELECT setseed(0.25)").ok());
  }
  EXPECT_NE(Query("SELECT random()").ValueOrDie(), seeded);
}

TEST_F(DuckDbPoolTest, PreparedQueryRunsFromThePlanItsPrepareMade) {
  Update("CREATE TABLE t (a INTEGER, b VARCHAR)");
  Update("INSERT INTO t VALUES (1, 'x')");
  const std::string sql = "SELECT * FROM t";
  const auto before = Stats();
  {
    auto session = engine_->OpenSession({}).ValueOrDie();
    auto first = session->Prepare(sql).ValueOrDie();
    ASSERT_EQ(first.result_schema->num_fields(), 2);
    ASSERT_NE(first.result_schema->field(0)->metadata(), nullptr);
    EXPECT_EQ(first.result_schema->field(0)->metadata()->Get("ARROW:FLIGHT:SQL:TABLE_NAME").ValueOr(""), "t");
    // Described again from the plan: the same, origins included.
    auto again = session->Prepare(sql).ValueOrDie();
    EXPECT_TRUE(again.result_schema->Equals(*first.result_schema, /*check_metadata=*/true))
        << again.result_schema->ToString(true) << " vs " << first.result_schema->ToString(true);
    EXPECT_EQ(again.parameter_schema->num_fields(), 0);
    EXPECT_TRUE(again.is_query && again.read_only && again.reader_safe);
    ASSERT_EQ(QueryOn(*session, sql).ValueOrDie(), std::vector<std::string>{"1"});
  }
  // Planned once, by the first Prepare; the run used its plan.
  EXPECT_EQ(Stats().plan_misses, before.plan_misses);
  EXPECT_EQ(Stats().plan_hits, before.plan_hits + 1);
  // New columns: the plan is retired, and Prepare describes them.
  Update("ALTER TABLE t ADD COLUMN c DOUBLE");
  {
    auto session = engine_->OpenSession({}).ValueOrDie();
    EXPECT_EQ(session->Prepare(sql).ValueOrDie().result_schema->num_fields(), 3);
    ASSERT_EQ(QueryOn(*session, sql).ValueOrDie(), std::vector<std::string>{"1"});
    EXPECT_EQ(last_schema_->num_fields(), 3);
  }
  // A query with parameters is described each time, and not kept.
  {
    auto session = engine_->OpenSession({}).ValueOrDie();
    for (int i = 0; i < 2; ++i) {
      auto described = session->Prepare("SELECT a FROM t WHERE a = ?").ValueOrDie();
      EXPECT_EQ(described.parameter_schema->num_fields(), 1);
    }
  }
  // An empty statement is an error that says so.
  auto session = engine_->OpenSession({}).ValueOrDie();
  auto empty = session->Prepare("  ;  ");
  ASSERT_FALSE(empty.ok());
  EXPECT_TRUE(empty.status().IsInvalid()) << empty.status();
}

TEST_F(DuckDbPoolTest, SessionsWithOtherSettingsGetOtherConnections) {
  Update("CREATE SCHEMA s1");
  Update("CREATE TABLE s1.only_here (v INTEGER)");
  Update("INSERT INTO s1.only_here VALUES (5)");
  SessionSettings in_s1;
  in_s1.schema = "s1";
  ASSERT_EQ(Query("SELECT v FROM only_here", in_s1).ValueOrDie(), std::vector<std::string>{"5"});
  ASSERT_EQ(Query("SELECT v FROM only_here", in_s1).ValueOrDie(), std::vector<std::string>{"5"});
  auto in_main = Query("SELECT v FROM only_here");
  ASSERT_FALSE(in_main.ok());
  EXPECT_NE(in_main.status().message().find("only_here"), std::string::npos) << in_main.status();
  SessionSettings tokyo;
  tokyo.timezone = "Asia/Tokyo";
  EXPECT_EQ(Query("SELECT current_setting('TimeZone')", tokyo).ValueOrDie(), std::vector<std::string>{"Asia/Tokyo"});
  EXPECT_NE(Query("SELECT current_setting('TimeZone')").ValueOrDie().at(0), "Asia/Tokyo");
}

TEST_F(DuckDbPoolTest, AbandonedOrInterruptedQueryDoesNotComeBack) {
  {
    auto session = engine_->OpenSession({}).ValueOrDie();
    auto stream = session->Execute("SELECT range FROM range(10000000)", {}).ValueOrDie();
    ASSERT_NE(stream->Next().ValueOrDie(), nullptr);  // started, not finished
  }
  EXPECT_EQ(Stats().discarded, 1u);
  EXPECT_EQ(Stats().idle, 0u);
  {
    auto session = engine_->OpenSession({}).ValueOrDie();
    session->Interrupt();
  }
  EXPECT_EQ(Stats().discarded, 2u);
  EXPECT_EQ(Query("SELECT count(*) FROM range(10)").ValueOrDie(), std::vector<std::string>{"10"});
  EXPECT_EQ(Stats().idle, 1u);
}

TEST_F(DuckDbPoolTest, FileScansArePlannedEachTimeAndSeeNewFiles) {
  const fs::path dir = fs::temp_directory_path() / ("squadron-pool-test-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  Update("COPY (SELECT range AS n FROM range(3)) TO '" + (dir / "a.parquet").string() + "' (FORMAT parquet)");
  const std::string files = "read_parquet('" + (dir / "*.parquet").string() + "')";
  // count(*) is answered from the files' metadata while planning; sum(n) scans them.
  const std::string count = "SELECT count(*) FROM " + files;
  const std::string sum = "SELECT sum(n) FROM " + files;
  ASSERT_EQ(Query(count).ValueOrDie(), std::vector<std::string>{"3"});
  ASSERT_EQ(Query(sum).ValueOrDie(), std::vector<std::string>{"3"});
  const auto before = Stats();
  // A file dropped into the directory by someone else: no statement runs.
  {
    duckdb::DuckDB other(nullptr);
    duckdb::Connection connection(other);
    auto copied = connection.Query("COPY (SELECT range AS n FROM range(4)) TO '" + (dir / "b.parquet").string() +
                                   "' (FORMAT parquet)");
    ASSERT_FALSE(copied->HasError()) << copied->GetError();
  }
  EXPECT_EQ(Query(count).ValueOrDie(), std::vector<std::string>{"7"});
  EXPECT_EQ(Query(sum).ValueOrDie(), std::vector<std::string>{"9"});
  EXPECT_EQ(Stats().plan_hits, before.plan_hits);
  EXPECT_EQ(Stats().generation, before.generation);
  fs::remove_all(dir);
}

TEST_F(DuckDbPoolTest, PreparedFileQueryRunsOnceFromThePlanItsPrepareMade) {
  const fs::path dir = fs::temp_directory_path() / ("squadron-pool-prepared-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  // Files dropped in by someone else: no statement runs here.
  duckdb::DuckDB other(nullptr);
  duckdb::Connection writer(other);
  auto write = [&](const std::string& name, int rows) {
    auto copied = writer.Query("COPY (SELECT range AS n FROM range(" + std::to_string(rows) + ")) TO '" +
                               (dir / name).string() + "' (FORMAT parquet)");
    ASSERT_FALSE(copied->HasError()) << copied->GetError();
  };
  write("a.parquet", 3);  // 0+1+2
  const std::string sum = "SELECT sum(n) FROM read_parquet('" + (dir / "*.parquet").string() + "')";
  const auto before = Stats();
  {
    // As ADBC and the JDBC driver do: prepare, then run at once.
    auto session = engine_->OpenSession({}).ValueOrDie();
    ASSERT_EQ(session->Prepare(sum).ValueOrDie().result_schema->num_fields(), 1);
    EXPECT_EQ(QueryOn(*session, sum).ValueOrDie(), std::vector<std::string>{"3"});
    // Once: a second run plans again.
    EXPECT_EQ(QueryOn(*session, sum).ValueOrDie(), std::vector<std::string>{"3"});
  }
  EXPECT_EQ(Stats().plan_hits, before.plan_hits + 1);
  // Runs without a Prepare just before plan again, and see new files.
  write("b.parquet", 4);  // +0+1+2+3
  EXPECT_EQ(Query(sum).ValueOrDie(), std::vector<std::string>{"9"});
  EXPECT_EQ(Stats().plan_hits, before.plan_hits + 1);
  {
    // A run more than a second after its Prepare plans again, and sees a
    // file added in between.
    auto session = engine_->OpenSession({}).ValueOrDie();
    ASSERT_TRUE(session->Prepare(sum).ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    write("c.parquet", 2);  // +0+1
    EXPECT_EQ(QueryOn(*session, sum).ValueOrDie(), std::vector<std::string>{"10"});
  }
  EXPECT_EQ(Stats().plan_hits, before.plan_hits + 1);
  {
    // So does one after a statement that may change what it means.
    auto session = engine_->OpenSession({}).ValueOrDie();
    ASSERT_TRUE(session->Prepare(sum).ok());
    Update("CREATE TABLE unrelated (x INTEGER)");
    write("d.parquet", 2);  // +0+1
    EXPECT_EQ(QueryOn(*session, sum).ValueOrDie(), std::vector<std::string>{"11"});
  }
  EXPECT_EQ(Stats().plan_hits, before.plan_hits + 1);
  {
    // Not a plan holding values of the moment it was planned: DuckDB folds
    // now() into it, and must plan it again for the run.
    auto session = engine_->OpenSession({}).ValueOrDie();
    const std::string stamped = "SELECT sum(n) FROM read_parquet('" + (dir / "*.parquet").string() +
                                "') WHERE now() > TIMESTAMPTZ '2000-01-01'";
    ASSERT_TRUE(session->Prepare(stamped).ok());
    EXPECT_EQ(QueryOn(*session, stamped).ValueOrDie(), std::vector<std::string>{"11"});
  }
  EXPECT_EQ(Stats().plan_hits, before.plan_hits + 1);
  {
    // A plan no run took is dropped from idle connections once it is too
    // old: it holds its files open.
    auto session = engine_->OpenSession({}).ValueOrDie();
    ASSERT_TRUE(session->Prepare(sum).ok());
  }
  EXPECT_TRUE(OpenFiles(dir).size() > 0) << "the kept plan holds its files (DuckDB's reader)";
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  engine_->ReleaseFreeMemory();
  EXPECT_EQ(OpenFiles(dir), std::vector<std::string>{});
  {
    // Within a transaction too (its statements share one connection), after
    // a write in it: the prepare comes after the write.
    auto session = engine_->OpenSession({}).ValueOrDie();
    ASSERT_TRUE(session->ExecuteUpdate("BEGIN TRANSACTION", {}).ok());
    ASSERT_TRUE(session->ExecuteUpdate("CREATE TEMP TABLE scratch AS SELECT 1 AS x", {}).ok());
    ASSERT_TRUE(session->Prepare(sum).ok());
    EXPECT_EQ(QueryOn(*session, sum).ValueOrDie(), std::vector<std::string>{"11"});
    EXPECT_EQ(Stats().plan_hits, before.plan_hits + 2);
    ASSERT_TRUE(session->ExecuteUpdate("ROLLBACK", {}).ok());
  }
  fs::remove_all(dir);
}

TEST_F(DuckDbPoolTest, FileScansStreamInFileOrderEveryRun) {
  const fs::path dir = fs::temp_directory_path() / ("squadron-pool-order-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const fs::path file = dir / "ordered.parquet";
  // Row groups of 20,000 rows, so that DuckDB scans the file on several threads.
  Update("COPY (SELECT range AS n FROM range(300000)) TO '" + file.string() +
         "' (FORMAT parquet, ROW_GROUP_SIZE 20000)");
  const std::string scan = "SELECT n FROM read_parquet('" + file.string() + "')";
  std::vector<std::string> want;
  for (int i = 0; i < 300000; ++i) want.push_back(std::to_string(i));
  // The first run plans the query, later ones are DuckDB's rebinds; a script
  // streams its last statement the same way.
  for (const std::string& sql : {scan, scan, scan, "SELECT 1; " + scan}) {
    auto got = Query(sql);
    ASSERT_TRUE(got.ok()) << sql << ": " << got.status();
    EXPECT_TRUE(*got == want) << sql << ": rows out of order or missing (" << got->size() << " rows)";
  }
  // A script whose last statement DuckDB cannot stream still returns its rows.
  EXPECT_EQ(Query("CREATE TEMP TABLE r (n INTEGER); INSERT INTO r VALUES (7), (8) RETURNING n").ValueOrDie(),
            (std::vector<std::string>{"7", "8"}));
  // An error half-way through a file scan surfaces, and the next one works.
  auto failed = Query("SELECT CASE WHEN n = 250000 THEN error('bad row ' || n) ELSE n END FROM read_parquet('" +
                      file.string() + "')");
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.status().message().find("bad row 250000"), std::string::npos) << failed.status();
  EXPECT_EQ(Query("SELECT count(*) FROM read_parquet('" + file.string() + "') WHERE n % 2 = 0").ValueOrDie(),
            std::vector<std::string>{"150000"});
  fs::remove_all(dir);
}

TEST_F(DuckDbPoolTest, DisabledPoolConnectsEachTime) {
  DuckDbOptions options;
  options.idle_connections = 0;
  engine_ = OpenDuckDbEngine(options).ValueOrDie();
  ASSERT_EQ(Query("SELECT 1").ValueOrDie(), std::vector<std::string>{"1"});
  ASSERT_EQ(Query("SELECT 1").ValueOrDie(), std::vector<std::string>{"1"});
  EXPECT_EQ(Stats().opened, 2u);
  EXPECT_EQ(Stats().reused, 0u);
  EXPECT_EQ(Stats().idle, 0u);
}

// Whether the stream of the next run of `sql` (in a session of its own,
// after one complete run) expects to be quick.
bool QuickAfterOneRun(Engine& engine, const std::string& sql) {
  for (int run = 0; run < 2; ++run) {
    auto session = engine.OpenSession({}).ValueOrDie();
    auto stream = session->Execute(sql, {}).ValueOrDie();
    if (run == 1) return stream->expect_quick();
    EXPECT_FALSE(stream->expect_quick());  // never run: unknown
    while (stream->Next().ValueOrDie() != nullptr) {
    }
  }
  return false;
}

TEST_F(DuckDbPoolTest, PlanThatRanWithinAMillisecondExpectsToBeQuick) {
  // Timing on a busy machine varies: one quick run in five is enough.
  bool quick = false;
  for (int i = 0; i < 5 && !quick; ++i) quick = QuickAfterOneRun(*engine_, "SELECT " + std::to_string(i));
  EXPECT_TRUE(quick);
  // Hundreds of milliseconds of work: never run on the caller's thread.
  EXPECT_FALSE(QuickAfterOneRun(*engine_, "SELECT count(*) FROM range(100000000) WHERE range % 7 = 3"));
  // A table function is not cached, so never known to be quick.
  EXPECT_FALSE(QuickAfterOneRun(*engine_, "SELECT * FROM range(3)"));
}

TEST_F(DuckDbPoolTest, RowChangesRetirePlansOptimisedWithTheOldStatistics) {
  // DuckDB plans with the table statistics: it drops a filter they prove
  // always true (x < 100 while max(x) is 9) and derives filters from a join
  // partner's range. A plan kept across these changes miscounts every time
  // (11 for 10, 10 for 9, 5 for 6); only max(x) would come out right.
  const fs::path csv = fs::temp_directory_path() / ("squadron-pool-rows-" + std::to_string(::getpid()) + ".csv");
  Update("COPY (SELECT 500 AS x) TO '" + csv.string() + "' (HEADER)");
  struct Shape {
    std::string query, change, answer;
  };
  const Shape shapes[] = {
      {"SELECT count(*) FROM s WHERE x < 100", "INSERT INTO s VALUES (500)", "10"},
      {"SELECT count(*) FROM s WHERE x IS NOT NULL", "INSERT INTO s VALUES (NULL)", "10"},
      {"SELECT count(*) FROM s WHERE x BETWEEN 0 AND 9", "UPDATE s SET x = 500 WHERE x = 0", "9"},
      {"SELECT max(x) FROM s", "INSERT INTO s VALUES (500)", "500"},
      {"SELECT count(*) FROM s JOIN u ON x = y", "INSERT INTO u VALUES (7)", "6"},
      {"SELECT count(*) FROM s WHERE x < 100", "COPY s FROM '" + csv.string() + "' (HEADER)", "10"},
      {"SELECT count(*) FROM s WHERE x < 100",
       "MERGE INTO s USING (SELECT 500 AS x) AS n ON s.x = n.x WHEN NOT MATCHED THEN INSERT VALUES (n.x)", "10"},
      {"SELECT count(*) FROM s WHERE x < 100", "EXPLAIN ANALYZE INSERT INTO s VALUES (500)", "10"},
  };
  for (const auto& shape : shapes) {
    MakeSmallTables();
    auto reader = CachedOn(shape.query);
    const auto before = Stats();
    Update(shape.change);
    EXPECT_EQ(QueryOn(*reader, shape.query).ValueOrDie(), std::vector<std::string>{shape.answer})
        << shape.query << " after " << shape.change;
    EXPECT_EQ(Stats().plan_hits, before.plan_hits) << shape.change << " kept the plan";
  }
  fs::remove(csv);
}

TEST_F(DuckDbPoolTest, QueriesAndTransactionsOfQueriesKeepPlans) {
  MakeSmallTables();
  const std::string query = "SELECT count(*) FROM s WHERE x < 100";
  auto reader = CachedOn(query);
  const auto before = Stats();
  auto other = engine_->OpenSession({}).ValueOrDie();
  ASSERT_TRUE(other->ExecuteUpdate("BEGIN TRANSACTION", {}).ok());
  ASSERT_EQ(QueryOn(*other, "SELECT count(*) FROM s").ValueOrDie(), std::vector<std::string>{"10"});
  for (const char* sql : {"EXPLAIN SELECT * FROM s", "COMMIT", "BEGIN", "ROLLBACK"}) {
    auto ran = other->ExecuteUpdate(sql, {});
    ASSERT_TRUE(ran.ok()) << sql << ": " << ran.status();
  }
  // A query with parameters.
  auto values = arrow::json::ArrayFromJSONString(arrow::int32(), "[100]").ValueOrDie();
  auto batch = arrow::RecordBatch::Make(arrow::schema({arrow::field("1", arrow::int32())}), 1, {values});
  auto stream = other->Execute("SELECT count(*) FROM s WHERE x < ?", {batch}).ValueOrDie();
  ASSERT_EQ(stream->Next().ValueOrDie()->column(0)->GetScalar(0).ValueOrDie()->ToString(), "10");
  stream.reset();
  EXPECT_EQ(QueryOn(*reader, query).ValueOrDie(), std::vector<std::string>{"10"});
  EXPECT_EQ(Stats().plan_hits, before.plan_hits + 1);
  EXPECT_EQ(Stats().generation, before.generation);
}

TEST_F(DuckDbPoolTest, CommitOfChangesRetiresPlansMadeBeforeIt) {
  MakeSmallTables();
  const std::string query = "SELECT count(*) FROM s WHERE x < 100";
  auto writer = engine_->OpenSession({}).ValueOrDie();
  ASSERT_TRUE(writer->ExecuteUpdate("BEGIN", {}).ok());
  ASSERT_TRUE(writer->ExecuteUpdate("INSERT INTO s VALUES (500)", {}).ok());
  // Planned now, the query sees max(x) = 9 and drops its filter.
  auto reader = CachedOn(query);
  ASSERT_EQ(QueryOn(*reader, query).ValueOrDie(), std::vector<std::string>{"10"});
  const auto before = Stats();
  ASSERT_TRUE(writer->ExecuteUpdate("COMMIT", {}).ok());
  EXPECT_EQ(QueryOn(*reader, query).ValueOrDie(), std::vector<std::string>{"10"});
  EXPECT_EQ(Stats().plan_hits, before.plan_hits);
}

TEST_F(DuckDbPoolTest, RollbackOfChangesRetiresPlansMadeWithinThem) {
  MakeSmallTables();
  Update("CREATE VIEW v AS SELECT 1 AS a");
  const std::string query = "SELECT count(*) FROM s WHERE x < 100";
  const std::string view = "SELECT a FROM v";
  auto writer = engine_->OpenSession({}).ValueOrDie();
  for (const char* sql : {"BEGIN", "UPDATE s SET x = 500 WHERE x = 0", "CREATE OR REPLACE VIEW v AS SELECT 2 AS a"}) {
    ASSERT_TRUE(writer->ExecuteUpdate(sql, {}).ok()) << sql;
  }
  // The writer's connection caches both plans within its transaction.
  for (int run = 0; run < 2; ++run) {
    ASSERT_EQ(QueryOn(*writer, query).ValueOrDie(), std::vector<std::string>{"9"});
    ASSERT_EQ(QueryOn(*writer, view).ValueOrDie(), std::vector<std::string>{"2"});
  }
  auto reader = CachedOn(query);
  const auto before = Stats();
  ASSERT_TRUE(writer->ExecuteUpdate("ROLLBACK", {}).ok());
  EXPECT_EQ(QueryOn(*reader, query).ValueOrDie(), std::vector<std::string>{"10"});
  EXPECT_EQ(QueryOn(*writer, query).ValueOrDie(), std::vector<std::string>{"10"});
  // DuckDB would run the cached plan of the view as the transaction had
  // redefined it.
  EXPECT_EQ(QueryOn(*writer, view).ValueOrDie(), std::vector<std::string>{"1"});
  EXPECT_EQ(Stats().plan_hits, before.plan_hits);
}

TEST_F(DuckDbPoolTest, SettingsAndDefinitionsRetirePlans) {
  MakeSmallTables();
  const std::string query = "SELECT count(*) FROM s";
  for (const char* change : {"SET SESSION TimeZone = 'UTC'", "RESET TimeZone", "CREATE TABLE w (z INTEGER)",
                             "ALTER TABLE w ADD COLUMN y INTEGER", "DROP TABLE w", "CREATE SCHEMA k",
                             "ATTACH ':memory:' AS side", "DETACH side", "PRAGMA disable_profiling",
                             "CHECKPOINT", "ANALYZE", "VACUUM s"}) {
    auto reader = CachedOn(query);
    const auto before = Stats();
    Update(change);
    EXPECT_EQ(QueryOn(*reader, query).ValueOrDie(), std::vector<std::string>{"10"});
    EXPECT_EQ(Stats().plan_hits, before.plan_hits) << change << " kept the plan";
    // Once before the statement ran and once after.
    EXPECT_EQ(Stats().generation, before.generation + 2) << change;
  }
}

TEST_F(DuckDbPoolTest, ChangeThroughAParameterisedStreamRetiresPlansOnceItRan) {
  MakeSmallTables();
  const std::string query = "SELECT count(*) FROM s WHERE x < 100";
  auto writer = engine_->OpenSession({}).ValueOrDie();
  auto values = arrow::json::ArrayFromJSONString(arrow::int32(), "[1, 500]").ValueOrDie();
  auto batch = arrow::RecordBatch::Make(arrow::schema({arrow::field("1", arrow::int32())}), 2, {values});
  std::unique_ptr<Session> reader;
  {
    auto stream = writer->Execute("INSERT INTO s VALUES (?) RETURNING x", {batch}).ValueOrDie();
    // The first set ran; planned now, the query still sees max(x) = 9. The
    // second set runs as the stream is read.
    reader = CachedOn(query);
    while (stream->Next().ValueOrDie() != nullptr) {
    }
  }
  EXPECT_EQ(QueryOn(*reader, query).ValueOrDie(), std::vector<std::string>{"11"});
}

TEST_F(DuckDbPoolTest, PlanIsNotQuickAfterRowsChangeUntilItRunsAgain) {
  MakeSmallTables();
  // Runs `sql` to its end; true when its stream expected to be quick.
  auto run = [](Session& session, const std::string& sql) {
    auto stream = session.Execute(sql, {}).ValueOrDie();
    const bool quick = stream->expect_quick();
    while (stream->Next().ValueOrDie() != nullptr) {
    }
    return quick;
  };
  const std::string sql = "SELECT count(*) FROM s WHERE x <> 3";
  // Holds the connection that caches the plan while another one inserts.
  auto reader = engine_->OpenSession({}).ValueOrDie();
  ASSERT_FALSE(run(*reader, sql));
  // Timing on a busy machine varies: one quick run in five is enough.
  bool quick = false;
  for (int i = 0; i < 5 && !quick; ++i) quick = run(*reader, sql);
  ASSERT_TRUE(quick);
  Update("INSERT INTO s VALUES (10)");
  EXPECT_FALSE(run(*reader, sql)) << "timed before the INSERT";
  quick = false;
  for (int i = 0; i < 5 && !quick; ++i) quick = run(*reader, sql);
  EXPECT_TRUE(quick);
}

TEST(PlanImpactTest, OnlyQueriesAndTransactionsOfQueriesKeepPlans) {
  duckdb::DuckDB db(nullptr);
  duckdb::Connection connection(db);
  ASSERT_FALSE(connection.Query("CREATE TABLE s (x INTEGER)")->HasError());
  const std::pair<const char*, PlanImpact> cases[] = {
      {"SELECT 1", PlanImpact::kNone},
      {"FROM s", PlanImpact::kNone},
      {"EXPLAIN INSERT INTO s VALUES (1)", PlanImpact::kNone},
      {"EXPLAIN ANALYZE SELECT * FROM s", PlanImpact::kNone},
      {"BEGIN TRANSACTION", PlanImpact::kNone},
      {"ROLLBACK", PlanImpact::kEndsTransaction},
      {"ABORT", PlanImpact::kEndsTransaction},
      {"COMMIT", PlanImpact::kEndsTransaction},
      {"END", PlanImpact::kEndsTransaction},
      {"BEGIN; SELECT 1; COMMIT", PlanImpact::kEndsTransaction},
      {"BEGIN; INSERT INTO s VALUES (1); ROLLBACK", PlanImpact::kRetires},
      {"EXPLAIN ANALYZE INSERT INTO s VALUES (1)", PlanImpact::kRetires},
      {"INSERT INTO s VALUES (1)", PlanImpact::kRetires},
      {"UPDATE s SET x = 2", PlanImpact::kRetires},
      {"DELETE FROM s", PlanImpact::kRetires},
      {"TRUNCATE s", PlanImpact::kRetires},
      {"COPY s FROM 'rows.csv'", PlanImpact::kRetires},
      {"COPY s TO 'rows.csv'", PlanImpact::kRetires},
      {"SET threads = 1", PlanImpact::kRetires},
      {"RESET threads", PlanImpact::kRetires},
      {"PRAGMA enable_profiling", PlanImpact::kRetires},
      {"CALL pragma_version()", PlanImpact::kRetires},
      {"CREATE TABLE t (a INTEGER)", PlanImpact::kRetires},
      {"ALTER TABLE s ADD COLUMN y INTEGER", PlanImpact::kRetires},
      {"DROP TABLE s", PlanImpact::kRetires},
      {"ATTACH ':memory:' AS m", PlanImpact::kRetires},
      {"DETACH m", PlanImpact::kRetires},
      {"USE memory", PlanImpact::kRetires},
      {"LOAD json", PlanImpact::kRetires},
      {"INSTALL json", PlanImpact::kRetires},
      {"PREPARE p AS SELECT 1", PlanImpact::kRetires},
      {"EXECUTE p", PlanImpact::kRetires},
      {"ANALYZE", PlanImpact::kRetires},
      {"VACUUM", PlanImpact::kRetires},
      {"CHECKPOINT", PlanImpact::kRetires},
      {"EXPORT DATABASE 'dump'", PlanImpact::kRetires},
      {"SELECT 1; SET threads = 1", PlanImpact::kRetires},
  };
  for (const auto& [sql, impact] : cases) {
    EXPECT_EQ(PlanImpactOf(connection.ExtractStatements(sql)), impact) << sql;
  }
  auto insert = connection.Prepare("INSERT INTO s VALUES (?)");
  ASSERT_FALSE(insert->HasError()) << insert->GetError();
  EXPECT_EQ(PlanImpactOf(*insert), PlanImpact::kRetires);
  auto select = connection.Prepare("SELECT * FROM s WHERE x = ?");
  ASSERT_FALSE(select->HasError()) << select->GetError();
  EXPECT_EQ(PlanImpactOf(*select), PlanImpact::kNone);
}

TEST(PlanCacheTest, KeepsTheMostRecentlyUsedAndDropsOldGenerations) {
  PlanCache cache(2);
  cache.Put("a", CachedPlan{nullptr, nullptr, 1});
  cache.Put("b", CachedPlan{nullptr, nullptr, 1});
  ASSERT_NE(cache.Find("a", 1), nullptr);  // "a" is now the most recent
  cache.Put("c", CachedPlan{nullptr, nullptr, 1});
  EXPECT_EQ(cache.Find("b", 1), nullptr);
  EXPECT_NE(cache.Find("a", 1), nullptr);
  EXPECT_NE(cache.Find("c", 1), nullptr);
  EXPECT_EQ(cache.Find("c", 2), nullptr);  // planned before a change
  EXPECT_EQ(cache.size(), 1u);
  PlanCache none(0);
  none.Put("a", CachedPlan{nullptr, nullptr, 1});
  EXPECT_EQ(none.Find("a", 1), nullptr);
}

}  // namespace
}  // namespace squadron::engine
