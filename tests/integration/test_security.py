"""Authentication, TLS and roles (docs/security.md), with real clients:
pyarrow.flight (handshake and Basic header), ADBC (username/password), and
`squadron query`. Every attack gets the right status and never the data."""

import base64
import hashlib
import hmac
import json
import os
import shutil
import subprocess
import time

import adbc_driver_flightsql.dbapi as flightsql_dbapi
import pyarrow as pa
import pyarrow.flight as flight
import pytest

from conftest import BIN, ServerProcess
from flightsql import (create_prepared_statement_request, decode_fields, descriptor, prepared_statement_query,
                       put_count, statement_ingest, statement_query, statement_update, unpack)
from pki import Pki

SECRET = b"squadron-security-test-secret-0123456789"
PASSWORDS = {"alice": "alice-pw-1", "bob": "bob-pw-2", "carol": "carol-pw-3", "erin": "erin-pw-4"}
ROLES = {"alice": "reader", "bob": "writer", "carol": "admin", "erin": "reader"}
INIT_SQL = "CREATE TABLE t AS SELECT range AS id, range * 2 AS y FROM range(1000);\n"
REFERENCE = pa.table({"id": pa.array(range(1000), pa.int64()), "y": pa.array([2 * i for i in range(1000)], pa.int64())})


