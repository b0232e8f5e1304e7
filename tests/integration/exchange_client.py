"""A reference driver and producer of the cluster exchange protocol, in pyarrow.flight.

Written from docs/exchange-protocol.md alone (it is the spec), independently
of the C++ producer in src/cluster/, so a disagreement shows up in the tests.
Every `uri` argument is a "grpc://host:port" string, a flight.Location, or an
open flight.FlightClient (then it is used and not closed).
"""

import base64
import collections
import concurrent.futures
import dataclasses
import hashlib
import hmac
import json
import math
import os
import subprocess
import sys
import tempfile
import time

import pyarrow as pa
import pyarrow.flight as flight

PUT_PREFIX = b"squadron.exchange.put:"
BEGIN = "squadron.exchange.begin"
COMPLETE = "squadron.exchange.complete"
FAIL = "squadron.exchange.fail"

FINGERPRINT_MESSAGE = b"squadron cluster fingerprint v1"
DRIVER_MESSAGE = b"squadron driver v1"
PRODUCER_PREFIX = b"squadron producer v1\n"

# CancelFlightInfoResult.status values (Flight.proto).
CANCEL_STATUS_CANCELLED = 1
CANCEL_STATUS_NOT_CANCELLABLE = 3


# --- credentials --------------------------------------------------------------

def _hmac_hex(secret, message):
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def credentials(secret: bytes):
    """{"fingerprint": ..., "driver": ...}: the cluster-wide credentials of secret S."""
    return {"fingerprint": _hmac_hex(secret, FINGERPRINT_MESSAGE),
            "driver": _hmac_hex(secret, DRIVER_MESSAGE)}


def producer_credential(secret: bytes, query_id: str):
    """The credential that opens only query `query_id` to its producers."""
    return _hmac_hex(secret, PRODUCER_PREFIX + query_id.encode())


# --- plumbing -----------------------------------------------------------------

class _Client:
    """Context manager: a FlightClient for `uri`, closed at exit unless given open."""

    def __init__(self, uri):
        self.given = isinstance(uri, flight.FlightClient)
        self.client = uri if self.given else flight.FlightClient(uri)

    def __enter__(self):
        return self.client

    def __exit__(self, *exc):
        if not self.given:
            self.client.close()


def _action(uri, action_type, body, options=None):
    """DoAction with a JSON body; the first result parsed as JSON, or None."""
    with _Client(uri) as client:
        action = flight.Action(action_type, json.dumps(body).encode())
        results = list(client.do_action(action, options=options))
    if not results:
        return None
    data = results[0].body.to_pybytes()
    return json.loads(data) if data else None


def _put_descriptor(query_id, partition, attempt, credential):
    body = {"query": query_id, "partition": partition, "attempt": attempt,
            "credential": credential}
    return flight.FlightDescriptor.for_command(PUT_PREFIX + json.dumps(body).encode())


def _batches(data):
    """A Table, one RecordBatch or an iterable of them, as a list of RecordBatches."""
    if isinstance(data, pa.Table):
        return data.to_batches()
    if isinstance(data, pa.RecordBatch):
        return [data]
    return list(data)


# --- driver: begin ------------------------------------------------------------

@dataclasses.dataclass
class Begun:
    """What squadron.exchange.begin answered."""
    query_id: str
    credential: str  # the producer credential of this query
    assignment: list  # [(partition, node, uri)], in the answer's order
    flight_info: flight.FlightInfo
    raw: dict

    def uri_of(self, partition):
        """The URI of the node that takes `partition`."""
        return next(uri for p, _, uri in self.assignment if p == partition)


def begin(uri, secret, schema, partitions, ordered=False, nodes=None, timeout_ms=None,
          description="", credential=None, options=None):
    """DoAction squadron.exchange.begin on `uri` (the coordinator) -> Begun.

    `credential` overrides the driver credential derived from `secret` (for
    tests of refusals)."""
    body = {"credential": credential or credentials(secret)["driver"],
            "schema": base64.b64encode(schema.serialize().to_pybytes()).decode(),
            "partitions": partitions, "ordered": ordered, "description": description}
    if nodes is not None:
        body["nodes"] = nodes
    if timeout_ms is not None:
        body["timeout_ms"] = timeout_ms
    raw = _action(uri, BEGIN, body, options)
    info = flight.FlightInfo.deserialize(base64.b64decode(raw["flight_info"]))
    assignment = [(a["partition"], a["node"], a["uri"]) for a in raw["assignment"]]
    return Begun(raw["query_id"], raw["credential"], assignment, info, raw)


# --- producer: push -----------------------------------------------------------

def push(uri, query_id, credential, partition, attempt, batches, commit=True,
         abort_reason=None, stop_after=None, break_stream=False, schema=None, options=None):
    """DoPut one attempt of a partition; returns the PutResult's JSON, or None.

    - commit=True: the batches, then {"commit": true}.
    - abort_reason (or stop_after=k: only the first k batches): then {"abort": reason}.
    - commit=False without abort_reason: the stream ends with no final message.
    - break_stream=True: a child process writes the batches (up to stop_after)
      and is SIGKILLed before any final message: a dying producer. Returns None.
    A refusal raises the server's status (a flight.FlightError subclass).
    """
    batches = _batches(batches)
    schema = schema or (batches[0].schema if batches else None)
    if schema is None:
        raise ValueError("push of no batches needs schema=")
    if stop_after is not None:
        batches = batches[:stop_after]
        abort_reason = abort_reason or f"stopped after {stop_after} batches"
    if break_stream:
        return _push_and_die(uri, query_id, credential, partition, attempt, batches, schema)
    final = None
    if abort_reason is not None:
        final = {"abort": abort_reason}
    elif commit:
        final = {"commit": True}
    with _Client(uri) as client:
        descriptor = _put_descriptor(query_id, partition, attempt, credential)
        writer, reader = client.do_put(descriptor, schema, options=options)
        try:
            for batch in batches:
                writer.write_batch(batch)
            if final is not None:
                writer.write_metadata(pa.py_buffer(json.dumps(final).encode()))
            writer.done_writing()
            result = reader.read()
        except (pa.ArrowException, flight.FlightError):
            writer.close()  # raises the server's status, which says more than a write error
            raise
        writer.close()
    return json.loads(result.to_pybytes()) if result is not None and result.size else None


