"""Flight SQL transactions: ADBC autocommit off, and the raw actions."""

import datetime
import threading

import adbc_driver_flightsql.dbapi as flightsql
import pyarrow as pa
import pyarrow.flight as flight
import pytest

from flightsql import (COMMIT, ROLLBACK, begin_transaction_request, create_prepared_statement_request,
                       decode_fields, decode_varint_field, descriptor, end_transaction_request, pack,
                       prepared_statement_update, put_count, statement_query, statement_update, unpack)


def count(server, table):
    with flightsql.connect(server.uri, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM {table}")
        return cur.fetchone()[0]


def test_adbc_autocommit_off_rollback_and_commit(server):
    with flightsql.connect(server.uri, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE adbc_tx (x INTEGER)")
    with flightsql.connect(server.uri) as conn:  # autocommit off: every statement in a transaction
        cur = conn.cursor()
        cur.execute("INSERT INTO adbc_tx VALUES (1), (2)")
        conn.rollback()
        assert count(server, "adbc_tx") == 0
        cur.executemany("INSERT INTO adbc_tx VALUES (?)", [(3,), (4,), (5,)])
        cur.execute("SELECT count(*) FROM adbc_tx")
        assert cur.fetchone() == (3,)          # the transaction sees its own writes...
        assert count(server, "adbc_tx") == 0   # ...others do not, until commit
        conn.commit()
        assert count(server, "adbc_tx") == 3


class Raw:
    def __init__(self, uri):
        self.client = flight.connect(uri)

    def action(self, name, body):
        return [r.body.to_pybytes() for r in self.client.do_action(flight.Action(name, body))]

    def begin(self):
        result = self.action("BeginTransaction", begin_transaction_request())[0]
        return decode_fields(unpack(result, "ActionBeginTransactionResult"))[1][0]

    def end(self, transaction_id, action):
        return self.action("EndTransaction", end_transaction_request(transaction_id, action))

    def query(self, sql, transaction_id=None):
        info = self.client.get_flight_info(descriptor(statement_query(sql, transaction_id)))
        return self.client.do_get(info.endpoints[0].ticket).read_all()

    def update(self, sql, transaction_id=None):
        return put_count(self.client, statement_update(sql, transaction_id))


def test_raw_transaction_with_ddl_dml_and_prepared_statements(server):
    raw = Raw(server.uri)
    tx = raw.begin()
    assert raw.update("CREATE TABLE raw_tx (k INTEGER, v VARCHAR)", tx) == 0
    # A statement prepared in the transaction sees the table the transaction created.
    result = raw.action("CreatePreparedStatement", create_prepared_statement_request("INSERT INTO raw_tx VALUES (?, ?)", tx))[0]
    handle = decode_fields(unpack(result, "ActionCreatePreparedStatementResult"))[1][0]
    batch = pa.record_batch([pa.array([1, 2], pa.int32()), pa.array(["a", "b"])], names=["k", "v"])
    writer, reader = raw.client.do_put(descriptor(prepared_statement_update(handle)), batch.schema)
    writer.write_batch(batch)
    writer.done_writing()
    assert decode_varint_field(reader.read().to_pybytes(), 1) == 2
    writer.close()
    assert raw.query("SELECT count(*) FROM raw_tx", tx).column(0).to_pylist() == [2]
    with pytest.raises(pa.ArrowInvalid, match="raw_tx"):
        raw.query("SELECT count(*) FROM raw_tx")  # outside the transaction it does not exist yet
    raw.end(tx, ROLLBACK)
    with pytest.raises(pa.ArrowInvalid, match="raw_tx"):
        raw.query("SELECT count(*) FROM raw_tx")
    tx = raw.begin()
    raw.update("CREATE TABLE raw_tx (k INTEGER)", tx)
    raw.update("INSERT INTO raw_tx VALUES (7)", tx)
    raw.end(tx, COMMIT)
    assert raw.query("SELECT k FROM raw_tx").column(0).to_pylist() == [7]


def test_unknown_and_ended_transactions_are_not_found(server):
    raw = Raw(server.uri)
    with pytest.raises(KeyError, match="Unknown transaction id"):
        raw.query("SELECT 1", b"no such transaction")
    tx = raw.begin()
    raw.end(tx, COMMIT)
    for call in (lambda: raw.query("SELECT 1", tx), lambda: raw.update("SELECT 1", tx),
                 lambda: raw.end(tx, ROLLBACK)):
        with pytest.raises(KeyError, match="Unknown transaction id"):
            call()


def test_end_transaction_needs_commit_or_rollback(server):
    raw = Raw(server.uri)
    tx = raw.begin()
    with pytest.raises(pa.ArrowInvalid, match="must be COMMIT or ROLLBACK"):
        raw.end(tx, 0)
    raw.end(tx, ROLLBACK)


def test_savepoints_are_unimplemented(server):
    raw = Raw(server.uri)
    tx = raw.begin()
    with pytest.raises(pa.ArrowNotImplementedError, match="DuckDB has no savepoints"):
        raw.action("BeginSavepoint", pack("ActionBeginSavepointRequest"))
    raw.end(tx, ROLLBACK)


def test_a_later_statement_supersedes_an_unread_result(server):
    raw = Raw(server.uri)
    tx = raw.begin()
    big = raw.client.get_flight_info(descriptor(statement_query("SELECT * FROM range(1000000)", tx)))
    assert raw.query("SELECT 42", tx).column(0).to_pylist() == [42]
    with pytest.raises(KeyError, match="superseded by a later statement"):
        raw.client.do_get(big.endpoints[0].ticket).read_all()
    raw.end(tx, ROLLBACK)


def test_idle_transactions_roll_back(start_server):
    server = start_server("--port", "0", "--transaction-idle-timeout", "1s")
    raw = Raw(server.uri)
    raw.update("CREATE TABLE idle_tx (x INTEGER)")
    tx = raw.begin()
    raw.update("INSERT INTO idle_tx VALUES (1)", tx)
    # With no call at all, the server rolls it back by itself (and frees its connection).
    deadline = datetime.datetime.now() + datetime.timedelta(seconds=60)
    while "event=transactions_rolled_back reason=idle count=1" not in server.log():
        assert datetime.datetime.now() < deadline, server.log()
        threading.Event().wait(0.05)
    with pytest.raises(KeyError, match="Unknown transaction id"):
        raw.update("INSERT INTO idle_tx VALUES (2)", tx)
    assert raw.query("SELECT count(*) FROM idle_tx").column(0).to_pylist() == [0]


def test_read_only_transactions_refuse_writes(start_server, tmp_path):
    init = tmp_path / "init.sql"
    init.write_text("CREATE TABLE ro (x INTEGER);")
    server = start_server("--port", "0", "--read-only", "--init-sql", str(init))
    raw = Raw(server.uri)
    tx = raw.begin()
    assert raw.query("SELECT count(*) FROM ro", tx).column(0).to_pylist() == [0]
    with pytest.raises(flight.FlightUnauthorizedError, match="read-only"):
        raw.update("INSERT INTO ro VALUES (1)", tx)
    raw.end(tx, ROLLBACK)


def test_closing_a_session_rolls_back_its_transactions(server):
    from flightsql import CookieJar, set_session_options_request
    jar = CookieJar()
    raw = Raw(server.uri)
    raw.client = flight.connect(server.uri, middleware=[jar])
    raw.action("SetSessionOptions", set_session_options_request({"timezone": "UTC"}))
    raw.update("CREATE TABLE session_tx (x INTEGER)")
    tx = raw.begin()
    raw.update("INSERT INTO session_tx VALUES (1)", tx)
    # Another session cannot use it...
    stranger = Raw(server.uri)
    stranger.client = flight.connect(server.uri, middleware=[CookieJar()])
    stranger.action("SetSessionOptions", set_session_options_request({"timezone": "UTC"}))
    with pytest.raises(KeyError, match="Unknown transaction id"):
        stranger.update("INSERT INTO session_tx VALUES (2)", tx)
    # ...and closing the owner's session rolls it back.
    raw.action("CloseSession", b"")
    assert Raw(server.uri).query("SELECT count(*) FROM session_tx").column(0).to_pylist() == [0]


@pytest.mark.parametrize("last", ["update", "query"])
def test_a_script_that_leaves_a_transaction_open_does_not_hold_its_rows(server, last):
    # A statement that is a script opening a transaction ("BEGIN; UPDATE
    # ...") leaves its connection mid-transaction: the server must not hand
    # that connection to anyone else, and must roll the transaction back when
    # it drops the connection, whatever the script ran last. Were the
    # connection kept alive (it once was, by its last statement's result
    # collector), the row would stay locked: the later update would fail with
    # a write-write conflict.
    raw = Raw(server.uri)
    table = f"script_tx_{last}"
    raw.update(f"CREATE TABLE {table} (id INTEGER, x INTEGER)")
    raw.update(f"INSERT INTO {table} VALUES (1, 0), (2, 0)")
    script = f"BEGIN; UPDATE {table} SET x = 1 WHERE id = 1"
    if last == "update":
        raw.update(script)
    else:
        raw.query(script + f"; SELECT x FROM {table} WHERE id = 2")
    # Rolled back, and not on a connection the next statements get: were the
    # connection pooled again mid-transaction, this would read its x = 1.
    assert Raw(server.uri).query(f"SELECT x FROM {table} WHERE id = 1").column(0).to_pylist() == [0]
    assert raw.update(f"UPDATE {table} SET x = 2 WHERE id = 1") == 1
    assert raw.query(f"SELECT id, x FROM {table} ORDER BY id").to_pydict() == {"id": [1, 2], "x": [2, 0]}
