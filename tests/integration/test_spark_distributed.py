"""`--engine spark` in a cluster: which queries run distributed (Spark's
executors pushing into the nodes) and which come through the driver, and what
a client sees when the distributed write cannot start. Real ZooKeeper, real
Spark Connect, two nodes."""

import pyarrow as pa
import pyarrow.flight as flight
import pytest

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
