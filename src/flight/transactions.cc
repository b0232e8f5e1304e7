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
    : table_({options.idle_timeout, options.max_transactions}, std::move(clock),
             [idle = options.idle_timeout](const std::string&) {
               return NotFound("Unknown transaction id: it was committed, rolled back, rolled back after ",
                               FormatDuration(idle),
                               " without a statement, belongs to another session, or the server restarted");
             },
             [max = options.max_transactions] {
               return Unavailable(Msg("Too many open transactions (limit ", max,
                                      "): commit or roll back open transactions, or retry later"));
             }) {}

arrow::Result<std::string> TransactionRegistry::Add(std::shared_ptr<Transaction> transaction,
                                                    const std::string& owner) {
  std::string id = RandomBytes(16);
  ARROW_RETURN_NOT_OK(table_.Add(id, std::move(transaction), owner));
  return id;
}

arrow::Result<std::shared_ptr<Transaction>> TransactionRegistry::Get(const std::string& id,
                                                                     const std::string& caller) {
  return table_.Get(id, caller);
}

arrow::Result<std::shared_ptr<Transaction>> TransactionRegistry::Take(const std::string& id,
                                                                      const std::string& caller) {
  return table_.Take(id, caller);
}

namespace {
std::vector<std::shared_ptr<Transaction>> Values(std::vector<std::pair<std::string, std::shared_ptr<Transaction>>> in) {
  std::vector<std::shared_ptr<Transaction>> out;
  for (auto& [id, transaction] : in) out.push_back(std::move(transaction));
  return out;
}
}  // namespace

std::vector<std::shared_ptr<Transaction>> TransactionRegistry::TakeOwnedBy(const std::string& session) {
  return Values(table_.TakeOwnedBy(session));
}

std::vector<std::shared_ptr<Transaction>> TransactionRegistry::TakeIdle() { return Values(table_.TakeIdle()); }

}  // namespace squadron::flight
