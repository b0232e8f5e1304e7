"""The cluster tests' harness works: a real ZooKeeper (standalone and a 3-member
ensemble) and the reference exchange client (against a tiny in-test Flight node).

Needs no squadron binary; fast (a few seconds).
"""

import base64
import hashlib
import hmac
import json
import socket
import threading
import time

import pyarrow as pa
import pyarrow.flight as flight
import pytest

import exchange_client as ex
from zookeeper import (ZooKeeperEnsemble, ZooKeeperServer, children, expire_session,
                       ephemeral_owner, four_letter_word, free_port, get, zk_client, zk_uri)

SECRET = b"0123456789abcdef0123456789abcdef"


def wait_until(predicate, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def zk():
    server = ZooKeeperServer().start()
    yield server
    server.stop()


@pytest.fixture
def client(zk):
    c = zk_client(zk.connect_string)
    yield c
    c.stop()
    c.close()


# --- standalone ZooKeeper ------------------------------------------------------

def test_free_port_is_bindable():
    port = free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))


def test_standalone_answers_ruok(zk):
    assert four_letter_word(zk.port, "ruok") == "imok"
    assert zk.mode() == "standalone"
    assert zk.connect_string == f"127.0.0.1:{zk.port}"
    assert zk_uri(zk.connect_string, "/squadron") == f"zk://127.0.0.1:{zk.port}/squadron"
    assert zk_uri("a:1,b:2", "x") == "zk://a:1,b:2/x"


def test_client_helpers(client):
    client.create("/helpers/b", b"2", makepath=True)
    client.create("/helpers/a", b"1")
    assert children(client, "/helpers") == ["a", "b"]
    assert get(client, "/helpers/a") == b"1"
    assert children(client, "/missing") == []
    assert get(client, "/missing") is None


def test_kill_and_restart_keeps_port_and_data(zk):
    c = zk_client(zk.connect_string)
    c.create("/survives", b"before the crash")
    c.stop()
    c.close()
    port, pid = zk.port, zk.pid
    zk.kill()
    assert not zk.alive() and not zk.ruok()
    zk.restart()
    assert zk.port == port and zk.pid != pid and zk.ruok()
    c = zk_client(zk.connect_string)
    try:
        assert get(c, "/survives") == b"before the crash"
    finally:
        c.stop()
        c.close()
    assert "=== starting" in zk.log()


def test_expire_session_drops_ephemerals(zk, client):
    owner = zk_client(zk.connect_string)
    try:
        owner.create("/ephemeral", b"", ephemeral=True)
        session_id, password = owner.client_id
        assert ephemeral_owner(client, "/ephemeral") == session_id
        expire_session(zk.connect_string, session_id, password)
        wait_until(lambda: client.exists("/ephemeral") is None, what="ephemeral gone")
    finally:
        owner.stop()
        owner.close()


def test_start_failure_raises_with_log_tail(zk):
    taken = ZooKeeperServer(client_port=zk.port)  # the port is in use
    try:
        with pytest.raises(RuntimeError, match="exited") as info:
            taken.start()
        assert "Address already in use" in str(info.value)
    finally:
        directory = taken.dir
        taken.stop()
    assert not directory.exists()


# --- ensemble --------------------------------------------------------------------

def test_ensemble_serves_with_one_member_killed():
    ensemble = ZooKeeperEnsemble(3).start()
    c = None
    try:
        assert len(ensemble.connect_string.split(",")) == 3
        modes = sorted(m.mode() for m in ensemble.members)
        assert modes == ["follower", "follower", "leader"]
        c = zk_client(ensemble.connect_string)
        c.create("/quorum", b"1")

        killed = ensemble.leader()  # the hardest member to lose
        ensemble.kill_member(killed)
        ensemble.wait_ready()
        assert ensemble.leader() not in (None, killed)
        c.retry(c.set, "/quorum", b"2")
        assert c.retry(c.get, "/quorum")[0] == b"2"

        ensemble.restart_member(killed)
        assert ensemble.members[killed].mode() in ("leader", "follower")
        direct = zk_client(ensemble.members[killed].connect_string)
        try:
            direct.sync("/quorum")
            assert get(direct, "/quorum") == b"2"
        finally:
            direct.stop()
            direct.close()
    finally:
        if c is not None:
            c.stop()
            c.close()
        ensemble.stop()
    assert not ensemble.dir.exists()
    assert all(not m.alive() for m in ensemble.members)


# --- exchange client: credentials -------------------------------------------------

