"""The Kerberos method against a real KDC (kdc.py): SPNEGO tokens made by the
python gssapi client, accepted by MakeKerberosAuthenticator through
squadron-kerberos-probe (tests/tools/kerberos_probe.cc), which reads one token
a line from stdin and prints `OK user=... role=... reply=yes|no` or
`REFUSED code=<FlightStatusCode> <status>` for each, or `START_FAILED <status>`.
"""

import os
import pathlib
import subprocess

import pytest

from kdc import KDC, OTHER_SERVICE, SERVICE, available

ROOT = pathlib.Path(__file__).resolve().parents[2]
PROBE = os.environ.get("SQUADRON_KERBEROS_PROBE", str(ROOT / "build" / "squadron-kerberos-probe"))


class ProbeRun:
    def __init__(self, done):
        self.returncode = done.returncode
        self.lines = done.stdout.splitlines()
        self.stderr = done.stderr

    def __repr__(self):
        return f"exit {self.returncode}\nstdout:\n" + "\n".join(self.lines) + f"\nstderr:\n{self.stderr}"


def probe(kdc, tokens, *args, keytab=None, env=None):
    """Runs the probe as the server: the realm's environment with no user ticket."""
    keytab = kdc.keytab if keytab is None else keytab
    done = subprocess.run([PROBE, "--keytab", str(keytab), *args], input="".join(t + "\n" for t in tokens),
                          env=env or kdc.env(), capture_output=True, text=True, timeout=60)
    run = ProbeRun(done)
    for token in tokens:
        # Tokens are credentials: never in a message or a log line (a chunk of one either).
        if len(token) >= 40:
            assert token[8:40] not in done.stdout + done.stderr, run
    return run


def assert_unauthenticated(line, *words):
    assert line.startswith("REFUSED code=Unauthenticated "), line
    assert "Kerberos authentication failed" in line, line
    for word in words:
        assert word in line, line


@pytest.fixture(scope="module")
def other_realm():
    """A second realm, OTHER.TEST, with its own alice and HTTP/localhost."""
    if available():
        pytest.skip(available())
    realm = KDC(realm="OTHER.TEST").start()
    yield realm
    realm.stop()


def test_valid_token_gives_the_mapped_user_and_role_and_a_reply(kdc):
    tokens = [kdc.negotiate_token("alice"), kdc.negotiate_token("bob")]
    run = probe(kdc, tokens, "--user-map", r"(.*)@SQUADRON\.TEST=sq-$1", "--user-role", "sq-alice=admin",
                "--default-role", "reader")
    assert run.returncode == 0, run
    assert run.lines == ["OK user=sq-alice role=admin reply=yes", "OK user=sq-bob role=reader reply=yes"], run
    assert 'event=kerberos_accepted principal="alice@SQUADRON.TEST" user="sq-alice" role=admin' in run.stderr


def test_the_reply_completes_mutual_authentication(kdc):
    client = kdc.start_client("alice")
    run = probe(kdc, [client.token], "--default-role", "reader", "--print-reply", "yes")
    assert run.lines[0].startswith("OK user=alice role=reader reply=yes reply_token="), run
    reply = run.lines[0].split("reply_token=", 1)[1]
    assert client.finish(reply) == "complete=True mutual=True"
    # A reply that is not the server's does not complete it.
    other = kdc.start_client("alice")
    assert client.token != other.token
    assert other.finish(reply).startswith("error")


def test_without_rules_the_user_is_the_principal_without_its_realm(kdc):
    run = probe(kdc, [kdc.negotiate_token("bob")], "--user-role", "bob=writer")
    assert run.lines == ["OK user=bob role=writer reply=yes"], run


@pytest.mark.parametrize("principal", ["HTTP@localhost", f"{SERVICE}@SQUADRON.TEST", SERVICE])
def test_service_principal_forms(kdc, principal):
    run = probe(kdc, [kdc.negotiate_token("alice")], "--principal", principal, "--default-role", "reader")
    assert run.lines == ["OK user=alice role=reader reply=yes"], run


def test_a_user_with_no_role_is_permission_denied(kdc):
    run = probe(kdc, [kdc.negotiate_token("alice"), kdc.negotiate_token("bob")], "--user-role", "alice=reader")
    assert run.returncode == 1, run
    assert run.lines[0] == "OK user=alice role=reader reply=yes", run
    assert run.lines[1].startswith("REFUSED code=Unauthorized "), run
    assert "bob@SQUADRON.TEST (user bob) has no role" in run.lines[1], run


def test_garbage_base64_is_unauthenticated(kdc):
    garbage = ["not base64 at all!", "YWxpY2U*Ym9i", "QUJD=REVG", "Zh==", "A" * 70000]
    run = probe(kdc, garbage, "--default-role", "reader")
    assert run.returncode == 1, run
    assert len(run.lines) == len(garbage), run
    for line in run.lines[:-1]:
        assert_unauthenticated(line, "not base64")
    assert_unauthenticated(run.lines[-1], "70000 characters of base64, more than the 65536 accepted")
    assert "YWxpY2U" not in "\n".join(run.lines) + run.stderr


