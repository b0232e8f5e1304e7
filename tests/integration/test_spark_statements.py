"""`--engine spark`: sessions, parameters, DML, bulk ingest, transactions,
cancellation, timeouts and progress, on a real Spark Connect server (one per
test session), through ADBC and pyarrow.flight. Results are compared with
pyspark's own Spark Connect client (`toArrow()`) on the same SQL."""

import os
import subprocess
import sys
import threading

import adbc_driver_flightsql.dbapi as flightsql
import adbc_driver_manager
import pyarrow as pa
import pyarrow.compute  # noqa: F401 (pa.compute)
import pyarrow.flight as flight
import pytest

from conftest import running_jobs, wait_until
from flightsql import (begin_transaction_request, cancel_flight_info_request, decode_varint_field, descriptor,
                       statement_ingest, statement_query, CANCEL_STATUS_CANCELLED)

# Creates the table from its stream, sends 50,000 rows, then waits to be killed.
WRITER_THAT_DIES = """
import sys
import pyarrow as pa
import pyarrow.compute  # noqa: F401 (pa.compute)
import pyarrow.flight as flight
sys.path.insert(0, sys.argv[2])
from flightsql import descriptor, statement_ingest, IF_NOT_EXIST_CREATE, IF_EXISTS_FAIL
schema = pa.schema([("id", pa.int64())])
client = flight.connect(sys.argv[1])
writer, reader = client.do_put(descriptor(statement_ingest("broken_ingest", IF_NOT_EXIST_CREATE, IF_EXISTS_FAIL)),
                               schema)
for i in range(5):
    writer.write_batch(pa.record_batch([pa.array(range(i * 10000, (i + 1) * 10000))], schema=schema))
print("sent", flush=True)
sys.stdin.read()  # killed here, mid-stream
"""

# A query that computes for many seconds before its one row: a Spark job of
# thousands of tasks.
SLOW = "SELECT sum(hash(id)) AS h FROM range(0, 200000000000, 1, 4000)"




def connect(server):
    return flightsql.connect(server.uri, autocommit=True)


def same(table, reference):
    """Equal schemas (types, names, nullability; not metadata) and rows."""
    assert table.schema.remove_metadata() == reference.schema.remove_metadata()
    assert table.to_pylist() == reference.to_pylist()


# --- sessions -------------------------------------------------------------------

def test_set_and_temporary_views_last_for_the_connection(spark_server):
    with connect(spark_server) as a, a.cursor() as cur, connect(spark_server) as b, b.cursor() as other:
        cur.execute("SET spark.sql.shuffle.partitions=7")
        cur.fetchall()
        cur.execute("SET spark.sql.shuffle.partitions")
        assert cur.fetchall() == [("spark.sql.shuffle.partitions", "7")]
        cur.execute("CREATE OR REPLACE TEMPORARY VIEW answer AS SELECT 42 AS x")
        cur.fetchall()
        cur.execute("SELECT x FROM answer")
        assert cur.fetchall() == [(42,)]
        # Another connection is another Spark session: neither is visible there.
        other.execute("SET spark.sql.shuffle.partitions")
        assert other.fetchall() != [("spark.sql.shuffle.partitions", "7")]
        with pytest.raises(adbc_driver_manager.ProgrammingError, match="TABLE_OR_VIEW_NOT_FOUND"):
            other.execute("SELECT x FROM answer")


def test_a_cookie_session_keeps_its_spark_session_and_closing_it_releases_it(spark_server):
    from test_sessions import Client
    client = Client(spark_server.uri)
    client.get_options()  # opens the session: the cookie comes back
    client.query("CREATE OR REPLACE TEMPORARY VIEW mine AS SELECT 'kept' AS v")
    assert client.query("SELECT v FROM mine").to_pylist() == [{"v": "kept"}]
    client.close_session()
    assert "event=spark_session_released reason=client_closed" in spark_server.log()
    fresh = Client(spark_server.uri)
    with pytest.raises(pa.ArrowInvalid, match="TABLE_OR_VIEW_NOT_FOUND"):
        fresh.query("SELECT v FROM mine")


# --- parameters, DML ------------------------------------------------------------