def test_credentials_are_hmac_sha256_hex():
    def mac(message):
        return hmac.new(SECRET, message, hashlib.sha256).hexdigest()

    creds = ex.credentials(SECRET)
    assert creds["fingerprint"] == mac(b"squadron cluster fingerprint v1")
    assert creds["driver"] == mac(b"squadron driver v1")
    assert ex.producer_credential(SECRET, "q-42") == mac(b"squadron producer v1\nq-42")
    assert len(creds["driver"]) == 64 and creds["driver"] == creds["driver"].lower()
    assert len({creds["fingerprint"], creds["driver"], ex.producer_credential(SECRET, "q-42"),
                ex.producer_credential(SECRET, "q-43")}) == 4
    assert ex.credentials(b"another secret")["driver"] != creds["driver"]


def test_credentials_known_values():
    # From `printf '%s' MESSAGE | openssl dgst -sha256 -hmac 0123456789abcdef0123456789abcdef`,
    # pinned so the C++ side's tests can check against the same values.
    assert ex.credentials(SECRET) == {
        "fingerprint": "8df39867cef9d0337b16b86c5fe4369d065bd114d450fc20e8a7408ae8e8d0ae",
        "driver": "88fc31b76058f52f39057c6ebe831fd9158409f73078999a87897e2329486c60"}
    assert ex.producer_credential(SECRET, "q-42") == (
        "61988c4564de0df85d0f1b8354a3995166739751f17071d5bbb5e4ce83194f08")


def test_row_hashes_count_duplicates_and_losses():
    t = pa.table({"a": [1, 2, 2, None], "b": ["x", "y", "y", None],
                  "f": [float("nan"), 1.0, 1.0, 0.0]})
    h = ex.row_hashes(t)
    assert sum(h.values()) == 4 and len(h) == 3
    assert ex.row_hashes(t) == ex.row_hashes([t.slice(0, 1), t.slice(1)])
    assert ex.row_hashes(t) != ex.row_hashes(t.slice(1))
    nested = pa.table({"l": [[1, 2], [1, 2]], "s": [{"k": 1}, {"k": 1}]})
    assert list(ex.row_hashes(nested).values()) == [2]


# --- exchange client: against a tiny in-test node ----------------------------------

class FakeNode(flight.FlightServerBase):
    """Just enough of the spec to check the client's messages: one query, one node."""

    QUERY = "q-test"

    def __init__(self):
        super().__init__("grpc://127.0.0.1:0")
        self.uri = f"grpc://127.0.0.1:{self.port}"
        self.attempts = {}  # (partition, attempt) -> {"batches", "rows", "final"}
        self.committed = {}  # partition -> table
        self.actions = []
        self.changed = threading.Condition()

    def _check(self, credential, expected):
        if credential != expected:
            raise flight.FlightUnauthenticatedError("wrong credential")

    def do_action(self, context, action):
        body = json.loads(action.body.to_pybytes())
        self.actions.append((action.type, body))
        if action.type == ex.BEGIN:
            self._check(body["credential"], ex.credentials(SECRET)["driver"])
            self.schema = pa.ipc.read_schema(pa.py_buffer(base64.b64decode(body["schema"])))
            endpoint = flight.FlightEndpoint(self.QUERY.encode(), [self.uri])
            info = flight.FlightInfo(self.schema, flight.FlightDescriptor.for_command(b""),
                                     [endpoint], -1, -1, ordered=body["ordered"])
            yield json.dumps({
                "query_id": self.QUERY,
                "credential": ex.producer_credential(SECRET, self.QUERY),
                "assignment": [{"partition": p, "node": "n1", "uri": self.uri}
                               for p in range(body["partitions"])],
                "flight_info": base64.b64encode(info.serialize()).decode()}).encode()
        else:
            self._check(body["credential"], ex.producer_credential(SECRET, self.QUERY))
            yield json.dumps({"ok": True}).encode()

    def do_put(self, context, descriptor, reader, writer):
        assert descriptor.command.startswith(ex.PUT_PREFIX)
        head = json.loads(descriptor.command[len(ex.PUT_PREFIX):])
        self._check(head["credential"], ex.producer_credential(SECRET, head["query"]))
        key = (head["partition"], head["attempt"])
        state = {"batches": [], "final": None, "ended": False}
        self.attempts[key] = state
        try:
            while True:
                chunk = reader.read_chunk()
                if chunk.data is not None:
                    state["batches"].append(chunk.data)
                if chunk.app_metadata is not None:
                    assert chunk.data is None, "the final message must be metadata-only"
                    state["final"] = json.loads(chunk.app_metadata.to_pybytes())
        except StopIteration:
            pass
        finally:
            with self.changed:
                state["ended"] = True
                self.changed.notify_all()
        rows = sum(b.num_rows for b in state["batches"])
        committed = bool(state["final"] and state["final"].get("commit"))
        if committed:
            self.committed[key[0]] = pa.Table.from_batches(state["batches"], reader.schema)
        if state["final"] is not None:
            writer.write(pa.py_buffer(json.dumps(
                {"partition": key[0], "attempt": key[1], "rows": rows,
                 "committed": committed}).encode()))

    def do_get(self, context, ticket):
        assert ticket.ticket == self.QUERY.encode()
        tables = [self.committed[p] for p in sorted(self.committed)]
        return flight.RecordBatchStream(pa.concat_tables(tables) if tables else
                                        self.schema.empty_table())

    def wait_ended(self, key, timeout=10):
        with self.changed:
            assert self.changed.wait_for(
                lambda: key in self.attempts and self.attempts[key]["ended"], timeout)
        return self.attempts[key]


