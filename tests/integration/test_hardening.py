"""Untrusted input never crashes or exhausts the server: malformed Arrow data,
statements that would eat all memory, oversized messages, too many streams."""

import time

import pyarrow as pa
import pyarrow.flight as flight
import pytest

from flightsql import (create_prepared_statement_request, decode_fields, descriptor, get_tables, pack_any,
                       prepared_statement_query, put, put_count, statement_ingest, statement_query, unpack)


def query(client, sql):
    info = client.get_flight_info(descriptor(statement_query(sql)))
    return client.do_get(info.endpoints[0].ticket).read_all()


def alive(client):
    assert query(client, "SELECT 42 AS answer").column(0).to_pylist() == [42]


def bad_utf8_offsets():
    """A utf8 array of 2 values whose offsets go backwards: [0, 3, 1]."""
    offsets = pa.py_buffer(pa.array([0, 3, 1], pa.int32()).buffers()[1])
    data = pa.py_buffer(b"abc")
    array = pa.Array.from_buffers(pa.utf8(), 2, [None, offsets, data])
    array.validate()  # the cheap validation passes...
    with pytest.raises(pa.ArrowInvalid):
        array.validate(full=True)  # ...the full one does not
    return array


def bad_dictionary_index():
    """A dictionary<int32, utf8> array whose only index is 10^9."""
    indices = pa.array([10**9], pa.int32())
    array = pa.DictionaryArray.from_buffers(pa.dictionary(pa.int32(), pa.utf8()), 1,
                                            [None, indices.buffers()[1]], pa.array(["a", "b"]))
    array.validate()
    with pytest.raises(pa.ArrowInvalid):
        array.validate(full=True)
    return array


def test_malformed_ingest_data_is_invalid_argument_and_writes_nothing(server):
    client = flight.connect(server.uri)
    good = pa.record_batch({"id": pa.array([1, 2], pa.int64()), "name": pa.array(["x", "y"])})
    bad = pa.RecordBatch.from_arrays([pa.array([3, 4], pa.int64()), bad_utf8_offsets()], ["id", "name"])
    with pytest.raises(pa.ArrowInvalid) as error:
        put_count(client, statement_ingest("malformed_ingest"), [good, bad])
    assert "column 'name'" in str(error.value) and "nothing was written" in str(error.value)
    # Nothing was created: the good first batch was rolled back with the rest.
    with pytest.raises(pa.ArrowInvalid, match="malformed_ingest"):
        query(client, "SELECT * FROM malformed_ingest")
    alive(client)


@pytest.mark.parametrize("make_bad", [bad_utf8_offsets, bad_dictionary_index])
def test_malformed_parameters_are_invalid_argument(server, make_bad):
    client = flight.connect(server.uri)
    [result] = client.do_action(flight.Action(
        "CreatePreparedStatement", create_prepared_statement_request("SELECT length(?::VARCHAR) AS n")))
    handle = decode_fields(unpack(result.body.to_pybytes(), "ActionCreatePreparedStatementResult"))[1][0]
    batch = pa.RecordBatch.from_arrays([make_bad()], ["p"])
    with pytest.raises(pa.ArrowInvalid, match="column 'p'"):
        put(client, prepared_statement_query(handle), [batch])
    alive(client)


def chained_ctes(n):
    return ("WITH c0 AS (SELECT 1 AS x), "
            + ", ".join(f"c{i} AS (SELECT * FROM c{i - 1})" for i in range(1, n))
            + f" SELECT * FROM c{n - 1}")


def test_a_statement_with_too_many_ctes_is_refused_before_it_is_parsed(server):
    client = flight.connect(server.uri)
    sql = chained_ctes(10000)  # ~318 KB; parsing it alone took DuckDB past 24 GiB
    assert len(sql) > 300_000
    with pytest.raises(pa.ArrowInvalid, match=r"10000 common table expressions.*--max-statement-ctes"):
        client.get_flight_info(descriptor(statement_query(sql)))
    # The same limit guards prepared statements and updates.
    with pytest.raises(pa.ArrowInvalid, match="--max-statement-ctes"):
        list(client.do_action(flight.Action("CreatePreparedStatement", create_prepared_statement_request(sql))))
    # Below the limit a chain still runs, and text that only mentions CTEs does not count.
    assert query(client, chained_ctes(100)).column(0).to_pylist() == [1]
    quoted = "SELECT '" + "c AS (" * 1000 + "' AS s -- x AS (\n"
    assert len(query(client, quoted).column(0)[0].as_py()) == 6000
    alive(client)


