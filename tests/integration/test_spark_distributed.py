"""`--engine spark` in a cluster: which queries run distributed (Spark's
executors pushing into the nodes) and which come through the driver, and what
a client sees when the distributed write cannot start. Real ZooKeeper, real
Spark Connect, two nodes."""

import concurrent.futures
import re
import subprocess
import time

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.flight as flight
import pytest

from conftest import running_jobs, spark_app_id, wait_until
from flightsql import descriptor, statement_query
from test_cluster import Cluster, secret_file, wait_members  # noqa: F401 (secret_file: a fixture)


@pytest.fixture
def spark_cluster(zookeeper, tmp_path, secret_file, spark_connect):
    c = Cluster(zookeeper.connect_string, tmp_path, secret_file)

    def start(*extra):
        nodes = [c.start(f"n{i}", "--engine", "spark", "--spark-connect", str(spark_connect), *extra)
                 for i in (1, 2)]
        wait_members(c, ["n1", "n2"])
        return nodes

    c.start_spark_nodes = start
    yield c
    c.stop()


def query(uri, sql):
    client = flight.connect(uri)
    info = client.get_flight_info(descriptor(statement_query(sql)))
    return info, pa.concat_tables(client.do_get(e.ticket).read_all() for e in info.endpoints)


def test_small_results_and_statements_come_through_the_driver(spark_cluster, pyspark_session):
    n1, _ = spark_cluster.start_spark_nodes()  # --distribute auto, 64 MiB
    sql = "SELECT id, id * 2 AS y FROM range(1000) ORDER BY id"
    info, table = query(n1.uri, sql)
    assert len(info.endpoints) == 1
    assert table.to_pylist() == pyspark_session.sql(sql).toArrow().to_pylist()
    assert "event=query_distributed" not in n1.log()
    # Statements other than queries never go distributed.
    query(n1.uri, "SET spark.sql.shuffle.partitions=3")
    assert "event=query_distributed" not in n1.log()


def test_without_the_connector_a_distributed_query_fails_with_sparks_message(spark_cluster):
    # The session's Spark has no squadron connector jar: the write cannot
    # start, the reservation is withdrawn and the client hears Spark's reason.
    n1, _ = spark_cluster.start_spark_nodes("--distribute", "always")
    with pytest.raises(pa.ArrowInvalid, match="DATA_SOURCE_NOT_FOUND.*squadron"):
        query(n1.uri, "SELECT id FROM range(10)")
    assert "event=distributed_write_failed" in n1.log()
    assert not any(q["state"] == "RUNNING" for q in spark_cluster.status()["queries"])


def test_distribute_never_keeps_every_query_on_the_driver(spark_cluster, pyspark_session):
    n1, _ = spark_cluster.start_spark_nodes("--distribute", "never")
    sql = "SELECT id FROM range(0, 3000000, 1, 4)"
    info, table = query(n1.uri, sql)
    assert len(info.endpoints) == 1 and table.num_rows == 3000000
    assert "event=query_distributed" not in n1.log()


# --- end to end: Spark's executors push into the nodes ------------------------------------

@pytest.fixture(scope="module")
def connector_spark(tmp_path_factory):
    """Spark Connect on a standalone Spark cluster of two workers (one
    executor JVM each, on distinct loopback hosts), with the Squadron
    connector on its classpath and speculative execution on: a task that
    runs much longer than its siblings gets a second copy."""
    from conftest import ROOT, SparkStandalone, start_spark_connect, stop_spark_connect
    jar = subprocess.run([str(ROOT / "scripts" / "build-connector")], capture_output=True, text=True,
                         timeout=900)
    assert jar.returncode == 0, jar.stderr[-4000:]
    work = tmp_path_factory.mktemp("spark-cluster")
    cluster = SparkStandalone(work)
    try:
        spark = start_spark_connect(work, conf=[f"spark.jars={jar.stdout.strip()}",
                                                "spark.task.maxFailures=4",
                                                "spark.executor.memory=1g",
                                                "spark.speculation=true",
                                                "spark.speculation.interval=100ms",
                                                "spark.speculation.multiplier=3",
                                                "spark.speculation.quantile=0.5",
                                                "spark.speculation.minTaskRuntime=2s"],
                                    master=cluster.url)
    except BaseException:
        cluster.stop()
        raise
    spark.work = work
    spark.standalone = cluster
    yield spark
    stop_spark_connect(spark)
    cluster.stop()


