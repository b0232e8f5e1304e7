"""The `spark-dist` section of bench/run: one Spark result of 10M rows read by
a client three ways, first on open links, then with every server's
client-facing link capped.

What runs (everything started here and stopped at the end):

  - ZooKeeper, and 3 `squadron serve --engine spark --distribute always`
    nodes in one cluster;
  - Spark Connect (scripts/spark-connect) on local-cluster[2,1,1024]: a driver
    with a 4g heap and two executor JVMs of one core and 1 GiB, the Squadron
    connector jar on its classpath (--jars);
  - the Spark Thrift Server (HiveThriftServer2 from the pyspark wheel's jars)
    as a plain spark-submit, also on local-cluster[2,1,1024] with a 4g driver
    heap, on a free loopback port with its own warehouse, Derby metastore and
    scratch directories.

pyspark writes the table once, as 12 Parquet files (CREATE TABLE ... USING
parquet LOCATION ... AS SELECT: bigint, double, decimal(18,2), string,
timestamp, date); the Thrift Server declares a table over the same files
(CREATE TABLE ... USING parquet LOCATION ...). Both Spark applications run
with spark.sql.files.openCostInBytes=1g, so Spark reads one partition per file
(12 tasks; 4 per node) instead of packing the files into one partition per
core (2 tasks would leave a node without data).

The network. With CAP_NET_ADMIN, bench/testbed.py's Topology puts each node
and the Spark Connect driver in a network namespace of its own on a bridge
(the client and ZooKeeper are on the bridge, in this namespace); the Thrift
Server stays on loopback. local-cluster's executors are the driver's
children, so they share its namespace. Without CAP_NET_ADMIN everything runs
on loopback and the capped phase is skipped with the reason.

Phase "open" (interleaved rounds, the order rotating each round; one
uncounted warm-up round, then 3 counted ones):

  distributed  GetFlightInfo (a Flight SQL CommandStatementQuery) on node 1,
               then DoGet of every endpoint at once, one thread and client
               each (testbed.read_parallel), timed from GetFlightInfo to the
               last byte: Spark's executors push their partitions into the
               three nodes while the client reads them
  toarrow      pyspark's spark.sql(...).toArrow() over Spark Connect: every
               batch through the driver (the "driver funnel")
  thrift       impyla (HiveServer2 protocol over Thrift, SASL PLAIN, the
               accelerated binary protocol) fetchcolumnar() with 100,000
               rows per fetch; the server's incrementalCollect is on, so it
               streams partition by partition instead of collecting the
               whole result in its driver first. Its warm-up reads a tenth
               of the rows (a full read takes a minute and a half).

Phase "capped" (distributed and toarrow, interleaved, a warm-up round, then
5 counted ones): each namespace's traffic to the bridge, i.e. to the client,
is capped with tc at the cluster section's rate (SQUADRON_BENCH_CLUSTER_CAP,
500mbit; Topology.cap(only_to=...): an HTB class with a u32 filter on the
destination). The traffic between namespaces is not: the executors pushing into
the nodes and the nodes talking to Spark stand for the cluster's own network,
the capped link for each server's client-facing one. So toArrow gets one
capped link (the driver's) and the distributed read three (the nodes').

Every read is checked: row count, sum(id) and a sum over every other column
must equal Spark's own answer (bench/spark.py's CHECK_SQL and check_values),
and the Thrift Server must give the same answer to CHECK_SQL. The goals:

    distributed / Thrift Server throughput >= 5 (open links, per round)
    distributed / toArrow throughput >= 2 (capped links, 3 nodes, per round)

Each sample records the CPU seconds of the Spark Connect driver, its
executors, the three nodes, the Thrift Server (driver and executors) and this
client, and the cores other work kept busy meanwhile. On two cores the
executors' Parquet-to-Arrow work, the nodes, the client and the drivers all
share the same cores, so the distributed read is bound by the CPU, not by the
three links; the report says how busy the machine was.

--quick: 200k rows in 3 files (a task per node), both Spark applications
on local[2] (the tasks run in the drivers: no executor JVMs to start, about
a minute in all), one round, no warm-up: a check that the paths work and
agree, not a measurement. Without Java, pyspark, impyla, the connector jar
(scripts/build-connector, or SQUADRON_BENCH_CONNECTOR_JAR) or ZooKeeper the
section is skipped with the reason.

Environment: SQUADRON_BENCH_DIST_ROWS (table size), SQUADRON_BENCH_CLUSTER_CAP,
SQUADRON_BENCH_SPARK_DRIVER_MEMORY (4g), SQUADRON_BENCH_CONNECTOR_JAR.

Run on its own: `bench/run --sections spark-dist [--quick] --no-readme --out DIR`.
"""

