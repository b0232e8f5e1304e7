"""The distributed Parquet example (examples/parquet_service.cc), a Flight
service built on the cluster library: three nodes on a real ZooKeeper, read
with `squadron query --parallel` and pyarrow."""

import os
import pathlib
import subprocess
import uuid

import pyarrow as pa
import pyarrow.flight as flight
import pyarrow.parquet as pq
import pytest

import exchange_client as xc
from conftest import BIN
from zookeeper import zk_uri

EXAMPLE = str(pathlib.Path(BIN).with_name("squadron-parquet-example"))
READY = "parquet-service listening on "


@pytest.fixture
def example_nodes(zookeeper, tmp_path):
    secret = tmp_path / "secret"
    secret.write_bytes(os.urandom(32))
    cluster = zk_uri(zookeeper.connect_string, "/example-" + uuid.uuid4().hex[:8])
    procs, uris = [], []
    try:
        for i in (1, 2, 3):
            log = open(tmp_path / f"n{i}.log", "wb")
            proc = subprocess.Popen([EXAMPLE, "--port", "0", "--cluster", cluster, "--node-id", f"n{i}",
                                     "--secret-file", str(secret)], stdout=subprocess.PIPE, stderr=log)
            procs.append(proc)
            line = proc.stdout.readline().decode()
            assert line.startswith(READY), (line, (tmp_path / f"n{i}.log").read_text())
            uris.append(line[len(READY):].strip())
        yield uris
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                assert proc.wait(timeout=30) == 0
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def parquet_dir(tmp_path):
    directory = tmp_path / "table"
    directory.mkdir()
    start = 0
    for i, rows in enumerate([5000, 1, 20000, 777, 12000, 3000]):
        table = pa.table({"id": pa.array(range(start, start + rows), pa.int64()),
                          "name": [f"row-{n}" for n in range(start, start + rows)]})
        pq.write_table(table, directory / f"part-{i:03d}.parquet", row_group_size=4096)
        start += rows
    return directory


def reference(directory):
    return pa.concat_tables(pq.read_table(f) for f in sorted(directory.glob("*.parquet")))


def test_squadron_query_reads_every_node_in_parallel(example_nodes, parquet_dir, tmp_path):
    out = tmp_path / "out.arrow"
    run = subprocess.run([BIN, "query", "--uri", example_nodes[1], "--path", str(parquet_dir), "--parallel", "3",
                          "--timing", "-o", str(out)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "3 endpoint(s)" in run.stderr
    with pa.ipc.open_file(out) as reader:
        got = reader.read_all()
    # Ordered: the endpoints read in order give the files in name order.
    assert got.equals(reference(parquet_dir).cast(got.schema))


def test_endpoints_are_on_every_node_and_ordered(example_nodes, parquet_dir):
    client = flight.connect(example_nodes[0])
    info = client.get_flight_info(flight.FlightDescriptor.for_path(str(parquet_dir)))
    assert info.ordered
    assert sorted(e.locations[0].uri.decode() for e in info.endpoints) == sorted(example_nodes)
    tables = xc.read_parallel(info)
    assert pa.concat_tables(tables).equals(reference(parquet_dir))


def test_bad_directory_is_invalid_argument(example_nodes, tmp_path):
    client = flight.connect(example_nodes[2])
    with pytest.raises(pa.ArrowInvalid, match="No \\*.parquet files"):
        client.get_flight_info(flight.FlightDescriptor.for_path(str(tmp_path)))