@pytest.fixture
def pushing_cluster(zookeeper, tmp_path, secret_file, connector_spark):
    c = Cluster(zookeeper.connect_string, tmp_path, secret_file)
    common = ("--engine", "spark", "--spark-connect", str(connector_spark), "--distribute", "always")
    # n1 coordinates with a fault: the first attempt of partition 1 throws
    # after pushing one batch (Spark retries it); n2 without.
    n1 = c.start("n1", *common, "--spark-writer-option", "squadron.test.failFirstAttemptOfPartition=1",
                 "--spark-writer-option", "squadron.test.failAfterBatches=1",
                 "--spark-writer-option", "squadron.batchRows=4096")
    n2 = c.start("n2", *common)
    wait_members(c, ["n1", "n2"])
    yield c, n1, n2
    c.stop()


def read_parallel(info):
    def read(endpoint):
        client = flight.connect(endpoint.locations[0])
        return client.do_get(endpoint.ticket).read_all()
    with concurrent.futures.ThreadPoolExecutor(len(info.endpoints)) as pool:
        return list(pool.map(read, info.endpoints))


def reference_session(spark):
    from pyspark.sql import SparkSession
    return SparkSession.builder.remote(str(spark)).create()


ALL_TYPES = """
SELECT id, CAST(id % 100 AS TINYINT) AS i8, CAST(id % 30000 AS SMALLINT) AS i16, CAST(id AS INT) AS i32,
       CAST(id / 3 AS FLOAT) AS f32, id / 7 AS f64, CAST(id / 3 AS DECIMAL(10, 2)) AS dec,
       CAST(id * 1234567 AS DECIMAL(38, 6)) AS dec38, CAST(id AS STRING) AS s,
       CAST(concat('b', id) AS BINARY) AS bin, id % 2 = 0 AS b, date_add(DATE '2024-02-28', CAST(id % 400 AS INT)) AS d,
       TIMESTAMP_NTZ '2024-03-10 12:34:56.789012' AS ts_ntz, INTERVAL '1 02:03:04.5' DAY TO SECOND AS dt,
       array(id, NULL) AS arr, named_struct('a', id, 'b', CAST(id AS STRING)) AS st, map('k', id) AS m,
       IF(id % 5 = 0, NULL, id) AS maybe
FROM range(0, 200000, 1, 6)
"""


def test_executors_push_every_type_into_both_nodes(pushing_cluster, connector_spark):
    _, _, n2 = pushing_cluster
    client = flight.connect(n2.uri)
    info = client.get_flight_info(descriptor(statement_query(ALL_TYPES)))
    assert len(info.endpoints) == 2  # both nodes serve a share
    parts = read_parallel(info)
    assert all(p.num_rows > 0 for p in parts)
    got = pa.concat_tables(parts).sort_by("id")
    spark = reference_session(connector_spark)
    try:
        reference = spark.sql(ALL_TYPES).toArrow().sort_by("id")
    finally:
        spark.stop()
    assert got.schema.remove_metadata() == reference.schema.remove_metadata()
    assert got.equals(reference)
    assert "event=query_distributed" in n2.log()