def test_the_cte_limit_is_an_option(start_server):
    server = start_server("--port", "0", "--max-statement-ctes", "10")
    client = flight.connect(server.uri)
    assert query(client, chained_ctes(10)).column(0).to_pylist() == [1]
    with pytest.raises(pa.ArrowInvalid, match="11 common table expressions.*limit is 10"):
        query(client, chained_ctes(11))


def longest_log_line(server):
    return max(len(line) for line in server.log().splitlines())


def test_huge_junk_sql_gets_a_short_invalid_argument(start_server):
    server = start_server("--port", "0")
    client = flight.connect(server.uri)
    # 16 MiB of junk after an opening quote: valid UTF-8 (a protobuf string),
    # and DuckDB's error about the unterminated string quotes all of it.
    alphabet = "ab()*;,\\\"é✈\t0123456789"
    junk = "SELECT '" + "".join(alphabet[(i * 7919) % len(alphabet)] for i in range(1 << 16)) * 256
    with pytest.raises(pa.ArrowInvalid) as error:
        client.get_flight_info(descriptor(statement_query(junk)))
    message = str(error.value)
    assert len(message) < 4096 and "[cut:" in message, message[:300]
    # The log repeats no unlimited client text either.
    assert longest_log_line(server) < 8192
    alive(client)


def test_long_action_names_and_type_urls_are_cut(server):
    client = flight.connect(server.uri)
    with pytest.raises(pa.ArrowNotImplementedError) as error:
        list(client.do_action(flight.Action("x" * (1 << 20), b"")))
    assert len(str(error.value)) < 4096 and "[cut:" in str(error.value)
    with pytest.raises(pa.ArrowNotImplementedError) as error:
        client.get_flight_info(descriptor(pack_any("type.googleapis.com/" + "y" * (1 << 20))))
    assert len(str(error.value)) < 4096 and "[cut:" in str(error.value)
    alive(client)


def prepare(client, sql):
    [result] = client.do_action(flight.Action("CreatePreparedStatement", create_prepared_statement_request(sql)))
    fields = decode_fields(unpack(result.body.to_pybytes(), "ActionCreatePreparedStatementResult"))
    return fields[1][0], pa.ipc.read_schema(pa.py_buffer(fields[3][0]))


def run_prepared(client, handle, batch):
    put(client, prepared_statement_query(handle), [batch])
    info = client.get_flight_info(descriptor(prepared_statement_query(handle)))
    return client.do_get(info.endpoints[0].ticket).read_all()


def test_untyped_parameters_are_advertised_as_float64_and_bind_any_type(server):
    client = flight.connect(server.uri)
    handle, parameters = prepare(client, "SELECT ? + 1 AS n")
    # Arrow null (what DuckDB's unknown type maps to) cannot be bound by the
    # JDBC or Go drivers; float64 takes their integer, decimal and double values.
    assert parameters.field(0).type == pa.float64()
    assert run_prepared(client, handle, pa.record_batch({"p": pa.array([41.0])})).column(0).to_pylist() == [42.0]
    # A client that sends its own type is bound with that type.
    assert run_prepared(client, handle, pa.record_batch({"p": pa.array([41], pa.int64())})).column(0).to_pylist() == [42]


@pytest.mark.parametrize("mode", ["dense", "sparse"])
def test_union_parameters_bind_the_chosen_child(server, mode):
    client = flight.connect(server.uri)
    ints, strings = pa.array([5, 0, 7], pa.int64()), pa.array(["", "x", ""])
    types = pa.array([0, 1, 0], pa.int8())
    if mode == "dense":
        union = pa.UnionArray.from_dense(types, pa.array([0, 1, 2], pa.int32()), [ints, strings], ["i", "s"])
    else:
        union = pa.UnionArray.from_sparse(types, [ints, strings], ["i", "s"])
    handle, _ = prepare(client, "SELECT CAST(? AS VARCHAR) AS v")
    result = run_prepared(client, handle, pa.RecordBatch.from_arrays([union], ["p"]))
    assert result.column(0).to_pylist() == ["5", "x", "7"]
    # Untyped: the value keeps the child's type.
    handle, _ = prepare(client, "SELECT ? + 1 AS n")
    one = pa.UnionArray.from_dense(pa.array([0], pa.int8()), pa.array([0], pa.int32()),
                                   [pa.array([41], pa.int64()), pa.array([], pa.utf8())], ["i", "s"])
    assert run_prepared(client, handle, pa.RecordBatch.from_arrays([one], ["p"])).column(0).to_pylist() == [42]


