"""Flight SQL metadata on the Spark engine: catalog browsing (GetCatalogs,
GetDbSchemas, GetTables with columns), SqlInfo and XdbcTypeInfo, through
pyarrow.flight and ADBC, against a real Spark Connect server. The reference is
pyspark's own Spark Connect client on the same Spark: its Catalog API, its
Arrow results, and Spark's analyzer deciding what it accepts."""

import logging

import adbc_driver_flightsql.dbapi as flightsql
import pyarrow as pa
import pyarrow.flight as flight
import pytest

from flightsql import (descriptor, get_catalogs, get_db_schemas, get_primary_keys, get_sql_info, get_table_types,
                       get_tables, get_xdbc_type_info, statement_query)
from test_metadata import XDBC_TYPE_INFO_SCHEMA
from test_sql_info import SPEC

# meta_salesXeu is stored as meta_salesxeu: Spark's session catalog lowers names.
SETUP = [
    "CREATE NAMESPACE meta_sales",
    "CREATE NAMESPACE meta_sales_eu",
    "CREATE NAMESPACE meta_salesXeu",
    "CREATE TABLE meta_sales.orders (id BIGINT, amount DECIMAL(12, 2), placed TIMESTAMP, local TIMESTAMP_NTZ, "
    "tags ARRAY<STRING>, address STRUCT<street: STRING, zip: INT>, attrs MAP<STRING, INT>, code CHAR(3), "
    "note VARCHAR(20) COMMENT 'free text', raw BINARY, day DATE, ratio FLOAT, share DOUBLE, vip BOOLEAN, "
    "tiny TINYINT, small SMALLINT, n INT) USING parquet",
    "INSERT INTO meta_sales.orders VALUES (1, 250.00, TIMESTAMP'2024-01-02 03:04:05', "
    "TIMESTAMP_NTZ'2024-01-02 03:04:05', array('a'), named_struct('street', 'Main', 'zip', 1000), map('k', 1), "
    "'abc', 'first', X'0102', DATE'2024-01-02', 1.5, 2.5, true, 1, 2, 3)",
    "CREATE TABLE meta_sales.events (`event id` INT, kind STRING) USING parquet PARTITIONED BY (kind)",
    "CREATE VIEW meta_sales.big_orders AS SELECT id, amount FROM meta_sales.orders WHERE amount > 100",
    "CREATE VIEW meta_sales.spans AS SELECT INTERVAL '1-2' YEAR TO MONTH AS ym, "
    "INTERVAL '1 02:03:04' DAY TO SECOND AS dt",
    "CREATE TABLE meta_sales_eu.t_1 (v INT) USING parquet",
    "CREATE TABLE meta_sales_eu.tX1 (v INT) USING parquet",
    "CREATE TABLE meta_salesXeu.MixedCase (Col INT) USING parquet",
    "CREATE TABLE `meta_salesXeu`.`QuotedCase` (v INT) USING parquet",
    # A view whose table is gone: Spark lists it but cannot analyze it.
    "CREATE TABLE meta_salesXeu.gone (v INT) USING parquet",
    "CREATE VIEW meta_salesXeu.broken AS SELECT v FROM meta_salesXeu.gone",
    "DROP TABLE meta_salesXeu.gone",
]
NAMESPACES = ["meta_sales", "meta_sales_eu", "meta_salesxeu"]


@pytest.fixture(scope="module")
def spark(spark_connect):
    """pyspark's Spark Connect session, with the fixture's objects created."""
    from pyspark.sql import SparkSession
    # Spark's failed analyses (expected here) are logged by pyspark in full.
    logging.getLogger("SQLQueryContextLogger").setLevel(logging.CRITICAL)
    session = SparkSession.builder.remote(spark_connect).create()  # its own: it is stopped below
    for namespace in NAMESPACES:
        session.sql(f"DROP NAMESPACE IF EXISTS {namespace} CASCADE").collect()
    for sql in SETUP:
        session.sql(sql).collect()
    # Session-scoped: other Spark sessions (Squadron's included) never see it.
    session.sql("CREATE OR REPLACE TEMP VIEW meta_temp AS SELECT 1 AS x").collect()
    yield session
    for namespace in NAMESPACES:
        session.sql(f"DROP NAMESPACE IF EXISTS {namespace} CASCADE").collect()
    # Released while Spark runs: at exit pyspark would retry for minutes.
    session.stop()


