#!/usr/bin/env python3
"""Soak test: many clients, a mixed workload, for minutes, against one server.

`make soak` (or `bench/soak.py --squadron-bin build/squadron`) starts its own
`squadron serve --port 0` on a temporary directory with a scan table and an
`events` table, measures the server's idle RSS after a short warm-up, then runs
`--clients` clients (half ADBC, half raw pyarrow.flight; spread over worker
processes because of the GIL) for `--duration` seconds. Each client loops over
a weighted mix: ad-hoc queries whose results are checked, prepared statements
with parameters, inserts of rows with unique ids, metadata calls, transactions
(committed or rolled back), scans abandoned after their first batch, and a few
intentional client errors (bad SQL, expected and not counted as errors).

The server's VmRSS, threads and open fds are sampled every second. After the
load it waits `--settle` seconds, then compares the rows the clients were told
they inserted with the rows in the table, stops the server with SIGTERM and
checks its exit code. It prints a summary, writes JSON (`--json`, by default
bench/results/soak-<date>-<sha>.json; a temporary directory for `--quick`) and
exits non-zero on unexpected errors, lost or duplicated rows, a server that
died or exited non-zero, or an after-load RSS above `--max-rss-ratio` x idle.
"""

import argparse
import collections
import datetime
import json
import multiprocessing
import os
import pathlib
import platform
import random
import resource
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback

ROOT = pathlib.Path(__file__).resolve().parents[1]
# The Flight SQL command encoders the integration tests use.
sys.path.insert(0, str(ROOT / "tests" / "integration"))

import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402
import pyarrow.flight as flight  # noqa: E402

import flightsql as fsql  # noqa: E402

READY_PREFIX = "squadron listening on "
START_TIMEOUT_S = 120
KIB = 1024

# The scan table has --scan-rows rows (a multiple of 1000): id 0..N-1, k = id % 1000.
MEDIUM_ROWS = 200_000
SMALL_ROWS = 100
EVENTS_COLUMNS = "id, client, kind, amount, seen_at"

# The mix: operation -> weight.
MIX = {
    "query_small": 20,
    "query_medium": 6,
    "query_agg": 6,
    "prepared": 16,
    "insert": 16,
    "metadata": 8,
    "transaction": 8,
    "abandoned_scan": 4,
    "bad_sql": 3,
    "reconnect": 1,
}

# Messages of the errors the bad SQL provokes on purpose.
EXPECTED_ERROR_MARKERS = ("Parser Error", "Catalog Error", "Conversion Error", "syntax error")


class WrongResult(Exception):
    """A call succeeded but its answer is not what the data says."""


class ExpectedError(Exception):
    """An intentional client error that failed as it should."""


# --------------------------------------------------------------------------------------------
# Statistics of one client (merged per worker process, then across processes).

class Stats:
    def __init__(self):
        self.ops = collections.Counter()            # completed operations by kind
        self.statements = 0                         # SQL statements / metadata calls answered
        self.latencies = collections.defaultdict(list)  # kind -> seconds
        self.errors = {}                            # kind -> [count, first message]
        self.expected_errors = collections.Counter()
        self.rows_acknowledged = 0                  # rows the server said it inserted (and kept)
        self.rows_rolled_back = 0                   # rows inserted in transactions that rolled back
        self.rows_uncertain = 0                     # rows of inserts/commits that failed unexpectedly
        self.commits = 0
        self.rollbacks = 0

    def error(self, kind, message):
        entry = self.errors.setdefault(kind, [0, message])
        entry[0] += 1

    def to_dict(self):
        return {
            "ops": dict(self.ops), "statements": self.statements,
            "latencies": {k: list(v) for k, v in list(self.latencies.items())},
            "errors": {k: list(v) for k, v in list(self.errors.items())},
            "expected_errors": dict(self.expected_errors),
            "rows_acknowledged": self.rows_acknowledged, "rows_rolled_back": self.rows_rolled_back,
            "rows_uncertain": self.rows_uncertain, "commits": self.commits, "rollbacks": self.rollbacks,
        }

    def merge(self, d):
        self.ops.update(d["ops"])
        self.statements += d["statements"]
        for k, v in d["latencies"].items():
            self.latencies[k].extend(v)
        for kind, (count, first) in d["errors"].items():
            entry = self.errors.setdefault(kind, [0, first])
            entry[0] += count
        self.expected_errors.update(d["expected_errors"])
        for field in ("rows_acknowledged", "rows_rolled_back", "rows_uncertain", "commits", "rollbacks"):
            setattr(self, field, getattr(self, field) + d[field])


def one_line(exc):
    text = f"{type(exc).__name__}: {exc}".strip()
    text = " | ".join(line.strip() for line in text.splitlines() if line.strip())
    return text[:600]


# --------------------------------------------------------------------------------------------
# Clients. Each runs in its own thread and owns its connections.

