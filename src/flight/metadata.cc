#include "flight/metadata.h"

#include <arrow/builder.h>
#include <arrow/ipc/writer.h>
#include <arrow/type.h>

namespace squadron::flight {

namespace {

arrow::Result<std::shared_ptr<arrow::Array>> Strings(const std::vector<std::string>& values) {
  arrow::StringBuilder builder;
  ARROW_RETURN_NOT_OK(builder.AppendValues(values));
  return builder.Finish();
}

}  // namespace

const std::shared_ptr<arrow::Schema>& CatalogsSchema() {
  static const auto schema = arrow::schema({arrow::field("catalog_name", arrow::utf8(), false)});
  return schema;
}

const std::shared_ptr<arrow::Schema>& DbSchemasSchema() {
  static const auto schema = arrow::schema(
      {arrow::field("catalog_name", arrow::utf8()), arrow::field("db_schema_name", arrow::utf8(), false)});
  return schema;
}

const std::shared_ptr<arrow::Schema>& TablesSchema(bool include_schema) {
  static const arrow::FieldVector base = {
      arrow::field("catalog_name", arrow::utf8()), arrow::field("db_schema_name", arrow::utf8()),
      arrow::field("table_name", arrow::utf8(), false), arrow::field("table_type", arrow::utf8(), false)};
  static const auto without = arrow::schema(base);
  static const auto with = [] {
    auto fields = base;
    fields.push_back(arrow::field("table_schema", arrow::binary(), false));
    return arrow::schema(fields);
  }();
  return include_schema ? with : without;
}

const std::shared_ptr<arrow::Schema>& TableTypesSchema() {
  static const auto schema = arrow::schema({arrow::field("table_type", arrow::utf8(), false)});
  return schema;
}

arrow::Result<std::shared_ptr<arrow::RecordBatch>> CatalogsBatch(const std::vector<std::string>& catalogs) {
  ARROW_ASSIGN_OR_RAISE(auto names, Strings(catalogs));
  return arrow::RecordBatch::Make(CatalogsSchema(), names->length(), {names});
}

arrow::Result<std::shared_ptr<arrow::RecordBatch>> DbSchemasBatch(
    const std::vector<std::pair<std::string, std::string>>& schemas) {
  std::vector<std::string> catalogs, names;
  for (const auto& [catalog, name] : schemas) {
    catalogs.push_back(catalog);
    names.push_back(name);
  }
  ARROW_ASSIGN_OR_RAISE(auto catalog_array, Strings(catalogs));
  ARROW_ASSIGN_OR_RAISE(auto name_array, Strings(names));
  return arrow::RecordBatch::Make(DbSchemasSchema(), name_array->length(), {catalog_array, name_array});
}

arrow::Result<std::shared_ptr<arrow::RecordBatch>> TablesBatch(const std::vector<engine::TableEntry>& tables,
                                                               bool include_schema) {
  std::vector<std::string> catalogs, schemas, names, types;
  arrow::BinaryBuilder table_schemas;
  for (const auto& table : tables) {
    catalogs.push_back(table.catalog);
    schemas.push_back(table.schema);
    names.push_back(table.name);
    types.push_back(table.type);
    if (include_schema) {
      ARROW_ASSIGN_OR_RAISE(auto serialized,
                            arrow::ipc::SerializeSchema(table.columns ? *table.columns : *arrow::schema({})));
      ARROW_RETURN_NOT_OK(table_schemas.Append(serialized->data(), serialized->size()));
    }
  }
  arrow::ArrayVector columns(4);
  ARROW_ASSIGN_OR_RAISE(columns[0], Strings(catalogs));
  ARROW_ASSIGN_OR_RAISE(columns[1], Strings(schemas));
  ARROW_ASSIGN_OR_RAISE(columns[2], Strings(names));
  ARROW_ASSIGN_OR_RAISE(columns[3], Strings(types));
  if (include_schema) {
    ARROW_ASSIGN_OR_RAISE(auto schema_array, table_schemas.Finish());
    columns.push_back(schema_array);
  }
  return arrow::RecordBatch::Make(TablesSchema(include_schema), static_cast<int64_t>(tables.size()),
                                  std::move(columns));
}

arrow::Result<std::shared_ptr<arrow::RecordBatch>> TableTypesBatch() {
  ARROW_ASSIGN_OR_RAISE(auto types, Strings({"LOCAL TEMPORARY", "TABLE", "VIEW"}));
  return arrow::RecordBatch::Make(TableTypesSchema(), types->length(), {types});
}

}  // namespace squadron::flight
