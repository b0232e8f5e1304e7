"""A real Apache ZooKeeper for the cluster tests: one server or a loopback ensemble.

Plain classes, no pytest fixtures: conftest.py decides the scope. Everything
runs from Debian's `zookeeper` package (/usr/share/java/zookeeper.jar) as a
child process on 127.0.0.1 with free ports and its own temp dir, and is
stopped by PID. The assertions' client is kazoo (pinned in
scripts/requirements.txt); see zk_client().
"""

import atexit
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import tempfile
import time

JAVA = os.environ.get("JAVA", "java")
CLASSPATH = os.environ.get(
    "ZOOKEEPER_CLASSPATH", "/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar")
# Small heap, fast JIT start: the server only holds a few znodes in tests.
JVM_FLAGS = ["-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
             "-Djava.net.preferIPv4Stack=true"]
STANDALONE_MAIN = "org.apache.zookeeper.server.ZooKeeperServerMain"
QUORUM_MAIN = "org.apache.zookeeper.server.quorum.QuorumPeerMain"
READY_TIMEOUT_S = 30
HOST = "127.0.0.1"

# Processes started and not yet reaped: killed at interpreter exit, so a test
# run that ends on an exception leaves no JVM behind.
_LIVE = set()


@atexit.register
def _kill_leftovers():
    for proc in list(_LIVE):
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _free_ports(n):
    """n distinct free ports."""
    ports = set()
    while len(ports) < n:
        ports.add(free_port())
    return sorted(ports)


def four_letter_word(port, word, timeout=1.0):
    """Sends a 4-letter command (ruok, srvr, mntr) and returns the reply, or "" on error."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as s:
            s.sendall(word.encode())
            s.shutdown(socket.SHUT_WR)
            chunks = []
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
            return b"".join(chunks).decode(errors="replace")
    except OSError:
        return ""


def server_mode(port):
    """The `Mode:` line of `srvr` (standalone, leader, follower), or None."""
    for line in four_letter_word(port, "srvr").splitlines():
        if line.startswith("Mode:"):
            return line.split(":", 1)[1].strip()
    return None


def zk_uri(connect_string, path):
    """The `zk://host:port,.../path` form that squadron's --cluster flag takes."""
    if not path.startswith("/"):
        path = "/" + path
    return "zk://" + connect_string + path