def _push_and_die(uri, query_id, credential, partition, attempt, batches, schema):
    """Writes `batches` from a child process, then SIGKILLs it: the stream breaks."""
    if isinstance(uri, flight.FlightClient):
        raise ValueError("break_stream needs a URI, not an open client")
    with tempfile.NamedTemporaryFile(suffix=".arrows", delete=False) as f:
        with pa.ipc.new_stream(f, schema) as ipc:
            for batch in batches:
                ipc.write_batch(batch)
        path = f.name
    if isinstance(uri, flight.Location):
        uri = uri.uri.decode()
    args = json.dumps({"uri": uri, "query": query_id, "credential": credential,
                       "partition": partition, "attempt": attempt, "path": path})
    child = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--push-and-hang", args],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        line = child.stdout.readline()  # "written" once every batch was handed to gRPC
        if line.strip() != b"written":
            child.kill()
            _, err = child.communicate(timeout=10)
            raise RuntimeError(
                f"producer child failed before writing: {err.decode(errors='replace')}")
        time.sleep(0.1)  # let the last bytes reach the server
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()
        child.stdout.close()
        child.stderr.close()
        os.unlink(path)
    return None


def _push_and_hang_main(args):
    """The child of _push_and_die: writes the batches, says so, and waits to be killed."""
    a = json.loads(args)
    reader = pa.ipc.open_stream(a["path"])
    client = flight.FlightClient(a["uri"])
    descriptor = _put_descriptor(a["query"], a["partition"], a["attempt"], a["credential"])
    writer, _ = client.do_put(descriptor, reader.schema)
    for batch in reader:
        writer.write_batch(batch)
    sys.stdout.write("written\n")
    sys.stdout.flush()
    while True:
        time.sleep(60)


# --- driver: end --------------------------------------------------------------

def complete(uri, query_id, credential, committed, options=None):
    """DoAction squadron.exchange.complete; `committed` is [(partition, attempt)]."""
    body = {"query": query_id, "credential": credential,
            "committed": [{"partition": p, "attempt": a} for p, a in committed]}
    return _action(uri, COMPLETE, body, options)


def fail(uri, query_id, credential, reason, options=None, status=None):
    """DoAction squadron.exchange.fail: readers' streams end with `reason`
    (and the gRPC `status` given, if any)."""
    body = {"query": query_id, "credential": credential, "reason": reason}
    if status is not None:
        body["status"] = status
    return _action(uri, FAIL, body, options)


def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | 0x80 if n else b)
        if not n:
            return bytes(out)


def cancel(uri, flight_info, options=None):
    """The standard CancelFlightInfo action; returns CancelFlightInfoResult.status."""
    info = flight_info.serialize()
    request = _varint(1 << 3 | 2) + _varint(len(info)) + info  # CancelFlightInfoRequest.info
    with _Client(uri) as client:
        results = list(client.do_action(flight.Action("CancelFlightInfo", request),
                                        options=options))
    body = results[0].body.to_pybytes() if results else b""
    # CancelFlightInfoResult: field 1 (varint) status, one byte for the known values.
    return body[1] if len(body) >= 2 and body[0] == 0x08 else 0


# --- readers ------------------------------------------------------------------

def read_endpoint(endpoint, default_uri=None, options=None):
    """DoGet of endpoint.ticket at endpoint.locations[0] -> pyarrow.Table.

    `default_uri` is for an endpoint without a location (read where the info came from)."""
    uri = endpoint.locations[0] if endpoint.locations else default_uri
    with _Client(uri) as client:
        reader = client.do_get(endpoint.ticket, options=options)
        # Chunk by chunk, not read_all(): pyarrow's read_all turns a CANCELLED
        # status into a simulated SIGINT (KeyboardInterrupt in the main thread).
        batches = [chunk.data for chunk in reader]
        return pa.Table.from_batches(batches, schema=reader.schema)


def read_parallel(flight_info, default_uri=None, return_exceptions=False, options=None):
    """Reads every endpoint at once, one thread each -> [Table], in endpoint order.

    With return_exceptions=True a failed endpoint's slot holds its exception."""
    endpoints = list(flight_info.endpoints)
    if not endpoints:
        return []
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(endpoints)) as pool:
        futures = [pool.submit(read_endpoint, e, default_uri, options) for e in endpoints]
        if not return_exceptions:
            return [f.result() for f in futures]
        return [f.exception() or f.result() for f in futures]


# --- result checks ------------------------------------------------------------

def _freeze(value):
    """A hashable, NaN-stable form of a Python value from Table.to_pylist()."""
    if isinstance(value, float) and math.isnan(value):
        return ("<nan>",)
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    return value


def row_hashes(table):
    """Counter of per-row hashes: equal Counters mean no row lost and none duplicated.

    Accepts a Table, a RecordBatch or a list of them (e.g. read_parallel's)."""
    if isinstance(table, (list, tuple)):
        total = collections.Counter()
        for t in table:
            total += row_hashes(t)
        return total
    return collections.Counter(hash(_freeze(tuple(row.values()))) for row in table.to_pylist())


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "--push-and-hang":
    _push_and_hang_main(sys.argv[2])
