"""The `tpch` section of bench/run: the 22 TPC-H queries through Squadron and in
DuckDB in-process, over the same Parquet files.

Data: DuckDB's own `tpch` extension (the `duckdb-ext-tpch` wheel from the
Python index, scripts/requirements.txt) generates the 8 tables at scale factor
1 (0.1 with --quick) with CALL dbgen(), and DuckDB writes each as one Parquet
file (its COPY defaults). The files are cached per scale factor under
~/.cache/squadron-bench/tpch-sf<SF> (SQUADRON_BENCH_CACHE moves it), so a
rerun reuses them; complete.json there records how long generation took. The
query texts are the extension's (tpch_queries(): the spec's validation
parameters), each without its trailing semicolon.

Serving: `squadron serve --threads N <the 8 files>`, as a user would serve a
folder of Parquet files: each file becomes a view named after it
(CREATE VIEW lineitem AS SELECT * FROM read_parquet('.../lineitem.parquet')).
DuckDB in-process gets the same views over the same files. Both run with
threads = N = the machine's cores (SET threads), default memory limits;
DuckDB in-process with its progress bar off (Squadron tracks progress but
never prints it).

Per query, the variants run interleaved, A B C A B C ..., after one uncounted
warm-up round:

  adbc     Squadron through ADBC (adbc_driver_flightsql), one warm connection
           for the whole section: cursor.execute(), then fetch_arrow_table()
  cpp      Squadron through `squadron-bench-client fetch --warm 5 --sql`
           (C++ Arrow Flight): its own clock, from the query's GetFlightInfo
           to the last batch, so neither its process start-up nor its
           connection set-up is counted (--warm 5: SELECT 1 five times first)
  duckdb   DuckDB in-process: con.execute(q).fetch_arrow_table()
  <peer>   optional: another Flight SQL server with the same 8 tables, through
           ADBC like `adbc` (section(bench, peers={name: uri}))

The check: the warm-up result of every query through Squadron (ADBC) must
equal DuckDB's, compared as Arrow tables sorted by every column; any
difference fails the section. Each counted run must return DuckDB's row
count. A peer's errors and differences are recorded in its cells, never
raised.

Beside the queries, one scan: SELECT * FROM lineitem, every row of the
largest file (6M rows, 16 columns at SF1), the same variants interleaved.
It measures what the queries' small results cannot: Squadron's cost per row
on a query over files, streamed. Its rows come in file order in both, so
they are compared in order (no sort); a peer's, by row count and column
names only. It is reported apart and is not in the geometric mean.

The goals: the geometric mean over the queries of each query's median ratio
Squadron / DuckDB seconds, ADBC and C++ client, <= 1.03; min–max are the
geometric means of each round's ratios. Each query also records the cores
that other processes kept busy meanwhile (OtherLoad): on a shared machine,
the reason a ratio is noisy. --quick: Q1, Q3, Q6 and Q14 at SF0.1, 2 rounds.
A peer serves the files of data_files(bench).

Environment: SQUADRON_BENCH_TPCH_SCALE (the scale factor), SQUADRON_BENCH_CACHE.

Run on its own: `bench/run --sections tpch [--quick] --no-readme --out DIR`.
"""

import datetime
import decimal
import importlib.util
import json
import math
import os
import pathlib
import resource
import shutil
import time

import services

TABLES = ["customer", "lineitem", "nation", "orders", "part", "partsupp", "region", "supplier"]
SCALE = 1
QUICK_SCALE = 0.1
QUICK_QUERIES = [1, 3, 6, 14]
# The scans run beside the queries: {key: SQL}.
SCANS = {"scan_lineitem": "SELECT * FROM lineitem"}
TARGET = 1.03
# SELECT 1s the C++ client runs on its new connection before its clock starts.
CPP_WARM_STATEMENTS = "5"
LABELS = {"adbc": "Squadron, ADBC", "cpp": "Squadron, C++ client", "duckdb": "DuckDB in-process"}


class Skip(Exception):
    """The section cannot run here: the reason."""


# --- the data and the queries ---------------------------------------------------------

def extension_directory():
    """The extension directory that the duckdb-ext-tpch wheel installs
    (.../duckdb_ext/extensions/v<duckdb>/<platform>/tpch.duckdb_extension),
    for SET extension_directory; raises Skip when the wheel is missing."""
    import duckdb

    spec = importlib.util.find_spec("duckdb_ext")
    for base in (spec.submodule_search_locations or []) if spec else []:
        directory = pathlib.Path(base) / "extensions"
        if list(directory.glob(f"v{duckdb.__version__}/*/tpch.duckdb_extension")):
            return directory
    raise Skip(f"DuckDB's tpch extension for duckdb {duckdb.__version__} is not installed (the duckdb-ext-tpch "
               "wheel; `pip install -r scripts/requirements.txt`)")