class ZooKeeperServer:
    """One ZooKeeper process. Standalone unless built by ZooKeeperEnsemble.

    The port and dataDir stay the same across kill()/restart(), so znodes
    survive a restart. The log (stdout+stderr of every run) is in the dir.
    """

    def __init__(self, tick_time=200, min_session_timeout=400, max_session_timeout=60000,
                 base_dir=None, client_port=None, server_id=None, peers=None):
        self._owns_dir = base_dir is None
        self.dir = pathlib.Path(base_dir or tempfile.mkdtemp(prefix="squadron-zk-"))
        self.dir.mkdir(parents=True, exist_ok=True)
        self.data_dir = self.dir / "data"
        self.data_dir.mkdir(exist_ok=True)
        self.port = client_port or free_port()
        self.server_id = server_id
        self.log_path = self.dir / "zookeeper.log"
        self.proc = None
        self.wanted = False  # started and not killed/stopped on purpose
        self._log = None
        lines = [
            f"tickTime={tick_time}",
            f"minSessionTimeout={min_session_timeout}",
            f"maxSessionTimeout={max_session_timeout}",
            f"dataDir={self.data_dir}",
            "admin.enableServer=false",
            "4lw.commands.whitelist=ruok,srvr,mntr,stat,cons,conf",
            "autopurge.purgeInterval=0",
        ]
        if peers is None:
            self._main = STANDALONE_MAIN
            lines += [f"clientPortAddress={HOST}", f"clientPort={self.port}"]
        else:
            # Quorum member: peers is {id: (peer_port, election_port, client_port)}.
            self._main = QUORUM_MAIN
            lines += ["initLimit=10", "syncLimit=5", "cnxTimeout=1000",
                      "standaloneEnabled=false", "reconfigEnabled=false"]
            for sid, (peer, election, client) in sorted(peers.items()):
                lines.append(f"server.{sid}={HOST}:{peer}:{election};{HOST}:{client}")
            (self.data_dir / "myid").write_text(f"{server_id}\n")
        self.config_path = self.dir / "zoo.cfg"
        self.config_path.write_text("\n".join(lines) + "\n")

    @property
    def connect_string(self):
        return f"{HOST}:{self.port}"

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self, wait=True):
        """Launches the process (appending to the log); waits for `imok` unless wait=False."""
        if self.alive():
            raise RuntimeError(f"ZooKeeper on port {self.port} is already running")
        self._close_log()
        self._log = open(self.log_path, "ab")
        self._log.write(f"=== starting {self._main} on port {self.port}\n".encode())
        self._log.flush()
        self.wanted = True
        self.proc = subprocess.Popen(
            [JAVA, *JVM_FLAGS, "-cp", CLASSPATH, self._main, str(self.config_path)],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            cwd=self.dir)
        _LIVE.add(self.proc)
        if wait:
            try:
                self.wait_ready()
            except BaseException:
                self.kill()  # keeps the dir: the log stays readable
                raise
        return self

    def ruok(self):
        return four_letter_word(self.port, "ruok", timeout=0.5).strip() == "imok"

    def answers_for_us(self):
        """The server on our port is this one (`conf` shows our dataDir), not
        another process that holds the port."""
        for line in four_letter_word(self.port, "conf", timeout=0.5).splitlines():
            if line.startswith("dataDir="):
                return line[len("dataDir="):].startswith(str(self.data_dir) + os.sep)
        return False

    def serving(self):
        """Ours answers `imok` and `srvr` shows a mode. (`imok` alone comes before
        the database is loaded, when requests still fail.)"""
        return (self.ruok() and self.answers_for_us()
                and self.mode() in ("standalone", "leader", "follower", "observer"))

    def wait_ready(self, timeout=READY_TIMEOUT_S):
        """Polls `ruok`/`srvr` until serving; RuntimeError with the log tail otherwise."""
        if self.proc is None:
            raise RuntimeError("ZooKeeper was not started")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(
                    f"ZooKeeper on port {self.port} exited with {self.proc.returncode}; "
                    f"log tail:\n{self.log_tail()}")
            if self.serving():
                return self
            time.sleep(0.1)
        raise RuntimeError(
            f"ZooKeeper on port {self.port} not ready in {timeout} s; log tail:\n{self.log_tail()}")

    def mode(self):
        """standalone, leader or follower (from `srvr`); None when not serving."""
        return server_mode(self.port)

    def kill(self):
        """SIGKILL, as a crash: no clean shutdown, sessions are not closed."""
        self.wanted = False
        if self.alive():
            self.proc.kill()
        if self.proc is not None:
            self.proc.wait()
            _LIVE.discard(self.proc)
        self._close_log()

    def restart(self, wait=True):
        """Kills the process if it runs, then starts it on the same port and dataDir."""
        self.kill()
        return self.start(wait=wait)

    def terminate(self):
        """Sends SIGTERM without waiting (stop() waits)."""
        self.wanted = False
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)

    def stop(self, timeout=10):
        """SIGTERM, SIGKILL after `timeout` s; removes the temp dir if this object made it."""
        self.terminate()
        if self.proc is not None:
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            _LIVE.discard(self.proc)
        self._close_log()
        if self._owns_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def log(self):
        """The whole log of every run, or "" once the dir is removed."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines=40):
        return "\n".join(self.log().splitlines()[-lines:])

    def _close_log(self):
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self):
        return self if self.alive() else self.start()

    def __exit__(self, *exc):
        self.stop()


class ZooKeeperEnsemble:
    """`size` QuorumPeerMain members on loopback, each with its own dataDir and myid."""

    def __init__(self, size=3, tick_time=200, min_session_timeout=400,
                 max_session_timeout=60000):
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="squadron-zk-ensemble-"))
        ports = _free_ports(3 * size)
        peers = {i + 1: tuple(ports[3 * i:3 * i + 3]) for i in range(size)}
        self.members = [
            ZooKeeperServer(tick_time, min_session_timeout, max_session_timeout,
                            base_dir=self.dir / f"member-{sid}", client_port=client,
                            server_id=sid, peers=peers)
            for sid, (_, _, client) in sorted(peers.items())]

    @property
    def connect_string(self):
        return ",".join(m.connect_string for m in self.members)

    def start(self):
        """Starts every member at once (they elect a leader together), then waits."""
        for m in self.members:
            m.start(wait=False)
        try:
            return self.wait_ready()
        except BaseException:
            for m in self.members:
                m.kill()
            raise

    def wait_ready(self, timeout=READY_TIMEOUT_S):
        """Every member not killed on purpose answers `imok` and is leader or
        follower, with one leader."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            live = [m for m in self.members if m.wanted]
            for m in live:
                if not m.alive():
                    raise RuntimeError(
                        f"ZooKeeper member {m.server_id} exited with {m.proc.returncode}; "
                        f"log tail:\n{m.log_tail()}")
            modes = [m.mode() for m in live if m.ruok() and m.answers_for_us()]
            if (len(modes) == len(live) and all(x in ("leader", "follower") for x in modes)
                    and modes.count("leader") == 1):
                return self
            time.sleep(0.1)
        tails = "\n".join(f"--- member {m.server_id} (mode {m.mode()}):\n{m.log_tail(20)}"
                          for m in self.members)
        raise RuntimeError(f"ZooKeeper ensemble not ready in {timeout} s:\n{tails}")

    def kill_member(self, i):
        """SIGKILL of member i (0-based index into .members)."""
        self.members[i].kill()

    def restart_member(self, i, wait=True):
        """Starts member i again (same ports, same dataDir) and waits for the ensemble."""
        self.members[i].restart(wait=False)
        return self.wait_ready() if wait else self

    def leader(self):
        """Index of the current leader, or None."""
        for i, m in enumerate(self.members):
            if m.alive() and m.mode() == "leader":
                return i
        return None

    def stop(self, timeout=10):
        """Stops every member (SIGTERM to all at once) and removes the dir."""
        for m in self.members:
            m.terminate()
        for m in self.members:
            m.stop(timeout)
        shutil.rmtree(self.dir, ignore_errors=True)

    def log(self):
        return "\n".join(f"=== member {m.server_id}\n{m.log()}" for m in self.members)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


