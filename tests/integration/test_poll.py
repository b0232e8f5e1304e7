"""PollFlightInfo: long queries run in the background; clients poll for progress."""

import threading

import adbc_driver_flightsql.dbapi as flightsql
import adbc_driver_manager
import duckdb
import pyarrow.flight as flight
import pytest

from flightsql import CANCEL_STATUS_CANCELLED, cancel_flight_info_request, decode_varint_field
from test_cancel import assert_idle

ROWS = 20_000_000
# A full scan that takes a few seconds: DuckDB reports progress for table scans.
SLOW = "SELECT count(*) AS n FROM big WHERE hash(i) % 1000000007 = 3 OR md5(i::VARCHAR) = 'x'"
LAST_FLIGHT_INFO = "adbc.flight.sql.statement.exec.last_flight_info"


@pytest.fixture
def big_server(start_server):
    server = start_server("--port", "0")
    with flightsql.connect(server.uri, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(f"CREATE TABLE big AS SELECT range AS i FROM range({ROWS})")
    return server


def incremental(cur):
    cur.adbc_statement.set_options(**{"adbc.statement.exec.incremental": "true"})


def test_incremental_execution_reports_progress(big_server):
    with flightsql.connect(big_server.uri, autocommit=True) as conn, conn.cursor() as cur:
        incremental(cur)
        out = {}
        worker = threading.Thread(target=lambda: out.setdefault("r", cur.adbc_execute_partitions(SLOW)))
        worker.start()
        seen = []
        while worker.is_alive():
            seen.append(cur.adbc_statement.get_option_float("adbc.statement.exec.progress"))
            threading.Event().wait(0.02)
        worker.join()
        partitions, schema = out["r"]
        assert len(partitions) == 1
        assert any(0 < p < 1 for p in seen), seen          # progress was reported while it ran
        assert all(0 <= p <= 1 for p in seen)
        running = [p for p in seen if p > 0]
        assert running == sorted(running)                  # and it only went forward
        cur.adbc_read_partition(partitions[0])
        got = cur.fetchall()
    reference = duckdb.connect()
    reference.execute(f"CREATE TABLE big AS SELECT range AS i FROM range({ROWS})")
    assert got == reference.execute(SLOW).fetchall()
    assert "event=query_executed mode=poll" in big_server.log()


def test_poll_reports_sql_errors_at_once(big_server):
    with flightsql.connect(big_server.uri, autocommit=True) as conn, conn.cursor() as cur:
        incremental(cur)
        with pytest.raises(adbc_driver_manager.ProgrammingError, match="no_such_table"):
            cur.adbc_execute_partitions("SELECT * FROM no_such_table")


def test_cancel_flight_info_stops_a_running_poll(big_server):
    with flightsql.connect(big_server.uri, autocommit=True) as conn, conn.cursor() as cur:
        incremental(cur)
        errors = []

        def run():
            try:
                cur.adbc_execute_partitions(SLOW.replace("count(*)", "count(*) + sum(length(md5(md5(i::VARCHAR))))"))
            except Exception as e:  # the cancellation, checked below
                errors.append(e)

        worker = threading.Thread(target=run)
        worker.start()
        info_bytes = b""
        while not info_bytes and worker.is_alive():
            threading.Event().wait(0.02)
            try:
                info_bytes = cur.adbc_statement.get_option_bytes(LAST_FLIGHT_INFO)
            except adbc_driver_manager.Error:
                pass  # no poll answered yet
        info = flight.FlightInfo.deserialize(info_bytes)
        client = flight.connect(big_server.uri)
        result = list(client.do_action(flight.Action("CancelFlightInfo", cancel_flight_info_request(info))))
        assert decode_varint_field(result[0].body.to_pybytes(), 1) == CANCEL_STATUS_CANCELLED
        worker.join(timeout=120)
        assert not worker.is_alive()
        assert len(errors) == 1 and "CANCELLED" in str(errors[0]), errors
    assert_idle(big_server)
