"""A real OpenLDAP slapd for the LDAP authentication tests.

LdapServer starts Debian's /usr/sbin/slapd as a plain child process on
127.0.0.1, listening on ldap:// and ldaps:// (free ports), with a slapd.conf
it writes (mdb backend), a CA and a server certificate made with the `openssl`
CLI, and a small directory loaded with slapadd before the start. Everything
lives in its own temp dir, removed by stop(); the process is stopped by PID.

The directory (suffix dc=example,dc=org; every password is in USERS):

  ou=people     alice, bob, carol, dave, erin, frank
    ou=contractors  frank again (same uid: an ambiguous user)
  ou=services   cn=squadron (the service account; SERVICE_PASSWORD)
  ou=groups     groupOfNames analysts (alice, carol), engineers (bob),
                admins (carol); posixGroup auditors (memberUid erin)

dave is in no group. Only the service account may search; anyone may bind
(`auth` on userPassword); users read nothing. A bind with a DN and an empty
password succeeds (anonymously), as on many real servers.

The session fixture `ldap_server` is here; conftest.py imports it.
"""

import atexit
import base64
import hashlib
import os
import pathlib
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

from processes import stop_process

SLAPD = os.environ.get("SLAPD", "/usr/sbin/slapd")
SLAPADD = os.environ.get("SLAPADD", "/usr/sbin/slapadd")
MODULE_PATH = "/usr/lib/ldap"
SCHEMA_DIR = "/etc/ldap/schema"
HOST = "127.0.0.1"
# Also loopback on Linux, but not in the server certificate: the host name check.
OTHER_HOST = "127.0.0.2"
READY_TIMEOUT_S = 10

SUFFIX = "dc=example,dc=org"
PEOPLE = f"ou=people,{SUFFIX}"
GROUPS = f"ou=groups,{SUFFIX}"
SERVICE_DN = f"cn=squadron,ou=services,{SUFFIX}"
SERVICE_PASSWORD = "service-pw-7Qe"
USERS = {
    "alice": "alice-pw-1",
    "bob": "bob-pw-2",
    "carol": "carol-pw-3",
    "dave": "dave-pw-4",
    "erin": "erin-pw-5",
    "frank": "frank-pw-6",
}
# groupOfNames cn -> members (uids under ou=people).
GROUP_MEMBERS = {
    "analysts": ["alice", "carol"],
    "engineers": ["bob"],
    "admins": ["carol"],
}

# Processes started and not yet reaped, with their temp dirs: cleaned up at
# interpreter exit, so a run that ends on an exception leaves nothing behind.
_LIVE = {}


@atexit.register
def _cleanup_leftovers():
    for proc, work in list(_LIVE.items()):
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        shutil.rmtree(work, ignore_errors=True)


def slapd_installed():
    return os.access(SLAPD, os.X_OK) and os.access(SLAPADD, os.X_OK)


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def ssha(password):
    """An RFC 2307 {SSHA} userPassword value, as slappasswd makes."""
    salt = os.urandom(8)
    digest = hashlib.sha1(password.encode() + salt).digest()
    return "{SSHA}" + base64.b64encode(digest + salt).decode()


# An anonymous LDAPv3 simple bind (message id 1), and the start of its success reply.
_ANONYMOUS_BIND = bytes.fromhex("300c020101600702010304008000")


def anonymous_bind_ok(port, timeout=1.0):
    """True when slapd on `port` answers an anonymous bind with success."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as s:
            s.sendall(_ANONYMOUS_BIND)
            reply = s.recv(64)
    except OSError:
        return False
    # SEQUENCE { messageID 1, [APPLICATION 1] BindResponse { resultCode ENUMERATED 0 ... } }
    return len(reply) >= 10 and reply[5] == 0x61 and reply[7:10] == b"\x0a\x01\x00"


def _run(args, cwd):
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{args[0]} failed ({result.returncode}): {result.stderr}")


def make_ca(work, name):
    """A self-signed CA (P-256): returns (cert path, key path)."""
    cert, key = work / f"{name}.pem", work / f"{name}.key"
    _run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
          "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", f"/CN=Squadron test {name}",
          "-addext", "basicConstraints=critical,CA:TRUE",
          "-addext", "keyUsage=critical,keyCertSign,cRLSign"], work)
    return cert, key


def make_server_cert(work, ca_cert, ca_key):
    """A server certificate for 127.0.0.1 and localhost signed by the CA: (cert, key)."""
    cert, key, csr, ext = (work / "server.pem", work / "server.key", work / "server.csr", work / "server.ext")
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
                   "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n")
    _run(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
          "-keyout", str(key), "-out", str(csr), "-subj", "/CN=127.0.0.1"], work)
    _run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca_cert), "-CAkey", str(ca_key),
          "-CAcreateserial", "-out", str(cert), "-days", "2", "-extfile", str(ext)], work)
    return cert, key


def directory_ldif():
    entries = [
        f"dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example\n",
        f"dn: {PEOPLE}\nobjectClass: organizationalUnit\nou: people\n",
        f"dn: ou=contractors,{PEOPLE}\nobjectClass: organizationalUnit\nou: contractors\n",
        f"dn: ou=services,{SUFFIX}\nobjectClass: organizationalUnit\nou: services\n",
        f"dn: {GROUPS}\nobjectClass: organizationalUnit\nou: groups\n",
        f"dn: {SERVICE_DN}\nobjectClass: applicationProcess\nobjectClass: simpleSecurityObject\n"
        f"cn: squadron\nuserPassword: {ssha(SERVICE_PASSWORD)}\n",
    ]
    for uid, password in USERS.items():
        entries.append(f"dn: uid={uid},{PEOPLE}\nobjectClass: inetOrgPerson\nuid: {uid}\n"
                       f"cn: {uid.title()}\nsn: {uid.title()}\nuserPassword: {ssha(password)}\n")
    # A second frank: the user filter matches two entries.
    entries.append(f"dn: uid=frank,ou=contractors,{PEOPLE}\nobjectClass: inetOrgPerson\nuid: frank\n"
                   f"cn: Frank\nsn: Contractor\nuserPassword: {ssha(USERS['frank'])}\n")
    for cn, members in GROUP_MEMBERS.items():
        lines = "".join(f"member: uid={uid},{PEOPLE}\n" for uid in members)
        entries.append(f"dn: cn={cn},{GROUPS}\nobjectClass: groupOfNames\ncn: {cn}\n{lines}")
    entries.append(f"dn: cn=auditors,{GROUPS}\nobjectClass: posixGroup\ncn: auditors\ngidNumber: 5000\n"
                   "memberUid: erin\n")
    return "\n".join(entries)


def slapd_conf(work, ca_cert, server_cert, server_key):
    schemas = "".join(f"include {SCHEMA_DIR}/{name}.schema\n" for name in ("core", "cosine", "inetorgperson", "nis"))
    return f"""{schemas}
