"""A real MIT Kerberos KDC for the Kerberos tests: its own realm in a temp dir.

`KDC(realm)` writes a kdc.conf and a krb5.conf, creates the database with
`kdb5_util create -s`, adds the principals with `kadmin.local`, exports the
service keytab, starts `/usr/sbin/krb5kdc -n` (not daemonized, stopped by PID)
on a free loopback port (TCP and UDP) and gets the users' tickets with `kinit`
into per-user credential caches. Everything (database, logs, caches, keytab,
the acceptors' replay cache) lives in the dir, removed by stop().

Nothing reads the system's /etc/krb5.conf or ticket caches: each process that
takes part gets its environment from env(): KRB5_CONFIG, KRB5_KDC_PROFILE,
KRB5CCNAME, KRB5RCACHEDIR. The test process's own environment is left alone;
negotiate_token() runs the python `gssapi` client in a subprocess.

The pytest fixture `kdc` (session scope) is at the bottom; conftest.py imports it.
"""

import atexit
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time

import pytest

from processes import stop_process

KRB5KDC = os.environ.get("KRB5KDC", "/usr/sbin/krb5kdc")
KDB5_UTIL = os.environ.get("KDB5_UTIL", "/usr/sbin/kdb5_util")
KADMIN_LOCAL = os.environ.get("KADMIN_LOCAL", "/usr/sbin/kadmin.local")
KINIT = os.environ.get("KINIT", "kinit")
HOST = "127.0.0.1"
READY_TIMEOUT_S = 20
# The service principal a client asking for `HTTP@localhost` (hostbased, as
# curl, requests-gssapi and most Negotiate clients do) gets a ticket for.
SERVICE = "HTTP/localhost"
# Users and their passwords.
USERS = {"alice": "alice-password", "bob": "bob-password"}
# A second service in the realm whose key is not in the service keytab.
OTHER_SERVICE = "squadron/localhost"

# KDCs started and not yet stopped: killed at interpreter exit, so a run that
# ends on an exception leaves no krb5kdc behind.
_LIVE = set()


@atexit.register
def _stop_leftovers():
    for kdc in list(_LIVE):
        kdc.stop()


def available():
    """None when a KDC can run here, else the reason (for pytest.skip)."""
    for tool in (KRB5KDC, KDB5_UTIL, KADMIN_LOCAL):
        if not os.access(tool, os.X_OK):
            return f"{tool} is not installed (Debian: krb5-kdc, krb5-admin-server)"
    if shutil.which(KINIT) is None:
        return f"{KINIT} is not installed (Debian: krb5-user)"
    return None


