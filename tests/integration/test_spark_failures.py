"""`--engine spark` against a Spark Connect server of its own that demands a
token (spark.connect.authenticate.token), is killed mid-query and comes back:
the token is needed and sent, the client gets UNAVAILABLE within a bounded
time, and the node serves again once Spark is back."""

import secrets
import threading
import time

import pyarrow as pa
import pyarrow.flight as flight
import pytest

from conftest import BIN, ServerProcess, start_spark_connect, stop_spark_connect
from flightsql import descriptor, statement_query

SLOW = "SELECT sum(hash(id)) AS h FROM range(0, 200000000000, 1, 4000)"


@pytest.fixture(scope="module")
def guarded_spark(tmp_path_factory):
    work = tmp_path_factory.mktemp("spark-guarded")
    token = secrets.token_hex(16)
    spark = start_spark_connect(work, conf=[f"spark.connect.authenticate.token={token}"])
    state = {"spark": spark, "work": work, "token": token}
    yield state
    stop_spark_connect(state["spark"])


def query(uri, sql):
    client = flight.connect(uri)
    info = client.get_flight_info(descriptor(statement_query(sql)))
    return client.do_get(info.endpoints[0].ticket).read_all()


def test_without_the_token_the_server_refuses_to_start_and_says_why(guarded_spark, tmp_path):
    import subprocess
    run = subprocess.run([BIN, "serve", "--port", "0", "--engine", "spark", "--spark-connect",
                          str(guarded_spark["spark"]), "--spark-connect-timeout", "20s"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 1
    assert "refused the credentials" in run.stderr and "--spark-connect-token" in run.stderr
    # A wrong token is refused too, and never printed.
    (tmp_path / "token").write_text("wrong-token\n")
    run = subprocess.run([BIN, "serve", "--port", "0", "--engine", "spark", "--spark-connect",
                          str(guarded_spark["spark"]), "--spark-connect-token-file", str(tmp_path / "token")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 1 and "refused the credentials" in run.stderr
    assert "wrong-token" not in run.stderr


def test_spark_killed_mid_query_gives_unavailable_then_the_node_serves_again(guarded_spark, tmp_path):
    (tmp_path / "token").write_text(guarded_spark["token"] + "\n")
    server = ServerProcess(["--port", "0", "--engine", "spark", "--spark-connect", str(guarded_spark["spark"]),
                            "--spark-connect-token-file", str(tmp_path / "token")], tmp_path / "squadron.log")
    try:
        assert query(server.uri, "SELECT 40 + 2 AS answer").to_pylist() == [{"answer": 42}]
        assert guarded_spark["token"] not in server.log()

        client = flight.connect(server.uri)
        info = client.get_flight_info(descriptor(statement_query(SLOW)))
        reader = client.do_get(info.endpoints[0].ticket)
        outcome = {}

        def read():
            try:
                reader.read_chunk()
                outcome["error"] = None
            except Exception as e:  # the failure, checked below
                outcome["error"] = e
            outcome["at"] = time.monotonic()

        thread = threading.Thread(target=read)
        thread.start()
        time.sleep(2)
        killed_at = time.monotonic()
        stop_spark_connect(guarded_spark["spark"], kill=True)
        thread.join(timeout=120)
        assert not thread.is_alive(), "the client still waits, two minutes after Spark died"
        assert isinstance(outcome["error"], flight.FlightUnavailableError), outcome["error"]
        assert "Spark Connect at sc://127.0.0.1" in str(outcome["error"])
        assert outcome["at"] - killed_at < 60

        # While Spark is down, a new query is refused the same way, at once.
        with pytest.raises(flight.FlightUnavailableError, match="Spark Connect"):
            query(server.uri, "SELECT 1 AS one")

        # Spark comes back on the same port: the node serves again.
        port = int(str(guarded_spark["spark"]).rsplit(":", 1)[1].split("/")[0])
        guarded_spark["spark"] = start_spark_connect(
            guarded_spark["work"], port=port, conf=[f"spark.connect.authenticate.token={guarded_spark['token']}"])
        deadline = time.monotonic() + 60
        while True:
            try:
                assert query(server.uri, "SELECT 7 * 6 AS answer").to_pylist() == [{"answer": 42}]
                break
            except flight.FlightUnavailableError:
                assert time.monotonic() < deadline, "the node did not serve again after Spark came back"
                time.sleep(0.5)
        assert server.proc.poll() is None  # the node never died
    finally:
        server.stop()
