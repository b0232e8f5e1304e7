"""IPC body compression of results: per call (header), per session (option
ipc_compression) and per server (--ipc-compression)."""

import re

import duckdb
import pyarrow as pa
import pyarrow.flight as flight
import pytest

from flightsql import CookieJar, INVALID_VALUE, decode_session_option_errors, decode_session_options, descriptor, \
    set_session_options_request, statement_query

SQL = ("SELECT range AS id, 'row ' || (range % 97) AS label, (range % 13)::DOUBLE AS score "
       "FROM range(200000) ORDER BY id")


def reference():
    return duckdb.sql(SQL).fetch_arrow_table()


def fetch(client, headers=()):
    options = flight.FlightCallOptions(headers=list(headers))
    info = client.get_flight_info(descriptor(statement_query(SQL)), options)
    reader = client.do_get(info.endpoints[0].ticket, options)
    return reader.read_all()


def streamed_compressions(server):
    return re.findall(r"event=result_streamed .*?compression=(\w+)", server.log())


@pytest.mark.parametrize("codec", ["zstd", "lz4", "none"])
def test_header_picks_the_compression_of_one_call(start_server, codec):
    server = start_server("--port", "0")
    client = flight.connect(server.uri)
    table = fetch(client, [(b"squadron-ipc-compression", codec.encode())])
    assert table.equals(reference().cast(table.schema))
    client.close()
    server.stop()
    assert streamed_compressions(server)[-1] == codec


def test_unknown_codec_in_header_is_invalid_argument(start_server):
    server = start_server("--port", "0")
    client = flight.connect(server.uri)
    # INVALID_ARGUMENT arrives in pyarrow as ArrowInvalid.
    with pytest.raises(pa.ArrowInvalid, match="Unknown IPC compression 'brotli': use none, zstd or lz4"):
        fetch(client, [(b"squadron-ipc-compression", b"brotli")])


def test_session_option_sets_the_compression_and_reads_back(start_server):
    server = start_server("--port", "0")
    jar = CookieJar()
    client = flight.connect(server.uri, middleware=[jar])

    def action(name, body=b""):
        return [r.body.to_pybytes() for r in client.do_action(flight.Action(name, body))]

    assert decode_session_option_errors(
        action("SetSessionOptions", set_session_options_request({"ipc_compression": "snappy"}))[0]) == {
            "ipc_compression": INVALID_VALUE}
    assert decode_session_option_errors(
        action("SetSessionOptions", set_session_options_request({"ipc_compression": "lz4"}))[0]) == {}
    assert decode_session_options(action("GetSessionOptions")[0])["ipc_compression"] == "lz4"
    table = fetch(client)
    assert table.equals(reference().cast(table.schema))
    # A call's header still wins over the session.
    fetch(client, [(b"squadron-ipc-compression", b"zstd")])
    client.close()
    server.stop()
    assert streamed_compressions(server)[-2:] == ["lz4", "zstd"]


def test_server_default_and_bad_flag(start_server, tmp_path):
    server = start_server("--port", "0", "--ipc-compression", "zstd")
    client = flight.connect(server.uri)
    table = fetch(client)
    assert table.num_rows == 200000
    client.close()
    server.stop()
    assert streamed_compressions(server)[-1] == "zstd"
    with pytest.raises(Exception, match="Invalid --ipc-compression: Unknown IPC compression 'gzip'"):
        start_server("--port", "0", "--ipc-compression", "gzip")
