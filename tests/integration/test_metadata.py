"""Catalog browsing (GetCatalogs, GetDbSchemas, GetTables, GetTableTypes) against
DuckDB's own catalog, through pyarrow.flight and ADBC."""

import shutil

import adbc_driver_flightsql.dbapi as flightsql
import duckdb
import pyarrow as pa
import pyarrow.flight as flight
import pytest

from flightsql import (descriptor, get_catalogs, get_cross_reference, get_db_schemas, get_exported_keys,
                       get_imported_keys, get_primary_keys, get_table_types, get_tables, get_xdbc_type_info)

SETUP = [
    "CREATE SCHEMA sales",
    "CREATE SCHEMA sales_eu",
    "CREATE SCHEMA salesXeu",
    "CREATE TABLE sales.customers (id INTEGER PRIMARY KEY, name VARCHAR NOT NULL, vip BOOLEAN)",
    "CREATE TABLE sales.orders (id BIGINT PRIMARY KEY, customer_id INTEGER REFERENCES sales.customers (id), "
    "amount DECIMAL(12, 2) NOT NULL, placed TIMESTAMP, tags VARCHAR[])",
    "CREATE VIEW sales.big_orders AS SELECT * FROM sales.orders WHERE amount > 100",
    'CREATE TABLE sales_eu."odd % name" ("a b" INTEGER, "x.y" DOUBLE)',
    'CREATE TABLE sales_eu."a.b(c)+" (v INTEGER)',
    "CREATE TABLE salesXeu.t_1 (v INTEGER)",
    "CREATE TABLE salesXeu.tX1 (v INTEGER)",
    "CREATE TABLE sales.regions (country VARCHAR, code VARCHAR, PRIMARY KEY (country, code))",
    "CREATE TABLE sales.shops (id INTEGER PRIMARY KEY, country VARCHAR, code VARCHAR, "
    "FOREIGN KEY (country, code) REFERENCES sales.regions (country, code))",
]


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    """The server with the fixture, and a DuckDB with the same objects as reference."""
    path = tmp_path_factory.mktemp("catalog")
    warehouse = path / "warehouse.duckdb"
    con = duckdb.connect(str(warehouse))
    con.execute("CREATE TABLE stock (sku VARCHAR PRIMARY KEY, qty INTEGER DEFAULT 0)")
    con.close()
    init = path / "init.sql"
    init.write_text(";\n".join(SETUP) + ";\n")
    from conftest import ServerProcess
    server = ServerProcess(["--port", "0", "--init-sql", str(init), str(warehouse)], path / "squadron.log")
    shutil.copy(warehouse, path / "reference.duckdb")
    reference = duckdb.connect()
    reference.execute(f"ATTACH '{path / 'reference.duckdb'}' AS warehouse")
    for statement in SETUP:
        reference.execute(statement)
    yield server, reference
    server.stop()


def fetch(client, command):
    info = client.get_flight_info(descriptor(command))
    assert len(info.endpoints) == 1 and info.endpoints[0].locations == []
    table = client.do_get(info.endpoints[0].ticket).read_all()
    assert table.schema == info.schema
    return table


def test_metadata_schemas_are_the_protocols(catalog):
    server, _ = catalog
    client = flight.connect(server.uri)
    expected = {
        get_catalogs(): pa.schema([pa.field("catalog_name", pa.utf8(), nullable=False)]),
        get_db_schemas(): pa.schema([pa.field("catalog_name", pa.utf8()),
                                     pa.field("db_schema_name", pa.utf8(), nullable=False)]),
        get_tables(): pa.schema([pa.field("catalog_name", pa.utf8()), pa.field("db_schema_name", pa.utf8()),
                                 pa.field("table_name", pa.utf8(), nullable=False),
                                 pa.field("table_type", pa.utf8(), nullable=False)]),
        get_tables(include_schema=True): pa.schema([
            pa.field("catalog_name", pa.utf8()), pa.field("db_schema_name", pa.utf8()),
            pa.field("table_name", pa.utf8(), nullable=False), pa.field("table_type", pa.utf8(), nullable=False),
            pa.field("table_schema", pa.binary(), nullable=False)]),
        get_table_types(): pa.schema([pa.field("table_type", pa.utf8(), nullable=False)]),
    }
    for command, schema in expected.items():
        assert client.get_schema(descriptor(command)).schema == schema
        assert fetch(client, command).schema == schema


