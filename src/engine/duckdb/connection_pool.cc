#include "engine/duckdb/connection_pool.h"

#include <algorithm>

#include "duckdb/execution/operator/scan/physical_table_scan.hpp"
#include "duckdb/execution/physical_plan_generator.hpp"
#include "duckdb/main/prepared_statement_data.hpp"
#include "duckdb/parser/statement/explain_statement.hpp"
#include "duckdb/parser/statement/transaction_statement.hpp"

namespace squadron::engine {

CachedPlan* PlanCache::Find(const std::string& sql, uint64_t generation) {
  auto it = index_.find(sql);
  if (it == index_.end()) return nullptr;
  if (it->second->second.generation != generation) {
    entries_.erase(it->second);
    index_.erase(it);
    return nullptr;
  }
  entries_.splice(entries_.begin(), entries_, it->second);
  return &it->second->second;
}

void PlanCache::Put(const std::string& sql, CachedPlan plan) {
  if (capacity_ == 0) return;
  Erase(sql);
  entries_.emplace_front(sql, std::move(plan));
  index_.emplace(sql, entries_.begin());
  if (entries_.size() > capacity_) {
    index_.erase(entries_.back().first);
    entries_.pop_back();
  }
}

void PlanCache::Erase(const std::string& sql) {
  auto it = index_.find(sql);
  if (it == index_.end()) return;
  entries_.erase(it->second);
  index_.erase(it);
}

std::unique_ptr<PooledConnection> ConnectionPool::Take(duckdb::DuckDB& db, const std::string& key, bool* reused) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    // The most recently used connection with these settings: its plans are
    // the likeliest to be wanted again.
    for (auto it = idle_.rbegin(); it != idle_.rend(); ++it) {
      if ((*it)->key != key) continue;
      auto connection = std::move(*it);
      idle_.erase(std::next(it).base());
      reused_.fetch_add(1, std::memory_order_relaxed);
      *reused = true;
      return connection;
    }
  }
  opened_.fetch_add(1, std::memory_order_relaxed);
  *reused = false;
  return std::make_unique<PooledConnection>(db, key, plans_per_connection_);
}

void ConnectionPool::Give(std::unique_ptr<PooledConnection> connection) {
  std::unique_ptr<PooledConnection> oldest;  // closed outside the lock
  std::lock_guard<std::mutex> lock(mutex_);
  if (max_idle_ == 0) {
    oldest = std::move(connection);
    return;
  }
  if (idle_.size() >= max_idle_) {
    oldest = std::move(idle_.front());
    idle_.erase(idle_.begin());
  }
  idle_.push_back(std::move(connection));
}

void ConnectionPool::DropStalePreparedPlans(std::chrono::steady_clock::duration max_age) {
  std::vector<PooledConnection::JustPrepared> stale;  // dropped outside the lock
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& connection : idle_) {
    auto& just = connection->just_prepared;
    if (just && (just->used || now - just->at > max_age)) {
      stale.push_back(std::move(*just));
      just.reset();
    }
  }
}

bool ConnectionPool::Rebinds(const std::string& sql) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (rebinds_generation_ != generation()) {
    rebinds_.clear();
    rebinds_generation_ = generation();
  }
  return rebinds_.count(sql) > 0;
}

void ConnectionPool::NoteRebinds(const std::string& sql, uint64_t generation) {
  // Bounded by clearing: texts seen once (literals spliced into SQL) must not
  // pile up.
  constexpr size_t kMaxRebinds = 4096;
  std::lock_guard<std::mutex> lock(mutex_);
  if (generation < rebinds_generation_) return;  // planned before a change
  if (generation > rebinds_generation_) {
    rebinds_.clear();
    rebinds_generation_ = generation;
  }
  if (rebinds_.size() >= kMaxRebinds) rebinds_.clear();
  rebinds_.insert(sql);
}

ConnectionPoolStats ConnectionPool::stats() const {
  ConnectionPoolStats stats;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stats.idle = idle_.size();
  }
  stats.reused = reused_.load(std::memory_order_relaxed);
  stats.opened = opened_.load(std::memory_order_relaxed);
  stats.discarded = discarded_.load(std::memory_order_relaxed);
  stats.plan_hits = plan_hits_.load(std::memory_order_relaxed);
  stats.plan_misses = plan_misses_.load(std::memory_order_relaxed);
  stats.generation = generation();
  return stats;
}

namespace {

// Where a plan gets its rows: DuckDB tables, or rows the plan computes
// itself. Anything else is refused, including rows the optimiser folded into
// the plan from what it read while planning (COLUMN_DATA_SCAN: a count(*)
// answered from Parquet metadata; EMPTY_RESULT: a filter ruled out by file
// statistics).
bool ScansOnlyTables(const duckdb::PhysicalOperator& op) {
  using Type = duckdb::PhysicalOperatorType;
  switch (op.type) {
    case Type::TABLE_SCAN: {
      const auto& name = op.Cast<duckdb::PhysicalTableScan>().function.name;
      if (name != "seq_scan" && name != "index_scan") return false;
      break;
    }
    case Type::COLUMN_DATA_SCAN:
    case Type::EMPTY_RESULT:
      return false;
    default:
      break;
  }
  for (const auto& child : op.GetChildren()) {
    if (!ScansOnlyTables(child.get())) return false;
  }
  return true;
}

}  // namespace

bool PlanIsCacheable(const duckdb::PreparedStatement& prepared) {
  if (prepared.HasError() || prepared.data == nullptr || prepared.data->physical_plan == nullptr) return false;
  if (!prepared.named_param_map.empty() || prepared.data->properties.always_require_rebind) return false;
  return ScansOnlyTables(prepared.data->physical_plan->Root());
}

PlanImpact PlanImpactOf(const duckdb::SQLStatement& statement) {
  using Type = duckdb::StatementType;
  switch (statement.type) {
    case Type::SELECT_STATEMENT:
      return PlanImpact::kNone;
    case Type::EXPLAIN_STATEMENT: {
      // EXPLAIN ANALYZE runs the statement it explains.
      const auto& explain = statement.Cast<duckdb::ExplainStatement>();
      if (explain.explain_type == duckdb::ExplainType::EXPLAIN_STANDARD) return PlanImpact::kNone;
      return explain.stmt ? PlanImpactOf(*explain.stmt) : PlanImpact::kRetires;
    }
    case Type::TRANSACTION_STATEMENT:
      switch (statement.Cast<duckdb::TransactionStatement>().info->type) {
        case duckdb::TransactionType::BEGIN_TRANSACTION:
          return PlanImpact::kNone;
        case duckdb::TransactionType::COMMIT:
        case duckdb::TransactionType::ROLLBACK:
          return PlanImpact::kEndsTransaction;
        default:
          return PlanImpact::kRetires;
      }
    default:
      return PlanImpact::kRetires;
  }
}

PlanImpact PlanImpactOf(const duckdb::vector<duckdb::unique_ptr<duckdb::SQLStatement>>& statements) {
  PlanImpact worst = PlanImpact::kNone;
  for (const auto& statement : statements) worst = std::max(worst, PlanImpactOf(*statement));
  return worst;
}

PlanImpact PlanImpactOf(const duckdb::PreparedStatement& prepared) {
  if (prepared.data == nullptr || prepared.data->unbound_statement == nullptr) return PlanImpact::kRetires;
  return PlanImpactOf(*prepared.data->unbound_statement);
}

}  // namespace squadron::engine