def tpch_connection(threads):
    """A DuckDB connection with the tpch extension loaded (no download)."""
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET threads = {threads}")
    con.execute("SET enable_progress_bar = false")
    con.execute("SET autoinstall_known_extensions = false")
    con.execute(f"SET extension_directory = '{extension_directory()}'")
    con.execute("LOAD tpch")
    return con


def cache_directory(scale):
    root = os.environ.get("SQUADRON_BENCH_CACHE") or pathlib.Path.home() / ".cache" / "squadron-bench"
    return pathlib.Path(root) / f"tpch-sf{scale:g}"


def generate(scale, threads, log):
    """The 8 tables at `scale` as Parquet files in the cache, generated unless
    a complete earlier generation is there. Returns the cache's
    complete.json: files {table: path}, rows, bytes, seconds."""
    import duckdb

    directory = cache_directory(scale)
    marker = directory / "complete.json"
    if marker.exists():
        info = json.loads(marker.read_text())
        if info.get("scale") == scale and all(pathlib.Path(p).exists() for p in info["files"].values()):
            log(f"reusing TPC-H SF{scale:g} in {directory} (generated in {info['seconds']:.0f} s)")
            return {**info, "cached": True}
    # Written beside the cache, then renamed into place: an interrupted run
    # never leaves a half-written cache that a later run would trust.
    staging = directory.with_name(f"{directory.name}.partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    log(f"generating TPC-H SF{scale:g} with DuckDB's dbgen into {directory}")
    started = time.monotonic()
    try:
        con = tpch_connection(threads)
        con.execute(f"CALL dbgen(sf = {scale})")
        dbgen_seconds = time.monotonic() - started
        rows = {}
        for table in TABLES:
            con.execute(f"COPY {table} TO '{staging / table}.parquet' (FORMAT parquet)")
            rows[table] = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        con.close()
        seconds = time.monotonic() - started
        info = {"scale": scale, "duckdb_version": duckdb.__version__, "seconds": seconds,
                "dbgen_seconds": dbgen_seconds, "rows": rows,
                "bytes": sum((staging / f"{t}.parquet").stat().st_size for t in TABLES),
                "files": {t: str(directory / f"{t}.parquet") for t in TABLES}}
        (staging / "complete.json").write_text(json.dumps(info, indent=1) + "\n")
        shutil.rmtree(directory, ignore_errors=True)
        staging.rename(directory)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log(f"generated TPC-H SF{scale:g} in {seconds:.0f} s (dbgen {dbgen_seconds:.0f} s, "
        f"{info['bytes'] / 1e6:,.0f} MB of Parquet)")
    return {**info, "cached": False}


def scale_for(bench):
    return float(os.environ.get("SQUADRON_BENCH_TPCH_SCALE") or (QUICK_SCALE if bench.quick else SCALE))


def data_files(bench):
    """{table: Parquet path} of the scale this run uses, generated if needed:
    for a peer to serve the same files before section(bench, peers=...)."""
    info = generate(scale_for(bench), os.cpu_count() or 1, bench.log)
    return {t: pathlib.Path(p) for t, p in info["files"].items()}


def query_texts(numbers):
    """{n: SQL} of the TPC-H queries `numbers`, from the tpch extension."""
    con = tpch_connection(1)
    rows = con.execute("SELECT query_nr, query FROM tpch_queries() ORDER BY query_nr").fetchall()
    con.close()
    texts = {int(n): q.strip().rstrip(";").strip() for n, q in rows}
    return {n: texts[n] for n in numbers}


def view_sql(files):
    """The views Squadron creates for its data paths, for DuckDB in-process."""
    return [f"CREATE OR REPLACE VIEW {t} AS SELECT * FROM read_parquet('{p}')" for t, p in files.items()]


# --- the comparison of results ----------------------------------------------------------

def sorted_table(table):
    return table.sort_by([(name, "ascending") for name in table.column_names]) if table.num_rows else table


def difference(got, expected, ordered=False):
    """None when the two Arrow tables hold the same rows (in any order, as
    the same types; in the same order when `ordered`); otherwise what
    differs."""
    if got.schema != expected.schema:
        return f"schema {got.schema} != {expected.schema}".replace("\n", ", ")
    if got.num_rows != expected.num_rows:
        return f"{got.num_rows} rows != {expected.num_rows}"
    if ordered:
        if got.equals(expected):
            return None
        for name in got.column_names:
            if not got.column(name).equals(expected.column(name)):
                return f"column {name} differs (rows in order)"
        return "tables differ"
    a, b = sorted_table(got).combine_chunks(), sorted_table(expected).combine_chunks()
    for name in a.column_names:
        if not a.column(name).equals(b.column(name)):
            for i, (x, y) in enumerate(zip(a.column(name).to_pylist(), b.column(name).to_pylist())):
                if x != y:
                    return f"column {name}, sorted row {i}: {x!r} != {y!r}"
            return f"column {name} differs"
    return None


def value_difference(got, expected, rel=1e-6):
    """For a peer, another engine: None when the two tables hold the same
    values in the same columns, whatever the Arrow types (string_view or
    string, nullability, DECIMAL or DOUBLE); numbers agree to `rel`
    (relative). Otherwise what differs."""
    if got.column_names != expected.column_names:
        return f"columns {got.column_names} != {expected.column_names}"
    if got.num_rows != expected.num_rows:
        return f"{got.num_rows} rows != {expected.num_rows}"

    def normal(value):
        if isinstance(value, (int, float, decimal.Decimal)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, datetime.datetime):
            return value.replace(tzinfo=None)
        return value

    def rows(table):
        columns = [[normal(v) for v in table.column(i).to_pylist()] for i in range(table.num_columns)]
        # Floats sort the same whatever their type; None sorts first.
        return sorted(zip(*columns), key=lambda row: [(v is not None, v) for v in row])

    for i, (x_row, y_row) in enumerate(zip(rows(got), rows(expected))):
        for name, x, y in zip(got.column_names, x_row, y_row):
            if isinstance(x, float) and isinstance(y, float):
                if not math.isclose(x, y, rel_tol=rel, abs_tol=rel):
                    return f"column {name}, sorted row {i}: {x!r} != {y!r}"
            elif x != y:
                return f"column {name}, sorted row {i}: {x!r} != {y!r}"
    return None


# --- the run ----------------------------------------------------------------------------

class OtherLoad:
    """The cores that processes other than Squadron, this bench (DuckDB
    in-process included) and its C++ clients kept busy over an interval: other
    work on a shared machine, which makes the ratios noisy. A peer counts as
    other work."""

    def __init__(self, server_pid):
        self.server_pid = server_pid

    def mark(self):
        children = resource.getrusage(resource.RUSAGE_CHILDREN)  # the C++ clients, once waited for
        ours = (services.cpu_seconds(self.server_pid) + time.process_time() + children.ru_utime
                + children.ru_stime)
        return services.machine_ticks(), ours, time.monotonic()

    def since(self, mark):
        (busy0, total0), ours0, t0 = mark
        (busy1, total1), ours1, t1 = self.mark()
        busy = (busy1 - busy0) / max(1, total1 - total0) * (os.cpu_count() or 1)
        return max(0.0, busy - (ours1 - ours0) / max(t1 - t0, 1e-9))


class TpchBench(services.Section):
    name = "tpch"

    def __init__(self, bench, peers):
        super().__init__(bench)
        self.peers = dict(peers or {})
        taken = set(self.peers).intersection(LABELS)
        if taken:
            raise ValueError(f"peer names {sorted(taken)} are the section's own variants")
        self.runs = bench.args.runs or (2 if self.quick else 5)
        self.scale = scale_for(bench)
        self.numbers = QUICK_QUERIES if self.quick else list(range(1, 23))
        self.threads = os.cpu_count() or 1
        self.workdir = pathlib.Path(bench.workdir) / "tpch"
        self.workdir.mkdir(parents=True, exist_ok=True)

    # --- the variants; each returns (sample, Arrow table or None) -------------------------

    def timed_adbc(self, conn, sql):
        start = time.perf_counter()
        with conn.cursor() as cur:
            cur.execute(sql)
            table = cur.fetch_arrow_table()
        return {"seconds": time.perf_counter() - start, "rows": table.num_rows}, table

    def timed_cpp(self, sql):
        # --warm: SELECT 1 a few times on its new connection before the clock
        # starts (the ADBC connection stays open the whole section): a new
        # channel's and a new process's first calls cost 2-25 ms each here.
        argv = [self.bench.client, "fetch", "--uri", self.server.uri, "--warm", CPP_WARM_STATEMENTS, "--sql", sql]
        return self.bench.run_json(argv), None

    def timed_duckdb(self, sql):
        start = time.perf_counter()
        table = self.ref.execute(sql).fetch_arrow_table()
        return {"seconds": time.perf_counter() - start, "rows": table.num_rows}, table

    def setup(self):
        import adbc_driver_flightsql.dbapi as flightsql
        import duckdb

        self.generation = generate(self.scale, self.threads, self.log)
        files = self.generation["files"]
        self.queries = query_texts(self.numbers)
        self.log(f"starting Squadron on the {len(files)} Parquet files, --threads {self.threads}")
        self.server = services.start_squadron(self.bench.squadron, self.workdir, "squadron-tpch",
                                              ["--threads", str(self.threads), *files.values()])
        self.stoppables.append(self.server)
        self.ref = duckdb.connect()
        self.stoppables.append(services.Closer(self.ref.close))
        self.ref.execute(f"SET threads = {self.threads}")
        self.ref.execute("SET enable_progress_bar = false")  # no drawing on a terminal mid-measurement
        for sql in view_sql(files):
            self.ref.execute(sql)
        self.connections = {}
        for name, uri in {"adbc": self.server.uri, **self.peers}.items():
            try:
                conn = flightsql.connect(uri, autocommit=True)
                self.stoppables.append(services.Closer(conn.close))
                with conn.cursor() as cur:  # a warm connection
                    cur.execute("SELECT 1")
                    cur.fetch_arrow_table()
                self.connections[name] = conn
            except Exception as e:
                if name == "adbc":
                    raise
                self.connections[name] = e  # every cell of this peer fails with it

    def variants(self, sql):
        out = {"adbc": lambda: self.timed_adbc(self.connections["adbc"], sql),
               "cpp": lambda: self.timed_cpp(sql),
               "duckdb": lambda: self.timed_duckdb(sql)}
        for peer in self.peers:
            out[peer] = lambda peer=peer: self.timed_adbc(self.connections[peer], sql)
        return out

    def run_query(self, key, sql, ordered=False):
        """One warm-up round, whose results are checked, then self.runs
        counted rounds; every round's row counts must be DuckDB's. `key`
        names the query in the results (q01, scan_lineitem); `ordered`: the
        rows come in the same order everywhere, so they are compared so
        (a peer's by row count and columns only)."""
        label = display_name(key)
        variants = self.variants(sql)
        samples = {name: [] for name in variants}
        failed = {}  # peer -> error text: the peer is not asked again
        for peer in self.peers:
            if isinstance(self.connections[peer], Exception):
                failed[peer] = f"connect: {self.connections[peer]}"
        check = {}
        for round_ in range(1 + self.runs):
            got, tables = {}, {}
            for name, run in variants.items():
                if name in failed:
                    continue
                try:
                    got[name], tables[name] = run()
                except Exception as e:
                    if name not in self.peers:
                        raise RuntimeError(f"{label} through {name}: {e}") from e
                    failed[name] = (str(e).strip().splitlines() or [repr(e)])[0][:300]
            if round_ == 0:
                expected = tables["duckdb"]
                self.rows[key] = expected.num_rows
                why = difference(tables["adbc"], expected, ordered)
                if why:
                    raise RuntimeError(f"{label}: Squadron (ADBC) and DuckDB in-process disagree: {why}")
                for peer in self.peers:
                    if peer in tables:
                        check[peer] = (shape_difference(tables[peer], expected) if ordered
                                       else value_difference(tables[peer], expected)) or "equal"
            del tables
            for name, sample in got.items():
                if name not in self.peers and sample["rows"] != self.rows[key]:
                    raise RuntimeError(f"{label} through {name} returned {sample['rows']} rows, "
                                       f"DuckDB {self.rows[key]}")
                if round_ > 0:
                    samples[name].append(sample)
        for peer, error in failed.items():
            samples[peer] = {"error": error}
        return samples, check

    def run(self):
        started = time.monotonic()
        try:
            extension_directory()
        except Skip as e:
            return self.skip(str(e))
        try:
            self.setup()
            self.rows = {}
            queries, checks, others = {}, {}, {}
            load = OtherLoad(self.server.pid)
            section_mark = load.mark()
            scans = {}
            work = [(f"q{n:02d}", sql, queries) for n, sql in self.queries.items()]
            work += [(key, sql, scans) for key, sql in SCANS.items()]
            for key, sql, into in work:
                mark = load.mark()
                samples, check = self.run_query(key, sql, ordered=into is scans)
                others[key] = load.since(mark)
                into[key] = samples
                if check:
                    checks[key] = check
                self.log(f"{display_name(key):<4s} " + ", ".join(f"{name} {median_or_error(v)}"
                                                              for name, v in samples.items())
                         + f"; other load {others[key]:.2f} cores")
            other_cores = load.since(section_mark)
            out = {"scale": self.scale, "threads": self.threads, "runs": self.runs, "warmups": 1,
                   "cpp_warm_statements": int(CPP_WARM_STATEMENTS),
                   "queries": queries, "scans": scans, "scan_sql": dict(SCANS), "rows": dict(self.rows),
                   "peers": self.peers, "peer_checks": checks, "other_cores": others,
                   "other_cores_section": other_cores,
                   "generation": {k: v for k, v in self.generation.items() if k != "files"},
                   "data_directory": str(cache_directory(self.scale)), "seconds": time.monotonic() - started}
            self.log(summary(out) + f"; section took {out['seconds']:.0f} s, other load {other_cores:.2f} cores")
            return out
        finally:
            self.stop_all()


def display_name(key):
    """q01 -> Q1; a scan's key as it is."""
    return f"Q{int(key[1:])}" if key.startswith("q") and key[1:].isdigit() else key


def shape_difference(got, expected):
    """For a peer's scan: None when the column names and row counts agree."""
    if got.column_names != expected.column_names:
        return f"columns {got.column_names} != {expected.column_names}"
    if got.num_rows != expected.num_rows:
        return f"{got.num_rows} rows != {expected.num_rows}"
    return None


def median_or_error(samples):
    if isinstance(samples, dict):
        return "failed"
    values = sorted(s["seconds"] for s in samples)
    return f"{values[len(values) // 2]:.3f} s" if values else "n/a"


def section(bench, peers=None):
    """Runs the section; `peers` maps a name to the Flight SQL URI of another
    server that serves the same 8 tables (data_files(bench))."""
    return services.unwinding_on_sigterm(lambda: TpchBench(bench, peers).run())


# --- reporting ------------------------------------------------------------------------------

def has_samples(results):
    s = results["sections"].get("tpch")
    return bool(s and "queries" in s)


def seconds(samples):
    return [] if isinstance(samples, dict) else [x["seconds"] for x in samples]


def ratios(query, name):
    """Per round: `name` seconds / DuckDB in-process seconds."""
    return [a / b for a, b in zip(seconds(query.get(name, [])), seconds(query["duckdb"])) if b]


def geomean(values):
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


def geomeans(s, name):
    """(the geometric mean of every query's median ratio, [each round's
    geometric mean]); (nan, []) when a query has no ratio."""
    import statistics

    per_query = [ratios(q, name) for q in s["queries"].values()]
    if not per_query or not all(per_query):
        return float("nan"), []
    rounds = min(len(r) for r in per_query)
    return (geomean([statistics.median(r) for r in per_query]),
            [geomean([r[i] for r in per_query]) for i in range(rounds)])


def variant_names(s):
    return ["adbc", "cpp", "duckdb", *s.get("peers", {})]


def summary(s):
    parts = []
    for name in variant_names(s):
        if name == "duckdb":
            continue
        g, _ = geomeans(s, name)
        parts.append(f"{name} / duckdb geomean " + ("n/a (failed queries)" if math.isnan(g) else f"{g:.3f}x"))
    import statistics

    for key, q in s.get("scans", {}).items():
        medians = {name: statistics.median(r) for name in variant_names(s) if name != "duckdb"
                   for r in [ratios(q, name)] if r}
        parts.append(f"{key} " + ", ".join(f"{name} / duckdb {m:.3f}x" for name, m in medians.items()))
    return "; ".join(parts)


def goals(results, report):
    if not has_samples(results):
        return []
    s = results["sections"]["tpch"]
    out = []
    for i, name in enumerate(("adbc", "cpp")):
        g, per_round = geomeans(s, name)
        goal = report.goal(f"(9{'ab'[i]}) TPC-H SF{s['scale']:g}, {len(s['queries'])} queries: geomean Squadron "
                           f"({'ADBC' if name == 'adbc' else 'C++ client'}) / DuckDB in-process time "
                           "(min–max: each round's geomean)", per_round, TARGET, False)
        if per_round:
            goal["median"], goal["met"] = g, g <= TARGET
        out.append(goal)
    return out


def markdown_lines(results, report):
    if not has_samples(results):
        return []
    s = results["sections"]["tpch"]
    gen = s["generation"]
    peers = list(s.get("peers", {}))
    lines = ["", f"**TPC-H** (SF{s['scale']:g}: the 8 tables as Parquet files from DuckDB's dbgen, "
             f"{gen['bytes'] / 1e6:,.0f} MB, each served as a view; the tpch extension's query texts. Seconds, "
             f"median (min–max) of {s['runs']} counted rounds after a warm-up, variants interleaved; "
             f"threads = {s['threads']} in Squadron and in DuckDB in-process; ratio = Squadron / DuckDB. Every "
             "result through Squadron equals DuckDB's)", ""]
    head = ["query", "rows", "ADBC", "C++ client", "DuckDB in-process", "ADBC / DuckDB", "C++ / DuckDB"]
    for peer in peers:
        head += [peer, f"{peer} / DuckDB"]
    others = s.get("other_cores", {})
    if others:
        head.append("other load")
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    def row(key, q, label):
        cells = [label, f"{s['rows'].get(key, '?'):,}"]
        cells += [report.span(seconds(q[name]), "{:.3f}") for name in ("adbc", "cpp", "duckdb")]
        cells += [report.span(ratios(q, name)) for name in ("adbc", "cpp")]
        for peer in peers:
            v = q.get(peer, [])
            if isinstance(v, dict):
                cells += [f"failed: {v['error'][:80]}", "—"]
                continue
            note = s.get("peer_checks", {}).get(key, {}).get(peer, "equal")
            cells += [report.span(seconds(v), "{:.3f}")
                      + ("" if note == "equal" else f" (result differs: {note[:60]})"), report.span(ratios(q, peer))]
        if others:
            cells.append(f"{others.get(key, float('nan')):.2f}")
        return "| " + " | ".join(cells) + " |"

    lines += [row(key, q, display_name(key)) for key, q in s["queries"].items()]
    cells = ["geomean", "", "", "", ""]
    for name in ["adbc", "cpp"] + [x for p in peers for x in ("", p)]:
        if not name:
            cells.append("")
            continue
        g, per_round = geomeans(s, name)
        cells.append("—" if math.isnan(g) else f"{g:.2f}x" + (f" ({min(per_round):.2f}–{max(per_round):.2f})"
                                                             if per_round else ""))
    if others:
        cells.append(f"{s['other_cores_section']:.2f}")
    lines.append("| " + " | ".join(cells) + " |")
    # Older results have no scans.
    lines += [row(key, q, f"scan: `{s.get('scan_sql', {}).get(key, key)}` (not in the geomean)")
              for key, q in s.get("scans", {}).items()]
    how = "reused from the cache" if gen.get("cached") else "generated in this run"
    lines += ["", f"Data {how}: {gen['seconds']:.0f} s to generate (dbgen {gen['dbgen_seconds']:.0f} s, the rest "
              "writing Parquet)."]
    if others:
        lines[-1] += (" Other load: the cores that processes other than Squadron, the bench and its C++ client "
                      "(peers included) kept busy meanwhile, of "
                      f"{results['machine']['cores'] if 'machine' in results else '?'}; above 0.1 or so, the "
                      "ratios are noisy.")
    return lines


def chart_panel(ax, results, report):
    """Each query's median ratio to DuckDB in-process, one bar per Squadron
    path (and peer) from parity, with the goal as a line."""
    s = results["sections"]["tpch"]
    names = [n for n in variant_names(s) if n != "duckdb"]
    colors = ["tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:brown"]
    keys = list(s["queries"])
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        xs, ys = [], []
        for x, key in enumerate(keys):
            r = ratios(s["queries"][key], name)
            if r:
                xs.append(x + (i - (len(names) - 1) / 2) * width)
                ys.append(report.median(r))
        # Bars grow from parity (1.0), up when slower than DuckDB, down when faster.
        ax.bar(xs, [y - 1 for y in ys], width, bottom=1, color=colors[i % len(colors)],
               label=LABELS.get(name, name))
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.axhline(TARGET, color="tab:red", linestyle="--", linewidth=0.8, label=f"goal {TARGET}x")
    ax.set_xticks(range(len(keys)))
    ax.set_xticklabels([str(int(k[1:])) for k in keys], fontsize=7)
    ax.set_xlabel("TPC-H query")
    ax.set_ylabel("time / DuckDB in-process (median)")
    ax.set_title(f"TPC-H SF{s['scale']:g}: ratio to DuckDB in-process")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8)
