"""The `spark` section of bench/run: what Squadron adds on top of Spark when it
serves a Spark result (`squadron serve --engine spark`).

One Spark Connect server (scripts/spark-connect, local[2], a temporary
warehouse, a free port, a driver heap of 4g) and one Squadron node on it.
pyspark's Spark Connect client writes a table of 10M rows as Parquet (bigint,
double, decimal, string, timestamp, date). Then, interleaved round by round
(one uncounted warm-up round first; the order rotates each round):

  pyspark        spark.sql("SELECT * FROM t").toArrow(): Spark Connect's own
                 client, straight from the driver (the baseline)
  flight         Squadron through pyarrow.flight: GetFlightInfo with a Flight
                 SQL CommandStatementQuery, DoGet reading every batch
  adbc           Squadron through ADBC (adbc_driver_flightsql, autocommit)

Every path must return the same rows: the row count, sum(id), the total
length of the strings and the sums of the other columns are checked against
Spark's own answer. The goal:

    Squadron throughput / pyspark toArrow() throughput >= 0.9

(per round: pyspark seconds / Squadron seconds). Each sample also records the
CPU seconds of the Spark driver (which runs the executors in local mode),
Squadron and this client process, and the cores other work on the machine
kept busy meanwhile; the section records peak RSS of Squadron and of the
driver. --quick: 200k rows, one round, no warm-up: a check that the paths work
and agree, not a measurement. Without Java, pyspark or a Squadron built with
--engine spark, the section is skipped with the reason.

Environment: SQUADRON_BENCH_SPARK_ROWS (table size), SQUADRON_BENCH_SPARK_DRIVER_MEMORY (4g).

Run on its own: `bench/run --sections spark [--quick] --no-readme --out DIR`.
"""

import os
import pathlib
import select
import shutil
import signal
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "integration"))

import services  # noqa: E402
from services import cpu_seconds, machine_ticks, peak_rss_bytes  # noqa: E402
from testbed import read_chunks  # noqa: E402

MB = 1e6
TABLE = "squadron_bench_spark"
SQL = f"SELECT * FROM {TABLE}"
MASTER = "local[2]"
# The driver holds a result's Arrow batches on their way out (and, in local
# mode, the executors too): the default 1 GiB heap can run out on 10M rows.
DRIVER_MEMORY = os.environ.get("SQUADRON_BENCH_SPARK_DRIVER_MEMORY", "4g")
START_TIMEOUT = 240
VARIANTS = ["pyspark", "flight", "adbc"]
LABELS = {"pyspark": "pyspark toArrow() (Spark Connect, baseline)",
          "flight": "Squadron, pyarrow.flight (DoGet, every batch)",
          "adbc": "Squadron, ADBC (fetch_arrow_table)"}

# Six columns of the usual types; the strings vary in length. {source}: the
# ids, e.g. range(10000000).
COLUMNS_SQL = """SELECT
  id,
  CAST(id * 0.5 + 1 AS DOUBLE) AS x,
  CAST((id % 1000000) / 100 AS DECIMAL(18, 2)) AS amount,
  concat('item-', CAST(id % 1000003 AS STRING)) AS label,
  TIMESTAMP '2024-01-01 00:00:00' + make_interval(0, 0, 0, 0, 0, 0, id % 31536000) AS ts,
  date_add(DATE '2020-01-01', CAST(id % 3650 AS INT)) AS day
FROM {source}"""
# An order-independent checksum of every column, computed by Spark; each path's
# result must give the same (check_values). x * 2 and amount * 100 are whole;
# the sums fit in a bigint.
CHECK_SQL = """SELECT count(*) AS n, sum(id) AS sum_id, sum(CAST(x * 2 AS BIGINT)) AS sum_x2,
  CAST(sum(amount) * 100 AS BIGINT) AS sum_cents, sum(length(label)) AS label_chars,
  sum(unix_seconds(ts)) AS sum_ts_s, sum(unix_date(day)) AS sum_days FROM {table}"""