def _free_tcp_and_udp_port():
    """A loopback port free for both TCP and UDP a moment ago."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind((HOST, 0))
            port = tcp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind((HOST, port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no loopback port free for both TCP and UDP")


class KDC:
    """One realm and its KDC process. start() returns self; stop() removes everything."""

    def __init__(self, realm="SQUADRON.TEST", users=None, services=(SERVICE, OTHER_SERVICE)):
        self.realm = realm
        self.users = dict(USERS if users is None else users)
        self.services = list(services)
        self.dir = None
        self.port = None
        self.proc = None
        self._log = None

    # --- paths -------------------------------------------------------------------
    @property
    def krb5_conf(self):
        return self.dir / "krb5.conf"

    @property
    def kdc_conf(self):
        return self.dir / "kdc.conf"

    @property
    def keytab(self):
        """The keytab of the service principal SERVICE@realm (only that one)."""
        return self.dir / "service.keytab"

    @property
    def log_path(self):
        return self.dir / "krb5kdc.log"

    def principal(self, name):
        return f"{name}@{self.realm}"

    def ccache(self, user):
        return self.dir / f"ccache-{user}"

    # --- lifecycle ---------------------------------------------------------------
    def start(self):
        reason = available()
        if reason:
            raise RuntimeError(reason)
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="squadron-kdc-"))
        _LIVE.add(self)
        try:
            self.port = _free_tcp_and_udp_port()
            self._write_configs()
            self._run([KDB5_UTIL, "-r", self.realm, "create", "-s", "-P", "master-" + self.realm])
            self._create_principals()
            self._start_kdc()
            for user in self.users:
                self.kinit(user)
        except BaseException:
            log = self.log_tail()
            self.stop()
            if log:
                sys.stderr.write(f"krb5kdc log:\n{log}\n")
            raise
        return self

    def stop(self):
        """Stops krb5kdc by PID and removes the dir. Safe to call twice."""
        if self.proc is not None:
            stop_process(self.proc)
        self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None
        _LIVE.discard(self)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines=40):
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except (OSError, TypeError):
            return ""

    # --- environments ------------------------------------------------------------
    def env(self, user=None):
        """The environment of a process acting as `user` (its ticket cache), or,
        with no user, of a server (an empty ticket cache of its own). A copy of
        os.environ without any KRB5* variable of the caller, plus this realm's."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("KRB5")}
        env.update({
            "KRB5_CONFIG": str(self.krb5_conf),
            "KRB5_KDC_PROFILE": str(self.kdc_conf),
            "KRB5CCNAME": "FILE:" + str(self.ccache(user or "_server")),
            # The acceptor's replay cache (krb5_<uid>.rcache2) here, not in /var/tmp.
            "KRB5RCACHEDIR": str(self.dir),
        })
        return env

    def kinit(self, user, password=None):
        """Gets `user`'s ticket into its cache (ccache(user))."""
        password = self.users[user] if password is None else password
        self._run([KINIT, "-c", "FILE:" + str(self.ccache(user)), self.principal(user)],
                  input=password + "\n", env=self.env(user))

    def negotiate_token(self, user, service="HTTP@localhost"):
        """The base64 SPNEGO token `user` sends in `authorization: Negotiate`
        for `service`: hostbased `service@host`, or a principal when it has a
        `/` (`squadron/localhost`). Made by the python gssapi package in a
        subprocess with env(user), mutual authentication requested."""
        return self.negotiate_tokens(user, 1, service)[0]

    def negotiate_tokens(self, user, count, service="HTTP@localhost"):
        """`count` distinct tokens as negotiate_token makes, from one subprocess."""
        script = textwrap.dedent("""
            import base64, sys
            import gssapi
            service, count = sys.argv[1], int(sys.argv[2])
            kind = (gssapi.NameType.kerberos_principal if "/" in service
                    else gssapi.NameType.hostbased_service)
            spnego = gssapi.OID.from_int_seq("1.3.6.1.5.5.2")
            for _ in range(count):
                ctx = gssapi.SecurityContext(
                    name=gssapi.Name(service, kind), usage="initiate", mech=spnego,
                    flags=gssapi.RequirementFlag.mutual_authentication)
                print(base64.b64encode(ctx.step()).decode())
        """)
        done = subprocess.run([sys.executable, "-c", script, service, str(count)],
                              env=self.env(user), capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"gssapi client for {user} -> {service} failed:\n{done.stderr}")
        tokens = done.stdout.split()
        assert len(tokens) == count, done.stdout
        return tokens

    def start_client(self, user, service="HTTP@localhost"):
        """A client mid-handshake: .token is its base64 SPNEGO token;
        .finish(reply_base64) gives it the server's reply and returns whether
        the context completed with mutual authentication."""
        return _MutualClient(self.env(user), service)

    # --- setup -------------------------------------------------------------------
    def _write_configs(self):
        d = self.dir
        self.kdc_conf.write_text(textwrap.dedent(f"""\
            [kdcdefaults]
                kdc_listen = {HOST}:{self.port}
                kdc_tcp_listen = {HOST}:{self.port}

            [realms]
                {self.realm} = {{
                    database_name = {d}/principal
                    key_stash_file = {d}/stash
                    acl_file = {d}/kadm5.acl
                    kdc_listen = {HOST}:{self.port}
                    kdc_tcp_listen = {HOST}:{self.port}
                    max_life = 1h
                    max_renewable_life = 0
                    supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal
                }}

            [logging]
                kdc = FILE:{d}/krb5kdc.log
                admin_server = FILE:{d}/kadmin.log
                default = FILE:{d}/krb5lib.log
            """))
        (d / "kadm5.acl").write_text("")
        self.krb5_conf.write_text(textwrap.dedent(f"""\
            [libdefaults]
                default_realm = {self.realm}
                dns_lookup_kdc = false
                dns_lookup_realm = false
                dns_canonicalize_hostname = false
                rdns = false
                ignore_acceptor_hostname = false
                forwardable = false
                default_ccache_name = FILE:{d}/ccache-default
                default_keytab_name = FILE:{d}/default.keytab
                default_client_keytab_name = FILE:{d}/client.keytab

            [realms]
                {self.realm} = {{
                    kdc = {HOST}:{self.port}
                    kdc = tcp/{HOST}:{self.port}
                }}

            [domain_realm]
                localhost = {self.realm}
                127.0.0.1 = {self.realm}
            """))

    def _create_principals(self):
        commands = [f"addprinc -pw {pw} {user}" for user, pw in self.users.items()]
        commands += [f"addprinc -randkey {service}" for service in self.services]
        # -norandkey keeps the key the KDC has: tickets stay valid for this keytab.
        commands.append(f"ktadd -norandkey -k {self.keytab} {SERVICE}")
        self._run([KADMIN_LOCAL, "-r", self.realm], input="\n".join(commands) + "\nquit\n")
        if not self.keytab.exists():
            raise RuntimeError(f"kadmin.local did not write {self.keytab}")

    def export_keytab(self, path, *principals):
        """Writes the keys of `principals` (names without the realm) to a keytab at path."""
        commands = [f"ktadd -norandkey -k {path} {p}" for p in principals]
        self._run([KADMIN_LOCAL, "-r", self.realm], input="\n".join(commands) + "\nquit\n")
        return pathlib.Path(path)

    def _start_kdc(self):
        self._log = open(self.dir / "krb5kdc.stderr", "wb")
        self.proc = subprocess.Popen([KRB5KDC, "-n", "-r", self.realm], env=self.env(),
                                     stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT, cwd=self.dir)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"krb5kdc exited with {self.proc.returncode}: "
                                   f"{(self.dir / 'krb5kdc.stderr').read_text(errors='replace')}")
            try:
                with socket.create_connection((HOST, self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"krb5kdc not listening on {HOST}:{self.port} in {READY_TIMEOUT_S} s")

    def _run(self, command, input=None, env=None):
        done = subprocess.run(command, input=input, env=env or self.env(), cwd=self.dir,
                              capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(map(str, command))} failed ({done.returncode}):\n"
                               f"{done.stdout}{done.stderr}")
        return done.stdout