import concurrent.futures
import os
import pathlib
import shutil
import socket
import subprocess
import time

import services
import spark
import testbed
from cluster import CAP_RATE

MB = 1e6
TABLE = "squadron_bench_dist"
SQL = f"SELECT * FROM {TABLE}"
NODES = 3
# Parquet files = Spark tasks: 4 per node (one per node in --quick, where
# each task's fixed cost outweighs its rows).
FILES = 12
QUICK_FILES = NODES
MASTER = "local-cluster[2,1,1024]"
# --quick: the tasks in the drivers, no executor JVMs to start.
QUICK_MASTER = "local[2]"
DRIVER_MEMORY = spark.DRIVER_MEMORY
THRIFT_FETCH_ROWS = 100_000
# Both Spark applications: one partition per Parquet file (see above), and
# timestamps rendered in UTC (the Thrift Server sends them as text).
SPARK_CONF = ["spark.sql.files.openCostInBytes=1g", "spark.sql.session.timeZone=UTC"]
# local-cluster's master, workers and executors on the loopback of their
# namespace; otherwise Spark picks the first other address it finds.
SPARK_ENV = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1"}
SECRET = b"squadron-bench-spark-dist-secret-0123456789"
VARIANTS = ["distributed", "toarrow", "thrift"]
CAPPED_VARIANTS = ["distributed", "toarrow"]
LABELS = {"distributed": f"Squadron, distributed ({NODES} nodes, endpoints read in parallel)",
          "toarrow": "pyspark toArrow() (Spark Connect driver)",
          "thrift": "Spark Thrift Server (impyla, fetchcolumnar)"}
CPU_KEYS = ["driver", "executors", "squadron", "thrift", "client"]

Skip = testbed.Skip


def prerequisites(squadron):
    """Raises Skip naming what is missing; returns the connector jar's path."""
    if shutil.which("java") is None:
        raise Skip("java not found (scripts/bootstrap installs Java 17)")
    try:
        import pyspark
        from pyspark.sql.connect.session import SparkSession  # noqa: F401  (needs grpcio, pandas)
    except ImportError as e:
        raise Skip(f"pyspark's Spark Connect client is not importable: {e}") from e
    try:
        import impala.dbapi  # noqa: F401
    except ImportError as e:
        raise Skip(f"impyla (the Thrift Server's client) is not importable: {e} (scripts/bootstrap installs it)") from e
    jars = pathlib.Path(pyspark.__file__).parent / "jars"
    for pattern in ("spark-connect_*.jar", "spark-hive-thriftserver_*.jar"):
        if not any(jars.glob(pattern)):
            raise Skip(f"no {pattern} in {jars}")
    help_text = subprocess.run([str(squadron), "serve", "--help"], capture_output=True, text=True).stdout
    if "--distribute" not in help_text:
        raise Skip(f"{squadron} has no --distribute (rebuild it)")
    return connector_jar()


def connector_jar():
    """The Squadron connector jar, as the integration tests get it:
    scripts/build-connector (idempotent) prints its path."""
    jar = os.environ.get("SQUADRON_BENCH_CONNECTOR_JAR")
    if jar:
        if not pathlib.Path(jar).is_file():
            raise Skip(f"SQUADRON_BENCH_CONNECTOR_JAR={jar} is not a file")
        return jar
    try:
        built = subprocess.run([str(spark.ROOT / "scripts" / "build-connector")], capture_output=True, text=True,
                               timeout=900)
    except subprocess.TimeoutExpired:
        raise Skip("scripts/build-connector took more than 15 minutes") from None
    if built.returncode != 0:
        raise Skip(f"scripts/build-connector failed: {built.stderr.strip()[-800:]}")
    return built.stdout.strip().splitlines()[-1]