class Skip(Exception):
    """The section cannot run here: the reason."""


def prerequisites(squadron):
    """Raises Skip naming what is missing: Java, pyspark's Connect client, or a
    Squadron binary with --engine spark."""
    if shutil.which("java") is None:
        raise Skip("java not found (scripts/bootstrap installs Java 17)")
    try:
        import adbc_driver_flightsql.dbapi  # noqa: F401
        import pyspark
        from pyspark.sql.connect.session import SparkSession  # noqa: F401  (needs grpcio, pandas)
    except ImportError as e:
        raise Skip(f"pyspark's Spark Connect client is not importable: {e}") from e
    jars = pathlib.Path(pyspark.__file__).parent / "jars"
    if not any(jars.glob("spark-connect_*.jar")):
        raise Skip(f"no spark-connect jar in {jars}")
    help_text = subprocess.run([str(squadron), "serve", "--help"], capture_output=True, text=True).stdout
    if "--spark-connect" not in help_text:
        raise Skip(f"{squadron} has no --engine spark (rebuild it)")


def check_values(batches):
    """The checksum of CHECK_SQL, computed from a result's batches."""
    import pyarrow as pa
    import pyarrow.compute as pc

    def total(array):
        return pc.sum(array).as_py() or 0

    out = dict.fromkeys(["n", "sum_id", "sum_x2", "sum_cents", "label_chars", "sum_ts_s", "sum_days"], 0)
    for b in batches:
        out["n"] += b.num_rows
        out["sum_id"] += total(b.column("id"))
        out["sum_x2"] += total(pc.cast(pc.multiply(b.column("x"), 2), pa.int64()))
        out["sum_cents"] += int(total(b.column("amount")) * 100)
        out["label_chars"] += total(pc.utf8_length(b.column("label")))
        out["sum_ts_s"] += total(pc.divide(pc.cast(b.column("ts"), pa.int64()), 1_000_000))
        out["sum_days"] += total(pc.cast(b.column("day"), pa.int32()))
    return out


