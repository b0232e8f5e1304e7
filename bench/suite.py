"""Squadron's benchmark suite: Squadron side by side with its baselines, in one
run on one machine, reported as ratios.

Sections (each variant of a comparison runs interleaved, A B A B ..., with one
uncounted warm-up round first):

  transport    Squadron DoGet of a pre-loaded table vs a raw Arrow Flight
               server serving the same batches from memory; 1, 2, 4 streams;
               narrow (4 x int64) and wide (16 lineitem-like columns) data.
  engine       SELECT * and a filtered projection through Squadron vs the same
               SQL exported to Arrow in-process by DuckDB's Python API.
  postgres     The same tables from PostgreSQL (binary COPY via psycopg).
  small        SELECT 1 and a point lookup: p50, p99, queries/s at 1, 8 and 32
               clients, from the C++ client and from Python ADBC.
  memory       Peak server RSS while streaming 20x its memory budget.
  compression  IPC body compression (none, lz4, zstd) on loopback and behind a
               tc bandwidth cap in a network namespace.
  tpch         The 22 TPC-H queries (SF1 Parquet from DuckDB's dbgen, cached)
               through Squadron by ADBC and by the C++ client vs DuckDB
               in-process over the same files; results checked equal
               (bench/tpch.py).
  cluster      One distributed result read from 1, 2 and 3 nodes in network
               namespaces, each link capped by tc: aggregate / (N x one node)
               (bench/cluster.py).
  spark        SELECT * of a 10M-row Parquet table on Spark (Spark Connect,
               local[2]) through `squadron serve --engine spark`, by
               pyarrow.flight and ADBC, vs pyspark's own toArrow()
               (bench/spark.py).
  spark-dist   The same 10M-row Spark result three ways: Spark's executors
               pushing into 3 nodes (--distribute always) read in parallel,
               pyspark's toArrow() and the Spark Thrift Server; then the
               first two with every link capped by tc (bench/spark_dist.py).

Peers (bench/peers.py): other Flight SQL servers run on the same data through
the same clients, interleaved with Squadron: SELECT 1 at 1 and 8 clients in
`small`, the scans of `engine`. Today roapi (DataFusion), installed on demand
from the Python index into ~/.cache/squadron-bench; --quick uses it only when
it is already there. A peer that cannot be installed or started is skipped,
and the report says why. --peers none leaves them out.

Writes <out>/<date>-<sha>.json, .md and .png; the full run (not --quick) also
refreshes the table in README.md and bench/results/latest.png.
"""

import argparse
import datetime
import json
import os
import pathlib
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback

import duckdb

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
# flightsql.py: Flight SQL commands for pyarrow.flight, shared with the tests.
sys.path.append(str(pathlib.Path(__file__).resolve().parent.parent / "tests" / "integration"))
import cluster  # noqa: E402
import peers  # noqa: E402
import report  # noqa: E402
import services  # noqa: E402
import spark  # noqa: E402
import spark_dist  # noqa: E402
import tpch  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
SECTIONS = ["transport", "engine", "postgres", "small", "memory", "compression", "tpch", "cluster", "spark", "spark-dist"]
# The sections that read the generated narrow and wide tables from the main
# Squadron and the raw Flight server (make_data, start_main_servers); the
# others start what they need themselves.
NEEDS_TABLES = {"transport", "engine", "postgres", "small", "compression"}
# The sections that load with squadron-bench-client; every section needs squadron.
NEEDS_CLIENT = NEEDS_TABLES | {"memory", "tpch"}
# The sections that run the peers (bench/peers.py) over the same narrow and
# wide tables, as Parquet files.
PEER_SECTIONS = {"small", "engine"}
# SELECT 1 against the peers at these client counts (not 32: a peer is a
# reference point, not the subject).
PEER_CLIENTS = {1, 8}

NARROW_SQL = """
SELECT i AS id, (i * 7) % 1000003 AS a, (hash(i) % 1000000)::BIGINT AS b, i // 3 AS c
FROM range({rows}) t(i)"""

