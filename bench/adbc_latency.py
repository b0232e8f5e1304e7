"""Small-query latency from Python ADBC (the Flight SQL driver), the way a
notebook or service calls Squadron: one connection per client thread,
cursor.execute() then fetch_arrow_table(), in a loop.

Prints one JSON object with the same fields as `squadron-bench-client latency`.
"""

import argparse
import json
import random
import threading
import time

import adbc_driver_flightsql.dbapi as flightsql


def percentile(values, p):
    if not values:
        return 0.0
    return values[min(len(values) - 1, int(p * (len(values) - 1) + 0.5))]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--uri", required=True)
    parser.add_argument("--sql", required=True, help="{key} becomes a random integer in [0, --key-max)")
    parser.add_argument("--clients", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--warmup", type=float, default=0.5)
    parser.add_argument("--key-max", type=int, default=1)
    args = parser.parse_args()

    connections = []
    for _ in range(args.clients):
        conn = flightsql.connect(args.uri)
        with conn.cursor() as cur:  # a warm connection
            cur.execute("SELECT 1")
            cur.fetch_arrow_table()
        connections.append(conn)

    counting = threading.Event()
    stop = threading.Event()
    latencies = [[] for _ in range(args.clients)]
    errors = []

    def client(i):
        rng = random.Random(i * 7919 + 1)
        try:
            with connections[i].cursor() as cur:
                while not stop.is_set():
                    sql = args.sql.replace("{key}", str(rng.randrange(args.key_max)))
                    begin = time.perf_counter()
                    cur.execute(sql)
                    cur.fetch_arrow_table()
                    ms = (time.perf_counter() - begin) * 1e3
                    if counting.is_set():
                        latencies[i].append(ms)
        except Exception as e:  # reported below; the run fails
            errors.append(repr(e))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
    for t in threads:
        t.start()
    time.sleep(args.warmup)
    counting.set()
    start = time.perf_counter()
    time.sleep(args.seconds)
    counting.clear()
    elapsed = time.perf_counter() - start
    stop.set()
    for t in threads:
        t.join()
    for conn in connections:
        conn.close()
    if errors:
        raise SystemExit(f"adbc_latency: {errors[0]}")
    values = sorted(v for per_client in latencies for v in per_client)
    print(json.dumps({
        "count": len(values),
        "seconds": elapsed,
        "qps": len(values) / elapsed,
        "p50_ms": percentile(values, 0.50),
        "p99_ms": percentile(values, 0.99),
        "clients": args.clients,
        "cdf_ms": [percentile(values, i / 100) for i in range(101)] if values else [],
    }))


if __name__ == "__main__":
    main()