class SparkProcess:
    """A Spark application started in a process group of its own, so stop() can
    make sure no Java outlives it (local-cluster executors included)."""

    name = "Spark"

    def __init__(self, argv, log_path, cwd, env=None):
        self.log_path = pathlib.Path(log_path)
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([str(a) for a in argv], stdout=subprocess.PIPE, stderr=self._log, cwd=cwd,
                                     env=env, start_new_session=True)

    def failed(self, why):
        """Stops what is left and returns the error to raise, with the log's tail."""
        self.stop()
        return RuntimeError(f"{self.name} {why}; log: {self.log_path}\n"
                            + self.log_path.read_text(errors="replace")[-3000:])

    @property
    def java_pid(self):
        return self.proc.pid

    def executor_pids(self):
        """The executor JVMs of local-cluster (the driver's children)."""
        return services.descendants(self.java_pid) if self.java_pid else []

    def stop(self):
        """SIGTERM to the process (Spark stops its executors and exits), then
        SIGKILL to whatever is left of its process group."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
        self._log.close()


class SparkConnect(SparkProcess):
    """scripts/spark-connect, optionally inside a network namespace (`prefix`,
    listening on `host`) with extra `jars`, `conf` (key=value strings) and `env`.
    Started by the constructor; wait=False returns at once, and wait_ready()
    waits for the port."""

    name = "Spark Connect"

    def __init__(self, workdir, master=MASTER, driver_memory=DRIVER_MEMORY, jars=None, conf=(), host=None,
                 prefix=(), env=None, wait=True):
        self.port = services.free_port()
        argv = [*prefix, ROOT / "scripts" / "spark-connect", "--port", self.port, "--master", master,
                "--warehouse", pathlib.Path(workdir) / "warehouse", "--driver-memory", driver_memory]
        if host:
            argv += ["--host", host]
        if jars:
            argv += ["--jars", jars]
        # An out-of-memory driver exits (clients get an error) instead of hanging them.
        argv += ["--", "--conf", "spark.driver.defaultJavaOptions=-XX:+ExitOnOutOfMemoryError"]
        for item in conf:
            argv += ["--conf", item]
        super().__init__(argv, pathlib.Path(workdir) / "spark-connect.log", workdir, env)
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout=START_TIMEOUT):
        deadline = time.monotonic() + timeout
        line = b""
        while not line.startswith(b"spark connect listening"):
            if time.monotonic() > deadline:
                raise self.failed(f"not ready after {timeout} s")
            ready, _, _ = select.select([self.proc.stdout], [], [], 1)
            if ready:
                line = self.proc.stdout.readline()
                if not line:
                    raise self.failed("exited before it was ready")
        self.uri = line.decode().split()[-1]
        return self

    @property
    def java_pid(self):
        """The driver JVM: scripts/spark-connect runs spark-submit, which execs
        Java, as its child."""
        try:
            children = pathlib.Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
            return int(children[0]) if children else None
        except OSError:
            return None


class SparkBench(services.Section):
    name = "spark"

    def __init__(self, bench):
        super().__init__(bench)
        self.rows = 200_000 if self.quick else 10_000_000
        self.rows = int(os.environ.get("SQUADRON_BENCH_SPARK_ROWS", self.rows))
        self.runs = bench.args.runs or (1 if self.quick else 5)
        self.warmups = 0 if self.quick else 1
        self.workdir = pathlib.Path(bench.workdir) / "spark"
        self.workdir.mkdir(parents=True, exist_ok=True)

    # --- the three paths; each returns a sample and the data it read -------------------

    def measure(self, read):
        """Times read() (which returns (rows, bytes, batches)), with the CPU
        seconds each process spent meanwhile."""
        pids = {"driver": self.spark_pid, "squadron": self.squadron.pid}
        cpu0 = {k: cpu_seconds(p) for k, p in pids.items()}
        client0, machine0 = time.process_time(), machine_ticks()
        start = time.perf_counter()
        rows, nbytes, batches = read()
        seconds = time.perf_counter() - start
        machine1 = machine_ticks()
        cpu = {k: cpu_seconds(p) - cpu0[k] for k, p in pids.items()}
        cpu["client"] = time.process_time() - client0
        busy = (machine1[0] - machine0[0]) / max(1, machine1[1] - machine0[1])
        # Cores kept busy by everything else on the machine (other jobs).
        others = max(0.0, busy * os.cpu_count() - sum(cpu.values()) / seconds)
        sample = {"seconds": seconds, "rows": rows, "bytes": nbytes, "cpu_seconds": cpu,
                  "machine_busy": busy, "other_cores": others}
        return sample, batches

    def read_pyspark(self):
        table = self.session.sql(SQL).toArrow()
        return table.num_rows, table.nbytes, table.to_batches()

    def read_flight(self):
        from flightsql import descriptor, statement_query

        info = self.flight.get_flight_info(descriptor(statement_query(SQL)))
        batches = [b for endpoint in info.endpoints for b in read_chunks(self.flight.do_get(endpoint.ticket))]
        return sum(b.num_rows for b in batches), sum(b.nbytes for b in batches), batches

    def read_adbc(self):
        with self.adbc.cursor() as cur:
            cur.execute(SQL)
            table = cur.fetch_arrow_table()
        return table.num_rows, table.nbytes, table.to_batches()

    # --- the run ----------------------------------------------------------------------

    def setup(self):
        import adbc_driver_flightsql.dbapi as flightsql
        import pyarrow.flight as flight
        from pyspark.sql import SparkSession

        started = time.monotonic()
        self.log(f"starting Spark Connect ({MASTER}, driver heap {DRIVER_MEMORY})")
        spark = SparkConnect(self.workdir)
        self.stoppables.append(spark)
        self.spark_pid = spark.java_pid
        self.startup_seconds = time.monotonic() - started
        self.log(f"Spark Connect at {spark.uri} after {self.startup_seconds:.0f} s; starting Squadron")
        self.squadron = services.start_squadron(self.bench.squadron, self.workdir, "squadron-spark",
                                                ["--engine", "spark", "--spark-connect", spark.uri])
        self.stoppables.append(self.squadron)
        self.squadron_idle_rss = peak_rss_bytes(self.squadron.pid)

        self.session = SparkSession.builder.remote(spark.uri).getOrCreate()
        self.stoppables.append(services.Closer(self.session.stop))
        self.log(f"creating {TABLE}: {self.rows:,} rows as Parquet")
        started = time.monotonic()
        self.session.sql(f"DROP TABLE IF EXISTS {TABLE}")
        self.session.sql(f"CREATE TABLE {TABLE} USING parquet AS "
                         + COLUMNS_SQL.format(source=f"range({self.rows})"))
        self.create_seconds = time.monotonic() - started
        self.expected = self.session.sql(CHECK_SQL.format(table=TABLE)).toArrow().to_pylist()[0]
        self.expected = {k: int(v) for k, v in self.expected.items()}
        if self.expected["n"] != self.rows:
            raise RuntimeError(f"Spark holds {self.expected['n']} rows in {TABLE}, expected {self.rows}")
        self.parquet_bytes = sum(f.stat().st_size for f in (self.workdir / "warehouse").rglob("*.parquet"))

        self.flight = flight.connect(self.squadron.uri)
        self.stoppables.append(services.Closer(self.flight.close))
        self.adbc = flightsql.connect(self.squadron.uri, autocommit=True)
        self.stoppables.append(services.Closer(self.adbc.close))

    def run(self):
        started = time.monotonic()
        try:
            prerequisites(self.bench.squadron)
        except Skip as e:
            return self.skip(str(e))
        try:
            self.setup()
            readers = {"pyspark": self.read_pyspark, "flight": self.read_flight, "adbc": self.read_adbc}
            samples = {name: [] for name in VARIANTS}
            schemas = {}
            total = self.warmups + self.runs
            for round_ in range(total):
                counted = round_ >= self.warmups
                tag = f"run {round_ - self.warmups + 1}/{self.runs}" if counted else "warm-up"
                # Rotated each round, so no path always follows the same one
                # (the driver's garbage from one read is collected in the next).
                shift = round_ % len(VARIANTS)
                for name in VARIANTS[shift:] + VARIANTS[:shift]:
                    sample, batches = self.measure(readers[name])
                    got = check_values(batches)
                    if got != self.expected:
                        raise RuntimeError(f"{name} returned {got}, Spark says {self.expected}")
                    if batches:
                        schemas.setdefault(name, ", ".join(f"{f.name} {f.type}" for f in batches[0].schema))
                    del batches
                    self.log(f"{tag}: {name:8s} {sample['seconds']:6.2f} s, "
                             f"{sample['bytes'] / sample['seconds'] / MB:6.1f} MB/s")
                    if counted:
                        samples[name].append(sample)
            squadron_peak = peak_rss_bytes(self.squadron.pid)
            driver_peak = peak_rss_bytes(self.spark_pid) if self.spark_pid else None
            out = {"rows": self.rows, "columns": 6, "master": MASTER, "driver_memory": DRIVER_MEMORY,
                   "runs": self.runs, "warmups": self.warmups, "parquet_bytes": self.parquet_bytes,
                   "expected": self.expected, "schemas": schemas, "samples": samples,
                   "squadron_peak_rss_bytes": squadron_peak, "squadron_idle_rss_bytes": self.squadron_idle_rss,
                   "driver_peak_rss_bytes": driver_peak, "spark_startup_seconds": self.startup_seconds,
                   "create_seconds": self.create_seconds, "seconds": time.monotonic() - started}
            self.log(summary(out) + f"; section took {out['seconds']:.0f} s")
            return out
        finally:
            self.stop_all()


def section(bench):
    return services.unwinding_on_sigterm(lambda: SparkBench(bench).run())


# --- reporting ------------------------------------------------------------------------------

def seconds(samples):
    return [s["seconds"] for s in samples]


def ratios(s, name):
    """Per round: pyspark seconds / `name` seconds (= throughput ratio)."""
    return [p / q for p, q in zip(seconds(s["samples"]["pyspark"]), seconds(s["samples"][name])) if q]


def summary(s):
    import statistics

    parts = []
    for name in VARIANTS:
        mbs = [x["bytes"] / x["seconds"] / MB for x in s["samples"][name]]
        part = f"{name} {statistics.median(mbs):.0f} MB/s"
        if name != "pyspark":
            part += f" ({statistics.median(ratios(s, name)):.2f}x pyspark)"
        parts.append(part)
    return "; ".join(parts)


def goals(results, report):
    s = results["sections"].get("spark")
    if not s or "samples" not in s:
        return []
    return [report.goal(f"(7{'ab'[i]}) Spark, SELECT * of {s['rows']:,} rows: Squadron ({name}) / "
                        "pyspark toArrow() throughput", ratios(s, name), 0.9, True)
            for i, name in enumerate(VARIANTS[1:])]


def markdown_lines(results, report):
    s = results["sections"].get("spark")
    if not s or "samples" not in s:
        return []
    mib = 2 ** 20
    counted = (f"median (min–max) of {s['runs']} counted round(s)" + (" after a warm-up" if s["warmups"] else "")
               + ", paths interleaved in an order that rotates each round")
    lines = ["", f"**Spark** (`--engine spark`: SELECT * of a {s['rows']:,}-row Parquet table, bigint, double, "
             f"decimal(18,2), string, timestamp, date; Spark Connect {s['master']} from the pyspark wheel, driver "
             f"heap {s['driver_memory']}; {counted}. CPU: seconds used during the read by the Spark driver, which "
             "runs the executors in local mode, by Squadron and by the Python client; other load: cores busy with "
             f"other work on the machine meanwhile, of {results['machine']['cores'] if 'machine' in results else '?'})",
             "",
             "| path | seconds | M rows/s | MB/s | ratio to pyspark | CPU driver | CPU Squadron | CPU client "
             "| other load (cores) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name in VARIANTS:
        v = s["samples"][name]
        ratio = "—" if name == "pyspark" else report.span(ratios(s, name))
        cpu = [report.span([x["cpu_seconds"][k] for x in v], "{:.2f}") for k in ("driver", "squadron", "client")]
        lines.append(f"| {LABELS[name]} | {report.span(seconds(v), '{:.2f}')} | "
                     f"{report.span([x['rows'] / x['seconds'] / 1e6 for x in v], '{:.2f}')} | "
                     f"{report.span([x['bytes'] / x['seconds'] / MB for x in v], '{:,.0f}')} | {ratio} | "
                     + " | ".join(cpu) + f" | {report.span([x.get('other_cores', 0) for x in v], '{:.2f}')} |")
    e = s["expected"]
    rss = []
    if s.get("squadron_peak_rss_bytes"):
        rss.append(f"Squadron peak RSS {s['squadron_peak_rss_bytes'] / mib:,.0f} MiB "
                   f"(idle {(s.get('squadron_idle_rss_bytes') or 0) / mib:,.0f} MiB)")
    if s.get("driver_peak_rss_bytes"):
        rss.append(f"Spark driver peak RSS {s['driver_peak_rss_bytes'] / mib:,.0f} MiB")
    arrow_mb = s["samples"]["pyspark"][0]["bytes"] / MB
    lines += ["", f"Every path returned the same {e['n']:,} rows and the same sum of every column "
              f"(sum(id) {e['sum_id']:,}): {arrow_mb:,.0f} MB of Arrow from "
              f"{s['parquet_bytes'] / MB:,.0f} MB of Parquet. " + "; ".join(rss) + "."]
    types = s.get("schemas", {})
    if len(set(types.values())) > 1:
        lines += ["", "Arrow types differ between paths: "
                  + "; ".join(f"{name}: {types[name]}" for name in VARIANTS if name in types) + "."]
    return lines
