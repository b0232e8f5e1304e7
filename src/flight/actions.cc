#include "flight/actions.h"

#include <google/protobuf/any.pb.h>

#include "common/status.h"
#include "proto/FlightSql.pb.h"

namespace squadron::flight {

namespace pb = arrow::flight::protocol::sql;

namespace {

template <typename Message>
arrow::Result<Message> UnpackBody(std::string_view body, std::string_view action) {
  google::protobuf::Any any;
  Message message;
  if (!any.ParseFromArray(body.data(), static_cast<int>(body.size())) || !any.Is<Message>() ||
      !any.UnpackTo(&message)) {
    return InvalidArgument("Invalid ", action, " request: the body must be a packed ",
                           Message::descriptor()->full_name());
  }
  return message;
}

std::string PackToString(const google::protobuf::Message& message) {
  google::protobuf::Any any;
  any.PackFrom(message);
  return any.SerializeAsString();
}

}  // namespace

arrow::Result<CreatePreparedStatementRequest> ParseCreatePreparedStatement(std::string_view body) {
  ARROW_ASSIGN_OR_RAISE(auto m, UnpackBody<pb::ActionCreatePreparedStatementRequest>(
                                    body, kCreatePreparedStatement));
  CreatePreparedStatementRequest request{m.query(), std::nullopt};
  if (m.has_transaction_id()) request.transaction_id = m.transaction_id();
  return request;
}

arrow::Result<std::string> ParseClosePreparedStatement(std::string_view body) {
  ARROW_ASSIGN_OR_RAISE(auto m, UnpackBody<pb::ActionClosePreparedStatementRequest>(
                                    body, kClosePreparedStatement));
  return m.prepared_statement_handle();
}

arrow::Status ParseBeginTransaction(std::string_view body) {
  // Some clients send no body at all for this empty message.
  if (body.empty()) return arrow::Status::OK();
  return UnpackBody<pb::ActionBeginTransactionRequest>(body, kBeginTransaction).status();
}

arrow::Result<EndTransactionRequest> ParseEndTransaction(std::string_view body) {
  ARROW_ASSIGN_OR_RAISE(auto m, UnpackBody<pb::ActionEndTransactionRequest>(body, kEndTransaction));
  if (m.action() != pb::ActionEndTransactionRequest::END_TRANSACTION_COMMIT &&
      m.action() != pb::ActionEndTransactionRequest::END_TRANSACTION_ROLLBACK) {
    return InvalidArgument("Invalid EndTransaction request: action must be COMMIT or ROLLBACK (got ",
                           static_cast<int>(m.action()), ")");
  }
  return EndTransactionRequest{m.transaction_id(),
                               m.action() == pb::ActionEndTransactionRequest::END_TRANSACTION_COMMIT};
}

std::string SerializeBeginTransactionResult(const std::string& transaction_id) {
  pb::ActionBeginTransactionResult result;
  result.set_transaction_id(transaction_id);
  return PackToString(result);
}

std::string SerializeEndTransaction(const EndTransactionRequest& request) {
  pb::ActionEndTransactionRequest m;
  m.set_transaction_id(request.transaction_id);
  m.set_action(request.commit ? pb::ActionEndTransactionRequest::END_TRANSACTION_COMMIT
                              : pb::ActionEndTransactionRequest::END_TRANSACTION_ROLLBACK);
  return PackToString(m);
}

arrow::Result<std::string> ParseCancelQuery(std::string_view body) {
  ARROW_ASSIGN_OR_RAISE(auto m, UnpackBody<pb::ActionCancelQueryRequest>(body, kCancelQuery));
  return m.info();
}

std::string SerializeCancelQueryResult(bool cancelled) {
  pb::ActionCancelQueryResult result;
  result.set_result(cancelled ? pb::ActionCancelQueryResult::CANCEL_RESULT_CANCELLED
                              : pb::ActionCancelQueryResult::CANCEL_RESULT_NOT_CANCELLABLE);
  return PackToString(result);
}

std::string SerializeCreatePreparedStatementResult(const std::string& handle,
                                                   const std::string& dataset_schema,
                                                   const std::string& parameter_schema,
                                                   bool is_update) {
  pb::ActionCreatePreparedStatementResult result;
  result.set_prepared_statement_handle(handle);
  result.set_dataset_schema(dataset_schema);
  result.set_parameter_schema(parameter_schema);
  result.set_is_update(is_update);
  return PackToString(result);
}

std::string SerializeDoPutPreparedStatementResult(const std::string& handle) {
  pb::DoPutPreparedStatementResult result;
  result.set_prepared_statement_handle(handle);
  return result.SerializeAsString();
}

std::string SerializeCreatePreparedStatement(const CreatePreparedStatementRequest& request) {
  pb::ActionCreatePreparedStatementRequest m;
  m.set_query(request.query);
  if (request.transaction_id) m.set_transaction_id(*request.transaction_id);
  return PackToString(m);
}

}  // namespace squadron::flight
