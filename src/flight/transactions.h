// Flight SQL transactions (BeginTransaction/EndTransaction): each holds its
// own engine connection, on which every statement naming it runs.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <arrow/result.h>

#include "engine/engine.h"
#include "flight/handle_table.h"

namespace squadron::flight {

/// One open transaction. Thread-safe: statements of a transaction run one at
/// a time. A query's result stream reads through the transaction's
/// connection; the next statement of the transaction supersedes a stream not
/// yet read to its end (reading it then fails with a clear error), because
/// one connection streams one result at a time.
class Transaction : public std::enable_shared_from_this<Transaction> {
 public:
  /// `session` has already begun the transaction. Always owned by a shared_ptr
  /// (result streams keep their transaction alive).
  explicit Transaction(std::unique_ptr<engine::Session> session);
  ~Transaction();

  arrow::Result<engine::StatementDescription> Prepare(const std::string& sql);
  arrow::Result<std::unique_ptr<engine::ResultStream>> Execute(const std::string& sql,
                                                               const engine::ParameterBatches& parameters);
  arrow::Result<int64_t> ExecuteUpdate(const std::string& sql, const engine::ParameterBatches& parameters);
  arrow::Result<int64_t> Ingest(const engine::IngestRequest& request,
                                std::shared_ptr<arrow::RecordBatchReader> data);

  /// Commits or rolls back.
  arrow::Status End(bool commit);

  /// Interrupts the statement running in the transaction, if any. Thread-safe,
  /// does not wait for the statement's lock.
  void Interrupt();

 private:
  class BoundStream;

  std::mutex mutex_;
  const std::unique_ptr<engine::Session> session_;  // lives as long as the transaction
  bool ended_ = false;                              // GUARDED_BY(mutex_)
  uint64_t generation_ = 0;                         // GUARDED_BY(mutex_); one per statement
};

/// Open transactions by id.
///
/// Thread-safe. Transactions idle past the timeout are handed out by
/// TakeIdle() to be rolled back.
class TransactionRegistry {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  struct Options {
    /// A transaction with no statement for this long is rolled back.
    std::chrono::milliseconds idle_timeout{std::chrono::minutes(15)};
    /// Transactions open at once; Add() beyond it fails with UNAVAILABLE.
    size_t max_transactions = 1000;
  };

  explicit TransactionRegistry(Options options, Clock clock = &std::chrono::steady_clock::now);

  /// Registers a begun transaction; returns its id. `owner` as for prepared
  /// statements: a session id, or "" for a transaction anyone holding the id may use.
  arrow::Result<std::string> Add(std::shared_ptr<Transaction> transaction, const std::string& owner);

  /// The transaction, marked used. NotFound for an unknown, ended, timed-out
  /// or other session's id.
  arrow::Result<std::shared_ptr<Transaction>> Get(const std::string& id, const std::string& caller);

  /// Removes and returns the transaction (to end it). NotFound as Get().
  arrow::Result<std::shared_ptr<Transaction>> Take(const std::string& id, const std::string& caller);

  /// Removes and returns a session's transactions (to roll them back).
  std::vector<std::shared_ptr<Transaction>> TakeOwnedBy(const std::string& session);

  /// Removes and returns transactions idle past the timeout.
  std::vector<std::shared_ptr<Transaction>> TakeIdle();

 private:
  HandleTable<std::shared_ptr<Transaction>> table_;
};

}  // namespace squadron::flight