def test_catalogs_and_schemas_match_duckdb(catalog):
    server, reference = catalog
    client = flight.connect(server.uri)
    assert fetch(client, get_catalogs()).column(0).to_pylist() == [
        r[0] for r in reference.execute(
            "SELECT database_name FROM duckdb_databases() WHERE NOT internal ORDER BY 1").fetchall()]
    schemas = fetch(client, get_db_schemas()).to_pylist()
    want = reference.execute("SELECT s.database_name, s.schema_name FROM duckdb_schemas() s JOIN "
                             "duckdb_databases() d USING (database_name) WHERE NOT d.internal ORDER BY 1, 2").fetchall()
    assert [(r["catalog_name"], r["db_schema_name"]) for r in schemas] == want
    only_memory = fetch(client, get_db_schemas(catalog="memory")).column("catalog_name").to_pylist()
    assert set(only_memory) == {"memory"}


@pytest.mark.parametrize("pattern, names", [
    ("sales\\_eu", ["sales_eu"]),           # escaped: a literal underscore
    ("sales_eu", ["salesXeu", "sales_eu"]),  # '_' matches one character
    ("sales%", ["sales", "salesXeu", "sales_eu"]),
    ("SALES", []),                          # case matters, as in DuckDB's LIKE
    ("sales.eu", []),                       # '.' is literal, not a regex
])
def test_schema_patterns(catalog, pattern, names):
    server, _ = catalog
    client = flight.connect(server.uri)
    got = fetch(client, get_db_schemas(catalog="memory", schema_pattern=pattern))
    assert sorted(got.column("db_schema_name").to_pylist()) == sorted(names)


