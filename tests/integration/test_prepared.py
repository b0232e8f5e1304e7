"""Prepared statements and parameters, through ADBC and the raw protocol."""

import datetime
import decimal

import adbc_driver_flightsql.dbapi as flightsql
import adbc_driver_manager
import duckdb
import pyarrow as pa
import pyarrow.flight as flight
import pytest

from flightsql import (close_prepared_statement_request, create_prepared_statement_request,
                       decode_fields, descriptor, get_sql_info,
                       prepared_statement_query, prepared_statement_update, put, put_count, statement_query, unpack)

ROWS = [
    (1, 1.5, decimal.Decimal("12.34"), "alpha", datetime.date(2024, 2, 29),
     datetime.datetime(2024, 2, 29, 12, 34, 56, 789000)),
    (2, -0.25, decimal.Decimal("-0.01"), "βeta ✈", datetime.date(1970, 1, 1),
     datetime.datetime(1999, 12, 31, 23, 59, 59)),
    (3, None, None, None, None, None),
]
CREATE = ("CREATE TABLE {name} (id BIGINT PRIMARY KEY, x DOUBLE, price DECIMAL(10, 2), "
          "label VARCHAR, day DATE, seen_at TIMESTAMP)")


def connect(server):
    return flightsql.connect(server.uri, autocommit=True)


def test_executemany_and_parameterized_queries_match_duckdb(server):
    reference = duckdb.connect()
    reference.execute(CREATE.format(name="typed"))
    reference.executemany("INSERT INTO typed VALUES (?, ?, ?, ?, ?, ?)", ROWS)
    with connect(server) as conn, conn.cursor() as cur:
        cur.execute(CREATE.format(name="typed"))
        cur.executemany("INSERT INTO typed VALUES (?, ?, ?, ?, ?, ?)", ROWS)
        assert cur.rowcount == 3
        for sql, params in [
            ("SELECT * FROM typed ORDER BY id", None),
            ("SELECT * FROM typed WHERE id = ?", (2,)),
            ("SELECT * FROM typed WHERE price > ? ORDER BY id", (decimal.Decimal("0"),)),
            ("SELECT id FROM typed WHERE label = ? OR day = ?", ("alpha", datetime.date(1970, 1, 1))),
            ("SELECT id FROM typed WHERE seen_at < ? ORDER BY id", (datetime.datetime(2000, 1, 1),)),
            ("SELECT ? IS NULL AS is_null, ?::VARCHAR AS echoed", (None, 7.5)),
        ]:
            cur.execute(sql, params)
            got = cur.fetch_arrow_table()
            want = reference.execute(sql, params).fetch_arrow_table()
            assert got.to_pylist() == want.to_pylist(), sql


def test_executemany_is_all_or_nothing(server):
    with connect(server) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE atomic (id INTEGER PRIMARY KEY, v VARCHAR)")
        cur.execute("INSERT INTO atomic VALUES (3, 'existing')")
        with pytest.raises(adbc_driver_manager.ProgrammingError, match="Duplicate key"):
            cur.executemany("INSERT INTO atomic VALUES (?, ?)", [(1, "a"), (2, "b"), (3, "c"), (4, "d")])
        cur.execute("SELECT id FROM atomic ORDER BY id")
        assert cur.fetchall() == [(3,)]


def create(client, sql):
    results = list(client.do_action(flight.Action("CreatePreparedStatement",
                                                  create_prepared_statement_request(sql))))
    assert len(results) == 1
    fields = decode_fields(unpack(results[0].body.to_pybytes(), "ActionCreatePreparedStatementResult"))
    handle = fields[1][0]
    dataset_schema = pa.ipc.read_schema(pa.py_buffer(fields[2][0]))
    parameter_schema = pa.ipc.read_schema(pa.py_buffer(fields[3][0]))
    is_update = bool(fields.get(4, [0])[0])
    return handle, dataset_schema, parameter_schema, is_update


def close(client, handle):
    list(client.do_action(flight.Action("ClosePreparedStatement", close_prepared_statement_request(handle))))


def bind(client, handle, batch):
    return decode_fields(put(client, prepared_statement_query(handle), [batch]))


def run(client, handle):
    info = client.get_flight_info(descriptor(prepared_statement_query(handle)))
    return info, client.do_get(info.endpoints[0].ticket).read_all()


def update(client, handle, batch=None):
    return put_count(client, prepared_statement_update(handle), [batch] if batch is not None else [])


