"""The LDAP method (src/auth/ldap.cc) against a real slapd (ldap_server.py),
driven through squadron-auth-probe: roles from groups, one answer for every
bad credential, filter injection, ldaps:// and StartTLS with certificate
checks, an unreachable or silent server, the service account's password file."""

import os
import pathlib
import socket
import subprocess

import pytest

from ldap_server import SERVICE_PASSWORD, LdapServer, slapd_installed

pytestmark = pytest.mark.skipif(not slapd_installed(), reason="slapd is not installed (Debian package slapd)")

ROOT = pathlib.Path(__file__).resolve().parents[2]
PROBE = os.environ.get("SQUADRON_AUTH_PROBE", str(ROOT / "build" / "squadron-auth-probe"))
PROBE_TIMEOUT_S = 30
INVALID = "ERROR UNAUTHENTICATED: Invalid user name or password"
# analysts and engineers by cn, admins by DN (in another case than the directory's).
ROLES = ["--ldap-group-role", "analysts=reader", "--ldap-group-role", "engineers=writer",
         "--ldap-group-role", "CN=Admins,OU=Groups,DC=example,DC=org=admin"]


def probe_env(**extra):
    """The environment without the LDAP* variables of whoever runs the tests."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LDAP")}
    env.update(extra)
    return env


def probe(server, user, password, *flags, uri=None, env=None, password_file=None):
    """Runs the probe; returns (exit code, its stdout line). User name and
    password go hex-encoded, so that any byte (NUL, a leading '-') gets through."""
    if not os.access(PROBE, os.X_OK):
        pytest.fail(f"{PROBE} not built (ninja squadron-auth-probe, or set SQUADRON_AUTH_PROBE)")
    args = [PROBE, "--ldap-uri", uri or server.uri, "--ldap-bind-dn", server.bind_dn,
            "--ldap-bind-password-file", password_file or server.bind_password_file,
            "--ldap-user-base", server.user_base, "--ldap-group-base", server.group_base, *ROLES,
            "--ldap-timeout", "3000", *flags,
            "--user-hex", user.encode().hex(), "--password-hex", password.encode().hex()]
    result = subprocess.run(args, capture_output=True, text=True, env=env or probe_env(),
                            timeout=PROBE_TIMEOUT_S)
    output = result.stdout + result.stderr
    # Neither the user's nor the service account's password is ever printed or logged.
    assert SERVICE_PASSWORD not in output
    if len(password) >= 4:
        assert password not in output, output
    return result.returncode, result.stdout.strip()


@pytest.mark.parametrize("user, role", [("alice", "reader"), ("bob", "writer"), ("carol", "admin")])
def test_right_password_gives_the_role_of_the_groups(ldap_server, user, role):
    # carol is in analysts (reader) and admins (admin): the strongest wins.
    assert probe(ldap_server, user, ldap_server.users[user]) == (0, f"OK user={user} role={role} method=ldap")


def test_posix_group_found_by_user_name(ldap_server):
    # erin is a memberUid of the posixGroup auditors: `{user}` in the group filter.
    erin = ldap_server.users["erin"]
    assert probe(ldap_server, "erin", erin, "--ldap-group-role", "auditors=writer") == (
        0, "OK user=erin role=writer method=ldap")


def test_identity_is_the_name_as_given(ldap_server):
    # uid matching is case-insensitive in LDAP; the identity keeps what the client sent.
    assert probe(ldap_server, "ALICE", ldap_server.users["alice"]) == (0, "OK user=ALICE role=reader method=ldap")


BAD_CREDENTIALS = {
    "wrong password": ("alice", "bob-pw-2"),
    "unknown user": ("mallory", "alice-pw-1"),
    "empty password": ("alice", ""),
    "empty password, unknown user": ("mallory", ""),
    "injection closing the filter": ("*)(uid=*))(|(uid=*", "alice-pw-1"),
    "wildcard": ("*", "alice-pw-1"),
    "injection after a real name": ("alice)(|(uid=*", "alice-pw-1"),
    "prefix wildcard of a real name": ("ali*", "alice-pw-1"),
    "NUL after a real name": ("alice\0", "alice-pw-1"),
    "NUL inside": ("alice\0)(uid=*", "alice-pw-1"),
    "name too long": ("a" * 257, "alice-pw-1"),
    "two entries with this uid": ("frank", "frank-pw-6"),
    "no role and a wrong password": ("dave", "alice-pw-1"),
    "the service account's DN as a name": ("cn=squadron,ou=services,dc=example,dc=org", SERVICE_PASSWORD),
}


@pytest.mark.parametrize("user, password", BAD_CREDENTIALS.values(), ids=BAD_CREDENTIALS.keys())
def test_bad_credentials_all_get_the_same_answer(ldap_server, user, password):
    assert probe(ldap_server, user, password) == (1, INVALID)


def test_injection_reaches_slapd_as_a_literal(ldap_server):
    assert probe(ldap_server, "*)(uid=*))(|(uid=*", "alice-pw-1") == (1, INVALID)
    searches = [line for line in ldap_server.log().splitlines() if " SRCH base=" in line]
    # slapd prints the filter it parsed: one equality item with the escaped value.
    assert any('filter="(uid=\\2A\\29\\28uid=\\2A\\29\\29\\28|\\28uid=\\2A)"' in line for line in searches), searches
    assert not any('filter="(uid=*)' in line for line in searches), searches


def test_no_role_is_refused_after_the_password_unless_a_default_role(ldap_server):
    dave = ldap_server.users["dave"]
    code, out = probe(ldap_server, "dave", dave)
    assert code == 1
    assert out.startswith("ERROR UNAUTHENTICATED: User 'dave' has no Squadron role"), out
    assert probe(ldap_server, "dave", dave, "--ldap-default-role", "reader") == (
        0, "OK user=dave role=reader method=ldap")
    # The default role is only for users in no mapped group.
    assert probe(ldap_server, "alice", ldap_server.users["alice"], "--ldap-default-role", "writer") == (
        0, "OK user=alice role=reader method=ldap")


def test_ldaps_with_the_ca(ldap_server):
    assert probe(ldap_server, "bob", ldap_server.users["bob"], "--ldap-ca", ldap_server.ca_file,
                 uri=ldap_server.ldaps_uri) == (0, "OK user=bob role=writer method=ldap")


@pytest.mark.parametrize("ca", ["system", "other"])
def test_ldaps_without_the_ca_is_refused(ldap_server, ca):
    flags = ["--ldap-ca", ldap_server.other_ca_file] if ca == "other" else []
    code, out = probe(ldap_server, "bob", ldap_server.users["bob"], *flags, uri=ldap_server.ldaps_uri)
    assert code == 1
    assert out.startswith(f"ERROR UNAVAILABLE: LDAP server {ldap_server.ldaps_uri} unavailable (connect)"), out
    assert "the TLS handshake failed; is the server's certificate signed by" in out, out


def test_ldaps_certificate_must_name_the_host(ldap_server):
    # The right CA, but an address the certificate does not name.
    code, out = probe(ldap_server, "bob", ldap_server.users["bob"], "--ldap-ca", ldap_server.ca_file,
                      uri=ldap_server.wrong_host_uri)
    assert code == 1
    assert out.startswith(f"ERROR UNAVAILABLE: LDAP server {ldap_server.wrong_host_uri} unavailable (connect)"), out
    assert "the TLS handshake failed" in out, out


def test_ldaps_certificate_check_ignores_ldaptls_reqcert_never(ldap_server):
    # libldap reads LDAPTLS_REQCERT from the environment; the handle's own
    # setting (DEMAND) must win.
    code, out = probe(ldap_server, "bob", ldap_server.users["bob"], uri=ldap_server.ldaps_uri,
                      env=probe_env(LDAPTLS_REQCERT="never"))
    assert code == 1
    assert out.startswith("ERROR UNAVAILABLE:"), out


def test_start_tls(ldap_server):
    assert probe(ldap_server, "carol", ldap_server.users["carol"], "--ldap-start-tls", "--ldap-ca",
                 ldap_server.ca_file) == (0, "OK user=carol role=admin method=ldap")
    code, out = probe(ldap_server, "carol", ldap_server.users["carol"], "--ldap-start-tls", "--ldap-ca",
                      ldap_server.other_ca_file)
    assert code == 1
    assert out.startswith(f"ERROR UNAVAILABLE: LDAP server {ldap_server.uri} unavailable (starttls)"), out
    assert "the TLS handshake failed" in out, out


def test_start_tls_on_ldaps_is_refused(ldap_server):
    code, out = probe(ldap_server, "carol", ldap_server.users["carol"], "--ldap-start-tls",
                      uri=ldap_server.ldaps_uri)
    assert (code, out.split(":")[0]) == (1, "ERROR INVALID_ARGUMENT"), out


def test_stopped_slapd_is_unavailable_naming_the_uri(tmp_path):
    server = LdapServer(tmp_path / "slapd").start()
    alice = server.users["alice"]
    assert probe(server, "alice", alice) == (0, "OK user=alice role=reader method=ldap")
    server.stop()
    code, out = probe(server, "alice", alice)
    assert code == 1
    assert out.startswith(f"ERROR UNAVAILABLE: LDAP server {server.uri} unavailable (connect)"), out


def test_silent_server_times_out_as_unavailable(ldap_server):
    # Accepts the TCP connection (the kernel does) and never answers the bind.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        uri = f"ldap://127.0.0.1:{silent.getsockname()[1]}"
        code, out = probe(ldap_server, "alice", ldap_server.users["alice"], "--ldap-timeout", "500", uri=uri)
    assert code == 1
    assert out.startswith(f"ERROR UNAVAILABLE: LDAP server {uri} unavailable (service_bind)"), out


def test_service_account_password_file(ldap_server, tmp_path):
    alice = ldap_server.users["alice"]
    missing = tmp_path / "missing.pw"
    code, out = probe(ldap_server, "alice", alice, password_file=str(missing))
    assert code == 1 and "Cannot read the LDAP bind password file" in out and str(missing) in out, out

    empty = tmp_path / "empty.pw"
    empty.write_text("\n")
    code, out = probe(ldap_server, "alice", alice, password_file=str(empty))
    assert (code, out) == (1, f"ERROR INVALID_ARGUMENT: The LDAP bind password file {empty} is empty")

    wrong = tmp_path / "wrong.pw"
    wrong.write_text("not-the-service-password\n")
    code, out = probe(ldap_server, "alice", alice, password_file=str(wrong))
    assert code == 1
    assert out.startswith(f"ERROR UNAVAILABLE: LDAP server {ldap_server.uri} refused the service account "
                          f"{ldap_server.bind_dn}"), out

    # Without the trailing newline, and with a CRLF one, it is the same password.
    for name, text in [("bare.pw", SERVICE_PASSWORD), ("crlf.pw", SERVICE_PASSWORD + "\r\n")]:
        path = tmp_path / name
        path.write_text(text)
        assert probe(ldap_server, "alice", alice, password_file=str(path)) == (
            0, "OK user=alice role=reader method=ldap")


def test_harness_leaves_nothing_behind():
    server = LdapServer().start()
    work = server.work
    server.stop()
    assert server.proc.poll() is not None
    assert not work.exists()
