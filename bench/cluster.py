"""The `cluster` section of bench/run: how a distributed result's read scales
with the number of nodes that serve it.

1, 2 and 3 `squadron serve` nodes each run in their own network namespace,
joined to this one by a veth pair on a Linux bridge, with ZooKeeper on the
bridge address. Each node's client-facing link is capped with tc's token
bucket filter on the node's side of its veth (the node -> client direction;
producers push into the nodes over the uncapped other direction). For each N
a driver begins one distributed query on N nodes, producers push the same
volume of data into every node and complete it, and only then the client
reads every endpoint at once, one thread each, timed from the first DoGet to
the last byte. The goal:

    aggregate MB/s of the whole result / (N x one node's MB/s) >= 0.85

where one node's MB/s is the N = 1 read of the same round. Needs
CAP_NET_ADMIN (root) and ZooKeeper (Debian's `zookeeper` package); without
them the section is skipped with the reason.

bench/run registers the section with register(suite) before suite.main().
Run on its own: `bench/run --sections cluster [--quick] --no-readme --out DIR`.
"""

import atexit
import base64
import concurrent.futures
import json
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "integration"))

MB = 1e6
NODES = [1, 2, 3]
# The client-facing cap of every node. At 3 x 500 Mbit/s the client and the
# three nodes use about half a core of a 2-core machine (the table's "CPU,
# ours" column), so the links, not the cores, set the pace. If that column
# nears the core count, lower the cap (e.g. SQUADRON_BENCH_CLUSTER_CAP=200mbit).
CAP_RATE = os.environ.get("SQUADRON_BENCH_CLUSTER_CAP", "500mbit")
SUBNET = "10.77.0"  # bridge .1, node i .1i
NODE_PORT = 31337
SECRET = b"squadron-bench-cluster-secret-0123456789"
BATCH_ROWS = 65536  # 4 x int64: 2 MiB batches


class Skip(Exception):
    """The section cannot run here (no root, no ZooKeeper ...): the reason."""


def rate_bytes_per_s(rate):
    """tc's rate syntax (500mbit, 1gbit, 100mbps) -> bytes/s."""
    units = {"kbit": 1e3 / 8, "mbit": 1e6 / 8, "gbit": 1e9 / 8, "bit": 1 / 8,
             "kbps": 1e3, "mbps": 1e6, "gbps": 1e9, "bps": 1}
    r = rate.lower()
    for unit, factor in units.items():
        if r.endswith(unit):
            return float(r[:-len(unit)]) * factor
    return float(r) / 8


def _run(argv, check=True):
    result = subprocess.run([str(a) for a in argv], capture_output=True, text=True)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, argv))}: {result.stderr.strip()}")
    return result


# --- the network ------------------------------------------------------------------

