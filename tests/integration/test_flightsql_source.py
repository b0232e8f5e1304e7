"""The `flightsql` Spark source (connectors/spark) reading real Flight SQL servers.

Spark runs once for the module: classic pyspark in local mode, in a child
process started with the connector jar (scripts/build-connector builds it),
driven by JSON lines on its stdin. Its results come back as Arrow IPC files
and are compared with DuckDB's own Python client running the same SQL on the
same data. The servers are a Squadron on DuckDB (one endpoint per query), and
a small pyarrow Flight SQL server defined here that answers each query with
several endpoints at two locations (Squadron serves a DuckDB query from one
endpoint; its multi-endpoint results come from the exchange, which Spark
writes into and does not read through SQL).
"""

import datetime
import json
import math
import os
import pathlib
import select
import shutil
import subprocess
import sys
import threading
import time

import duckdb
import pyarrow as pa
import pyarrow.flight as flight
import pytest

import flightsql
from conftest import ROOT

pytestmark = pytest.mark.skipif(shutil.which("mvn") is None or shutil.which("javac") is None,
                                reason="the Spark connector needs Maven and a JDK")

SPARK_START_TIMEOUT_S = 240
SPARK_CALL_TIMEOUT_S = 300

# The data, created alike in Squadron (--init-sql) and in the reference DuckDB.
FIXTURE = """
CREATE TABLE t AS SELECT
  range::INTEGER AS i,
  (range % 100)::TINYINT AS ti,
  (range * 7)::SMALLINT AS si,
  (range * 1000000007)::BIGINT AS bi,
  (range % 250)::UTINYINT AS ut,
  (range * 2000000)::UINTEGER AS ui,
  (18446744073709551615 - range)::UBIGINT AS ub,
  (range / 3)::DECIMAL(12, 2) AS dec,
  (range * 1.5)::DECIMAL(38, 10) AS dec38,
  range / 7.0 AS dbl,
  range % 3 = 0 AS flag,
  CASE WHEN range % 10 = 0 THEN NULL ELSE 'name ' || range || ' ''q'' \\ %' END AS s,
  DATE '2024-01-01' + range::INTEGER AS d,
  TIMESTAMP '2024-01-01 00:00:00' + INTERVAL (range) MINUTE AS ts,
  TIMESTAMPTZ '2024-01-01 00:00:00+00' + INTERVAL (range * 61) SECOND AS tstz,
  ('b' || range)::BLOB AS bin,
  [range, range + 1, NULL] AS lst,
  {'a': range, 'b': 'x' || range, 'c': [range::DOUBLE]} AS st,
  MAP {'k' || range: range} AS mp,
  (['red', 'green', 'blue'])[range % 3 + 1]::ENUM ('red', 'green', 'blue') AS color
FROM range(2000);
"""

# Classic pyspark in this child process; one JSON command per stdin line,
# one JSON answer per stdout line.
SPARK_DRIVER = r'''
import json, sys, traceback
from pyspark.sql import SparkSession
jar, = sys.argv[1:]
spark = (SparkSession.builder.master("local[2]").appName("flightsql-tests")
         .config("spark.jars", jar)
         .config("spark.ui.enabled", "false")
         .config("spark.driver.host", "127.0.0.1")
         .config("spark.driver.bindAddress", "127.0.0.1")
         .config("spark.sql.session.timeZone", "UTC")
         .config("spark.sql.shuffle.partitions", "2")
         .getOrCreate())
jvm = spark._jvm

def read(cmd):
    df = spark.read.format("flightsql").options(**cmd["options"]).load()
    if cmd.get("where"):
        df = df.where(cmd["where"])
    if cmd.get("select"):
        df = df.select(*cmd["select"])
    if cmd.get("limit") is not None:
        df = df.limit(cmd["limit"])
    out = {"schema": df.schema.simpleString()}
    qe = df._jdf.queryExecution()
    out["explain"] = jvm.org.apache.spark.sql.api.python.PythonSQLUtils.explainString(qe, "simple")
    if cmd.get("plan"):
        rdd = qe.toRdd()
        sc = spark.sparkContext._jsc.sc()
        out["partitions"] = len(rdd.partitions())
        # As the scheduler sees them: through the narrow dependencies down to the scan.
        out["preferred"] = [sc.getPreferredLocs(rdd, i).mkString(",") for i in range(out["partitions"])]
    if cmd.get("count"):
        out["count"] = df.count()
    if cmd.get("out"):
        import pyarrow as pa
        table = df.toArrow()
        with pa.OSFile(cmd["out"], "wb") as f, pa.ipc.new_file(f, table.schema) as w:
            w.write_table(table)
    return out

print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    cmd = json.loads(line)
    try:
        answer = read(cmd)
    except Exception as e:
        answer = {"error": "".join(traceback.format_exception_only(type(e), e))[:4000]}
    print(json.dumps(answer), flush=True)
'''