@pytest.fixture(scope="module")
def server(spark, spark_connect, tmp_path_factory):
    from conftest import ServerProcess
    log = tmp_path_factory.mktemp("spark-metadata") / "squadron.log"
    proc = ServerProcess(["--port", "0", "--engine", "spark", "--spark-connect", spark_connect], log)
    yield proc
    proc.stop()


def fetch(server, command):
    client = flight.connect(server.uri)
    info = client.get_flight_info(descriptor(command))
    table = client.do_get(info.endpoints[0].ticket).read_all()
    assert table.schema == info.schema
    return table


def reference_tables(spark):
    """(catalog, schema, table, type) of every table and view pyspark lists,
    without pyspark's own temporary views."""
    rows = []
    for database in spark.catalog.listDatabases():
        for table in spark.catalog.listTables(database.name):
            if not table.isTemporary:
                rows.append((table.catalog, database.name, table.name,
                             "VIEW" if table.tableType == "VIEW" else "TABLE"))
    return sorted(rows)


def table_schema(row):
    return pa.ipc.read_schema(pa.py_buffer(row["table_schema"]))


def query_schema(server, sql):
    client = flight.connect(server.uri)
    info = client.get_flight_info(descriptor(statement_query(sql)))
    return client.do_get(info.endpoints[0].ticket).read_all().schema


def accepted(spark, sql):
    """True when Spark's analyzer accepts `sql`."""
    try:
        spark.sql(sql).schema
        return True
    except Exception:  # pyspark raises its AnalysisException, ParseException...
        return False


# --- catalogs and schemas ----------------------------------------------------------------


def test_catalogs_and_schemas_match_pyspark(spark, server):
    catalogs = fetch(server, get_catalogs()).column("catalog_name").to_pylist()
    assert catalogs == sorted(c.name for c in spark.catalog.listCatalogs())
    schemas = [(r["catalog_name"], r["db_schema_name"]) for r in fetch(server, get_db_schemas()).to_pylist()]
    assert schemas == sorted((d.catalog, d.name) for d in spark.catalog.listDatabases())
    assert {("spark_catalog", n) for n in NAMESPACES} <= set(schemas)
    assert fetch(server, get_db_schemas(catalog="spark_catalog")).num_rows == len(schemas)
    assert fetch(server, get_db_schemas(catalog="no_such_catalog")).num_rows == 0


@pytest.mark.parametrize("pattern, names", [
    ("meta\\_sales\\_eu", ["meta_sales_eu"]),                 # escaped: a literal underscore
    ("meta\\_sales_eu", ["meta_sales_eu", "meta_salesxeu"]),  # '_' matches one character
    ("meta\\_sales%", ["meta_sales", "meta_sales_eu", "meta_salesxeu"]),
    ("META\\_SALES", []),                                     # case matters, as in Spark's LIKE
    ("meta.sales", []),                                       # '.' is literal, not a regex
])
def test_schema_patterns(server, pattern, names):
    got = fetch(server, get_db_schemas(schema_pattern=pattern)).column("db_schema_name").to_pylist()
    assert got == names


def test_a_pattern_spark_refuses_is_invalid_argument(server):
    client = flight.connect(server.uri)
    # Spark's LIKE allows the escape only before %, _ and itself.
    with pytest.raises(pa.ArrowInvalid, match="ESC_IN_THE_MIDDLE"):
        client.get_flight_info(descriptor(get_db_schemas(schema_pattern="meta\\sales")))


# --- tables ------------------------------------------------------------------------------


def test_tables_and_views_match_pyspark(spark, server):
    tables = fetch(server, get_tables()).to_pylist()
    keys = [(t["catalog_name"], t["db_schema_name"], t["table_name"], t["table_type"]) for t in tables]
    assert keys == reference_tables(spark)
    ours = {k for k in keys if k[1] in NAMESPACES}
    assert ours == {
        ("spark_catalog", "meta_sales", "big_orders", "VIEW"), ("spark_catalog", "meta_sales", "events", "TABLE"),
        ("spark_catalog", "meta_sales", "orders", "TABLE"), ("spark_catalog", "meta_sales", "spans", "VIEW"),
        ("spark_catalog", "meta_sales_eu", "t_1", "TABLE"), ("spark_catalog", "meta_sales_eu", "tx1", "TABLE"),
        ("spark_catalog", "meta_salesxeu", "mixedcase", "TABLE"),
        ("spark_catalog", "meta_salesxeu", "quotedcase", "TABLE"),
        ("spark_catalog", "meta_salesxeu", "broken", "VIEW")}