def test_positional_parameters_are_bound_as_literals(spark_server, pyspark_session):
    sql = "SELECT ? + 1 AS x, upper(?) AS s, ? AS d, ? IS NULL AS n"
    values = [41, "it's; DROP TABLE x --", pa.scalar(1.25).cast(pa.decimal128(10, 2)).as_py(), None]
    with connect(spark_server) as conn, conn.cursor() as cur:
        cur.execute(sql, parameters=values)
        got = cur.fetch_arrow_table()
    # pyspark binds a Python int as INT, ADBC an int64 as BIGINT: the values
    # agree, and each type is the one bound.
    reference = pyspark_session.sql(sql, args=values).toArrow()
    assert got.to_pylist() == reference.to_pylist()
    assert got.column("s").to_pylist() == ["IT'S; DROP TABLE X --"]
    assert got.schema.field("x").type == pa.int64()


def test_named_parameters(spark_server, pyspark_session):
    sql = "SELECT :a * 2 AS doubled, concat(:b, '!') AS shout"
    params = pa.record_batch([pa.array([21], pa.int64()), pa.array(["hey"])], names=["a", "b"])
    with connect(spark_server) as conn, conn.cursor() as cur:
        cur.execute(sql, parameters=params)
        got = cur.fetch_arrow_table()
    assert got.to_pylist() == pyspark_session.sql(sql, args={"a": 21, "b": "hey"}).toArrow().to_pylist()
    assert got.schema.field("doubled").type == pa.int64()


def test_prepared_statement_describes_parameters_and_result(spark_server):
    # Spark names no parameter types: each is advertised as float64 (engine.h).
    client = flight.connect(spark_server.uri)
    from flightsql import create_prepared_statement_request, decode_fields, unpack
    result = list(client.do_action(flight.Action(
        "CreatePreparedStatement", create_prepared_statement_request("SELECT CAST(? AS BIGINT) AS a, ? AS b"))))
    fields = decode_fields(unpack(result[0].body.to_pybytes(), "ActionCreatePreparedStatementResult"))
    dataset = pa.ipc.read_schema(pa.py_buffer(fields[2][0]))
    parameters = pa.ipc.read_schema(pa.py_buffer(fields[3][0]))
    assert dataset.names == ["a", "b"] and dataset.field("a").type == pa.int64()
    assert dataset.field("a").metadata[b"ARROW:FLIGHT:SQL:TYPE_NAME"] == b"BIGINT"
    assert parameters.types == [pa.float64(), pa.float64()]


def test_dml_with_parameter_sets_and_update_counts(spark_server, pyspark_session):
    with connect(spark_server) as conn, conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS spark_dml")
        cur.execute("CREATE TABLE spark_dml (id BIGINT, name STRING) USING parquet")
        cur.executemany("INSERT INTO spark_dml VALUES (?, ?)", [(1, "one"), (2, "two"), (3, None)])
        cur.execute("INSERT INTO spark_dml SELECT id + 10, CAST(id AS STRING) FROM range(5)")
        # Spark's file tables report no count of changed rows: -1, unknown.
        assert cur.rowcount == -1
        cur.execute("SELECT * FROM spark_dml ORDER BY id")
        got = cur.fetch_arrow_table()
    same(got, pyspark_session.sql("SELECT * FROM spark_dml ORDER BY id").toArrow())
    assert got.num_rows == 8


# --- bulk ingest -------------------------------------------------------------------

def test_adbc_ingest_create_append_replace(spark_server, pyspark_session):
    data = pa.table({"id": pa.array(range(100_000), pa.int64()),
                     "name": pa.array([f"n{i}" for i in range(100_000)]),
                     "price": pa.array([i / 4 for i in range(100_000)], pa.float64())})
    with connect(spark_server) as conn, conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS ingested")
        assert cur.adbc_ingest("ingested", data, mode="create") == 100_000
        with pytest.raises(adbc_driver_manager.Error, match="already exists"):
            cur.adbc_ingest("ingested", data, mode="create")
        # Columns are matched by name.
        assert cur.adbc_ingest("ingested", data.select(["price", "id", "name"]).slice(0, 10), mode="append") == 10
    reference = pyspark_session.sql("SELECT * FROM ingested ORDER BY id, price").toArrow()
    expected = pa.concat_tables([data, data.slice(0, 10)]).sort_by([("id", "ascending"), ("price", "ascending")])
    assert reference.select(["id", "name", "price"]).to_pylist() == expected.to_pylist()
    with connect(spark_server) as conn, conn.cursor() as cur:
        other = pa.table({"k": pa.array(["a", "b"])})
        assert cur.adbc_ingest("ingested", other, mode="replace") == 2
    pyspark_session.sql("REFRESH TABLE ingested")  # its cache of the table it read before
    assert pyspark_session.sql("SELECT * FROM ingested ORDER BY k").toArrow().to_pylist() == [{"k": "a"}, {"k": "b"}]
    leftovers = pyspark_session.sql("SHOW TABLES LIKE '_squadron_ingest_*'").toArrow()
    assert leftovers.num_rows == 0


