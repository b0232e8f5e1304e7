"""A Squadron cluster on one machine for the benchmark sections that measure
distributed results (bench/cluster.py, bench/spark_dist.py):

  Topology       network namespaces on a Linux bridge, each with its own
                 client-facing link that tc can cap
  Loopback       the same interface with everything on 127.0.0.1 (no caps),
                 for machines without CAP_NET_ADMIN
  zookeeper_on   ZooKeeper (tests/integration/zookeeper.py) on the bridge
  start_nodes    `squadron serve --cluster ...` in the namespaces, joined
  read_parallel  every endpoint of a FlightInfo at once, one thread each
"""

import atexit
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

import services  # noqa: E402

SUBNET = "10.77.0"  # bridge .1, namespace i (1-based) .1i
# tc's token bucket: the queue may hold 50 ms of the rate; 256 KB of burst
# lets a 64 KB GSO packet through at any rate the benchmarks use.
TBF = ["burst", "256kb", "latency", "50ms"]
# The rate of the traffic cap(only_to=...) lets through: more than a veth
# carries on these machines.
UNCAPPED = "100gbit"


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
    """A bridge in this namespace (SUBNET.1, where clients and ZooKeeper are)
    and `count` namespaces (SUBNET.1i), each on a veth pair. With `rate`, every
    namespace's egress is capped at once (cap()). close() removes all of it;
    it also runs at exit and is idempotent."""

    def __init__(self, count, rate=None):
        tag = f"{os.getpid() % 100000}"
        self.bridge = f"sqc{tag}br"
        self.bridge_ip = f"{SUBNET}.1"
        self.namespaces, self.links, self.ns_ifs = [], [], []
        self.ips = [f"{SUBNET}.1{i}" for i in range(1, count + 1)]
        self.caps = [None] * count
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
            for i, ip in enumerate(self.ips, 1):
                ns, host_if, ns_if = f"sqc{tag}n{i}", f"sqc{tag}h{i}", f"sqc{tag}v{i}"
                if ns not in self.namespaces:
                    _run(["ip", "netns", "add", ns])
                    self.namespaces.append(ns)
                _run(["ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if])
                self.links.append(host_if)
                self.ns_ifs.append(ns_if)
                _run(["ip", "link", "set", ns_if, "netns", ns])
                _run(["ip", "link", "set", host_if, "master", self.bridge])
                _run(["ip", "link", "set", host_if, "up"])
                inside = ["ip", "netns", "exec", ns]
                _run([*inside, "ip", "addr", "add", f"{ip}/24", "dev", ns_if])
                _run([*inside, "ip", "link", "set", ns_if, "up"])
                _run([*inside, "ip", "link", "set", "lo", "up"])
            for ns in self.namespaces:
                self.wait_reachable(ns, self.bridge_ip)
            if rate:
                self.cap(rate)
        except BaseException:
            self.close()
            raise

    @property
    def node_ips(self):
        return self.ips

    def exec_prefix(self, i):
        """argv prefix that runs a command in namespace i (0-based)."""
        return ["ip", "netns", "exec", self.namespaces[i]]

    def cap(self, rate, only_to=None, which=None):
        """Caps the egress of the namespaces `which` (default: all) at `rate`
        with tc's token bucket filter. With `only_to` (an address, e.g. the
        bridge's, where the clients are), only the traffic to that address,
        with an HTB class of that rate (the kernels here have no prio qdisc);
        the rest goes through an uncapped class."""
        for i in range(len(self.ips)) if which is None else which:
            self.uncap([i])
            inside = [*self.exec_prefix(i), "tc"]
            dev = self.ns_ifs[i]
            if only_to is None:
                _run([*inside, "qdisc", "add", "dev", dev, "root", "tbf", "rate", rate, *TBF])
            else:
                _run([*inside, "qdisc", "add", "dev", dev, "root", "handle", "1:", "htb", "default", "20"])
                _run([*inside, "class", "add", "dev", dev, "parent", "1:", "classid", "1:10", "htb", "rate", rate,
                      "ceil", rate, "burst", "256kb", "cburst", "256kb"])
                _run([*inside, "class", "add", "dev", dev, "parent", "1:", "classid", "1:20", "htb", "rate",
                      UNCAPPED, "ceil", UNCAPPED, "quantum", "200000"])
                _run([*inside, "filter", "add", "dev", dev, "parent", "1:", "protocol", "ip", "prio", "1", "u32",
                      "match", "ip", "dst", f"{only_to}/32", "flowid", "1:10"])
            self.caps[i] = rate

    def uncap(self, which=None):
        """Removes the caps of the namespaces `which` (default: all)."""
        for i in range(len(self.ips)) if which is None else which:
            if self.caps[i]:
                _run([*self.exec_prefix(i), "tc", "qdisc", "del", "dev", self.ns_ifs[i], "root"], check=False)
                self.caps[i] = None

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


class Loopback:
    """Topology's interface with every process on 127.0.0.1 in this namespace:
    no links to cap."""

    bridge_ip = "127.0.0.1"

    def __init__(self, count):
        self.ips = ["127.0.0.1"] * count
        self.caps = [None] * count

    node_ips = Topology.node_ips

    def exec_prefix(self, i):
        return []

    def close(self):
        pass

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


# --- the nodes ------------------------------------------------------------------------

def start_nodes(squadron, topo, count, zk_uri, secret_file, workdir, extra=(), stoppables=None):
    """Starts `count` cluster nodes at once, node i in namespace i of `topo`
    on a free port, with the log in workdir/n<i>.log, and waits until all are
    members. Each started node is appended to `stoppables` (so a failure
    later still stops it) and stopped at exit."""
    def start(i):
        argv = [*topo.exec_prefix(i), squadron, "serve", "--host", topo.ips[i], "--port", 0,
                "--log-level", "warn", "--cluster", zk_uri, "--node-id", f"n{i + 1}",
                "--ticket-secret-file", secret_file, "--spool-memory", "768MiB", "--spool-dir", workdir,
                # Private namespace addresses: the bench measures the unauthenticated path.
                "--allow-insecure", *extra]
        node = services.Process(f"node n{i + 1}", [str(a) for a in argv], r"squadron listening on (\S+)",
                                pathlib.Path(workdir) / f"n{i + 1}.log", timeout=60)
        atexit.register(node.stop)
        return node

    with concurrent.futures.ThreadPoolExecutor(count) as pool:
        futures = [pool.submit(start, i) for i in range(count)]
    nodes = [f.result() for f in futures if f.exception() is None]
    if stoppables is not None:
        stoppables.extend(nodes)
    for f in futures:
        f.result()  # the first failure, after the others are in stoppables
    deadline = time.monotonic() + 30
    while True:
        out = _run([squadron, "cluster", "status", "--cluster", zk_uri, "--json"], check=False)
        members = json.loads(out.stdout).get("members", []) if out.returncode == 0 else []
        if len(members) == len(nodes):
            return nodes
        if time.monotonic() > deadline:
            raise RuntimeError(f"nodes did not all join: {out.stdout or out.stderr}")
        time.sleep(0.2)


# --- the read ---------------------------------------------------------------------------

def read_chunks(reader):
    """The record batches of a DoGet stream, chunk by chunk (never read_all(),
    which turns a CANCELLED stream into SIGINT)."""
    while True:
        try:
            chunk = reader.read_chunk()
        except StopIteration:
            return
        if chunk.data is not None:
            yield chunk.data


def read_parallel(endpoints, node_pids=(), keep=False):
    """DoGet of every endpoint at once, one thread and one client each, chunk by
    chunk (never read_all). Returns the wall time from a common start to the
    last byte, bytes (IPC size of the batches, ~ wire bytes), rows, each
    endpoint's own bytes and seconds, the cores the client and the nodes kept
    busy (`cpu_cores`) and how busy the whole machine was (`machine_busy`, 0-1:
    other work on it included); with `keep`, also the batches read
    (`batches`, endpoint by endpoint)."""
    import pyarrow as pa
    import pyarrow.flight as flight

    clients = [flight.FlightClient(e.locations[0]) for e in endpoints]
    barrier = threading.Barrier(len(endpoints) + 1)

    def read(client, endpoint):
        barrier.wait()
        start = time.perf_counter()
        nbytes = rows = 0
        batches = []
        for batch in read_chunks(client.do_get(endpoint.ticket)):
            nbytes += pa.ipc.get_record_batch_size(batch)
            rows += batch.num_rows
            if keep:
                batches.append(batch)
        return {"bytes": nbytes, "rows": rows, "end": time.perf_counter(), "start": start, "batches": batches}

    def ours():
        """CPU seconds of this process and of the nodes so far."""
        return time.process_time() + sum(services.cpu_seconds(pid) for pid in node_pids)

    try:
        with concurrent.futures.ThreadPoolExecutor(len(endpoints)) as pool:
            futures = [pool.submit(read, c, e) for c, e in zip(clients, endpoints)]
            ours0, machine0 = ours(), services.machine_ticks()
            barrier.wait()
            start = time.perf_counter()
            parts = [f.result() for f in futures]
            seconds = max(p["end"] for p in parts) - start
            ours1, machine1 = ours(), services.machine_ticks()
    finally:
        for c in clients:
            c.close()
    out = {"seconds": seconds, "bytes": sum(p["bytes"] for p in parts), "rows": sum(p["rows"] for p in parts),
           "endpoints": [{"bytes": p["bytes"], "seconds": p["end"] - p["start"]} for p in parts],
           "cpu_cores": (ours1 - ours0) / seconds,
           "machine_busy": (machine1[0] - machine0[0]) / max(1, machine1[1] - machine0[1])}
    if keep:
        out["batches"] = [b for p in parts for b in p["batches"]]
    return out
