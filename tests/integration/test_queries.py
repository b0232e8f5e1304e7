"""Flight SQL behaviour of the server through real clients."""

import datetime
import os
import signal
import subprocess
import sys
import threading

import adbc_driver_flightsql.dbapi as flightsql
import adbc_driver_manager
import duckdb
import pyarrow as pa
import pyarrow.flight as flight
import pytest

from flightsql import (CANCEL_STATUS_CANCELLED, CANCEL_STATUS_NOT_CANCELLABLE,
                       cancel_flight_info_request, decode_varint_field, descriptor, get_sql_info,
                       pack, pack_any, put_count, statement_query, statement_update)


def connect(server):
    return flightsql.connect(server.uri, autocommit=True)


def query_info(client, sql):
    return client.get_flight_info(descriptor(statement_query(sql)))


def test_ddl_and_dml_take_effect_without_fetch(server):
    with connect(server) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE no_fetch (id INTEGER, name VARCHAR)")
        cur.execute("INSERT INTO no_fetch SELECT range, 'n' || range FROM range(1000)")
        cur.execute("UPDATE no_fetch SET name = 'even' WHERE id % 2 = 0")
        # Nothing was fetched; a second, independent client sees every change.
    with connect(server) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*), count(*) FILTER (name = 'even') FROM no_fetch")
        assert cur.fetchone() == (1000, 500)


def test_adbc_runs_scripts_of_several_statements(server):
    with connect(server) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE scripted (x INTEGER); INSERT INTO scripted VALUES (1), (2); "
                    "SELECT sum(x) AS total FROM scripted")
        assert cur.fetchall() == [(3,)]
        cur.execute("INSERT INTO scripted VALUES (3); DELETE FROM scripted WHERE x = 1")
        cur.execute("SELECT list(x ORDER BY x) FROM scripted")
        assert cur.fetchone() == ([2, 3],)


def test_statement_runs_once_even_if_fetched_twice(server):
    client = flight.connect(server.uri)
    client.get_flight_info(descriptor(statement_query("CREATE TABLE once (x INTEGER)")))
    info = query_info(client, "INSERT INTO once SELECT * FROM range(10)")
    first = client.do_get(info.endpoints[0].ticket).read_all()
    assert first.column(0).to_pylist() == [10]
    with pytest.raises(KeyError, match="already fetched"):
        client.do_get(info.endpoints[0].ticket).read_all()
    result = client.do_get(query_info(client, "SELECT count(*) FROM once").endpoints[0].ticket)
    assert result.read_all().column(0).to_pylist() == [10]


def test_bad_sql_is_invalid_argument_with_duckdbs_message(server):
    client = flight.connect(server.uri)
    with pytest.raises(pa.ArrowInvalid, match="Table with name no_such_table does not exist"):
        query_info(client, "SELECT * FROM no_such_table")
    with pytest.raises(pa.ArrowInvalid, match='syntax error at or near "SELEC"'):
        query_info(client, "SELEC 1")
    with connect(server) as conn, conn.cursor() as cur:
        with pytest.raises(adbc_driver_manager.ProgrammingError) as e:
            cur.execute("SELECT 1 +")
        assert e.value.status_code == adbc_driver_manager.AdbcStatusCode.INVALID_ARGUMENT
        assert "Parser Error" in str(e.value)


def test_execution_errors_surface_at_get_flight_info(server):
    client = flight.connect(server.uri)
    with pytest.raises(pa.ArrowInvalid, match="Could not convert string 'x' to INT32"):
        query_info(client, "SELECT CAST(s AS INTEGER) FROM (VALUES ('1'), ('x')) t(s)")


def test_flight_info_describes_the_result(server):
    client = flight.connect(server.uri)
    sql = "SELECT range AS i, range::VARCHAR AS s FROM range(10)"
    info = query_info(client, sql)
    want = duckdb.sql(sql).fetch_arrow_table()
    assert info.schema == want.schema
    assert info.total_records == 10
    assert len(info.endpoints) == 1
    endpoint = info.endpoints[0]
    assert endpoint.locations == []  # fetch from this server on the same connection
    assert endpoint.expiration_time is not None
    got = client.do_get(endpoint.ticket).read_all()
    assert got.equals(want)


