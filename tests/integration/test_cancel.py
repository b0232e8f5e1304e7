"""Cancellation and timeouts: the named query stops, its resources go, others run on."""

import threading
import time

import adbc_driver_flightsql.dbapi as flightsql
import adbc_driver_manager
import pyarrow as pa
import pyarrow.flight as flight
import pytest

from flightsql import (CANCEL_STATUS_CANCELLED, CookieJar, cancel_flight_info_request,
                       cancel_query_request, decode_fields, decode_varint_field, descriptor,
                       set_session_options_request, statement_query, statement_update, unpack)

# Runs for minutes unless stopped.
ENDLESS = "SELECT sum(hash(i)) FROM range(100000000000) t(i)"
ENDLESS_ROWS = "SELECT i, hash(i) AS h FROM range(100000000000) t(i)"


def cpu_ticks(server):
    fields = open(f"/proc/{server.pid}/stat").read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def assert_idle(server):
    """The server burns (almost) no CPU over one second: no query still runs."""
    before = cpu_ticks(server)
    threading.Event().wait(1.0)
    assert cpu_ticks(server) - before < 20, "server still busy: a query kept running"


def wait_for_log(server, text, timeout=60):
    deadline = time.monotonic() + timeout
    while text not in server.log():
        assert time.monotonic() < deadline, server.log()
        threading.Event().wait(0.05)


def test_adbc_cancel_from_another_thread(start_server):
    server = start_server("--port", "0")
    with flightsql.connect(server.uri, autocommit=True) as conn:
        cur = conn.cursor()
        errors = []

        def run():
            try:
                cur.execute(ENDLESS)
                cur.fetchall()
            except Exception as e:  # the cancellation, checked below
                errors.append(e)

        worker = threading.Thread(target=run)
        worker.start()
        threading.Event().wait(0.5)  # let the query start; cancelling earlier is fine too
        cur.adbc_cancel()
        worker.join(timeout=60)
        assert not worker.is_alive()
        assert len(errors) == 1 and "CANCELLED" in str(errors[0])
        # GetFlightInfo answered at once; the cancel ended the DoGet, and with
        # it the query computing behind it.
        wait_for_log(server, "complete=false")
        assert_idle(server)
        cur.execute("SELECT 1")  # the connection is still good
        assert cur.fetchone() == (1,)


def cancel(client, info):
    action = flight.Action("CancelFlightInfo", cancel_flight_info_request(info))
    return decode_varint_field(list(client.do_action(action))[0].body.to_pybytes(), 1)


def test_cancel_flight_info_stops_only_the_named_stream(start_server):
    server = start_server("--port", "0", "--batch-rows", "4096")
    client = flight.connect(server.uri)
    victim_info = client.get_flight_info(descriptor(statement_query(ENDLESS_ROWS)))
    bystander_sql = "SELECT i FROM range(300000) t(i)"
    bystander_info = client.get_flight_info(descriptor(statement_query(bystander_sql)))
    victim = client.do_get(victim_info.endpoints[0].ticket)
    bystander = client.do_get(bystander_info.endpoints[0].ticket)
    victim.read_chunk()
    bystander.read_chunk()
    assert cancel(client, victim_info) == CANCEL_STATUS_CANCELLED
    with pytest.raises(flight.FlightCancelledError, match="Query cancelled \\(CancelFlightInfo\\)"):
        while True:
            victim.read_chunk()
    rest = bystander.read_all()
    assert rest.num_rows == 300000 - 2048  # the first chunk was one 2048-row vector
    assert_idle(server)


def test_deprecated_cancel_query_action(start_server):
    server = start_server("--port", "0")
    client = flight.connect(server.uri)
    info = client.get_flight_info(descriptor(statement_query(ENDLESS_ROWS)))
    reader = client.do_get(info.endpoints[0].ticket)
    reader.read_chunk()
    result = list(client.do_action(flight.Action("CancelQuery", cancel_query_request(info))))[0]
    fields = decode_fields(unpack(result.body.to_pybytes(), "ActionCancelQueryResult"))
    assert fields[1][0] == 1  # CANCEL_RESULT_CANCELLED
    # (chunk by chunk: pyarrow's read_all() turns a CANCELLED status into a simulated Ctrl-C)
    with pytest.raises(flight.FlightCancelledError):
        while True:
            reader.read_chunk()


def test_server_query_timeout(start_server):
    server = start_server("--port", "0", "--query-timeout", "1s")
    client = flight.connect(server.uri)
    # GetFlightInfo answers before the first rows; the timeout ends the stream.
    info = client.get_flight_info(descriptor(statement_query(ENDLESS)))
    assert info.total_records == -1
    with pytest.raises(flight.FlightTimedOutError, match="exceeded its timeout of 1s"):
        client.do_get(info.endpoints[0].ticket).read_chunk()
    # A stream read slowly runs out of time too.
    info = client.get_flight_info(descriptor(statement_query(ENDLESS_ROWS)))
    reader = client.do_get(info.endpoints[0].ticket)
    with pytest.raises(flight.FlightTimedOutError, match="exceeded its timeout"):
        while True:
            reader.read_chunk()
    # Updates too, and they leave nothing behind.
    writer, put_reader = client.do_put(
        descriptor(statement_update(f"CREATE TABLE never AS {ENDLESS}")), pa.schema([]))
    writer.done_writing()
    with pytest.raises(flight.FlightTimedOutError):
        put_reader.read()
        writer.close()
    with pytest.raises(pa.ArrowInvalid, match="never"):
        client.get_flight_info(descriptor(statement_query("SELECT * FROM never")))
    assert_idle(server)


def test_session_query_timeout_overrides_the_server(start_server):
    server = start_server("--port", "0")
    limited = flight.connect(server.uri, middleware=[CookieJar()])
    list(limited.do_action(flight.Action("SetSessionOptions", set_session_options_request({"query_timeout": 0.5}))))
    info = limited.get_flight_info(descriptor(statement_query(ENDLESS)))
    with pytest.raises(flight.FlightTimedOutError, match="timeout of 500ms"):
        limited.do_get(info.endpoints[0].ticket).read_chunk()
    # A client without that session is not limited (its query finishes on its own).
    other = flight.connect(server.uri)
    info = other.get_flight_info(descriptor(statement_query("SELECT sum(i) FROM range(50000000) t(i)")))
    assert other.do_get(info.endpoints[0].ticket).read_all().num_rows == 1
