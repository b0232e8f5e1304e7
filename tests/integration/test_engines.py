"""The same Flight SQL behaviour on both engines: queries, types, prepared
statements, DDL/DML, ingest, metadata, cancellation and polling, run against
`--engine duckdb` and `--engine spark` (a real Spark Connect server). Each
result is compared with the engine's own client on the same SQL: DuckDB's
Python client (in-process, same setup statements) or pyspark's Spark Connect
client (`toArrow()`, same server)."""

import threading
import time

import adbc_driver_flightsql.dbapi as flightsql
import duckdb
import pyarrow as pa
import pyarrow.flight as flight
import pytest

from conftest import ServerProcess
from flightsql import (CANCEL_STATUS_CANCELLED, cancel_flight_info_request, decode_varint_field, descriptor,
                       get_tables, statement_query)

# Works in both dialects.
SETUP = [
    "DROP TABLE IF EXISTS eng_items",
    "CREATE TABLE eng_items (id BIGINT, name VARCHAR(20), price DECIMAL(10, 2), day DATE)",
    "INSERT INTO eng_items VALUES (1, 'apple', 1.25, DATE '2024-01-02'), (2, 'pear', 0.75, DATE '2024-02-29'),"
    " (3, NULL, 12.00, NULL)",
]
TYPES = """SELECT CAST(1 AS TINYINT) AS i8, CAST(2 AS SMALLINT) AS i16, CAST(3 AS INT) AS i32,
                  CAST(4 AS BIGINT) AS i64, CAST(1.5 AS FLOAT) AS f32, CAST(2.25 AS DOUBLE) AS f64,
                  CAST(123.45 AS DECIMAL(10, 2)) AS dec, CAST(-1.5 AS DECIMAL(38, 10)) AS dec38,
                  'h\u00e9llo' AS s, true AS b, DATE '2024-02-29' AS d, CAST(NULL AS INT) AS n"""
# Slow enough to cancel or poll, on each engine.
SLOW = {
    "duckdb": "SELECT count(*) AS n FROM range(100000000000) t(i) WHERE hash(i) % 1000000007 = 3",
    "spark": "SELECT count(*) AS n FROM range(0, 100000000000, 1, 4000) WHERE hash(id) % 1000000007 = 3",
}
PROGRESS = {
    "duckdb": ("CREATE TABLE IF NOT EXISTS eng_big AS SELECT range AS i FROM range(20000000)",
               "SELECT count(*) AS n FROM eng_big WHERE hash(i) % 1000000007 = 3 OR md5(i::VARCHAR) = 'x'"),
    "spark": (None, "SELECT count(DISTINCT hash(id) % 1000) AS n FROM range(0, 600000000, 1, 24)"),
}


class Engine:
    def __init__(self, name, server, reference):
        self.name, self.server, self._reference = name, server, reference

    def reference(self, sql):
        return self._reference(sql)

    def run(self, sql):
        with flightsql.connect(self.server.uri, autocommit=True) as conn, conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetch_arrow_table()


@pytest.fixture(scope="module", params=["duckdb", "spark"])
def engine(request, tmp_path_factory):
    log = tmp_path_factory.mktemp(f"engine-{request.param}") / "squadron.log"
    if request.param == "duckdb":
        server = ServerProcess(["--port", "0"], log)
        local = duckdb.connect()
        for sql in SETUP:
            local.execute(sql)
        reference = lambda sql: local.execute(sql).fetch_arrow_table()  # noqa: E731
    else:
        spark_connect = request.getfixturevalue("spark_connect")
        pyspark = request.getfixturevalue("pyspark_session")
        server = ServerProcess(["--port", "0", "--engine", "spark", "--spark-connect", spark_connect], log)
        reference = lambda sql: pyspark.sql(sql).toArrow()  # noqa: E731
    engine = Engine(request.param, server, reference)
    for sql in SETUP:
        engine.run(sql)
    yield engine
    server.stop()


def same(got, reference):
    assert got.schema.remove_metadata() == reference.schema.remove_metadata()
    assert got.to_pylist() == reference.to_pylist()


def test_types_match_the_engines_own_client(engine):
    got = engine.run(TYPES)
    same(got, engine.reference(TYPES))
    assert got.schema.field("dec").type == pa.decimal128(10, 2)
    # Each column says what the engine calls its type.
    assert got.schema.field("i64").metadata[b"ARROW:FLIGHT:SQL:TYPE_NAME"] == b"BIGINT"


