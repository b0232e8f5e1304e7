"""`squadron serve`: flags, data paths, configuration sources, read-only, shutdown."""

import json
import signal
import socket
import subprocess
import threading

import adbc_driver_flightsql.dbapi as flightsql
import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.flight as flight
import pyarrow.parquet as pq
import pytest

from conftest import BIN, ROOT
from flightsql import descriptor, get_sql_info, statement_query, statement_update


def fetch(server, sql):
    client = flight.connect(server.uri)
    info = client.get_flight_info(descriptor(statement_query(sql)))
    return client.do_get(info.endpoints[0].ticket).read_all()


def batch_sizes(server, sql):
    client = flight.connect(server.uri)
    info = client.get_flight_info(descriptor(statement_query(sql)))
    return [chunk.data.num_rows for chunk in client.do_get(info.endpoints[0].ticket)]


def test_help_documents_every_flag():
    out = subprocess.run([BIN, "serve", "--help"], capture_output=True, text=True, check=True).stdout
    for flag in ["--host", "--port", "--database", "--init-sql", "--read-only", "--batch-rows",
                 "--batch-bytes", "--threads", "--memory-limit", "--log-level", "--result-ttl",
                 "--max-open-results", "--ticket-secret-file", "--shutdown-timeout", "--config",
                 "--statement-idle-timeout", "--max-prepared-statements", "--session-idle-timeout",
                 "--max-sessions", "--transaction-idle-timeout", "--max-transactions", "--query-timeout",
                 "--idle-connections", "--plan-cache",
                 "SQUADRON_PORT", "data"]:
        assert flag in out, flag


def test_bad_flag_value_fails_with_a_message():
    proc = subprocess.run([BIN, "serve", "--batch-bytes", "lots"], capture_output=True, text=True)
    assert proc.returncode != 0
    assert "lots" in proc.stderr


@pytest.fixture
def lake(tmp_path):
    """Files of every supported kind, and the same data in memory for reference."""
    trips = pa.table({"id": list(range(100)), "fare": [i * 1.5 for i in range(100)],
                      "zone": [f"z{i % 5}" for i in range(100)]})
    (tmp_path / "trips").mkdir()
    pq.write_table(trips.slice(0, 50), tmp_path / "trips" / "part-0.parquet")
    pq.write_table(trips.slice(50), tmp_path / "trips" / "part-1.parquet")
    pq.write_table(trips, tmp_path / "single.parquet")
    zones = pa.table({"zone": [f"z{i}" for i in range(5)], "name": [f"Zone {i}" for i in range(5)]})
    pacsv.write_csv(zones, tmp_path / "zones.csv")
    with open(tmp_path / "events.ndjson", "w") as f:
        for i in range(10):
            f.write(json.dumps({"event": i, "kind": "click" if i % 2 else "view"}) + "\n")
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    con.execute("CREATE TABLE customers AS SELECT range AS id, 'c' || range AS name FROM range(7)")
    con.close()
    return tmp_path, trips


def test_data_paths_become_views(start_server, lake):
    path, trips = lake
    server = start_server("--port", "0", str(path / "trips"), str(path / "zones.csv"),
                          str(path / "events.ndjson"), str(path / "warehouse.duckdb"),
                          f"glob_trips={path}/trips/*.parquet", str(path / "single.parquet"))
    got = fetch(server, "SELECT * FROM trips ORDER BY id")
    assert got.to_pylist() == trips.to_pylist()
    assert fetch(server, "SELECT count(*) FROM glob_trips").column(0).to_pylist() == [100]
    assert fetch(server, "SELECT sum(fare) FROM single").column(0).to_pylist() == [
        sum(i * 1.5 for i in range(100))]
    ref = duckdb.sql(f"SELECT * FROM read_csv('{path}/zones.csv') ORDER BY zone").fetch_arrow_table()
    assert fetch(server, "SELECT * FROM zones ORDER BY zone").equals(ref)
    assert fetch(server, "SELECT count(*) FILTER (kind = 'click') FROM events").column(0).to_pylist() == [5]
    assert fetch(server, "SELECT count(*) FROM warehouse.customers").column(0).to_pylist() == [7]
    joined = fetch(server, "SELECT z.name, count(*) AS n FROM trips t JOIN zones z USING (zone) "
                           "GROUP BY ALL ORDER BY 1")
    assert joined.column("n").to_pylist() == [20] * 5