class ThriftServer(spark.SparkProcess):
    """The Spark Thrift Server of the pyspark wheel, by spark-submit (which
    execs Java: the process is the driver), on 127.0.0.1:`port`, with its own
    directories under workdir/thrift."""

    name = "Spark Thrift Server"

    def __init__(self, workdir, master=MASTER, driver_memory=DRIVER_MEMORY, conf=()):
        import pyspark

        home = pathlib.Path(pyspark.__file__).parent
        self.dir = pathlib.Path(workdir) / "thrift"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = services.free_port()
        argv = [home / "bin" / "spark-submit", "--class", "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2",
                "--master", master, "--driver-memory", driver_memory,
                "--driver-java-options", f"-Dderby.system.home={self.dir} -XX:+ExitOnOutOfMemoryError",
                "--conf", "spark.ui.enabled=false", "--conf", "spark.driver.bindAddress=127.0.0.1",
                "--conf", "spark.driver.host=127.0.0.1", "--conf", f"spark.sql.warehouse.dir={self.dir / 'warehouse'}",
                "--conf", f"spark.hadoop.javax.jdo.option.ConnectionURL=jdbc:derby:;databaseName="
                          f"{self.dir / 'metastore_db'};create=true",
                # Stream a result partition by partition instead of collecting
                # all of it in the driver first (which needs a heap the size
                # of the result as Java rows).
                "--conf", "spark.sql.thriftServer.incrementalCollect=true"]
        for item in conf:
            argv += ["--conf", item]
        for key, value in (("hive.server2.thrift.port", self.port), ("hive.server2.thrift.bind.host", "127.0.0.1"),
                           ("hive.exec.scratchdir", self.dir / "scratch"),
                           ("hive.exec.local.scratchdir", self.dir / "local-scratch"),
                           ("hive.downloaded.resources.dir", self.dir / "resources")):
            argv += ["--hiveconf", f"{key}={value}"]
        argv.append("spark-internal")
        super().__init__(argv, self.dir / "thrift-server.log", self.dir, env={**SPARK_ENV, "SPARK_HOME": str(home)})

    def wait_ready(self, timeout=spark.START_TIMEOUT):
        """Until the Thrift port accepts connections (it opens once Spark is up)."""
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise self.failed(f"exited with status {self.proc.returncode} before it was ready")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise self.failed(f"not ready after {timeout} s")
            time.sleep(0.5)


def thrift_batches(names, cbatches):
    """impyla's CBatches (columns of Python values) as Arrow record batches
    with the table's types, for spark.check_values."""
    import pyarrow as pa

    types = {"id": pa.int64(), "x": pa.float64(), "amount": pa.decimal128(18, 2), "label": pa.string(),
             "ts": pa.timestamp("us"), "day": pa.date32()}
    out = []
    for b in cbatches:
        columns = [pa.array(c.values, type=types.get(name)) for name, c in zip(names, b.columns)]
        out.append(pa.record_batch(columns, names=names))
    return out


