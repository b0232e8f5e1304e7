"""Starts the real `squadron serve` binary on port 0 for the integration tests."""

import os
import pathlib
import select
import signal
import subprocess
import time

import pytest

from processes import stop_process

from kdc import kdc  # noqa: F401 (the Kerberos KDC fixture, tests/integration/kdc.py)
from ldap_server import ldap_server  # noqa: F401 (the slapd fixture, tests/integration/ldap_server.py)

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = os.environ.get("SQUADRON_BIN", str(ROOT / "build" / "squadron"))
READY_PREFIX = "squadron listening on "
START_TIMEOUT_S = 60


class ServerProcess:
    """One running `squadron serve`; stdout carries only the ready line."""

    def __init__(self, args, log_path, env=None, cwd=None, command=None):
        self.log_path = log_path
        self._log = open(log_path, "wb")
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.proc = subprocess.Popen(
            command or [BIN, "serve", *args],
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=full_env,
            cwd=cwd,
        )
        self.uri = self._wait_ready()

    def _read_line(self, deadline):
        line = b""
        while not line.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            ready, _, _ = select.select([self.proc.stdout], [], [], remaining)
            if ready:
                chunk = os.read(self.proc.stdout.fileno(), 1)
                if not chunk:
                    break
                line += chunk
        return line.decode()

    def _wait_ready(self):
        """Reads stdout up to the ready line (wrappers may print a banner first)."""
        deadline = time.monotonic() + START_TIMEOUT_S
        text = self._read_line(deadline)
        while text.endswith("\n") and not text.startswith(READY_PREFIX):
            text = self._read_line(deadline)
        if not text.startswith(READY_PREFIX):
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError(
                f"squadron did not start (exit {self.proc.returncode}); stdout={text!r}; "
                f"log:\n{self.log()}"
            )
        return text[len(READY_PREFIX):].strip()

    @property
    def pid(self):
        return self.proc.pid

    def log(self):
        return pathlib.Path(self.log_path).read_text(errors="replace")

    def status(self, field):
        """A field of /proc/<pid>/status in KiB, e.g. VmHWM (peak RSS) or VmRSS."""
        for line in pathlib.Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise KeyError(field)

    def stop(self, sig=signal.SIGTERM, timeout=60):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self._log.close()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


@pytest.fixture
def start_server(tmp_path):
    """Factory: start_server(*args, env=None) -> ServerProcess, stopped after the test."""
    started = []

    def start(*args, env=None, cwd=None, command=None):
        server = ServerProcess(list(args), tmp_path / f"squadron-{len(started)}.log", env, cwd,
                               command)
        started.append(server)
        return server

    yield start
    for server in started:
        server.kill()


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """A server shared by the tests that only need an ordinary one."""
    proc = ServerProcess(["--port", "0"], tmp_path_factory.mktemp("shared") / "squadron.log")
    yield proc
    code = proc.stop()
    assert code == 0, proc.log()


@pytest.fixture(scope="session")
def zookeeper():
    """One standalone ZooKeeper on loopback for the whole session (it starts in
    about a second); each test uses its own root path in it."""
    from zookeeper import ZooKeeperServer

    server = ZooKeeperServer()
    server.start()
    yield server
    server.stop()


def free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SparkEndpoint(str):
    """A Spark Connect server's sc:// endpoint, with what tests need besides:
    `ui` (the REST API of Spark's UI, for jobs) and `proc`."""
    ui = None
    proc = None


def start_spark_connect(work, port=None, conf=(), master=None, env=None):
    """Starts scripts/spark-connect (local[2]) in `work`, with extra `conf`
    (key=value strings) and Spark's UI on a free port; waits until it listens.
    Returns a SparkEndpoint; stop it with stop_spark_connect."""
    port = port or free_port()
    ui_port = free_port()
    extra = ["--conf", "spark.ui.enabled=true", "--conf", f"spark.ui.port={ui_port}"]
    for item in conf:
        extra += ["--conf", item]
    log = open(work / "spark.log", "ab")
    proc = subprocess.Popen([str(ROOT / "scripts" / "spark-connect"), "--port", str(port), "--warehouse",
                             str(work / "warehouse"), *(["--master", master] if master else []), "--", *extra],
                            stdout=subprocess.PIPE, stderr=log, cwd=work, env={**os.environ, **(env or {})})
    log.close()
    deadline = time.monotonic() + 180
    line = b""
    while time.monotonic() < deadline and not line.startswith(b"spark connect listening"):
        ready, _, _ = select.select([proc.stdout], [], [], 1)
        if ready:
            line = proc.stdout.readline()
            if not line:
                break
    if not line.startswith(b"spark connect listening"):
        proc.kill()
        proc.wait()
        raise RuntimeError(f"Spark Connect did not start; log:\n{(work / 'spark.log').read_text()[-4000:]}")
    endpoint = SparkEndpoint(line.decode().split()[-1])
    endpoint.ui = f"http://127.0.0.1:{ui_port}"
    endpoint.proc = proc
    return endpoint