def test_missing_data_path_fails_at_start_naming_it(tmp_path):
    proc = subprocess.run([BIN, "serve", "--port", "0", str(tmp_path / "nope.parquet")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "nope.parquet" in proc.stderr
    assert "no such file or directory" in proc.stderr


def test_init_sql_runs_at_start(start_server, tmp_path):
    init = tmp_path / "init.sql"
    init.write_text("CREATE TABLE greetings (word VARCHAR);\n"
                    "INSERT INTO greetings VALUES ('hello'), ('world');\n")
    server = start_server("--port", "0", "--init-sql", str(init))
    assert fetch(server, "SELECT string_agg(word, ' ' ORDER BY word) FROM greetings"
                 ).column(0).to_pylist() == ["hello world"]


def test_bad_init_sql_fails_at_start(tmp_path):
    init = tmp_path / "init.sql"
    init.write_text("CREATE TABLE ok (x INT);\nSELECT * FROM missing_table;\n")
    proc = subprocess.run([BIN, "serve", "--port", "0", "--init-sql", str(init)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "missing_table" in proc.stderr


def test_database_file_persists_across_restarts(start_server, tmp_path):
    db = str(tmp_path / "state.duckdb")
    first = start_server("--port", "0", "--database", db)
    fetch(first, "CREATE TABLE kept AS SELECT 7 AS x")
    assert first.stop() == 0
    second = start_server("--port", "0", "--database", db)
    assert fetch(second, "SELECT x FROM kept").column(0).to_pylist() == [7]


def test_batch_rows_from_flag_env_and_config_file(start_server, tmp_path):
    sql = "SELECT * FROM range(10000)"
    by_flag = start_server("--port", "0", "--batch-rows", "3000")
    assert max(batch_sizes(by_flag, sql)) == 3000
    by_env = start_server("--port", "0", env={"SQUADRON_BATCH_ROWS": "2500"})
    assert max(batch_sizes(by_env, sql)) == 2500
    config = tmp_path / "squadron.toml"
    config.write_text('port = 0\nbatch-rows = 2100\nlog-level = "debug"\n')
    by_file = start_server("--config", str(config))
    assert max(batch_sizes(by_file, sql)) == 2100
    # The environment wins over the file, a flag over both.
    env_over_file = start_server("--config", str(config), env={"SQUADRON_BATCH_ROWS": "2200"})
    assert max(batch_sizes(env_over_file, sql)) == 2200
    flag_over_all = start_server("--config", str(config), "--batch-rows", "2300",
                                 env={"SQUADRON_BATCH_ROWS": "2200"})
    assert max(batch_sizes(flag_over_all, sql)) == 2300


def test_unknown_config_key_fails(tmp_path):
    config = tmp_path / "squadron.toml"
    config.write_text("prot = 1234\n")
    proc = subprocess.run([BIN, "serve", "--config", str(config)], capture_output=True, text=True)
    assert proc.returncode != 0
    assert "Unknown option 'prot'" in proc.stderr


def test_port_in_use_fails_clearly():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        proc = subprocess.run([BIN, "serve", "--port", str(port)], capture_output=True, text=True,
                              timeout=60)
    assert proc.returncode != 0
    assert f"Cannot listen on 127.0.0.1:{port}" in proc.stderr


def test_read_only_refuses_writes(start_server, tmp_path):
    init = tmp_path / "init.sql"
    init.write_text("CREATE TABLE facts AS SELECT 1 AS x;")
    server = start_server("--port", "0", "--read-only", "--init-sql", str(init))
    client = flight.connect(server.uri)
    assert fetch(server, "SELECT x FROM facts").column(0).to_pylist() == [1]
    for sql in ["INSERT INTO facts VALUES (2)", "CREATE TABLE other (y INT)", "DROP TABLE facts",
                f"COPY facts TO '{tmp_path}/out.csv'"]:
        with pytest.raises(flight.FlightUnauthorizedError, match="read-only"):
            client.get_flight_info(descriptor(statement_query(sql)))
    with pytest.raises(flight.FlightUnauthorizedError, match="read-only"):
        writer, reader = client.do_put(descriptor(statement_update("DELETE FROM facts")), pa.schema([]))
        writer.done_writing()
        reader.read()
        writer.close()
    assert not (tmp_path / "out.csv").exists()
    assert fetch(server, "SELECT count(*) FROM facts").column(0).to_pylist() == [1]
    info = client.get_flight_info(descriptor(get_sql_info([3])))
    table = client.do_get(info.endpoints[0].ticket).read_all()
    assert table.column("value").chunk(0)[0].as_py() is True


def test_sigterm_drains_an_in_flight_stream(start_server):
    server = start_server("--port", "0", "--batch-rows", "10000")
    client = flight.connect(server.uri)
    rows = 2_000_000
    info = client.get_flight_info(descriptor(statement_query(f"SELECT * FROM range({rows})")))
    reader = client.do_get(info.endpoints[0].ticket)
    first = reader.read_chunk().data.num_rows  # the stream is in flight
    server.proc.send_signal(signal.SIGTERM)
    rest = sum(chunk.data.num_rows for chunk in reader)
    assert first + rest == rows
    assert server.stop() == 0
    assert "event=shutdown_done" in server.log()


def test_sigint_with_a_stalled_client_exits_after_the_timeout(start_server):
    server = start_server("--port", "0", "--shutdown-timeout", "1s", "--batch-rows", "1000")
    client = flight.connect(server.uri)
    info = client.get_flight_info(descriptor(statement_query("SELECT * FROM range(100000000)")))
    reader = client.do_get(info.endpoints[0].ticket)
    reader.read_chunk()  # then stop reading: the server's writes block on flow control
    server.proc.send_signal(signal.SIGINT)
    assert server.stop(timeout=60) == 0


def test_adbc_connects_and_queries_the_served_data(start_server, lake):
    path, trips = lake
    server = start_server("--port", "0", str(path / "trips"))
    with flightsql.connect(server.uri, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("SELECT zone, sum(fare) AS total FROM trips GROUP BY zone ORDER BY zone")
        got = cur.fetchall()
    want = duckdb.sql("SELECT zone, sum(fare) AS total FROM trips GROUP BY zone ORDER BY zone").fetchall()
    assert got == want


def test_make_run_demo_serves_the_demo_data(start_server):
    """scripts/run-demo is what `make run` starts."""
    server = start_server(command=[str(ROOT / "scripts" / "run-demo"), BIN],
                          env={"SQUADRON_PORT": "0"})
    counts = fetch(server, "SELECT (SELECT count(*) FROM customers), (SELECT count(*) FROM products), "
                           "(SELECT count(*) FROM orders)")
    assert [c[0].as_py() for c in counts.columns] == [10000, 1000, 1000000]
    schema = fetch(server, "SELECT * FROM orders LIMIT 1").schema
    assert schema.field("unit_price").type == pa.decimal128(10, 2)
    assert pa.types.is_dictionary(schema.field("status").type)
    assert pa.types.is_list(schema.field("tags").type)
    # Every order points at a real customer and product.
    orphans = fetch(server, "SELECT count(*) FROM orders o ANTI JOIN customers c USING (customer_id)")
    assert orphans.column(0).to_pylist() == [0]
    assert fetch(server, "SELECT count(*) FROM revenue_by_city").column(0).to_pylist() == [6]