# --- the test client (kazoo) -------------------------------------------------

def zk_client(connect_string, timeout=10.0, **kwargs):
    """A started kazoo.client.KazooClient; the caller stops and closes it."""
    from kazoo.client import KazooClient

    client = KazooClient(hosts=connect_string, timeout=timeout, **kwargs)
    client.start(timeout=timeout)
    return client


def children(client, path):
    """Sorted child names of `path`, or [] when it does not exist."""
    from kazoo.exceptions import NoNodeError

    try:
        return sorted(client.get_children(path))
    except NoNodeError:
        return []


def get(client, path):
    """The data of `path` as bytes, or None when it does not exist."""
    from kazoo.exceptions import NoNodeError

    try:
        return client.get(path)[0]
    except NoNodeError:
        return None


def expire_session(connect_string, session_id, password, timeout=10.0):
    """Expires a session whose id and password are known (e.g. another KazooClient's
    `client_id`): a second client joins it and closes it, the standard trick.

    A squadron node's password is unknown to the test; to expire its session,
    SIGSTOP the node for longer than the session timeout, or kill ZooKeeper.
    """
    other = zk_client(connect_string, timeout=timeout, client_id=(session_id, password))
    other.stop()
    other.close()


def ephemeral_owner(client, path):
    """The session id owning the ephemeral znode `path` (0 for a persistent one)."""
    return client.get(path)[1].ephemeralOwner