def spark_ui_json(url, timeout=60):
    """GET a Spark UI REST URL as JSON. The UI shares two busy cores with
    Spark's own work and can miss a 10 s read now and then: a timed-out or
    refused request is retried until `timeout`, then raised."""
    import json
    import urllib.error
    import urllib.request
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                return json.load(r)
        except (TimeoutError, ConnectionError, urllib.error.URLError):
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.5)


def spark_app_id(endpoint):
    """The application id of a Spark Connect server, from its UI's REST API."""
    return spark_ui_json(f"{endpoint.ui}/api/v1/applications")[0]["id"]


def running_jobs(endpoint):
    """The Spark jobs running now, from Spark's own REST API."""
    return spark_ui_json(f"{endpoint.ui}/api/v1/applications/{spark_app_id(endpoint)}/jobs?status=running")


def wait_until(predicate, what, timeout=60):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def stop_spark_connect(endpoint, kill=False):
    proc = endpoint.proc
    if kill:
        # The whole process group would be cleaner, but spark-submit's JVM is
        # the script's child: kill it too.
        subprocess.run(["pkill", "-9", "-P", str(proc.pid)], check=False)
        proc.kill()
    else:
        proc.terminate()
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class SparkStandalone:
    """A Spark standalone cluster from the pyspark wheel: a master on
    127.0.0.1 and workers on 127.0.0.2, 127.0.0.3, ... (distinct loopback
    addresses, so Spark sees distinct hosts: it never runs a speculative copy
    of a task on a host that runs the task already, which rules speculation
    out on local-cluster). Each worker keeps its executors' logs in its own
    directory under `work`."""

    def __init__(self, work, workers=2, cores=1, memory="1g"):
        import pyspark
        spark_home = os.path.dirname(pyspark.__file__)
        env = {**os.environ, "SPARK_HOME": spark_home}
        env.pop("SPARK_CONNECT_MODE_ENABLED", None)  # left by pyspark's remote sessions
        spark_class = os.path.join(spark_home, "bin", "spark-class")
        self.work = work
        self.procs = []
        port = free_port()
        self.url = f"spark://127.0.0.1:{port}"
        self.worker_dirs = []
        try:
            self._start([spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                         "--port", str(port), "--webui-port", str(free_port())], "master", env)
            self._wait_listening("127.0.0.1", port, work / "master.log")
            for i in range(workers):
                directory = work / f"worker{i}"
                directory.mkdir()
                self.worker_dirs.append(directory)
                self._start([spark_class, "org.apache.spark.deploy.worker.Worker", "--host", f"127.0.0.{2 + i}",
                             "--cores", str(cores), "--memory", memory, "--webui-port", "0",
                             "--work-dir", str(directory), self.url], f"worker{i}", env)
            deadline = time.monotonic() + 120
            while sum("Successfully registered with master" in (work / f"worker{i}.log").read_text(errors="replace")
                      for i in range(workers)) < workers:
                if time.monotonic() > deadline:
                    raise RuntimeError("Spark workers did not register; master log:\n"
                                       + (work / "master.log").read_text(errors="replace")[-3000:])
                time.sleep(0.3)
        except BaseException:
            self.stop()
            raise

    def _start(self, argv, name, env):
        with open(self.work / f"{name}.log", "ab") as log:
            self.procs.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=self.work, env=env))

    def _wait_listening(self, host, port, log, timeout=120):
        import socket
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection((host, port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline or self.procs[-1].poll() is not None:
                    raise RuntimeError(f"Spark master did not start; log:\n{log.read_text(errors='replace')[-3000:]}")
                time.sleep(0.3)

    def executor_logs(self):
        """Every executor's stderr, from every worker."""
        import glob
        return "".join(open(p, errors="replace").read()
                       for d in self.worker_dirs for p in glob.glob(str(d / "*" / "*" / "stderr")))

    def stop(self):
        # Workers first (they stop their executors), then the master.
        for proc in reversed(self.procs):
            stop_process(proc, timeout=30)


@pytest.fixture(scope="session")
def spark_connect(tmp_path_factory):
    """One Spark Connect server (scripts/spark-connect, local[2]) for the whole
    session: Spark takes 10-30 s to start. Yields its sc:// endpoint (a
    SparkEndpoint: also .ui, Spark's UI for its REST API)."""
    # Spark ends a result stream after this many bytes and the client must
    # reattach (ReattachExecute): small, so every long result does, many times.
    endpoint = start_spark_connect(tmp_path_factory.mktemp("spark"),
                                   conf=["spark.connect.execute.reattachable.senderMaxStreamSize=4m"])
    yield endpoint
    stop_spark_connect(endpoint)


@pytest.fixture(scope="session")
def pyspark_session(spark_connect):
    """pyspark's own Spark Connect client on the session's server: the
    reference Spark results are compared with (toArrow())."""
    from pyspark.sql import SparkSession

    spark = SparkSession.builder.remote(str(spark_connect)).create()  # its own, never shared with others
    yield spark
    spark.stop()


@pytest.fixture(scope="module")
def spark_server(spark_connect, tmp_path_factory):
    """A Squadron node with --engine spark on the session's Spark Connect
    server, for the tests of one module."""
    server = ServerProcess(["--port", "0", "--engine", "spark", "--spark-connect", spark_connect],
                           tmp_path_factory.mktemp("spark-node") / "squadron.log")
    yield server
    server.stop()
