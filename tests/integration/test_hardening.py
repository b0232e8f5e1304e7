"""Untrusted input never crashes or exhausts the server: malformed Arrow data,
statements that would eat all memory, oversized messages, too many streams."""

import pyarrow as pa
import pyarrow.flight as flight
import pytest

from flightsql import (create_prepared_statement_request, decode_fields, descriptor, pack_any,
                       prepared_statement_query, put, put_count, statement_ingest, statement_query, unpack)


def query(client, sql):
    info = client.get_flight_info(descriptor(statement_query(sql)))
    return client.do_get(info.endpoints[0].ticket).read_all()


def alive(client):
    assert query(client, "SELECT 42 AS answer").column(0).to_pylist() == [42]


def bad_utf8_offsets():
    """A utf8 array of 2 values whose offsets go backwards: [0, 3, 1]."""
    offsets = pa.py_buffer(pa.array([0, 3, 1], pa.int32()).buffers()[1])
    data = pa.py_buffer(b"abc")
    array = pa.Array.from_buffers(pa.utf8(), 2, [None, offsets, data])
    array.validate()  # the cheap validation passes...
    with pytest.raises(pa.ArrowInvalid):
        array.validate(full=True)  # ...the full one does not
    return array


def bad_dictionary_index():
    """A dictionary<int32, utf8> array whose only index is 10^9."""
    indices = pa.array([10**9], pa.int32())
    array = pa.DictionaryArray.from_buffers(pa.dictionary(pa.int32(), pa.utf8()), 1,
                                            [None, indices.buffers()[1]], pa.array(["a", "b"]))
    array.validate()
    with pytest.raises(pa.ArrowInvalid):
        array.validate(full=True)
    return array


def test_malformed_ingest_data_is_invalid_argument_and_writes_nothing(server):
    client = flight.connect(server.uri)
    good = pa.record_batch({"id": pa.array([1, 2], pa.int64()), "name": pa.array(["x", "y"])})
    bad = pa.RecordBatch.from_arrays([pa.array([3, 4], pa.int64()), bad_utf8_offsets()], ["id", "name"])
    with pytest.raises(pa.ArrowInvalid) as error:
        put_count(client, statement_ingest("malformed_ingest"), [good, bad])
    assert "column 'name'" in str(error.value) and "nothing was written" in str(error.value)
    # Nothing was created: the good first batch was rolled back with the rest.
    with pytest.raises(pa.ArrowInvalid, match="malformed_ingest"):
        query(client, "SELECT * FROM malformed_ingest")
    alive(client)


@pytest.mark.parametrize("make_bad", [bad_utf8_offsets, bad_dictionary_index])
def test_malformed_parameters_are_invalid_argument(server, make_bad):
    client = flight.connect(server.uri)
    [result] = client.do_action(flight.Action(
        "CreatePreparedStatement", create_prepared_statement_request("SELECT length(?::VARCHAR) AS n")))
    handle = decode_fields(unpack(result.body.to_pybytes(), "ActionCreatePreparedStatementResult"))[1][0]
    batch = pa.RecordBatch.from_arrays([make_bad()], ["p"])
    with pytest.raises(pa.ArrowInvalid, match="column 'p'"):
        put(client, prepared_statement_query(handle), [batch])
    alive(client)
