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

const std::shared_ptr<arrow::Schema>& PrimaryKeysSchema() {
  static const auto schema = arrow::schema({
      arrow::field("catalog_name", arrow::utf8()), arrow::field("db_schema_name", arrow::utf8()),
      arrow::field("table_name", arrow::utf8(), false), arrow::field("column_name", arrow::utf8(), false),
      arrow::field("key_name", arrow::utf8()), arrow::field("key_sequence", arrow::int32(), false)});
  return schema;
}

const std::shared_ptr<arrow::Schema>& ForeignKeysSchema() {
  static const auto schema = arrow::schema({
      arrow::field("pk_catalog_name", arrow::utf8()), arrow::field("pk_db_schema_name", arrow::utf8()),
      arrow::field("pk_table_name", arrow::utf8(), false), arrow::field("pk_column_name", arrow::utf8(), false),
      arrow::field("fk_catalog_name", arrow::utf8()), arrow::field("fk_db_schema_name", arrow::utf8()),
      arrow::field("fk_table_name", arrow::utf8(), false), arrow::field("fk_column_name", arrow::utf8(), false),
      arrow::field("key_sequence", arrow::int32(), false), arrow::field("fk_key_name", arrow::utf8()),
      arrow::field("pk_key_name", arrow::utf8()), arrow::field("update_rule", arrow::uint8(), false),
      arrow::field("delete_rule", arrow::uint8(), false)});
  return schema;
}

arrow::Result<std::shared_ptr<arrow::RecordBatch>> PrimaryKeysBatch(
    const std::vector<engine::PrimaryKeyColumn>& keys) {
  std::vector<std::string> catalogs, schemas, tables, columns, names;
  arrow::Int32Builder sequences;
  for (const auto& key : keys) {
    catalogs.push_back(key.catalog);
    schemas.push_back(key.schema);
    tables.push_back(key.table);
    columns.push_back(key.column);
    names.push_back(key.key_name);
    ARROW_RETURN_NOT_OK(sequences.Append(key.sequence));
  }
  arrow::ArrayVector arrays;
  for (const auto* values : {&catalogs, &schemas, &tables, &columns, &names}) {
    ARROW_ASSIGN_OR_RAISE(auto array, Strings(*values));
    arrays.push_back(array);
  }
  ARROW_ASSIGN_OR_RAISE(auto sequence_array, sequences.Finish());
  arrays.push_back(sequence_array);
  return arrow::RecordBatch::Make(PrimaryKeysSchema(), static_cast<int64_t>(keys.size()), std::move(arrays));
}

arrow::Result<std::shared_ptr<arrow::RecordBatch>> ForeignKeysBatch(
    const std::vector<engine::ForeignKeyColumn>& keys) {
  std::vector<std::vector<std::string>> text(10);
  arrow::Int32Builder sequences;
  for (const auto& key : keys) {
    const std::string* values[] = {&key.pk_catalog, &key.pk_schema, &key.pk_table, &key.pk_column,
                                   &key.fk_catalog, &key.fk_schema, &key.fk_table, &key.fk_column,
                                   &key.fk_name,    &key.pk_name};
    for (size_t i = 0; i < text.size(); ++i) text[i].push_back(*values[i]);
    ARROW_RETURN_NOT_OK(sequences.Append(key.sequence));
  }
  arrow::ArrayVector arrays;
  for (size_t i = 0; i < 8; ++i) {
    ARROW_ASSIGN_OR_RAISE(auto array, Strings(text[i]));
    arrays.push_back(array);
  }
  ARROW_ASSIGN_OR_RAISE(auto sequence_array, sequences.Finish());
  arrays.push_back(sequence_array);
  for (size_t i = 8; i < 10; ++i) {
    ARROW_ASSIGN_OR_RAISE(auto array, Strings(text[i]));
    arrays.push_back(array);
  }
  // DuckDB's foreign keys have no ON UPDATE/ON DELETE actions: NO_ACTION (3).
  for (int rule = 0; rule < 2; ++rule) {
    arrow::UInt8Builder rules;
    ARROW_RETURN_NOT_OK(rules.AppendValues(std::vector<uint8_t>(keys.size(), 3)));
    ARROW_ASSIGN_OR_RAISE(auto array, rules.Finish());
    arrays.push_back(array);
  }
  return arrow::RecordBatch::Make(ForeignKeysSchema(), static_cast<int64_t>(keys.size()), std::move(arrays));
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