def test_temporary_views_are_session_scoped(spark, server):
    """A temporary view belongs to one Spark session; every metadata call runs
    in a Spark session of its own, so neither pyspark's nor a Flight SQL
    session's temporary view is listed (as DuckDB's temporary tables are not)."""
    client = flight.connect(server.uri)
    client.get_flight_info(descriptor(statement_query("CREATE OR REPLACE TEMP VIEW meta_flight_temp AS SELECT 1")))
    names = fetch(server, get_tables()).column("table_name").to_pylist()
    assert "meta_temp" not in names and "meta_flight_temp" not in names
    assert fetch(server, get_tables(table_types=["LOCAL TEMPORARY"])).num_rows == 0
    assert fetch(server, get_table_types()).column(0).to_pylist() == ["LOCAL TEMPORARY", "TABLE", "VIEW"]


@pytest.mark.parametrize("schema, pattern, types, names", [
    ("meta\\_sales\\_eu", "t\\_1", [], ["t_1"]),
    ("meta\\_sales\\_eu", "t_1", [], ["t_1", "tx1"]),
    ("meta\\_sales", "%", ["VIEW"], ["big_orders", "spans"]),
    ("meta\\_sales", "%", ["TABLE"], ["events", "orders"]),
    ("meta\\_sales", "%orders", ["TABLE", "VIEW"], ["big_orders", "orders"]),
    ("meta\\_sales", "Orders", [], []),
    ("meta%", "mixedcase", [], ["mixedcase"]),
])
def test_table_patterns_and_types(server, schema, pattern, types, names):
    got = fetch(server, get_tables(schema_pattern=schema, table_pattern=pattern, table_types=types))
    assert got.column("table_name").to_pylist() == names


def test_columns_match_pyspark_and_query_results(spark, server):
    rows = fetch(server, get_tables(schema_pattern="meta%", include_schema=True)).to_pylist()
    assert len(rows) == 9
    broken = next(r for r in rows if r["table_name"] == "broken")
    assert len(table_schema(broken)) == 0 and not accepted(spark, "SELECT * FROM meta_salesxeu.broken")
    for row in rows:
        if row is broken:
            continue
        catalog, schema, table = row["catalog_name"], row["db_schema_name"], row["table_name"]
        qualified = f"`{catalog}`.`{schema}`.`{table}`"
        columns = table_schema(row)
        # The Arrow types are those of a query of the table through Squadron.
        want = query_schema(server, f"SELECT * FROM {qualified}")
        assert columns.names == want.names and columns.types == want.types, table
        # Names, order, nullability, comments and Spark's type names are the catalog's.
        listed = spark.catalog.listColumns(f"{catalog}.{schema}.{table}")
        described = {r.col_name: r.data_type for r in spark.sql(f"DESCRIBE TABLE {qualified}").collect()}
        assert columns.names == [c.name for c in listed]
        for field, column in zip(columns, listed):
            meta = {k.decode(): v.decode() for k, v in field.metadata.items()}
            assert field.nullable == column.nullable
            assert meta["ARROW:FLIGHT:SQL:TYPE_NAME"] == described[column.name]
            if not described[column.name].startswith(("char(", "varchar(")):
                assert meta["ARROW:FLIGHT:SQL:TYPE_NAME"] == column.dataType  # listColumns reads them as string
            assert meta["ARROW:FLIGHT:SQL:REMARKS"] == (column.description or "")
            assert (meta["ARROW:FLIGHT:SQL:CATALOG_NAME"], meta["ARROW:FLIGHT:SQL:DB_SCHEMA_NAME"],
                    meta["ARROW:FLIGHT:SQL:TABLE_NAME"]) == (catalog, schema, table)
            assert meta["ARROW:FLIGHT:SQL:IS_READ_ONLY"] == ("1" if row["table_type"] == "VIEW" else "0")
    orders = table_schema(next(r for r in rows if r["table_name"] == "orders"))
    # Where pyspark converts the types itself (it has no Arrow type for
    # intervals), they agree too; time zones are named differently (UTC, Etc/UTC).
    reference = spark.sql("SELECT * FROM meta_sales.orders").toArrow().schema
    for ours, theirs in zip(orders, reference):
        if pa.types.is_timestamp(ours.type):
            assert (ours.type.unit, ours.type.tz is None) == (theirs.type.unit, theirs.type.tz is None), ours.name
        else:
            assert ours.type == theirs.type, ours.name
    meta = {f.name: {k.decode(): v.decode() for k, v in f.metadata.items()} for f in orders}
    assert (meta["amount"]["ARROW:FLIGHT:SQL:PRECISION"], meta["amount"]["ARROW:FLIGHT:SQL:SCALE"]) == ("12", "2")
    assert meta["note"]["ARROW:FLIGHT:SQL:PRECISION"] == "20" and meta["note"]["ARROW:FLIGHT:SQL:REMARKS"] == "free text"
    assert meta["note"]["ARROW:FLIGHT:SQL:IS_CASE_SENSITIVE"] == "1"
    assert meta["n"]["ARROW:FLIGHT:SQL:IS_CASE_SENSITIVE"] == "0"
    assert (meta["n"]["ARROW:FLIGHT:SQL:PRECISION"], meta["tiny"]["ARROW:FLIGHT:SQL:PRECISION"]) == ("10", "3")
    # No precision where Spark has none: clients derive it from the Arrow type.
    assert "ARROW:FLIGHT:SQL:PRECISION" not in meta["placed"] and "ARROW:FLIGHT:SQL:SCALE" not in meta["n"]
    assert orders.field("amount").type == pa.decimal128(12, 2)
    spans = table_schema(next(r for r in rows if r["table_name"] == "spans"))
    assert [str(t) for t in spans.types] == ["month_interval", "duration[us]"]  # pyarrow has no month_interval()