class SparkDistBench(services.Section):
    name = "spark-dist"

    def __init__(self, bench):
        super().__init__(bench)
        self.rows = int(os.environ.get("SQUADRON_BENCH_DIST_ROWS", 200_000 if self.quick else 10_000_000))
        self.files = QUICK_FILES if self.quick else FILES
        self.master = QUICK_MASTER if self.quick else MASTER
        # Counted rounds per phase: three on open links, not five, as a
        # Thrift Server read of 10M rows takes one to two minutes on two
        # cores; five capped (those reads take seconds).
        self.runs = {"open": bench.args.runs or (1 if self.quick else 3),
                     "capped": bench.args.runs or (1 if self.quick else 5)}
        self.warmups = 0 if self.quick else 1
        self.workdir = pathlib.Path(bench.workdir) / "spark-dist"
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.schemas = {}
        self.app_ids = []

    # --- the three paths; each returns (rows, Arrow bytes, batches) ---------------------

    def read_distributed(self):
        from flightsql import descriptor, statement_query

        info = self.flight.get_flight_info(descriptor(statement_query(SQL)))
        got = testbed.read_parallel(list(info.endpoints), keep=True)
        self.endpoints = [e["bytes"] for e in got["endpoints"]]
        batches = got["batches"]
        return got["rows"], sum(b.nbytes for b in batches), batches

    def read_toarrow(self):
        table = self.session.sql(SQL).toArrow()
        return table.num_rows, table.nbytes, table.to_batches()

    def read_thrift(self, limit=None):
        cur = self.thrift.cursor()
        try:
            cur.arraysize = THRIFT_FETCH_ROWS
            cur.execute(SQL + (f" LIMIT {limit}" if limit else ""))
            cbatches = cur.fetchcolumnar()
            names = [d[0] for d in cur.description]
        finally:
            cur.close()
        rows = sum(len(b.columns[0].values) for b in cbatches) if cbatches else 0
        # Arrow bytes and the checksum come from an Arrow copy made after the
        # clock stopped (thrift_batches); the Python values are the result.
        return rows, None, (names, cbatches)

    # --- measurement ------------------------------------------------------------------

    def pids(self):
        """{group: [pid, ...]} of the processes whose CPU each sample records."""
        return {"driver": [self.spark.java_pid], "executors": self.spark.executor_pids(),
                "squadron": [n.pid for n in self.nodes],
                "thrift": [self.thrift_server.java_pid, *self.thrift_server.executor_pids()]}

    def measure(self, name, read):
        pids = self.pids()
        cpu0 = {k: {p: services.cpu_seconds(p) for p in ps} for k, ps in pids.items()}
        client0, machine0 = time.process_time(), services.machine_ticks()
        start = time.perf_counter()
        rows, nbytes, batches = read()
        seconds = time.perf_counter() - start
        machine1 = services.machine_ticks()
        cpu = {k: sum(services.cpu_seconds(p) - c for p, c in cpu0[k].items()) for k in pids}
        cpu["client"] = time.process_time() - client0
        busy = (machine1[0] - machine0[0]) / max(1, machine1[1] - machine0[1])
        others = max(0.0, busy * os.cpu_count() - sum(cpu.values()) / seconds)
        if name == "thrift":
            batches = thrift_batches(*batches)
            nbytes = sum(b.nbytes for b in batches)
        sample = {"seconds": seconds, "rows": rows, "bytes": nbytes, "cpu_seconds": cpu, "machine_busy": busy,
                  "other_cores": others}
        if name == "distributed":
            sample["endpoint_bytes"] = self.endpoints
        return sample, batches

    def check(self, name, batches, expected):
        got = spark.check_values(batches)
        if got != expected:
            raise RuntimeError(f"{name} returned {got}, Spark says {expected}")
        if batches and name != "thrift":  # the Thrift path's types are thrift_batches'
            self.schemas.setdefault(name, ", ".join(f"{f.name} {f.type}" for f in batches[0].schema))

    def rounds(self, phase, variants):
        """Interleaved rounds of `variants` in `phase` (open, capped), the
        order rotating; returns {variant: [sample, ...]}."""
        readers = {"distributed": self.read_distributed, "toarrow": self.read_toarrow, "thrift": self.read_thrift}
        samples = {name: [] for name in variants}
        runs = self.runs[phase]
        label = "open links" if phase == "open" else f"capped at {CAP_RATE}"
        for round_ in range(self.warmups + runs):
            counted = round_ >= self.warmups
            tag = f"run {round_ - self.warmups + 1}/{runs}" if counted else "warm-up"
            shift = round_ % len(variants)
            for name in variants[shift:] + variants[:shift]:
                read, expected = readers[name], self.expected
                if name == "thrift" and not counted:
                    limit = max(1, self.rows // 10)
                    read, expected = (lambda: self.read_thrift(limit)), None
                sample, batches = self.measure(name, read)
                if expected is not None:
                    self.check(name, batches, expected)
                elif sample["rows"] != limit:
                    raise RuntimeError(f"thrift warm-up returned {sample['rows']} rows, expected {limit}")
                del batches
                self.log(f"{label}, {tag}: {name:11s} {sample['seconds']:7.2f} s, "
                         f"{sample['rows'] / sample['seconds'] / 1e6:5.2f} M rows/s")
                if counted:
                    samples[name].append(sample)
        return samples

    # --- set-up -------------------------------------------------------------------------

    def network(self):
        """Topology with NODES + 1 namespaces (the nodes, then the Spark
        driver), or Loopback and the reason there are no caps."""
        try:
            return testbed.Topology(NODES + 1), None
        except Skip as e:
            return testbed.Loopback(NODES + 1), str(e)

    def setup(self, jar):
        import pyarrow.flight as flight
        from impala.dbapi import connect as thrift_connect
        from pyspark.sql import SparkSession

        started = time.monotonic()
        self.topo, self.no_caps = self.network()
        self.stoppables.append(self.topo)
        self.zk = testbed.zookeeper_on(self.topo.bridge_ip)
        self.stoppables.append(self.zk)
        driver = NODES  # the driver's namespace: the last one
        where = "in network namespaces" if self.no_caps is None else f"on loopback ({self.no_caps})"
        self.log(f"starting Spark Connect ({self.master}, driver heap {DRIVER_MEMORY}, the connector jar) and the "
                 f"Spark Thrift Server ({self.master}); {NODES} nodes and the driver {where}")
        self.spark = spark.SparkConnect(self.workdir, self.master, DRIVER_MEMORY, jars=jar, conf=SPARK_CONF,
                                        host=self.topo.ips[driver], prefix=self.topo.exec_prefix(driver),
                                        env=SPARK_ENV, wait=False)
        self.stoppables.append(self.spark)
        self.thrift_server = ThriftServer(self.workdir, self.master, conf=SPARK_CONF)
        self.stoppables.append(self.thrift_server)
        self.spark.wait_ready()
        self.spark_startup_seconds = time.monotonic() - started
        self.log(f"Spark Connect at {self.spark.uri} after {self.spark_startup_seconds:.0f} s; starting the nodes "
                 "and writing the table meanwhile")

        # The nodes start (each waits for Spark Connect's first answer) while
        # pyspark writes the table.
        secret = self.workdir / "cluster.secret"
        secret.write_bytes(SECRET)
        zk_uri = f"zk://{self.zk.connect_string}/bench-spark-dist"
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            nodes = pool.submit(testbed.start_nodes, self.bench.squadron, self.topo, NODES, zk_uri, secret,
                                self.workdir, ["--engine", "spark", "--spark-connect", self.spark.uri,
                                               "--distribute", "always"], stoppables=self.stoppables)
            self.session = SparkSession.builder.remote(self.spark.uri).create()
            self.stoppables.append(services.Closer(self.session.stop))
            self.app_ids.append(self.session.conf.get("spark.app.id"))
            data = self.workdir / "data"
            created = time.monotonic()
            self.session.sql(f"DROP TABLE IF EXISTS {TABLE}")
            self.session.sql(f"CREATE TABLE {TABLE} USING parquet LOCATION '{data}' AS "
                             + spark.COLUMNS_SQL.format(source=f"range(0, {self.rows}, 1, {self.files})"))
            self.create_seconds = time.monotonic() - created
            self.log(f"{TABLE} written ({self.rows:,} rows as {self.files} Parquet files) in "
                     f"{self.create_seconds:.0f} s")
            self.nodes = nodes.result()
        self.log(f"{NODES} nodes joined after {time.monotonic() - started:.0f} s")
        self.squadron_idle_rss = max(services.peak_rss_bytes(n.pid) or 0 for n in self.nodes)
        self.flight = flight.connect(self.nodes[0].uri)
        self.stoppables.append(services.Closer(self.flight.close))
        self.expected = self.check_sql(lambda sql: self.session.sql(sql).toArrow().to_pylist()[0])
        if self.expected["n"] != self.rows:
            raise RuntimeError(f"Spark holds {self.expected['n']} rows in {TABLE}, expected {self.rows}")
        self.parquet_bytes = sum(f.stat().st_size for f in data.rglob("*.parquet"))
        self.parquet_files = len(list(data.rglob("*.parquet")))

        self.thrift_server.wait_ready()
        self.thrift_startup_seconds = time.monotonic() - started
        self.thrift = thrift_connect(host="127.0.0.1", port=self.thrift_server.port, auth_mechanism="PLAIN",
                                     user="bench", password="bench")
        self.stoppables.append(services.Closer(self.thrift.close))
        cur = self.thrift.cursor()
        cur.execute("SET spark.app.id")
        self.app_ids.append(cur.fetchall()[0][1])
        cur.execute(f"DROP TABLE IF EXISTS {TABLE}")
        cur.execute(f"CREATE TABLE {TABLE} USING parquet LOCATION '{data}'")

        def thrift_row(sql):
            cur.execute(sql)
            return dict(zip([d[0] for d in cur.description], cur.fetchall()[0]))

        thrift_expected = self.check_sql(thrift_row)
        cur.close()
        if thrift_expected != self.expected:
            raise RuntimeError(f"the Thrift Server's table sums to {thrift_expected}, Spark Connect's to "
                               f"{self.expected}: not the same files?")
        self.log(f"set up after {time.monotonic() - started:.0f} s (the Thrift Server was ready after "
                 f"{self.thrift_startup_seconds:.0f} s)")

    @staticmethod
    def check_sql(run):
        """spark.CHECK_SQL on TABLE through `run` (sql -> {column: value}), as ints."""
        return {k: int(v) for k, v in run(spark.CHECK_SQL.format(table=TABLE)).items()}

    # --- the run ----------------------------------------------------------------------

    def run(self):
        started = time.monotonic()
        try:
            jar = prerequisites(self.bench.squadron)
        except Skip as e:
            return self.skip(str(e))
        try:
            try:
                self.setup(jar)
            except Skip as e:
                return self.skip(str(e))
            phases = {"open": self.rounds("open", VARIANTS)}
            if self.no_caps is None:
                self.topo.cap(CAP_RATE, only_to=self.topo.bridge_ip)
                self.log(f"every namespace's link to the client capped at {CAP_RATE}")
                phases["capped"] = self.rounds("capped", CAPPED_VARIANTS)
                self.topo.uncap()
            else:
                reason = f"no network namespaces to cap: {self.no_caps}"
                self.bench.results["skipped"]["spark-dist/capped"] = reason
                self.log(f"capped phase skipped: {reason}")
            peak = {"squadron": max(services.peak_rss_bytes(n.pid) or 0 for n in self.nodes),
                    "squadron_idle": self.squadron_idle_rss,
                    "driver": services.peak_rss_bytes(self.spark.java_pid),
                    "executors": max([services.peak_rss_bytes(p) or 0 for p in self.spark.executor_pids()] or [0]),
                    "thrift": services.peak_rss_bytes(self.thrift_server.java_pid)}
            out = {"rows": self.rows, "columns": 6, "files": self.parquet_files, "nodes": NODES, "master": self.master,
                   "driver_memory": DRIVER_MEMORY, "network": "namespaces" if self.no_caps is None else "loopback",
                   "cap_rate": CAP_RATE, "cap_bytes_per_s": testbed.rate_bytes_per_s(CAP_RATE),
                   "thrift_fetch_rows": THRIFT_FETCH_ROWS, "runs": self.runs, "warmups": self.warmups,
                   "parquet_bytes": self.parquet_bytes, "expected": self.expected, "schemas": self.schemas,
                   "phases": phases, "peak_rss_bytes": peak, "cores": os.cpu_count(),
                   "spark_startup_seconds": self.spark_startup_seconds,
                   "thrift_startup_seconds": self.thrift_startup_seconds, "create_seconds": self.create_seconds,
                   "seconds": time.monotonic() - started}
            self.log(summary(out) + f"; section took {out['seconds']:.0f} s")
            return out
        finally:
            self.stop_all()
            self.remove_executor_logs()

    def remove_executor_logs(self):
        """local-cluster's workers keep each application's executor logs under
        the wheel's pyspark/work/<app id>: remove this run's (with
        --keep-workdir, move them into the work directory)."""
        import pyspark

        work = pathlib.Path(pyspark.__file__).parent / "work"
        for app in self.app_ids:
            if (work / app).is_dir():
                if self.bench.args.keep_workdir:
                    shutil.move(str(work / app), str(self.workdir / app))
                else:
                    shutil.rmtree(work / app, ignore_errors=True)


def section(bench):
    return services.unwinding_on_sigterm(lambda: SparkDistBench(bench).run())


# --- reporting ------------------------------------------------------------------------------

def seconds(samples):
    return [s["seconds"] for s in samples]


def ratios(s, phase, baseline):
    """Per round: `baseline` seconds / distributed seconds (= the throughput ratio)."""
    p = s["phases"][phase]
    return [b / d for b, d in zip(seconds(p[baseline]), seconds(p["distributed"])) if d]


def summary(s):
    import statistics

    parts = []
    for phase, p in s["phases"].items():
        mbs = {name: statistics.median([x["bytes"] / x["seconds"] / MB for x in v]) for name, v in p.items()}
        text = f"{phase}: " + ", ".join(f"{name} {mb:.0f} MB/s" for name, mb in mbs.items())
        text += "; distributed is " + ", ".join(f"{statistics.median(ratios(s, phase, b)):.2f}x {b}"
                                               for b in p if b != "distributed")
        parts.append(text)
    return "; ".join(parts)


def has_samples(results):
    s = results["sections"].get("spark-dist")
    return bool(s and "phases" in s)


def goals(results, report):
    if not has_samples(results):
        return []
    s = results["sections"]["spark-dist"]
    out = [report.goal(f"(8a) Spark, {s['rows']:,} rows: Squadron distributed ({s['nodes']} nodes) / Spark Thrift "
                       "Server throughput", ratios(s, "open", "thrift"), 5, True)]
    if "capped" in s["phases"]:
        out.append(report.goal(f"(8b) Spark, {s['rows']:,} rows, links capped at {s['cap_rate']}: Squadron "
                               f"distributed ({s['nodes']} nodes) / pyspark toArrow() throughput",
                               ratios(s, "capped", "toarrow"), 2, True))
    return out


def markdown_lines(results, report):
    if not has_samples(results):
        return []
    s = results["sections"]["spark-dist"]
    mib = 2 ** 20
    runs = " and ".join(f"{n} {'on open links' if phase == 'open' else 'capped'}" for phase, n in s["runs"].items()
                        if phase in s["phases"])
    counted = (f"median (min–max) of the counted rounds, {runs}" + (", each phase after a warm-up" if s["warmups"]
                                                                     else "")
               + ", paths interleaved in an order that rotates each round")
    where = ("the nodes and the Spark Connect driver (with its executors) each in a network namespace, the client "
             "on the bridge" if s["network"] == "namespaces" else "everything on loopback")
    lines = ["", f"**Spark, distributed** (SELECT * of a {s['rows']:,}-row table, {s['files']} Parquet files: "
             f"{s['nodes']} nodes with `--distribute always` on Spark Connect {s['master']} with the connector jar; "
             f"pyspark toArrow() on the same Spark; the Spark Thrift Server ({s['master']}) over the same files; "
             f"{where}; {counted}. "
             + (f"Capped: each server's link to the client capped at {s['cap_rate']} = "
                f"{s['cap_bytes_per_s'] / MB:.1f} MB/s by tc, the executors' pushes into the nodes not. "
                if "capped" in s["phases"] else "")
             + "CPU seconds during the read: Spark Connect driver / its executors / the 3 nodes / Thrift Server "
             f"(driver and executors) / the Python client; other load: cores busy with other work, of {s['cores']})",
             "",
             "| links | path | seconds | M rows/s | MB/s | Squadron distributed is | CPU s: driver / executors / "
             "Squadron / Thrift / client | other load (cores) | machine busy |",
             "|---|---|---|---|---|---|---|---|---|"]
    for phase, p in s["phases"].items():
        link = "open" if phase == "open" else f"capped {s['cap_rate']}"
        for name in VARIANTS:
            if name not in p:
                continue
            v = p[name]
            ratio = "—" if name == "distributed" else report.span(ratios(s, phase, name)) + "x"
            cpu = " / ".join(f"{report.median([x['cpu_seconds'][k] for x in v]):.1f}" for k in CPU_KEYS)
            lines.append(f"| {link} | {LABELS[name]} | {report.span(seconds(v), '{:.2f}')} | "
                         f"{report.span([x['rows'] / x['seconds'] / 1e6 for x in v], '{:.2f}')} | "
                         f"{report.span([x['bytes'] / x['seconds'] / MB for x in v], '{:,.0f}')} | {ratio} | {cpu} | "
                         f"{report.span([x.get('other_cores', 0) for x in v], '{:.2f}')} | "
                         f"{report.span([x['machine_busy'] for x in v], '{:.0%}')} |")
    e = s["expected"]
    first = next(iter(s["phases"]["open"]["toarrow"]), None)
    arrow_mb = first["bytes"] / MB if first else float("nan")
    peak = s["peak_rss_bytes"]
    lines += ["", f"Every path returned the same {e['n']:,} rows and the same sum of every column (sum(id) "
              f"{e['sum_id']:,}): {arrow_mb:,.0f} MB of Arrow from {s['parquet_bytes'] / MB:,.0f} MB of Parquet. "
              f"Peak RSS: Squadron node {(peak.get('squadron') or 0) / mib:,.0f} MiB (idle "
              f"{(peak.get('squadron_idle') or 0) / mib:,.0f} MiB), Spark Connect driver "
              f"{(peak.get('driver') or 0) / mib:,.0f} MiB, executor {(peak.get('executors') or 0) / mib:,.0f} MiB, "
              f"Thrift Server driver {(peak.get('thrift') or 0) / mib:,.0f} MiB."]
    capped = s["phases"].get("capped", {}).get("distributed")
    if capped:
        links = s["nodes"] * s["cap_bytes_per_s"]
        got = report.median([x["bytes"] / x["seconds"] for x in capped])
        busy = report.median([x["machine_busy"] for x in capped])
        if got < 0.8 * links:
            lines += ["", f"Capped, the distributed read reached {got / links:.0%} of its {s['nodes']} links "
                      f"({links / MB:,.0f} MB/s) with the machine {busy:.0%} busy: on {s['cores']} cores Spark's "
                      "executors turning Parquet into Arrow, the nodes and the client set its pace, not the links."]
    return lines


def chart_panel(ax, results, report):
    """Median MB/s of each path, open and capped, as grouped bars, with the
    capped links' total (nodes x cap) and one link's cap as lines."""
    s = results["sections"]["spark-dist"]
    colors = {"distributed": "tab:blue", "toarrow": "tab:orange", "thrift": "tab:gray"}
    phases = list(s["phases"])
    width = 0.8 / len(VARIANTS)
    top = 0
    for i, name in enumerate(VARIANTS):
        xs, ys = [], []
        for x, phase in enumerate(phases):
            v = s["phases"][phase].get(name)
            if v:
                xs.append(x + (i - (len(VARIANTS) - 1) / 2) * width)
                ys.append(report.median([r["bytes"] / r["seconds"] / MB for r in v]))
        ax.bar(xs, ys, width, color=colors[name], label=LABELS[name])
        top = max([top, *ys])
    if "capped" in phases:
        x = phases.index("capped")
        for links, style in ((1, ":"), (s["nodes"], "--")):
            total = links * s["cap_bytes_per_s"] / MB
            ax.hlines(total, x - 0.45, x + 0.45, colors="black", linestyles=style, linewidth=1,
                      label=f"{links} capped link{'s' if links > 1 else ''}")
            top = max(top, total)
    ax.set_ylim(0, top * 1.6)
    ax.set_xticks(range(len(phases)))
    ax.set_xticklabels(["open links" if p == "open" else f"links capped at {s['cap_rate']}" for p in phases],
                       fontsize=8)
    ax.set_ylabel("MB/s of Arrow (median)")
    ax.set_title(f"Spark, {s['rows']:,} rows: distributed vs driver vs Thrift")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=7, loc="upper left")
