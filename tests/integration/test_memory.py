"""Results stream: a result far larger than the bound is never held whole."""

import pyarrow.compute as pc
import pyarrow.flight as flight

from flightsql import descriptor, statement_query

ROWS = 20_000_000
# Four columns: three BIGINT and a short VARCHAR, about 30 bytes a row, so the
# whole result is ~600 MB. The server's peak RSS may grow by at most this much
# while it streams (one batch in flight, DuckDB's streaming buffer, gRPC's
# send window, allocator slack).
BOUND_MIB = 256


def test_twenty_million_rows_stream_in_bounded_memory(start_server):
    server = start_server("--port", "0", "--threads", "2")
    client = flight.connect(server.uri)
    # Warm up: the first query loads DuckDB's and gRPC's lazily built state.
    warm = client.get_flight_info(descriptor(statement_query("SELECT 1")))
    client.do_get(warm.endpoints[0].ticket).read_all()
    before_kib = server.status("VmHWM")

    sql = f"SELECT range AS a, range * 2 AS b, range % 7 AS c, 'row' || (range % 10) AS d FROM range({ROWS})"
    info = client.get_flight_info(descriptor(statement_query(sql)))
    reader = client.do_get(info.endpoints[0].ticket)
    rows = 0
    total_a = 0
    batches = 0
    for chunk in reader:  # each batch is dropped after it is counted
        batch = chunk.data
        rows += batch.num_rows
        total_a += pc.sum(batch.column(0)).as_py()
        batches += 1
    peak_kib = server.status("VmHWM")

    assert rows == ROWS
    assert total_a == ROWS * (ROWS - 1) // 2
    assert batches >= ROWS // 65536
    grown_mib = (peak_kib - before_kib) / 1024
    print(f"peak RSS before {before_kib / 1024:.0f} MiB, after {peak_kib / 1024:.0f} MiB, "
          f"grew {grown_mib:.0f} MiB (bound {BOUND_MIB} MiB) over {batches} batches")
    assert grown_mib < BOUND_MIB, f"server peak RSS grew by {grown_mib:.0f} MiB"
