"""The Flight SQL JDBC driver (DBeaver's path) against the real server: runs the
Maven/JUnit harness in tests/compat/jdbc."""

import os
import shutil
import subprocess

import duckdb
import pytest

from conftest import ROOT

HARNESS = ROOT / "tests" / "compat" / "jdbc"
FIXTURE = [
    "CREATE SCHEMA sales",
    "CREATE TABLE sales.customers (id INTEGER PRIMARY KEY, name VARCHAR NOT NULL)",
    "CREATE TABLE sales.orders (id BIGINT PRIMARY KEY, customer_id INTEGER REFERENCES sales.customers (id), "
    "amount DECIMAL(12, 2) NOT NULL, placed TIMESTAMP)",
    "CREATE VIEW sales.big_orders AS SELECT * FROM sales.orders WHERE amount > 100",
    "CREATE TABLE sales.notes (id INTEGER, text VARCHAR)",
    "INSERT INTO sales.customers VALUES (1, 'Ada'), (2, 'Grace')",
    "INSERT INTO sales.orders VALUES (1, 1, 250.00, TIMESTAMP '2024-01-02 03:04:05'), "
    "(2, 2, 12.50, NULL)",
]


@pytest.mark.skipif(shutil.which("mvn") is None or shutil.which("java") is None,
                    reason="the JDBC harness needs java and mvn (Maven), which this machine lacks")
def test_jdbc_driver_harness(start_server, tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    con = duckdb.connect(str(warehouse))
    con.execute("CREATE TABLE stock AS SELECT 'sku' || range AS sku, range AS qty FROM range(3)")
    con.close()
    init = tmp_path / "init.sql"
    init.write_text(";\n".join(FIXTURE) + ";\n")
    server = start_server("--port", "0", "--init-sql", str(init), str(warehouse))
    port = server.uri.rsplit(":", 1)[1]
    proc = subprocess.run(
        ["mvn", "-B", "-q", "test", f"-Dsquadron.port={port}"],
        cwd=HARNESS, capture_output=True, text=True, timeout=1200,
        env={**os.environ, "MAVEN_OPTS": os.environ.get("MAVEN_OPTS", "-Xmx512m")})
    reports = HARNESS / "target" / "surefire-reports"
    detail = "".join(p.read_text() for p in reports.glob("*.txt")) if reports.exists() else ""
    assert proc.returncode == 0, f"{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}\n{detail[-6000:]}"
    # The catalog= connection set its session's catalog, and closing it closed the session.
    log = server.log()
    assert "event=session_opened" in log and "event=session_closed reason=close_session" in log
