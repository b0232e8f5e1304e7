"""Turns a benchmark run's samples into goal ratios, a markdown table and a chart."""

import re
import sys
import statistics

import cluster
import spark
import spark_dist
import tpch

MB = 1e6


def median(values):
    return statistics.median(values) if values else float("nan")


def seconds(samples):
    return [s["seconds"] for s in samples]


def throughput(samples):
    """MB/s of Arrow data (uncompressed buffer bytes) per run."""
    return [s["bytes"] / s["seconds"] / MB for s in samples if s.get("bytes")]


def paired_ratios(numerators, denominators):
    """Per-round ratios numerator/denominator of two interleaved variants."""
    return [a / b for a, b in zip(numerators, denominators) if b]


def span(values, fmt="{:.2f}"):
    if not values:
        return "n/a"
    return f"{fmt.format(median(values))} ({fmt.format(min(values))}–{fmt.format(max(values))})"


def goal(name, values, target, higher_is_better, unit="x"):
    """A goal as measured: median and min–max of per-round values."""
    if not values:
        return {"goal": name, "target": target, "median": None, "min": None, "max": None, "met": None, "unit": unit}
    m = median(values)
    met = m >= target if higher_is_better else m <= target
    return {"goal": name, "target": target, "higher_is_better": higher_is_better, "median": m,
            "min": min(values), "max": max(values), "met": met, "unit": unit}


def faster_duckdb(engine_samples):
    """The faster (by median) of DuckDB's two in-process exports: the baseline."""
    return min(("duckdb_stream", "duckdb_table"), key=lambda k: median(seconds(engine_samples[k])))


def peers_ran(results):
    """The peers (bench/peers.py) that ran in this run, by name."""
    return [name for name, p in results.get("peers", {}).items() if p.get("ran")]


def peer_p50_goal(results, sm):
    """(4c): Squadron's SELECT 1 p50 through ADBC / the fastest peer's, per
    round; met when Squadron's median is below every peer's and the median
    of those per-round ratios is below 1 too (the two can disagree when the
    runs are noisy: the line then says what it shows)."""
    name = "(4c) SELECT 1 p50 through ADBC: Squadron ahead of every peer"
    v = sm["select_1/1"]
    names = [n for n in peers_ran(results) if v.get(f"{n}_adbc")]
    if not names or not v.get("adbc"):
        g = goal(name + " (no peer ran)", [], 1.0, False)
        g["strict"] = True
        return g
    p50 = {n: [r["p50_ms"] for r in v[f"{n}_adbc"]] for n in names}
    fastest = min(names, key=lambda n: median(p50[n]))
    ours = [r["p50_ms"] for r in v["adbc"]]
    per_round = [a / min(peer_round) for a, *peer_round in zip(ours, *p50.values()) if min(peer_round)]
    g = goal(f"{name} (Squadron / fastest peer, {fastest} at {median(p50[fastest]):.3f} ms)", per_round, 1.0, False)
    g["strict"] = True
    g["met"] = median(ours) < min(median(p50[n]) for n in names) and g["median"] < 1.0
    return g


def goals(results):
    s = results["sections"]
    out = []
    for table in ("narrow", "wide"):
        t = s.get("transport", {}).get(f"{table}/1")
        if t:
            # Throughput ratio Squadron / raw = raw seconds / Squadron seconds.
            out.append(goal(f"(1) transport, {table}, 1 stream: Squadron / raw Flight throughput",
                            paired_ratios(seconds(t["raw_flight"]), seconds(t["squadron"])), 0.9, True))
    e = s.get("engine", {}).get("select_star")
    if e:
        best = faster_duckdb(e)
        out.append(goal(f"(2) SELECT * time: Squadron / DuckDB in-process export ({best})",
                        paired_ratios(seconds(e["squadron"]), seconds(e[best])), 1.2, False))
    p = s.get("postgres", {}).get("wide")
    if p:
        out.append(goal("(3) wide table: PostgreSQL binary COPY time / Squadron time",
                        paired_ratios(seconds(p["postgres_copy"]), seconds(p["squadron"])), 10, True))
    sm = s.get("small", {})
    # Small queries against the floor measured in the same run: the same C++
    # client making the same two calls to the raw Flight server, which
    # answers from memory (issue 14: p50 ≤ 1.15x, queries/s ≥ 0.9x).
    for clients, key, label, target, higher in ((1, "p50_ms", "(4a) SELECT 1 p50, C++ client, warm connection: "
                                                 "Squadron / raw Flight floor", 1.15, False),
                                                (8, "qps", "(4b) SELECT 1 queries/s, C++ client, 8 clients: "
                                                 "Squadron / raw Flight floor", 0.9, True)):
        v = sm.get(f"select_1/{clients}", {})
        if v.get("cpp") and v.get("raw_cpp"):
            ours, floor = [r[key] for r in v["cpp"]], [r[key] for r in v["raw_cpp"]]
            unit = "ms" if key == "p50_ms" else "q/s"
            out.append(goal(f"{label} ({median(ours):,.3f} {unit} against {median(floor):,.3f} {unit})",
                            paired_ratios(ours, floor), target, higher))
    if "select_1/1" in sm and results.get("peers") is not None:
        out.append(peer_p50_goal(results, sm))
    m = s.get("memory")
    if m:
        limit = m["budget_bytes"] + (256 << 20)
        out.append(goal("(5) peak server RSS / (budget + 256 MB)", [m["peak_rss_bytes"] / limit], 1.0, False))
    out += cluster.goals(results, sys.modules[__name__])
    out += spark.goals(results, sys.modules[__name__])
    out += spark_dist.goals(results, sys.modules[__name__])
    out += tpch.goals(results, sys.modules[__name__])
    return out