modulepath {MODULE_PATH}
moduleload back_mdb
# Like many servers, take a DN with an empty password as an anonymous bind and
# answer success: the bypass that Squadron must close itself.
allow bind_anon_dn
pidfile {work}/slapd.pid
argsfile {work}/slapd.args
TLSCACertificateFile {ca_cert}
TLSCertificateFile {server_cert}
TLSCertificateKeyFile {server_key}

database mdb
maxsize 16777216
suffix "{SUFFIX}"
rootdn "cn=admin,{SUFFIX}"
directory {work}/db

access to attrs=userPassword
  by anonymous auth
  by * none
access to *
  by dn.exact="{SERVICE_DN}" read
  by * none
"""


class LdapServer:
    """One slapd on loopback. `uri` (ldap://) and `ldaps_uri` (ldaps://) once
    started, and `wrong_host_uri`, an ldaps:// address of the same server on
    127.0.0.2, which its certificate does not name; `ca_file` is the CA that
    signed its certificate, `other_ca_file` a CA that did not;
    `bind_password_file` holds the service account's password (with a
    trailing newline, as `echo` writes it)."""

    def __init__(self, work=None):
        self._own_work = work is None
        self.work = pathlib.Path(work or tempfile.mkdtemp(prefix="squadron-slapd-"))
        self.work.mkdir(parents=True, exist_ok=True)
        self.proc = None
        self.uri = self.ldaps_uri = self.wrong_host_uri = None
        self.port = self.ldaps_port = None
        self.suffix, self.user_base, self.group_base = SUFFIX, PEOPLE, GROUPS
        self.bind_dn = SERVICE_DN
        self.users = dict(USERS)
        self.log_path = self.work / "slapd.log"

    def start(self):
        ca_cert, ca_key = make_ca(self.work, "ca")
        self.ca_file = str(ca_cert)
        self.other_ca_file = str(make_ca(self.work, "other-ca")[0])
        server_cert, server_key = make_server_cert(self.work, ca_cert, ca_key)
        self.bind_password_file = self.work / "bind.pw"
        self.bind_password_file.write_text(SERVICE_PASSWORD + "\n")
        self.bind_password_file.chmod(0o600)
        self.bind_password_file = str(self.bind_password_file)
        conf = self.work / "slapd.conf"
        conf.write_text(slapd_conf(self.work, ca_cert, server_cert, server_key))
        (self.work / "db").mkdir()
        ldif = self.work / "directory.ldif"
        ldif.write_text(directory_ldif())
        _run([SLAPADD, "-q", "-f", str(conf), "-l", str(ldif)], self.work)
        # A port taken between free_port() and slapd's bind: try other ports.
        for _ in range(3):
            if self._launch(conf):
                return self
        raise RuntimeError(f"slapd did not start; log:\n{self.log()}")

    def _launch(self, conf):
        self.port, self.ldaps_port = free_port(), free_port()
        self.uri = f"ldap://{HOST}:{self.port}"
        self.ldaps_uri = f"ldaps://{HOST}:{self.ldaps_port}"
        self.wrong_host_uri = f"ldaps://{OTHER_HOST}:{free_port()}"
        with open(self.log_path, "ab") as log:
            # -d keeps slapd in the foreground; 256 (stats) logs each operation and filter.
            self.proc = subprocess.Popen(
                [SLAPD, "-f", str(conf), "-h", f"{self.uri}/ {self.ldaps_uri}/ {self.wrong_host_uri}/", "-d", "256"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=self.work)
        _LIVE[self.proc] = self.work
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                del _LIVE[self.proc]
                return False
            if anonymous_bind_ok(self.port):
                return True
            time.sleep(0.05)
        self._terminate()
        raise RuntimeError(f"slapd did not answer within {READY_TIMEOUT_S}s; log:\n{self.log()}")

    def log(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def _terminate(self):
        if self.proc is None:
            return
        stop_process(self.proc)
        _LIVE.pop(self.proc, None)

    def stop(self):
        """Stops slapd (SIGTERM to its PID, then SIGKILL) and removes its temp dir."""
        self._terminate()
        if self._own_work:
            shutil.rmtree(self.work, ignore_errors=True)


@pytest.fixture(scope="session")
def ldap_server():
    """One slapd with the test directory for the whole session (it starts in
    well under a second); tests must not change the directory."""
    if not slapd_installed():
        pytest.skip(f"slapd is not installed ({SLAPD}, {SLAPADD}: Debian package slapd)")
    server = LdapServer().start()
    yield server
    server.stop()