@pytest.fixture
def node():
    server = FakeNode()
    yield server
    server.shutdown()


def batch(start, n=3):
    return pa.record_batch({"x": pa.array(range(start, start + n), pa.int64())})


def test_exchange_client_round_trip(node):
    schema = batch(0).schema
    begun = ex.begin(node.uri, SECRET, schema, partitions=2, ordered=True, nodes=1,
                     timeout_ms=5000, description="harness")
    assert begun.query_id == FakeNode.QUERY
    assert begun.credential == ex.producer_credential(SECRET, FakeNode.QUERY)
    assert begun.assignment == [(0, "n1", node.uri), (1, "n1", node.uri)]
    assert begun.uri_of(1) == node.uri
    assert isinstance(begun.flight_info, flight.FlightInfo) and begun.flight_info.ordered
    assert begun.flight_info.schema == schema
    sent = node.actions[0][1]
    assert (sent["partitions"], sent["ordered"], sent["nodes"], sent["timeout_ms"],
            sent["description"]) == (2, True, 1, 5000, "harness")

    result = ex.push(node.uri, begun.query_id, begun.credential, 0, 0, [batch(0), batch(3)])
    assert result == {"partition": 0, "attempt": 0, "rows": 6, "committed": True}
    result = ex.push(node.uri, begun.query_id, begun.credential, 1, 1,
                     pa.Table.from_batches([batch(6), batch(9)]), stop_after=1)
    assert result["committed"] is False and result["rows"] == 3
    assert node.attempts[(1, 1)]["final"] == {"abort": "stopped after 1 batches"}
    result = ex.push(node.uri, begun.query_id, begun.credential, 1, 2, [batch(6)],
                     abort_reason="speculation lost")
    assert node.attempts[(1, 2)]["final"] == {"abort": "speculation lost"}
    assert ex.push(node.uri, begun.query_id, begun.credential, 1, 3, [batch(6)],
                   commit=False) is None
    assert node.attempts[(1, 3)]["final"] is None
    ex.push(node.uri, begun.query_id, begun.credential, 1, 4, [batch(6)])

    assert ex.complete(node.uri, begun.query_id, begun.credential, [(0, 0), (1, 4)]) == {"ok": True}
    assert node.actions[-1] == (ex.COMPLETE, {
        "query": FakeNode.QUERY, "credential": begun.credential,
        "committed": [{"partition": 0, "attempt": 0}, {"partition": 1, "attempt": 4}]})
    assert ex.fail(node.uri, begun.query_id, begun.credential, "why") == {"ok": True}
    assert node.actions[-1][1]["reason"] == "why"

    tables = ex.read_parallel(begun.flight_info)
    assert len(tables) == 1
    expected = pa.Table.from_batches([batch(0), batch(3), batch(6)])
    assert ex.row_hashes(tables) == ex.row_hashes(expected)
    assert ex.read_endpoint(begun.flight_info.endpoints[0]).equals(expected)


def test_exchange_client_refusals_raise_the_status(node):
    with pytest.raises(flight.FlightUnauthenticatedError):
        ex.begin(node.uri, b"wrong secret", batch(0).schema, partitions=1)
    with pytest.raises(flight.FlightUnauthenticatedError):
        ex.push(node.uri, FakeNode.QUERY, "0" * 64, 0, 0, [batch(0)])
    with pytest.raises(flight.FlightUnauthenticatedError):
        ex.fail(node.uri, FakeNode.QUERY, ex.credentials(SECRET)["driver"], "driver ≠ producer")
    outcomes = ex.read_parallel(
        flight.FlightInfo(batch(0).schema, flight.FlightDescriptor.for_command(b""),
                          [flight.FlightEndpoint(b"bad ticket", [node.uri])], -1, -1),
        return_exceptions=True)
    assert isinstance(outcomes[0], Exception)


def test_exchange_client_break_stream_kills_the_producer(node):
    credential = ex.producer_credential(SECRET, FakeNode.QUERY)
    assert ex.push(node.uri, FakeNode.QUERY, credential, 0, 7,
                   [batch(0), batch(3), batch(6)], stop_after=2, break_stream=True) is None
    state = node.wait_ended((0, 7))
    assert state["final"] is None
    assert len(state["batches"]) <= 2
    assert 0 not in node.committed