@pytest.mark.parametrize("pattern, names", [
    ("odd \\% name", ["odd % name"]),
    ("a.b(c)+", ["a.b(c)+"]),
    ("t\\_1", ["t_1"]),
    ("t_1", ["tX1", "t_1"]),
    ("%", None),
])
def test_table_patterns_with_metacharacters(catalog, pattern, names):
    server, reference = catalog
    client = flight.connect(server.uri)
    got = fetch(client, get_tables(table_pattern=pattern)).column("table_name").to_pylist()
    if names is None:
        names = [r[0] for r in reference.execute(
            "SELECT table_name FROM duckdb_tables() WHERE NOT internal UNION ALL "
            "SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()]
    assert sorted(got) == sorted(names)


def test_tables_types_order_and_columns(catalog):
    server, reference = catalog
    client = flight.connect(server.uri)
    tables = fetch(client, get_tables(include_schema=True)).to_pylist()
    keys = [(t["catalog_name"], t["db_schema_name"], t["table_name"], t["table_type"]) for t in tables]
    assert keys == sorted(keys)
    by_name = {(t["db_schema_name"], t["table_name"]): t for t in tables}
    assert by_name[("sales", "big_orders")]["table_type"] == "VIEW"
    assert by_name[("main", "stock")]["catalog_name"] == "warehouse"
    orders = pa.ipc.read_schema(pa.py_buffer(by_name[("sales", "orders")]["table_schema"]))
    want = reference.execute("SELECT * FROM sales.orders").fetch_arrow_table().schema
    assert orders.names == want.names and orders.types == want.types
    amount = orders.field("amount")
    assert not amount.nullable and orders.field("placed").nullable
    assert amount.metadata[b"ARROW:FLIGHT:SQL:TYPE_NAME"] == b"DECIMAL(12,2)"
    assert amount.metadata[b"ARROW:FLIGHT:SQL:PRECISION"] == b"12"
    assert amount.metadata[b"ARROW:FLIGHT:SQL:SCALE"] == b"2"
    assert amount.metadata[b"ARROW:FLIGHT:SQL:TABLE_NAME"] == b"orders"
    assert orders.field("id").metadata[b"ARROW:FLIGHT:SQL:IS_SEARCHABLE"] == b"1"
    views_only = fetch(client, get_tables(table_types=["VIEW"])).column("table_name").to_pylist()
    assert views_only == ["big_orders"]
    assert fetch(client, get_table_types()).column(0).to_pylist() == ["LOCAL TEMPORARY", "TABLE", "VIEW"]


def test_adbc_get_objects_and_table_schema(catalog):
    server, reference = catalog
    with flightsql.connect(server.uri, autocommit=True) as conn:
        objects = conn.adbc_get_objects(depth="all").read_all().to_pylist()
        got = {}
        for c in objects:
            for s in c["catalog_db_schemas"] or []:
                for t in s["db_schema_tables"] or []:
                    got[(c["catalog_name"], s["db_schema_name"], t["table_name"])] = [
                        col["column_name"] for col in t["table_columns"] or []]
        want = {}
        for cat, schema, table, column in reference.execute(
                "SELECT database_name, schema_name, table_name, column_name FROM duckdb_columns() "
                "WHERE NOT internal ORDER BY database_name, schema_name, table_name, column_index").fetchall():
            want.setdefault((cat, schema, table), []).append(column)
        assert got == want
        assert conn.adbc_get_table_types() == ["LOCAL TEMPORARY", "TABLE", "VIEW"]
        schema = conn.adbc_get_table_schema("customers", db_schema_filter="sales")
        assert schema.types == reference.execute("SELECT * FROM sales.customers").fetch_arrow_table().schema.types
        assert conn.adbc_get_info()["vendor_name"] == "Squadron"


FOREIGN_KEYS_SCHEMA = pa.schema([
    pa.field("pk_catalog_name", pa.utf8()), pa.field("pk_db_schema_name", pa.utf8()),
    pa.field("pk_table_name", pa.utf8(), nullable=False), pa.field("pk_column_name", pa.utf8(), nullable=False),
    pa.field("fk_catalog_name", pa.utf8()), pa.field("fk_db_schema_name", pa.utf8()),
    pa.field("fk_table_name", pa.utf8(), nullable=False), pa.field("fk_column_name", pa.utf8(), nullable=False),
    pa.field("key_sequence", pa.int32(), nullable=False), pa.field("fk_key_name", pa.utf8()),
    pa.field("pk_key_name", pa.utf8()), pa.field("update_rule", pa.uint8(), nullable=False),
    pa.field("delete_rule", pa.uint8(), nullable=False)])


def test_primary_keys(catalog):
    server, reference = catalog
    client = flight.connect(server.uri)
    keys = fetch(client, get_primary_keys("regions", schema="sales"))
    assert keys.schema == pa.schema([
        pa.field("catalog_name", pa.utf8()), pa.field("db_schema_name", pa.utf8()),
        pa.field("table_name", pa.utf8(), nullable=False), pa.field("column_name", pa.utf8(), nullable=False),
        pa.field("key_name", pa.utf8()), pa.field("key_sequence", pa.int32(), nullable=False)])
    want_name = reference.execute("SELECT constraint_name FROM duckdb_constraints() WHERE table_name = 'regions' "
                                  "AND constraint_type = 'PRIMARY KEY'").fetchone()[0]
    assert keys.to_pylist() == [
        {"catalog_name": "memory", "db_schema_name": "sales", "table_name": "regions", "column_name": "country",
         "key_name": want_name, "key_sequence": 1},
        {"catalog_name": "memory", "db_schema_name": "sales", "table_name": "regions", "column_name": "code",
         "key_name": want_name, "key_sequence": 2},
    ]
    assert fetch(client, get_primary_keys("stock", catalog="warehouse")).column("column_name").to_pylist() == ["sku"]
    assert fetch(client, get_primary_keys("big_orders", schema="sales")).num_rows == 0


def test_foreign_keys_exported_imported_and_cross_reference(catalog):
    server, _ = catalog
    client = flight.connect(server.uri)
    exported = fetch(client, get_exported_keys("regions", schema="sales"))
    assert exported.schema == FOREIGN_KEYS_SCHEMA
    rows = exported.to_pylist()
    assert [(r["pk_column_name"], r["fk_table_name"], r["fk_column_name"], r["key_sequence"]) for r in rows] == [
        ("country", "shops", "country", 1), ("code", "shops", "code", 2)]
    assert all(r["update_rule"] == 3 and r["delete_rule"] == 3 for r in rows)  # NO_ACTION
    assert all(r["pk_key_name"] and r["fk_key_name"] for r in rows)
    imported = fetch(client, get_imported_keys("orders", schema="sales")).to_pylist()
    assert [(r["pk_table_name"], r["pk_column_name"], r["fk_column_name"]) for r in imported] == [
        ("customers", "id", "customer_id")]
    cross = fetch(client, get_cross_reference("customers", "orders", pk_schema="sales", fk_schema="sales"))
    assert cross.schema == FOREIGN_KEYS_SCHEMA and cross.num_rows == 1
    assert fetch(client, get_cross_reference("customers", "shops", pk_schema="sales", fk_schema="sales")).num_rows == 0


def test_query_results_carry_column_metadata(catalog):
    server, _ = catalog
    sql = "SELECT id, amount, placed, 1::TINYINT AS tiny FROM sales.orders"
    client = flight.connect(server.uri)
    from flightsql import statement_query
    info = client.get_flight_info(descriptor(statement_query(sql)))
    schema = client.do_get(info.endpoints[0].ticket).read_all().schema
    amount = schema.field("amount").metadata
    assert amount[b"ARROW:FLIGHT:SQL:TYPE_NAME"] == b"DECIMAL(12,2)"
    assert (amount[b"ARROW:FLIGHT:SQL:PRECISION"], amount[b"ARROW:FLIGHT:SQL:SCALE"]) == (b"12", b"2")
    assert schema.field("id").metadata[b"ARROW:FLIGHT:SQL:PRECISION"] == b"19"
    assert schema.field("tiny").metadata[b"ARROW:FLIGHT:SQL:PRECISION"] == b"3"
    assert schema.field("placed").metadata[b"ARROW:FLIGHT:SQL:TYPE_NAME"] == b"TIMESTAMP"
    assert info.schema.field("amount").metadata == schema.field("amount").metadata
    with flightsql.connect(server.uri, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(sql)
        adbc_schema = cur.fetch_arrow_table().schema
    assert adbc_schema.field("amount").metadata[b"ARROW:FLIGHT:SQL:TYPE_NAME"] == b"DECIMAL(12,2)"


XDBC_TYPE_INFO_SCHEMA = pa.schema([
    pa.field("type_name", pa.utf8(), nullable=False), pa.field("data_type", pa.int32(), nullable=False),
    pa.field("column_size", pa.int32()), pa.field("literal_prefix", pa.utf8()),
    pa.field("literal_suffix", pa.utf8()),
    pa.field("create_params", pa.list_(pa.field("item", pa.utf8(), nullable=False))),
    pa.field("nullable", pa.int32(), nullable=False), pa.field("case_sensitive", pa.bool_(), nullable=False),
    pa.field("searchable", pa.int32(), nullable=False), pa.field("unsigned_attribute", pa.bool_()),
    pa.field("fixed_prec_scale", pa.bool_(), nullable=False), pa.field("auto_increment", pa.bool_()),
    pa.field("local_type_name", pa.utf8()), pa.field("minimum_scale", pa.int32()),
    pa.field("maximum_scale", pa.int32()), pa.field("sql_data_type", pa.int32(), nullable=False),
    pa.field("datetime_subcode", pa.int32()), pa.field("num_prec_radix", pa.int32()),
    pa.field("interval_precision", pa.int32())])


def test_xdbc_type_info_covers_every_duckdb_type(catalog):
    server, reference = catalog
    client = flight.connect(server.uri)
    assert client.get_schema(descriptor(get_xdbc_type_info())).schema == XDBC_TYPE_INFO_SCHEMA
    types = fetch(client, get_xdbc_type_info())
    assert types.schema == XDBC_TYPE_INFO_SCHEMA
    rows = types.to_pylist()
    keys = [(r["data_type"], r["type_name"]) for r in rows]
    assert keys == sorted(keys)
    duckdb_types = {r[0] for r in reference.execute(
        "SELECT DISTINCT logical_type FROM duckdb_types() WHERE database_name = 'system' "
        "AND logical_type <> 'NULL'").fetchall()}
    assert duckdb_types <= {r["type_name"] for r in rows}
    by_name = {r["type_name"]: r for r in rows}
    # java.sql.Types codes
    assert (by_name["INTEGER"]["data_type"], by_name["BIGINT"]["data_type"], by_name["VARCHAR"]["data_type"],
            by_name["BOOLEAN"]["data_type"], by_name["TIMESTAMP"]["data_type"]) == (4, -5, 12, 16, 93)
    assert by_name["DECIMAL"]["create_params"] == ["precision", "scale"]
    assert by_name["DATE"]["literal_prefix"] == "DATE '" and by_name["DATE"]["datetime_subcode"] == 1
    assert by_name["UBIGINT"]["unsigned_attribute"] is True
    assert by_name["VARCHAR"]["case_sensitive"] is True
    only_int = fetch(client, get_xdbc_type_info(data_type=4)).column("type_name").to_pylist()
    assert only_int == ["INTEGER", "USMALLINT"]


def test_adbc_get_objects_at_every_depth(catalog):
    server, reference = catalog
    catalogs = [r[0] for r in reference.execute(
        "SELECT database_name FROM duckdb_databases() WHERE NOT internal ORDER BY 1").fetchall()]
    with flightsql.connect(server.uri, autocommit=True) as conn:
        by_depth = {depth: conn.adbc_get_objects(depth=depth).read_all().to_pylist()
                    for depth in ("catalogs", "db_schemas", "tables", "columns")}
    assert [c["catalog_name"] for c in by_depth["catalogs"]] == catalogs
    assert all(not c["catalog_db_schemas"] for c in by_depth["catalogs"])
    schemas = {(c["catalog_name"], s["db_schema_name"]) for c in by_depth["db_schemas"]
               for s in c["catalog_db_schemas"]}
    assert schemas == set(reference.execute(
        "SELECT s.database_name, s.schema_name FROM duckdb_schemas() s JOIN duckdb_databases() d "
        "USING (database_name) WHERE NOT d.internal").fetchall())
    tables = {(s["db_schema_name"], t["table_name"], t["table_type"]) for c in by_depth["tables"]
              for s in c["catalog_db_schemas"] for t in s["db_schema_tables"]}
    assert ("sales", "big_orders", "VIEW") in tables and ("main", "stock", "TABLE") in tables
    assert all(not t["table_columns"] for c in by_depth["tables"] for s in c["catalog_db_schemas"]
               for t in s["db_schema_tables"])
    columns = {(t["table_name"], col["column_name"]) for c in by_depth["columns"]
               for s in c["catalog_db_schemas"] for t in s["db_schema_tables"] for col in t["table_columns"]}
    assert ("odd % name", "a b") in columns and ("orders", "amount") in columns


def test_sql_info_schema_is_the_protocols(catalog):
    server, _ = catalog
    from flightsql import get_sql_info
    client = flight.connect(server.uri)
    want = pa.schema([
        pa.field("info_name", pa.uint32(), nullable=False),
        pa.field("value", pa.dense_union([
            pa.field("string_value", pa.utf8()), pa.field("bool_value", pa.bool_()),
            pa.field("bigint_value", pa.int64()), pa.field("int32_bitmask", pa.int32()),
            pa.field("string_list", pa.list_(pa.utf8())),
            pa.field("int32_to_int32_list_map", pa.map_(pa.int32(), pa.list_(pa.int32())))],
            type_codes=[0, 1, 2, 3, 4, 5]), nullable=False)])
    assert client.get_schema(descriptor(get_sql_info())).schema == want
    assert fetch(client, get_sql_info()).schema == want
