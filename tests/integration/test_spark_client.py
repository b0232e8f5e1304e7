"""The C++ Spark Connect client (src/engine/spark/) against a real Spark
Connect server started from the pyspark wheel: results, types and errors.
The probe (build/squadron-spark-probe) runs SQL through the client and writes
the Arrow result; the reference is computed here independently."""

import datetime
import decimal
import os
import pathlib
import subprocess

import pyarrow as pa
import pytest

from conftest import BIN

PROBE = str(pathlib.Path(BIN).with_name("squadron-spark-probe"))


def probe(endpoint, sql, tmp_path, env=None):
    out = tmp_path / "result.arrows"
    run = subprocess.run([PROBE, endpoint, sql, str(out)], capture_output=True, text=True, timeout=300,
                         env={**os.environ, **(env or {})})
    table = pa.ipc.open_stream(out).read_all() if run.returncode == 0 else None
    return run, table


def test_rows_and_types_match_the_reference(spark_connect, tmp_path):
    n = 100_000
    run, table = probe(spark_connect, f"""
        SELECT id, id * 2 AS twice, CAST(id AS STRING) AS s, CAST(id AS DECIMAL(20, 2)) / 3 AS d,
               DATE'2024-01-01' + CAST(id % 100 AS INT) AS day, id % 7 = 0 AS seventh
        FROM range({n})""", tmp_path)
    assert run.returncode == 0, run.stderr
    assert "spark 4.3.0" in run.stderr
    assert table.schema.types == [pa.int64(), pa.int64(), pa.string(), pa.decimal128(24, 6), pa.date32(),
                                  pa.bool_()]
    ids = sorted(table.column("id").to_pylist())
    assert ids == list(range(n))
    rows = {r["id"]: r for r in table.to_pylist()}
    for i in (0, 1, 2, 99_999, 12_345):
        r = rows[i]
        assert r["twice"] == 2 * i and r["s"] == str(i) and r["seventh"] == (i % 7 == 0)
        assert r["d"] == (decimal.Decimal(i) / 3).quantize(decimal.Decimal("0.000001"), decimal.ROUND_HALF_UP)
        assert r["day"] == datetime.date(2024, 1, 1) + datetime.timedelta(days=i % 100)


def test_empty_result_keeps_its_schema(spark_connect, tmp_path):
    run, table = probe(spark_connect, "SELECT id, CAST(id AS STRING) AS s FROM range(10) WHERE id < 0", tmp_path)
    assert run.returncode == 0, run.stderr
    assert table.num_rows == 0
    assert table.schema.names == ["id", "s"]


@pytest.mark.parametrize("sql, error_class", [("SELEC 1", "PARSE_SYNTAX_ERROR"),
                                               ("SELECT * FROM no_such_table", "TABLE_OR_VIEW_NOT_FOUND")])
def test_bad_sql_is_invalid_argument_with_sparks_message(spark_connect, tmp_path, sql, error_class):
    run, _ = probe(spark_connect, sql, tmp_path)
    assert run.returncode == 1
    assert "Invalid: Spark:" in run.stderr and error_class in run.stderr


def test_unreachable_spark_is_unavailable_naming_the_endpoint(tmp_path):
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    endpoint = f"sc://127.0.0.1:{port}"
    run, _ = probe(endpoint, "SELECT 1", tmp_path, env={"SQUADRON_SPARK_CONNECT_TIMEOUT_MS": "1500"})
    assert run.returncode == 1
    assert endpoint in run.stderr
    assert "is unavailable" in run.stderr and "Detail: Unavailable" in run.stderr