def test_no_keys_on_spark(server):
    assert fetch(server, get_primary_keys("orders", schema="meta_sales")).num_rows == 0


# --- ADBC --------------------------------------------------------------------------------


def test_adbc_get_objects_and_table_schema(spark, server):
    with flightsql.connect(server.uri, autocommit=True) as conn:
        objects = conn.adbc_get_objects(depth="all", db_schema_filter="meta%").read_all().to_pylist()
        got = {}
        for c in objects:
            for s in c["catalog_db_schemas"] or []:
                for t in s["db_schema_tables"] or []:
                    got[(c["catalog_name"], s["db_schema_name"], t["table_name"])] = [
                        col["column_name"] for col in t["table_columns"] or []]
        want = {}
        for catalog, schema, table, _ in reference_tables(spark):
            if schema in NAMESPACES:  # the broken view has no columns to give
                want[(catalog, schema, table)] = [] if table == "broken" else [
                    c.name for c in spark.catalog.listColumns(f"{schema}.{table}")]
        assert got == want
        catalogs = conn.adbc_get_objects(depth="catalogs").read_all().column("catalog_name").to_pylist()
        assert catalogs == sorted(c.name for c in spark.catalog.listCatalogs())
        assert conn.adbc_get_table_types() == ["LOCAL TEMPORARY", "TABLE", "VIEW"]
        schema = conn.adbc_get_table_schema("orders", db_schema_filter="meta_sales")
        assert schema.types == query_schema(server, "SELECT * FROM meta_sales.orders").types
        assert conn.adbc_get_info()["vendor_name"] == "Squadron"


# --- SqlInfo -----------------------------------------------------------------------------


def sql_info(server):
    table = fetch(server, get_sql_info())
    union = table.column("value").chunk(0)
    return {name: (union.type_codes[i].as_py(), union[i].as_py())
            for i, name in enumerate(table.column("info_name").to_pylist())}


def test_every_sql_info_id_has_a_value_of_the_declared_type(server):
    values = sql_info(server)
    assert not sorted(set(SPEC) - set(values))
    assert not {i: values[i][0] for i, kind in SPEC.items() if values[i][0] != kind}