def test_a_retried_task_loses_and_duplicates_nothing(pushing_cluster, connector_spark):
    _, n1, n2 = pushing_cluster
    sql = "SELECT id, hash(id) AS h FROM range(0, 400000, 1, 4)"
    client = flight.connect(n1.uri)
    info = client.get_flight_info(descriptor(statement_query(sql)))
    got = pa.concat_tables(read_parallel(info))
    ids = got.column("id")
    assert got.num_rows == 400000
    assert pc.count_distinct(ids).as_py() == 400000          # 0 duplicated
    assert pc.sum(ids).as_py() == sum(range(400000))          # 0 lost
    assert pc.sum(got.column("h")).as_py() == sum_of_hashes(connector_spark, sql)
    # Spark retried the failed attempt; the node dropped what it had pushed.
    logs = executor_logs(connector_spark)
    assert "squadron.test.failFirstAttemptOfPartition" in logs
    # Batches went from the executor processes straight to the nodes: every
    # executor pushed, and the driver (the Spark Connect server) pushed nothing.
    assert "squadron: pushed partition" in logs
    pushing_executors = {line.split(" executor ")[1].split()[0] for line in logs.splitlines()
                         if "squadron: pushed partition" in line}
    assert len(pushing_executors) == 2, pushing_executors
    assert "squadron: pushed partition" not in (connector_spark.work / "spark.log").read_text()


def sum_of_hashes(spark_endpoint, sql):
    spark = reference_session(spark_endpoint)
    try:
        return spark.sql(f"SELECT sum(h) AS s FROM ({sql})").toArrow().column("s")[0].as_py()
    finally:
        spark.stop()


def executor_logs(spark):
    return spark.standalone.executor_logs()


def test_order_by_is_served_in_partition_order(pushing_cluster, connector_spark):
    _, _, n2 = pushing_cluster
    sql = "SELECT id, CAST(id % 1000 AS INT) AS k FROM range(0, 100000, 1, 4) ORDER BY k DESC, id"
    client = flight.connect(n2.uri)
    info = client.get_flight_info(descriptor(statement_query(sql)))
    assert info.ordered
    got = pa.concat_tables(read_parallel(info))  # endpoints in order: concatenated, the order holds
    spark = reference_session(connector_spark)
    try:
        reference = spark.sql(sql).toArrow()
    finally:
        spark.stop()
    assert got.select(["id", "k"]).to_pylist() == reference.to_pylist()


# Thousands of tasks, each slow: a job that would run for many minutes.
ENDLESS = "SELECT id, hash(id) AS h FROM range(0, 4000000000, 1, 4000) WHERE hash(id) % 7 = 0"


def test_cancel_flight_info_stops_the_spark_job(pushing_cluster, connector_spark):
    from flightsql import CANCEL_STATUS_CANCELLED, cancel_flight_info_request, decode_varint_field
    _, _, n2 = pushing_cluster
    client = flight.connect(n2.uri)
    info = client.get_flight_info(descriptor(statement_query(ENDLESS)))  # answered once planned
    assert len(info.endpoints) == 2
    wait_until(lambda: len(running_jobs(connector_spark)) > 0, "the Spark job to run")
    action = flight.Action("CancelFlightInfo", cancel_flight_info_request(info))
    assert decode_varint_field(list(client.do_action(action))[0].body.to_pybytes(), 1) == CANCEL_STATUS_CANCELLED
    for endpoint in info.endpoints:
        with pytest.raises(flight.FlightCancelledError, match="cancelled"):
            reader = flight.connect(endpoint.locations[0]).do_get(endpoint.ticket)
            while True:
                reader.read_chunk()
    wait_until(lambda: running_jobs(connector_spark) == [], "Spark to have no running job")


def test_a_failing_spark_job_fails_every_stream_with_sparks_message(pushing_cluster):
    _, _, n2 = pushing_cluster
    client = flight.connect(n2.uri)
    sql = "SELECT id, IF(id = 150000, raise_error('squadron test: row 150000 is bad'), id) AS x FROM range(0, 200000, 1, 4)"
    info = client.get_flight_info(descriptor(statement_query(sql)))
    assert len(info.endpoints) == 2
    # The query raised it (SQLSTATE P0001): the query is at fault,
    # INVALID_ARGUMENT, with Spark's message, on both nodes' streams.
    for endpoint in info.endpoints:
        with pytest.raises(pa.ArrowInvalid, match="row 150000 is bad"):
            reader = flight.connect(endpoint.locations[0]).do_get(endpoint.ticket)
            while True:
                reader.read_chunk()


