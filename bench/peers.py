"""Peers: other Flight SQL servers that the bench runs side by side with
Squadron, on the same data, through the same clients.

A peer is optional. It is installed on demand into a cache of its own
(~/.cache/squadron-bench, or $SQUADRON_BENCH_CACHE), never into the project's
virtualenv, so that a machine where it cannot be installed still bootstraps and
benchmarks Squadron; there the peer is skipped and the report says why. Each
peer runs as a plain process on loopback with free ports and a temporary
directory of its own, and is stopped by its PID.

    with peers.roapi(tables={"narrow": path, ...}, workdir=d) as uri:
        ...  # uri is grpc://127.0.0.1:PORT

or, for a run that keeps several services and stops them at the end:

    server = peers.start("roapi", tables, workdir, install=True)
    ...; server.stop()

Both raise peers.Unavailable(reason) when the peer cannot be installed or
started. To add a peer, write a start function like start_roapi and add it to
REGISTRY.
"""

import contextlib
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time

import services

# Pinned: a new release can change the numbers, so it is a deliberate change.
ROAPI_VERSION = "0.12.7"


class Unavailable(RuntimeError):
    """The peer cannot run here; str(e) is the reason for the report."""


def cache_dir():
    return pathlib.Path(os.environ.get("SQUADRON_BENCH_CACHE") or pathlib.Path.home() / ".cache/squadron-bench")


def _tail(text, limit=300):
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return (lines[-1] if lines else "no output")[-limit:]


def pip_binary(package, version, executable, install, timeout=900):
    """The path of `executable` from the wheel `package==version`, installed
    with pip --target into its own directory of the cache (once). With
    install=False only a cached copy is used. Raises Unavailable."""
    target = cache_dir() / f"{package}-{version}"
    binary = target / "bin" / executable
    if binary.is_file() and os.access(binary, os.X_OK):
        return binary
    if not install:
        raise Unavailable(f"{package} {version} is not in {cache_dir()} and this run installs nothing "
                          "(quick runs stay off the network; a full `bench/run` installs it)")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = pathlib.Path(tempfile.mkdtemp(prefix=f".{package}-", dir=target.parent))
    try:
        # --only-binary: a peer is a prebuilt server; never compile one here.
        result = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
             "--only-binary", ":all:", "--no-warn-script-location", "--target", str(staging),
             f"{package}=={version}"],
            capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise Unavailable(f"pip could not install {package}=={version}: {_tail(result.stderr)}")
        if not (staging / "bin" / executable).is_file():
            raise Unavailable(f"{package}=={version} installed no bin/{executable}")
        if target.exists():  # a half-made copy from an interrupted run
            shutil.rmtree(target)
        staging.rename(target)
    except subprocess.TimeoutExpired:
        raise Unavailable(f"pip install {package}=={version} took more than {timeout} s") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return binary


class PeerProcess:
    """A peer server process whose log (stdout and stderr) goes to a file; it
    is ready when a line of the log matches `ready` (group 1: host:port)."""

    def __init__(self, name, argv, ready, workdir, env=None, timeout=180):
        self.name = name
        self.workdir = pathlib.Path(workdir)
        self.log_path = self.workdir / f"{name}.log"
        self._log = open(self.log_path, "w")
        try:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
                                         cwd=self.workdir, env=env)
        except OSError as e:
            self._log.close()
            raise Unavailable(f"{name} did not start: {e}") from None
        pattern = re.compile(ready)
        deadline = time.monotonic() + timeout
        while True:
            match = pattern.search(self.log_path.read_text(errors="replace"))
            if match:
                self.uri = f"grpc://{match.group(1)}"
                return
            if self.proc.poll() is not None:
                self.stop()
                raise Unavailable(f"{name} exited with {self.proc.returncode} before it was ready: "
                                  f"{_tail(self.log_path.read_text(errors='replace'))}")
            if time.monotonic() > deadline:
                self.stop()
                raise Unavailable(f"{name} not ready after {timeout} s (log {self.log_path})")
            time.sleep(0.05)

    @property
    def pid(self):
        return self.proc.pid

    def stop(self):
        """SIGTERM to our own child by PID, then SIGKILL after 30 s."""
        services.terminate(self.proc)
        if not self._log.closed:
            self._log.close()


# --- roapi ------------------------------------------------------------------------

def roapi_binary(install):
    # The roapi wheel on the Python index is the Rust server's static binary
    # alone (roapi-X.data/scripts/roapi), for x86_64 Linux among others.
    return pip_binary("roapi", ROAPI_VERSION, "roapi", install)


def start_roapi(tables, workdir, install=True):
    """roapi (DataFusion) serving `tables` ({name: Parquet path}) over Flight
    SQL on a free loopback port, unauthenticated and read-only (its default
    with no config file). Its HTTP and PostgreSQL endpoints cannot be turned
    off; they get free loopback ports too."""
    binary = roapi_binary(install)
    argv = [str(binary), "--addr-flight-sql", "127.0.0.1:0", "--addr-http", "127.0.0.1:0",
            "--addr-postgres", "127.0.0.1:0"]
    for name, path in tables.items():
        path = pathlib.Path(path).resolve()
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) or "," in str(path) or "=" in str(path):
            raise Unavailable(f"roapi cannot take table {name}={path} on its command line")
        argv += ["--table", f"{name}={path}"]
    # roapi logs every statement at INFO; like Squadron's --log-level warn, keep
    # only warnings, plus the startup lines that say which ports it bound.
    env = dict(os.environ, RUST_LOG="warn,roapi::startup=info")
    server = PeerProcess("roapi", argv, r"Listening on (\S+) for FlightSQL traffic", workdir, env=env)
    server.version = ROAPI_VERSION
    server.description = f"roapi {ROAPI_VERSION} (DataFusion; the PyPI wheel's binary)"
    return server


# name -> start(tables, workdir, install) returning an object with .uri,
# .version, .description and .stop(), or raising Unavailable.
REGISTRY = {
    "roapi": start_roapi,
}


def start(name, tables, workdir, install=True):
    """Starts peer `name` on `tables` in a fresh temporary directory under
    `workdir`. Raises Unavailable."""
    if name not in REGISTRY:
        raise Unavailable(f"unknown peer '{name}'; known: {', '.join(REGISTRY)}")
    own = pathlib.Path(tempfile.mkdtemp(prefix=f"{name}-", dir=workdir))
    return REGISTRY[name](tables, own, install=install)


@contextlib.contextmanager
def running(name, tables, workdir, install=True):
    server = start(name, tables, workdir, install)
    try:
        yield server.uri
    finally:
        server.stop()


def roapi(tables, workdir, install=True):
    """with peers.roapi(tables={"narrow": path}, workdir=d) as uri: ..."""
    return running("roapi", tables, workdir, install)
