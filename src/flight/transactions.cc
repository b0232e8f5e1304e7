#include "flight/transactions.h"

#include "common/status.h"
#include "common/units.h"
#include "flight/ticket.h"

namespace squadron::flight {

// A query result of a transaction. Every pull takes the transaction's lock and
// checks that no later statement has superseded it.
class Transaction::BoundStream final : public engine::ResultStream {
 public:
  BoundStream(std::shared_ptr<Transaction> transaction, uint64_t generation,
              std::unique_ptr<engine::ResultStream> inner)
      : transaction_(std::move(transaction)),
        generation_(generation),
        schema_(inner->schema()),
        num_rows_(inner->num_rows()),
        inner_(std::move(inner)) {}

  ~BoundStream() override {
    std::lock_guard<std::mutex> lock(transaction_->mutex_);
    inner_.reset();  // never while another statement uses the connection
  }

  const std::shared_ptr<arrow::Schema>& schema() const override { return schema_; }
  std::optional<int64_t> num_rows() const override { return num_rows_; }

  arrow::Result<std::shared_ptr<arrow::RecordBatch>> Next() override {
    std::lock_guard<std::mutex> lock(transaction_->mutex_);
    if (transaction_->ended_) {
      return NotFound("The transaction of this result has ended; results of a transaction must be "
                      "read before it commits or rolls back");
    }
    if (transaction_->generation_ != generation_) {
      return NotFound("This result was superseded by a later statement in the same transaction: a "
                      "transaction streams one result at a time, so read each result before the next "
                      "statement");
    }
    return inner_->Next();
  }

 private:
  const std::shared_ptr<Transaction> transaction_;  // kept alive while the result is
  const uint64_t generation_;
  const std::shared_ptr<arrow::Schema> schema_;
  const std::optional<int64_t> num_rows_;
  std::unique_ptr<engine::ResultStream> inner_;
};

Transaction::Transaction(std::unique_ptr<engine::Session> session) : session_(std::move(session)) {}

Transaction::~Transaction() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!ended_) (void)session_->ExecuteUpdate("ROLLBACK", {});
}

void Transaction::Interrupt() { session_->Interrupt(); }

namespace {
arrow::Status Ended() {
  return NotFound("The transaction has ended (committed, rolled back or timed out)");
}
}  // namespace

arrow::Result<engine::StatementDescription> Transaction::Prepare(const std::string& sql) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (ended_) return Ended();
  return session_->Prepare(sql);
}

arrow::Result<std::unique_ptr<engine::ResultStream>> Transaction::Execute(
    const std::string& sql, const engine::ParameterBatches& parameters) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (ended_) return Ended();
  const uint64_t generation = ++generation_;
  ARROW_ASSIGN_OR_RAISE(auto inner, session_->Execute(sql, parameters));
  lock.unlock();
  return std::make_unique<BoundStream>(shared_from_this(), generation, std::move(inner));
}

arrow::Result<int64_t> Transaction::ExecuteUpdate(const std::string& sql,
                                                  const engine::ParameterBatches& parameters) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (ended_) return Ended();
  ++generation_;
  return session_->ExecuteUpdate(sql, parameters);
}

arrow::Result<int64_t> Transaction::Ingest(const engine::IngestRequest& request,
                                           std::shared_ptr<arrow::RecordBatchReader> data) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (ended_) return Ended();
  ++generation_;
  return session_->Ingest(request, std::move(data));
}

arrow::Status Transaction::End(bool commit) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (ended_) return Ended();
  ++generation_;
  ended_ = true;
  return session_->ExecuteUpdate(commit ? "COMMIT" : "ROLLBACK", {}).status();
}

TransactionRegistry::TransactionRegistry(Options options, Clock clock)
    : options_(options), clock_(std::move(clock)) {}

arrow::Status TransactionRegistry::UnknownTransaction() const {
  return NotFound("Unknown transaction id: it was committed, rolled back, rolled back after ",
                  FormatDuration(options_.idle_timeout),
                  " without a statement, belongs to another session, or the server restarted");
}

arrow::Result<std::string> TransactionRegistry::Add(std::shared_ptr<Transaction> transaction,
                                                    const std::string& owner) {
  std::string id = RandomBytes(16);
  std::lock_guard<std::mutex> lock(mutex_);
  if (entries_.size() >= options_.max_transactions) {
    return Unavailable(Msg("Too many open transactions (limit ", options_.max_transactions,
                           "): commit or roll back open transactions, or retry later"));
  }
  entries_.emplace(id, Entry{std::move(transaction), owner, clock_()});
  return id;
}

arrow::Result<std::shared_ptr<Transaction>> TransactionRegistry::Get(const std::string& id,
                                                                     const std::string& caller) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = entries_.find(id);
  const auto now = clock_();
  if (it == entries_.end() || (!it->second.owner.empty() && it->second.owner != caller) ||
      now - it->second.last_used >= options_.idle_timeout) {
    return UnknownTransaction();
  }
  it->second.last_used = now;
  return it->second.transaction;
}

arrow::Result<std::shared_ptr<Transaction>> TransactionRegistry::Take(const std::string& id,
                                                                      const std::string& caller) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = entries_.find(id);
  if (it == entries_.end() || (!it->second.owner.empty() && it->second.owner != caller) ||
      clock_() - it->second.last_used >= options_.idle_timeout) {
    return UnknownTransaction();
  }
  auto transaction = std::move(it->second.transaction);
  entries_.erase(it);
  return transaction;
}

std::vector<std::shared_ptr<Transaction>> TransactionRegistry::TakeOwnedBy(const std::string& session) {
  std::vector<std::shared_ptr<Transaction>> taken;
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (it->second.owner == session) {
      taken.push_back(std::move(it->second.transaction));
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
  return taken;
}

std::vector<std::shared_ptr<Transaction>> TransactionRegistry::TakeIdle() {
  std::vector<std::shared_ptr<Transaction>> taken;
  std::lock_guard<std::mutex> lock(mutex_);
  const auto now = clock_();
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (now - it->second.last_used >= options_.idle_timeout) {
      taken.push_back(std::move(it->second.transaction));
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
  return taken;
}

}  // namespace squadron::flight