def test_large_result_has_unknown_total_and_streams_in_batches(server):
    client = flight.connect(server.uri)
    info = query_info(client, "SELECT range AS i FROM range(1000000)")
    assert info.total_records == -1
    reader = client.do_get(info.endpoints[0].ticket)
    sizes = [chunk.data.num_rows for chunk in reader]
    assert sum(sizes) == 1000000
    assert len(sizes) > 1
    assert max(sizes) <= 65536


def test_get_schema_does_not_execute(server):
    client = flight.connect(server.uri)
    client.get_flight_info(descriptor(statement_query("CREATE TABLE schema_only (x INTEGER)")))
    result = client.get_schema(descriptor(statement_query("SELECT x, x::VARCHAR AS s FROM schema_only")))
    assert result.schema == pa.schema([("x", pa.int32()), ("s", pa.string())])
    client.get_schema(descriptor(statement_query("INSERT INTO schema_only VALUES (1)")))
    rows = client.do_get(query_info(client, "SELECT count(*) FROM schema_only").endpoints[0].ticket)
    assert rows.read_all().column(0).to_pylist() == [0]
    with pytest.raises(pa.ArrowInvalid, match="no_such_table"):
        client.get_schema(descriptor(statement_query("SELECT * FROM no_such_table")))


def do_put_update(client, sql):
    return put_count(client, statement_update(sql))


def test_statement_update_through_do_put(server):
    client = flight.connect(server.uri)
    assert do_put_update(client, "CREATE TABLE put_target (x INTEGER)") == 0
    assert do_put_update(client, "INSERT INTO put_target SELECT * FROM range(42)") == 42
    assert do_put_update(client, "DELETE FROM put_target WHERE x >= 40") == 2
    with pytest.raises(pa.ArrowInvalid, match="put_target_missing"):
        do_put_update(client, "INSERT INTO put_target_missing VALUES (1)")


def test_adbc_execute_update(server):
    with connect(server) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE adbc_update (x INTEGER)")
        cur.adbc_statement.set_sql_query("INSERT INTO adbc_update SELECT * FROM range(5)")
        assert cur.adbc_statement.execute_update() == 5


def sql_info(client, ids=()):
    info = client.get_flight_info(descriptor(get_sql_info(ids)))
    table = client.do_get(info.endpoints[0].ticket).read_all()
    assert table.schema == info.schema
    return {name: value for name, value in zip(table.column("info_name").to_pylist(),
                                               table.column("value").chunk(0))}, table


def test_sql_info(server):
    client = flight.connect(server.uri)
    values, table = sql_info(client, [0, 2, 3, 8])
    assert values[0].as_py() == "Squadron"
    assert values[2].as_py() == pa.__version__.split("+")[0] or values[2].as_py()
    assert values[3].as_py() is False
    # FLIGHT_SQL_SERVER_TRANSACTION is an int32 in union child 3.
    union = table.column("value").chunk(0)
    row = table.column("info_name").to_pylist().index(8)
    assert union.type_codes[row].as_py() == 3
    assert values[8].as_py() == 1  # SQL_SUPPORTED_TRANSACTION_TRANSACTION: no savepoints
    everything, _ = sql_info(client)
    assert {0, 1, 2, 3, 4, 8, 504} <= set(everything)


def test_adbc_get_info(server):
    with connect(server) as conn:
        info = conn.adbc_get_info()
    assert info["vendor_name"] == "Squadron"
    assert "duckdb" in info["vendor_version"]