def test_prepared_statement_actions_and_binding(server):
    client = flight.connect(server.uri)
    client.get_flight_info(descriptor(statement_query(
        "CREATE TABLE raw_prepared AS SELECT range AS n, 'v' || range AS s FROM range(100)")))
    handle, dataset_schema, parameter_schema, is_update = create(
        client, "SELECT n, s FROM raw_prepared WHERE n BETWEEN ? AND ? ORDER BY n")
    assert not is_update
    assert dataset_schema == pa.schema([("n", pa.int64()), ("s", pa.string())])
    assert parameter_schema.types == [pa.int64(), pa.int64()]

    # GetSchema of the handle agrees, without running anything.
    assert client.get_schema(descriptor(prepared_statement_query(handle))).schema == dataset_schema

    # Two parameter rows: the results follow each other.
    params = pa.record_batch([pa.array([10, 50]), pa.array([12, 51])], names=["lo", "hi"])
    put_result = bind(client, handle, params)
    assert put_result[1][0] == handle  # DoPutPreparedStatementResult names the handle
    info, table = run(client, handle)
    assert info.schema == dataset_schema
    assert table.column("n").to_pylist() == [10, 11, 12, 50, 51]

    # The binding stays until replaced.
    _, again = run(client, handle)
    assert again.equals(table)
    bind(client, handle, pa.record_batch([pa.array([99]), pa.array([1000])], names=["lo", "hi"]))
    assert run(client, handle)[1].column("s").to_pylist() == ["v99"]

    close(client, handle)
    with pytest.raises(KeyError, match="Unknown prepared statement handle"):
        run(client, handle)


def test_prepared_update_runs_once_per_row(server):
    client = flight.connect(server.uri)
    client.get_flight_info(descriptor(statement_query("CREATE TABLE raw_update (k INTEGER, v VARCHAR)")))
    handle, dataset_schema, parameter_schema, is_update = create(client, "INSERT INTO raw_update VALUES ($1, $2)")
    assert is_update
    # The JDBC driver tells updates from queries by an empty dataset schema.
    assert dataset_schema == pa.schema([])
    assert parameter_schema.types == [pa.int32(), pa.string()]
    batch = pa.record_batch([pa.array([1, 2, 3], pa.int32()), pa.array(["a", None, "c"])], names=["k", "v"])
    assert update(client, handle, batch) == 3
    ddl, _, _, ddl_is_update = create(client, "DELETE FROM raw_update WHERE k >= 2")
    assert ddl_is_update
    assert update(client, ddl) == 2
    _, table = run(client, create(client, "SELECT k, v FROM raw_update")[0])
    assert table.to_pylist() == [{"k": 1, "v": "a"}]


def test_parameter_batch_with_wrong_field_count_is_invalid(server):
    client = flight.connect(server.uri)
    handle, *_ = create(client, "SELECT ?::INTEGER + ?::INTEGER")
    with pytest.raises(pa.ArrowInvalid, match=r"has 1 field\(s\) \(only: int64\) but the statement takes 2"):
        bind(client, handle, pa.record_batch([pa.array([1])], names=["only"]))
        run(client, handle)


def test_parameter_of_the_wrong_type_names_the_field(server):
    client = flight.connect(server.uri)
    client.get_flight_info(descriptor(statement_query("CREATE TABLE typed_param (d DATE)")))
    handle, *_ = create(client, "INSERT INTO typed_param VALUES (?)")
    batch = pa.record_batch([pa.array(["not a date"])], names=["when"])
    with pytest.raises(pa.ArrowInvalid, match="Parameter field 'when'"):
        update(client, handle, batch)


def test_unknown_and_closed_handles_are_not_found(server):
    client = flight.connect(server.uri)
    for bogus in [b"", b"no such handle", bytes(16)]:
        with pytest.raises(KeyError, match="Unknown prepared statement handle"):
            run(client, bogus)
        with pytest.raises(KeyError, match="Unknown prepared statement handle"):
            close(client, bogus)
    handle, *_ = create(client, "SELECT 1")
    close(client, handle)
    with pytest.raises(KeyError):
        update(client, handle)
    with pytest.raises(KeyError):
        bind(client, handle, pa.record_batch([pa.array([1])], names=["x"]))


def test_prepare_errors_are_invalid_argument(server):
    client = flight.connect(server.uri)
    with pytest.raises(pa.ArrowInvalid, match="no_such_table"):
        create(client, "SELECT * FROM no_such_table WHERE x = ?")
    with pytest.raises(pa.ArrowInvalid, match="packed arrow.flight.protocol.sql.ActionCreatePreparedStatementRequest"):
        list(client.do_action(flight.Action("CreatePreparedStatement", b"\x01\x02garbage")))


def test_idle_handles_are_closed_after_the_timeout(start_server):
    server = start_server("--port", "0", "--statement-idle-timeout", "1s")
    client = flight.connect(server.uri)
    kept, *_ = create(client, "SELECT 1")
    idle, *_ = create(client, "SELECT 2")
    deadline = datetime.datetime.now() + datetime.timedelta(seconds=1.5)
    while datetime.datetime.now() < deadline:  # keep one handle busy, leave the other idle
        run(client, kept)
    assert run(client, kept)[1].column(0).to_pylist() == [1]
    with pytest.raises(KeyError, match="idle longer than 1s"):
        run(client, idle)
    # SqlInfo FLIGHT_SQL_SERVER_STATEMENT_TIMEOUT (100) reports the timeout in milliseconds.
    info = client.get_flight_info(descriptor(get_sql_info([100])))
    assert client.do_get(info.endpoints[0].ticket).read_all().column("value").chunk(0)[0].as_py() == 1000