def test_base64_that_is_no_token_is_unauthenticated(kdc):
    import base64

    token = kdc.negotiate_token("alice")
    raw = base64.b64decode(token)
    truncated = base64.b64encode(raw[: len(raw) // 2]).decode()
    not_a_token = base64.b64encode(b"\x60\x03hello, this is not GSSAPI").decode()
    run = probe(kdc, [truncated, not_a_token, base64.b64encode(b"x").decode()], "--default-role", "reader")
    assert run.returncode == 1, run
    assert len(run.lines) == 3, run
    for line in run.lines:
        assert_unauthenticated(line)


def test_a_token_for_another_service_is_unauthenticated(kdc):
    # squadron/localhost exists in the realm, but its key is not in the keytab.
    token = kdc.negotiate_token("alice", service=OTHER_SERVICE)
    run = probe(kdc, [token], "--default-role", "reader")
    assert run.returncode == 1, run
    assert_unauthenticated(run.lines[0], OTHER_SERVICE)


def test_the_principal_option_refuses_the_other_keys_of_the_keytab(kdc, tmp_path):
    both = kdc.export_keytab(tmp_path / "both.keytab", SERVICE, OTHER_SERVICE)
    tokens = [kdc.negotiate_token("alice", service=OTHER_SERVICE), kdc.negotiate_token("alice")]
    # Any principal of the keytab: both services are accepted.
    run = probe(kdc, tokens, "--default-role", "reader", keytab=both)
    assert run.lines == ["OK user=alice role=reader reply=yes"] * 2, run
    # Only HTTP/localhost: the squadron/localhost ticket is refused.
    tokens = [kdc.negotiate_token("alice", service=OTHER_SERVICE), kdc.negotiate_token("alice")]
    run = probe(kdc, tokens, "--principal", f"{SERVICE}@SQUADRON.TEST", "--default-role", "reader",
                keytab=both)
    assert_unauthenticated(run.lines[0])
    assert run.lines[1] == "OK user=alice role=reader reply=yes", run


def test_a_replayed_token_is_unauthenticated(kdc):
    token = kdc.negotiate_token("alice")
    run = probe(kdc, [token, token], "--default-role", "reader")
    assert run.lines[0] == "OK user=alice role=reader reply=yes", run
    assert_unauthenticated(run.lines[1], "replay")
    # The replay cache is a file: another server process on the host refuses it too.
    run = probe(kdc, [token], "--default-role", "reader")
    assert_unauthenticated(run.lines[0], "replay")
    # With the service principal named, the same holds.
    token = kdc.negotiate_token("bob")
    run = probe(kdc, [token, token], "--principal", "HTTP@localhost", "--default-role", "reader")
    assert run.lines[0] == "OK user=bob role=reader reply=yes", run
    assert_unauthenticated(run.lines[1], "replay")


def test_concurrent_accepts_take_each_token_once(kdc):
    tokens = kdc.negotiate_tokens("alice", 6) + kdc.negotiate_tokens("bob", 6)
    # Every token twice in a row: 4 threads accept both copies at about the same time.
    run = probe(kdc, [t for token in tokens for t in (token, token)], "--threads", "4",
                "--default-role", "reader")
    assert len(run.lines) == 2 * len(tokens), run
    for i in range(len(tokens)):
        pair = run.lines[2 * i:2 * i + 2]
        accepted = [line for line in pair if line.startswith("OK ")]
        user = "alice" if i < 6 else "bob"
        assert accepted == [f"OK user={user} role=reader reply=yes"], (i, pair)
        refused = [line for line in pair if not line.startswith("OK ")]
        assert_unauthenticated(refused[0], "replay")


def test_a_token_from_another_realm_is_unauthenticated(kdc, other_realm):
    # alice@OTHER.TEST's ticket for HTTP/localhost@OTHER.TEST: a key the keytab does not have.
    token = other_realm.negotiate_token("alice")
    assert other_realm.negotiate_token("alice") != token
    # The other realm's own server accepts it (so the token itself is good)...
    run = probe(other_realm, [token], "--default-role", "reader")
    assert run.lines == ["OK user=alice role=reader reply=yes"], run
    # ...this realm's does not.
    token = other_realm.negotiate_token("alice")
    run = probe(kdc, [token], "--default-role", "reader")
    assert run.returncode == 1, run
    assert_unauthenticated(run.lines[0], "OTHER.TEST")


def test_a_missing_keytab_fails_at_start_naming_it(kdc, tmp_path):
    missing = tmp_path / "no-such.keytab"
    run = probe(kdc, [], "--default-role", "reader", keytab=missing)
    assert run.returncode == 1, run
    assert run.lines[0].startswith("START_FAILED "), run
    assert str(missing) in run.lines[0], run


def test_a_keytab_without_the_principal_fails_at_start(kdc):
    run = probe(kdc, [], "--principal", f"{OTHER_SERVICE}@SQUADRON.TEST", "--default-role", "reader")
    assert run.returncode == 1, run
    assert run.lines[0].startswith("START_FAILED "), run
    assert str(kdc.keytab) in run.lines[0], run


def test_a_file_that_is_no_keytab_fails_at_start(kdc, tmp_path):
    bogus = tmp_path / "bogus.keytab"
    bogus.write_bytes(b"this is not a keytab\n")
    bogus.chmod(0o600)
    run = probe(kdc, [], "--default-role", "reader", keytab=bogus)
    assert run.returncode == 1, run
    assert run.lines[0].startswith("START_FAILED "), run
    assert str(bogus) in run.lines[0], run