def test_an_ingest_stream_that_breaks_leaves_nothing(spark_server, pyspark_session):
    pyspark_session.sql("DROP TABLE IF EXISTS broken_ingest")
    client = flight.connect(spark_server.uri)
    proc = subprocess.Popen([sys.executable, "-c", WRITER_THAT_DIES, spark_server.uri, os.path.dirname(__file__)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdout.readline() == b"sent\n"
    proc.kill()
    proc.wait()
    wait_until(lambda: "event=ingest_failed" in spark_server.log(), "the broken ingest to be seen")
    assert pyspark_session.sql("SHOW TABLES LIKE 'broken_ingest'").toArrow().num_rows == 0
    wait_until(lambda: pyspark_session.sql("SHOW TABLES LIKE '_squadron_ingest_*'").toArrow().num_rows == 0,
               "the staging table to be dropped")
    del client


# --- transactions ----------------------------------------------------------------

def test_transactions_are_unimplemented_with_a_message(spark_server):
    client = flight.connect(spark_server.uri)
    with pytest.raises(pa.ArrowNotImplementedError, match="Transactions are not available on the spark engine"):
        list(client.do_action(flight.Action("BeginTransaction", begin_transaction_request())))


# --- cancellation, timeouts, progress -------------------------------------------------

def test_cancel_flight_info_stops_the_spark_job(spark_server, spark_connect):
    client = flight.connect(spark_server.uri)
    info = client.get_flight_info(descriptor(statement_query(SLOW)))  # answers once planned
    reader = client.do_get(info.endpoints[0].ticket)
    wait_until(lambda: len(running_jobs(spark_connect)) > 0, "the Spark job to start")
    action = flight.Action("CancelFlightInfo", cancel_flight_info_request(info))
    assert decode_varint_field(list(client.do_action(action))[0].body.to_pybytes(), 1) == CANCEL_STATUS_CANCELLED
    with pytest.raises(flight.FlightCancelledError):
        while True:
            reader.read_chunk()
    wait_until(lambda: running_jobs(spark_connect) == [], "Spark to have no running job")


READER_THAT_DIES = """
import sys
import pyarrow.flight as flight
sys.path.insert(0, sys.argv[2])
from flightsql import descriptor, statement_query
client = flight.connect(sys.argv[1])
info = client.get_flight_info(descriptor(statement_query(sys.argv[3])))
reader = client.do_get(info.endpoints[0].ticket)
print("reading", flush=True)
reader.read_chunk()  # killed here, waiting for rows
"""


def test_a_client_that_disconnects_stops_the_spark_job(spark_server, spark_connect):
    proc = subprocess.Popen([sys.executable, "-c", READER_THAT_DIES, spark_server.uri, os.path.dirname(__file__),
                             SLOW], stdout=subprocess.PIPE)
    assert proc.stdout.readline() == b"reading\n"
    wait_until(lambda: len(running_jobs(spark_connect)) > 0, "the Spark job to start")
    proc.kill()
    proc.wait()
    wait_until(lambda: running_jobs(spark_connect) == [], "Spark to have no running job")


def test_query_timeout_interrupts_spark(spark_connect, tmp_path):
    from conftest import ServerProcess
    server = ServerProcess(["--port", "0", "--engine", "spark", "--spark-connect", spark_connect,
                            "--query-timeout", "3s"], tmp_path / "squadron.log")
    try:
        client = flight.connect(server.uri)
        info = client.get_flight_info(descriptor(statement_query(SLOW)))
        with pytest.raises(flight.FlightTimedOutError, match="timeout"):
            client.do_get(info.endpoints[0].ticket).read_chunk()
        wait_until(lambda: running_jobs(spark_connect) == [], "Spark to have no running job")
    finally:
        server.stop()


# --- types ---------------------------------------------------------------------

EVERY_TYPE = """
SELECT CAST(id AS TINYINT) AS i8, CAST(id AS SMALLINT) AS i16, CAST(id AS INT) AS i32, id AS i64,
       CAST(id / 3 AS FLOAT) AS f32, id / 7 AS f64, CAST(id / 3 AS DECIMAL(10, 2)) AS dec,
       CAST(id * 1234567890123 AS DECIMAL(38, 6)) AS dec38, CAST(id AS STRING) AS s,
       CAST(CAST(id AS STRING) AS VARCHAR(10)) AS vc, CAST(concat('b', id) AS BINARY) AS bin, id % 2 = 0 AS b,
       date_add(DATE '2024-02-28', CAST(id AS INT)) AS d,
       TIMESTAMP '2024-03-10 12:34:56.789012' + make_interval(0, 0, 0, 0, CAST(id AS INT), 0, 0) AS ts,
       TIMESTAMP_NTZ '2024-03-10 12:34:56.789012' AS ts_ntz,
       INTERVAL '2-3' YEAR TO MONTH AS ym, INTERVAL '1 02:03:04.5' DAY TO SECOND AS dt,
       array(id, id + 1, NULL) AS arr, named_struct('a', id, 'b', CAST(id AS STRING)) AS st,
       map('k', id, 'l', id * 2) AS m, array(named_struct('x', array(id))) AS nested,
       IF(id = 1, NULL, id) AS maybe
FROM range(5)
"""


@pytest.mark.parametrize("timezone", [None, "Asia/Kolkata"])
def test_every_spark_type_matches_pysparks_to_arrow(spark_server, spark_connect, timezone):
    from test_sessions import Client
    client = Client(spark_server.uri)
    if timezone:
        assert client.set_options(timezone=timezone) == {}
    got = client.query(EVERY_TYPE + " ORDER BY i64")
    from pyspark.sql import SparkSession
    reference_session = SparkSession.builder.remote(str(spark_connect)).create()
    try:
        if timezone:
            reference_session.conf.set("spark.sql.session.timeZone", timezone)
        # pyspark's toArrow() cannot convert year-month intervals: checked apart.
        reference = reference_session.sql(f"SELECT * EXCEPT (ym) FROM ({EVERY_TYPE}) ORDER BY i64").toArrow()
    finally:
        reference_session.stop()
    # TIMESTAMP carries the session's time zone, as in Spark's own Arrow
    # batches; pyspark relabels it UTC. The instants are the same.
    session_zone = got.schema.field("ts").type.tz
    assert session_zone == (timezone or "Etc/UTC")
    at_utc = got.drop_columns(["ym"]).cast(pa.schema(
        [pa.field(f.name, pa.timestamp("us", "UTC"), f.nullable) if f.name == "ts" else f
         for f in got.drop_columns(["ym"]).schema]))
    assert at_utc.schema.remove_metadata() == reference.schema.remove_metadata()
    assert at_utc.to_pylist() == reference.to_pylist()
    # Spark's YearMonthIntervalType is Arrow's month interval (which pyarrow
    # can carry but not convert to Python).
    assert got.schema.field("ym").type.id == pa.lib.Type_INTERVAL_MONTHS
    names = {f.name: f.metadata[b"ARROW:FLIGHT:SQL:TYPE_NAME"].decode() for f in got.schema}
    assert names["dec"] == "DECIMAL(10,2)" and names["ts_ntz"] == "TIMESTAMP_NTZ" and names["m"] == "MAP<STRING,BIGINT>"
    assert got.schema.field("dec38").metadata[b"ARROW:FLIGHT:SQL:PRECISION"] == b"38"
    # The schema Spark's analysis gives is the stream's.
    with flightsql.connect(spark_server.uri, autocommit=True) as conn, conn.cursor() as cur:
        prepared = cur.adbc_execute_schema(EVERY_TYPE)  # GetSchema: Spark's analysis
    if not timezone:  # (ADBC's connection has no session option: Spark's default time zone)
        assert prepared == got.schema


# --- long results: reattachable execution ----------------------------------------------

def test_a_long_result_survives_sparks_stream_limits(spark_server, pyspark_session):
    # The session's Spark ends each result stream after 4 MB
    # (senderMaxStreamSize, conftest): the server reattaches where it stopped.
    sql = "SELECT id, id * 7 AS x, CAST(id AS STRING) AS s FROM range(0, 3000000, 1, 6)"
    client = flight.connect(spark_server.uri)
    info = client.get_flight_info(descriptor(statement_query(sql)))
    reader = client.do_get(info.endpoints[0].ticket)
    rows, checksum = 0, 0
    for chunk in reader:
        rows += chunk.data.num_rows
        checksum += pa.compute.sum(chunk.data.column("x")).as_py() or 0
    reference = pyspark_session.sql(f"SELECT count(*) AS n, sum(x) AS x FROM ({sql})").toArrow().to_pylist()[0]
    assert (rows, checksum) == (reference["n"], reference["x"])
    wait_until(lambda: "event=spark_stream_reattached" in spark_server.log(), "the reattach to be logged")
    line = [l for l in spark_server.log().splitlines() if "event=spark_stream_reattached" in l][-1]
    assert "complete=true" in line
