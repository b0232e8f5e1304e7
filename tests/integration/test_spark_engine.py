"""`squadron serve --engine spark`: Flight SQL on a real Spark Connect server
(started once per session from the pyspark wheel), through real clients.
The Spark engine is early (issue 11): these tests cover what it does so far."""

import decimal
import subprocess

import adbc_driver_flightsql.dbapi as flightsql
import pyarrow as pa
import pyarrow.flight as flight
import pytest

from conftest import BIN
from flightsql import descriptor, statement_query

SQL = """SELECT id, id * 3 AS triple, CAST(id AS STRING) AS s, CAST(id AS DECIMAL(12, 2)) AS d
         FROM range(50000)"""


def reference():
    ids = list(range(50000))
    return {"id": ids, "triple": [3 * i for i in ids], "s": [str(i) for i in ids],
            "d": [decimal.Decimal(i).quantize(decimal.Decimal("0.01")) for i in ids]}


def as_columns(table):
    table = table.sort_by("id")
    return {name: table.column(name).to_pylist() for name in table.column_names}




def test_statement_query_through_pyarrow(spark_server):
    client = flight.connect(spark_server.uri)
    info = client.get_flight_info(descriptor(statement_query(SQL)))
    table = pa.concat_tables(client.do_get(e.ticket).read_all() for e in info.endpoints)
    assert as_columns(table) == reference()


def test_prepared_query_through_adbc(spark_server):
    with flightsql.connect(spark_server.uri, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(SQL)
        table = cur.fetch_arrow_table()
    assert table.schema.field("d").type == pa.decimal128(12, 2)
    assert as_columns(table) == reference()


def test_squadron_query_cli(spark_server):
    run = subprocess.run([BIN, "query", "--uri", spark_server.uri, "SELECT 40 + 2 AS answer"], capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "42" in run.stdout


def test_ddl_then_query(spark_server):
    client = flight.connect(spark_server.uri)
    for sql in ["DROP TABLE IF EXISTS squadron_t",
                "CREATE TABLE squadron_t USING parquet AS SELECT id, id % 3 AS k FROM range(1000)"]:
        client.get_flight_info(descriptor(statement_query(sql)))
    info = client.get_flight_info(descriptor(statement_query("SELECT k, count(*) AS n FROM squadron_t GROUP BY k")))
    table = pa.concat_tables(client.do_get(e.ticket).read_all() for e in info.endpoints)
    got = dict(zip(table.column("k").to_pylist(), table.column("n").to_pylist()))
    assert got == {k: sum(1 for i in range(1000) if i % 3 == k) for k in range(3)}


def test_bad_sql_is_invalid_argument_with_sparks_message(spark_server):
    client = flight.connect(spark_server.uri)
    with pytest.raises(pa.ArrowInvalid, match="TABLE_OR_VIEW_NOT_FOUND"):
        client.get_flight_info(descriptor(statement_query("SELECT * FROM no_such_table")))


def test_unreachable_spark_at_start_is_a_clear_error():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run = subprocess.run([BIN, "serve", "--port", "0", "--engine", "spark", "--spark-connect",
                          f"sc://127.0.0.1:{port}", "--spark-connect-timeout", "2s"], capture_output=True, text=True, timeout=120,
                         env={"SQUADRON_LOG_LEVEL": "error", "PATH": "/usr/bin:/bin"})
    assert run.returncode == 1
    assert f"sc://127.0.0.1:{port}" in run.stderr and "unavailable" in run.stderr


def test_session_options_set_sparks_time_zone_and_database(spark_server):
    from test_sessions import Client
    from flightsql import INVALID_VALUE
    client = Client(spark_server.uri)
    client.query("CREATE DATABASE IF NOT EXISTS squadron_db")
    assert client.set_options(timezone="Asia/Tokyo", schema="squadron_db") == {}
    assert client.query("SELECT current_timezone() AS tz, current_database() AS db").to_pylist() == [
        {"tz": "Asia/Tokyo", "db": "squadron_db"}]
    # Spark refuses what it does not know; the session keeps its settings.
    assert client.set_options(timezone="Mars/Olympus_Mons") == {"timezone": INVALID_VALUE}
    assert client.set_options(schema="no_such_db") == {"schema": INVALID_VALUE}
    assert client.query("SELECT current_timezone() AS tz").to_pylist() == [{"tz": "Asia/Tokyo"}]
