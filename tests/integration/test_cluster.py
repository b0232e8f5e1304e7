"""A cluster of real `squadron serve` nodes on a real ZooKeeper (started here,
on loopback), driven by real clients: ADBC, pyarrow.flight, `squadron query`,
and the reference producer of the exchange protocol (exchange_client.py).
"""

import concurrent.futures
import itertools
import json
import subprocess
import threading
import time
import uuid

import adbc_driver_flightsql.dbapi as flightsql
import pyarrow as pa
import pyarrow.flight as flight
import pytest

import exchange_client as xc
from conftest import BIN, ServerProcess
from zookeeper import ZooKeeperEnsemble, ZooKeeperServer, zk_client, zk_uri

SESSION_TIMEOUT_S = 2.0
SECRET = b"cluster-test-secret-0123456789abcdef"


# --- fixtures ---------------------------------------------------------------

@pytest.fixture(scope="module")
def zk(zookeeper):
    client = zk_client(zookeeper.connect_string)
    yield client
    client.stop()
    client.close()


@pytest.fixture
def secret_file(tmp_path):
    path = tmp_path / "cluster.secret"
    path.write_bytes(SECRET)
    return path


class Cluster:
    """Nodes of one cluster (one root path) started for a test."""

    def __init__(self, connect_string, tmp_path, secret_file):
        self.root = "/squadron-" + uuid.uuid4().hex[:8]
        self.uri = zk_uri(connect_string, self.root)
        self.tmp_path = tmp_path
        self.secret_file = secret_file
        self.nodes = {}

    def start(self, node_id, *extra, secret_file=None, spool_dir=None, data=()):
        log = self.tmp_path / f"{node_id}.log"
        args = ["--port", "0", "--cluster", self.uri, "--node-id", node_id,
                "--ticket-secret-file", str(secret_file or self.secret_file),
                "--cluster-session-timeout", f"{int(SESSION_TIMEOUT_S * 1000)}ms",
                "--spool-dir", str(spool_dir or self.tmp_path), *extra, *data]
        node = ServerProcess(args, log)
        node.node_id = node_id
        self.nodes[node_id] = node
        return node

    def status(self):
        out = subprocess.run([BIN, "cluster", "status", "--cluster", self.uri, "--json"],
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    def member_ids(self):
        return sorted(m["id"] for m in self.status()["members"])

    def query(self, query_id):
        return next((q for q in self.status()["queries"] if q["id"] == query_id), None)

    def stop(self):
        for node in self.nodes.values():
            node.kill()


@pytest.fixture
def cluster(zookeeper, tmp_path, secret_file):
    c = Cluster(zookeeper.connect_string, tmp_path, secret_file)
    yield c
    c.stop()


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def wait_members(cluster, ids, timeout=15):
    wait_for(lambda: cluster.member_ids() == sorted(ids), timeout, f"members {ids}")


def three_nodes(cluster, *extra):
    nodes = [cluster.start(f"n{i}", *extra) for i in (1, 2, 3)]
    wait_members(cluster, ["n1", "n2", "n3"])
    return nodes


SCHEMA = pa.schema([("partition", pa.int32()), ("seq", pa.int64()), ("text", pa.string())])


def partition_batches(partition, rows=3000, batch_rows=500):
    """Deterministic rows of one partition: the reference a result must equal."""
    out = []
    for start in range(0, rows, batch_rows):
        n = min(batch_rows, rows - start)
        seq = list(range(partition * 1_000_000 + start, partition * 1_000_000 + start + n))
        out.append(pa.record_batch([pa.array([partition] * n, pa.int32()), pa.array(seq, pa.int64()),
                                    pa.array([f"p{partition}-{s}" for s in seq])], schema=SCHEMA))
    return out


def reference(partitions, **kw):
    return pa.Table.from_batches([b for p in range(partitions) for b in partition_batches(p, **kw)],
                                 schema=SCHEMA)


def read_with_adbc(info):
    """Reads every endpoint in parallel with ADBC's partition API, one
    connection per endpoint at its location."""
    def read(endpoint):
        # An ADBC Flight SQL partition is a FlightInfo of one endpoint.
        partition = flight.FlightInfo(info.schema, info.descriptor, [endpoint], -1, -1).serialize()
        with flightsql.connect(endpoint.locations[0].uri.decode()) as conn:
            with conn.cursor() as cur:
                cur.adbc_read_partition(partition)
                return cur.fetch_arrow_table()
    with concurrent.futures.ThreadPoolExecutor(len(info.endpoints)) as pool:
        return list(pool.map(read, info.endpoints))


def flight_error_code(error):
    """A FlightError's class name, e.g. FlightUnavailableError."""
    return type(error).__name__


# --- membership ---------------------------------------------------------------

def test_nodes_join_and_status_lists_them(cluster, zk):
    nodes = three_nodes(cluster)
    status = cluster.status()
    by_id = {m["id"]: m for m in status["members"]}
    for node in nodes:
        assert by_id[node.node_id]["uri"] == node.uri
        assert by_id[node.node_id]["engine"] == "duckdb"
    # Members are ephemeral znodes of the nodes' sessions.
    for node_id in by_id:
        stat = zk.exists(f"{cluster.root}/members/{node_id}")
        assert stat is not None and stat.ephemeralOwner != 0
    text = subprocess.run([BIN, "cluster", "status", "--cluster", cluster.uri], capture_output=True,
                          text=True, timeout=30)
    assert text.returncode == 0, text.stderr
    assert "3 node(s)" in text.stdout and all(n.uri in text.stdout for n in nodes)


def test_killed_node_leaves_within_session_timeout(cluster):
    nodes = three_nodes(cluster)
    nodes[2].proc.kill()
    start = time.monotonic()
    wait_members(cluster, ["n1", "n2"], timeout=SESSION_TIMEOUT_S + 10)
    # A node's own session timeout, plus the watch and this poll.
    assert time.monotonic() - start < SESSION_TIMEOUT_S * 2 + 3


def test_node_with_another_secret_is_refused(cluster, tmp_path):
    cluster.start("n1")
    wait_members(cluster, ["n1"])
    other = tmp_path / "other.secret"
    other.write_bytes(b"a-different-secret-0123456789abcdef")
    with pytest.raises(RuntimeError) as refused:
        cluster.start("n2", secret_file=other)
    message = str(refused.value)
    assert "exit 1" in message
    assert "ticket secret" in message and "fingerprint" in message
    assert cluster.member_ids() == ["n1"]


def test_cluster_needs_a_secret_file(cluster):
    out = subprocess.run([BIN, "serve", "--port", "0", "--cluster", cluster.uri], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 2
    assert "--ticket-secret-file" in out.stderr


def test_bad_cluster_uri_is_refused():
    out = subprocess.run([BIN, "serve", "--port", "0", "--cluster", "zk://127.0.0.1/", "--ticket-secret-file",
                          "/dev/null"], capture_output=True, text=True, timeout=30)
    assert out.returncode != 0
    assert "zk://" in out.stderr


# --- distributed results: exactly once ------------------------------------------

def produce(begun, partitions, faults=()):
    """Pushes every partition to its node; returns the committed (partition, attempt) pairs.

    faults: partitions whose attempt 0 is aborted halfway ("abort"), dies
    mid-stream ("die"), or races a second attempt ("race")."""
    committed = []
    for p in range(partitions):
        uri = begun.uri_of(p)
        batches = partition_batches(p)
        fault = dict(faults).get(p)
        if fault == "abort":
            reply = xc.push(uri, begun.query_id, begun.credential, p, 0, batches, stop_after=2)
            assert reply["committed"] is False
            xc.push(uri, begun.query_id, begun.credential, p, 1, batches)
            committed.append((p, 1))
        elif fault == "die":
            xc.push(uri, begun.query_id, begun.credential, p, 0, batches, stop_after=3, break_stream=True)
            xc.push(uri, begun.query_id, begun.credential, p, 1, batches)
            committed.append((p, 1))
        elif fault == "race":
            results = {}

            def attempt(a):
                try:
                    results[a] = xc.push(uri, begun.query_id, begun.credential, p, a, batches)
                except (flight.FlightError, pa.ArrowException) as e:
                    results[a] = e
            threads = [threading.Thread(target=attempt, args=(a,)) for a in (0, 1)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            winners = [a for a, r in results.items()
                       if isinstance(r, dict) and r.get("committed") and r.get("committed_attempt", a) == a]
            assert len(winners) == 1, results
            loser = 1 - winners[0]
            # The loser was superseded while it streamed, or began after the
            # winner's commit and was told to defer to it.
            if isinstance(results[loser], dict):
                assert results[loser] == {"partition": p, "attempt": loser, "committed": True,
                                          "committed_attempt": winners[0]}, results
            else:
                assert isinstance(results[loser], (flight.FlightError, pa.ArrowException)), results
                assert "superseded" in str(results[loser]), results
            committed.append((p, winners[0]))
        else:
            reply = xc.push(uri, begun.query_id, begun.credential, p, 0, batches)
            assert reply == {"partition": p, "attempt": 0, "rows": 3000, "committed": True}
            committed.append((p, 0))
    return committed


@pytest.mark.parametrize("faults", [(), ((1, "abort"), (4, "die"), (2, "race"), (5, "race"))],
                         ids=["clean", "aborts-deaths-races"])
def test_distributed_result_exactly_once_with_adbc(cluster, faults):
    nodes = three_nodes(cluster)
    begun = xc.begin(nodes[0].uri, SECRET, SCHEMA, partitions=6, description="exactly-once test")
    info = begun.flight_info
    assert len(info.endpoints) == 3
    assert sorted(e.locations[0].uri.decode() for e in info.endpoints) == sorted(n.uri for n in nodes)
    # Readers start before any producer: they stream partitions as they commit.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        reading = pool.submit(read_with_adbc, info)
        committed = produce(begun, 6, faults)
        assert xc.complete(nodes[1].uri, begun.query_id, begun.credential, committed)["state"] == "COMPLETED"
        tables = reading.result(timeout=60)
    got = xc.row_hashes(tables)
    want = xc.row_hashes(reference(6))
    assert sum(got.values()) == sum(want.values()) == 18000
    assert got == want, f"lost {want - got}, duplicated {got - want}"
    record = cluster.query(begun.query_id)
    assert record["state"] == "COMPLETED"
    assert sorted(tuple(c) for node in record["committed"].values() for c in node) == sorted(committed)
    # Every node records that it has served its share.
    wait_for(lambda: len(cluster.query(begun.query_id)["served"]) == 3, 10, "all shares served")


def test_result_read_after_completion_with_pyarrow(cluster):
    nodes = three_nodes(cluster)
    begun = xc.begin(nodes[0].uri, SECRET, SCHEMA, partitions=6)
    committed = produce(begun, 6)
    xc.complete(nodes[0].uri, begun.query_id, begun.credential, committed)
    # Readers that come after the end get the whole share at once.
    tables = xc.read_parallel(begun.flight_info)
    assert xc.row_hashes(tables) == xc.row_hashes(reference(6))


def test_ordered_result_reads_in_endpoint_order(cluster):
    nodes = three_nodes(cluster)
    begun = xc.begin(nodes[2].uri, SECRET, SCHEMA, partitions=7, ordered=True)
    info = begun.flight_info
    assert info.ordered
    # Contiguous ranges, listed in partition order.
    owners = [uri for _, _, uri in sorted(begun.assignment)]
    runs = [uri for uri, _ in itertools.groupby(owners)]
    assert len(runs) == len(set(runs)) == 3
    assert [e.locations[0].uri.decode() for e in info.endpoints] == runs
    # Later partitions commit first: each node still serves its range in order.
    committed = []
    for p in reversed(range(7)):
        xc.push(begun.uri_of(p), begun.query_id, begun.credential, p, 0, partition_batches(p))
        committed.append((p, 0))
    xc.complete(nodes[0].uri, begun.query_id, begun.credential, committed)
    tables = read_with_adbc(info)
    combined = pa.concat_tables(tables)
    assert combined.equals(reference(7))


def test_push_is_refused_without_the_credential(cluster):
    nodes = three_nodes(cluster)
    begun = xc.begin(nodes[0].uri, SECRET, SCHEMA, partitions=3)
    with pytest.raises(flight.FlightUnauthenticatedError, match="producer credential"):
        xc.push(begun.uri_of(0), begun.query_id, "0" * 64, 0, 0, partition_batches(0))
    with pytest.raises(flight.FlightUnauthenticatedError, match="driver credential"):
        xc.begin(nodes[0].uri, SECRET, SCHEMA, partitions=1, credential="forged")
    # Wrong node for the partition: INVALID_ARGUMENT naming the right one.
    owner = begun.uri_of(0)
    other = next(n.uri for n in nodes if n.uri != owner)
    with pytest.raises(pa.ArrowInvalid, match="push it there"):
        xc.push(other, begun.query_id, begun.credential, 0, 0, partition_batches(0))
    # A committed partition takes no more data: a later attempt's batches are
    # dropped and its commit is answered with the attempt that won.
    xc.push(owner, begun.query_id, begun.credential, 0, 0, partition_batches(0))
    assert xc.push(owner, begun.query_id, begun.credential, 0, 1, partition_batches(0)) == \
        {"partition": 0, "attempt": 1, "committed": True, "committed_attempt": 0}
    # The winner itself cannot push again.
    with pytest.raises(pa.ArrowInvalid, match="already committed"):
        xc.push(owner, begun.query_id, begun.credential, 0, 0, partition_batches(0))


def test_failed_query_ends_every_stream_with_the_reason(cluster):
    nodes = three_nodes(cluster)
    begun = xc.begin(nodes[0].uri, SECRET, SCHEMA, partitions=3)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        reading = pool.submit(xc.read_parallel, begun.flight_info, None, True)
        xc.push(begun.uri_of(0), begun.query_id, begun.credential, 0, 0, partition_batches(0))
        xc.fail(nodes[1].uri, begun.query_id, begun.credential, "Spark job 7 aborted: disk full")
        results = reading.result(timeout=30)
    assert all(isinstance(r, flight.FlightError) for r in results), results
    assert all("disk full" in str(r) for r in results)
    assert cluster.query(begun.query_id)["state"] == "FAILED"


@pytest.mark.parametrize("status,error", [("INVALID_ARGUMENT", pa.ArrowInvalid),
                                          ("INTERNAL", flight.FlightInternalError),
                                          ("UNAVAILABLE", flight.FlightUnavailableError)])
def test_the_driver_chooses_the_status_of_a_failure(cluster, status, error):
    nodes = three_nodes(cluster)
    begun = xc.begin(nodes[0].uri, SECRET, SCHEMA, partitions=3)
    # An unknown status is refused and fails nothing.
    with pytest.raises(pa.ArrowInvalid, match="status must be"):
        xc.fail(nodes[1].uri, begun.query_id, begun.credential, "boom", status="TEAPOT")
    assert cluster.query(begun.query_id)["state"] == "RUNNING"
    xc.fail(nodes[1].uri, begun.query_id, begun.credential, "Spark: [DIVIDE_BY_ZERO] SQLSTATE: 22012", status=status)
    for result in xc.read_parallel(begun.flight_info, None, True):
        assert isinstance(result, error), result
        assert "DIVIDE_BY_ZERO" in str(result)
    # A completed query can no longer be failed by the driver.
    done = xc.begin(nodes[0].uri, SECRET, SCHEMA, partitions=1)
    xc.push(done.uri_of(0), done.query_id, done.credential, 0, 0, partition_batches(0))
    xc.complete(nodes[0].uri, done.query_id, done.credential, [(0, 0)])
    xc.fail(nodes[1].uri, done.query_id, done.credential, "too late", status=status)
    assert cluster.query(done.query_id)["state"] == "COMPLETED"


# --- backpressure ---------------------------------------------------------------

def test_slow_reader_bounds_memory_and_spills(cluster, tmp_path):
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    spool_memory = 16 << 20
    node = cluster.start("n1", "--spool-memory", "16MiB", "--spool-disk", "64MiB", spool_dir=spool_dir)
    wait_members(cluster, ["n1"])
    baseline_kib = node.status("VmRSS")
    schema = pa.schema([("seq", pa.int64()), ("pad", pa.binary())])
    batch_rows = 1024
    pad = b"x" * 1000

    def batches(partition, count):
        for b in range(count):
            start = (partition * 100000 + b) * batch_rows
            yield pa.record_batch([pa.array(range(start, start + batch_rows), pa.int64()),
                                   pa.array([pad] * batch_rows, pa.binary())], schema=schema)

    partitions, per_partition = 4, 80  # 4 x 80 x ~1 MiB = 20x the spool memory
    begun = xc.begin(node.uri, SECRET, schema, partitions=partitions)
    spill_seen = []

    def producer():
        committed = []
        for p in range(partitions):
            xc.push(node.uri, begun.query_id, begun.credential, p, 0, list(batches(p, per_partition)))
            committed.append((p, 0))
        xc.complete(node.uri, begun.query_id, begun.credential, committed)

    total = count = 0
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        producing = pool.submit(producer)
        client = flight.connect(node.uri)
        reader = client.do_get(begun.flight_info.endpoints[0].ticket)
        for chunk in reader:
            seq = chunk.data.column(0)
            total += pa.compute.sum(seq).as_py()
            count += len(seq)
            if not spill_seen:
                spill_seen.extend(f for f in spool_dir.rglob("*") if f.is_file())
            time.sleep(0.01)  # a slow client
        producing.result(timeout=120)
    rows = partitions * per_partition * batch_rows
    assert count == rows
    want = sum(sum(range(p * 100000 * batch_rows, (p * 100000 + per_partition) * batch_rows))
               for p in range(partitions))
    assert total == want
    assert spill_seen, "the spool never wrote a spill file"
    wait_for(lambda: not [f for f in spool_dir.rglob("*") if f.is_file()], 10, "spill files removed")
    peak_kib = node.status("VmHWM")
    assert (peak_kib - baseline_kib) * 1024 < spool_memory + (256 << 20), (baseline_kib, peak_kib)


# --- faults ------------------------------------------------------------------

def test_killed_serving_node_fails_every_stream_and_is_avoided(cluster):
    nodes = three_nodes(cluster)
    begun = xc.begin(nodes[0].uri, SECRET, SCHEMA, partitions=6)
    victim = next(n for n in nodes[1:])
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        reading = pool.submit(xc.read_parallel, begun.flight_info, None, True)
        for p in range(6):
            xc.push(begun.uri_of(p), begun.query_id, begun.credential, p, 0, partition_batches(p, rows=100))
        time.sleep(0.3)  # readers are streaming, waiting for the query's end
        killed_at = time.monotonic()
        victim.proc.kill()
        results = reading.result(timeout=SESSION_TIMEOUT_S + 15)
        elapsed = time.monotonic() - killed_at
    assert elapsed < SESSION_TIMEOUT_S * 2 + 5, elapsed
    for endpoint, result in zip(begun.flight_info.endpoints, results):
        assert isinstance(result, flight.FlightUnavailableError), (endpoint.locations, result)
        if endpoint.locations[0].uri.decode() != victim.uri:
            assert victim.node_id in str(result) and victim.uri in str(result), result
    assert cluster.query(begun.query_id)["state"] == "FAILED"
    # The next query is planned on the surviving nodes only.
    wait_members(cluster, [n.node_id for n in nodes if n is not victim])
    again = xc.begin(nodes[0].uri, SECRET, SCHEMA, partitions=4)
    assert victim.uri not in {uri for _, _, uri in again.assignment}
    assert len(again.flight_info.endpoints) == 2


def test_killed_coordinator_fails_the_query(cluster):
    nodes = three_nodes(cluster)
    coordinator = nodes[0]
    begun = xc.begin(coordinator.uri, SECRET, SCHEMA, partitions=6)
    coordinator.proc.kill()
    record = wait_for(lambda: (q := next((q for q in survivors_status(cluster) if q["id"] == begun.query_id), None))
                      and q["state"] == "FAILED" and q, SESSION_TIMEOUT_S + 15, "the query to fail")
    # Seen as its coordinator's loss or as a serving node's, whichever comes first.
    assert "node n1" in record["reason"] and record["failure"] == "node_lost"
    # Readers on the surviving nodes get UNAVAILABLE at once.
    for endpoint in begun.flight_info.endpoints:
        if endpoint.locations[0].uri.decode() == coordinator.uri:
            continue
        with pytest.raises(flight.FlightUnavailableError, match="node n1"):
            xc.read_endpoint(endpoint)


def survivors_status(cluster):
    return cluster.status()["queries"]


def test_cancel_on_another_node_cancels_everywhere(cluster):
    nodes = three_nodes(cluster)
    begun = xc.begin(nodes[0].uri, SECRET, SCHEMA, partitions=3)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        reading = pool.submit(xc.read_parallel, begun.flight_info, None, True)
        time.sleep(0.3)
        assert xc.cancel(nodes[2].uri, begun.flight_info) == 1  # CANCEL_STATUS_CANCELLED
        results = reading.result(timeout=30)
    assert all(isinstance(r, flight.FlightCancelledError) for r in results), results
    assert cluster.query(begun.query_id)["state"] == "CANCELLED"
    with pytest.raises(flight.FlightCancelledError):
        xc.push(begun.uri_of(0), begun.query_id, begun.credential, 0, 0, partition_batches(0))


def test_deadline_ends_streams(cluster):
    nodes = three_nodes(cluster)
    begun = xc.begin(nodes[0].uri, SECRET, SCHEMA, partitions=3, timeout_ms=1500)
    results = xc.read_parallel(begun.flight_info, return_exceptions=True)
    assert all(isinstance(r, flight.FlightTimedOutError) for r in results), results


# --- ZooKeeper faults --------------------------------------------------------------

def retry_unavailable(call, timeout=15):
    """Calls `call` until it stops failing with UNAVAILABLE: a node refuses
    new distributed work while it reconnects to ZooKeeper."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except flight.FlightUnavailableError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def run_small_query(nodes, partitions=3):
    begun = retry_unavailable(lambda: xc.begin(nodes[0].uri, SECRET, SCHEMA, partitions=partitions))
    committed = [(p, 0) for p in range(partitions)]
    for p in range(partitions):
        xc.push(begun.uri_of(p), begun.query_id, begun.credential, p, 0, partition_batches(p, rows=200))
    retry_unavailable(lambda: xc.complete(nodes[-1].uri, begun.query_id, begun.credential, committed))
    tables = xc.read_parallel(begun.flight_info)
    assert xc.row_hashes(tables) == xc.row_hashes(reference(partitions, rows=200))


def test_ensemble_member_killed_serving_continues(tmp_path, secret_file):
    ensemble = ZooKeeperEnsemble(3)
    ensemble.start()
    try:
        cluster = Cluster(ensemble.connect_string, tmp_path, secret_file)
        try:
            nodes = three_nodes(cluster)
            run_small_query(nodes)
            # A query streaming while the ZooKeeper leader dies goes on.
            begun = xc.begin(nodes[0].uri, SECRET, SCHEMA, partitions=6)
            with concurrent.futures.ThreadPoolExecutor(1) as pool:
                reading = pool.submit(xc.read_parallel, begun.flight_info)
                for p in range(3):
                    xc.push(begun.uri_of(p), begun.query_id, begun.credential, p, 0, partition_batches(p))
                ensemble.kill_member(ensemble.leader())
                for p in range(3, 6):
                    xc.push(begun.uri_of(p), begun.query_id, begun.credential, p, 0, partition_batches(p))
                retry_unavailable(lambda: xc.complete(nodes[1].uri, begun.query_id, begun.credential,
                                                      [(p, 0) for p in range(6)]))
                tables = reading.result(timeout=60)
            assert xc.row_hashes(tables) == xc.row_hashes(reference(6))
            run_small_query(nodes)
            assert cluster.member_ids() == ["n1", "n2", "n3"]
        finally:
            cluster.stop()
    finally:
        ensemble.stop()


def test_restarted_zookeeper_nodes_rejoin(tmp_path, secret_file):
    server = ZooKeeperServer()
    server.start()
    try:
        cluster = Cluster(server.connect_string, tmp_path, secret_file)
        try:
            nodes = three_nodes(cluster)
            server.kill()
            # Without ZooKeeper a node refuses new distributed queries, saying why.
            with pytest.raises(flight.FlightUnavailableError, match="ZooKeeper"):
                wait_for(lambda: xc.begin(nodes[0].uri, SECRET, SCHEMA, partitions=1) and False, 10,
                         "a refusal")
            time.sleep(SESSION_TIMEOUT_S + 1)  # the sessions expire meanwhile
            server.restart()
            wait_members(cluster, ["n1", "n2", "n3"], timeout=SESSION_TIMEOUT_S * 3 + 20)
            wait_for(lambda: all("event=cluster_rejoined" in n.log() or "event=cluster_session state=connected"
                                 in n.log() for n in nodes), 20, "rejoin logs")
            run_small_query(nodes)
        finally:
            cluster.stop()
    finally:
        server.stop()


# --- DuckDB nodes ---------------------------------------------------------------

def test_read_only_queries_spread_over_the_nodes(cluster, tmp_path):
    data = tmp_path / "t.parquet"
    import pyarrow.parquet as pq
    pq.write_table(pa.table({"x": list(range(100000))}), data)
    nodes = [cluster.start(f"n{i}", f"t={data}") for i in (1, 2, 3)]
    wait_members(cluster, ["n1", "n2", "n3"])
    time.sleep(1.5)  # loads reported
    sql = "SELECT count(*) AS c, sum(x) AS s FROM t WHERE x % 7 <> (SELECT count(*) FROM range(200000))"

    def run(_):
        # Autocommit: the DB-API otherwise opens a transaction, which (like
        # every transaction) stays on the node that holds it.
        with flightsql.connect(nodes[0].uri, autocommit=True) as conn, conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetch_arrow_table().to_pylist()
    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        results = list(pool.map(run, range(30)))
    assert all(r == [{"c": 100000, "s": sum(range(100000))}] for r in results)
    executed = {n.node_id: n.log().count("event=query_executed") for n in nodes}
    routed = nodes[0].log().count("event=query_routed")
    assert sum(executed.values()) >= 30
    assert all(count > 0 for count in executed.values()), executed
    assert routed > 0
    # Writes stay on the node that received them.
    with flightsql.connect(nodes[1].uri) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE local_only AS SELECT 42 AS v")
        conn.commit()
        cur.execute("SELECT v FROM local_only")
        assert cur.fetch_arrow_table().to_pylist() == [{"v": 42}]
    with flightsql.connect(nodes[2].uri) as conn, conn.cursor() as cur:
        with pytest.raises(Exception, match="local_only"):
            cur.execute("SELECT v FROM local_only")
            cur.fetch_arrow_table()