class Topology:
    """A bridge in this namespace (SUBNET.1) and one namespace per node (SUBNET.1i)
    on a veth pair whose namespace end's egress is capped. close() removes all
    of it; it also runs at exit and is idempotent."""

    def __init__(self, nodes, rate):
        tag = f"{os.getpid() % 100000}"
        self.bridge = f"sqc{tag}br"
        self.rate = rate
        self.bridge_ip = f"{SUBNET}.1"
        self.namespaces, self.links = [], []
        self.node_ips = [f"{SUBNET}.1{i}" for i in range(1, nodes + 1)]
        for tool in ("ip", "tc"):
            if shutil.which(tool) is None:
                raise Skip(f"'{tool}' not found (Debian package iproute2)")
        if _run(["ip", "-4", "-o", "addr", "show", "to", f"{SUBNET}.0/24"], check=False).stdout.strip():
            raise Skip(f"{SUBNET}.0/24 is already in use on this machine (another bench run?)")
        # CAP_NET_ADMIN: try the first namespace; its failure is the skip reason.
        first = f"sqc{tag}n1"
        result = _run(["ip", "netns", "add", first], check=False)
        if result.returncode != 0:
            raise Skip(f"cannot create a network namespace (needs root / CAP_NET_ADMIN): "
                       f"{result.stderr.strip()}")
        self.namespaces.append(first)
        atexit.register(self.close)
        try:
            _run(["ip", "link", "add", self.bridge, "type", "bridge"])
            self.links.append(self.bridge)
            _run(["ip", "addr", "add", f"{self.bridge_ip}/24", "dev", self.bridge])
            _run(["ip", "link", "set", self.bridge, "up"])
            for i, ip in enumerate(self.node_ips, 1):
                ns, host_if, ns_if = f"sqc{tag}n{i}", f"sqc{tag}h{i}", f"sqc{tag}v{i}"
                if ns not in self.namespaces:
                    _run(["ip", "netns", "add", ns])
                    self.namespaces.append(ns)
                _run(["ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if])
                self.links.append(host_if)
                _run(["ip", "link", "set", ns_if, "netns", ns])
                _run(["ip", "link", "set", host_if, "master", self.bridge])
                _run(["ip", "link", "set", host_if, "up"])
                inside = ["ip", "netns", "exec", ns]
                _run([*inside, "ip", "addr", "add", f"{ip}/24", "dev", ns_if])
                _run([*inside, "ip", "link", "set", ns_if, "up"])
                _run([*inside, "ip", "link", "set", "lo", "up"])
                # node -> bridge (-> client): the capped, client-facing direction.
                _run([*inside, "tc", "qdisc", "add", "dev", ns_if, "root", "tbf", "rate", rate,
                      "burst", "256kb", "latency", "50ms"])
            for i, ip in enumerate(self.node_ips):
                self.wait_reachable(self.namespaces[i], self.bridge_ip)
        except BaseException:
            self.close()
            raise

    def exec_prefix(self, i):
        """argv prefix that runs a command in node i's namespace (0-based)."""
        return ["ip", "netns", "exec", self.namespaces[i]]

    def wait_reachable(self, ns, ip, timeout=10):
        """The bridge answers from inside `ns` (a fresh bridge forwards after a moment)."""
        deadline = time.monotonic() + timeout
        while True:
            if shutil.which("ping"):
                ok = _run(["ip", "netns", "exec", ns, "ping", "-c", "1", "-W", "1", ip], check=False).returncode == 0
            else:
                ok = True
            if ok:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{ip} is not reachable from namespace {ns}")
            time.sleep(0.1)

    def close(self):
        for link in reversed(self.links):
            _run(["ip", "link", "del", link], check=False)
        self.links = []
        for ns in reversed(self.namespaces):
            _run(["ip", "netns", "del", ns], check=False)
        self.namespaces = []

    stop = close


# --- ZooKeeper on the bridge ------------------------------------------------------------

def _four_letter_word(host, port, word, timeout=0.5):
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(word.encode())
            s.shutdown(socket.SHUT_WR)
            chunks = []
            while chunk := s.recv(65536):
                chunks.append(chunk)
            return b"".join(chunks).decode(errors="replace")
    except OSError:
        return ""


def zookeeper_on(host):
    """A started tests/integration/zookeeper.py ZooKeeperServer listening on
    `host` (the bridge) instead of 127.0.0.1, so the nodes' namespaces reach it."""
    try:
        import zookeeper
    except ImportError as e:
        raise Skip(f"tests/integration/zookeeper.py: {e}") from e
    if shutil.which(zookeeper.JAVA) is None:
        raise Skip(f"no '{zookeeper.JAVA}' for ZooKeeper (Debian packages default-jre-headless, zookeeper)")
    jar = zookeeper.CLASSPATH.split(":")[0]
    if not pathlib.Path(jar).exists():
        raise Skip(f"{jar} not found (Debian package zookeeper)")

    class BridgeZooKeeper(zookeeper.ZooKeeperServer):
        def __init__(self):
            with socket.socket() as s:
                s.bind((host, 0))
                port = s.getsockname()[1]
            super().__init__(client_port=port)
            cfg = self.config_path.read_text().replace(
                f"clientPortAddress={zookeeper.HOST}", f"clientPortAddress={host}")
            self.config_path.write_text(cfg)

        @property
        def connect_string(self):
            return f"{host}:{self.port}"

        def _fl(self, word):
            return _four_letter_word(host, self.port, word)

        def ruok(self):
            return self._fl("ruok").strip() == "imok"

        def answers_for_us(self):
            for line in self._fl("conf").splitlines():
                if line.startswith("dataDir="):
                    return line[len("dataDir="):].startswith(str(self.data_dir) + os.sep)
            return False

        def mode(self):
            for line in self._fl("srvr").splitlines():
                if line.startswith("Mode:"):
                    return line.split(":", 1)[1].strip()
            return None

    server = BridgeZooKeeper()
    atexit.register(server.stop)
    return server.start()


# --- the measurement -------------------------------------------------------------------

def make_batches(nbytes, seed=7):
    """Random 4 x int64 batches totalling about `nbytes` (incompressible: the
    link, not a codec, sets the pace)."""
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    count = max(1, round(nbytes / (BATCH_ROWS * 32)))
    names = ["a", "b", "c", "d"]
    return [pa.record_batch([pa.array(rng.integers(0, 1 << 62, BATCH_ROWS)) for _ in names], names=names)
            for _ in range(count)]


def _cpu_ticks():
    """(busy, total) jiffies of the whole machine (/proc/stat), softirq included."""
    fields = [int(x) for x in pathlib.Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def _cpu_seconds(pids):
    """CPU seconds (user + system) of this process and of `pids` so far."""
    tick = os.sysconf("SC_CLK_TCK")
    total = time.process_time()
    for pid in pids:
        try:
            fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            pass
    return total


def read_parallel(endpoints, node_pids=()):
    """DoGet of every endpoint at once, one thread and one client each, chunk by
    chunk (never read_all). Returns the wall time from a common start to the
    last byte, bytes (IPC size of the batches, ~ wire bytes), rows, each
    endpoint's own bytes and seconds, the cores the client and the nodes kept
    busy (`cpu_cores`) and how busy the whole machine was (`machine_busy`, 0-1:
    other work on it included)."""
    import pyarrow as pa
    import pyarrow.flight as flight

    clients = [flight.FlightClient(e.locations[0]) for e in endpoints]
    barrier = threading.Barrier(len(endpoints) + 1)

    def read(client, endpoint):
        barrier.wait()
        start = time.perf_counter()
        reader = client.do_get(endpoint.ticket)
        nbytes = rows = 0
        while True:
            try:
                chunk = reader.read_chunk()
            except StopIteration:
                break
            if chunk.data is not None:
                nbytes += pa.ipc.get_record_batch_size(chunk.data)
                rows += chunk.data.num_rows
        return {"bytes": nbytes, "rows": rows, "end": time.perf_counter(), "start": start}

    try:
        with concurrent.futures.ThreadPoolExecutor(len(endpoints)) as pool:
            futures = [pool.submit(read, c, e) for c, e in zip(clients, endpoints)]
            ours0, machine0 = _cpu_seconds(node_pids), _cpu_ticks()
            barrier.wait()
            start = time.perf_counter()
            parts = [f.result() for f in futures]
            seconds = max(p["end"] for p in parts) - start
            ours1, machine1 = _cpu_seconds(node_pids), _cpu_ticks()
    finally:
        for c in clients:
            c.close()
    return {"seconds": seconds, "bytes": sum(p["bytes"] for p in parts), "rows": sum(p["rows"] for p in parts),
            "endpoints": [{"bytes": p["bytes"], "seconds": p["end"] - p["start"]} for p in parts],
            "cpu_cores": (ours1 - ours0) / seconds,
            "machine_busy": (machine1[0] - machine0[0]) / max(1, machine1[1] - machine0[1])}


class ClusterBench:
    def __init__(self, bench):
        self.bench = bench
        self.quick = bench.quick
        self.runs = bench.args.runs or (2 if self.quick else 3)
        # The same volume per node for every N: ~4 s of a 500 Mbit/s link in a
        # full run, a fraction of a second in a quick one.
        self.bytes_per_node = (16 if self.quick else 250) * 1_000_000
        self.workdir = pathlib.Path(bench.workdir) / "cluster"
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.stoppables = []

    def log(self, message):
        self.bench.log(f"cluster: {message}")

    def start_nodes(self, topo, zk_uri):
        import services

        secret = self.workdir / "cluster.secret"
        secret.write_bytes(SECRET)
        nodes = []
        for i, ip in enumerate(topo.node_ips):
            argv = [*topo.exec_prefix(i), self.bench.squadron, "serve", "--host", ip, "--port", NODE_PORT,
                    "--log-level", "warn", "--cluster", zk_uri, "--node-id", f"n{i + 1}",
                    "--ticket-secret-file", secret, "--spool-memory", "768MiB",
                    "--spool-dir", self.workdir]
            node = services.Process(f"node n{i + 1}", [str(a) for a in argv], r"squadron listening on (\S+)",
                                    self.workdir / f"n{i + 1}.log", timeout=60)
            self.stoppables.append(node)
            atexit.register(node.stop)
            nodes.append(node)
        deadline = time.monotonic() + 30
        while True:
            out = _run([self.bench.squadron, "cluster", "status", "--cluster", zk_uri, "--json"], check=False)
            members = json.loads(out.stdout).get("members", []) if out.returncode == 0 else []
            if len(members) == len(nodes):
                return nodes
            if time.monotonic() > deadline:
                raise RuntimeError(f"nodes did not all join: {out.stdout or out.stderr}")
            time.sleep(0.2)

    def one_read(self, nodes, n, batches):
        """Begin a query on n nodes, push `batches` into each node's one
        partition, complete, then time the parallel read of all endpoints."""
        import exchange_client as xc

        coordinator = nodes[0].uri
        begun = xc.begin(coordinator, SECRET, batches[0].schema, partitions=n, nodes=n,
                         description=f"bench cluster N={n}")
        if len({node for _, node, _ in begun.assignment}) != n:
            raise RuntimeError(f"asked for {n} nodes, got assignment {begun.assignment}")
        with concurrent.futures.ThreadPoolExecutor(n) as pool:
            list(pool.map(lambda a: xc.push(a[2], begun.query_id, begun.credential, a[0], 0, batches),
                          begun.assignment))
        xc.complete(coordinator, begun.query_id, begun.credential, [(p, 0) for p, _, _ in begun.assignment])
        sample = read_parallel(list(begun.flight_info.endpoints), [node.pid for node in nodes])
        expect = n * sum(b.num_rows for b in batches)
        if sample["rows"] != expect:
            raise RuntimeError(f"N={n} read {sample['rows']} rows, expected {expect}")
        return sample

    def run(self):
        started = time.monotonic()
        try:
            topo = Topology(max(NODES), CAP_RATE)
        except Skip as e:
            return self.skip(str(e))
        self.stoppables.append(topo)
        try:
            try:
                zk = zookeeper_on(topo.bridge_ip)
            except Skip as e:
                return self.skip(str(e))
            self.stoppables.append(zk)
            zk_uri = f"zk://{zk.connect_string}/bench-cluster"
            self.log(f"{max(NODES)} nodes in namespaces, each link capped at {CAP_RATE}; ZooKeeper at "
                     f"{zk.connect_string}")
            nodes = self.start_nodes(topo, zk_uri)
            batches = make_batches(self.bytes_per_node)
            import pyarrow as pa
            per_node = sum(pa.ipc.get_record_batch_size(b) for b in batches)
            samples = {str(n): [] for n in NODES}
            for round_ in range(1 + self.runs):
                for n in NODES:
                    self.log(f"{'warm-up' if round_ == 0 else f'run {round_}/{self.runs}'}: "
                             f"N={n}, {n} x {per_node / MB:,.0f} MB")
                    sample = self.one_read(nodes, n, batches)
                    if round_ > 0:
                        samples[str(n)].append(sample)
            out = {"cap_rate": CAP_RATE, "cap_bytes_per_s": rate_bytes_per_s(CAP_RATE),
                   "bytes_per_node": per_node, "rows_per_node": sum(b.num_rows for b in batches),
                   "runs": self.runs, "cores": os.cpu_count(), "nodes": samples,
                   "seconds": time.monotonic() - started}
            self.log(summary(out) + f"; section took {out['seconds']:.0f} s")
            return out
        finally:
            for s in reversed(self.stoppables):
                try:
                    s.stop()
                except Exception:
                    pass
            self.stoppables = []

    def skip(self, reason):
        self.log(f"skipped: {reason}")
        self.bench.results["skipped"]["cluster"] = reason
        return {"skipped": reason}


def section(bench):
    import services
    return services.unwinding_on_sigterm(lambda: ClusterBench(bench).run())


# --- reporting ------------------------------------------------------------------------------

def throughputs(samples):
    return [s["bytes"] / s["seconds"] for s in samples]


def efficiencies(c, n):
    """Per round: aggregate bytes/s with n nodes / (n x the same round's one-node bytes/s)."""
    return [agg / (n * one) for agg, one in zip(throughputs(c["nodes"][str(n)]), throughputs(c["nodes"]["1"]))]


def summary(c):
    import statistics

    t1 = statistics.median(throughputs(c["nodes"]["1"]))
    parts = [f"cap {c['cap_rate']} = {c['cap_bytes_per_s'] / MB:.1f} MB/s; T1 {t1 / MB:.1f} MB/s "
             f"({t1 / c['cap_bytes_per_s']:.0%} of the cap)"]
    for n in NODES[1:]:
        agg = statistics.median(throughputs(c["nodes"][str(n)]))
        parts.append(f"N={n}: {agg / MB:.1f} MB/s, efficiency {statistics.median(efficiencies(c, n)):.2f}")
    return "; ".join(parts)


def goals(results, report):
    c = results["sections"].get("cluster")
    if not c or "nodes" not in c:
        return []
    return [report.goal(f"(6{'abc'[i]}) cluster, {n} nodes: aggregate read throughput / ({n} x one node's), "
                        f"links capped at {c['cap_rate']}", efficiencies(c, n), 0.85, True)
            for i, n in enumerate(NODES[1:])]


def markdown_lines(results, report):
    c = results["sections"].get("cluster")
    if not c or "nodes" not in c:
        return []
    cap = c["cap_bytes_per_s"]
    lines = ["", f"**Cluster** (one distributed result, {c['bytes_per_node'] / MB:,.0f} MB on each node, every "
             f"endpoint read at once by one client; each node in its own network namespace with its client-facing "
             f"link capped at {c['cap_rate']} = {cap / MB:.1f} MB/s by tc; efficiency = aggregate / (N x one "
             f"node's) per round; median (min–max) of {c['runs']} counted rounds after a warm-up. CPU: cores the "
             f"client and the nodes used during the read, and how busy all {c.get('cores', '?')} cores were)", "",
             "| nodes | aggregate MB/s | per node MB/s | of the cap | efficiency | CPU, ours (cores) | machine busy |",
             "|---|---|---|---|---|---|---|"]
    for n in NODES:
        samples = c["nodes"][str(n)]
        agg = throughputs(samples)
        eff = "—" if n == 1 else report.span(efficiencies(c, n))
        lines.append(f"| {n} | {report.span([a / MB for a in agg], '{:,.1f}')} | "
                     f"{report.span([a / MB / n for a in agg], '{:,.1f}')} | "
                     f"{report.span([a / n / cap for a in agg], '{:.0%}')} | {eff} | "
                     f"{report.span([s['cpu_cores'] for s in samples], '{:.2f}')} | "
                     f"{report.span([s['machine_busy'] for s in samples], '{:.0%}')} |")
    return lines


# --- registration -----------------------------------------------------------------------
