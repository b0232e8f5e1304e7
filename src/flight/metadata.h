// Catalog metadata results (CommandGetCatalogs, ...GetDbSchemas, ...GetTables,
// ...GetTableTypes) in the exact schemas the protocol defines.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <arrow/record_batch.h>
#include <arrow/result.h>

#include "engine/engine.h"

namespace squadron::flight {

const std::shared_ptr<arrow::Schema>& CatalogsSchema();
const std::shared_ptr<arrow::Schema>& DbSchemasSchema();
/// With `include_schema`, a fifth column holds each table's IPC-serialized schema.
const std::shared_ptr<arrow::Schema>& TablesSchema(bool include_schema);
const std::shared_ptr<arrow::Schema>& TableTypesSchema();
const std::shared_ptr<arrow::Schema>& PrimaryKeysSchema();
/// The schema of exported keys, imported keys and cross references.
const std::shared_ptr<arrow::Schema>& ForeignKeysSchema();

arrow::Result<std::shared_ptr<arrow::RecordBatch>> CatalogsBatch(const std::vector<std::string>& catalogs);
arrow::Result<std::shared_ptr<arrow::RecordBatch>> DbSchemasBatch(
    const std::vector<std::pair<std::string, std::string>>& schemas);
arrow::Result<std::shared_ptr<arrow::RecordBatch>> TablesBatch(const std::vector<engine::TableEntry>& tables,
                                                               bool include_schema);
arrow::Result<std::shared_ptr<arrow::RecordBatch>> PrimaryKeysBatch(
    const std::vector<engine::PrimaryKeyColumn>& keys);
arrow::Result<std::shared_ptr<arrow::RecordBatch>> ForeignKeysBatch(
    const std::vector<engine::ForeignKeyColumn>& keys);
const std::shared_ptr<arrow::Schema>& XdbcTypeInfoSchema();
/// The engine's types, only those of `data_type` when given.
arrow::Result<std::shared_ptr<arrow::RecordBatch>> XdbcTypeInfoBatch(const std::vector<engine::SqlTypeInfo>& types,
                                                                     std::optional<int32_t> data_type);
/// The table types the server lists, sorted.
arrow::Result<std::shared_ptr<arrow::RecordBatch>> TableTypesBatch();

}  // namespace squadron::flight
