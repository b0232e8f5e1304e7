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
them the section is skipped with the reason. The namespaces, ZooKeeper on
the bridge, the nodes and the parallel read are bench/testbed.py's.

Run on its own: `bench/run --sections cluster [--quick] --no-readme --out DIR`.
"""

import concurrent.futures
import os
import pathlib
import time

import services
from testbed import Skip, Topology, rate_bytes_per_s, read_parallel, start_nodes, zookeeper_on

MB = 1e6
NODES = [1, 2, 3]
# The client-facing cap of every node. At 3 x 500 Mbit/s the client and the
# three nodes use about half a core of a 2-core machine (the table's "CPU,
# ours" column), so the links, not the cores, set the pace. If that column
# nears the core count, lower the cap (e.g. SQUADRON_BENCH_CLUSTER_CAP=200mbit).
CAP_RATE = os.environ.get("SQUADRON_BENCH_CLUSTER_CAP", "500mbit")
SECRET = b"squadron-bench-cluster-secret-0123456789"
BATCH_ROWS = 65536  # 4 x int64: 2 MiB batches


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


class ClusterBench(services.Section):
    name = "cluster"

    def __init__(self, bench):
        super().__init__(bench)
        self.runs = bench.args.runs or (2 if self.quick else 3)
        # The same volume per node for every N: ~4 s of a 500 Mbit/s link in a
        # full run, a fraction of a second in a quick one.
        self.bytes_per_node = (16 if self.quick else 250) * 1_000_000
        self.workdir = pathlib.Path(bench.workdir) / "cluster"
        self.workdir.mkdir(parents=True, exist_ok=True)

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
            secret = self.workdir / "cluster.secret"
            secret.write_bytes(SECRET)
            nodes = start_nodes(self.bench.squadron, topo, max(NODES), zk_uri, secret, self.workdir,
                                stoppables=self.stoppables)
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
            self.stop_all()


def section(bench):
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
