"""Bulk ingest (CommandStatementIngest): ADBC adbc_ingest and raw DoPut."""

import os
import subprocess
import sys
import time

import adbc_driver_flightsql.dbapi as flightsql
import adbc_driver_manager
import pyarrow as pa
import pyarrow.flight as flight
import pytest

from flightsql import (IF_EXISTS_APPEND, IF_EXISTS_FAIL, IF_NOT_EXIST_CREATE, IF_NOT_EXIST_FAIL,
                       begin_transaction_request, decode_fields, descriptor,
                       end_transaction_request, put_count, statement_ingest, statement_query, unpack, COMMIT)

TABLE = pa.table({
    "id": pa.array(range(1000), pa.int64()),
    "name": [f"row {i}" for i in range(1000)],
    "price": pa.array([i / 4 for i in range(1000)], pa.float64()),
    "day": pa.array([i % 365 for i in range(1000)], pa.int32()).cast(pa.date32()),
})


def rows(server, sql):
    client = flight.connect(server.uri)
    info = client.get_flight_info(descriptor(statement_query(sql)))
    return client.do_get(info.endpoints[0].ticket).read_all()


def test_adbc_ingest_create_append_replace(server):
    with flightsql.connect(server.uri, autocommit=True) as conn, conn.cursor() as cur:
        assert cur.adbc_ingest("ingested", TABLE, mode="create") == 1000
        assert rows(server, "SELECT * FROM ingested ORDER BY id").equals(TABLE)
        with pytest.raises(adbc_driver_manager.Error, match="already exists"):
            cur.adbc_ingest("ingested", TABLE, mode="create")
        assert cur.adbc_ingest("ingested", TABLE.slice(0, 10), mode="append") == 10
        assert rows(server, "SELECT count(*) FROM ingested").column(0).to_pylist() == [1010]
        small = pa.table({"only": ["a", "b"]})
        assert cur.adbc_ingest("ingested", small, mode="replace") == 2
        assert rows(server, "SELECT * FROM ingested").equals(small)
        assert cur.adbc_ingest("ingested_ca", TABLE.slice(0, 5), mode="create_append") == 5
        assert cur.adbc_ingest("ingested_ca", TABLE.slice(5, 5), mode="create_append") == 5
        assert rows(server, "SELECT sum(id) FROM ingested_ca").column(0).to_pylist() == [45]
        with pytest.raises(adbc_driver_manager.Error, match="does not exist"):
            cur.adbc_ingest("never_created", TABLE, mode="append")


def put(client, command, batches, schema):
    return put_count(client, command, batches, schema)


def test_incompatible_batches_leave_the_table_unchanged(server):
    client = flight.connect(server.uri)
    schema = pa.schema([("id", pa.int64()), ("small", pa.int64())])
    assert put(client, statement_ingest("guarded"), [pa.record_batch([pa.array([1]), pa.array([1])], schema=schema)],
               schema) == 1
    client.get_flight_info(descriptor(statement_query("ALTER TABLE guarded ALTER small TYPE INTEGER")))
    ok = pa.record_batch([pa.array(range(1000)), pa.array(range(1000))], schema=schema)
    too_big = pa.record_batch([pa.array([5]), pa.array([2 ** 40])], schema=schema)
    with pytest.raises(pa.ArrowInvalid, match="out of range|Conversion"):
        put(client, statement_ingest("guarded", IF_NOT_EXIST_FAIL, IF_EXISTS_APPEND), [ok, ok, too_big], schema)
    wrong_columns = pa.schema([("id", pa.int64()), ("surprise", pa.string())])
    with pytest.raises(pa.ArrowInvalid, match="surprise"):
        put(client, statement_ingest("guarded", IF_NOT_EXIST_FAIL, IF_EXISTS_APPEND),
            [pa.record_batch([pa.array([1]), pa.array(["x"])], schema=wrong_columns)], wrong_columns)
    assert rows(server, "SELECT count(*) FROM guarded").column(0).to_pylist() == [1]


