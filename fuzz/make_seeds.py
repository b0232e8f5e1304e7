"""Writes the seed corpus of fuzz_client_batches: Arrow IPC streams, as a
client sends them in a DoPut.

Usage: .venv/bin/python fuzz/make_seeds.py DIR

Most streams are valid, one per kind of column a client may send; two are the
known-bad shapes ValidateClientBatch exists to stop (a utf8 array whose
offsets go backwards, a dictionary index far past the dictionary). The seeds
are generated at run time, never committed.
"""

import datetime
import decimal
import pathlib
import sys

import pyarrow as pa


def stream(*batches, schema=None, options=None):
    """The IPC stream bytes of `batches` (schema from the first one)."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, schema or batches[0].schema, options=options) as writer:
        for batch in batches:
            writer.write_batch(batch)
    return sink.getvalue().to_pybytes()


def batch(**columns):
    return pa.RecordBatch.from_pydict(columns)


def seeds():
    ints = batch(i8=pa.array([1, None, -128], pa.int8()), i64=pa.array([1, 2**62, None], pa.int64()),
                 u32=pa.array([0, 7, 2**32 - 1], pa.uint32()), f=pa.array([1.5, float("nan"), None]),
                 b=pa.array([True, None, False]))
    yield "ints", stream(ints)
    yield "ints_two_batches", stream(ints, ints.slice(1))
    yield "strings", stream(batch(s=pa.array(["a", None, "héllo", ""]),
                                  ls=pa.array(["x", "y", None, "z"], pa.large_string()),
                                  bin=pa.array([b"\x00", None, b"abc", b""], pa.binary())))
    yield "string_view", stream(batch(sv=pa.array(["short", "a string longer than twelve bytes", None],
                                                  pa.string_view())))
    yield "dictionary", stream(batch(d=pa.array(["red", "green", None, "red"]).dictionary_encode()))
    yield "list", stream(batch(l=pa.array([[1, 2], [], None, [3]], pa.list_(pa.int32())),
                               fl=pa.array([[1, 2], None, [3, 4], [5, 6]], pa.list_(pa.int16(), 2))))
    yield "struct", stream(batch(st=pa.array([{"x": 1, "y": "a"}, None, {"x": None, "y": "b"}],
                                             pa.struct([("x", pa.int64()), ("y", pa.utf8())]))))
    yield "map", stream(batch(m=pa.array([[("k", 1)], [], None], pa.map_(pa.utf8(), pa.int32()))))
    yield "decimal", stream(batch(d=pa.array([decimal.Decimal("12.34"), None, decimal.Decimal("-0.01")],
                                             pa.decimal128(10, 2)),
                                  wide=pa.array([decimal.Decimal("1" * 40), None, None], pa.decimal256(50, 0))))
    yield "timestamp", stream(batch(
        ts=pa.array([datetime.datetime(2024, 2, 29, 12, 34, 56), None, datetime.datetime(1970, 1, 1)],
                    pa.timestamp("us")),
        tstz=pa.array([0, 1_700_000_000, None], pa.timestamp("s", tz="Europe/Lisbon")),
        day=pa.array([19782, None, 0], pa.date32()),
        t=pa.array([0, 86_399_999_999, None], pa.time64("us")),
        dur=pa.array([1, None, -5], pa.duration("ms"))))
    types = pa.array([0, 1, 0], pa.int8())
    offsets = pa.array([0, 0, 1], pa.int32())
    union = pa.UnionArray.from_dense(types, offsets, [pa.array([1, 2], pa.int64()), pa.array(["u"])], ["n", "s"])
    yield "dense_union", stream(pa.RecordBatch.from_arrays([union], names=["u"]))
    ree = pa.RunEndEncodedArray.from_arrays(pa.array([2, 3], pa.int32()), pa.array(["x", None]))
    yield "run_end_encoded", stream(pa.RecordBatch.from_arrays([ree], names=["r"]))
    yield "nulls", stream(batch(n=pa.nulls(3), i=pa.array([None, None, None], pa.int32())))
    empty = pa.schema([("a", pa.int64()), ("s", pa.utf8())])
    yield "empty_batch", stream(pa.RecordBatch.from_pylist([], schema=empty))
    yield "no_batches", stream(schema=empty)
    zero_columns = pa.RecordBatch.from_struct_array(pa.array([{}, {}, {}], pa.struct([])))
    yield "zero_columns", stream(zero_columns)
    yield "zstd", stream(ints, options=pa.ipc.IpcWriteOptions(compression="zstd"))
    yield "lz4", stream(ints, options=pa.ipc.IpcWriteOptions(compression="lz4"))

    # Known bad: offsets [0, 3, 1] go backwards, so the second string has length -2.
    bad_offsets = pa.Array.from_buffers(pa.utf8(), 2, [None, pa.py_buffer(pa.array([0, 3, 1], pa.int32()).buffers()[1]),
                                                       pa.py_buffer(b"abc")])
    yield "bad_utf8_offsets", stream(pa.RecordBatch.from_arrays([bad_offsets], names=["s"]))
    # Known bad: a dictionary index of 10^9 into a two-entry dictionary.
    bad_index = pa.DictionaryArray.from_arrays(pa.array([0, 1_000_000_000], pa.int32()), pa.array(["a", "b"]),
                                               safe=False)
    yield "bad_dictionary_index", stream(pa.RecordBatch.from_arrays([bad_index], names=["d"]))
    # A valid batch, then the bad one: the stream fails half-way.
    good = pa.RecordBatch.from_arrays([pa.array(["ok", "fine"])], names=["s"])
    yield "good_then_bad", stream(good, pa.RecordBatch.from_arrays([bad_offsets], names=["s"]))


def main():
    out = pathlib.Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    for name, data in seeds():
        (out / name).write_bytes(data)


if __name__ == "__main__":
    main()