WIDE_SQL = """
SELECT
  (i // 4)::BIGINT AS l_orderkey,
  (hash(i) % 200000)::BIGINT AS l_partkey,
  (hash(i * 3) % 10000)::BIGINT AS l_suppkey,
  (i % 4 + 1)::INTEGER AS l_linenumber,
  ((i % 50) + 1)::DECIMAL(15,2) AS l_quantity,
  ((hash(i * 5) % 10000000) / 100)::DECIMAL(15,2) AS l_extendedprice,
  ((i % 11) / 100)::DECIMAL(15,2) AS l_discount,
  ((i % 9) / 100)::DECIMAL(15,2) AS l_tax,
  ['A', 'N', 'R'][i % 3 + 1] AS l_returnflag,
  ['O', 'F'][i % 2 + 1] AS l_linestatus,
  DATE '1992-01-01' + (i % 2500)::INTEGER AS l_shipdate,
  DATE '1992-01-31' + (i % 2500)::INTEGER AS l_commitdate,
  DATE '1992-01-15' + (i % 2500)::INTEGER AS l_receiptdate,
  ['DELIVER IN PERSON', 'COLLECT COD', 'NONE', 'TAKE BACK RETURN'][i % 4 + 1] AS l_shipinstruct,
  ['AIR', 'FOB', 'MAIL', 'RAIL', 'REG AIR', 'SHIP', 'TRUCK'][i % 7 + 1] AS l_shipmode,
  'carefully ' || md5(i::VARCHAR)[1:(10 + i % 20)] AS l_comment
FROM range({rows}) t(i)"""

PG_TYPES = {
    "narrow": "id bigint, a bigint, b bigint, c bigint",
    "wide": ("l_orderkey bigint, l_partkey bigint, l_suppkey bigint, l_linenumber integer, "
             "l_quantity numeric(15,2), l_extendedprice numeric(15,2), l_discount numeric(15,2), "
             "l_tax numeric(15,2), l_returnflag text, l_linestatus text, l_shipdate date, l_commitdate date, "
             "l_receiptdate date, l_shipinstruct text, l_shipmode text, l_comment text"),
}

FILTERED_SQL = ("SELECT l_orderkey, l_extendedprice, l_discount, l_shipdate FROM wide "
                "WHERE l_shipdate >= DATE '1994-01-01' AND l_quantity < 24")

# The engine section's queries: the big scans and a filtered projection.
ENGINE_QUERIES = {
    "select_star": "SELECT * FROM wide",
    "filtered_projection": FILTERED_SQL,
    "select_star_narrow": "SELECT * FROM narrow",
}

STREAMS = [1, 2, 4]
CLIENTS = [1, 8, 32]