WRITER_THAT_DIES = """
import sys
import pyarrow as pa
import pyarrow.flight as flight
sys.path.insert(0, sys.argv[2])
from flightsql import descriptor, statement_ingest, IF_NOT_EXIST_FAIL, IF_EXISTS_APPEND
schema = pa.schema([("id", pa.int64())])
client = flight.connect(sys.argv[1])
writer, reader = client.do_put(descriptor(statement_ingest("broken", IF_NOT_EXIST_FAIL, IF_EXISTS_APPEND)), schema)
for i in range(5):
    writer.write_batch(pa.record_batch([pa.array(range(i * 10000, (i + 1) * 10000))], schema=schema))
print("sent", flush=True)
sys.stdin.read()  # killed here, mid-stream
"""


def test_a_stream_that_breaks_midway_changes_nothing(start_server):
    server = start_server("--port", "0")
    client = flight.connect(server.uri)
    schema = pa.schema([("id", pa.int64())])
    put(client, statement_ingest("broken"), [pa.record_batch([pa.array([-1])], schema=schema)], schema)
    proc = subprocess.Popen([sys.executable, "-c", WRITER_THAT_DIES, server.uri, os.path.dirname(__file__)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdout.readline() == b"sent\n"
    proc.kill()
    proc.wait()
    # The server sees the broken stream, rolls back, and logs it.
    deadline = time.monotonic() + 60
    while "event=ingest_failed" not in server.log():
        assert time.monotonic() < deadline, server.log()
        time.sleep(0.05)
    assert rows(server, "SELECT count(*), min(id) FROM broken").to_pylist() == [
        {"count_star()": 1, "min(id)": -1}]


def test_raw_ingest_options(server):
    client = flight.connect(server.uri)
    schema = pa.schema([("v", pa.string())])
    batch = pa.record_batch([pa.array(["x", "y"])], schema=schema)
    with pytest.raises(KeyError, match="does not exist"):
        put(client, statement_ingest("opts", IF_NOT_EXIST_FAIL, IF_EXISTS_APPEND), [batch], schema)
    client.get_flight_info(descriptor(statement_query("CREATE SCHEMA staging")))
    assert put(client, statement_ingest("opts", schema="staging", catalog="memory"), [batch], schema) == 2
    assert rows(server, "SELECT count(*) FROM memory.staging.opts").column(0).to_pylist() == [2]
    with pytest.raises(pa.ArrowInvalid, match="temporary tables within a transaction"):
        put(client, statement_ingest("temp_opts", temporary=True), [batch], schema)
    # In a transaction a temporary table works, and is gone with the transaction's connection.
    result = list(client.do_action(flight.Action("BeginTransaction", begin_transaction_request())))[0]
    tx = decode_fields(unpack(result.body.to_pybytes(), "ActionBeginTransactionResult"))[1][0]
    assert put(client, statement_ingest("temp_opts", temporary=True, transaction_id=tx), [batch], schema) == 2
    info = client.get_flight_info(descriptor(statement_query("SELECT count(*) FROM temp_opts", tx)))
    assert client.do_get(info.endpoints[0].ticket).read_all().column(0).to_pylist() == [2]
    list(client.do_action(flight.Action("EndTransaction", end_transaction_request(tx, COMMIT))))
    with pytest.raises(pa.ArrowInvalid, match="temp_opts"):
        rows(server, "SELECT * FROM temp_opts")


def test_read_only_refuses_ingest(start_server):
    server = start_server("--port", "0", "--read-only")
    client = flight.connect(server.uri)
    schema = pa.schema([("v", pa.int64())])
    with pytest.raises(flight.FlightUnauthorizedError, match="read-only"):
        put(client, statement_ingest("nope"), [pa.record_batch([pa.array([1])], schema=schema)], schema)