class Client:
    kind = "?"

    def __init__(self, cid, uri, cfg, stats, seed):
        self.cid = cid
        self.uri = uri
        self.cfg = cfg
        self.scan_rows = cfg["scan_rows"]
        self.stats = stats
        self.rng = random.Random(seed)
        self.seq = 0
        self.variant = None

    # Unique ids: the client's number in the high digits, a sequence below.
    def next_ids(self, n):
        first = self.cid * 10**12 + self.seq
        self.seq += n
        return list(range(first, first + n))

    def event_rows(self, n, tag):
        ids = self.next_ids(n)
        now = datetime.datetime(2026, 1, 1) + datetime.timedelta(seconds=self.rng.randrange(10**7))
        return [(i, self.cid, tag, round(self.rng.random() * 1000, 2), now) for i in ids]

    def event_batch(self, rows):
        cols = list(zip(*rows))
        return pa.record_batch([
            pa.array(cols[0], pa.int64()), pa.array(cols[1], pa.int32()), pa.array(cols[2], pa.string()),
            pa.array(cols[3], pa.float64()), pa.array(cols[4], pa.timestamp("us")),
        ], names=["id", "client", "kind", "amount", "seen_at"])

    def check(self, what, got, want):
        if got != want:
            raise WrongResult(f"{what}: got {got!r}, want {want!r}")

    def end_transaction(self, commit, lo, n, end):
        """Ends a transaction that wrote ids lo..lo+n with `end()`, counts the
        outcome, and checks it from outside: committed rows are there,
        rolled-back ones are not. An `end` that fails leaves the rows uncertain."""
        try:
            end()
        except Exception:
            self.stats.rows_uncertain += n
            raise
        if commit:
            self.stats.commits += 1
            self.stats.rows_acknowledged += n
        else:
            self.stats.rollbacks += 1
            self.stats.rows_rolled_back += n
        t = self.query(f"SELECT id FROM events WHERE id >= {lo} AND id < {lo + n}")
        self.check_range(t, lo, n if commit else 0)

    def check_range(self, table, lo, n):
        """A result of `SELECT id ... WHERE id >= lo AND id < lo + n` (any order)."""
        self.check("rows", table.num_rows, n)
        total = pc.sum(table.column(0)).as_py() if n else None
        self.check("sum(id)", total, n * lo + n * (n - 1) // 2 if n else None)

    def run(self, stop):
        ops = list(MIX)
        weights = [MIX[o] for o in ops]
        while not stop.is_set():
            op = self.rng.choices(ops, weights)[0]
            self.variant = None  # the ops that have several forms name the one they ran
            started = time.monotonic()
            try:
                getattr(self, "op_" + op)()
            except ExpectedError as e:
                self.stats.expected_errors[str(e)] += 1
                self.stats.ops[op] += 1
                self.stats.latencies[op].append(time.monotonic() - started)
                continue
            except WrongResult as e:
                self.stats.error(f"{self.op_name(op)}: {self.kind} wrong result", f"client {self.cid}: {e}")
                continue
            except Exception as e:  # noqa: BLE001 -- every failure is counted by kind
                self.stats.error(f"{self.op_name(op)}: {self.kind} {type(e).__name__}",
                                 f"client {self.cid}: {one_line(e)}")
                self.reset()
                continue
            self.stats.ops[op] += 1
            self.stats.latencies[op].append(time.monotonic() - started)
        self.close()

    # Range scans: the same SQL through either client's query().
    def op_query_small(self):
        lo = self.rng.randrange(self.scan_rows - SMALL_ROWS)
        t = self.query(f"SELECT id, k, label FROM scan WHERE id >= {lo} AND id < {lo + SMALL_ROWS}")
        self.check_range(t, lo, SMALL_ROWS)

    def op_query_medium(self):
        lo = self.rng.randrange(self.scan_rows - MEDIUM_ROWS)
        t = self.query(f"SELECT id, x, label FROM scan WHERE id >= {lo} AND id < {lo + MEDIUM_ROWS}")
        self.check_range(t, lo, MEDIUM_ROWS)

    def op_name(self, op):
        return f"{op}/{self.variant}" if self.variant else op

    def op_reconnect(self):
        self.close()
        self.connect()

    def bad_sql(self):
        choice = self.rng.randrange(3)
        self.variant = ("parser", "catalog", "conversion")[choice]
        if choice == 0:
            return "SELEC id FROM scan"
        if choice == 1:
            return "SELECT * FROM no_such_table_for_soak"
        # A failing insert: must add no row at all.
        i = self.next_ids(2)[0]
        return f"INSERT INTO events ({EVENTS_COLUMNS}) VALUES ({i}, 1, 'bad', 1.0, now()), " \
               f"({i + 1}, 1, 'bad', 'not a number', now())"

    def expect_failure(self, call):
        try:
            call()
        except Exception as e:  # noqa: BLE001
            message = str(e)
            for marker in EXPECTED_ERROR_MARKERS:
                if marker in message:
                    raise ExpectedError(marker) from None
            raise
        raise WrongResult("bad SQL was accepted")


class AdbcClient(Client):
    kind = "adbc"

    def __init__(self, *args):
        super().__init__(*args)
        self.conn = None
        self.tx_conn = None
        self.cursor = None

    def _connect(self, autocommit):
        import adbc_driver_flightsql
        import adbc_driver_flightsql.dbapi as dbapi
        timeout = str(self.cfg["call_timeout"])
        opts = adbc_driver_flightsql.DatabaseOptions
        conn = dbapi.connect(self.uri, db_kwargs={opts.TIMEOUT_FETCH.value: timeout,
                                                  opts.TIMEOUT_QUERY.value: timeout,
                                                  opts.TIMEOUT_UPDATE.value: timeout},
                             autocommit=autocommit)
        if not autocommit and getattr(conn, "_autocommit", False):
            # The DB-API layer falls back to autocommit (with a warning) when the driver fails to begin a
            # transaction: "rolled back" rows would then be committed. An error, not a silent fallback.
            conn.close()
            raise RuntimeError("ADBC could not turn autocommit off (BeginTransaction failed)")
        return conn

    def connect(self):
        if self.conn is None:
            self.conn = self._connect(True)
            self.cursor = self.conn.cursor()

    def close(self):
        for name in ("cursor", "conn", "tx_conn"):
            obj = getattr(self, name)
            setattr(self, name, None)
            if obj is not None:
                try:
                    obj.close()
                except Exception:  # noqa: BLE001 -- closing after a failure may fail too
                    pass

    reset = close

    def cur(self):
        self.connect()
        return self.cursor

    def query(self, sql, params=None):
        cur = self.cur()
        cur.execute(sql, params)
        table = cur.fetch_arrow_table()
        self.stats.statements += 1
        return table

    def op_query_agg(self):
        t = self.query("SELECT k, count(*) AS n FROM scan WHERE k < 50 GROUP BY k")
        self.check("groups", t.num_rows, 50)
        self.check("counts", set(t.column("n").to_pylist()), {self.scan_rows // 1000})

    def op_prepared(self):
        if self.rng.random() < 0.5:
            self.variant = "count"
            k = self.rng.randrange(1000)
            t = self.query("SELECT count(*) AS n, sum(id) AS s FROM scan WHERE k = ?", (k,))
            per = self.scan_rows // 1000
            self.check("count", t.column("n").to_pylist(), [per])
            self.check("sum", t.column("s").to_pylist(), [k * per + 1000 * per * (per - 1) // 2])
        else:
            self.variant = "range"
            lo = self.rng.randrange(self.scan_rows - SMALL_ROWS)
            n = self.rng.randrange(1, SMALL_ROWS)
            t = self.query("SELECT id, label FROM scan WHERE id >= ? AND id < ?", (lo, lo + n))
            self.check_range(t, lo, n)

    def op_insert(self):
        cur = self.cur()
        choice = self.rng.randrange(3)
        self.variant = ("execute", "executemany", "adbc_ingest")[choice]
        if choice == 0:
            rows = self.event_rows(1, "adbc-one")
            sql = f"INSERT INTO events ({EVENTS_COLUMNS}) VALUES (?, ?, ?, ?, ?)"
            try:
                cur.execute(sql, rows[0])
            except Exception:
                self.stats.rows_uncertain += 1
                raise
            got = cur.rowcount
        elif choice == 1:
            rows = self.event_rows(self.rng.randrange(2, 40), "adbc-many")
            sql = f"INSERT INTO events ({EVENTS_COLUMNS}) VALUES (?, ?, ?, ?, ?)"
            try:
                cur.executemany(sql, rows)
            except Exception:
                self.stats.rows_uncertain += len(rows)
                raise
            got = cur.rowcount
        else:
            rows = self.event_rows(self.rng.randrange(10, 200), "adbc-ingest")
            # A cursor of its own: the driver's statement keeps ingest state that confused a later
            # execute() on the same cursor once ("must set IngestTargetTable"), a client-side quirk.
            try:
                with self.conn.cursor() as ingest_cursor:
                    got = ingest_cursor.adbc_ingest("events", self.event_batch(rows), mode="append")
            except Exception:
                self.stats.rows_uncertain += len(rows)
                raise
        self.stats.statements += 1
        self.stats.rows_acknowledged += got
        self.check("rows inserted", got, len(rows))

    def op_metadata(self):
        self.connect()
        conn = self.conn
        choice = self.rng.randrange(4)
        self.variant = ("adbc_get_objects", "adbc_get_table_types", "adbc_get_info",
                        "adbc_get_table_schema")[choice]
        if choice == 0:
            objects = conn.adbc_get_objects(depth=self.rng.choice(["tables", "all"])).read_all().to_pylist()
            names = {t["table_name"] for c in objects for s in (c["catalog_db_schemas"] or [])
                     for t in (s["db_schema_tables"] or [])}
            if not {"scan", "events"} <= names:
                raise WrongResult(f"adbc_get_objects lacks scan/events: {sorted(names)[:10]}")
        elif choice == 1:
            types = conn.adbc_get_table_types()
            if "TABLE" not in types:
                raise WrongResult(f"table types {types}")
        elif choice == 2:
            info = conn.adbc_get_info()  # GetSqlInfo
            self.check("vendor_name", info.get("vendor_name"), "Squadron")
        else:
            schema = conn.adbc_get_table_schema("scan")
            self.check("scan columns", schema.names, ["id", "k", "label", "x"])
        self.stats.statements += 1

    def op_transaction(self):
        if self.tx_conn is None:
            self.tx_conn = self._connect(False)
        rows = self.event_rows(self.rng.randrange(1, 20), "adbc-tx")
        lo, n = rows[0][0], len(rows)
        commit = self.rng.random() < 0.7
        self.variant = "commit" if commit else "rollback"
        with self.tx_conn.cursor() as cur:
            try:
                cur.executemany(f"INSERT INTO events ({EVENTS_COLUMNS}) VALUES (?, ?, ?, ?, ?)", rows)
                self.check("rows inserted in transaction", cur.rowcount, n)
                cur.execute(f"SELECT id FROM events WHERE id >= {lo} AND id < {lo + n}")
                self.check_range(cur.fetch_arrow_table(), lo, n)  # it sees its own writes
                self.stats.statements += 2
            except Exception:
                self._end_after_failure()
                raise
        self.end_transaction(commit, lo, n, self.tx_conn.commit if commit else self.tx_conn.rollback)

    def _end_after_failure(self):
        try:
            self.tx_conn.rollback()
        except Exception:  # noqa: BLE001
            pass

    def op_abandoned_scan(self):
        self.connect()
        cur = self.conn.cursor()
        try:
            cur.execute("SELECT id, k, label, x FROM scan")
            reader = cur.fetch_record_batch()
            batch = reader.read_next_batch()
            if batch.num_rows == 0:
                raise WrongResult("empty first batch")
            if self.rng.random() < 0.5:
                self.variant = "adbc_cancel"
                cur.adbc_cancel()
            else:
                self.variant = "close"
            reader.close()
            self.stats.statements += 1
        finally:
            cur.close()

    def op_bad_sql(self):
        sql = self.bad_sql()
        self.connect()

        def run():
            # A cursor of its own, so the failed prepare leaves no state in the shared one.
            with self.conn.cursor() as cur:
                cur.execute(sql)
                cur.fetch_arrow_table()
        self.expect_failure(run)


class FlightClient(Client):
    kind = "flight"

    def __init__(self, *args):
        super().__init__(*args)
        self.client = None
        self.handles = {}
        self.options = flight.FlightCallOptions(timeout=self.cfg["call_timeout"])

    def connect(self):
        if self.client is None:
            self.client = flight.connect(self.uri)

    def close(self):
        client, self.client = self.client, None
        handles, self.handles = self.handles, {}
        if client is not None:
            for handle in handles.values():
                try:
                    self.action("ClosePreparedStatement", fsql.close_prepared_statement_request(handle), client)
                except Exception:  # noqa: BLE001
                    pass
            try:
                client.close()
            except Exception:  # noqa: BLE001
                pass

    reset = close

    def c(self):
        self.connect()
        return self.client

    def action(self, name, body, client=None):
        client = client or self.c()
        return [r.body.to_pybytes() for r in client.do_action(flight.Action(name, body), self.options)]

    def fetch(self, command):
        client = self.c()
        info = client.get_flight_info(fsql.descriptor(command), self.options)
        tables = [client.do_get(e.ticket, self.options).read_all() for e in info.endpoints]
        self.stats.statements += 1
        return pa.concat_tables(tables) if len(tables) != 1 else tables[0]

    def query(self, sql, transaction_id=None):
        return self.fetch(fsql.statement_query(sql, transaction_id))

    def put(self, command, batches=(), schema=None):
        """DoPut with a deadline; the PutResult's app_metadata."""
        schema = schema if schema is not None else (batches[0].schema if batches else pa.schema([]))
        writer, reader = self.c().do_put(fsql.descriptor(command), schema, self.options)
        try:
            for batch in batches:
                writer.write_batch(batch)
            writer.done_writing()
            metadata = reader.read()
        finally:
            writer.close()
        self.stats.statements += 1
        return metadata.to_pybytes() if metadata is not None else b""

    def update(self, command, batches=()):
        return fsql.decode_varint_field(self.put(command, batches), 1)

    def prepare(self, sql, transaction_id=None):
        request = fsql.create_prepared_statement_request(sql, transaction_id)
        result = self.action("CreatePreparedStatement", request)
        return fsql.decode_fields(fsql.unpack(result[0], "ActionCreatePreparedStatementResult"))[1][0]

    def cached_handle(self, sql):
        if sql not in self.handles:
            self.handles[sql] = self.prepare(sql)
        return self.handles[sql]

    def run_prepared(self, handle, params):
        self.put(fsql.prepared_statement_query(handle), [params])
        return self.fetch(fsql.prepared_statement_query(handle))

    def op_query_agg(self):
        t = self.query("SELECT k, count(*) AS n FROM scan WHERE k >= 950 GROUP BY k")
        self.check("groups", t.num_rows, 50)
        self.check("counts", set(t.column("n").to_pylist()), {self.scan_rows // 1000})

    def op_prepared(self):
        lo = self.rng.randrange(self.scan_rows - SMALL_ROWS)
        n = self.rng.randrange(1, SMALL_ROWS)
        params = pa.record_batch([pa.array([lo], pa.int64()), pa.array([lo + n], pa.int64())], names=["lo", "hi"])
        sql = "SELECT id, label FROM scan WHERE id >= ? AND id < ?"
        self.variant = "kept" if self.rng.random() < 0.7 else "once"
        if self.variant == "kept":  # a handle kept for the life of the connection
            t = self.run_prepared(self.cached_handle(sql), params)
        else:  # prepared, run once, closed
            handle = self.prepare(sql)
            try:
                t = self.run_prepared(handle, params)
            finally:
                self.action("ClosePreparedStatement", fsql.close_prepared_statement_request(handle))
        self.check_range(t, lo, n)

    def op_insert(self):
        choice = self.rng.randrange(3)
        self.variant = ("values", "prepared", "ingest")[choice]
        if choice == 0:
            rows = self.event_rows(self.rng.randrange(1, 20), "flight-values")
            values = ", ".join(f"({i}, {c}, '{k}', {a}, TIMESTAMP '{t.isoformat(sep=' ')}')"
                               for i, c, k, a, t in rows)
            command = fsql.statement_update(f"INSERT INTO events ({EVENTS_COLUMNS}) VALUES {values}")
            batches = []
        elif choice == 1:
            rows = self.event_rows(self.rng.randrange(2, 40), "flight-prepared")
            handle = self.cached_handle(f"INSERT INTO events ({EVENTS_COLUMNS}) VALUES (?, ?, ?, ?, ?)")
            command = fsql.prepared_statement_update(handle)
            batches = [self.event_batch(rows)]
        else:
            rows = self.event_rows(self.rng.randrange(10, 200), "flight-ingest")
            command = fsql.statement_ingest("events", if_not_exist=fsql.IF_NOT_EXIST_FAIL,
                                            if_exists=fsql.IF_EXISTS_APPEND)
            batches = [self.event_batch(rows)]
        try:
            got = self.update(command, batches)
        except Exception:
            self.stats.rows_uncertain += len(rows)
            raise
        self.stats.rows_acknowledged += got
        self.check("rows inserted", got, len(rows))

    def op_metadata(self):
        choice = self.rng.randrange(6)
        self.variant = ("GetTables", "GetCatalogs", "GetDbSchemas", "GetSqlInfo", "GetTableTypes",
                        "GetXdbcTypeInfo")[choice]
        if choice == 0:
            include_schema = self.rng.random() < 0.5
            if include_schema:
                self.variant += "(include_schema)"
            t = self.fetch(fsql.get_tables(table_pattern="%", include_schema=include_schema))
            names = set(t.column("table_name").to_pylist())
            if not {"scan", "events"} <= names:
                raise WrongResult(f"GetTables lacks scan/events: {sorted(names)[:10]}")
        elif choice == 1:
            t = self.fetch(fsql.get_catalogs())
            if t.num_rows < 1:
                raise WrongResult("no catalogs")
        elif choice == 2:
            self.fetch(fsql.get_db_schemas())
        elif choice == 3:
            t = self.fetch(fsql.get_sql_info())
            if t.num_rows < 10:
                raise WrongResult(f"GetSqlInfo answered {t.num_rows} values")
        elif choice == 4:
            t = self.fetch(fsql.get_table_types())
            if "TABLE" not in t.column(0).to_pylist():
                raise WrongResult(f"table types {t.column(0).to_pylist()}")
        else:
            t = self.fetch(fsql.get_xdbc_type_info())
            if t.num_rows < 5:
                raise WrongResult(f"GetXdbcTypeInfo answered {t.num_rows} types")

    def op_transaction(self):
        result = self.action("BeginTransaction", fsql.begin_transaction_request())
        tx = fsql.decode_fields(fsql.unpack(result[0], "ActionBeginTransactionResult"))[1][0]
        rows = self.event_rows(self.rng.randrange(1, 20), "flight-tx")
        lo, n = rows[0][0], len(rows)
        commit = self.rng.random() < 0.7
        self.variant = "commit" if commit else "rollback"
        try:
            got = self.update(fsql.statement_ingest("events", if_not_exist=fsql.IF_NOT_EXIST_FAIL,
                                                    if_exists=fsql.IF_EXISTS_APPEND, transaction_id=tx),
                              [self.event_batch(rows)])
            self.check("rows inserted in transaction", got, n)
            t = self.query(f"SELECT id FROM events WHERE id >= {lo} AND id < {lo + n}", tx)
            self.check_range(t, lo, n)
        except Exception:
            try:
                self.action("EndTransaction", fsql.end_transaction_request(tx, fsql.ROLLBACK))
            except Exception:  # noqa: BLE001
                pass
            raise
        self.end_transaction(commit, lo, n, lambda: self.action(
            "EndTransaction", fsql.end_transaction_request(tx, fsql.COMMIT if commit else fsql.ROLLBACK)))

    def op_abandoned_scan(self):
        client = self.c()
        info = client.get_flight_info(fsql.descriptor(fsql.statement_query("SELECT id, k, label, x FROM scan")),
                                      self.options)
        reader = client.do_get(info.endpoints[0].ticket, self.options)
        chunk = reader.read_chunk()
        if chunk.data is None or chunk.data.num_rows == 0:
            raise WrongResult("empty first batch")
        if self.rng.random() < 0.5:
            self.variant = "cancel_stream"
            reader.cancel()
        else:  # ask the server to cancel the query, then drop the stream
            self.variant = "CancelFlightInfo"
            self.action("CancelFlightInfo", fsql.cancel_flight_info_request(info))
            reader.cancel()
        self.stats.statements += 1

    def op_bad_sql(self):
        sql = self.bad_sql()
        if sql.startswith("INSERT"):
            self.expect_failure(lambda: self.update(fsql.statement_update(sql)))
        else:
            self.expect_failure(lambda: self.query(sql))


# --------------------------------------------------------------------------------------------
# Worker processes.

def quiet_unraisable(hook):
    """adbc_driver_manager's Cursor.__del__ closes a statement again after a failed close (the server
    went away) and raises "Underflow in closing this AdbcStatement": client-side noise, not a finding."""
    def unraisable(info):
        if isinstance(info.exc_value, RuntimeError) and "Underflow in closing" in str(info.exc_value):
            return
        hook(info)
    return unraisable


def worker_main(index, uri, specs, cfg, go, stop, results, progress):
    """Runs the clients `specs` [(cid, "adbc"|"flight")] in threads; puts its Stats in `results`."""
    import warnings
    warnings.filterwarnings("ignore", message="Cannot disable autocommit")  # an error: see _connect
    sys.unraisablehook = quiet_unraisable(sys.unraisablehook)
    try:
        stats = []
        clients = []
        for cid, kind in specs:
            s = Stats()
            cls = AdbcClient if kind == "adbc" else FlightClient
            clients.append(cls(cid, uri, cfg, s, cfg["seed"] * 1000 + cid))
            stats.append(s)
        results.put(("ready", index, None))
        go.wait()
        threads = [threading.Thread(target=c.run, args=(stop,), daemon=True) for c in clients]
        for t in threads:
            t.start()
        stopped_at = None
        while any(t.is_alive() for t in threads):
            for t in threads:
                t.join(timeout=0.5)
            # Snapshots (list() of a dict is atomic under the GIL): the clients keep counting meanwhile.
            progress[2 * index] = sum(sum(list(s.ops.values())) for s in stats)
            progress[2 * index + 1] = sum(e[0] for s in stats for e in list(s.errors.values()))
            if stop.is_set():
                stopped_at = stopped_at or time.monotonic()
                if time.monotonic() - stopped_at > cfg["call_timeout"] + 30:
                    break  # report what we have; the main process counts the stuck clients
        merged = Stats()
        for client, s, t in zip(clients, stats, threads):
            merged.merge(s.to_dict())
            if t.is_alive():
                merged.error("client hung", f"{client.kind} client {client.cid} still in a call "
                                            f"{cfg['call_timeout'] + 30:.0f} s after the stop")
        results.put(("done", index, merged.to_dict()))
    except BaseException as e:  # noqa: BLE001 -- reported, never lost
        results.put(("crash", index, traceback.format_exc() + one_line(e)))


# --------------------------------------------------------------------------------------------
# The server and its sampling.

class Server:
    def __init__(self, binary, workdir, args):
        self.log_path = workdir / "squadron.log"
        self._log = open(self.log_path, "wb")
        self.argv = [str(binary), "serve", "--port", "0", *args]
        self.workdir = workdir
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=self._log, cwd=workdir,
                                     preexec_fn=self._allow_core_dump)
        self.uri = self._wait_ready()

    @staticmethod
    def _allow_core_dump():
        """A crash leaves a core file (kernel.core_pattern permitting) in the kept server directory."""
        try:
            _, hard = resource.getrlimit(resource.RLIMIT_CORE)
            resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))
        except (ValueError, OSError):
            pass

    def core_files(self):
        return sorted(str(p) for p in self.workdir.glob("core*"))

    def _wait_ready(self):
        deadline = time.monotonic() + START_TIMEOUT_S
        buf = b""
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.5)
            if ready:
                chunk = os.read(self.proc.stdout.fileno(), 4096)
                if not chunk:
                    break
                buf += chunk
                for line in buf.decode(errors="replace").splitlines():
                    if line.startswith(READY_PREFIX):
                        return line[len(READY_PREFIX):].strip()
            elif self.proc.poll() is not None:
                break
        self.kill()
        raise RuntimeError(f"squadron did not start (exit {self.proc.returncode}); stdout={buf!r}\n"
                           f"log {self.log_path}:\n{self.log_tail()}")

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def log_tail(self, chars=3000):
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def sample(self):
        """(VmRSS KiB, VmHWM KiB, threads, open fds), or None once the process is gone."""
        try:
            fields = {}
            for line in pathlib.Path(f"/proc/{self.pid}/status").read_text().splitlines():
                name, _, value = line.partition(":")
                fields[name] = value.split()
            fds = len(os.listdir(f"/proc/{self.pid}/fd"))
            return int(fields["VmRSS"][0]), int(fields["VmHWM"][0]), int(fields["Threads"][0]), fds
        except (OSError, KeyError, IndexError, ValueError):
            return None

    def stop(self, timeout, stacks_after=5.0):
        """SIGTERM; (exit code, seconds to exit). Killed after `timeout` (exit code None then).

        The load is over by then, so shutdown should take well under a second.
        A server still running `stacks_after` seconds later has its threads'
        stacks written to stacks.txt beside its log (with gdb, when installed),
        so that a hang can be diagnosed from one run."""
        started = time.monotonic()
        self.stacks_path = None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=stacks_after)
        except subprocess.TimeoutExpired:
            self.dump_stacks()
            try:
                code = self.proc.wait(timeout=max(0.0, timeout - (time.monotonic() - started)))
            except subprocess.TimeoutExpired:
                self.kill()
                code = None
        self._log.close()
        return code, time.monotonic() - started

    def dump_stacks(self):
        gdb = shutil.which("gdb")
        if gdb is None or self.proc.poll() is not None:
            return
        path = self.workdir / "stacks.txt"
        try:
            with open(path, "w") as out:
                done = subprocess.run([gdb, "-p", str(self.pid), "-batch", "-ex", "thread apply all bt 40"],
                                      stdout=out, stderr=subprocess.STDOUT, timeout=60)
            if done.returncode == 0 and "Thread " in path.read_text(errors="replace"):
                self.stacks_path = path
            else:
                print(f"soak: gdb could not take the server's stacks (see {path})", file=sys.stderr)
        except (OSError, subprocess.TimeoutExpired) as e:
            print(f"soak: could not take the server's stacks: {e}", file=sys.stderr)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class Sampler(threading.Thread):
    """Samples the server every `interval` seconds into `samples` [(t, phase, rss, hwm, threads, fds)]."""

    def __init__(self, server, interval=1.0):
        super().__init__(daemon=True)
        self.server = server
        self.interval = interval
        self.samples = []
        self.phase = "startup"
        self.t0 = time.monotonic()
        self._halt = threading.Event()
        self.lock = threading.Lock()

    def take(self):
        s = self.server.sample()
        if s is None:
            return None
        row = (round(time.monotonic() - self.t0, 2), self.phase, *s)
        with self.lock:
            self.samples.append(row)
        return row

    def run(self):
        while not self._halt.wait(self.interval):
            if self.take() is None and not self.server.alive():
                return

    def stop(self):
        self._halt.set()
        self.join()

    def phase_samples(self, *phases):
        with self.lock:
            return [s for s in self.samples if s[1] in phases]


# --------------------------------------------------------------------------------------------
# The run.

def init_sql(scan_rows):
    return f"""
CREATE TABLE scan AS
SELECT i AS id, (i % 1000)::INTEGER AS k, 'item-' || (i % 997) AS label, i * 0.5 AS x
FROM range({scan_rows}) t(i);
CREATE TABLE events (id BIGINT, client INTEGER, kind VARCHAR, amount DOUBLE, seen_at TIMESTAMP);
"""


def warm_up(uri, scan_rows):
    """A few calls of each kind, so lazily built state counts as idle memory."""
    import adbc_driver_flightsql.dbapi as dbapi
    client = flight.connect(uri)
    for sql in ("SELECT 1", f"SELECT id, x, label FROM scan WHERE id < {MEDIUM_ROWS}",
                "SELECT k, count(*) FROM scan GROUP BY k", "SELECT count(*) FROM events"):
        info = client.get_flight_info(fsql.descriptor(fsql.statement_query(sql)))
        client.do_get(info.endpoints[0].ticket).read_all()
    for command in (fsql.get_sql_info(), fsql.get_tables(include_schema=True)):
        info = client.get_flight_info(fsql.descriptor(command))
        client.do_get(info.endpoints[0].ticket).read_all()
    client.close()
    with dbapi.connect(uri, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM scan WHERE k = ?", (7,))
        if cur.fetchone()[0] != scan_rows // 1000:
            raise RuntimeError("warm-up: wrong count from the scan table")
        conn.adbc_get_objects(depth="all").read_all()


def count_events(uri):
    import adbc_driver_flightsql.dbapi as dbapi
    with dbapi.connect(uri, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*), count(DISTINCT id) FROM events")
        return cur.fetchone()


def duckdb_memory(uri):
    """DuckDB's own accounting, {tag: MiB}: separates the data the load added from other growth."""
    import adbc_driver_flightsql.dbapi as dbapi
    try:
        with dbapi.connect(uri, autocommit=True) as conn, conn.cursor() as cur:
            cur.execute("SELECT tag, memory_usage_bytes FROM duckdb_memory() WHERE memory_usage_bytes > 0")
            return {tag: round(used / KIB / KIB, 1) for tag, used in cur.fetchall()}
    except Exception as e:  # noqa: BLE001 -- informative only
        return {"error": one_line(e)}


def percentile(values, q):
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def git_sha():
    sha = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short=10", "HEAD"], capture_output=True,
                         text=True).stdout.strip() or "unknown"
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    return sha + ("-dirty" if dirty else "")


def default_json_path(date, sha, quick):
    out = pathlib.Path(tempfile.mkdtemp(prefix="squadron-soak-quick-")) if quick else ROOT / "bench" / "results"
    stem = f"soak-{date}-{sha}"
    path = out / f"{stem}.json"
    n = 2
    while path.exists():  # never overwrite an earlier run
        path = out / f"{stem}-{n}.json"
        n += 1
    return path


def mib(kib):
    return None if kib is None else round(kib / KIB, 1)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--squadron-bin", default=str(ROOT / "build" / "squadron"), help="the server binary")
    p.add_argument("--clients", type=int, default=None, help="clients, half ADBC and half pyarrow.flight (32)")
    p.add_argument("--processes", type=int, default=None,
                   help="worker processes (default: clients / 8, at least 2)")
    p.add_argument("--duration", type=float, default=None, help="seconds of load (300)")
    p.add_argument("--settle", type=float, default=None, help="seconds to wait after the load (30)")
    p.add_argument("--warmup", type=float, default=3.0, help="seconds of quiet after the warm-up queries")
    p.add_argument("--quick", action="store_true", help="8 clients, 20 s, settle 10 s")
    p.add_argument("--scan-rows", type=int, default=3_000_000,
                   help="rows of the scan table, a multiple of 1000 (3000000)")
    p.add_argument("--max-rss-ratio", type=float, default=1.5,
                   help="fail when after-load RSS > this x idle RSS (1.5)")
    p.add_argument("--call-timeout", type=float, default=120, help="deadline of every client call, seconds (120)")
    p.add_argument("--json", default=None, help="where to write the JSON report "
                   "(default bench/results/soak-<date>-<sha>.json; a temporary directory with --quick)")
    p.add_argument("--server-arg", action="append", default=[],
                   help="extra argument for `squadron serve` (repeatable), e.g. --server-arg=--threads=2")
    p.add_argument("--seed", type=int, default=1, help="random seed of the clients' mixes")
    p.add_argument("--keep-workdir", action="store_true", help="keep the server's directory (kept on failure)")
    args = p.parse_args(argv)
    defaults = (8, 20.0, 10.0) if args.quick else (32, 300.0, 30.0)
    args.clients = args.clients if args.clients is not None else defaults[0]
    args.duration = args.duration if args.duration is not None else defaults[1]
    args.settle = args.settle if args.settle is not None else defaults[2]
    args.processes = args.processes or min(args.clients, max(2, (args.clients + 7) // 8))
    if args.scan_rows % 1000 or args.scan_rows < 2 * MEDIUM_ROWS:
        p.error(f"--scan-rows must be a multiple of 1000 and at least {2 * MEDIUM_ROWS}")
    if args.clients < 1:
        p.error("--clients must be at least 1")
    return args


def log(message):
    print(f"[soak {time.strftime('%H:%M:%S')}] {message}", flush=True)


def main(argv=None):
    args = parse_args(argv)
    binary = pathlib.Path(args.squadron_bin).resolve()
    if not binary.exists():
        print(f"soak: no server binary at {binary} (run `make build`)", file=sys.stderr)
        return 2
    started_at = datetime.datetime.now(datetime.timezone.utc)
    report = {
        "date": started_at.strftime("%Y-%m-%d"), "started_at": started_at.isoformat(timespec="seconds"),
        "git_sha": git_sha(), "binary": str(binary), "quick": args.quick,
        "config": {"clients": args.clients, "processes": args.processes, "duration_s": args.duration,
                   "settle_s": args.settle, "scan_rows": args.scan_rows, "max_rss_ratio": args.max_rss_ratio,
                   "call_timeout_s": args.call_timeout, "seed": args.seed, "mix": MIX,
                   "server_args": args.server_arg},
        "machine": {"cores": os.cpu_count(), "kernel": platform.release(),
                    "memory_bytes": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")},
    }
    json_path = pathlib.Path(args.json) if args.json else default_json_path(
        report["date"], report["git_sha"], args.quick)
    failures = []
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="squadron-soak-"))
    (workdir / "init.sql").write_text(init_sql(args.scan_rows))
    server_args = ["--init-sql", str(workdir / "init.sql"), *args.server_arg]
    n_adbc = (args.clients + 1) // 2
    log(f"{args.clients} clients ({n_adbc} ADBC, {args.clients - n_adbc} pyarrow.flight) in {args.processes} "
        f"processes for {args.duration:.0f} s, settle {args.settle:.0f} s; server {binary}")
    server = Server(binary, workdir, server_args)
    report["server"] = {"argv": server.argv, "pid": server.pid, "uri": server.uri, "log": str(server.log_path)}
    log(f"server pid {server.pid} listening on {server.uri}; log {server.log_path}")
    sampler = Sampler(server)
    startup = sampler.take()  # just after the ready line, before any query
    sampler.start()
    stats = Stats()
    exit_code = None
    try:
        # --- idle ---
        warm_up(server.uri, args.scan_rows)
        engine_memory_idle = duckdb_memory(server.uri)
        time.sleep(args.warmup)
        sampler.phase = "idle"
        idle = sampler.take()
        log(f"idle: RSS {mib(idle[2]):.1f} MiB, {idle[4]} threads, {idle[5]} fds")

        # --- load ---
        ctx = multiprocessing.get_context("spawn")
        go, stop = ctx.Event(), ctx.Event()
        results = ctx.Queue()
        progress = ctx.Array("q", 2 * args.processes, lock=False)  # per worker: ops, errors
        cfg = {"scan_rows": args.scan_rows, "call_timeout": args.call_timeout, "seed": args.seed}
        specs = [[] for _ in range(args.processes)]
        for cid in range(args.clients):
            # Consecutive clients share a process and alternate kinds: every process has both.
            specs[cid * args.processes // args.clients].append((cid, "adbc" if cid % 2 == 0 else "flight"))
        workers = [ctx.Process(target=worker_main,
                               args=(i, server.uri, specs[i], cfg, go, stop, results, progress),
                               daemon=True) for i in range(args.processes)]
        for w in workers:
            w.start()
        pending = set(range(args.processes))
        deadline = time.monotonic() + 120
        while pending and time.monotonic() < deadline:
            try:
                kind, index, payload = results.get(timeout=1)
            except Exception:  # queue.Empty
                if not all(w.is_alive() for w in workers):
                    break
                continue
            if kind == "ready":
                pending.discard(index)
            elif kind == "crash":
                raise RuntimeError(f"worker {index} failed to start:\n{payload}")
        if pending:
            raise RuntimeError(f"workers {sorted(pending)} did not start")
        sampler.phase = "load"
        load_started = time.monotonic()
        go.set()
        next_report = load_started + 10
        while time.monotonic() - load_started < args.duration:
            time.sleep(min(0.5, max(0.0, args.duration - (time.monotonic() - load_started))))
            if not server.alive():
                failures.append(f"the server died during the load (exit {server.proc.returncode})")
                break
            if time.monotonic() >= next_report:
                next_report += 10
                last = sampler.samples[-1] if sampler.samples else None
                ops, errors = sum(progress[0::2]), sum(progress[1::2])
                elapsed = time.monotonic() - load_started
                log(f"{elapsed:5.0f} s: {ops} ops ({ops / elapsed:.0f}/s), {errors} errors"
                    + (f", RSS {mib(last[2]):.1f} MiB, {last[4]} threads, {last[5]} fds" if last else ""))
        stop.set()
        stopping = time.monotonic()
        done = {}
        while len(done) < len(workers) and time.monotonic() - stopping < args.call_timeout + 60:
            try:
                kind, index, payload = results.get(timeout=1)
            except Exception:  # queue.Empty
                if not any(w.is_alive() for w in workers) and results.empty():
                    break
                continue
            if kind == "done":
                done[index] = payload
            elif kind == "crash":
                failures.append(f"worker {index} crashed")
                stats.error("worker crashed", payload[-600:])
                done[index] = None
        load_seconds = stopping - load_started
        for i, w in enumerate(workers):
            w.join(timeout=10)
            if w.is_alive():
                w.terminate()
                w.join()
            if i not in done:
                stats.error("worker hung", f"worker {i} did not report within {args.call_timeout + 60:.0f} s "
                                           "of the stop")
        for payload in done.values():
            if payload:
                stats.merge(payload)
        log(f"load stopped after {load_seconds:.0f} s (workers done {time.monotonic() - stopping:.1f} s later)")

        # --- settle ---
        sampler.phase = "settle"
        settle_end = time.monotonic() + args.settle
        while time.monotonic() < settle_end and server.alive():
            time.sleep(0.25)
        final = sampler.take() if server.alive() else None

        # --- rows ---
        table_rows = distinct_ids = None
        engine_memory = None
        if server.alive():
            engine_memory = duckdb_memory(server.uri)
            try:
                table_rows, distinct_ids = count_events(server.uri)
            except Exception as e:  # noqa: BLE001
                failures.append(f"counting the events table failed: {one_line(e)}")
        else:
            failures.append(f"the server is not running after the load (exit {server.proc.returncode})")
    finally:
        sampler.stop()
        died_early = not server.alive()
        exit_code, stop_seconds = server.stop(timeout=90)

    # --- report ---
    samples = sampler.samples
    load_samples = [s for s in samples if s[1] in ("load", "settle")]
    peak = max((s[2] for s in load_samples), default=None)
    hwm = max((s[3] for s in samples), default=None)
    final_rss = final[2] if final else None
    ratio = round(final_rss / idle[2], 3) if final_rss else None
    ops_total = sum(stats.ops.values())
    unexpected = sum(c for c, _ in stats.errors.values())
    expected = sum(stats.expected_errors.values())
    per_op = {}
    for op in MIX:
        lat = stats.latencies.get(op, [])
        per_op[op] = {"count": stats.ops.get(op, 0),
                      "p50_ms": round(percentile(lat, 0.5) * 1000, 2) if lat else None,
                      "p99_ms": round(percentile(lat, 0.99) * 1000, 2) if lat else None,
                      "max_ms": round(max(lat) * 1000, 2) if lat else None}

    if unexpected:
        failures.append(f"{unexpected} unexpected errors")
    if table_rows is not None and table_rows != stats.rows_acknowledged:
        failures.append(f"rows: clients were told {stats.rows_acknowledged} were inserted, the table has "
                        f"{table_rows}" + (f" ({stats.rows_uncertain} rows were in calls that failed)"
                                           if stats.rows_uncertain else ""))
    if table_rows is not None and distinct_ids != table_rows:
        failures.append(f"rows: {table_rows - distinct_ids} duplicated ids")
    if exit_code is None:
        failures.append("server did not exit within 90 s of SIGTERM (killed)")
    elif exit_code != 0 and not died_early:
        failures.append(f"server exit code {exit_code} after SIGTERM")
    if ratio is not None and ratio > args.max_rss_ratio:
        failures.append(f"after-load RSS {mib(final_rss):.1f} MiB is {ratio:.2f}x idle "
                        f"{mib(idle[2]):.1f} MiB (max {args.max_rss_ratio}x)")
    if ops_total == 0:
        failures.append("no operation completed")

    report.update({
        "load_seconds": round(load_seconds, 1),
        "operations": ops_total,
        "operations_per_second": round(ops_total / load_seconds, 1),
        "statements": stats.statements,
        "queries_per_second": round(stats.statements / load_seconds, 1),
        "per_operation": per_op,
        "errors": {"unexpected": unexpected,
                   "by_kind": {k: {"count": c, "first": m} for k, (c, m) in sorted(stats.errors.items())},
                   "expected_client_errors": expected,
                   "expected_by_kind": dict(stats.expected_errors)},
        "rss_mib": {"startup": mib(startup[2]) if startup else None, "idle": mib(idle[2]),
                    "peak": mib(peak), "peak_vmhwm": mib(hwm),
                    "after_load": mib(final_rss), "after_load_ratio": ratio,
                    "settle_s": args.settle, "duckdb_memory_idle_mib": engine_memory_idle,
                    "duckdb_memory_after_load_mib": engine_memory},
        "threads": {"idle": idle[4], "peak": max((s[4] for s in load_samples), default=None),
                    "end": final[4] if final else None},
        "fds": {"idle": idle[5], "peak": max((s[5] for s in load_samples), default=None),
                "end": final[5] if final else None},
        "rows": {"acknowledged": stats.rows_acknowledged, "in_table": table_rows, "distinct_ids": distinct_ids,
                 "rolled_back": stats.rows_rolled_back, "uncertain": stats.rows_uncertain,
                 "commits": stats.commits, "rollbacks": stats.rollbacks},
        "server_exit": {"code": exit_code, "died_before_sigterm": died_early,
                        "seconds_to_exit": round(stop_seconds, 2)},
        "samples": {"columns": ["t_s", "phase", "rss_kib", "hwm_kib", "threads", "fds"], "rows": samples},
        "failures": failures,
        "passed": not failures,
    })
    if died_early or exit_code != 0:
        report["server_exit"]["core_files"] = server.core_files()
        report["server_exit"]["log_tail"] = server.log_tail(3000).splitlines()[-15:]
    if server.stacks_path is not None:
        report["server_exit"]["stacks"] = str(server.stacks_path)
    print_summary(report)
    if server.stacks_path is not None:
        print_our_stacks(server.stacks_path)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {json_path}")
    if failures or args.keep_workdir:
        print(f"server directory kept: {workdir} (log {server.log_path})")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failures else 0


def print_our_stacks(path, frames=14):
    """Prints the stacks (from gdb) of the server's threads that are in
    Squadron's own code: where a shutdown hangs."""
    try:
        text = pathlib.Path(path).read_text(errors="replace")
    except OSError:
        return
    for block in text.split("\nThread ")[1:]:
        lines = block.splitlines()
        if any("squadron::" in line for line in lines):
            print("  Thread " + lines[0])
            for line in lines[1:1 + frames]:
                print("    " + line[:160])


def print_summary(r):
    c = r["config"]
    rss, th, fd, rows = r["rss_mib"], r["threads"], r["fds"], r["rows"]
    n_adbc = (c["clients"] + 1) // 2
    print()
    print(f"soak: {c['clients']} clients ({n_adbc} ADBC, {c['clients'] - n_adbc} pyarrow.flight) in "
          f"{c['processes']} processes, {r['load_seconds']:.0f} s of load, {r['machine']['cores']} cores, "
          f"git {r['git_sha']}")
    print(f"  operations   {r['operations']} ({r['operations_per_second']}/s); "
          f"queries and calls {r['statements']} ({r['queries_per_second']}/s)")
    print(f"  {'operation':<16}{'count':>8}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}")
    for op, o in r["per_operation"].items():
        fmt = lambda v: f"{v:10.1f}" if v is not None else f"{'-':>10}"  # noqa: E731
        print(f"  {op:<16}{o['count']:>8}{fmt(o['p50_ms'])}{fmt(o['p99_ms'])}{fmt(o['max_ms'])}")
    e = r["errors"]
    print(f"  errors       {e['unexpected']} unexpected; {e['expected_client_errors']} intentional client "
          f"errors failed as expected {e['expected_by_kind']}")
    for kind, v in sorted(e["by_kind"].items(), key=lambda kv: -kv[1]["count"]):
        print(f"    {v['count']:>6} x {kind}: {v['first']}")
    ratio = f"{rss['after_load_ratio']:.2f}x idle" if rss["after_load_ratio"] else "n/a"
    print(f"  RSS          start-up {rss['startup']} MiB, idle after warm-up {rss['idle']} MiB, "
          f"peak {rss['peak']} MiB (VmHWM {rss['peak_vmhwm']} MiB), "
          f"after load {rss['after_load']} MiB after {rss['settle_s']:.0f} s = {ratio} "
          f"(max {c['max_rss_ratio']}x)")
    if rss.get("duckdb_memory_after_load_mib"):
        print(f"               DuckDB's own accounting (duckdb_memory(), MiB): idle "
              f"{rss['duckdb_memory_idle_mib']}, after load {rss['duckdb_memory_after_load_mib']}")
    print(f"  threads      idle {th['idle']}, peak {th['peak']}, end {th['end']}")
    print(f"  fds          idle {fd['idle']}, peak {fd['peak']}, end {fd['end']}")
    print(f"  rows         inserted (acknowledged) {rows['acknowledged']}, in table {rows['in_table']}, "
          f"distinct ids {rows['distinct_ids']}; rolled back {rows['rolled_back']} (not counted), "
          f"uncertain {rows['uncertain']}; {rows['commits']} commits, {rows['rollbacks']} rollbacks")
    x = r["server_exit"]
    if x.get("stacks"):
        print(f"  stacks       the server was still running 5 s after SIGTERM: {x['stacks']}")
    if x["died_before_sigterm"]:
        print(f"  server       died before the SIGTERM, exit code {x['code']}; core files: "
              f"{', '.join(x.get('core_files') or []) or 'none'}")
    else:
        print(f"  server       exit code {x['code']} after SIGTERM ({x['seconds_to_exit']} s)")
    print(f"  result       {'PASS' if r['passed'] else 'FAIL: ' + '; '.join(r['failures'])}")


if __name__ == "__main__":
    sys.exit(main())