def fmt_goal_value(v, unit, digits=2):
    if v is None:
        return "n/a"
    if unit == "q/s":
        return f"{v:,.0f}"
    if unit == "ms":
        return f"{v:.3f} ms"
    return f"{v:.{digits}f}x"


def fmt_goal_measured(g):
    """median (min–max), with as many more digits (up to 5) as it takes to
    tell a missed goal's median from its target (1.0301x against ≤ 1.03x)."""
    if g["median"] is None:
        return "n/a"
    digits = 2
    while (g["met"] is False and digits < 5 and
           fmt_goal_value(g["median"], g["unit"], digits) == fmt_goal_value(g["target"], g["unit"], digits)):
        digits += 1
    f = lambda v: fmt_goal_value(v, g["unit"], digits)  # noqa: E731
    return f"{f(g['median'])} ({f(g['min'])}–{f(g['max'])})"


def markdown(results, chart_name):
    m = results["machine"]
    sz = results.get("sizes", {})
    lines = [
        f"### Benchmark {results['date']} at `{results['git_sha']}`" + (" (quick smoke run)" if results["quick"] else ""),
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_bytes'] / 2**30:.0f} GiB, Linux {m['kernel']}; "
        f"client and servers share the cores. DuckDB {results.get('duckdb_version', '?')}"
        + (f", {results['postgres_version']}" if results.get("postgres_version") else "") + ".",
        "",
    ]
    if sz:  # the sections over the generated tables ran
        lines += [
            f"Data: narrow = {sz.get('narrow_rows', 0):,} rows x 4 BIGINT ({sz.get('narrow_bytes', 0) / MB:,.0f} MB "
            f"of Arrow); wide = {sz.get('wide_rows', 0):,} rows x 16 lineitem-like columns "
            f"({sz.get('wide_bytes', 0) / MB:,.0f} MB). Each cell: median (min–max) of {results['runs']} counted "
            "runs after a warm-up, variants interleaved.",
            "",
        ]
    lines += [
        "**Goals**",
        "",
        "| goal | target | measured median (min–max) | met |",
        "|---|---|---|---|",
    ]
    for g in results["goals"]:
        target = ("≥ " if g.get("higher_is_better") else "< " if g.get("strict") else "≤ ") + fmt_goal_value(
            g["target"], g["unit"])
        measured = fmt_goal_measured(g)
        met = "n/a" if g["met"] is None else ("yes" if g["met"] else "**no**")
        lines.append(f"| {g['goal']} | {target} | {measured} | {met} |")
    s = results["sections"]
    if "transport" in s:
        lines += ["", "**Transport** (MB/s of Arrow data; ratio = Squadron / raw Flight)", "",
                  "| data | streams | Squadron | raw Flight | ratio |", "|---|---|---|---|---|"]
        for key, v in s["transport"].items():
            table, n = key.split("/")
            lines.append(f"| {table} | {n} | {span(throughput(v['squadron']), '{:,.0f}')} | "
                         f"{span(throughput(v['raw_flight']), '{:,.0f}')} | "
                         f"{span(paired_ratios(seconds(v['raw_flight']), seconds(v['squadron'])))} |")
    if "engine" in s:
        lines += ["", "**Engine** (seconds; ratio = Squadron / DuckDB in-process)", "",
                  "| query | Squadron | DuckDB stream export | DuckDB table export | ratio to faster "
                  "| Squadron, pyarrow.flight |",
                  "|---|---|---|---|---|---|"]
        for key, v in s["engine"].items():
            best = faster_duckdb(v)
            lines.append(f"| {key} | {span(seconds(v['squadron']), '{:.3f}')} | "
                         f"{span(seconds(v['duckdb_stream']), '{:.3f}')} | {span(seconds(v['duckdb_table']), '{:.3f}')}"
                         f" | {span(paired_ratios(seconds(v['squadron']), seconds(v[best])))} | "
                         f"{span(seconds(v.get('squadron_flight', [])), '{:.3f}')} |")
        lines += peer_scan_lines(results)
    if "postgres" in s:
        lines += ["", "**Row protocol** (seconds; ratio = PostgreSQL / Squadron)", "",
                  "| table | Squadron | PostgreSQL binary COPY (psycopg) | ratio |", "|---|---|---|---|"]
        for key, v in s["postgres"].items():
            lines.append(f"| {key} | {span(seconds(v['squadron']), '{:.3f}')} | "
                         f"{span(seconds(v['postgres_copy']), '{:.3f}')} | "
                         f"{span(paired_ratios(seconds(v['postgres_copy']), seconds(v['squadron'])))} |")
    if "small" in s:
        lines += ["", "**Small queries** (p50 / p99 in ms; queries/s). The floor is the same C++ client making "
                  "the same two calls (GetFlightInfo, DoGet) to the raw Flight server, which answers from memory.", "",
                  "| query | clients | C++ p50 | C++ p99 | C++ q/s | ADBC p50 | ADBC p99 | ADBC q/s "
                  "| floor p50 | floor q/s |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for key, v in s["small"].items():
            query, clients = key.split("/")
            # Squadron's row, then one per peer (same query, same clients).
            for server, prefix in [("", "")] + [(f" · {n}", f"{n}_") for n in peers_ran(results)]:
                if server and not any(f"{prefix}{kind}" in v for kind in ("cpp", "adbc")):
                    continue
                cells = []
                for kind in ("cpp", "adbc", "raw_cpp"):
                    runs = v.get(prefix + kind) if kind != "raw_cpp" or not server else None
                    if not runs:
                        cells += ["", ""] if kind == "raw_cpp" else ["", "", ""]
                        continue
                    if kind == "raw_cpp":
                        cells += [span([r["p50_ms"] for r in runs], "{:.3f}"), span([r["qps"] for r in runs], "{:,.0f}")]
                        continue
                    cells += [span([r["p50_ms"] for r in runs], "{:.3f}"), span([r["p99_ms"] for r in runs], "{:.3f}"),
                              span([r["qps"] for r in runs], "{:,.0f}")]
                lines.append(f"| {query}{server} | {clients} | " + " | ".join(cells) + " |")
    if "memory" in s:
        mm = s["memory"]
        lines += ["", f"**Memory**: streamed {mm['result_bytes'] / MB:,.0f} MB ({mm['rows']:,} rows) through a server "
                  f"with a {mm['budget_bytes'] >> 20} MiB budget (--memory-limit) in {mm['seconds']:.2f} s; "
                  f"peak server RSS {mm['peak_rss_bytes'] / 2**20:,.0f} MiB "
                  f"(idle {mm['idle_peak_rss_bytes'] / 2**20:,.0f} MiB)."]
    if "compression" in s:
        lines += ["", "**Compression** (MB/s of Arrow data, SELECT * FROM wide)", "",
                  "| link | none | lz4 | zstd |", "|---|---|---|---|"]
        for key, v in s["compression"].items():
            lines.append(f"| {key} | " + " | ".join(span(throughput(v[c]), "{:,.0f}") for c in ("none", "lz4", "zstd"))
                         + " |")
    extra = tpch.markdown_lines(results, sys.modules[__name__])
    if extra:
        lines += extra
    extra = cluster.markdown_lines(results, sys.modules[__name__])
    if extra:
        lines += [""] + extra
    extra = spark.markdown_lines(results, sys.modules[__name__])
    if extra:
        lines += [""] + extra
    extra = spark_dist.markdown_lines(results, sys.modules[__name__])
    if extra:
        lines += [""] + extra
    lines += peers_lines(results)
    for key, why in results.get("skipped", {}).items():
        lines.append(f"\nSkipped {key}: {why}")
    for failure in results.get("failed", []):
        lines.append(f"\nFailed: {failure}")
    if chart_name:
        lines += ["", f"![throughput and latency]({chart_name})"]
    return "\n".join(lines) + "\n"


def peer_scan_lines(results):
    """The engine section's scans from Squadron and from each peer, by the same
    two clients (the C++ client and pyarrow.flight), in MB/s of Arrow data."""
    engine = results["sections"].get("engine", {})
    names = [n for n in peers_ran(results) if any(n in v or f"{n}_flight" in v for v in engine.values())]
    if not names:
        return []
    header = "| query | Squadron C++ | Squadron pyarrow.flight | " + " | ".join(
        f"{n} C++ | {n} pyarrow.flight | {n} / Squadron time (flight)" for n in names) + " |"
    lines = ["", "**Peers: the same scans** (MB/s of Arrow data as each client counts it; ratio > 1: Squadron "
             "is faster)", "", header, "|---" * (3 + 3 * len(names)) + "|"]
    for key, v in engine.items():
        cells = [span(throughput(v["squadron"]), "{:,.0f}"), span(throughput(v.get("squadron_flight", [])), "{:,.0f}")]
        for n in names:
            cells += [span(throughput(v.get(n, [])), "{:,.0f}"), span(throughput(v.get(f"{n}_flight", [])), "{:,.0f}"),
                      span(paired_ratios(seconds(v.get(f"{n}_flight", [])), seconds(v.get("squadron_flight", []))))]
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    return lines


def peers_lines(results):
    """One line: which peers ran (in which sections) or were skipped, and why."""
    peers = results.get("peers")
    if peers is None:
        return []
    if not peers:
        if results.get("peers_requested") == []:
            return ["", "Peers: none (--peers none)."]
        return []
    parts = []
    for name, p in peers.items():
        label = p.get("description", name)
        if p.get("ran"):
            part = f"{label} ran ({'; '.join(p['ran'])})"
            for where, why in p.get("skipped", {}).items():
                part += f"; skipped in {where}: {why}"
        else:
            part = f"{name} skipped: {'; '.join(sorted(set(p.get('skipped', {}).values())))}"
        if p.get("failed"):
            part += f"; dropped where it failed: {'; '.join(p['failed'])}"
        parts.append(part)
    return ["", "Peers: " + ". ".join(parts) + "."]


def chart(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [spark_dist, tpch]
    panels = [p for p in panels if p.has_samples(results)]
    fig, axes = plt.subplots(1, 2 + len(panels), figsize=(12 + 6 * len(panels), 4.5))
    left, right = axes[0], axes[1]
    for ax, panel in zip(axes[2:], panels):
        panel.chart_panel(ax, results, sys.modules[__name__])
    transport = results["sections"].get("transport", {})
    for table, style in (("narrow", "-"), ("wide", "--")):
        for variant, color in (("squadron", "tab:blue"), ("raw_flight", "tab:gray")):
            xs, ys = [], []
            for n in (1, 2, 4):
                v = transport.get(f"{table}/{n}")
                if v:
                    xs.append(n)
                    ys.append(median(throughput(v[variant])))
            if xs:
                left.plot(xs, ys, style, marker="o", color=color, label=f"{variant} {table}")
    left.set_xlabel("parallel streams")
    left.set_ylabel("MB/s (median)")
    left.set_xticks([1, 2, 4])
    left.set_title("Transport throughput")
    left.grid(alpha=0.3)
    if transport:
        left.legend(fontsize=8)
    small = results["sections"].get("small", {})
    for clients, color in ((1, "tab:blue"), (8, "tab:orange"), (32, "tab:red")):
        kinds = [("cpp", "-", "cpp"), ("adbc", ":", "adbc")]
        kinds += [(f"{n}_adbc", "-.", f"{n} adbc") for n in peers_ran(results)]
        for kind, style, label in kinds:
            runs = small.get(f"select_1/{clients}", {}).get(kind)
            if runs and runs[-1]["cdf_ms"]:
                cdf = runs[-1]["cdf_ms"]
                right.plot(cdf, [i / (len(cdf) - 1) for i in range(len(cdf))], style, color=color,
                           label=f"{label}, {clients} client(s)")
    right.set_xscale("log")
    right.set_xlabel("SELECT 1 latency, ms (log)")
    right.set_ylabel("fraction of queries")
    right.set_title("SELECT 1 latency CDF")
    right.grid(alpha=0.3)
    if small:
        right.legend(fontsize=8)
    fig.suptitle(f"Squadron bench {results['date']} {results['git_sha']} "
                 f"({results['machine']['cores']} cores)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def update_readme(readme, table):
    text = readme.read_text()
    block = f"{BEGIN}\n{table}\n![throughput and latency](bench/results/latest.png)\n{END}"
    if BEGIN in text and END in text:
        text = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: block, text, flags=re.S)
    else:
        text += f"\n{block}\n"
    readme.write_text(text)
