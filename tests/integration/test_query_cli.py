"""`squadron query`, the command-line client, against the real server."""

import subprocess

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest

from conftest import BIN

SQL = ("SELECT range AS id, 'name ' || range AS name, (range % 7)::DECIMAL(10, 2) AS amount, "
       "DATE '2024-01-01' + (range % 30)::INTEGER AS day FROM range(200000)")


def query(server, *args, stdin=None):
    return subprocess.run([BIN, "query", "--uri", server.uri, *args], input=stdin, capture_output=True,
                          text=True, timeout=120)


def test_prints_a_table(server):
    proc = query(server, "SELECT 42 AS answer, 'hello' AS greeting, NULL::INTEGER AS nothing")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert [c.strip() for c in lines[0].split("|")] == ["answer", "greeting", "nothing"]
    assert [c.strip() for c in lines[2].split("|")] == ["42", "hello", "NULL"]
    assert lines[-1] == "(1 row)"


def test_reads_sql_from_stdin_and_limits_printed_rows(server):
    proc = query(server, "--max-rows", "3", stdin="SELECT * FROM range(10) ORDER BY range")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "(10 rows, first 3 shown; --output FILE writes them all)"
    assert [line.strip() for line in proc.stdout.splitlines()[2:5]] == ["0", "1", "2"]


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".arrow", ".arrows"])
def test_writes_every_row_to_a_file(server, tmp_path, suffix):
    path = tmp_path / f"out{suffix}"
    proc = query(server, "--output", str(path), "--timing", SQL)
    assert proc.returncode == 0, proc.stderr
    assert "timing: plan" in proc.stderr and "200000 rows" in proc.stderr
    assert proc.stdout == ""
    want = duckdb.sql(SQL).fetch_arrow_table()
    if suffix == ".parquet":
        got = pq.read_table(path)
    elif suffix == ".csv":
        got = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(column_types=want.schema))
    elif suffix == ".arrow":
        got = ipc.open_file(path).read_all()
    else:
        got = ipc.open_stream(path).read_all()
    assert got.sort_by("id").select(want.column_names).cast(want.schema).equals(want)


def test_errors_exit_non_zero_with_the_message(server, tmp_path):
    proc = query(server, "SELECT * FROM no_such_table")
    assert proc.returncode == 1
    assert "no_such_table" in proc.stderr
    proc = query(server, "--output", str(tmp_path / "x.xlsx"), "SELECT 1")
    assert proc.returncode == 1 and "Unknown --output format" in proc.stderr
    proc = query(server, stdin="  ;  ")
    assert proc.returncode == 2 and "no SQL given" in proc.stderr


def test_unreachable_server_fails_cleanly():
    proc = subprocess.run([BIN, "query", "--uri", "grpc://127.0.0.1:1", "SELECT 1"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 1 and "squadron query:" in proc.stderr


def test_help_lists_the_options():
    out = subprocess.run([BIN, "query", "--help"], capture_output=True, text=True).stdout
    for flag in ["--uri", "--output", "--parallel", "--max-rows", "--timing", "--progress", "--username",
                 "--password", "--token"]:
        assert flag in out, flag


def test_parallel_fetch_reads_every_endpoint_of_several_nodes(tmp_path):
    """A FlightInfo whose three endpoints live on three Flight servers (the
    shape a cluster answers with): --parallel 3 reads them all at once, each
    from its own location, and keeps every row."""
    import threading

    import pyarrow.flight as flight

    parts = [duckdb.sql(f"SELECT range AS id, 'node {n}' AS node FROM range({n * 1000}, {(n + 1) * 1000})")
             .fetch_arrow_table() for n in range(3)]
    started = threading.Barrier(3, timeout=30)

    class Node(flight.FlightServerBase):
        def __init__(self, table):
            super().__init__("grpc://127.0.0.1:0")
            self.table = table
            self.calls = 0

        def do_get(self, context, ticket):
            self.calls += 1
            started.wait()  # all three streams are open at the same time, or this times out
            return flight.RecordBatchStream(self.table)

    nodes = [Node(part) for part in parts]

    class Coordinator(flight.FlightServerBase):
        def get_flight_info(self, context, descriptor):
            endpoints = [flight.FlightEndpoint(b"part", [f"grpc://127.0.0.1:{node.port}"]) for node in nodes]
            return flight.FlightInfo(parts[0].schema, descriptor, endpoints, -1, -1, ordered=False)

    coordinator = Coordinator("grpc://127.0.0.1:0")
    try:
        out = tmp_path / "all.arrows"
        proc = subprocess.run([BIN, "query", "--uri", f"grpc://127.0.0.1:{coordinator.port}", "--parallel", "3",
                               "--output", str(out), "SELECT * FROM everything"], capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == 0, proc.stderr
        got = ipc.open_stream(str(out)).read_all().sort_by("id")
        assert got.equals(pa.concat_tables(parts))
        assert [node.calls for node in nodes] == [1, 1, 1]
    finally:
        coordinator.shutdown()
        for node in nodes:
            node.shutdown()