def test_an_ingest_in_progress_is_invisible_to_other_clients(server):
    """The ingest's stream is scanned through a view; another client that
    listed it with its columns bound a stream being consumed (a crash)."""
    client, other = flight.connect(server.uri), flight.connect(server.uri)
    batch = pa.record_batch({"id": pa.array(range(1000), pa.int64())})
    writer, reader = client.do_put(descriptor(statement_ingest("ingest_in_progress")), batch.schema)
    writer.write_batch(batch)
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:  # the view exists for as long as the upload lasts
        info = other.get_flight_info(descriptor(get_tables(include_schema=True)))
        names = other.do_get(info.endpoints[0].ticket).read_all().column("table_name").to_pylist()
        assert not [n for n in names if n.startswith("__squadron")], names
    writer.write_batch(batch)
    writer.done_writing()
    reader.read()
    writer.close()
    assert query(other, "SELECT count(*) FROM ingest_in_progress").column(0).to_pylist() == [2000]


def test_a_long_query_answers_get_flight_info_at_once_and_cancels_there(start_server):
    from test_cancel import ENDLESS, assert_idle, cancel
    from flightsql import CANCEL_STATUS_CANCELLED
    server = start_server("--port", "0")
    client = flight.connect(server.uri)
    # Before, GetFlightInfo computed up to the first batch: minutes for this
    # aggregate, and a client (JDBC) could not cancel a call in progress.
    info = client.get_flight_info(descriptor(statement_query(ENDLESS)), flight.FlightCallOptions(timeout=30))
    assert info.total_records == -1
    assert cancel(client, info) == CANCEL_STATUS_CANCELLED
    assert_idle(server)
    with pytest.raises(pa.ArrowKeyError):  # its result is gone
        client.do_get(info.endpoints[0].ticket).read_all()
    # Small results still come complete, with their row count, and DDL and
    # bad SQL still take effect and fail at GetFlightInfo. (A generous wait:
    # on a loaded machine 50 ms may not be enough for even a small query.)
    server = start_server("--port", "0", "--first-batch-wait", "20s")
    client = flight.connect(server.uri)
    assert client.get_flight_info(descriptor(statement_query("SELECT * FROM range(10)"))).total_records == 10
    client.get_flight_info(descriptor(statement_query("CREATE TABLE made_at_get_flight_info AS SELECT 1 AS x")))
    assert query(client, "SELECT x FROM made_at_get_flight_info").column(0).to_pylist() == [1]
    with pytest.raises(pa.ArrowInvalid, match="syntax error"):
        client.get_flight_info(descriptor(statement_query("SELEC 1")))


def test_streams_past_the_limit_are_refused_and_their_tickets_stay_valid(start_server):
    server = start_server("--port", "0", "--max-streams", "2", "--batch-rows", "2048")
    client = flight.connect(server.uri)
    big = "SELECT i FROM range(5000000) t(i)"
    infos = [client.get_flight_info(descriptor(statement_query(big))) for _ in range(3)]
    readers = [client.do_get(info.endpoints[0].ticket) for info in infos[:2]]
    for reader in readers:
        reader.read_chunk()  # both streams are open, neither is read on
    with pytest.raises(flight.FlightUnavailableError, match="--max-streams"):
        client.do_get(infos[2].endpoints[0].ticket).read_chunk()
    # Uploads hold a thread per call too, and count against the same limit.
    with pytest.raises(flight.FlightUnavailableError, match="--max-streams"):
        put_count(client, statement_ingest("never_ingested"), [pa.record_batch({"x": [1]})])
    readers[0].cancel()
    # The refused ticket was not used up: once a stream ends it is served.
    deadline = time.monotonic() + 30
    while True:
        try:
            table = client.do_get(infos[2].endpoints[0].ticket).read_all()
            break
        except flight.FlightUnavailableError:
            assert time.monotonic() < deadline, "the cancelled stream never gave its slot back"
    assert table.num_rows == 5000000
    assert readers[1].read_all().num_rows == 5000000 - 2048


