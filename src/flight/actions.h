// Bodies of the Flight SQL actions (DoAction): requests parsed into plain
// structs, results serialized. Each body is a packed google.protobuf.Any.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <arrow/result.h>

namespace squadron::flight {

/// Action type names, as clients send them.
inline constexpr std::string_view kCreatePreparedStatement = "CreatePreparedStatement";
inline constexpr std::string_view kClosePreparedStatement = "ClosePreparedStatement";
inline constexpr std::string_view kBeginTransaction = "BeginTransaction";
inline constexpr std::string_view kEndTransaction = "EndTransaction";
inline constexpr std::string_view kBeginSavepoint = "BeginSavepoint";
inline constexpr std::string_view kEndSavepoint = "EndSavepoint";
inline constexpr std::string_view kCancelQuery = "CancelQuery";

struct CreatePreparedStatementRequest {
  std::string query;
  std::optional<std::string> transaction_id;
};

/// Parses ActionCreatePreparedStatementRequest. Invalid for a malformed body.
arrow::Result<CreatePreparedStatementRequest> ParseCreatePreparedStatement(std::string_view body);

/// Parses ActionClosePreparedStatementRequest; returns the handle.
arrow::Result<std::string> ParseClosePreparedStatement(std::string_view body);

/// Checks an ActionBeginTransactionRequest body (an empty message).
arrow::Status ParseBeginTransaction(std::string_view body);

struct EndTransactionRequest {
  std::string transaction_id;
  bool commit = false;
};

/// Parses ActionEndTransactionRequest. Invalid for a missing action.
arrow::Result<EndTransactionRequest> ParseEndTransaction(std::string_view body);

/// Serializes ActionBeginTransactionResult (packed in an Any).
std::string SerializeBeginTransactionResult(const std::string& transaction_id);

/// Wire form of an EndTransaction request, as a client sends it.
std::string SerializeEndTransaction(const EndTransactionRequest& request);

/// Parses the deprecated ActionCancelQueryRequest; returns the serialized FlightInfo.
arrow::Result<std::string> ParseCancelQuery(std::string_view body);

/// Serializes ActionCancelQueryResult (packed in an Any): CANCELLED or NOT_CANCELLABLE.
std::string SerializeCancelQueryResult(bool cancelled);

/// Serializes ActionCreatePreparedStatementResult (packed in an Any). The
/// schemas are IPC-serialized schema messages; empty when unknown.
std::string SerializeCreatePreparedStatementResult(const std::string& handle,
                                                   const std::string& dataset_schema,
                                                   const std::string& parameter_schema,
                                                   bool is_update);

/// Serializes DoPutPreparedStatementResult for PutResult.app_metadata.
std::string SerializeDoPutPreparedStatementResult(const std::string& handle);

/// Wire form of a CreatePreparedStatement request, as a client sends it.
std::string SerializeCreatePreparedStatement(const CreatePreparedStatementRequest& request);

}  // namespace squadron::flight
