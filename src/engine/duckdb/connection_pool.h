// DuckDB connections kept between statements, with the plans of the queries
// they ran: a repeated small query skips connecting, parsing, binding and
// planning.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <arrow/type_fwd.h>

#include "duckdb.hpp"
#include "engine/duckdb/arrow_collector.h"

namespace squadron::engine {

/// How long a plan's last complete run took, from its start to the end of
/// its rows; negative while unknown. Written by the result stream of a run.
using PlanRunTime = std::atomic<int64_t>;

/// A query planned once and run again as long as nothing may have changed
/// what it means or the rows it was optimised for (see ConnectionPool):
/// `generation` is that of the pool when it was planned.
struct CachedPlan {
  duckdb::unique_ptr<duckdb::PreparedStatement> statement;
  std::shared_ptr<arrow::Schema> schema;  // as exported, with column metadata
  uint64_t generation = 0;
  std::shared_ptr<PlanRunTime> last_run_us = std::make_shared<PlanRunTime>(-1);
  std::shared_ptr<const CollectorChoice> collector = nullptr;  // from its last run; null before
};

/// The most recently used plans of one connection, by SQL text. Not
/// thread-safe: a connection serves one session at a time.
class PlanCache {
 public:
  explicit PlanCache(size_t capacity) : capacity_(capacity) {}

  /// The plan of `sql` if it is cached and of `generation`; a plan of an
  /// older generation is dropped.
  CachedPlan* Find(const std::string& sql, uint64_t generation);
  /// Keeps `plan`, dropping the least recently used one beyond capacity.
  void Put(const std::string& sql, CachedPlan plan);
  void Erase(const std::string& sql);
  size_t size() const { return entries_.size(); }

 private:
  using Entry = std::pair<std::string, CachedPlan>;
  const size_t capacity_;
  std::list<Entry> entries_;  // the most recently used first
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
};

/// A DuckDB connection and what it learned. `key` names the session settings
/// it was opened with (catalog, schema, time zone).
struct PooledConnection {
  PooledConnection(duckdb::DuckDB& db, std::string key, size_t plans)
      : connection(db), collectors(*connection.context), key(std::move(key)), plans(plans) {}
  duckdb::Connection connection;
  ArrowCollectorSwitch collectors;  // for queries streamed by ArrowBatchQueue
  const std::string key;
  PlanCache plans;
  /// The plan of the last query that a Prepare on this connection made and
  /// the plan cache does not keep (DuckDB plans a query over files again
  /// each time it runs): the run that follows it at once may use it, once.
  struct JustPrepared {
    std::string sql;
    CachedPlan plan;
    std::chrono::steady_clock::time_point at;
    bool used = false;  // kept until replaced: a run of it may still be streaming
  };
  std::optional<JustPrepared> just_prepared;
};

/// What the pool has done since it was made, for logs and tests.
struct ConnectionPoolStats {
  size_t idle = 0;          // connections waiting for a session now
  uint64_t reused = 0;      // sessions that got an idle connection
  uint64_t opened = 0;      // sessions that needed a new one
  uint64_t discarded = 0;   // connections not taken back (state changed, interrupted)
  uint64_t plan_hits = 0;   // queries run from a cached plan, or the one their Prepare just made
  uint64_t plan_misses = 0; // queries planned (and cached when cacheable)
  uint64_t generation = 0;  // retirements of every cached plan (see ConnectionPool)
};

/// Idle connections, taken by sessions with the same settings key. Only a
/// connection whose session ran nothing but queries comes back: any other
/// statement (DML, DDL, SET, a transaction, a script, an interrupted query)
/// may have left state behind, so that connection is closed instead.
///
/// Advancing the generation retires every cached plan made before. A
/// statement that PlanImpactOf says retires plans advances it before it runs
/// and again once it ran (a plan another session made meanwhile may have
/// seen the state before it). That is every statement but queries, EXPLAIN
/// (not EXPLAIN ANALYZE of a change), BEGIN, and the COMMIT or ROLLBACK of a
/// transaction that changed nothing: a SET or DDL may change what a plan
/// means, and a row change may break what DuckDB's optimiser concluded from
/// the table statistics when it planned (it drops `x < 100` when max(x) is
/// 9, so the plan would count a row 500 inserted later). A COMMIT publishes
/// changes to plans made while they were pending; after a ROLLBACK, DuckDB
/// keeps running a plan of a view as the transaction had redefined it.
///
/// Thread-safe. Must be destroyed before the database.
class ConnectionPool {
 public:
  /// `max_idle` connections are kept (0: none, every session connects anew);
  /// each caches up to `plans_per_connection` plans (0: none).
  ConnectionPool(size_t max_idle, size_t plans_per_connection)
      : max_idle_(max_idle), plans_per_connection_(plans_per_connection) {}