def test_unknown_commands_are_unimplemented_and_named(server):
    client = flight.connect(server.uri)
    with pytest.raises(pa.ArrowNotImplementedError, match="CommandStatementSubstraitPlan"):
        client.get_flight_info(descriptor(pack("CommandStatementSubstraitPlan")))
    with pytest.raises(pa.ArrowNotImplementedError, match="acme.Frobnicate"):
        client.get_flight_info(descriptor(pack_any("type.googleapis.com/acme.Frobnicate")))


def test_malformed_requests_are_invalid(server):
    client = flight.connect(server.uri)
    with pytest.raises(pa.ArrowInvalid, match="packed google.protobuf.Any"):
        client.get_flight_info(descriptor(b"\xff\xfe garbage"))
    with pytest.raises(pa.ArrowInvalid, match="path descriptors"):
        client.get_flight_info(flight.FlightDescriptor.for_path("some", "table"))
    with pytest.raises(pa.ArrowInvalid, match="is sent with DoPut"):
        client.get_flight_info(descriptor(statement_update("SELECT 1")))
    with pytest.raises(pa.ArrowInvalid, match="too short"):
        client.do_get(flight.Ticket(b"nope")).read_all()


def test_tampered_ticket_is_rejected(server):
    client = flight.connect(server.uri)
    ticket = query_info(client, "SELECT 42").endpoints[0].ticket.ticket
    for position in (1, len(ticket) // 2, len(ticket) - 1):
        tampered = bytearray(ticket)
        tampered[position] ^= 0x01
        with pytest.raises(pa.ArrowInvalid, match="signature does not match"):
            client.do_get(flight.Ticket(bytes(tampered))).read_all()
    # The genuine ticket still works: a failed attempt consumes nothing.
    assert client.do_get(flight.Ticket(ticket)).read_all().column(0).to_pylist() == [42]


def expiry(endpoint):
    """An endpoint's expiration_time as an aware datetime."""
    return datetime.datetime.fromtimestamp(endpoint.expiration_time.value / 1e9,
                                           tz=datetime.timezone.utc)


def wait_until(moment):
    """Blocks until the wall clock passes `moment` (a ticket expiry)."""
    while datetime.datetime.now(datetime.timezone.utc) <= moment:
        threading.Event().wait(0.05)


def test_expired_ticket_is_rejected(start_server):
    server = start_server("--port", "0", "--result-ttl", "1s")
    client = flight.connect(server.uri)
    endpoint = query_info(client, "SELECT 1").endpoints[0]
    expires = expiry(endpoint)
    now = datetime.datetime.now(datetime.timezone.utc)
    assert now < expires <= now + datetime.timedelta(seconds=2)
    wait_until(expires)
    with pytest.raises(KeyError, match="Ticket expired"):
        client.do_get(endpoint.ticket).read_all()


def test_unfetched_results_are_released_after_ttl(start_server):
    server = start_server("--port", "0", "--result-ttl", "1s", "--max-open-results", "2")
    client = flight.connect(server.uri)
    infos = [query_info(client, "SELECT * FROM range(100000)") for _ in range(2)]
    with pytest.raises(flight.FlightUnavailableError, match="Too many unfetched results"):
        query_info(client, "SELECT 1")
    wait_until(expiry(infos[-1].endpoints[0]))
    # The reaper frees the slots: new queries run again.
    deadline = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=30)
    while True:
        try:
            info = query_info(client, "SELECT 1")
            break
        except flight.FlightUnavailableError:
            assert datetime.datetime.now(datetime.timezone.utc) < deadline
            threading.Event().wait(0.05)
    assert client.do_get(info.endpoints[0].ticket).read_all().num_rows == 1
    assert "event=result_released reason=ttl_expired" in server.log()


def test_cancel_flight_info_releases_the_result(server):
    client = flight.connect(server.uri)
    info = query_info(client, "SELECT * FROM range(1000000)")
    def cancel():
        action = flight.Action("CancelFlightInfo", cancel_flight_info_request(info))
        results = list(client.do_action(action))
        assert len(results) == 1
        return decode_varint_field(results[0].body.to_pybytes(), 1)

    assert cancel() == CANCEL_STATUS_CANCELLED
    with pytest.raises(KeyError):
        client.do_get(info.endpoints[0].ticket).read_all()
    assert cancel() == CANCEL_STATUS_NOT_CANCELLABLE


