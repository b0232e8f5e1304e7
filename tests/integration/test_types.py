"""Every DuckDB type with an Arrow equivalent round-trips, NULLs included.

The reference is DuckDB's own Python client running the same SQL in process:
the values (and types) a client gets from Squadron must equal it exactly.
"""

import duckdb
import pyarrow as pa
import pyarrow.flight as flight
import pytest
import adbc_driver_flightsql.dbapi as flightsql

from flightsql import descriptor, statement_query

SETUP = "CREATE TYPE IF NOT EXISTS mood AS ENUM ('sad', 'ok', 'happy')"


def values(sql_type, *literals):
    rows = ", ".join(f"(({lit})::{sql_type})" for lit in (*literals, "NULL"))
    return f"SELECT v FROM (VALUES {rows}) t(v)"


TYPES = {
    "boolean": values("BOOLEAN", "true", "false"),
    "tinyint": values("TINYINT", "-128", "127"),
    "smallint": values("SMALLINT", "-32768", "32767"),
    "integer": values("INTEGER", "-2147483648", "2147483647"),
    "bigint": values("BIGINT", "-9223372036854775808", "9223372036854775807"),
    "utinyint": values("UTINYINT", "0", "255"),
    "usmallint": values("USMALLINT", "0", "65535"),
    "uinteger": values("UINTEGER", "0", "4294967295"),
    "ubigint": values("UBIGINT", "0", "18446744073709551615"),
    "hugeint": values("HUGEINT", "-17014118346046923173168730371588410572",
                      "17014118346046923173168730371588410572"),
    "float": values("FLOAT", "-1.5", "3.25", "'inf'"),
    "double": values("DOUBLE", "-1.5e300", "2.5e-300", "'-inf'"),
    "decimal_4_1": values("DECIMAL(4,1)", "-999.9", "123.4"),
    "decimal_18_3": values("DECIMAL(18,3)", "-999999999999999.999", "0.001"),
    "decimal_38_10": values("DECIMAL(38,10)", "1234567890123456789012345678.0123456789", "-1"),
    "varchar": values("VARCHAR", "''", "'plain'", "'ünïcødé ✈'"),
    "blob": values("BLOB", "'\\xAA\\x00\\xFF'::BLOB", "''::BLOB"),
    "date": values("DATE", "DATE '1970-01-01'", "DATE '2024-02-29'", "DATE '0001-01-01'"),
    "time": values("TIME", "TIME '00:00:00'", "TIME '23:59:59.999999'"),
    "timestamp": values("TIMESTAMP", "TIMESTAMP '2024-02-29 12:34:56.789012'",
                        "TIMESTAMP '1900-01-01 00:00:00'"),
    "timestamp_s": values("TIMESTAMP_S", "TIMESTAMP '2024-02-29 12:34:56'"),
    "timestamp_ms": values("TIMESTAMP_MS", "TIMESTAMP '2024-02-29 12:34:56.789'"),
    "timestamp_ns": values("TIMESTAMP_NS", "TIMESTAMP '2024-02-29 12:34:56.789012'"),
    "timestamptz": values("TIMESTAMPTZ", "TIMESTAMPTZ '2024-02-29 12:34:56.789+05:30'"),
    "interval": values("INTERVAL", "INTERVAL '1 year 2 months 3 days 04:05:06.789'",
                       "INTERVAL '-3 days'"),
    "uuid": values("UUID", "'00000000-0000-0000-0000-000000000000'",
                   "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'"),
    "enum": values("mood", "'sad'", "'happy'"),
    "list": values("INTEGER[]", "[1, 2, NULL]", "[]"),
    "list_of_lists": values("VARCHAR[][]", "[['a'], NULL, []]"),
    "struct": values("STRUCT(a INTEGER, b VARCHAR)", "{'a': 1, 'b': 'x'}",
                     "{'a': NULL, 'b': NULL}"),
    "map": values("MAP(VARCHAR, INTEGER)", "MAP {'k': 1, 'l': NULL}", "MAP {}"),
    "list_of_structs": values("STRUCT(x DOUBLE, tags VARCHAR[])[]",
                              "[{'x': 1.5, 'tags': ['a', 'b']}, NULL]"),
}


@pytest.fixture(scope="module")
def reference():
    con = duckdb.connect()
    con.execute(SETUP)
    return con


@pytest.fixture(scope="module")
def adbc(server):
    with flightsql.connect(server.uri, autocommit=True) as conn:
        with conn.cursor() as cur:
            cur.execute(SETUP)
        yield conn


def expected(reference, sql):
    return reference.sql(sql).fetch_arrow_table()


@pytest.mark.parametrize("name", sorted(TYPES))
def test_type_round_trips_through_adbc(name, reference, adbc):
    sql = TYPES[name]
    with adbc.cursor() as cur:
        cur.execute(sql)
        got = cur.fetch_arrow_table()
    want = expected(reference, sql)
    assert got.schema.field("v").type == want.schema.field("v").type
    assert got.num_rows == want.num_rows
    assert got.column("v").null_count == 1
    assert got.to_pylist() == want.to_pylist()


@pytest.mark.parametrize("name", sorted(TYPES))
def test_type_round_trips_through_pyarrow_flight(name, reference, adbc, server):
    sql = TYPES[name]
    client = flight.connect(server.uri)
    info = client.get_flight_info(descriptor(statement_query(sql)))
    got = client.do_get(info.endpoints[0].ticket).read_all()
    want = expected(reference, sql)
    assert info.schema == want.schema
    assert got.schema == want.schema
    assert got.equals(want)


def test_all_types_in_one_wide_result(reference, adbc):
    """All columns side by side, so batches mix every type."""
    columns = ", ".join(f"(SELECT list(v) FROM ({sql})) AS {name}" for name, sql in TYPES.items())
    sql = f"SELECT {columns}"
    with adbc.cursor() as cur:
        cur.execute(sql)
        got = cur.fetch_arrow_table()
    want = expected(reference, sql)
    assert got.schema == want.schema
    assert got.to_pylist() == want.to_pylist()
