#include "flight/command.h"

#include <iterator>

#include <google/protobuf/any.pb.h>

#include "proto/FlightSql.pb.h"
#include "common/status.h"
#include "common/text.h"

namespace squadron::flight {

namespace pb = arrow::flight::protocol::sql;

namespace {

constexpr std::string_view kFlightSqlPackage = "arrow.flight.protocol.sql.";

template <typename Message>
arrow::Result<Message> Unpack(const google::protobuf::Any& any) {
  Message message;
  if (!any.UnpackTo(&message)) {
    return InvalidArgument("Invalid ", Message::descriptor()->name(),
                           ": the message does not parse");
  }
  return message;
}

arrow::Result<Command> ParseStatementQuery(const google::protobuf::Any& any) {
  ARROW_ASSIGN_OR_RAISE(auto m, Unpack<pb::CommandStatementQuery>(any));
  StatementQueryCommand c{m.query(), std::nullopt};
  if (m.has_transaction_id()) c.transaction_id = m.transaction_id();
  return c;
}

arrow::Result<Command> ParseStatementUpdate(const google::protobuf::Any& any) {
  ARROW_ASSIGN_OR_RAISE(auto m, Unpack<pb::CommandStatementUpdate>(any));
  StatementUpdateCommand c{m.query(), std::nullopt};
  if (m.has_transaction_id()) c.transaction_id = m.transaction_id();
  return c;
}

arrow::Result<Command> ParseGetSqlInfo(const google::protobuf::Any& any) {
  ARROW_ASSIGN_OR_RAISE(auto m, Unpack<pb::CommandGetSqlInfo>(any));
  return GetSqlInfoCommand{{m.info().begin(), m.info().end()}};
}

arrow::Result<Command> ParsePreparedStatementQuery(const google::protobuf::Any& any) {
  ARROW_ASSIGN_OR_RAISE(auto m, Unpack<pb::CommandPreparedStatementQuery>(any));
  return PreparedStatementQueryCommand{m.prepared_statement_handle()};
}

arrow::Result<Command> ParsePreparedStatementUpdate(const google::protobuf::Any& any) {
  ARROW_ASSIGN_OR_RAISE(auto m, Unpack<pb::CommandPreparedStatementUpdate>(any));
  return PreparedStatementUpdateCommand{m.prepared_statement_handle()};
}

arrow::Result<Command> ParseStatementIngest(const google::protobuf::Any& any) {
  using Options = pb::CommandStatementIngest::TableDefinitionOptions;
  ARROW_ASSIGN_OR_RAISE(auto m, Unpack<pb::CommandStatementIngest>(any));
  StatementIngestCommand c;
  c.request.table = m.table();
  if (m.has_schema()) c.request.schema = m.schema();
  if (m.has_catalog()) c.request.catalog = m.catalog();
  c.request.temporary = m.temporary();
  if (m.has_transaction_id()) c.transaction_id = m.transaction_id();
  // Unspecified options are the safe ones: never create, never overwrite.
  const auto& options = m.table_definition_options();
  c.request.if_missing = options.if_not_exist() == Options::TABLE_NOT_EXIST_OPTION_CREATE
                             ? engine::IngestRequest::IfMissing::kCreate
                             : engine::IngestRequest::IfMissing::kFail;
  switch (options.if_exists()) {
    case Options::TABLE_EXISTS_OPTION_APPEND:
      c.request.if_exists = engine::IngestRequest::IfExists::kAppend;
      break;
    case Options::TABLE_EXISTS_OPTION_REPLACE:
      c.request.if_exists = engine::IngestRequest::IfExists::kReplace;
      break;
    default:
      c.request.if_exists = engine::IngestRequest::IfExists::kFail;
  }
  return c;
}

arrow::Result<Command> ParseGetDbSchemas(const google::protobuf::Any& any) {
  ARROW_ASSIGN_OR_RAISE(auto m, Unpack<pb::CommandGetDbSchemas>(any));
  GetDbSchemasCommand c;
  if (m.has_catalog()) c.catalog = m.catalog();
  if (m.has_db_schema_filter_pattern()) c.schema_pattern = m.db_schema_filter_pattern();
  return c;
}

arrow::Result<Command> ParseGetTables(const google::protobuf::Any& any) {
  ARROW_ASSIGN_OR_RAISE(auto m, Unpack<pb::CommandGetTables>(any));
  GetTablesCommand c;
  if (m.has_catalog()) c.filter.catalog = m.catalog();
  if (m.has_db_schema_filter_pattern()) c.filter.schema_pattern = m.db_schema_filter_pattern();
  if (m.has_table_name_filter_pattern()) c.filter.table_pattern = m.table_name_filter_pattern();
  c.filter.types = {m.table_types().begin(), m.table_types().end()};
  c.filter.with_columns = m.include_schema();
  return c;
}

template <typename Message>
engine::TableRef TableOf(const Message& m) {
  engine::TableRef table;
  if (m.has_catalog()) table.catalog = m.catalog();
  if (m.has_db_schema()) table.schema = m.db_schema();
  table.table = m.table();
  return table;
}

template <typename Message, typename Result>
arrow::Result<Command> ParseKeys(const google::protobuf::Any& any) {
  ARROW_ASSIGN_OR_RAISE(auto m, Unpack<Message>(any));
  return Result{TableOf(m)};
}

arrow::Result<Command> ParseCrossReference(const google::protobuf::Any& any) {
  ARROW_ASSIGN_OR_RAISE(auto m, Unpack<pb::CommandGetCrossReference>(any));
  GetCrossReferenceCommand c;
  if (m.has_pk_catalog()) c.pk_table.catalog = m.pk_catalog();
  if (m.has_pk_db_schema()) c.pk_table.schema = m.pk_db_schema();
  c.pk_table.table = m.pk_table();
  if (m.has_fk_catalog()) c.fk_table.catalog = m.fk_catalog();
  if (m.has_fk_db_schema()) c.fk_table.schema = m.fk_db_schema();
  c.fk_table.table = m.fk_table();
  return c;
}

arrow::Result<Command> ParseXdbcTypeInfo(const google::protobuf::Any& any) {
  ARROW_ASSIGN_OR_RAISE(auto m, Unpack<pb::CommandGetXdbcTypeInfo>(any));
  GetXdbcTypeInfoCommand c;
  if (m.has_data_type()) c.data_type = m.data_type();
  return c;
}

template <typename Message>
void SetTable(const engine::TableRef& table, Message* m) {
  if (table.catalog) m->set_catalog(*table.catalog);
  if (table.schema) m->set_db_schema(*table.schema);
  m->set_table(table.table);
}

// The message name inside a type URL: the part after the last '/'.
std::string_view TypeName(std::string_view type_url) {
  const auto slash = type_url.rfind('/');
  return slash == std::string_view::npos ? type_url : type_url.substr(slash + 1);
}

}  // namespace

arrow::Result<Command> ParseCommand(std::string_view cmd) {
  google::protobuf::Any any;
  if (cmd.empty() || !any.ParseFromArray(cmd.data(), static_cast<int>(cmd.size())) ||
      any.type_url().empty()) {
    return InvalidArgument(
        "Invalid Flight SQL command: FlightDescriptor.cmd must be a packed "
        "google.protobuf.Any holding an arrow.flight.protocol.sql command (got ",
        cmd.size(), " bytes that are not)");
  }
  if (any.Is<pb::CommandStatementQuery>()) return ParseStatementQuery(any);
  if (any.Is<pb::CommandStatementUpdate>()) return ParseStatementUpdate(any);
  if (any.Is<pb::CommandGetSqlInfo>()) return ParseGetSqlInfo(any);
  if (any.Is<pb::CommandPreparedStatementQuery>()) return ParsePreparedStatementQuery(any);
  if (any.Is<pb::CommandPreparedStatementUpdate>()) return ParsePreparedStatementUpdate(any);
  if (any.Is<pb::CommandStatementIngest>()) return ParseStatementIngest(any);
  if (any.Is<pb::CommandGetCatalogs>()) return GetCatalogsCommand{};
  if (any.Is<pb::CommandGetDbSchemas>()) return ParseGetDbSchemas(any);
  if (any.Is<pb::CommandGetTables>()) return ParseGetTables(any);
  if (any.Is<pb::CommandGetTableTypes>()) return GetTableTypesCommand{};
  if (any.Is<pb::CommandGetPrimaryKeys>()) {
    return ParseKeys<pb::CommandGetPrimaryKeys, GetPrimaryKeysCommand>(any);
  }
  if (any.Is<pb::CommandGetExportedKeys>()) {
    return ParseKeys<pb::CommandGetExportedKeys, GetExportedKeysCommand>(any);
  }
  if (any.Is<pb::CommandGetImportedKeys>()) {
    return ParseKeys<pb::CommandGetImportedKeys, GetImportedKeysCommand>(any);
  }
  if (any.Is<pb::CommandGetCrossReference>()) return ParseCrossReference(any);
  if (any.Is<pb::CommandGetXdbcTypeInfo>()) return ParseXdbcTypeInfo(any);

  const std::string_view name = TypeName(any.type_url());
  if (name.substr(0, kFlightSqlPackage.size()) == kFlightSqlPackage) {
    return Unimplemented("Flight SQL command ", Clip(name), " is not implemented by Squadron");
  }
  return Unimplemented("Unknown command type '", Clip(any.type_url()),
                       "': Squadron serves arrow.flight.protocol.sql commands");
}

std::string SerializeCommand(const Command& command) {
  google::protobuf::Any any;
  std::visit(
      [&any](const auto& c) {
        using T = std::decay_t<decltype(c)>;
        if constexpr (std::is_same_v<T, StatementQueryCommand>) {
          pb::CommandStatementQuery m;
          m.set_query(c.query);
          if (c.transaction_id) m.set_transaction_id(*c.transaction_id);
          any.PackFrom(m);
        } else if constexpr (std::is_same_v<T, StatementUpdateCommand>) {
          pb::CommandStatementUpdate m;
          m.set_query(c.query);
          if (c.transaction_id) m.set_transaction_id(*c.transaction_id);
          any.PackFrom(m);
        } else if constexpr (std::is_same_v<T, GetSqlInfoCommand>) {
          pb::CommandGetSqlInfo m;
          for (uint32_t id : c.info) m.add_info(id);
          any.PackFrom(m);
        } else if constexpr (std::is_same_v<T, PreparedStatementQueryCommand>) {
          pb::CommandPreparedStatementQuery m;
          m.set_prepared_statement_handle(c.handle);
          any.PackFrom(m);
        } else if constexpr (std::is_same_v<T, PreparedStatementUpdateCommand>) {
          pb::CommandPreparedStatementUpdate m;
          m.set_prepared_statement_handle(c.handle);
          any.PackFrom(m);
        } else if constexpr (std::is_same_v<T, GetCatalogsCommand>) {
          any.PackFrom(pb::CommandGetCatalogs());
        } else if constexpr (std::is_same_v<T, GetDbSchemasCommand>) {
          pb::CommandGetDbSchemas m;
          if (c.catalog) m.set_catalog(*c.catalog);
          if (c.schema_pattern) m.set_db_schema_filter_pattern(*c.schema_pattern);
          any.PackFrom(m);
        } else if constexpr (std::is_same_v<T, GetTablesCommand>) {
          pb::CommandGetTables m;
          if (c.filter.catalog) m.set_catalog(*c.filter.catalog);
          if (c.filter.schema_pattern) m.set_db_schema_filter_pattern(*c.filter.schema_pattern);
          if (c.filter.table_pattern) m.set_table_name_filter_pattern(*c.filter.table_pattern);
          for (const auto& type : c.filter.types) m.add_table_types(type);
          m.set_include_schema(c.filter.with_columns);
          any.PackFrom(m);
        } else if constexpr (std::is_same_v<T, GetTableTypesCommand>) {
          any.PackFrom(pb::CommandGetTableTypes());
        } else if constexpr (std::is_same_v<T, GetPrimaryKeysCommand>) {
          pb::CommandGetPrimaryKeys m;
          SetTable(c.table, &m);
          any.PackFrom(m);
        } else if constexpr (std::is_same_v<T, GetExportedKeysCommand>) {
          pb::CommandGetExportedKeys m;
          SetTable(c.table, &m);
          any.PackFrom(m);
        } else if constexpr (std::is_same_v<T, GetImportedKeysCommand>) {
          pb::CommandGetImportedKeys m;
          SetTable(c.table, &m);
          any.PackFrom(m);
        } else if constexpr (std::is_same_v<T, GetXdbcTypeInfoCommand>) {
          pb::CommandGetXdbcTypeInfo m;
          if (c.data_type) m.set_data_type(*c.data_type);
          any.PackFrom(m);
        } else if constexpr (std::is_same_v<T, GetCrossReferenceCommand>) {
          pb::CommandGetCrossReference m;
          if (c.pk_table.catalog) m.set_pk_catalog(*c.pk_table.catalog);
          if (c.pk_table.schema) m.set_pk_db_schema(*c.pk_table.schema);
          m.set_pk_table(c.pk_table.table);
          if (c.fk_table.catalog) m.set_fk_catalog(*c.fk_table.catalog);
          if (c.fk_table.schema) m.set_fk_db_schema(*c.fk_table.schema);
          m.set_fk_table(c.fk_table.table);
          any.PackFrom(m);
        } else {
          pb::CommandStatementIngest m;
          m.set_table(c.request.table);
          if (c.request.schema) m.set_schema(*c.request.schema);
          if (c.request.catalog) m.set_catalog(*c.request.catalog);
          m.set_temporary(c.request.temporary);
          if (c.transaction_id) m.set_transaction_id(*c.transaction_id);
          using Options = pb::CommandStatementIngest::TableDefinitionOptions;
          auto* options = m.mutable_table_definition_options();
          options->set_if_not_exist(c.request.if_missing == engine::IngestRequest::IfMissing::kCreate
                                        ? Options::TABLE_NOT_EXIST_OPTION_CREATE
                                        : Options::TABLE_NOT_EXIST_OPTION_FAIL);
          switch (c.request.if_exists) {
            case engine::IngestRequest::IfExists::kAppend:
              options->set_if_exists(Options::TABLE_EXISTS_OPTION_APPEND);
              break;
            case engine::IngestRequest::IfExists::kReplace:
              options->set_if_exists(Options::TABLE_EXISTS_OPTION_REPLACE);
              break;
            case engine::IngestRequest::IfExists::kFail:
              options->set_if_exists(Options::TABLE_EXISTS_OPTION_FAIL);
              break;
          }
          any.PackFrom(m);
        }
      },
      command);
  return any.SerializeAsString();
}

std::string SerializeDoPutUpdateResult(int64_t record_count) {
  pb::DoPutUpdateResult result;
  result.set_record_count(record_count);
  return result.SerializeAsString();
}

std::string_view CommandName(const Command& command) {
  static constexpr std::string_view kNames[] = {
      "CommandStatementQuery", "CommandStatementUpdate", "CommandGetSqlInfo",
      "CommandPreparedStatementQuery", "CommandPreparedStatementUpdate", "CommandStatementIngest",
      "CommandGetCatalogs", "CommandGetDbSchemas", "CommandGetTables", "CommandGetTableTypes",
      "CommandGetPrimaryKeys", "CommandGetExportedKeys", "CommandGetImportedKeys", "CommandGetCrossReference",
      "CommandGetXdbcTypeInfo"};
  static_assert(std::size(kNames) == std::variant_size_v<Command>);
  return kNames[command.index()];
}

}  // namespace squadron::flight