def test_a_killed_serving_node_fails_the_query_with_unavailable(pushing_cluster, connector_spark):
    c, _, n2 = pushing_cluster
    client = flight.connect(n2.uri)
    info = client.get_flight_info(descriptor(statement_query(ENDLESS)))
    survivor = next(e for e in info.endpoints if e.locations[0].uri.decode() == n2.uri)
    c.nodes["n1"].kill()  # a serving node that is not the coordinator
    killed_at = time.monotonic()
    n1_port = c.nodes["n1"].uri.rsplit(":", 1)[1]
    with pytest.raises(flight.FlightError) as failure:
        reader = flight.connect(survivor.locations[0]).do_get(survivor.ticket)
        while True:
            reader.read_chunk()
    assert time.monotonic() - killed_at < 30  # the session timeout, plus a little
    # Whichever comes first: the cluster sees n1's ZooKeeper session end
    # (naming it), or Spark's tasks for n1 fail to connect and the job fails
    # naming its address. UNAVAILABLE either way.
    message = str(failure.value)
    assert isinstance(failure.value, flight.FlightUnavailableError), message
    assert "n1" in message or n1_port in message, message
    wait_until(lambda: running_jobs(connector_spark) == [], "Spark to have no running job")


# --- faults Spark recovers from, and backpressure ------------------------------------------

def start_pair(zookeeper, tmp_path, secret_file, spark, *n1_options, spool=(), spool_dir=None):
    """Two nodes on `spark`, n1 (the coordinator of the tests' queries) with
    extra --spark-writer-option values, both with `spool` options."""
    c = Cluster(zookeeper.connect_string, tmp_path, secret_file)
    common = ("--engine", "spark", "--spark-connect", str(spark), "--distribute", "always", *spool)
    writer = [arg for option in n1_options for arg in ("--spark-writer-option", option)]
    n1 = c.start("n1", *common, *writer, spool_dir=spool_dir)
    n2 = c.start("n2", *common, spool_dir=spool_dir)
    wait_members(c, ["n1", "n2"])
    return c, n1, n2


def check_exact(got, sql, spark, rows):
    ids = got.column("id")
    assert got.num_rows == rows
    assert pc.count_distinct(ids).as_py() == rows          # 0 duplicated
    assert pc.sum(ids).as_py() == sum(range(rows))          # 0 lost
    assert pc.sum(got.column("h")).as_py() == sum_of_hashes(spark, sql)


def test_an_executor_lost_after_its_commit_loses_and_duplicates_nothing(zookeeper, tmp_path, secret_file,
                                                                         connector_spark):
    # The executor pushing partition 2 exits right after the node committed
    # it, before Spark hears of it: Spark reruns the task on the other
    # executor, the node drains the rerun and names the attempt that won, and
    # the driver completes the query with it.
    c, n1, n2 = start_pair(zookeeper, tmp_path, secret_file, connector_spark,
                           "squadron.test.dieAfterCommitOfPartition=2", "squadron.batchRows=8192")
    try:
        sql = "SELECT id, hash(id) AS h FROM range(0, 300000, 1, 4)"
        info = flight.connect(n1.uri).get_flight_info(descriptor(statement_query(sql)))
        check_exact(pa.concat_tables(read_parallel(info)), sql, connector_spark, 300000)
        logs = executor_logs(connector_spark)
        assert "squadron.test.dieAfterCommitOfPartition" in logs
        deferred = "\n".join(n.log() for n in (n1, n2))
        assert re.search(r"event=exchange_deferred .* partition=2 .* end=commit", deferred), deferred[-3000:]
    finally:
        c.stop()


def spark_tasks(spark):
    """Every task attempt of the Spark application, from its REST API."""
    from conftest import spark_app_id, spark_ui_json
    base = f"{spark.ui}/api/v1/applications/{spark_app_id(spark)}"
    tasks = []
    for stage in spark_ui_json(f"{base}/stages"):
        url = f"{base}/stages/{stage['stageId']}/{stage['attemptId']}/taskList?length=10000"
        tasks += [dict(t, stageId=stage["stageId"]) for t in spark_ui_json(url)]
    return tasks


