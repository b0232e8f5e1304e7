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

const std::shared_ptr<arrow::Schema>& XdbcTypeInfoSchema() {
  static const auto schema = arrow::schema({
      arrow::field("type_name", arrow::utf8(), false),
      arrow::field("data_type", arrow::int32(), false),
      arrow::field("column_size", arrow::int32()),
      arrow::field("literal_prefix", arrow::utf8()),
      arrow::field("literal_suffix", arrow::utf8()),
      arrow::field("create_params", arrow::list(arrow::field("item", arrow::utf8(), false))),
      arrow::field("nullable", arrow::int32(), false),
      arrow::field("case_sensitive", arrow::boolean(), false),
      arrow::field("searchable", arrow::int32(), false),
      arrow::field("unsigned_attribute", arrow::boolean()),
      arrow::field("fixed_prec_scale", arrow::boolean(), false),
      arrow::field("auto_increment", arrow::boolean()),
      arrow::field("local_type_name", arrow::utf8()),
      arrow::field("minimum_scale", arrow::int32()),
      arrow::field("maximum_scale", arrow::int32()),
      arrow::field("sql_data_type", arrow::int32(), false),
      arrow::field("datetime_subcode", arrow::int32()),
      arrow::field("num_prec_radix", arrow::int32()),
      arrow::field("interval_precision", arrow::int32()),
  });
  return schema;
}

namespace {

template <typename Builder, typename T>
arrow::Status AppendOptional(Builder* builder, const std::optional<T>& value) {
  return value ? builder->Append(*value) : builder->AppendNull();
}

}  // namespace

arrow::Result<std::shared_ptr<arrow::RecordBatch>> XdbcTypeInfoBatch(const std::vector<engine::SqlTypeInfo>& types,
                                                                     std::optional<int32_t> data_type) {
  arrow::StringBuilder name, prefix, suffix, local_name;
  arrow::Int32Builder type_code, column_size, nullable, searchable, min_scale, max_scale, sql_type, subcode, radix,
      interval_precision;
  arrow::BooleanBuilder case_sensitive, is_unsigned, fixed, auto_increment;
  auto item_field = XdbcTypeInfoSchema()->field(5)->type()->field(0);
  arrow::ListBuilder create_params(arrow::default_memory_pool(), std::make_shared<arrow::StringBuilder>(),
                                   arrow::list(item_field));
  auto* params = static_cast<arrow::StringBuilder*>(create_params.value_builder());
  int64_t rows = 0;
  for (const auto& t : types) {
    if (data_type && t.data_type != *data_type) continue;
    ++rows;
    ARROW_RETURN_NOT_OK(name.Append(t.name));
    ARROW_RETURN_NOT_OK(type_code.Append(t.data_type));
    ARROW_RETURN_NOT_OK(AppendOptional(&column_size, t.column_size));
    ARROW_RETURN_NOT_OK(AppendOptional(&prefix, t.literal_prefix));
    ARROW_RETURN_NOT_OK(AppendOptional(&suffix, t.literal_suffix));
    if (t.create_params.empty()) {
      ARROW_RETURN_NOT_OK(create_params.AppendNull());
    } else {
      ARROW_RETURN_NOT_OK(create_params.Append());
      ARROW_RETURN_NOT_OK(params->AppendValues(t.create_params));
    }
    ARROW_RETURN_NOT_OK(nullable.Append(1));  // NULLABILITY_NULLABLE: every type takes NULL
    ARROW_RETURN_NOT_OK(case_sensitive.Append(t.case_sensitive));
    ARROW_RETURN_NOT_OK(searchable.Append(t.searchable));
    ARROW_RETURN_NOT_OK(AppendOptional(&is_unsigned, t.unsigned_attribute));
    ARROW_RETURN_NOT_OK(fixed.Append(t.fixed_prec_scale));
    ARROW_RETURN_NOT_OK(auto_increment.Append(false));
    ARROW_RETURN_NOT_OK(local_name.Append(t.name));
    ARROW_RETURN_NOT_OK(AppendOptional(&min_scale, t.minimum_scale));
    ARROW_RETURN_NOT_OK(AppendOptional(&max_scale, t.maximum_scale));
    ARROW_RETURN_NOT_OK(sql_type.Append(t.sql_data_type));
    ARROW_RETURN_NOT_OK(AppendOptional(&subcode, t.datetime_subcode));
    ARROW_RETURN_NOT_OK(AppendOptional(&radix, t.num_prec_radix));
    ARROW_RETURN_NOT_OK(interval_precision.AppendNull());
  }
  arrow::ArrayVector arrays(19);
  ARROW_RETURN_NOT_OK(name.Finish(&arrays[0]));
  ARROW_RETURN_NOT_OK(type_code.Finish(&arrays[1]));
  ARROW_RETURN_NOT_OK(column_size.Finish(&arrays[2]));
  ARROW_RETURN_NOT_OK(prefix.Finish(&arrays[3]));
  ARROW_RETURN_NOT_OK(suffix.Finish(&arrays[4]));
  ARROW_RETURN_NOT_OK(create_params.Finish(&arrays[5]));
  ARROW_RETURN_NOT_OK(nullable.Finish(&arrays[6]));
  ARROW_RETURN_NOT_OK(case_sensitive.Finish(&arrays[7]));
  ARROW_RETURN_NOT_OK(searchable.Finish(&arrays[8]));
  ARROW_RETURN_NOT_OK(is_unsigned.Finish(&arrays[9]));
  ARROW_RETURN_NOT_OK(fixed.Finish(&arrays[10]));
  ARROW_RETURN_NOT_OK(auto_increment.Finish(&arrays[11]));
  ARROW_RETURN_NOT_OK(local_name.Finish(&arrays[12]));
  ARROW_RETURN_NOT_OK(min_scale.Finish(&arrays[13]));
  ARROW_RETURN_NOT_OK(max_scale.Finish(&arrays[14]));
  ARROW_RETURN_NOT_OK(sql_type.Finish(&arrays[15]));
  ARROW_RETURN_NOT_OK(subcode.Finish(&arrays[16]));
  ARROW_RETURN_NOT_OK(radix.Finish(&arrays[17]));
  ARROW_RETURN_NOT_OK(interval_precision.Finish(&arrays[18]));
  return arrow::RecordBatch::Make(XdbcTypeInfoSchema(), rows, std::move(arrays));
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