class _MutualClient:
    """The python gssapi initiator in a subprocess, kept alive between the
    token it sends and the reply it checks."""

    SCRIPT = textwrap.dedent("""
        import base64, sys
        import gssapi
        spnego = gssapi.OID.from_int_seq("1.3.6.1.5.5.2")
        ctx = gssapi.SecurityContext(
            name=gssapi.Name(sys.argv[1], gssapi.NameType.hostbased_service), usage="initiate",
            mech=spnego, flags=gssapi.RequirementFlag.mutual_authentication)
        print(base64.b64encode(ctx.step()).decode(), flush=True)
        reply = base64.b64decode(sys.stdin.readline().strip())
        try:
            ctx.step(reply)
            # (python-gssapi may raise a failed step's error here, at the next property.)
            mutual = bool(ctx.actual_flags & gssapi.RequirementFlag.mutual_authentication)
            print(f"complete={ctx.complete} mutual={mutual}")
        except gssapi.exceptions.GSSError as e:
            print("error", e)
    """)

    def __init__(self, env, service):
        self.proc = subprocess.Popen([sys.executable, "-c", self.SCRIPT, service], env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.token = self.proc.stdout.readline().strip()
        if not self.token:
            self.proc.kill()
            raise RuntimeError(f"gssapi client failed: {self.proc.communicate()[1]}")

    def finish(self, reply):
        """The client's verdict on the reply: 'complete=True mutual=True' or 'error ...'."""
        out, err = self.proc.communicate(reply + "\n", timeout=30)
        if self.proc.returncode != 0:
            raise RuntimeError(f"gssapi client failed: {err}")
        return out.strip()


@pytest.fixture(scope="session")
def kdc():
    """A KDC for realm SQUADRON.TEST: users alice and bob with tickets, the
    service HTTP/localhost in kdc.keytab (only that key). Skipped when krb5kdc is not installed."""
    reason = available()
    if reason:
        pytest.skip(reason)
    server = KDC().start()
    yield server
    server.stop()
