"""The processes a benchmark run starts and always stops: Squadron, the raw
Flight server, PostgreSQL, and a network namespace with a bandwidth cap."""

import glob
import os
import pathlib
import pwd
import re
import shutil
import signal
import socket
import subprocess
import time


def unwinding_on_sigterm(run):
    """Calls `run()` with SIGTERM (e.g. a CI timeout) raising SystemExit, so
    that its finally blocks stop the services it started; restores the
    previous handler afterwards."""
    def terminate(signum, frame):
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        return run()
    finally:
        signal.signal(signal.SIGTERM, previous)


class ServiceError(RuntimeError):
    pass


class Section:
    """The part each section's runner shares: its name in the log and in the
    results' "skipped", and the services it started, stopped by stop_all()
    (the last started first) whatever happens."""

    name = None

    def __init__(self, bench):
        self.bench = bench
        self.quick = bench.quick
        self.stoppables = []

    def log(self, message):
        self.bench.log(f"{self.name}: {message}")

    def skip(self, reason):
        """Records why the section cannot run here; returns its result."""
        self.log(f"skipped: {reason}")
        self.bench.results["skipped"][self.name] = reason
        return {"skipped": reason}

    def stop_all(self):
        while self.stoppables:
            try:
                self.stoppables.pop().stop()
            except Exception:
                pass


class Closer:
    """A stoppable that calls `close` (a client, a session)."""

    def __init__(self, close):
        self.stop = close


# --- what a process used: /proc ----------------------------------------------------

def cpu_seconds(pid):
    """User + system CPU seconds of process `pid` (all its threads) so far, or
    nan when it is gone."""
    try:
        fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def machine_ticks():
    """(busy, total) jiffies of the whole machine so far (/proc/stat), softirq included."""
    fields = [int(x) for x in pathlib.Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def peak_rss_bytes(pid):
    """VmHWM: the peak resident set of `pid` since it started, or None."""
    try:
        for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def descendants(pid):
    """The pids of every process below `pid` (children, their children, ...)."""
    out, todo = [], [pid]
    while todo:
        parent = todo.pop()
        try:
            tasks = pathlib.Path(f"/proc/{parent}/task").iterdir()
            children = [int(c) for t in tasks for c in (t / "children").read_text().split()]
        except OSError:
            continue
        out += children
        todo += children
    return out


def terminate(proc, grace=30):
    """Stops our own child by PID: SIGTERM, then SIGKILL after `grace` s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Process:
    """A child process that announces readiness with a line on stdout or stderr."""

    def __init__(self, name, argv, ready_pattern, log_path, env=None, timeout=120):
        self.name = name
        self.log_path = pathlib.Path(log_path)
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self._log, text=True, env=env)
        deadline = time.monotonic() + timeout
        pattern = re.compile(ready_pattern)
        while True:
            line = self.proc.stdout.readline()
            if not line:
                self.stop()
                raise ServiceError(f"{name} exited before it was ready; log: {self.log_path}\n"
                                   + self.log_path.read_text()[-2000:])
            match = pattern.search(line)
            if match:
                self.uri = match.group(1)
                break
            if time.monotonic() > deadline:
                self.stop()
                raise ServiceError(f"{name} not ready after {timeout}s; log: {self.log_path}")

    @property
    def pid(self):
        return self.proc.pid

    def peak_rss_bytes(self):
        """VmHWM: the process's peak resident set since it started."""
        peak = peak_rss_bytes(self.pid)
        if peak is None:
            raise ServiceError("no VmHWM in /proc status")
        return peak

    def stop(self):
        terminate(self.proc)
        if self.proc.stdout:
            self.proc.stdout.close()
        self._log.close()


def start_squadron(binary, workdir, name, extra_args, host="127.0.0.1"):
    argv = [str(binary), "serve", "--host", host, "--port", "0", "--log-level", "warn", *extra_args]
    if host not in ("127.0.0.1", "::1", "localhost"):
        # A namespace's private address: the bench measures the unauthenticated path.
        argv.append("--allow-insecure")
    return Process(name, argv, r"squadron listening on (\S+)", pathlib.Path(workdir) / f"{name}.log")


def start_raw_flight(binary, workdir, datasets):
    argv = [str(binary)] + [f"{name}={path}" for name, path in datasets.items()]
    return Process("raw-flight", argv, r"raw flight listening on (\S+)", pathlib.Path(workdir) / "raw-flight.log")


class Postgres:
    """A throwaway PostgreSQL cluster on loopback, owned by the bench."""

    def __init__(self, workdir):
        bindir = self.find_bindir()
        self.datadir = pathlib.Path(workdir) / "pgdata"
        self.sockdir = pathlib.Path(workdir) / "pgsock"
        self.port = free_port()
        self.logfile = pathlib.Path(workdir) / "postgres.log"
        self.pg_ctl = str(pathlib.Path(bindir) / "pg_ctl")
        self.sockdir.mkdir()
        # PostgreSQL refuses to run as root; run it as the postgres user then.
        self.run_as = []
        if os.geteuid() == 0:
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError as e:
                raise ServiceError("running as root and there is no postgres user to run PostgreSQL as") from e
            self.run_as = ["runuser", "-u", "postgres", "--"]
            os.chmod(workdir, 0o755)
            os.chown(self.sockdir, pw.pw_uid, pw.pw_gid)
            self.logfile.touch()
            os.chown(self.logfile, pw.pw_uid, pw.pw_gid)
            self.datadir.mkdir(mode=0o700)
            os.chown(self.datadir, pw.pw_uid, pw.pw_gid)
        self.user = "postgres" if self.run_as else pwd.getpwuid(os.geteuid()).pw_name
        self._run([str(pathlib.Path(bindir) / "initdb"), "-D", str(self.datadir), "-A", "trust", "-U", self.user,
                   "--no-sync", "-E", "UTF8", "--locale=C"])
        options = (f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.sockdir} "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c shared_buffers=256MB "
                   "-c max_wal_size=4GB")
        self._run([self.pg_ctl, "-D", str(self.datadir), "-l", str(self.logfile), "-w", "-t", "60",
                   "-o", options, "start"])
        self.started = True

    @staticmethod
    def find_bindir():
        candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), reverse=True)
        preferred = [c for c in candidates if "/15/" in c]
        chosen = (preferred or candidates or [None])[0]
        if chosen is None:
            raise ServiceError("no PostgreSQL server found in /usr/lib/postgresql (scripts/bootstrap --bench installs "
                               "postgresql-15)")
        return str(pathlib.Path(chosen).parent)

    def _run(self, argv):
        result = subprocess.run(self.run_as + argv, capture_output=True, text=True)
        if result.returncode != 0:
            raise ServiceError(f"{' '.join(argv[:2])} failed: {result.stderr[-2000:]}")

    def conninfo(self):
        return f"host=127.0.0.1 port={self.port} user={self.user} dbname=postgres"

    def version(self):
        return subprocess.run([self.pg_ctl, "--version"], capture_output=True, text=True).stdout.strip()

    def stop(self):
        if getattr(self, "started", False):
            subprocess.run(self.run_as + [self.pg_ctl, "-D", str(self.datadir), "-m", "fast", "-w", "stop"],
                           capture_output=True)
            self.started = False