def test_memory_is_handed_back_after_load(start_server):
    server = start_server("--port", "0", "--memory-release-interval", "200ms")
    client = flight.connect(server.uri)
    sort = "SELECT i, md5(i::VARCHAR) AS h FROM range({n}) t(i) ORDER BY h"
    group = "SELECT i % 10000 AS g, string_agg(i::VARCHAR, ',') FROM range({n}) t(i) GROUP BY g"
    for sql in (sort, group):  # warm up: code pages and caches count as idle
        query(client, sql.format(n=100000))
    time.sleep(1)
    idle = server.status("VmRSS")

    def load():
        own = flight.connect(server.uri)
        for _ in range(2):
            query(own, sort.format(n=1500000))
            query(own, group.format(n=2000000))

    import threading
    workers = [threading.Thread(target=load) for _ in range(4)]
    for worker in workers:
        worker.start()
    peak = idle
    while any(worker.is_alive() for worker in workers):
        peak = max(peak, server.status("VmRSS"))
        time.sleep(0.1)
    assert peak > idle + 200 * 1024, (idle, peak)  # the load really used memory
    # Within a few release intervals most of it is back with the OS (glibc's
    # arenas, DuckDB's jemalloc and Arrow's pool kept it all before).
    deadline = time.monotonic() + 20
    while server.status("VmRSS") > idle + (peak - idle) // 4:
        assert time.monotonic() < deadline, (idle, peak, server.status("VmRSS"))
        time.sleep(0.2)


def origin(field):
    meta = field.metadata or {}
    return tuple(meta.get(f"ARROW:FLIGHT:SQL:{key}_NAME".encode(), b"").decode()
                 for key in ("CATALOG", "SCHEMA", "TABLE"))


def test_result_columns_name_the_table_they_come_from(start_server, tmp_path):
    init = tmp_path / "init.sql"
    init.write_text("CREATE SCHEMA sales; CREATE TABLE sales.customers (id INTEGER, name VARCHAR);"
                    "CREATE TABLE sales.orders (id INTEGER, customer_id INTEGER, amount DOUBLE);"
                    "CREATE VIEW sales.names AS SELECT name FROM sales.customers WHERE id > 0;"
                    "INSERT INTO sales.customers VALUES (1, 'Ada');")
    server = start_server("--port", "0", "--init-sql", str(init))
    client = flight.connect(server.uri)
    customers, orders = ("memory", "sales", "customers"), ("memory", "sales", "orders")
    none = ("", "", "")
    cases = {
        "SELECT id, name FROM sales.customers": [customers, customers],
        "SELECT * FROM sales.customers WHERE id > 0 ORDER BY name LIMIT 5": [customers, customers],
        "SELECT id + 1 AS x, name FROM sales.customers": [none, customers],
        "SELECT c.name, o.amount FROM sales.customers c JOIN sales.orders o ON o.customer_id = c.id":
            [customers, orders],
        "SELECT name FROM sales.names": [customers],
        # Statistics rule every row out, yet the columns still have their table.
        "SELECT id, name FROM sales.customers WHERE id < 0": [customers, customers],
        "SELECT count(*) AS n FROM sales.customers": [none],
        "SELECT name FROM sales.customers UNION SELECT 'x'": [none],
        "SELECT 1 AS one": [none],
    }
    for sql, expected in cases.items():
        info = client.get_flight_info(descriptor(statement_query(sql)))
        assert [origin(f) for f in info.schema] == expected, sql
        # The stream carries them too, and so does a prepared statement's dataset schema.
        assert [origin(f) for f in client.do_get(info.endpoints[0].ticket).read_all().schema] == expected, sql
        [result] = client.do_action(flight.Action("CreatePreparedStatement", create_prepared_statement_request(sql)))
        fields = decode_fields(unpack(result.body.to_pybytes(), "ActionCreatePreparedStatementResult"))
        assert [origin(f) for f in pa.ipc.read_schema(pa.py_buffer(fields[2][0]))] == expected, sql


def test_parameter_sets_are_bounded_and_out_of_range_times_refused(server):
    client = flight.connect(server.uri)
    handle, _ = prepare(client, "SELECT CAST(? AS VARCHAR) AS v")
    # A null column costs no bytes: 2,000,000 parameter sets in a few hundred.
    many = pa.RecordBatch.from_arrays([pa.nulls(2_000_000)], ["p"])
    with pytest.raises(pa.ArrowInvalid, match="more than 1000000 parameter sets.*bulk ingest"):
        put(client, prepared_statement_query(handle), [many])
    handle, _ = prepare(client, "SELECT CAST(? AS TIMESTAMP) AS t")
    far = pa.RecordBatch.from_arrays([pa.array([10**16], pa.timestamp("s"))], ["p"])
    with pytest.raises(pa.ArrowInvalid, match="out of range for microseconds"):
        run_prepared(client, handle, far)
    alive(client)