class Bench:
    def __init__(self, args):
        self.args = args
        self.quick = args.quick
        self.runs = args.runs or (2 if self.quick else 5)
        self.build = pathlib.Path(args.build_dir)
        self.client = self.build / "squadron-bench-client"
        self.squadron = self.build / "squadron"
        self.raw_binary = self.build / "squadron-raw-flight"
        self.sizes = {
            "narrow_rows": 200_000 if self.quick else 8_000_000,
            "wide_rows": 50_000 if self.quick else 2_000_000,
        }
        self.small_seconds = 0.3 if self.quick else 1.5
        self.memory_budget = (16 if self.quick else 64) << 20
        self.cap_rate = "1gbit"
        self.workdir = pathlib.Path(tempfile.mkdtemp(prefix="squadron-bench-"))
        self.results = {"sections": {}, "skipped": {}, "peers": {}}
        self.stoppables = []
        self.peer_names = [] if args.peers == "none" else [p for p in args.peers.split(",") if p]
        self.peer_uris = {}  # the peers serving the narrow and wide tables
        self.peer_unavailable = {}  # name -> why it cannot run here, once known
        self.flight_clients = {}

    # --- helpers ---------------------------------------------------------------

    def log(self, message):
        print(f"bench: {message}", file=sys.stderr, flush=True)

    def run_json(self, argv, prefix=()):
        result = subprocess.run([*prefix, *map(str, argv)], capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"{pathlib.Path(str(argv[0])).name} failed: {result.stderr.strip()[-1500:]}")
        return json.loads(result.stdout.strip().splitlines()[-1])

    def fetch(self, uri, sqls=(), tickets=(), compression=None, prefix=()):
        argv = [self.client, "fetch", "--uri", uri]
        for sql in sqls:
            argv += ["--sql", sql]
        for ticket in tickets:
            argv += ["--ticket", ticket]
        if compression:
            argv += ["--compression", compression]
        return self.run_json(argv, prefix)

    def interleave(self, variants, expect_rows=None, peer_variants=None):
        """Runs each variant once per round, in order (A B A B ...), after one
        uncounted warm-up round. Returns {variant: [sample, ...]}.

        peer_variants ({variant: peer name}) run against a peer: one that fails
        or returns other rows is dropped from the comparison (and the report
        says why) instead of failing Squadron's section."""
        peer_variants = peer_variants or {}
        variants = dict(variants)
        samples = {name: [] for name in variants}
        for round_ in range(1 + self.runs):
            for name, run in list(variants.items()):
                try:
                    sample = run()
                    if expect_rows is not None and sample.get("rows") != expect_rows:
                        raise RuntimeError(f"{name} returned {sample.get('rows')} rows, expected {expect_rows}")
                except Exception as e:
                    if name not in peer_variants:
                        raise
                    self.peer_failed(peer_variants[name], f"{name}: {e}")
                    del variants[name], samples[name]
                    continue
                if round_ > 0:
                    samples[name].append(sample)
        return samples

    # --- setup -------------------------------------------------------------------

    def make_data(self):
        self.log(f"generating data in {self.workdir}: {self.sizes}")
        self.ref = duckdb.connect()
        self.ref.execute("SET threads = {}".format(os.cpu_count() or 1))
        self.ref.execute(f"CREATE TABLE narrow AS {NARROW_SQL.format(rows=self.sizes['narrow_rows'])}")
        self.ref.execute(f"CREATE TABLE wide AS {WIDE_SQL.format(rows=self.sizes['wide_rows'])}")
        init = []
        for table in ("narrow", "wide"):
            path = self.workdir / f"{table}.parquet"
            self.ref.execute(f"COPY {table} TO '{path}' (FORMAT parquet)")
            init.append(f"CREATE TABLE {table} AS SELECT * FROM read_parquet('{path}');")
            rows = self.sizes[f"{table}_rows"]
            for n in STREAMS[1:]:
                for i in range(n):
                    lo, hi = rows * i // n, rows * (i + 1) // n
                    init.append(f"CREATE TABLE {table}_p{n}_{i} AS SELECT * FROM {table} LIMIT {hi - lo} OFFSET {lo};")
            self.sizes[f"{table}_bytes"] = self.ref.execute(f"SELECT * FROM {table}").fetch_arrow_table().nbytes
        self.init_sql = self.workdir / "init.sql"
        self.init_sql.write_text("\n".join(init) + "\n")

    def start_peers(self, tables, label):
        """Starts every requested peer (--peers) on `tables` ({name: Parquet
        path}); returns {peer: grpc URI} of those that run. The peers are
        stopped with the bench's other services; one that cannot be installed
        or started is recorded as skipped with the reason under "peers" in the
        results, and never tried again in this run. `label` names the sections
        that use them (e.g. "small, engine"; the TPC-H section can call this
        with its own tables)."""
        uris = {}
        for name in self.peer_names:
            entry = self.results["peers"].setdefault(name, {"ran": [], "skipped": {}, "failed": []})
            if name in self.peer_unavailable:
                entry["skipped"][label] = self.peer_unavailable[name]
                continue
            self.log(f"peers: starting {name} for {label}")
            try:
                server = peers.start(name, tables, self.workdir, install=not self.quick)
            except peers.Unavailable as e:
                reason = str(e)
            except Exception as e:  # a peer never breaks the bench
                reason = f"{type(e).__name__}: {e}"
            else:
                self.stoppables.append(server)
                entry.update(version=server.version, description=server.description)
                entry["ran"].append(label)
                uris[name] = server.uri
                continue
            self.log(f"peers: {name} skipped: {reason}")
            self.peer_unavailable[name] = reason
            entry["skipped"][label] = reason
        return uris

    def peer_failed(self, name, why):
        self.log(f"peers: {name} failed: {why}")
        self.results["peers"].setdefault(name, {"ran": [], "skipped": {}, "failed": []})["failed"].append(why)

    def flight_fetch(self, uri, sql):
        """One Flight SQL statement through pyarrow.flight on a warm
        connection: GetFlightInfo, then DoGet of every endpoint, batches
        counted and dropped as they come."""
        import pyarrow.flight as flight
        from flightsql import descriptor, statement_query
        from testbed import read_chunks

        client = self.flight_clients.get(uri)
        if client is None:
            client = self.flight_clients[uri] = flight.connect(uri)
            self.stoppables.append(services.Closer(client.close))
        start = time.perf_counter()
        rows = nbytes = 0
        info = client.get_flight_info(descriptor(statement_query(sql)))
        for endpoint in info.endpoints:
            for batch in read_chunks(client.do_get(endpoint.ticket)):
                rows += batch.num_rows
                nbytes += batch.nbytes
        return {"seconds": time.perf_counter() - start, "rows": rows, "bytes": nbytes}

    def partitions(self, table, n):
        return [table] if n == 1 else [f"{table}_p{n}_{i}" for i in range(n)]

    def start_main_servers(self):
        self.log("starting Squadron")
        self.server = services.start_squadron(self.squadron, self.workdir, "squadron",
                                              ["--init-sql", self.init_sql])
        self.stoppables.append(self.server)
        # The raw server serves exactly the batches Squadron sends: its files
        # are Squadron's own results, written as IPC streams.
        datasets = {}
        for table in ("narrow", "wide"):
            for n in STREAMS:
                for name in self.partitions(table, n):
                    path = self.workdir / f"{name}.arrows"
                    subprocess.run([self.squadron, "query", "--uri", self.server.uri, "--progress", "never",
                                    "--output", path, f"SELECT * FROM {name}"], check=True)
                    datasets[name] = path
        path = self.workdir / "select_1.arrows"
        subprocess.run([self.squadron, "query", "--uri", self.server.uri, "--progress", "never", "--output", path,
                        "SELECT 1"], check=True)
        datasets["select_1"] = path
        self.log("starting the raw Flight server")
        self.raw = services.start_raw_flight(self.raw_binary, self.workdir, datasets)
        self.stoppables.append(self.raw)

    # --- sections ------------------------------------------------------------------

    def section_transport(self):
        out = {}
        for table in ("narrow", "wide"):
            for n in STREAMS:
                names = self.partitions(table, n)
                self.log(f"transport: {table}, {n} stream(s)")
                out[f"{table}/{n}"] = self.interleave({
                    "squadron": lambda names=names: self.fetch(self.server.uri,
                                                               sqls=[f"SELECT * FROM {x}" for x in names]),
                    "raw_flight": lambda names=names: self.fetch(self.raw.uri, tickets=names),
                }, expect_rows=self.sizes[f"{table}_rows"])
        return out

    def duckdb_export(self, sql, mode):
        start = time.perf_counter()
        result = self.ref.execute(sql)
        if mode == "stream":
            rows = nbytes = 0
            for batch in result.fetch_record_batch():
                rows += batch.num_rows
                nbytes += batch.nbytes
        else:
            table = result.fetch_arrow_table()
            rows, nbytes = table.num_rows, table.nbytes
        return {"seconds": time.perf_counter() - start, "rows": rows, "bytes": nbytes}

    def section_engine(self):
        out = {}
        for label, sql in ENGINE_QUERIES.items():
            expect = self.ref.execute(f"SELECT count(*) FROM ({sql})").fetchone()[0]
            self.log(f"engine: {label}")
            variants = {
                "squadron": lambda sql=sql: self.fetch(self.server.uri, sqls=[sql]),
                "duckdb_stream": lambda sql=sql: self.duckdb_export(sql, "stream"),
                "duckdb_table": lambda sql=sql: self.duckdb_export(sql, "table"),
                # The same query from Python (pyarrow.flight), as for the peers.
                "squadron_flight": lambda sql=sql: self.flight_fetch(self.server.uri, sql),
            }
            peer_variants = {}
            for name, uri in self.peer_uris.items():
                variants[name] = lambda sql=sql, uri=uri: self.fetch(uri, sqls=[sql])
                variants[f"{name}_flight"] = lambda sql=sql, uri=uri: self.flight_fetch(uri, sql)
                peer_variants.update({name: name, f"{name}_flight": name})
            out[label] = self.interleave(variants, expect_rows=expect, peer_variants=peer_variants)
        return out

    def section_postgres(self):
        import psycopg

        pg = services.Postgres(self.workdir)
        self.stoppables.append(pg)
        self.results["postgres_version"] = pg.version()
        out = {}
        with psycopg.connect(pg.conninfo(), autocommit=True) as conn:
            for table in ("narrow", "wide"):
                self.log(f"postgres: loading {table}")
                csv = self.workdir / f"{table}.csv"
                self.ref.execute(f"COPY {table} TO '{csv}' (FORMAT csv, HEADER false)")
                conn.execute(f"CREATE TABLE {table} ({PG_TYPES[table]})")
                with conn.cursor() as cur, cur.copy(f"COPY {table} FROM STDIN (FORMAT csv)") as copy, \
                        open(csv, "rb") as f:
                    while block := f.read(1 << 20):
                        copy.write(block)
                csv.unlink()
                conn.execute(f"VACUUM ANALYZE {table}")

                def pg_copy(table=table):
                    start = time.perf_counter()
                    nbytes = 0
                    with conn.cursor() as cur:
                        with cur.copy(f"COPY (SELECT * FROM {table}) TO STDOUT (FORMAT binary)") as copy:
                            for block in copy:
                                nbytes += len(block)
                        rows = cur.rowcount
                    return {"seconds": time.perf_counter() - start, "rows": rows, "wire_bytes": nbytes}

                self.log(f"postgres: {table}")
                out[table] = self.interleave({
                    "squadron": lambda table=table: self.fetch(self.server.uri, sqls=[f"SELECT * FROM {table}"]),
                    "postgres_copy": pg_copy,
                }, expect_rows=self.sizes[f"{table}_rows"])
        pg.stop()
        return out

    def latency(self, kind, sql, clients, key_max, uri=None):
        """kind: cpp (squadron-bench-client) or adbc (adbc_latency.py), to
        Squadron or to `uri`; raw_cpp: cpp to the raw Flight server."""
        uri = uri or (self.raw.uri if kind == "raw_cpp" else self.server.uri)
        common = ["--uri", uri, "--sql", sql, "--clients", clients, "--seconds", self.small_seconds,
                  "--warmup", 0.2, "--key-max", key_max]
        if kind in ("cpp", "raw_cpp"):
            return self.run_json([self.client, "latency", *common])
        return self.run_json([sys.executable, pathlib.Path(__file__).parent / "adbc_latency.py", *common])

    def section_small(self):
        out = {}
        key_max = self.sizes["wide_rows"] // 4
        queries = {"select_1": "SELECT 1", "point_lookup": "SELECT * FROM wide WHERE l_orderkey = {key}"}
        for label, sql in queries.items():
            for clients in CLIENTS:
                self.log(f"small: {label}, {clients} client(s)")
                variants = {
                    "cpp": lambda sql=sql, c=clients: self.latency("cpp", sql, c, key_max),
                    "adbc": lambda sql=sql, c=clients: self.latency("adbc", sql, c, key_max),
                }
                peer_variants = {}
                if label == "select_1":
                    # The floor: the same two calls to the raw Flight server,
                    # which answers from memory with no work at all.
                    variants["raw_cpp"] = lambda sql=sql, c=clients: self.latency("raw_cpp", sql, c, key_max)
                    # --quick checks that the peers work (1 client), measures nothing.
                    peer_clients = {1} if self.quick else PEER_CLIENTS
                    for name, uri in self.peer_uris.items() if clients in peer_clients else ():
                        for kind in ("cpp", "adbc"):
                            variants[f"{name}_{kind}"] = (lambda sql=sql, c=clients, kind=kind, uri=uri:
                                                          self.latency(kind, sql, c, key_max, uri=uri))
                            peer_variants[f"{name}_{kind}"] = name
                out[f"{label}/{clients}"] = self.interleave(variants, peer_variants=peer_variants)
        return out

    def section_memory(self):
        budget = self.memory_budget
        rows = 20 * budget // 32  # 4 BIGINT columns
        server = services.start_squadron(self.squadron, self.workdir, "squadron-memory",
                                         ["--memory-limit", f"{budget >> 20}MiB"])
        self.stoppables.append(server)
        try:
            idle = server.peak_rss_bytes()
            sql = f"SELECT i AS a, i * 2 AS b, i * 3 AS c, i * 4 AS d FROM range({rows}) t(i)"
            self.log(f"memory: streaming {rows} rows ({rows * 32 >> 20} MiB) with a {budget >> 20} MiB budget")
            sample = self.fetch(server.uri, sqls=[sql])
            if sample["rows"] != rows:
                raise RuntimeError(f"memory stream returned {sample['rows']} rows, expected {rows}")
            return {"budget_bytes": budget, "result_bytes": sample["bytes"], "rows": rows,
                    "seconds": sample["seconds"], "peak_rss_bytes": server.peak_rss_bytes(),
                    "idle_peak_rss_bytes": idle}
        finally:
            server.stop()

    def section_tpch(self):
        # The peers serve the same Parquet files (the data is generated first).
        try:
            files = tpch.data_files(self)
        except Exception as e:  # the section itself reports why it cannot run
            self.log(f"tpch: no data for the peers: {e}")
            files = None
        return tpch.section(self, peers=self.start_peers(files, "tpch") if files else None)

    def section_cluster(self):
        return cluster.section(self)

    def section_spark(self):
        return spark.section(self)

    def section_spark_dist(self):
        return spark_dist.section(self)

    def section_compression(self):
        out = {}
        codecs = ["none", "lz4", "zstd"]
        rows = self.sizes["wide_rows"]
        self.log("compression: loopback")
        out["loopback"] = self.interleave(
            {c: (lambda c=c: self.fetch(self.server.uri, sqls=["SELECT * FROM wide"], compression=c))
             for c in codecs}, expect_rows=rows)
        try:
            link = services.CappedLink(self.cap_rate)
        except services.ServiceError as e:
            self.results["skipped"]["compression/capped"] = f"no network namespace with a tc cap: {e}"
            self.log(f"compression: capped link skipped: {e}")
            return out
        self.stoppables.append(link)
        try:
            wide = self.workdir / "wide.parquet"
            init = self.workdir / "init-wide.sql"
            init.write_text(f"CREATE TABLE wide AS SELECT * FROM read_parquet('{wide}');\n")
            server = services.start_squadron(self.squadron, self.workdir, "squadron-capped",
                                             ["--init-sql", init], host=link.HOST_IP)
            self.stoppables.append(server)
            self.log(f"compression: behind a {self.cap_rate} cap")
            out[f"capped_{self.cap_rate}"] = self.interleave(
                {c: (lambda c=c: self.fetch(server.uri, sqls=["SELECT * FROM wide"], compression=c,
                                            prefix=link.exec_prefix())) for c in codecs}, expect_rows=rows)
            server.stop()
        finally:
            link.close()
        return out

    # --- driver --------------------------------------------------------------------

    def machine(self):
        cpu = "unknown"
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        return {"cpu": cpu, "cores": os.cpu_count(), "memory_bytes": mem, "kernel": platform.release()}

    def git_sha(self):
        result = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short=10", "HEAD"], capture_output=True,
                                text=True)
        sha = result.stdout.strip() or "unknown"
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        return sha + ("-dirty" if dirty else "")

    def run(self):
        started = time.time()
        sections = self.args.sections.split(",") if self.args.sections else SECTIONS
        for s in sections:
            if s not in SECTIONS:
                raise SystemExit(f"bench: unknown section '{s}'; choose from {', '.join(SECTIONS)}")
        needs_tables = bool(NEEDS_TABLES.intersection(sections))
        binaries = [self.squadron]
        if NEEDS_CLIENT.intersection(sections):
            binaries.append(self.client)
        if needs_tables:
            binaries.append(self.raw_binary)
        for binary in binaries:
            if not binary.exists():
                raise SystemExit(f"bench: {binary} is missing; run `make build` first")
        self.results.update({
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
            "git_sha": self.git_sha(), "quick": self.quick, "runs": self.runs, "machine": self.machine(),
            "duckdb_version": duckdb.__version__,
        })
        failed = []
        try:
            if needs_tables:
                self.make_data()
                self.results["sizes"] = self.sizes
                self.start_main_servers()
                if PEER_SECTIONS.intersection(sections):
                    self.results["peers_requested"] = self.peer_names
                    self.peer_uris = self.start_peers(
                        {t: self.workdir / f"{t}.parquet" for t in ("narrow", "wide")},
                        ", ".join(s for s in sections if s in PEER_SECTIONS))
            for section in sections:
                try:
                    self.results["sections"][section] = getattr(self, f"section_{section.replace('-', '_')}")()
                except Exception as e:  # one broken section must not hide the others
                    traceback.print_exc()
                    failed.append(f"{section}: {e}")
        finally:
            for stoppable in reversed(self.stoppables):
                try:
                    stoppable.stop()
                except Exception:
                    pass
            if not self.args.keep_workdir:
                shutil.rmtree(self.workdir, ignore_errors=True)
        self.results["seconds"] = time.time() - started
        self.results["failed"] = failed
        self.results["goals"] = report.goals(self.results)
        out = pathlib.Path(self.args.out) if self.args.out else (
            pathlib.Path(tempfile.mkdtemp(prefix="squadron-bench-quick-")) if self.quick else ROOT / "bench/results")
        out.mkdir(parents=True, exist_ok=True)
        stem = out / f"{self.results['date']}-{self.results['git_sha']}"
        stem.with_suffix(".json").write_text(json.dumps(self.results, indent=1) + "\n")
        markdown = report.markdown(self.results, chart_name=stem.with_suffix(".png").name)
        stem.with_suffix(".md").write_text(markdown)
        report.chart(self.results, stem.with_suffix(".png"))
        print(markdown)
        self.log(f"wrote {stem}.json, .md and .png in {self.results['seconds']:.0f} s")
        if not self.quick and not self.args.no_readme and not failed:
            shutil.copyfile(stem.with_suffix(".png"), ROOT / "bench/results/latest.png")
            report.update_readme(ROOT / "README.md", report.markdown(self.results, chart_name=None))
            self.log("README.md and bench/results/latest.png updated")
        if failed:
            self.log("failed sections: " + "; ".join(failed))
            return 1
        return 0


def main():
    parser = argparse.ArgumentParser(prog="bench/run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run on small data (part of `make test`): every section, two counted runs")
    parser.add_argument("--runs", type=int, help="counted runs per variant after the warm-up (default 5; 2 quick)")
    parser.add_argument("--sections", help=f"comma-separated subset of: {','.join(SECTIONS)}")
    parser.add_argument("--out", help="results directory (default bench/results; a temporary one with --quick)")
    parser.add_argument("--build-dir", default=str(ROOT / "build"), help="where the binaries are")
    parser.add_argument("--keep-workdir", action="store_true", help="keep data, logs and the PostgreSQL cluster")
    parser.add_argument("--peers", default=",".join(peers.REGISTRY),
                        help="comma-separated peers to run beside Squadron (bench/peers.py), or 'none' "
                             f"(default: {','.join(peers.REGISTRY)}; --quick runs one only if already cached)")
    parser.add_argument("--no-readme", action="store_true", help="do not update README.md after a full run")
    args = parser.parse_args()
    sys.exit(Bench(args).run())


if __name__ == "__main__":
    main()