class CappedLink:
    """A network namespace joined to this one by a veth pair whose
    host-to-namespace direction is capped with tc's token bucket filter.
    Needs CAP_NET_ADMIN (root); raises ServiceError otherwise."""

    HOST_IP = "10.213.7.1"
    NS_IP = "10.213.7.2"

    def __init__(self, rate):
        tag = f"{os.getpid() % 100000}"
        self.ns = f"sqbench{tag}"
        self.host_if = f"sqb{tag}h"
        self.ns_if = f"sqb{tag}n"
        self.rate = rate
        self.created = False
        for tool in ("ip", "tc"):
            if shutil.which(tool) is None:
                raise ServiceError(f"'{tool}' not found (Debian package iproute2)")
        steps = [
            ["ip", "netns", "add", self.ns],
            ["ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if],
            ["ip", "link", "set", self.ns_if, "netns", self.ns],
            ["ip", "addr", "add", f"{self.HOST_IP}/24", "dev", self.host_if],
            ["ip", "link", "set", self.host_if, "up"],
            ["ip", "netns", "exec", self.ns, "ip", "addr", "add", f"{self.NS_IP}/24", "dev", self.ns_if],
            ["ip", "netns", "exec", self.ns, "ip", "link", "set", self.ns_if, "up"],
            ["ip", "netns", "exec", self.ns, "ip", "link", "set", "lo", "up"],
            ["ip", "netns", "exec", self.ns, "ping", "-c", "1", "-W", "2", self.HOST_IP]
            if shutil.which("ping") else ["ip", "netns", "exec", self.ns, "true"],
            ["tc", "qdisc", "add", "dev", self.host_if, "root", "tbf", "rate", rate, "burst", "1mb", "latency",
             "50ms"],
        ]
        self.created = True
        for step in steps:
            result = subprocess.run(step, capture_output=True, text=True)
            if result.returncode != 0:
                self.close()
                raise ServiceError(f"{' '.join(step)}: {result.stderr.strip()}")

    def exec_prefix(self):
        return ["ip", "netns", "exec", self.ns]

    def close(self):
        if self.created:
            subprocess.run(["ip", "link", "del", self.host_if], capture_output=True)
            subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)
            self.created = False

    stop = close  # like the other services

