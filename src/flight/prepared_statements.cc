#include "flight/prepared_statements.h"

#include "common/status.h"
#include "common/units.h"
#include "flight/ticket.h"

namespace squadron::flight {

PreparedStatementRegistry::PreparedStatementRegistry(Options options, Clock clock)
    : table_({options.idle_timeout, options.max_handles}, std::move(clock),
             [idle = options.idle_timeout](const std::string&) {
               return NotFound("Unknown prepared statement handle: it was closed, was idle longer than ",
                               FormatDuration(idle),
                               ", belongs to another session, or was created by another server. "
                               "Prepare the statement again");
             },
             [max = options.max_handles] {
               return Unavailable(Msg("Too many open prepared statements (limit ", max,
                                      "): close statements that are no longer needed"));
             }) {}

arrow::Result<std::string> PreparedStatementRegistry::Add(PreparedStatement statement, const std::string& owner) {
  table_.TakeIdle();  // idle handles must not count against the limit
  std::string handle = RandomBytes(16);
  ARROW_RETURN_NOT_OK(table_.Add(handle, std::move(statement), owner));
  return handle;
}

arrow::Result<PreparedStatement> PreparedStatementRegistry::Get(const std::string& handle,
                                                                const std::string& caller) {
  return table_.Get(handle, caller);
}

arrow::Status PreparedStatementRegistry::Bind(const std::string& handle, const std::string& caller,
                                              engine::ParameterBatches parameters) {
  return table_.Update(handle, caller,
                       [&parameters](PreparedStatement& statement) { statement.parameters = std::move(parameters); });
}

arrow::Status PreparedStatementRegistry::Close(const std::string& handle, const std::string& caller) {
  return table_.Take(handle, caller).status();
}

size_t PreparedStatementRegistry::CloseOwnedBy(const std::string& session) {
  return table_.TakeOwnedBy(session).size();
}

size_t PreparedStatementRegistry::size() {
  table_.TakeIdle();
  return table_.size();
}

}  // namespace squadron::flight