def test_handshake_and_list_actions(server):
    class NoAuth(flight.ClientAuthHandler):
        def authenticate(self, outgoing, incoming):
            pass

        def get_token(self):
            return b""

    client = flight.connect(server.uri)
    client.authenticate(NoAuth())
    actions = {a.type for a in client.list_actions()}
    assert "CancelFlightInfo" in actions
    with pytest.raises(pa.ArrowNotImplementedError, match="NoSuchAction"):
        list(client.do_action(flight.Action("NoSuchAction", b"")))


def test_sixteen_concurrent_clients(server):
    """Each client runs its own queries at the same time; all answers are right."""
    with connect(server) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE shared_rows AS SELECT range AS i FROM range(200000)")
    errors = []
    results = {}
    barrier = threading.Barrier(16)

    def work(k):
        try:
            with connect(server) as conn, conn.cursor() as cur:
                barrier.wait()
                for round_ in range(5):
                    n = 1000 * (k + 1) + round_
                    cur.execute(f"SELECT count(*), sum(i) FROM shared_rows WHERE i < {n}")
                    results[(k, round_)] = (n, cur.fetchone())
                    cur.execute(f"SELECT i FROM shared_rows WHERE i % 16 = {k} ORDER BY i")
                    table = cur.fetch_arrow_table()
                    assert table.column(0).to_pylist() == list(range(k, 200000, 16))
        except Exception as e:  # reported below, with the client number
            errors.append((k, repr(e)))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors
    assert len(results) == 80
    for n, (count, total) in results.values():
        assert (count, total) == (n, n * (n - 1) // 2)


def test_open_long_streams_do_not_block_short_queries(server):
    """Results held open by slow readers keep their own DuckDB connections."""
    client = flight.connect(server.uri)
    held = []
    for _ in range(4):
        info = query_info(client, "SELECT * FROM range(100000000)")
        reader = client.do_get(info.endpoints[0].ticket)
        reader.read_chunk()  # started, then left unread: the stream stays open
        held.append(reader)
    with connect(server) as conn, conn.cursor() as cur:
        for n in range(1, 21):
            cur.execute(f"SELECT sum(i) FROM range({n}) t(i)")
            assert cur.fetchone() == (n * (n - 1) // 2,)
    # The held streams are still intact and continue where they stopped.
    assert held[0].read_chunk().data.num_rows > 0


CLIENT_THAT_DIES = """
import sys
import pyarrow.flight as flight
sys.path.insert(0, sys.argv[2])
from flightsql import descriptor, statement_query
client = flight.connect(sys.argv[1])
info = client.get_flight_info(descriptor(statement_query("SELECT * FROM range(100000000)")))
reader = client.do_get(info.endpoints[0].ticket)
reader.read_chunk()
print("reading", flush=True)
sys.stdin.read()  # wait to be killed
"""


def test_client_killed_mid_stream_leaves_the_server_healthy(start_server):
    server = start_server("--port", "0")
    here = os.path.dirname(__file__)
    for _ in range(3):
        proc = subprocess.Popen([sys.executable, "-c", CLIENT_THAT_DIES, server.uri, here],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert proc.stdout.readline() == b"reading\n"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    # The server noticed each broken stream and released its query...
    deadline = datetime.datetime.now() + datetime.timedelta(seconds=60)
    while server.log().count("complete=false") < 3:
        assert datetime.datetime.now() < deadline, server.log()
        threading.Event().wait(0.05)
    # ...and serves everyone else as before.
    client = flight.connect(server.uri)
    info = query_info(client, "SELECT count(*) FROM range(1000)")
    assert client.do_get(info.endpoints[0].ticket).read_all().column(0).to_pylist() == [1000]