def test_sql_info_dialect_is_sparks(spark, server):
    values = {i: v for i, (_, v) in sql_info(server).items()}
    keywords = [r[0] for r in spark.sql("SELECT DISTINCT upper(keyword) FROM sql_keywords() ORDER BY 1").collect()]
    assert values[508] == keywords and "PIVOT" in keywords
    functions = {r[0].upper() for r in spark.sql("SHOW SYSTEM FUNCTIONS").collect()}
    for info_id, members, strangers in [(509, {"ABS", "ROUND", "SQRT", "PMOD"}, {"LOWER", "DATE_TRUNC"}),
                                        (510, {"LOWER", "UPPER", "REGEXP_REPLACE"}, {"ABS"}),
                                        (511, {"CURRENT_DATABASE", "CURRENT_USER", "VERSION", "IFNULL"}, {"ABS"}),
                                        (512, {"DATE_TRUNC", "DATE_FORMAT", "YEAR"}, {"UPPER"})]:
        assert members <= set(values[info_id]) and not strangers & set(values[info_id]), info_id
        assert set(values[info_id]) <= functions and values[info_id] == sorted(values[info_id])
    assert values[504] == "`" and values[513] == "\\"
    assert values[531] == "catalog" and "spark" in values[1]


def test_sql_info_identifier_case_and_null_order_as_spark_behaves(spark, server):
    values = {i: v for i, (_, v) in sql_info(server).items()}
    # Spark stored meta_salesXeu.MixedCase and `QuotedCase` in lower case.
    stored = sorted(t.name for t in spark.catalog.listTables("meta_salesxeu") if not t.isTemporary and t.tableType != "VIEW")
    assert stored == ["mixedcase", "quotedcase"]
    assert values[503] == values[505] == 3  # SQL_CASE_SENSITIVITY_LOWERCASE
    ascending = [r.x for r in spark.sql("SELECT x FROM VALUES (1), (NULL), (2) AS t(x) ORDER BY x").collect()]
    descending = [r.x for r in spark.sql("SELECT x FROM VALUES (1), (NULL), (2) AS t(x) ORDER BY x DESC").collect()]
    assert ascending[0] is None and descending[-1] is None
    assert values[507] == 1  # SQL_NULLS_SORTED_LOW: first ascending, last descending


def test_sql_info_says_spark_has_no_transactions(server):
    values = {i: v for i, (_, v) in sql_info(server).items()}
    assert values[8] == 0          # FLIGHT_SQL_SERVER_TRANSACTION: SQL_SUPPORTED_TRANSACTION_NONE
    assert values[563] is False    # SQL_TRANSACTIONS_SUPPORTED
    assert values[562] == 0        # SQL_DEFAULT_TRANSACTION_ISOLATION: SQL_TRANSACTION_NONE
    assert values[564] == 1        # only the level NONE
    assert values[11] is False     # FLIGHT_SQL_SERVER_INGEST_TRANSACTIONS_SUPPORTED


# SqlSupportsConvert codes and a Spark type of each ODBC convert name.
CONVERT_TYPES = {
    0: "BIGINT", 1: "BINARY", 2: "BOOLEAN", 3: "CHAR(5)", 4: "DATE", 5: "DECIMAL(10, 2)", 6: "DOUBLE", 7: "INT",
    8: "INTERVAL DAY TO SECOND", 9: "INTERVAL YEAR TO MONTH", 10: "BINARY", 11: "STRING", 12: "DECIMAL(10, 2)",
    13: "FLOAT", 14: "SMALLINT", 15: "TIME", 16: "TIMESTAMP", 17: "TINYINT", 18: "BINARY", 19: "VARCHAR(5)",
}


def test_sql_info_conversions_are_the_casts_spark_accepts(spark, server):
    convert = dict({i: v for i, (_, v) in sql_info(server).items()}[517])
    mismatches = []
    for source, source_type in CONVERT_TYPES.items():
        for target, target_type in CONVERT_TYPES.items():
            spark_says = accepted(spark, f"SELECT CAST(CAST(NULL AS {source_type}) AS {target_type}) AS x")
            if spark_says != (target in convert.get(source, [])):
                mismatches.append((source_type, target_type, spark_says))
    assert not mismatches, f"(from, to, Spark accepts) where SqlInfo differs: {mismatches}"


# --- XdbcTypeInfo ------------------------------------------------------------------------

# A column type of each type name, for Spark to parse.
WITH_PARAMETERS = {"DECIMAL": "DECIMAL(10, 2)", "VARCHAR": "VARCHAR(5)", "CHAR": "CHAR(5)", "ARRAY": "ARRAY<INT>",
                   "MAP": "MAP<STRING, INT>", "STRUCT": "STRUCT<a: INT>"}