def passwd(path, user, password, role):
    result = subprocess.run([BIN, "passwd", str(path), user, "--role", role], input=password + "\n",
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("security")
    users = d / "users"
    for user, password in PASSWORDS.items():
        passwd(users, user, password, ROLES[user])
    secret = d / "secret"
    secret.write_bytes(SECRET)
    init = d / "init.sql"
    init.write_text(INIT_SQL)
    return d, users, secret, init


def serve(setup, *extra, name="squadron", auth="password"):
    d, users, secret, init = setup
    return ServerProcess(["--port", "0", "--auth", auth, "--password-file", str(users), "--ticket-secret-file",
                          str(secret), "--init-sql", str(init), *extra], d / f"{name}-{time.monotonic_ns()}.log")


@pytest.fixture(scope="module")
def secured(setup):
    server = serve(setup, "--auth-max-failures", "0")
    yield server
    server.kill()


def basic(user, password):
    return (b"authorization", b"Basic " + base64.b64encode(f"{user}:{password}".encode()))


def as_user(server, user):
    """A client and call options carrying `user`'s token from the handshake."""
    client = flight.connect(server.uri)
    header = client.authenticate_basic_token(user.encode(), PASSWORDS[user].encode())
    return client, flight.FlightCallOptions(headers=[header])


def run(client, options, sql, root=None):
    """Runs `sql`; reads each endpoint where it says (a node of a cluster may forward the query)."""
    info = client.get_flight_info(descriptor(statement_query(sql)), options)

    def source(endpoint):
        if not endpoint.locations:
            return client
        return flight.connect(endpoint.locations[0], **({"tls_root_certs": root} if root else {}))
    return pa.concat_tables(source(e).do_get(e.ticket, options).read_all() for e in info.endpoints)


def mint(claims, secret=SECRET):
    """A token as the server makes one (docs/security.md, "Tokens")."""
    def b64(data):
        return base64.urlsafe_b64encode(data).rstrip(b"=")
    key = hmac.new(secret, b"squadron-token-v1", hashlib.sha256).digest()
    signed = b64(b'{"alg":"HS256","typ":"JWT"}') + b"." + b64(json.dumps(claims).encode())
    return (signed + b"." + b64(hmac.new(key, signed, hashlib.sha256).digest())).decode()


def claims(user="carol", role="admin", ttl=3600):
    now = int(time.time())
    return {"iss": "squadron", "sub": user, "role": role, "amr": "password", "iat": now, "exp": now + ttl}


# --- who may call -------------------------------------------------------------------------

def test_no_credentials_is_unauthenticated_and_says_how(secured):
    client = flight.connect(secured.uri)
    with pytest.raises(flight.FlightUnauthenticatedError, match="Authentication required"):
        client.get_flight_info(descriptor(statement_query("SELECT * FROM t")))
    with pytest.raises(flight.FlightUnauthenticatedError):
        list(client.list_actions())


@pytest.mark.parametrize("user,password", [("alice", "wrong"), ("nobody", "alice-pw-1"), ("alice", ""),
                                           ("*", "x"), ("alice:", "alice-pw-1")])
def test_wrong_credentials_get_the_same_answer(secured, user, password):
    client = flight.connect(secured.uri)
    with pytest.raises(flight.FlightUnauthenticatedError, match="Invalid user name or password") as failure:
        client.get_flight_info(descriptor(statement_query("SELECT * FROM t")),
                               flight.FlightCallOptions(headers=[basic(user, password)]))
    assert "does not exist" not in str(failure.value)


def test_pyarrow_handshake_returns_a_token_that_reads(secured):
    client = flight.connect(secured.uri)
    key, value = client.authenticate_basic_token(b"alice", PASSWORDS["alice"].encode())
    assert key == b"authorization" and value.startswith(b"Bearer ")
    got = run(client, flight.FlightCallOptions(headers=[(key, value)]), "SELECT * FROM t ORDER BY id")
    assert got.equals(REFERENCE)


class HeaderCatcher(flight.ClientMiddlewareFactory):
    def __init__(self):
        self.received = []

    def start_call(self, info):
        catcher = self

        class Middleware(flight.ClientMiddleware):
            def received_headers(self, headers):
                catcher.received.append(headers)
        return Middleware()


def test_basic_header_on_the_first_call_is_answered_with_a_bearer_token(secured):
    catcher = HeaderCatcher()
    client = flight.connect(secured.uri, middleware=[catcher])
    info = client.get_flight_info(descriptor(statement_query("SELECT count(*) AS n FROM t")),
                                  flight.FlightCallOptions(headers=[basic("bob", PASSWORDS["bob"])]))
    tokens = [v for h in catcher.received for v in h.get("authorization", []) if v.startswith("Bearer ")]
    assert tokens, catcher.received
    # The token alone reads the result (the ticket belongs to bob).
    table = client.do_get(info.endpoints[0].ticket,
                          flight.FlightCallOptions(headers=[(b"authorization", tokens[0].encode())])).read_all()
    assert table.column("n")[0].as_py() == 1000


def test_adbc_with_username_and_password(secured):
    with flightsql_dbapi.connect(secured.uri, db_kwargs={"username": "alice", "password": PASSWORDS["alice"]},
                                 autocommit=True) as conn:
        with conn.cursor() as cur:
            cur.execute("SELECT * FROM t ORDER BY id")
            assert cur.fetch_arrow_table().equals(REFERENCE)
    with pytest.raises(Exception, match="(?i)unauthenticated|Invalid user name or password"):
        with flightsql_dbapi.connect(secured.uri, db_kwargs={"username": "alice", "password": "nope"},
                                     autocommit=True) as conn:
            with conn.cursor() as cur:
                cur.execute("SELECT 1")


def test_squadron_query_with_a_password(secured):
    out = subprocess.run([BIN, "query", "--uri", secured.uri, "--username", "bob", "SELECT sum(id) AS s FROM t"],
                         capture_output=True, text=True, timeout=60, env={"SQUADRON_PASSWORD": PASSWORDS["bob"],
                                                                         "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert str(sum(range(1000))) in out.stdout
    bad = subprocess.run([BIN, "query", "--uri", secured.uri, "--username", "bob", "--password", "x", "SELECT 1"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "Invalid user name or password" in bad.stderr


# --- tokens ----------------------------------------------------------------------------------

def test_forged_expired_truncated_and_foreign_tokens_are_refused(secured):
    client = flight.connect(secured.uri)
    _, good = client.authenticate_basic_token(b"alice", PASSWORDS["alice"].encode())
    good = good.decode().split(" ", 1)[1]
    header, payload, signature = good.split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    body["role"] = "admin"  # a reader makes herself admin, keeping the signature
    forged = header + "." + base64.urlsafe_b64encode(json.dumps(body).encode()).rstrip(b"=").decode() + "." + signature
    cases = {
        "forged": (forged, "signature does not match"),
        "truncated": (good[:-10], "signature does not match"),
        "expired": (mint(claims(ttl=-5)), "expired"),
        "another cluster": (mint(claims(), secret=b"another-cluster-secret-0123456789"), "signature does not match"),
        "not a token": ("hello", "not a JSON Web Token"),
    }
    for name, (token, message) in cases.items():
        with pytest.raises(flight.FlightUnauthenticatedError, match=message):
            client.get_flight_info(descriptor(statement_query("SELECT * FROM t")),
                                   flight.FlightCallOptions(headers=[(b"authorization", f"Bearer {token}".encode())]))
    # The documented format: a token minted with the cluster secret works.
    assert run(client, flight.FlightCallOptions(headers=[(b"authorization", f"Bearer {mint(claims())}".encode())]),
               "SELECT count(*) AS n FROM t").column("n")[0].as_py() == 1000


# --- roles -------------------------------------------------------------------------------------

@pytest.mark.parametrize("sql", ["INSERT INTO t VALUES (1, 2)", "COPY (SELECT 1) TO '/tmp/squadron-reader.csv'",
                                 "ATTACH ':memory:' AS other", "CREATE TABLE u (x INT)", "SET threads = 1",
                                 "SELECT 1; DROP TABLE t"])
def test_a_reader_may_not_write(secured, sql):
    client, options = as_user(secured, "alice")
    with pytest.raises(flight.FlightUnauthorizedError, match="needs the writer role; user 'alice' has the reader"):
        client.get_flight_info(descriptor(statement_query(sql)), options)
    with pytest.raises(flight.FlightUnauthorizedError, match="writer role"):
        put_count(client_with(client, options), statement_update(sql))
    with pytest.raises(flight.FlightUnauthorizedError, match="writer role"):
        list(client.do_action(flight.Action("CreatePreparedStatement", create_prepared_statement_request(sql)),
                              options))
    assert run(client, options, "SELECT count(*) AS n FROM t").column("n")[0].as_py() == 1000


class client_with:
    """put_count() wants a client whose calls carry the options."""

    def __init__(self, client, options):
        self.client, self.options = client, options

    def do_put(self, desc, schema):
        return self.client.do_put(desc, schema, self.options)


def test_a_reader_may_not_ingest_and_a_writer_may(secured):
    batch = pa.record_batch([pa.array([1, 2, 3])], names=["x"])
    client, options = as_user(secured, "alice")
    with pytest.raises(flight.FlightUnauthorizedError, match="Bulk ingest needs the writer role"):
        put_count(client_with(client, options), statement_ingest("ingested"), [batch])
    client, options = as_user(secured, "bob")
    assert put_count(client_with(client, options), statement_ingest("ingested_by_bob"), [batch]) == 3
    assert put_count(client_with(client, options), statement_update("DROP TABLE ingested_by_bob")) >= -1


def test_another_users_ticket_and_prepared_statement_are_not_found(secured):
    alice, alice_options = as_user(secured, "alice")
    bob, bob_options = as_user(secured, "bob")
    info = alice.get_flight_info(descriptor(statement_query("SELECT * FROM t")), alice_options)
    with pytest.raises(KeyError, match="names no result of user 'bob'"):
        bob.do_get(info.endpoints[0].ticket, bob_options).read_all()
    # The ticket is still alice's, and whole.
    assert alice.do_get(info.endpoints[0].ticket, alice_options).read_all().num_rows == 1000
    result = list(alice.do_action(flight.Action("CreatePreparedStatement",
                                                create_prepared_statement_request("SELECT * FROM t")), alice_options))
    handle = decode_fields(unpack(result[0].body.to_pybytes(), "ActionCreatePreparedStatementResult"))[1][0]
    with pytest.raises(KeyError):
        bob.get_flight_info(descriptor(prepared_statement_query(handle)), bob_options)
    assert alice.get_flight_info(descriptor(prepared_statement_query(handle)), alice_options).endpoints


def test_only_an_admin_cancels_another_users_query(secured):
    from flightsql import CANCEL_STATUS_CANCELLED, cancel_flight_info_request, decode_varint_field
    alice, alice_options = as_user(secured, "alice")
    info = alice.get_flight_info(descriptor(statement_query("SELECT * FROM t")), alice_options)
    bob, bob_options = as_user(secured, "bob")
    with pytest.raises(KeyError, match="cancelling another user's query needs the admin role"):
        list(bob.do_action(flight.Action("CancelFlightInfo", cancel_flight_info_request(info)), bob_options))
    carol, carol_options = as_user(secured, "carol")
    reply = list(carol.do_action(flight.Action("CancelFlightInfo", cancel_flight_info_request(info)), carol_options))
    assert decode_varint_field(reply[0].body.to_pybytes(), 1) == CANCEL_STATUS_CANCELLED


# --- abuse ---------------------------------------------------------------------------------------

def test_repeated_failures_are_slowed_down_and_logged_without_secrets(setup):
    server = serve(setup, "--auth-max-failures", "3", name="backoff")
    try:
        client = flight.connect(server.uri)
        sql = descriptor(statement_query("SELECT 1"))
        for _ in range(3):
            with pytest.raises(flight.FlightUnauthenticatedError, match="Invalid user name or password"):
                client.get_flight_info(sql, flight.FlightCallOptions(headers=[basic("erin", "guess")]))
        # Now even the right password waits.
        with pytest.raises(flight.FlightUnauthenticatedError, match="Too many failed attempts"):
            client.get_flight_info(sql, flight.FlightCallOptions(headers=[basic("erin", PASSWORDS["erin"])]))
        time.sleep(2.2)
        client.get_flight_info(sql, flight.FlightCallOptions(headers=[basic("erin", PASSWORDS["erin"])]))
        log = server.log()
        assert 'event=auth_failed user="erin" method=password peer=ipv4:127.0.0.1:' in log
        assert 'event=auth_succeeded user="erin" method=password role=reader' in log
        assert "guess" not in log and PASSWORDS["erin"] not in log and "Bearer" not in log
    finally:
        server.kill()


# --- TLS --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return Pki(tmp_path_factory.mktemp("pki"))


def test_tls_serves_only_tls_clients(setup, pki):
    server = serve(setup, "--tls-cert", str(pki.server_cert), "--tls-key", str(pki.server_key), name="tls")
    try:
        assert server.uri.startswith("grpc+tls://")
        port = server.uri.rsplit(":", 1)[1]
        sql = descriptor(statement_query("SELECT * FROM t"))
        alice = flight.FlightCallOptions(headers=[basic("alice", PASSWORDS["alice"])])
        plain = flight.connect(f"grpc://127.0.0.1:{port}")
        with pytest.raises(flight.FlightUnavailableError):
            plain.get_flight_info(sql, alice)
        untrusting = flight.connect(server.uri)  # the system's CAs do not know ours
        with pytest.raises(flight.FlightUnavailableError):
            untrusting.get_flight_info(sql, alice)
        client = flight.connect(server.uri, tls_root_certs=pki.ca.read_bytes())
        header = client.authenticate_basic_token(b"alice", PASSWORDS["alice"].encode())
        assert run(client, flight.FlightCallOptions(headers=[header]), "SELECT * FROM t ORDER BY id").equals(REFERENCE)
        out = subprocess.run([BIN, "query", "--uri", server.uri, "--tls-ca", str(pki.ca), "--username", "alice",
                              "--password", PASSWORDS["alice"], "SELECT count(*) AS n FROM t"],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0 and "1000" in out.stdout, out.stderr
    finally:
        server.kill()


def test_mutual_tls_names_the_user_by_certificate(setup, pki):
    alice_cert, alice_key = pki.issue("alice", "alice")
    mallory_cert, mallory_key = pki.issue("mallory", "mallory", ca="rogue-ca")
    server = serve(setup, "--tls-cert", str(pki.server_cert), "--tls-key", str(pki.server_key),
                   "--tls-client-ca", str(pki.ca), "--mtls-user-role", "alice=reader",
                   "--mtls-default-role", "none", name="mtls", auth="mtls")
    try:
        root = pki.ca.read_bytes()
        sql = descriptor(statement_query("SELECT count(*) AS n FROM t"))
        no_cert = flight.connect(server.uri, tls_root_certs=root)
        with pytest.raises(flight.FlightUnavailableError):
            no_cert.get_flight_info(sql)
        rogue = flight.connect(server.uri, tls_root_certs=root, cert_chain=mallory_cert.read_bytes(),
                               private_key=mallory_key.read_bytes())
        with pytest.raises(flight.FlightUnavailableError):
            rogue.get_flight_info(sql)
        alice = flight.connect(server.uri, tls_root_certs=root, cert_chain=alice_cert.read_bytes(),
                               private_key=alice_key.read_bytes())
        assert run(alice, flight.FlightCallOptions(), "SELECT count(*) AS n FROM t").column("n")[0].as_py() == 1000
        with pytest.raises(flight.FlightUnauthorizedError, match="user 'alice' has the reader role"):
            alice.get_flight_info(descriptor(statement_query("DELETE FROM t")))
        assert 'event=auth_succeeded user="alice" method=mtls' in server.log()
    finally:
        server.kill()


def test_auth_none_is_refused_off_loopback_and_said_on_it(setup):
    d, _, _, _ = setup
    out = subprocess.run([BIN, "serve", "--host", "0.0.0.0", "--port", "0"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode != 0 and "--allow-insecure" in out.stderr
    server = ServerProcess(["--port", "0"], d / "none.log")
    try:
        assert "event=auth_disabled" in server.log()
    finally:
        server.kill()


# --- the Flight SQL JDBC driver -----------------------------------------------------------------

@pytest.mark.skipif(shutil.which("mvn") is None or shutil.which("keytool") is None,
                    reason="the JDBC harness needs mvn and keytool (a JDK)")
def test_jdbc_driver_user_password_and_tls(setup, pki, tmp_path):
    from conftest import ROOT
    harness = ROOT / "tests" / "compat" / "jdbc"
    trust = tmp_path / "trust.jks"
    subprocess.run(["keytool", "-importcert", "-noprompt", "-alias", "squadron-test-ca", "-file", str(pki.ca),
                    "-keystore", str(trust), "-storepass", "changeit"], check=True, capture_output=True)
    plain = serve(setup, "--auth-max-failures", "0", name="jdbc-plain")
    tls = serve(setup, "--auth-max-failures", "0", "--tls-cert", str(pki.server_cert), "--tls-key",
                str(pki.server_key), name="jdbc-tls")
    try:
        proc = subprocess.run(
            ["mvn", "-B", "-q", "test", "-Dtest=JdbcSecurityTest", "-Dsquadron.security=true",
             f"-Dsquadron.port={plain.uri.rsplit(':', 1)[1]}", f"-Dsquadron.tlsPort={tls.uri.rsplit(':', 1)[1]}",
             f"-Dsquadron.trustStore={trust}", "-Dsquadron.trustStorePassword=changeit",
             *[f"-Dsquadron.password.{u}={p}" for u, p in PASSWORDS.items()]],
            cwd=harness, capture_output=True, text=True, timeout=1200,
            env={**os.environ, "MAVEN_OPTS": os.environ.get("MAVEN_OPTS", "-Xmx512m")})
        reports = harness / "target" / "surefire-reports"
        detail = "".join(p.read_text() for p in reports.glob("*JdbcSecurity*.txt")) if reports.exists() else ""
        assert proc.returncode == 0, f"{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}\n{detail[-6000:]}"
        assert "Tests run: 4, Failures: 0, Errors: 0, Skipped: 0" in detail, detail
        assert 'event=auth_succeeded user="bob" method=password' in tls.log()
    finally:
        plain.kill()
        tls.kill()


# --- LDAP ----------------------------------------------------------------------------------------

def ldap_args(ldap):
    return ["--ldap-uri", ldap.uri, "--ldap-bind-dn", ldap.bind_dn, "--ldap-bind-password-file",
            ldap.bind_password_file, "--ldap-user-base", ldap.user_base, "--ldap-group-base", ldap.group_base,
            "--ldap-group-role", "analysts=reader", "--ldap-group-role", "engineers=writer",
            "--ldap-group-role", "admins=admin"]


def test_ldap_users_with_adbc_and_their_groups_roles(setup, ldap_server):
    server = serve(setup, "--auth-max-failures", "0", *ldap_args(ldap_server), name="ldap", auth="ldap")
    try:
        def connect(user, password):
            return flightsql_dbapi.connect(server.uri, db_kwargs={"username": user, "password": password},
                                           autocommit=True)
        # bob is a writer through the engineers group.
        with connect("bob", ldap_server.users["bob"]) as conn, conn.cursor() as cur:
            cur.execute("SELECT * FROM t ORDER BY id")
            assert cur.fetch_arrow_table().equals(REFERENCE)
            cur.execute("CREATE TABLE IF NOT EXISTS by_ldap_writer AS SELECT 1 AS x")
        with connect("alice", ldap_server.users["alice"]) as conn, conn.cursor() as cur:
            with pytest.raises(Exception, match="writer role"):
                cur.execute("DROP TABLE by_ldap_writer")
        for user in ["*)(uid=*))(|(uid=*", "*", "alice)(|(uid=*", "frank"]:
            with pytest.raises(Exception, match="Invalid user name or password|no Squadron role"):
                with connect(user, "anything") as conn, conn.cursor() as cur:
                    cur.execute("SELECT 1")
        log = server.log()
        assert 'event=auth_succeeded user="bob" method=ldap role=writer' in log
        assert ldap_server.users["bob"] not in log
    finally:
        server.kill()


# --- a cluster: one token, every node ----------------------------------------------------------

def test_a_token_from_one_node_works_on_every_node_of_its_cluster_only(setup, zookeeper, tmp_path, pki):
    from test_cluster import Cluster, wait_members
    d, users, secret, init = setup
    other_secret = tmp_path / "other.secret"
    other_secret.write_bytes(b"another-cluster-secret-0123456789abcdef")
    auth = ["--auth", "password", "--password-file", str(users), "--init-sql", str(init),
            "--tls-cert", str(pki.server_cert), "--tls-key", str(pki.server_key), "--tls-peer-ca", str(pki.ca)]
    ours = Cluster(zookeeper.connect_string, tmp_path, secret)
    theirs = Cluster(zookeeper.connect_string, tmp_path, other_secret)
    try:
        a = ours.start("a", *auth)
        b = ours.start("b", *auth)
        wait_members(ours, ["a", "b"])
        stranger = theirs.start("s", *auth)
        assert a.uri.startswith("grpc+tls://")
        root = pki.ca.read_bytes()
        token = flight.connect(a.uri, tls_root_certs=root).authenticate_basic_token(b"bob", PASSWORDS["bob"].encode())
        options = flight.FlightCallOptions(headers=[token])
        # Node b never saw bob's password: the token from a is enough.
        on_b = flight.connect(b.uri, tls_root_certs=root)
        assert run(on_b, options, "SELECT * FROM t ORDER BY id", root).equals(REFERENCE)
        # Node a forwards some queries to b (the less loaded, ties at random):
        # over TLS, as bob, whose result it stays.
        on_a = flight.connect(a.uri, tls_root_certs=root)
        for _ in range(12):
            assert run(on_a, options, "SELECT * FROM t ORDER BY id", root).equals(REFERENCE)
        assert "event=query_routed node=b uri=grpc+tls://" in a.log()
        assert "event=route_failed" not in a.log()
        assert 'event=auth_succeeded user="bob"' not in b.log()  # b never saw bob's password
        with pytest.raises(flight.FlightUnauthenticatedError, match="issued by another cluster"):
            flight.connect(stranger.uri, tls_root_certs=root).get_flight_info(
                descriptor(statement_query("SELECT 1")), options)
    finally:
        ours.stop()
        theirs.stop()


# --- Kerberos --------------------------------------------------------------------------------------

def test_kerberos_with_adbc_authorization_header_and_squadron_query(setup, kdc):
    d, users, secret, init = setup
    server = ServerProcess(["--port", "0", "--auth", "kerberos", "--kerberos-keytab", str(kdc.keytab),
                            "--kerberos-principal", f"HTTP/localhost@{kdc.realm}", "--kerberos-user-role",
                            "bob=writer", "--kerberos-default-role", "reader", "--ticket-secret-file", str(secret),
                            "--init-sql", str(init), "--auth-max-failures", "0"],
                           d / "kerberos.log", env=kdc.env())
    try:
        uri = server.uri.replace("127.0.0.1", "localhost")  # the service is HTTP@localhost
        token = kdc.negotiate_token("alice")
        with flightsql_dbapi.connect(uri, db_kwargs={"adbc.flight.sql.authorization_header": f"Negotiate {token}"},
                                     autocommit=True) as conn, conn.cursor() as cur:
            cur.execute("SELECT * FROM t ORDER BY id")  # several calls: the bearer token answered takes over
            assert cur.fetch_arrow_table().equals(REFERENCE)
            with pytest.raises(Exception, match="writer role"):
                cur.execute("DELETE FROM t")
        # A Negotiate token is good once.
        client = flight.connect(uri)
        with pytest.raises(flight.FlightUnauthenticatedError):
            client.get_flight_info(descriptor(statement_query("SELECT 1")),
                                   flight.FlightCallOptions(headers=[(b"authorization", f"Negotiate {token}".encode())]))
        with pytest.raises(flight.FlightUnauthenticatedError):
            client.get_flight_info(descriptor(statement_query("SELECT 1")),
                                   flight.FlightCallOptions(headers=[(b"authorization", b"Negotiate bm90IGEgdG9rZW4=")]))
        # squadron query --kerberos, from bob's ticket cache.
        out = subprocess.run([BIN, "query", "--uri", uri, "--kerberos", "SELECT count(*) AS n FROM t"],
                             capture_output=True, text=True, timeout=60, env=kdc.env("bob"))
        assert out.returncode == 0 and "1000" in out.stdout, out.stderr
        log = server.log()
        assert 'event=auth_succeeded user="alice" method=kerberos role=reader' in log
        assert 'event=auth_succeeded user="bob" method=kerberos role=writer' in log
        assert token not in log
    finally:
        server.kill()


def test_spark_sessions_run_as_the_squadron_user(setup, spark_connect):
    d, users, secret, init = setup
    server = ServerProcess(["--port", "0", "--engine", "spark", "--spark-connect", str(spark_connect), "--auth",
                            "password", "--password-file", str(users), "--ticket-secret-file", str(secret)],
                           d / "spark-auth.log")
    try:
        from conftest import spark_app_id, spark_ui_json
        for user in ("alice", "bob"):
            client, options = as_user(server, user)
            marker = f"squadron_user_check_{user}"
            got = run(client, options, f"SELECT count(*) AS {marker} FROM range(0, 1000, 1, 2)")
            assert got.column(marker)[0].as_py() == 1000
            # Spark Connect tags each job with the user of the session's requests.
            url = f"{spark_connect.ui}/api/v1/applications/{spark_app_id(spark_connect)}/jobs"
            tags = [tag for job in spark_ui_json(url) for tag in job.get("jobTags", [])]
            assert any(f"_User_{user}_" in tag for tag in tags), tags[-10:]
    finally:
        server.kill()


def test_the_password_file_is_read_again_when_it_changes(setup, tmp_path):
    d, users, secret, init = setup
    own = tmp_path / "users"
    passwd(own, "alice", PASSWORDS["alice"], "reader")
    server = ServerProcess(["--port", "0", "--auth", "password", "--password-file", str(own), "--ticket-secret-file",
                            str(secret), "--init-sql", str(init), "--auth-max-failures", "0"], tmp_path / "reload.log")
    try:
        client = flight.connect(server.uri)
        with pytest.raises(flight.FlightUnauthenticatedError):
            client.authenticate_basic_token(b"zoe", b"zoe-pw-9")
        passwd(own, "zoe", "zoe-pw-9", "writer")  # while the server runs
        deadline = time.monotonic() + 10
        while True:
            try:
                header = client.authenticate_basic_token(b"zoe", b"zoe-pw-9")
                break
            except flight.FlightUnauthenticatedError:
                assert time.monotonic() < deadline, "the new user was never accepted"
                time.sleep(0.2)
        assert run(client, flight.FlightCallOptions(headers=[header]), "SELECT count(*) AS n FROM t").column("n")[0].as_py() == 1000
        assert "event=password_file_reloaded" in server.log()
    finally:
        server.kill()