def test_query_a_table_through_pyarrow_and_adbc(engine):
    sql = "SELECT id, name, price, day FROM eng_items ORDER BY id"
    client = flight.connect(engine.server.uri)
    info = client.get_flight_info(descriptor(statement_query(sql)))
    through_flight = pa.concat_tables(client.do_get(e.ticket).read_all() for e in info.endpoints)
    reference = engine.reference(sql)
    assert through_flight.to_pylist() == reference.to_pylist()
    same(engine.run(sql), reference)


def test_prepared_statement_with_parameters(engine):
    with flightsql.connect(engine.server.uri, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("SELECT id, name FROM eng_items WHERE id >= ? AND id < ? ORDER BY id", parameters=(2, 10))
        got = cur.fetchall()
    assert got == [tuple(r.values()) for r in engine.reference(
        "SELECT id, name FROM eng_items WHERE id >= 2 AND id < 10 ORDER BY id").to_pylist()]


def test_ddl_dml_and_ingest(engine):
    with flightsql.connect(engine.server.uri, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS eng_written")
        cur.execute("CREATE TABLE eng_written (k BIGINT, v VARCHAR(10))")
        cur.executemany("INSERT INTO eng_written VALUES (?, ?)", [(1, "a"), (2, "b")])
        data = pa.table({"k": pa.array([3, 4], pa.int64()), "v": pa.array(["c", None])})
        assert cur.adbc_ingest("eng_written", data, mode="append") == 2
    sql = "SELECT k, v FROM eng_written ORDER BY k"
    got = engine.run(sql)
    assert got.to_pylist() == [{"k": 1, "v": "a"}, {"k": 2, "v": "b"}, {"k": 3, "v": "c"}, {"k": 4, "v": None}]
    if engine.name == "spark":  # the reference sees what the server wrote (DuckDB's is another process)
        assert got.to_pylist() == engine.reference(sql).to_pylist()


def test_metadata_lists_the_table_with_its_columns(engine):
    client = flight.connect(engine.server.uri)
    info = client.get_flight_info(descriptor(get_tables(table_pattern="eng_items", include_schema=True)))
    tables = pa.concat_tables(client.do_get(e.ticket).read_all() for e in info.endpoints)
    assert tables.column("table_name").to_pylist() == ["eng_items"]
    columns = pa.ipc.read_schema(pa.py_buffer(tables.column("table_schema")[0].as_py()))
    reference = engine.reference("SELECT * FROM eng_items")
    assert columns.names == reference.schema.names
    assert columns.types == reference.schema.types


def test_cancel_flight_info(engine):
    client = flight.connect(engine.server.uri)
    info = client.get_flight_info(descriptor(statement_query(SLOW[engine.name])))
    reader = client.do_get(info.endpoints[0].ticket)
    time.sleep(1)
    action = flight.Action("CancelFlightInfo", cancel_flight_info_request(info))
    assert decode_varint_field(list(client.do_action(action))[0].body.to_pybytes(), 1) == CANCEL_STATUS_CANCELLED
    with pytest.raises(flight.FlightCancelledError):
        while True:  # (chunk by chunk: read_all() turns CANCELLED into a simulated Ctrl-C)
            reader.read_chunk()


def test_poll_reports_progress(engine):
    setup, sql = PROGRESS[engine.name]
    if setup:
        engine.run(setup)
    with flightsql.connect(engine.server.uri, autocommit=True) as conn, conn.cursor() as cur:
        cur.adbc_statement.set_options(**{"adbc.statement.exec.incremental": "true"})
        out = {}
        worker = threading.Thread(target=lambda: out.setdefault("r", cur.adbc_execute_partitions(sql)))
        worker.start()
        seen = []
        while worker.is_alive():
            seen.append(cur.adbc_statement.get_option_float("adbc.statement.exec.progress"))
            time.sleep(0.05)
        worker.join()
        partitions, _ = out["r"]
        assert any(0 < p < 1 for p in seen), seen
        running = [p for p in seen if p > 0]
        assert running == sorted(running)  # only forward
        cur.adbc_read_partition(partitions[0])
        got = cur.fetchall()
    if engine.name == "spark":
        assert got == [tuple(r.values()) for r in engine.reference(sql).to_pylist()]
    else:
        local = duckdb.connect()
        local.execute(setup)
        assert got == local.execute(sql).fetchall()
