"""The Flight SQL JDBC driver's DatabaseMetaData walk (DBeaver's path) against
Squadron on the Spark engine: runs SparkJdbcMetadataTest of the Maven/JUnit
harness in tests/compat/jdbc (the DuckDB classes there are test_jdbc.py's).
The driver (18.3.0) has no getTypeInfo of its own: XdbcTypeInfo is checked by
test_spark_metadata.py."""

import logging
import os
import shutil
import subprocess

import pytest

from conftest import ROOT

HARNESS = ROOT / "tests" / "compat" / "jdbc"
FIXTURE = [
    "DROP NAMESPACE IF EXISTS jdbc_sales CASCADE",
    "CREATE NAMESPACE jdbc_sales",
    "CREATE TABLE jdbc_sales.orders (id BIGINT, amount DECIMAL(12, 2), placed TIMESTAMP) USING parquet",
    "INSERT INTO jdbc_sales.orders VALUES (1, 250.00, TIMESTAMP'2024-01-02 03:04:05'), (2, 12.50, NULL)",
    "CREATE VIEW jdbc_sales.big_orders AS SELECT id, amount FROM jdbc_sales.orders WHERE amount > 100",
]


@pytest.mark.skipif(shutil.which("mvn") is None or shutil.which("java") is None,
                    reason="the JDBC harness needs java and mvn (Maven), which this machine lacks")
def test_jdbc_metadata_walk_on_spark(spark_connect, start_server):
    from pyspark.sql import SparkSession
    logging.getLogger("SQLQueryContextLogger").setLevel(logging.CRITICAL)
    spark = SparkSession.builder.remote(spark_connect).create()  # its own: it is stopped below
    for sql in FIXTURE:
        spark.sql(sql).collect()
    try:
        server = start_server("--port", "0", "--engine", "spark", "--spark-connect", spark_connect)
        port = server.uri.rsplit(":", 1)[1]
        proc = subprocess.run(
            ["mvn", "-B", "-q", "test", "-Dtest=SparkJdbcMetadataTest", f"-Dsquadron.port={port}",
             "-Dsquadron.engine=spark"],
            cwd=HARNESS, capture_output=True, text=True, timeout=1200,
            env={**os.environ, "MAVEN_OPTS": os.environ.get("MAVEN_OPTS", "-Xmx512m")})
        reports = HARNESS / "target" / "surefire-reports"
        detail = "".join(p.read_text() for p in reports.glob("*SparkJdbc*.txt")) if reports.exists() else ""
        assert proc.returncode == 0, f"{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}\n{detail[-6000:]}"
        assert "Tests run: 6, Failures: 0, Errors: 0, Skipped: 0" in detail, detail
    finally:
        spark.sql("DROP NAMESPACE IF EXISTS jdbc_sales CASCADE").collect()
        spark.stop()  # while Spark runs: at exit pyspark would retry for minutes