def test_speculative_copies_lose_and_duplicate_nothing(zookeeper, tmp_path, secret_file, connector_spark):
    # The first attempt of partition 1 straggles (it sleeps after each
    # batch): Spark runs a speculative copy on the other executor, which
    # commits; the straggler is killed and its pushes dropped.
    c, n1, n2 = start_pair(zookeeper, tmp_path, secret_file, connector_spark,
                           "squadron.test.slowFirstAttemptOfPartition=1", "squadron.test.slowMillisPerBatch=1500",
                           "squadron.batchRows=4096")
    try:
        before = {(t["stageId"], t["taskId"]) for t in spark_tasks(connector_spark)}
        sql = "SELECT id, hash(id) AS h FROM range(0, 200000, 1, 4)"
        info = flight.connect(n1.uri).get_flight_info(descriptor(statement_query(sql)))
        check_exact(pa.concat_tables(read_parallel(info)), sql, connector_spark, 200000)
        tasks = [t for t in spark_tasks(connector_spark) if (t["stageId"], t["taskId"]) not in before]
        speculative = [t for t in tasks if t.get("speculative")]
        assert speculative, [(t["index"], t["attempt"], t["status"]) for t in tasks]
        assert any(t["status"] == "SUCCESS" for t in speculative), speculative
    finally:
        c.stop()


def test_a_slow_client_blocks_the_executors_and_the_spool_stays_in_budget(zookeeper, tmp_path, secret_file,
                                                                           connector_spark):
    # 4 MiB of spool memory and 4 MiB of disk per node for a ~60 MB result
    # in 40 partitions, and a client that stalls for 15 s: the nodes hold what
    # fits and stop reading; gRPC's flow control then parks the executors'
    # pushes until the client reads again. (A node serves a partition only once its attempt committed, so it
    # must hold the partitions being pushed whole: here ~1.5 MB each.)
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    budget = 4 << 20
    c, n1, n2 = start_pair(zookeeper, tmp_path, secret_file, connector_spark, "squadron.batchRows=8192",
                           spool=("--spool-memory", "4MiB", "--spool-disk", "4MiB"), spool_dir=spool_dir)
    try:
        baseline = {n.node_id: n.status("VmRSS") for n in (n1, n2)}
        sql = "SELECT id, hash(id) AS h, repeat('x', 40) AS pad FROM range(0, 1000000, 1, 40)"
        info = flight.connect(n1.uri).get_flight_info(descriptor(statement_query(sql)))
        spilled = [0]

        def read(endpoint):
            reader = flight.connect(endpoint.locations[0]).do_get(endpoint.ticket)
            parts = []
            while True:
                try:
                    chunk = reader.read_chunk()
                except StopIteration:
                    return pa.Table.from_batches(parts)
                parts.append(chunk.data.select(["id", "h"]))
                spilled[0] = max(spilled[0], sum(f.stat().st_size for f in spool_dir.rglob("*") if f.is_file()))
                if len(parts) == 1:
                    # A client that stalls after its first batch, long enough
                    # for Spark to have pushed everything several times over.
                    for _ in range(60):
                        time.sleep(0.25)
                        spilled[0] = max(spilled[0],
                                         sum(f.stat().st_size for f in spool_dir.rglob("*") if f.is_file()))
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            got = pa.concat_tables(pool.map(read, info.endpoints))
        check_exact(got, "SELECT id, hash(id) AS h FROM range(0, 1000000, 1, 40)", connector_spark, 1000000)
        blocked = [int(m) for m in re.findall(r"waited on the node \(backpressure\) (\d+) ms",
                                              executor_logs(connector_spark))]
        assert blocked and max(blocked) > 1000, blocked  # the executors waited on the nodes
        # Spill files never went past the disk budget (plus the one batch a
        # node may overcommit to avoid a deadlock), and memory stayed bounded.
        assert spilled[0] <= 2 * budget + (4 << 20), spilled[0]
        for n in (n1, n2):
            peak = n.status("VmHWM")
            assert (peak - baseline[n.node_id]) * 1024 < budget + (256 << 20), (n.node_id, baseline, peak)
    finally:
        c.stop()
