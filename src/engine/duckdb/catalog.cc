// Catalog browsing: DuckDB's own catalog functions, filtered and sorted the
// way Flight SQL's metadata commands (and JDBC's DatabaseMetaData) want.
#include <arrow/type.h>
#include <arrow/util/key_value_metadata.h>

#include "common/status.h"
#include "engine/duckdb/data_paths.h"
#include "engine/duckdb/duckdb_internal.h"

namespace squadron::engine {

namespace {

// A LIKE filter on `column`, with backslash as the escape character.
std::string Like(const std::string& column, const std::optional<std::string>& pattern) {
  if (!pattern) return "";
  return " AND " + column + " LIKE " + QuoteLiteral(*pattern) + " ESCAPE '\\'";
}

std::string Equals(const std::string& column, const std::optional<std::string>& value) {
  if (!value) return "";
  return " AND " + column + " = " + QuoteLiteral(*value);
}

arrow::Result<duckdb::unique_ptr<duckdb::MaterializedQueryResult>> Query(duckdb::Connection& connection,
                                                                        const std::string& sql) {
  auto result = connection.Query(sql);
  if (result->HasError()) return FromDuckDb(result->GetErrorObject());
  return result;
}

std::string Text(duckdb::MaterializedQueryResult& result, duckdb::idx_t column, duckdb::idx_t row) {
  auto value = result.GetValue(column, row);
  return value.IsNull() ? "" : value.ToString();
}

// The columns of one table as Arrow fields with ARROW:FLIGHT:SQL:* metadata.
arrow::Result<std::shared_ptr<arrow::Schema>> Columns(duckdb::Connection& connection, const TableEntry& table) {
  const std::string qualified = QuoteIdentifier(table.catalog) + "." + QuoteIdentifier(table.schema) + "." +
                                QuoteIdentifier(table.name);
  auto prepared = connection.Prepare("SELECT * FROM " + qualified);
  if (prepared->HasError()) return FromDuckDb(prepared->error);
  ARROW_ASSIGN_OR_RAISE(auto arrow_schema,
                        ToArrowSchema(KnownTypes(prepared->GetTypes()), prepared->GetNames(),
                                      connection.context->GetClientProperties()));
  ARROW_ASSIGN_OR_RAISE(
      auto described,
      Query(connection, "SELECT column_name, data_type, is_nullable, numeric_precision, numeric_scale, "
                        "character_maximum_length, comment, column_default FROM duckdb_columns() "
                        "WHERE database_name = " + QuoteLiteral(table.catalog) +
                            " AND schema_name = " + QuoteLiteral(table.schema) +
                            " AND table_name = " + QuoteLiteral(table.name) + " ORDER BY column_index"));
  arrow::FieldVector fields;
  for (int i = 0; i < arrow_schema->num_fields(); ++i) {
    const auto row = static_cast<duckdb::idx_t>(i);
    const bool known = row < described->RowCount();
    const std::string type_name = known ? Text(*described, 1, row) : prepared->GetTypes()[row].ToString();
    std::string precision = known ? Text(*described, 3, row) : "";
    if (precision.empty() && known) precision = Text(*described, 5, row);
    auto metadata = arrow::key_value_metadata({
        {"ARROW:FLIGHT:SQL:CATALOG_NAME", table.catalog},
        {"ARROW:FLIGHT:SQL:DB_SCHEMA_NAME", table.schema},
        {"ARROW:FLIGHT:SQL:TABLE_NAME", table.name},
        {"ARROW:FLIGHT:SQL:TYPE_NAME", type_name},
        {"ARROW:FLIGHT:SQL:PRECISION", precision.empty() ? "0" : precision},
        {"ARROW:FLIGHT:SQL:SCALE", known && !Text(*described, 4, row).empty() ? Text(*described, 4, row) : "0"},
        {"ARROW:FLIGHT:SQL:IS_AUTO_INCREMENT",
         known && Text(*described, 7, row).rfind("nextval(", 0) == 0 ? "1" : "0"},
        {"ARROW:FLIGHT:SQL:IS_CASE_SENSITIVE", type_name == "VARCHAR" ? "1" : "0"},
        {"ARROW:FLIGHT:SQL:IS_READ_ONLY", table.type == "VIEW" ? "1" : "0"},
        {"ARROW:FLIGHT:SQL:IS_SEARCHABLE", "1"},
        {"ARROW:FLIGHT:SQL:REMARKS", known ? Text(*described, 6, row) : ""},
    });
    const bool nullable = !known || described->GetValue(2, row).GetValue<bool>();
    fields.push_back(arrow_schema->field(i)->WithNullable(nullable)->WithMetadata(metadata));
  }
  return arrow::schema(std::move(fields));
}

}  // namespace

arrow::Result<std::vector<std::string>> ListCatalogs(duckdb::Connection& connection) {
  ARROW_ASSIGN_OR_RAISE(auto result, Query(connection,
                                           "SELECT database_name FROM duckdb_databases() "
                                           "WHERE NOT internal ORDER BY database_name"));
  std::vector<std::string> catalogs;
  for (duckdb::idx_t row = 0; row < result->RowCount(); ++row) catalogs.push_back(Text(*result, 0, row));
  return catalogs;
}

arrow::Result<std::vector<std::pair<std::string, std::string>>> ListSchemas(
    duckdb::Connection& connection, const std::optional<std::string>& catalog,
    const std::optional<std::string>& schema_pattern) {
  ARROW_ASSIGN_OR_RAISE(
      auto result,
      Query(connection, "SELECT s.database_name, s.schema_name FROM duckdb_schemas() s "
                        "JOIN duckdb_databases() d USING (database_name) WHERE NOT d.internal" +
                            Equals("s.database_name", catalog) + Like("s.schema_name", schema_pattern) +
                            " ORDER BY 1, 2"));
  std::vector<std::pair<std::string, std::string>> schemas;
  for (duckdb::idx_t row = 0; row < result->RowCount(); ++row) {
    schemas.emplace_back(Text(*result, 0, row), Text(*result, 1, row));
  }
  return schemas;
}

arrow::Result<std::vector<TableEntry>> ListTables(duckdb::Connection& connection, const TableFilter& filter) {
  std::string types;
  for (const auto& type : filter.types) types += (types.empty() ? "" : ", ") + QuoteLiteral(type);
  auto where = [&filter](const std::string& name_column) {
    return " WHERE NOT internal" + Equals("database_name", filter.catalog) +
           Like("schema_name", filter.schema_pattern) + Like(name_column, filter.table_pattern);
  };
  ARROW_ASSIGN_OR_RAISE(
      auto result,
      Query(connection,
            "SELECT * FROM ("
            "  SELECT database_name, schema_name, table_name,"
            "         CASE WHEN temporary THEN 'LOCAL TEMPORARY' ELSE 'TABLE' END AS table_type"
            "  FROM duckdb_tables()" + where("table_name") +
                " UNION ALL"
                "  SELECT database_name, schema_name, view_name, 'VIEW' FROM duckdb_views()" +
                where("view_name") + ")" + (types.empty() ? "" : " WHERE table_type IN (" + types + ")") +
                " ORDER BY 1, 2, 3, 4"));
  std::vector<TableEntry> tables;
  for (duckdb::idx_t row = 0; row < result->RowCount(); ++row) {
    TableEntry entry{Text(*result, 0, row), Text(*result, 1, row), Text(*result, 2, row),
                     Text(*result, 3, row), nullptr};
    if (filter.with_columns) {
      ARROW_ASSIGN_OR_RAISE(entry.columns, Columns(connection, entry));
    }
    tables.push_back(std::move(entry));
  }
  return tables;
}

namespace {

std::string TableCondition(const std::string& catalog_column, const std::string& schema_column,
                           const std::string& table_column, const TableRef& table) {
  return Equals(catalog_column, table.catalog) + Equals(schema_column, table.schema) + " AND " + table_column +
         " = " + QuoteLiteral(table.table);
}

}  // namespace

arrow::Result<std::vector<PrimaryKeyColumn>> PrimaryKeys(duckdb::Connection& connection, const TableRef& table) {
  ARROW_ASSIGN_OR_RAISE(
      auto result,
      Query(connection,
            "SELECT database_name, schema_name, table_name, column_name, constraint_name, seq FROM ("
            "  SELECT database_name, schema_name, table_name, constraint_name,"
            "         unnest(constraint_column_names) AS column_name,"
            "         unnest(range(1, len(constraint_column_names) + 1)) AS seq"
            "  FROM duckdb_constraints() WHERE constraint_type = 'PRIMARY KEY'" +
                TableCondition("database_name", "schema_name", "table_name", table) +
                ") ORDER BY 1, 2, 3, 5, 6"));
  std::vector<PrimaryKeyColumn> keys;
  for (duckdb::idx_t row = 0; row < result->RowCount(); ++row) {
    keys.push_back({Text(*result, 0, row), Text(*result, 1, row), Text(*result, 2, row), Text(*result, 3, row),
                    Text(*result, 4, row), result->GetValue(5, row).GetValue<int32_t>()});
  }
  return keys;
}

arrow::Result<std::vector<ForeignKeyColumn>> ForeignKeys(duckdb::Connection& connection,
                                                         const std::optional<TableRef>& pk_table,
                                                         const std::optional<TableRef>& fk_table) {
  std::string where = " WHERE true";
  // DuckDB's foreign keys reference a table of the same catalog and schema.
  if (pk_table) where += TableCondition("database_name", "schema_name", "referenced_table", *pk_table);
  if (fk_table) where += TableCondition("database_name", "schema_name", "table_name", *fk_table);
  const std::string order = pk_table && !fk_table ? " ORDER BY 1, 2, 3, 11, 9" : " ORDER BY 5, 6, 7, 10, 9";
  ARROW_ASSIGN_OR_RAISE(
      auto result,
      Query(connection,
            "WITH fk AS ("
            "  SELECT database_name, schema_name, table_name, referenced_table, constraint_name,"
            "         referenced_column_names,"
            "         unnest(referenced_column_names) AS pk_column,"
            "         unnest(constraint_column_names) AS fk_column,"
            "         unnest(range(1, len(constraint_column_names) + 1)) AS seq"
            "  FROM duckdb_constraints() WHERE constraint_type = 'FOREIGN KEY')"
            " SELECT database_name, schema_name, referenced_table, pk_column,"
            "        database_name, schema_name, table_name, fk_column, seq, constraint_name,"
            "        (SELECT min(p.constraint_name) FROM duckdb_constraints() p"
            "         WHERE p.database_name = fk.database_name AND p.schema_name = fk.schema_name"
            "           AND p.table_name = fk.referenced_table"
            "           AND p.constraint_type IN ('PRIMARY KEY', 'UNIQUE')"
            "           AND p.constraint_column_names = fk.referenced_column_names) AS pk_name"
            " FROM fk" + where + order));
  std::vector<ForeignKeyColumn> keys;
  for (duckdb::idx_t row = 0; row < result->RowCount(); ++row) {
    ForeignKeyColumn key;
    key.pk_catalog = Text(*result, 0, row);
    key.pk_schema = Text(*result, 1, row);
    key.pk_table = Text(*result, 2, row);
    key.pk_column = Text(*result, 3, row);
    key.fk_catalog = Text(*result, 4, row);
    key.fk_schema = Text(*result, 5, row);
    key.fk_table = Text(*result, 6, row);
    key.fk_column = Text(*result, 7, row);
    key.sequence = result->GetValue(8, row).GetValue<int32_t>();
    key.fk_name = Text(*result, 9, row);
    key.pk_name = Text(*result, 10, row);
    keys.push_back(std::move(key));
  }
  return keys;
}

}  // namespace squadron::engine
