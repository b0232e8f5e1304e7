// Catalog metadata results (CommandGetCatalogs, ...GetDbSchemas, ...GetTables,
// ...GetTableTypes) in the exact schemas the protocol defines.
#pragma once

#include <memory>
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

arrow::Result<std::shared_ptr<arrow::RecordBatch>> CatalogsBatch(const std::vector<std::string>& catalogs);
arrow::Result<std::shared_ptr<arrow::RecordBatch>> DbSchemasBatch(
    const std::vector<std::pair<std::string, std::string>>& schemas);
arrow::Result<std::shared_ptr<arrow::RecordBatch>> TablesBatch(const std::vector<engine::TableEntry>& tables,
                                                               bool include_schema);
/// The table types the server lists, sorted.
arrow::Result<std::shared_ptr<arrow::RecordBatch>> TableTypesBatch();

}  // namespace squadron::flight