LITERALS = {"STRING": "abc", "BINARY": "0A0B", "DATE": "2024-01-02",
            "TIMESTAMP": "2024-01-02 03:04:05", "TIMESTAMP_NTZ": "2024-01-02 03:04:05", "INTERVAL YEAR": "1",
            "INTERVAL YEAR TO MONTH": "1-2", "INTERVAL MONTH": "3", "INTERVAL DAY": "4", "INTERVAL DAY TO HOUR": "1 02",
            "INTERVAL DAY TO MINUTE": "1 02:03", "INTERVAL DAY TO SECOND": "1 02:03:04", "INTERVAL HOUR": "5",
            "INTERVAL HOUR TO MINUTE": "01:02", "INTERVAL HOUR TO SECOND": "01:02:03", "INTERVAL MINUTE": "6",
            "INTERVAL MINUTE TO SECOND": "01:02", "INTERVAL SECOND": "7"}


def test_xdbc_type_info_names_sparks_types(spark, server):
    types = fetch(server, get_xdbc_type_info())
    assert types.schema == XDBC_TYPE_INFO_SCHEMA
    rows = types.to_pylist()
    keys = [(r["data_type"], r["type_name"]) for r in rows]
    assert keys == sorted(keys)
    by_name = {r["type_name"]: r for r in rows}
    for name in by_name:
        # Spark knows each name, and spells it the same (typeof is lower case).
        spelled = spark.sql(f"SELECT typeof(CAST(NULL AS {WITH_PARAMETERS.get(name, name)})) AS t").first().t
        # A value cast to CHAR or VARCHAR is a STRING; a column keeps them (below).
        want = "string" if name in ("CHAR", "VARCHAR") else name.lower()
        assert spelled.split("(")[0].split("<")[0] == want, name
    for name, value in LITERALS.items():
        row = by_name[name]
        literal = f"{row['literal_prefix']}{value}{row['literal_suffix']}"
        assert spark.sql(f"SELECT typeof({literal}) AS t").first().t.split("(")[0] == name.lower(), literal
    # Every type a column of the fixture has is listed.
    for table in ["meta_sales.orders", "meta_sales.spans"]:
        for column in spark.sql(f"DESCRIBE TABLE {table}").collect():
            assert column.data_type.split("(")[0].split("<")[0].upper() in by_name, column.data_type
    codes = {name: by_name[name]["data_type"] for name in
             ["BOOLEAN", "TINYINT", "SMALLINT", "INT", "BIGINT", "FLOAT", "DOUBLE", "DECIMAL", "STRING", "CHAR",
              "BINARY", "DATE", "TIMESTAMP", "TIMESTAMP_NTZ", "ARRAY", "STRUCT", "INTERVAL DAY TO SECOND"]}
    assert codes == {"BOOLEAN": 16, "TINYINT": -6, "SMALLINT": 5, "INT": 4, "BIGINT": -5, "FLOAT": 7, "DOUBLE": 8,
                     "DECIMAL": 3, "STRING": 12, "CHAR": 1, "BINARY": -3, "DATE": 91, "TIMESTAMP": 2014,
                     "TIMESTAMP_NTZ": 93, "ARRAY": 2003, "STRUCT": 2002, "INTERVAL DAY TO SECOND": 1111}
    assert by_name["DECIMAL"]["create_params"] == ["precision", "scale"]
    assert by_name["VARCHAR"]["create_params"] == ["length"]
    assert by_name["INTERVAL YEAR TO MONTH"]["sql_data_type"] == 10
    assert by_name["INTERVAL YEAR TO MONTH"]["datetime_subcode"] == 7
    assert by_name["DATE"]["sql_data_type"] == 9 and by_name["DATE"]["datetime_subcode"] == 1
    assert by_name["STRING"]["case_sensitive"] is True and by_name["STRING"]["searchable"] == 3
    # Spark compares arrays and structs, not maps.
    assert accepted(spark, "SELECT array(1) = array(1)") and by_name["ARRAY"]["searchable"] == 2
    assert not accepted(spark, "SELECT map(1, 2) = map(1, 2)") and by_name["MAP"]["searchable"] == 0
    only_varchar = fetch(server, get_xdbc_type_info(data_type=12)).column("type_name").to_pylist()
    assert only_varchar == ["STRING", "VARCHAR"]