  /// An idle connection opened with `key`, or a new one.
  std::unique_ptr<PooledConnection> Take(duckdb::DuckDB& db, const std::string& key, bool* reused);
  /// Takes `connection` back; the oldest idle one goes beyond max_idle.
  void Give(std::unique_ptr<PooledConnection> connection);
  /// Counts a connection its session did not give back.
  void Discarded() { discarded_.fetch_add(1, std::memory_order_relaxed); }

  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  /// Retires every plan cached so far.
  void Invalidate() { generation_.fetch_add(1, std::memory_order_acq_rel); }

  /// True when `sql` was found to need binding again at every run (DuckDB
  /// does that for scans of files): such a query is run without preparing
  /// it first, which would bind it twice. Forgotten when the generation moves.
  bool Rebinds(const std::string& sql);
  void NoteRebinds(const std::string& sql, uint64_t generation);

  /// Drops, from the idle connections, the plans a Prepare left for a run
  /// that has come (and used it) or is older than `max_age` (and will not
  /// take it): a plan over files holds them open.
  void DropStalePreparedPlans(std::chrono::steady_clock::duration max_age);

  void CountPlan(bool hit) { (hit ? plan_hits_ : plan_misses_).fetch_add(1, std::memory_order_relaxed); }
  ConnectionPoolStats stats() const;

 private:
  const size_t max_idle_;
  const size_t plans_per_connection_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<uint64_t> reused_{0}, opened_{0}, discarded_{0}, plan_hits_{0}, plan_misses_{0};
  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<PooledConnection>> idle_;  // the most recently given back last; GUARDED_BY(mutex_)
  std::unordered_set<std::string> rebinds_;               // GUARDED_BY(mutex_)
  uint64_t rebinds_generation_ = 0;                       // GUARDED_BY(mutex_)
};

/// True when a prepared query may be cached: it reads rows only from DuckDB
/// tables, whose every change goes through a statement that retires plans
/// (see ConnectionPool). A plan that reads files, such as read_parquet over
/// a glob, bound its file list when it was planned and would not see files
/// added later; the optimiser may even have answered it from the files'
/// metadata.
/// A plan DuckDB binds again at every run is not cached either: it would
/// save nothing.
bool PlanIsCacheable(const duckdb::PreparedStatement& prepared);

/// What running a statement does to cached plans; worse is greater.
enum class PlanImpact {
  kNone,             // SELECT, EXPLAIN, BEGIN: plans made before still answer rightly
  kEndsTransaction,  // COMMIT, ROLLBACK: publish or take back what the transaction changed
  kRetires,          // may change what a plan means or the rows it reads
};

/// The impact of a parsed statement: kRetires for statements not known here.
PlanImpact PlanImpactOf(const duckdb::SQLStatement& statement);
/// The worst impact of a script's statements (kNone for none).
PlanImpact PlanImpactOf(const duckdb::vector<duckdb::unique_ptr<duckdb::SQLStatement>>& statements);
/// The impact of a prepared statement, from the statement it was prepared from.
PlanImpact PlanImpactOf(const duckdb::PreparedStatement& prepared);

}  // namespace squadron::engine
