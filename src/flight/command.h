// Flight SQL commands: the google.protobuf.Any messages clients put in a
// FlightDescriptor's cmd, parsed into plain structs (no protobuf types here).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <arrow/result.h>

#include "engine/engine.h"

namespace squadron::flight {

/// CommandStatementQuery: an ad-hoc query.
struct StatementQueryCommand {
  std::string query;
  std::optional<std::string> transaction_id;
};

/// CommandStatementUpdate: ad-hoc DDL/DML sent with DoPut.
struct StatementUpdateCommand {
  std::string query;
  std::optional<std::string> transaction_id;
};

/// CommandGetSqlInfo: server and dialect facts; empty `info` means all.
struct GetSqlInfoCommand {
  std::vector<uint32_t> info;
};

/// CommandPreparedStatementQuery: run (GetFlightInfo) or bind parameters to
/// (DoPut) a prepared query.
struct PreparedStatementQueryCommand {
  std::string handle;
};

/// CommandPreparedStatementUpdate: run a prepared update (DoPut), once per
/// parameter row sent in the same call.
struct PreparedStatementUpdateCommand {
  std::string handle;
};

/// CommandStatementIngest: the DoPut stream's batches go into a table.
struct StatementIngestCommand {
  engine::IngestRequest request;
  std::optional<std::string> transaction_id;
};

/// CommandGetCatalogs.
struct GetCatalogsCommand {};

/// CommandGetDbSchemas: `catalog` exact, `schema_pattern` SQL LIKE.
struct GetDbSchemasCommand {
  std::optional<std::string> catalog;
  std::optional<std::string> schema_pattern;
};

/// CommandGetTables; filter.with_columns is include_schema.
struct GetTablesCommand {
  engine::TableFilter filter;
};

/// CommandGetTableTypes.
struct GetTableTypesCommand {};

/// CommandGetPrimaryKeys.
struct GetPrimaryKeysCommand {
  engine::TableRef table;
};

/// CommandGetExportedKeys: foreign keys that reference `table`.
struct GetExportedKeysCommand {
  engine::TableRef table;
};

/// CommandGetImportedKeys: foreign keys of `table`.
struct GetImportedKeysCommand {
  engine::TableRef table;
};

/// CommandGetCrossReference: foreign keys of `fk_table` that reference `pk_table`.
struct GetCrossReferenceCommand {
  engine::TableRef pk_table;
  engine::TableRef fk_table;
};

/// CommandGetXdbcTypeInfo, optionally for one data type.
struct GetXdbcTypeInfoCommand {
  std::optional<int32_t> data_type;
};

using Command = std::variant<StatementQueryCommand, StatementUpdateCommand, GetSqlInfoCommand,
                             PreparedStatementQueryCommand, PreparedStatementUpdateCommand,
                             StatementIngestCommand, GetCatalogsCommand, GetDbSchemasCommand,
                             GetTablesCommand, GetTableTypesCommand, GetPrimaryKeysCommand,
                             GetExportedKeysCommand, GetImportedKeysCommand, GetCrossReferenceCommand,
                             GetXdbcTypeInfoCommand>;

/// Parses a FlightDescriptor.cmd. Errors: Invalid when the bytes are not a
/// packed Flight SQL message; NotImplemented naming the type for a command
/// Squadron does not serve.
arrow::Result<Command> ParseCommand(std::string_view cmd);

/// Returns the wire form (a packed Any) of a command, as a client would send it.
std::string SerializeCommand(const Command& command);

/// Returns the serialized DoPutUpdateResult for PutResult.app_metadata.
std::string SerializeDoPutUpdateResult(int64_t record_count);

/// Returns the name of a command's message, e.g. "CommandStatementQuery".
std::string_view CommandName(const Command& command);

}  // namespace squadron::flight
