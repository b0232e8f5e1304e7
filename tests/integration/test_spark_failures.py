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
        from test_sessions import Client
        session = Client(server.uri)  # a client session with its own settings
        assert session.set_options(timezone="Asia/Tokyo") == {}
        session.query("CREATE OR REPLACE TEMPORARY VIEW before_restart AS SELECT 1 AS x")

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
        # The client session's Spark session died with Spark: its first
        # statement says so, and the next runs in a new Spark session with the
        # client's settings applied again (its temporary view is gone).
        with pytest.raises(flight.FlightUnavailableError, match="restarted"):
            session.query("SELECT current_timezone() AS tz")
        assert session.query("SELECT current_timezone() AS tz").to_pylist() == [{"tz": "Asia/Tokyo"}]
        with pytest.raises(pa.ArrowInvalid, match="TABLE_OR_VIEW_NOT_FOUND"):
            session.query("SELECT * FROM before_restart")
        assert "event=spark_session_lost" in server.log()
    finally:
        server.stop()


# --- TLS: Spark Connect behind a TLS-terminating proxy ----------------------------------

TLS_PROXY = """
import asyncio, ssl, sys
cert, key, listen_port, target_port = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
context.set_alpn_protocols(["h2"])

async def pipe(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError):
        pass
    finally:
        writer.close()

async def handle(client_reader, client_writer):
    upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", target_port)
    await asyncio.gather(pipe(client_reader, upstream_writer), pipe(upstream_reader, client_writer))

async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", listen_port, ssl=context)
    print("proxy ready", flush=True)
    await server.serve_forever()

asyncio.run(main())
"""


def make_certificates(directory):
    """A CA of the test's own and a server certificate for localhost signed by it."""
    import subprocess
    run = lambda *args: subprocess.run(args, check=True, capture_output=True, cwd=directory)  # noqa: E731
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=squadron test CA",
        "-keyout", "ca.key", "-out", "ca.pem")
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", "server.key",
        "-out", "server.csr")
    (directory / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    run("openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-days", "1", "-extfile", "san.ext", "-out", "server.pem")
    return directory / "ca.pem", directory / "server.pem", directory / "server.key"


def test_tls_to_spark_connect(spark_connect, tmp_path):
    import subprocess
    import sys
    from conftest import free_port
    ca, cert, key = make_certificates(tmp_path)
    port = free_port()
    spark_port = int(str(spark_connect).rsplit(":", 1)[1].split("/")[0])
    proxy = subprocess.Popen([sys.executable, "-c", TLS_PROXY, str(cert), str(key), str(port), str(spark_port)],
                             stdout=subprocess.PIPE)
    try:
        assert proxy.stdout.readline() == b"proxy ready\n"
        endpoint = f"sc://localhost:{port}"
        server = ServerProcess(["--port", "0", "--engine", "spark", "--spark-connect", endpoint,
                                "--spark-connect-tls", "--spark-connect-ca", str(ca)], tmp_path / "squadron.log")
        try:
            assert query(server.uri, "SELECT 'over tls' AS how").to_pylist() == [{"how": "over tls"}]
            assert "tls=true" in server.log()
        finally:
            server.stop()
        # Without our CA the certificate is not trusted: refused, and said so.
        run = subprocess.run([BIN, "serve", "--port", "0", "--engine", "spark", "--spark-connect", endpoint,
                              "--spark-connect-tls", "--spark-connect-timeout", "5s"],
                             capture_output=True, text=True, timeout=120)
        assert run.returncode == 1 and f"Spark Connect at {endpoint}" in run.stderr
        # Plain text to a TLS port does not work either.
        run = subprocess.run([BIN, "serve", "--port", "0", "--engine", "spark", "--spark-connect", endpoint,
                              "--spark-connect-timeout", "5s"], capture_output=True, text=True, timeout=120)
        assert run.returncode == 1 and f"Spark Connect at {endpoint}" in run.stderr
    finally:
        proxy.kill()
        proxy.wait()