class SparkDriver:
    """The child process holding the SparkSession."""

    def __init__(self, work, jar):
        self.work = work
        script = work / "spark_driver.py"
        script.write_text(SPARK_DRIVER)
        env = dict(os.environ)
        # Classic Spark in the child: pyspark marks the environment once a
        # Spark Connect session was made in this process (other test modules).
        for variable in ("SPARK_CONNECT_MODE_ENABLED", "SPARK_REMOTE", "SPARK_LOCAL_REMOTE"):
            env.pop(variable, None)
        env["SPARK_HOME"] = str(pathlib.Path(__import__("pyspark").__file__).parent)
        self.log_path = work / "spark.log"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([sys.executable, str(script), str(jar)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self._log, env=env, cwd=work)
        self.lock = threading.Lock()
        self._read(SPARK_START_TIMEOUT_S)
        self.calls = 0

    def _read(self, timeout):
        deadline = time.monotonic() + timeout
        line = b""
        while not line.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            ready, _, _ = select.select([self.proc.stdout], [], [], max(remaining, 0))
            if not ready:
                raise TimeoutError(f"Spark gave no answer in {timeout} s; log:\n{self.log()[-4000:]}")
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            if not chunk:
                raise RuntimeError(f"Spark exited ({self.proc.poll()}); log:\n{self.log()[-4000:]}")
            line += chunk
        return json.loads(line)

    def log(self):
        return self.log_path.read_text(errors="replace")

    def read(self, options, where=None, select_=None, limit=None, plan=False, count=False, fetch=True):
        """Reads through `flightsql`; returns the answer dict, with "table" when fetched."""
        with self.lock:
            self.calls += 1
            out = self.work / f"result-{self.calls}.arrow"
            cmd = {"options": options, "where": where, "select": select_, "limit": limit, "plan": plan,
                   "count": count, "out": str(out) if fetch else None}
            self.proc.stdin.write((json.dumps(cmd) + "\n").encode())
            self.proc.stdin.flush()
            answer = self._read(SPARK_CALL_TIMEOUT_S)
        if "error" in answer:
            return answer
        if fetch:
            with pa.memory_map(str(out)) as source:
                answer["table"] = pa.ipc.open_file(source).read_all()
            out.unlink()
        return answer

    def stop(self):
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


@pytest.fixture(scope="module")
def connector_jar():
    built = subprocess.run([str(ROOT / "scripts" / "build-connector")], capture_output=True, text=True,
                           timeout=1800)
    assert built.returncode == 0, built.stderr[-6000:]
    return pathlib.Path(built.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def spark(connector_jar, tmp_path_factory):
    driver = SparkDriver(tmp_path_factory.mktemp("flightsql-spark"), connector_jar)
    yield driver
    driver.stop()


@pytest.fixture(scope="module")
def squadron(tmp_path_factory):
    """A Squadron on DuckDB holding FIXTURE (module-wide: Spark reads it many times)."""
    from conftest import ServerProcess

    work = tmp_path_factory.mktemp("flightsql-squadron")
    init = work / "init.sql"
    init.write_text(FIXTURE)
    server = ServerProcess(["--port", "0", "--init-sql", str(init)], work / "squadron.log")
    yield server
    server.kill()


@pytest.fixture(scope="module")
def reference():
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(FIXTURE)
    yield con
    con.close()


def _freeze(value):
    """A comparable form of a to_pylist() value: Spark and DuckDB give maps differently."""
    if isinstance(value, float):
        return ("<nan>",) if math.isnan(value) else value
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        if value and all(isinstance(v, tuple) and len(v) == 2 for v in value):
            return tuple(sorted((k, _freeze(v)) for k, v in value))  # a map as (key, value) pairs
        return tuple(_freeze(v) for v in value)
    if isinstance(value, datetime.datetime) and value.tzinfo is not None:
        return value.astimezone(datetime.timezone.utc)
    return value


def rows(table):
    """The rows, frozen, in the order of their first column (unique in these tests)."""
    return sorted((tuple(_freeze(v) for v in row.values()) for row in table.to_pylist()), key=lambda r: r[0])


def executed_queries(server):
    return [line for line in server.log().splitlines() if "event=query_executed" in line]


# --- Squadron (DuckDB) ---------------------------------------------------------

def test_reads_every_type_equal_to_duckdb(spark, squadron, reference):
    answer = spark.read({"uri": squadron.uri, "query": "SELECT * FROM t"}, plan=True)
    assert "error" not in answer, answer.get("error")
    schema = answer["schema"]
    for column, spark_type in [("i", "int"), ("ti", "tinyint"), ("si", "smallint"), ("bi", "bigint"),
                               ("ut", "smallint"), ("ui", "bigint"), ("ub", "decimal(20,0)"),
                               ("dec", "decimal(12,2)"), ("dec38", "decimal(38,10)"), ("dbl", "double"),
                               ("flag", "boolean"), ("s", "string"), ("d", "date"), ("ts", "timestamp_ntz"),
                               ("tstz", "timestamp"), ("bin", "binary"), ("lst", "array<bigint>"),
                               ("st", "struct<a:bigint,b:string,c:array<double>>"),
                               ("mp", "map<string,bigint>"), ("color", "string")]:
        assert f"{column}:{spark_type}" in schema, schema
    table = answer["table"]
    expected = reference.execute("SELECT * FROM t").fetch_arrow_table()
    assert table.num_rows == expected.num_rows == 2000
    # Unsigned ints come back widened; compare values.
    assert rows(table) == rows(expected)
    # A DuckDB query is served from one endpoint: one Spark partition per endpoint.
    client = flight.FlightClient(squadron.uri)
    try:
        info = client.get_flight_info(flightsql.descriptor(flightsql.statement_query("SELECT * FROM t")))
    finally:
        client.close()
    assert answer["partitions"] == len(info.endpoints) == 1


def test_pushes_filters_and_columns_into_the_sql(spark, squadron, reference):
    before = len(executed_queries(squadron))
    answer = spark.read({"uri": squadron.uri, "query": "SELECT * FROM t"},
                        where="i > 1990 AND s <> 'x''y'", select_=["i", "s", "tstz"])
    assert "error" not in answer, answer.get("error")
    explain = answer["explain"]
    assert "PushedFilters: [" in explain and "i > 1990" in explain, explain
    assert "RequiredColumns: [i, s, tstz]" in explain, explain
    assert 'SELECT "i", "s", "tstz" FROM' in explain, explain
    # Spark evaluates nothing of it again: no Filter above the scan.
    assert "Filter " not in explain.split("BatchScan")[0], explain
    expected = reference.execute(
        "SELECT i, s, tstz FROM t WHERE i > 1990 AND s <> 'x''y'").fetch_arrow_table()
    assert rows(answer["table"]) == rows(expected) and answer["table"].num_rows == 9
    sent = executed_queries(squadron)[before:]
    assert any('SELECT \\"i\\", \\"s\\", \\"tstz\\" FROM (\\nSELECT * FROM t\\n) AS q WHERE' in line
               and '(\\"i\\" > 1990)' in line for line in sent), "\n".join(sent)


# (Spark SQL filter, the same filter in DuckDB SQL, a piece of the SQL Squadron must
# receive, as its log writes it: quotes and backslashes escaped).
PUSHED = [
    ("d >= DATE'2029-06-01'", "d >= DATE '2029-06-01'", r"""(\"d\" >= DATE '2029-06-01')"""),
    ("ts < TIMESTAMP_NTZ'2024-01-01 00:05:00'", "ts < TIMESTAMP '2024-01-01 00:05:00'",
     "TIMESTAMP '2024-01-01 00:05:00.000000'"),
    ("tstz > TIMESTAMP'2024-01-02 09:00:00'", "tstz > TIMESTAMPTZ '2024-01-02 09:00:00+00'",
     "TIMESTAMP WITH TIME ZONE '2024-01-02 09:00:00.000000+00:00'"),
    ("dec = 333.33", "dec = 333.33", "333.33"),
    (r"s = 'name 7 \'q\' \\ %'", r"s = 'name 7 ''q'' \ %'", r"'name 7 ''q'' \\ %'"),
    ("s LIKE 'name 19%'", "s LIKE 'name 19%'", "LIKE 'name 19%' ESCAPE '!'"),
    (r"endswith(s, ' \\ %')", r"s LIKE '% \ !%' ESCAPE '!'", r"LIKE '% \\ !%' ESCAPE '!'"),
    ("bin = X'623432'", "bin = 'b42'::BLOB", "unhex('623432')"),
    ("i IN (3, 5, 7)", "i IN (3, 5, 7)", "IN (3, 5, 7)"),
    ("flag AND bi < 5000000035", "flag AND bi < 5000000035", r"""(\"flag\" = TRUE)"""),
    ("i = 5 OR s IS NULL", "i = 5 OR s IS NULL", " OR "),
    ("ti <=> 5", "ti IS NOT DISTINCT FROM 5", "IS NOT DISTINCT FROM 5"),
]


@pytest.mark.parametrize("spark_where, duckdb_where, sql_piece", PUSHED)
def test_pushed_literals_select_what_duckdb_selects(spark, squadron, reference, spark_where, duckdb_where,
                                                    sql_piece):
    before = len(executed_queries(squadron))
    answer = spark.read({"uri": squadron.uri, "dbtable": "t"}, where=spark_where, select_=["i"])
    assert "error" not in answer, answer.get("error")
    expected = reference.execute(f"SELECT i FROM t WHERE {duckdb_where}").fetch_arrow_table()
    assert expected.num_rows > 0, "a filter that selects nothing proves little"
    assert sorted(answer["table"].column("i").to_pylist()) == sorted(expected.column("i").to_pylist())
    assert "PushedFilters: [" in answer["explain"] and "PushedFilters: []" not in answer["explain"]
    sent = "\n".join(executed_queries(squadron)[before:])
    assert sql_piece in sent, sent


def test_count_selects_no_column_and_limit_is_pushed(spark, squadron):
    before = len(executed_queries(squadron))
    answer = spark.read({"uri": squadron.uri, "query": "SELECT * FROM t"}, where="i < 100", count=True,
                        fetch=False)
    assert answer["count"] == 100
    answer = spark.read({"uri": squadron.uri, "query": "SELECT * FROM t"}, select_=["i"], limit=7)
    assert answer["table"].num_rows == 7
    assert "PushedLimit: 7" in answer["explain"], answer["explain"]
    sent = "\n".join(executed_queries(squadron)[before:])
    assert 'SELECT 1 AS \\"__squadron_row\\" FROM' in sent, sent
    assert "LIMIT 7" in sent, sent


def test_options_turn_pushdown_off(spark, squadron):
    before = len(executed_queries(squadron))
    answer = spark.read({"uri": squadron.uri, "query": "SELECT i, s FROM t", "pushDownPredicate": "false",
                         "pushDownColumns": "false"}, where="i = 42", select_=["s"])
    assert answer["table"].to_pylist() == [{"s": "name 42 'q' \\ %"}]
    assert "PushedFilters: []" in answer["explain"], answer["explain"]
    sent = executed_queries(squadron)[before:]
    assert any('query="SELECT i, s FROM t"' in line for line in sent), "\n".join(sent)


def test_errors_name_the_problem(spark, squadron):
    answer = spark.read({"uri": squadron.uri, "query": "SELECT * FROM no_such_table"}, fetch=False)
    assert "no_such_table" in answer["error"], answer["error"]
    answer = spark.read({"uri": squadron.uri, "query": "SELECT 1 AS i, union_value(k := 1) AS un"}, fetch=False)
    assert "column 'un'" in answer["error"], answer["error"]
    answer = spark.read({"uri": squadron.uri, "query": "SELECT 1::UHUGEINT AS uh"}, fetch=False)
    assert "column 'uh'" in answer["error"] and "uhugeint" in answer["error"], answer["error"]
    answer = spark.read({"uri": squadron.uri}, fetch=False)
    assert "exactly one of the options 'query' and 'dbtable'" in answer["error"], answer["error"]
    answer = spark.read({"uri": "http://127.0.0.1:1", "dbtable": "t"}, fetch=False)
    assert "grpc://" in answer["error"], answer["error"]


# --- several endpoints ------------------------------------------------------------

def _field_bytes(data, wanted):
    """The bytes of length-delimited field `wanted` of a protobuf message."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, kind = key >> 3, key & 7
        if kind == 2:
            length, pos = _varint(data, pos)
            if number == wanted:
                return data[pos:pos + length]
            pos += length
        elif kind == 0:
            _, pos = _varint(data, pos)
        else:
            raise ValueError(f"unexpected wire type {kind}")
    return None


def _varint(data, pos):
    shift = result = 0
    while True:
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


class HeaderRecorder(flight.ServerMiddlewareFactory):
    """Remembers the authorization header of every call."""

    def __init__(self):
        self.seen = []

    def start_call(self, info, headers):
        self.seen.append((info.method, (headers.get("authorization") or [None])[0]))
        return None


class SplittingFlightSql(flight.FlightServerBase):
    """A minimal Flight SQL server: runs CommandStatementQuery in DuckDB and serves
    the result from `parts` endpoints, alternately at `localhost` and `127.0.0.1`."""

    def __init__(self, con, parts):
        self.headers = HeaderRecorder()
        super().__init__("grpc://127.0.0.1:0", middleware={"headers": self.headers})
        self.con = con
        self.parts = parts
        self.queries = []
        self.results = {}

    def _query(self, descriptor):
        any_message = descriptor.command
        type_url = _field_bytes(any_message, 1).decode()
        assert type_url.endswith("CommandStatementQuery"), type_url
        return _field_bytes(_field_bytes(any_message, 2), 1).decode()

    def get_schema(self, context, descriptor):
        sql = self._query(descriptor)
        return flight.SchemaResult(self.con.cursor().execute(sql).fetch_arrow_table().schema)

    def get_flight_info(self, context, descriptor):
        sql = self._query(descriptor)
        self.queries.append(sql)
        table = self.con.cursor().execute(sql).fetch_arrow_table()
        step = math.ceil(table.num_rows / self.parts) or 1
        endpoints = []
        for n in range(self.parts):
            key = f"{len(self.results)}".encode()
            self.results[key] = table.slice(n * step, step)
            host = "localhost" if n % 2 == 0 else "127.0.0.1"
            endpoints.append(flight.FlightEndpoint(key, [f"grpc://{host}:{self.port}"]))
        return flight.FlightInfo(table.schema, descriptor, endpoints, table.num_rows, -1)

    def do_get(self, context, ticket):
        return flight.RecordBatchStream(self.results.pop(ticket.ticket))


@pytest.fixture(scope="module")
def splitting_server(reference):
    server = SplittingFlightSql(reference, parts=4)
    yield server
    server.shutdown()


def test_one_spark_partition_per_endpoint(spark, splitting_server, reference):
    uri = f"grpc://127.0.0.1:{splitting_server.port}"
    answer = spark.read({"uri": uri, "query": "SELECT i, s, dec, st FROM t", "dialect": "duckdb"},
                        where="i >= 1000", plan=True)
    assert "error" not in answer, answer.get("error")
    assert answer["partitions"] == 4
    assert answer["preferred"] == ["localhost", "127.0.0.1", "localhost", "127.0.0.1"]
    expected = reference.execute("SELECT i, s, dec, st FROM t WHERE i >= 1000").fetch_arrow_table()
    assert rows(answer["table"]) == rows(expected)
    assert splitting_server.queries[-1].endswith('\n) AS q WHERE ("i" IS NOT NULL) AND ("i" >= 1000)'), \
        splitting_server.queries[-1]


def test_credentials_reach_every_call(spark, splitting_server):
    uri = f"grpc://127.0.0.1:{splitting_server.port}"
    for options, expected in [({"token": "t0k"}, "Bearer t0k"),
                              ({"username": "ada", "password": "p:ss"}, "Basic YWRhOnA6c3M=")]:
        splitting_server.headers.seen.clear()
        answer = spark.read({"uri": uri, "dbtable": "t", "dialect": "duckdb", **options}, select_=["i"])
        assert "error" not in answer, answer.get("error")
        assert answer["table"].num_rows == 2000
        calls = [(method, value) for method, value in splitting_server.headers.seen
                 if method != flight.FlightMethod.HANDSHAKE]
        # GetSchema, GetFlightInfo, and one DoGet per endpoint, all with the credential.
        assert {m for m, _ in calls} >= {flight.FlightMethod.GET_SCHEMA, flight.FlightMethod.GET_FLIGHT_INFO,
                                         flight.FlightMethod.DO_GET}, calls
        assert sum(m == flight.FlightMethod.DO_GET for m, _ in calls) == 4, calls
        assert all(value == expected for _, value in calls), calls
