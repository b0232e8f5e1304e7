#include "cli/config.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include <CLI/CLI.hpp>
#include <toml++/toml.h>

#include "auth/kerberos.h"
#include "common/units.h"
#include "flight/compression.h"

namespace squadron::cli {

namespace {

// Raw option values as typed; converted and checked after parsing.
struct RawServeOptions {
  std::string host = "127.0.0.1";
  int port = 31337;
  std::string database = ":memory:";
  std::string init_sql_file;
  bool read_only = false;
  int64_t batch_rows = 65536;
  std::string batch_bytes = "8MiB";
  int threads = 0;
  std::string memory_limit;
  std::string log_level = "info";
  std::string result_ttl = "5m";
  size_t max_open_results = 1024;
  std::string ticket_secret_file;
  std::string shutdown_timeout = "30s";
  std::string statement_idle_timeout = "15m";
  std::string session_idle_timeout = "1h";
  std::string transaction_idle_timeout = "15m";
  std::string query_timeout = "0";
  std::string ipc_compression = "none";
  size_t max_transactions = 1000;
  size_t max_sessions = 10000;
  size_t max_prepared_statements = 10000;
  size_t max_streams = 128;
  int64_t max_statement_ctes = 256;
  int64_t idle_connections = 16;
  int64_t plan_cache = 64;
  std::string first_batch_wait = "50ms";
  std::string memory_release_interval = "10s";
  std::string engine = "duckdb";
  std::string spark_connect = "sc://127.0.0.1:15002";
  std::string spark_user = "squadron";
  std::string spark_connect_timeout = "30s";
  std::string spark_connect_token_file;
  bool spark_connect_tls = false;
  std::string spark_connect_ca;
  std::string cluster;
  std::string node_id;
  std::string advertise_uri;
  std::string cluster_session_timeout = "10s";
  std::string spool_memory = "256MiB";
  std::string distribute = "auto";
  std::string distribute_min_size = "64MiB";
  std::vector<std::string> spark_writer_options;
  std::string spool_dir;
  std::string spool_disk = "10GiB";
  std::vector<std::string> data_paths;
  std::string config_file;
  // Security (docs/security.md).
  std::string auth = "none";
  bool allow_insecure = false;
  std::string password_file;
  std::string token_ttl = "1h";
  int auth_max_failures = 5;
  std::string tls_cert;
  std::string tls_key;
  std::string tls_client_ca;
  std::string tls_peer_ca;
  std::vector<std::string> mtls_user_roles;
  std::string mtls_default_role = "reader";
  std::string ldap_uri;
  bool ldap_start_tls = false;
  std::string ldap_ca;
  std::string ldap_bind_dn;
  std::string ldap_bind_password_file;
  std::string ldap_user_base;
  std::string ldap_user_filter = auth::LdapOptions{}.user_filter;
  std::string ldap_group_base;
  std::string ldap_group_filter = auth::LdapOptions{}.group_filter;
  std::vector<std::string> ldap_group_roles;
  std::string ldap_default_role = "none";
  std::string ldap_timeout = "5s";
  std::string kerberos_keytab;
  std::string kerberos_principal;
  std::vector<std::string> kerberos_user_maps;
  std::vector<std::string> kerberos_user_roles;
  std::string kerberos_default_role = "none";
};

CLI::Option* WithEnv(CLI::Option* option, const std::string& env) {
  return option->envname(env)->capture_default_str();
}

void AddServeOptions(CLI::App* serve, RawServeOptions* raw) {
  WithEnv(serve->add_option("--config", raw->config_file,
                            "TOML file setting any option below as name = value (e.g. port = 0, "
                            "data = [\"lake/trips/\"]); flags and environment win over it"),
          "SQUADRON_CONFIG");
  WithEnv(serve->add_option("--host", raw->host, "Address to listen on"), "SQUADRON_HOST");
  WithEnv(serve->add_option("--engine", raw->engine,
                            "duckdb (embedded, the default) or spark (every statement runs on a Spark "
                            "Connect server: see --spark-connect and docs/spark.md)")
              ->check(CLI::IsMember({"duckdb", "spark"})),
          "SQUADRON_ENGINE");
  WithEnv(serve->add_option("--spark-connect", raw->spark_connect,
                            "With --engine spark: the Spark Connect server, sc://HOST:PORT[/;token=...;"
                            "use_ssl=true] (Spark Connect's URI form)"),
          "SQUADRON_SPARK_CONNECT");
  WithEnv(serve->add_option("--spark-connect-token-file", raw->spark_connect_token_file,
                            "With --engine spark: file holding the token sent to Spark Connect as "
                            "'authorization: Bearer' (Spark's spark.connect.authenticate.token)"),
          "SQUADRON_SPARK_CONNECT_TOKEN_FILE");
  WithEnv(serve->add_flag("--spark-connect-tls", raw->spark_connect_tls,
                          "With --engine spark: connect to Spark Connect with TLS"),
          "SQUADRON_SPARK_CONNECT_TLS");
  WithEnv(serve->add_option("--spark-connect-ca", raw->spark_connect_ca,
                            "With --spark-connect-tls: PEM file of the certificate authorities to trust "
                            "(default: the system's)"),
          "SQUADRON_SPARK_CONNECT_CA");
  WithEnv(serve->add_option("--spark-user", raw->spark_user, "With --engine spark: the user Spark sees"),
          "SQUADRON_SPARK_USER");
  WithEnv(serve->add_option("--spark-connect-timeout", raw->spark_connect_timeout,
                            "With --engine spark: how long to wait for Spark Connect to answer at "
                            "start-up before exiting with an error"),
          "SQUADRON_SPARK_CONNECT_TIMEOUT");
  WithEnv(serve->add_option("--port", raw->port, "Port to listen on; 0 picks a free port")
              ->check(CLI::Range(0, 65535)),
          "SQUADRON_PORT");
  WithEnv(serve->add_option("--database", raw->database,
                            "DuckDB database file, or :memory: for an in-memory database"),
          "SQUADRON_DATABASE");
  WithEnv(serve->add_option("--init-sql", raw->init_sql_file,
                            "File of SQL statements run once at start-up (e.g. CREATE VIEW ... "
                            "AS SELECT * FROM 'lake/*.parquet')"),
          "SQUADRON_INIT_SQL");
  WithEnv(serve->add_flag("--read-only", raw->read_only,
                          "Refuse every statement that writes (PERMISSION_DENIED)"),
          "SQUADRON_READ_ONLY");
  WithEnv(serve->add_option("--batch-rows", raw->batch_rows, "Maximum rows per result batch")
              ->check(CLI::PositiveNumber),
          "SQUADRON_BATCH_ROWS");
  WithEnv(serve->add_option("--batch-bytes", raw->batch_bytes,
                            "Target size of a result batch (e.g. 8MiB); wide rows get fewer rows "
                            "per batch"),
          "SQUADRON_BATCH_BYTES");
  WithEnv(serve->add_option("--threads", raw->threads, "DuckDB worker threads; 0 = one per core")
              ->check(CLI::NonNegativeNumber),
          "SQUADRON_THREADS");
  WithEnv(serve->add_option("--memory-limit", raw->memory_limit,
                            "DuckDB memory limit (e.g. 4GB); default: DuckDB's, 80% of RAM"),
          "SQUADRON_MEMORY_LIMIT");
  WithEnv(serve->add_option("--log-level", raw->log_level,
                            "trace, debug, info, warn, error or off (logs go to stderr)"),
          "SQUADRON_LOG_LEVEL");
  WithEnv(serve->add_option("--result-ttl", raw->result_ttl,
                            "How long an executed result waits for its fetch (DoGet) before it "
                            "is released; also the tickets' expiry (e.g. 30s, 5m)"),
          "SQUADRON_RESULT_TTL");
  WithEnv(serve->add_option("--max-open-results", raw->max_open_results,
                            "Unfetched results held at once; more queries get UNAVAILABLE")
              ->check(CLI::PositiveNumber),
          "SQUADRON_MAX_OPEN_RESULTS");
  WithEnv(serve->add_option("--ticket-secret-file", raw->ticket_secret_file,
                            "File holding the HMAC key that signs tickets (at least 16 bytes); "
                            "default: a random key per start"),
          "SQUADRON_TICKET_SECRET_FILE");
  WithEnv(serve->add_option("--shutdown-timeout", raw->shutdown_timeout,
                            "On SIGINT/SIGTERM, how long in-flight calls may finish before "
                            "they are cancelled; if any still runs 10s later, the process exits "
                            "with code 3"),
          "SQUADRON_SHUTDOWN_TIMEOUT");
  WithEnv(serve->add_option("--statement-idle-timeout", raw->statement_idle_timeout,
                            "A prepared statement handle unused this long is closed"),
          "SQUADRON_STATEMENT_IDLE_TIMEOUT");
  WithEnv(serve->add_option("--max-prepared-statements", raw->max_prepared_statements,
                            "Prepared statement handles open at once")
              ->check(CLI::PositiveNumber),
          "SQUADRON_MAX_PREPARED_STATEMENTS");
  WithEnv(serve->add_option("--session-idle-timeout", raw->session_idle_timeout,
                            "A client session (cookie arrow_flight_session_id) unused this long is "
                            "closed with its prepared statements"),
          "SQUADRON_SESSION_IDLE_TIMEOUT");
  WithEnv(serve->add_option("--max-sessions", raw->max_sessions, "Client sessions open at once")
              ->check(CLI::PositiveNumber),
          "SQUADRON_MAX_SESSIONS");
  WithEnv(serve->add_option("--transaction-idle-timeout", raw->transaction_idle_timeout,
                            "A transaction with no statement for this long is rolled back"),
          "SQUADRON_TRANSACTION_IDLE_TIMEOUT");
  WithEnv(serve->add_option("--max-transactions", raw->max_transactions,
                            "Transactions open at once (each holds a DuckDB connection)")
              ->check(CLI::PositiveNumber),
          "SQUADRON_MAX_TRANSACTIONS");
  WithEnv(serve->add_option("--query-timeout", raw->query_timeout,
                            "Longest a query may run, from execution to the end of its result "
                            "stream (e.g. 10m); 0 = no limit; sessions may override it"),
          "SQUADRON_QUERY_TIMEOUT");
  WithEnv(serve->add_option("--ipc-compression", raw->ipc_compression,
                            "IPC body compression of results: none, zstd or lz4; sessions (option "
                            "ipc_compression) and calls (header squadron-ipc-compression) may override it"),
          "SQUADRON_IPC_COMPRESSION");
  WithEnv(serve->add_option("--max-streams", raw->max_streams,
                            "Result streams (DoGet) and uploads (DoPut) served at once; more get "
                            "RESOURCE_EXHAUSTED, and their tickets stay valid for a retry")
              ->check(CLI::PositiveNumber),
          "SQUADRON_MAX_STREAMS");
  WithEnv(serve->add_option("--max-statement-ctes", raw->max_statement_ctes,
                            "Most common table expressions (WITH name AS (...)) in one statement; "
                            "DuckDB's parser memory grows with their square; 0 = no limit")
              ->check(CLI::NonNegativeNumber),
          "SQUADRON_MAX_STATEMENT_CTES");
  WithEnv(serve->add_option("--idle-connections", raw->idle_connections,
                            "DuckDB connections kept open between statements for reuse; a connection "
                            "that ran anything but queries is closed instead; 0 = connect for each statement")
              ->check(CLI::NonNegativeNumber),
          "SQUADRON_IDLE_CONNECTIONS");
  WithEnv(serve->add_option("--plan-cache", raw->plan_cache,
                            "Query plans each kept connection caches by SQL text (only plans that read "
                            "DuckDB tables alone; any other statement retires them all); 0 = none")
              ->check(CLI::NonNegativeNumber),
          "SQUADRON_PLAN_CACHE");
  WithEnv(serve->add_option("--first-batch-wait", raw->first_batch_wait,
                            "How long GetFlightInfo waits for a query's first rows before it answers "
                            "(then the result streams while it is computed, and can be cancelled); "
                            "results complete within it report their row count"),
          "SQUADRON_FIRST_BATCH_WAIT");
  WithEnv(serve->add_option("--memory-release-interval", raw->memory_release_interval,
                            "How often freed memory is handed back to the operating system "
                            "(malloc_trim); 0 = never"),
          "SQUADRON_MEMORY_RELEASE_INTERVAL");
  WithEnv(serve->add_option("--cluster", raw->cluster,
                            "Join a cluster coordinated by ZooKeeper: zk://HOST:PORT[,HOST:PORT...]/PATH "
                            "(docs/cluster.md); every node needs the same --ticket-secret-file"),
          "SQUADRON_CLUSTER");
  WithEnv(serve->add_option("--node-id", raw->node_id,
                            "This node's id in the cluster, unique among its nodes; default: "
                            "HOSTNAME-PORT"),
          "SQUADRON_NODE_ID");
  WithEnv(serve->add_option("--advertise-uri", raw->advertise_uri,
                            "The URI clients and other nodes reach this node at (grpc://host:port); "
                            "default: grpc://HOST:PORT, with the machine's name for 0.0.0.0"),
          "SQUADRON_ADVERTISE_URI");
  WithEnv(serve->add_option("--cluster-session-timeout", raw->cluster_session_timeout,
                            "ZooKeeper session timeout: a node that dies leaves the cluster, and its "
                            "queries fail, this long after"),
          "SQUADRON_CLUSTER_SESSION_TIMEOUT");
  WithEnv(serve->add_option("--distribute", raw->distribute,
                            "In a cluster with --engine spark: which queries run distributed, Spark's "
                            "executors pushing the result into the nodes: auto (those Spark's optimizer "
                            "expects to return at least --distribute-min-size), always, never")
              ->check(CLI::IsMember({"auto", "always", "never"})),
          "SQUADRON_DISTRIBUTE");
  WithEnv(serve->add_option("--distribute-min-size", raw->distribute_min_size,
                            "With --distribute auto: the estimated result size from which a query runs "
                            "distributed (e.g. 64MiB); smaller results come through the Spark driver"),
          "SQUADRON_DISTRIBUTE_MIN_SIZE");
  serve->add_option("--spark-writer-option", raw->spark_writer_options,
                    "KEY=VALUE passed to the Spark connector's writer of distributed results (e.g. "
                    "squadron.batchRows=65536; repeatable; docs/spark.md lists them)");
  WithEnv(serve->add_option("--spool-memory", raw->spool_memory,
                            "Memory for batches producers push into this node (cluster exchange) "
                            "before they go to --spool-dir"),
          "SQUADRON_SPOOL_MEMORY");
  WithEnv(serve->add_option("--spool-dir", raw->spool_dir,
                            "Directory for the exchange's spill files; default: the system's temp "
                            "directory ($TMPDIR or /tmp)"),
          "SQUADRON_SPOOL_DIR");
  WithEnv(serve->add_option("--spool-disk", raw->spool_disk,
                            "Disk for spill files; when memory and disk are full, producers wait"),
          "SQUADRON_SPOOL_DISK");
  WithEnv(serve->add_option("--auth", raw->auth,
                            "Authentication methods, comma-separated: none (the default; refused on "
                            "addresses other than loopback without --allow-insecure), password, mtls "
                            "(docs/security.md)"),
          "SQUADRON_AUTH");
  WithEnv(serve->add_flag("--allow-insecure", raw->allow_insecure,
                          "Accept --auth none on an address other than loopback"),
          "SQUADRON_ALLOW_INSECURE");
  WithEnv(serve->add_option("--password-file", raw->password_file,
                            "With --auth password: the users' file of argon2id hashes (squadron passwd); read "
                            "again when it changes"),
          "SQUADRON_PASSWORD_FILE");
  WithEnv(serve->add_option("--token-ttl", raw->token_ttl,
                            "Life of the bearer tokens a successful authentication returns; every node of the "
                            "cluster accepts them"),
          "SQUADRON_TOKEN_TTL");
  WithEnv(serve->add_option("--auth-max-failures", raw->auth_max_failures,
                            "Failed authentications from one user or address before each next attempt waits "
                            "(1 s, doubling, up to 64 s); 0 = never"),
          "SQUADRON_AUTH_MAX_FAILURES");
  WithEnv(serve->add_option("--tls-cert", raw->tls_cert,
                            "PEM certificate chain: serve grpc+tls:// (with --tls-key)"),
          "SQUADRON_TLS_CERT");
  WithEnv(serve->add_option("--tls-key", raw->tls_key, "PEM private key of --tls-cert"), "SQUADRON_TLS_KEY");
  WithEnv(serve->add_option("--tls-client-ca", raw->tls_client_ca,
                            "PEM CAs a client certificate must chain to: mutual TLS, every client needs one "
                            "(with --auth mtls its name is the user)"),
          "SQUADRON_TLS_CLIENT_CA");
  WithEnv(serve->add_option("--tls-peer-ca", raw->tls_peer_ca,
                            "PEM CAs trusted for the other nodes' certificates (default: --tls-client-ca, else "
                            "the system's)"),
          "SQUADRON_TLS_PEER_CA");
  serve->add_option("--mtls-user-role", raw->mtls_user_roles,
                    "With --auth mtls: USER=ROLE for a certificate's user (repeatable)");
  WithEnv(serve->add_option("--mtls-default-role", raw->mtls_default_role,
                            "With --auth mtls: the role of other certificate users: reader, writer, admin or "
                            "none (refused)"),
          "SQUADRON_MTLS_DEFAULT_ROLE");
  WithEnv(serve->add_option("--ldap-uri", raw->ldap_uri,
                            "With --auth ldap: ldap://HOST:PORT or ldaps://HOST:PORT (space-separated to try several)"),
          "SQUADRON_LDAP_URI");
  WithEnv(serve->add_flag("--ldap-start-tls", raw->ldap_start_tls, "StartTLS on an ldap:// connection (required to succeed)"),
          "SQUADRON_LDAP_START_TLS");
  WithEnv(serve->add_option("--ldap-ca", raw->ldap_ca, "PEM CAs to verify the LDAP server's certificate (default: the system's)"),
          "SQUADRON_LDAP_CA");
  WithEnv(serve->add_option("--ldap-bind-dn", raw->ldap_bind_dn, "The service account that searches for users"),
          "SQUADRON_LDAP_BIND_DN");
  WithEnv(serve->add_option("--ldap-bind-password-file", raw->ldap_bind_password_file,
                            "File holding the service account's password"),
          "SQUADRON_LDAP_BIND_PASSWORD_FILE");
  WithEnv(serve->add_option("--ldap-user-base", raw->ldap_user_base, "Where users are searched (a DN)"),
          "SQUADRON_LDAP_USER_BASE");
  WithEnv(serve->add_option("--ldap-user-filter", raw->ldap_user_filter,
                            "Filter finding one user; {user} is the user name, escaped as RFC 4515 says"),
          "SQUADRON_LDAP_USER_FILTER");
  WithEnv(serve->add_option("--ldap-group-base", raw->ldap_group_base, "Where groups are searched (a DN; empty: no groups)"),
          "SQUADRON_LDAP_GROUP_BASE");
  WithEnv(serve->add_option("--ldap-group-filter", raw->ldap_group_filter,
                            "Filter finding a user's groups; {dn} the user's DN, {user} the name (both escaped)"),
          "SQUADRON_LDAP_GROUP_FILTER");
  serve->add_option("--ldap-group-role", raw->ldap_group_roles,
                    "GROUP=ROLE: members of the group (its cn or DN) get the role (repeatable; the strongest wins)");
  WithEnv(serve->add_option("--ldap-default-role", raw->ldap_default_role,
                            "The role of users in no mapped group: reader, writer, admin or none (refused)"),
          "SQUADRON_LDAP_DEFAULT_ROLE");
  WithEnv(serve->add_option("--ldap-timeout", raw->ldap_timeout, "Timeout of each LDAP operation"),
          "SQUADRON_LDAP_TIMEOUT");
  WithEnv(serve->add_option("--kerberos-keytab", raw->kerberos_keytab,
                            "With --auth kerberos: the keytab holding the service principal's key"),
          "SQUADRON_KERBEROS_KEYTAB");
  WithEnv(serve->add_option("--kerberos-principal", raw->kerberos_principal,
                            "The service principal (HTTP/host@REALM, or service@host); empty: any in the keytab"),
          "SQUADRON_KERBEROS_PRINCIPAL");
  serve->add_option("--kerberos-user-map", raw->kerberos_user_maps,
                    "REGEX=REPLACEMENT from a principal to a user name, tried in order (default: the principal "
                    "without its realm; repeatable)");
  serve->add_option("--kerberos-user-role", raw->kerberos_user_roles, "USER=ROLE for a Kerberos user (repeatable)");
  WithEnv(serve->add_option("--kerberos-default-role", raw->kerberos_default_role,
                            "The role of other Kerberos users: reader, writer, admin or none (refused)"),
          "SQUADRON_KERBEROS_DEFAULT_ROLE");
  serve->add_option("data", raw->data_paths,
                    "Data to serve: Parquet/CSV/JSON files, directories or globs (each a view "
                    "named after it), DuckDB files (attached); NAME=PATH picks the name");
}

arrow::Result<std::string> TomlScalar(const toml::node& node) {
  if (auto v = node.value<std::string>()) return *v;
  if (auto v = node.value<int64_t>()) return std::to_string(*v);
  if (auto v = node.value<bool>()) return std::string(*v ? "true" : "false");
  return arrow::Status::Invalid("expected a string, integer or boolean");
}

// Applies `name = value` pairs of a TOML file to options that no flag or
// environment variable has set.
arrow::Status ApplyConfigFile(CLI::App* serve, const std::string& path) {
  toml::table table;
  try {
    table = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    return arrow::Status::Invalid("Cannot read config file '", path, "': ", e.description(),
                                  " (line ", e.source().begin.line, ")");
  }
  for (auto&& [key, node] : table) {
    const std::string name(key.str());
    CLI::Option* option =
        name == "data" ? serve->get_option_no_throw("data") : serve->get_option_no_throw("--" + name);
    if (option == nullptr || name == "config" || name == "help") {
      return arrow::Status::Invalid("Unknown option '", name, "' in config file '", path,
                                    "' (squadron serve --help lists them)");
    }
    if (option->count() > 0) continue;
    std::vector<std::string> values;
    if (const toml::array* array = node.as_array()) {
      for (const auto& element : *array) {
        auto value = TomlScalar(element);
        if (!value.ok()) return arrow::Status::Invalid("Invalid '", name, "' in '", path, "': ", value.status().message());
        values.push_back(*value);
      }
    } else {
      auto value = TomlScalar(node);
      if (!value.ok()) return arrow::Status::Invalid("Invalid '", name, "' in '", path, "': ", value.status().message());
      values.push_back(*value);
    }
    for (const auto& value : values) option->add_result(value);
    try {
      option->run_callback();
    } catch (const CLI::Error& e) {
      return arrow::Status::Invalid("Invalid '", name, "' in config file '", path, "': ", e.what());
    }
  }
  return arrow::Status::OK();
}

arrow::Result<std::string> ReadFile(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return arrow::Status::Invalid("Cannot read ", what, " '", path, "'");
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

arrow::Result<auth::Role> RoleOption(const std::string& value, const char* flag) {
  if (value == "none") return auth::Role::kNone;
  auto role = auth::ParseRole(value);
  if (!role.ok()) return arrow::Status::Invalid(flag, ": ", role.status().message(), " (or none)");
  return role;
}

arrow::Status ConvertSecurity(const RawServeOptions& raw, server::ServerOptions* options) {
  auto& security = options->security;
  auto& methods = security.auth.methods;
  methods.clear();
  std::stringstream list(raw.auth);
  for (std::string method; std::getline(list, method, ',');) {
    if (method.empty()) continue;
    if (method != "none" && method != "password" && method != "mtls" && method != "ldap" && method != "kerberos") {
      return arrow::Status::Invalid("Unknown --auth method '", method,
                                    "': expected none, password, ldap, kerberos or mtls");
    }
    methods.insert(method);
  }
  if (methods.empty()) return arrow::Status::Invalid("--auth names no method");
  if (methods.count("none") && methods.size() > 1) {
    return arrow::Status::Invalid("--auth none cannot be combined with other methods");
  }
  security.allow_insecure = raw.allow_insecure;
  ARROW_ASSIGN_OR_RAISE(auto ttl, ParseDuration(raw.token_ttl));
  security.auth.token_ttl = std::chrono::duration_cast<std::chrono::seconds>(ttl);
  if (security.auth.token_ttl.count() < 1) return arrow::Status::Invalid("--token-ttl must be at least 1s");
  security.auth.max_failures = raw.auth_max_failures;
  if (methods.count("password")) {
    if (raw.password_file.empty()) {
      return arrow::Status::Invalid("--auth password needs --password-file (create it with: squadron passwd FILE USER)");
    }
    security.password_file = raw.password_file;
  }
  if (raw.tls_cert.empty() != raw.tls_key.empty()) {
    return arrow::Status::Invalid("--tls-cert and --tls-key go together");
  }
  if (!raw.tls_cert.empty()) {
    ARROW_ASSIGN_OR_RAISE(security.tls_cert, ReadFile(raw.tls_cert, "--tls-cert"));
    ARROW_ASSIGN_OR_RAISE(security.tls_key, ReadFile(raw.tls_key, "--tls-key"));
  }
  if (!raw.tls_client_ca.empty()) {
    if (raw.tls_cert.empty()) return arrow::Status::Invalid("--tls-client-ca needs --tls-cert and --tls-key");
    ARROW_ASSIGN_OR_RAISE(security.tls_client_ca, ReadFile(raw.tls_client_ca, "--tls-client-ca"));
  }
  if (!raw.tls_peer_ca.empty()) {
    ARROW_ASSIGN_OR_RAISE(security.tls_peer_ca, ReadFile(raw.tls_peer_ca, "--tls-peer-ca"));
  }
  if (methods.count("mtls") && security.tls_client_ca.empty()) {
    return arrow::Status::Invalid("--auth mtls needs --tls-client-ca (and --tls-cert, --tls-key)");
  }
  for (const auto& item : raw.mtls_user_roles) {
    const auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0) return arrow::Status::Invalid("--mtls-user-role '", item, "': expected USER=ROLE");
    ARROW_ASSIGN_OR_RAISE(security.auth.mtls_roles[item.substr(0, eq)],
                          RoleOption(item.substr(eq + 1), "--mtls-user-role"));
  }
  ARROW_ASSIGN_OR_RAISE(security.auth.mtls_default_role, RoleOption(raw.mtls_default_role, "--mtls-default-role"));
  if (methods.count("ldap")) {
    auto& ldap = security.ldap;
    if (raw.ldap_uri.empty() || raw.ldap_user_base.empty()) {
      return arrow::Status::Invalid("--auth ldap needs --ldap-uri and --ldap-user-base (and usually --ldap-bind-dn "
                                    "with --ldap-bind-password-file)");
    }
    ldap.uri = raw.ldap_uri;
    ldap.start_tls = raw.ldap_start_tls;
    ldap.ca_file = raw.ldap_ca;
    ldap.bind_dn = raw.ldap_bind_dn;
    ldap.bind_password_file = raw.ldap_bind_password_file;
    ldap.user_base_dn = raw.ldap_user_base;
    ldap.user_filter = raw.ldap_user_filter;
    ldap.group_base_dn = raw.ldap_group_base;
    ldap.group_filter = raw.ldap_group_filter;
    for (const auto& item : raw.ldap_group_roles) {
      const auto eq = item.rfind('=');
      if (eq == std::string::npos || eq == 0) {
        return arrow::Status::Invalid("--ldap-group-role '", item, "': expected GROUP=ROLE");
      }
      ARROW_ASSIGN_OR_RAISE(ldap.group_roles[item.substr(0, eq)], RoleOption(item.substr(eq + 1), "--ldap-group-role"));
    }
    ARROW_ASSIGN_OR_RAISE(ldap.default_role, RoleOption(raw.ldap_default_role, "--ldap-default-role"));
    ARROW_ASSIGN_OR_RAISE(ldap.timeout, ParseDuration(raw.ldap_timeout));
  }
  if (methods.count("kerberos")) {
    auto& kerberos = security.kerberos;
    if (raw.kerberos_keytab.empty()) return arrow::Status::Invalid("--auth kerberos needs --kerberos-keytab");
    kerberos.keytab = raw.kerberos_keytab;
    kerberos.principal = raw.kerberos_principal;
    for (const auto& item : raw.kerberos_user_maps) {
      auto split = auth::kerberos::SplitMapping(item);
      if (!split.ok()) return arrow::Status::Invalid("--kerberos-user-map '", item, "': ", split.status().message());
      kerberos.user_map.push_back(*split);
    }
    for (const auto& item : raw.kerberos_user_roles) {
      auto split = auth::kerberos::SplitMapping(item);
      if (!split.ok()) return arrow::Status::Invalid("--kerberos-user-role '", item, "': ", split.status().message());
      ARROW_ASSIGN_OR_RAISE(kerberos.user_roles[split->first], RoleOption(split->second, "--kerberos-user-role"));
    }
    ARROW_ASSIGN_OR_RAISE(kerberos.default_role, RoleOption(raw.kerberos_default_role, "--kerberos-default-role"));
  }
  return arrow::Status::OK();
}

arrow::Result<server::ServerOptions> Convert(const RawServeOptions& raw) {
  server::ServerOptions options;
  options.host = raw.host;
  options.engine = raw.engine;
  options.spark.endpoint = raw.spark_connect;
  options.spark.user = raw.spark_user;
  ARROW_ASSIGN_OR_RAISE(options.spark.connect_timeout, ParseDuration(raw.spark_connect_timeout));
  if (!raw.spark_connect_token_file.empty()) {
    ARROW_ASSIGN_OR_RAISE(auto token, ReadFile(raw.spark_connect_token_file, "--spark-connect-token-file"));
    while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.pop_back();
    if (token.empty()) return arrow::Status::Invalid("--spark-connect-token-file '", raw.spark_connect_token_file,
                                                     "' is empty");
    options.spark.token = std::move(token);
  }
  options.spark.tls = raw.spark_connect_tls;
  options.spark.tls_ca_file = raw.spark_connect_ca;
  options.port = raw.port;
  auto& db = options.duckdb;
  db.database = raw.database;
  db.read_only = raw.read_only;
  db.batch_rows = raw.batch_rows;
  ARROW_ASSIGN_OR_RAISE(db.batch_bytes, ParseByteSize(raw.batch_bytes));
  db.threads = raw.threads;
  db.memory_limit = raw.memory_limit;
  db.data_paths = raw.data_paths;
  db.max_statement_ctes = raw.max_statement_ctes;
  db.idle_connections = raw.idle_connections;
  db.plans_per_connection = raw.plan_cache;
  if (!raw.init_sql_file.empty()) {
    ARROW_ASSIGN_OR_RAISE(db.init_sql, ReadFile(raw.init_sql_file, "--init-sql file"));
  }
  ARROW_ASSIGN_OR_RAISE(options.flight.result_ttl, ParseDuration(raw.result_ttl));
  if (options.flight.result_ttl.count() == 0) {
    return arrow::Status::Invalid("Invalid --result-ttl: must be greater than zero");
  }
  options.flight.max_open_results = raw.max_open_results;
  options.flight.max_streams = raw.max_streams;
  ARROW_ASSIGN_OR_RAISE(options.flight.first_batch_wait, ParseDuration(raw.first_batch_wait));
  ARROW_ASSIGN_OR_RAISE(options.memory_release_interval, ParseDuration(raw.memory_release_interval));
  if (!raw.ticket_secret_file.empty()) {
    ARROW_ASSIGN_OR_RAISE(options.flight.ticket_secret,
                          ReadFile(raw.ticket_secret_file, "--ticket-secret-file"));
    while (!options.flight.ticket_secret.empty() &&
           (options.flight.ticket_secret.back() == '\n' || options.flight.ticket_secret.back() == '\r')) {
      options.flight.ticket_secret.pop_back();
    }
  }
  ARROW_ASSIGN_OR_RAISE(options.shutdown_timeout, ParseDuration(raw.shutdown_timeout));
  ARROW_ASSIGN_OR_RAISE(options.flight.statement_idle_timeout, ParseDuration(raw.statement_idle_timeout));
  options.flight.max_prepared_statements = raw.max_prepared_statements;
  ARROW_ASSIGN_OR_RAISE(options.flight.session_idle_timeout, ParseDuration(raw.session_idle_timeout));
  options.flight.max_sessions = raw.max_sessions;
  ARROW_ASSIGN_OR_RAISE(options.flight.transaction_idle_timeout,
                        ParseDuration(raw.transaction_idle_timeout));
  options.flight.max_transactions = raw.max_transactions;
  ARROW_ASSIGN_OR_RAISE(options.flight.query_timeout, ParseDuration(raw.query_timeout));
  auto codec = flight::ParseIpcCompression(raw.ipc_compression);
  if (!codec.ok()) return arrow::Status::Invalid("Invalid --ipc-compression: ", codec.status().message());
  options.flight.ipc_compression = *codec;
  options.cluster.uri = raw.cluster;
  options.cluster.node_id = raw.node_id;
  options.cluster.advertise_uri = raw.advertise_uri;
  ARROW_ASSIGN_OR_RAISE(options.cluster.session_timeout, ParseDuration(raw.cluster_session_timeout));
  ARROW_ASSIGN_OR_RAISE(options.cluster.spool.memory_bytes, ParseByteSize(raw.spool_memory));
  options.flight.distribute = raw.distribute == "always" ? flight::FlightSqlOptions::Distribute::kAlways
                              : raw.distribute == "never" ? flight::FlightSqlOptions::Distribute::kNever
                                                          : flight::FlightSqlOptions::Distribute::kAuto;
  ARROW_ASSIGN_OR_RAISE(options.flight.distribute_min_bytes, ParseByteSize(raw.distribute_min_size));
  for (const auto& item : raw.spark_writer_options) {
    const auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0) {
      return arrow::Status::Invalid("--spark-writer-option '", item, "': expected KEY=VALUE");
    }
    options.flight.writer_options[item.substr(0, eq)] = item.substr(eq + 1);
  }
  ARROW_ASSIGN_OR_RAISE(options.cluster.spool.disk_bytes, ParseByteSize(raw.spool_disk));
  if (!raw.spool_dir.empty()) {
    options.cluster.spool.dir = raw.spool_dir;
  } else if (const char* tmp = std::getenv("TMPDIR"); tmp != nullptr && *tmp != '\0') {
    options.cluster.spool.dir = tmp;
  }
  ARROW_RETURN_NOT_OK(ConvertSecurity(raw, &options));
  if (!options.cluster.uri.empty() && raw.ticket_secret_file.empty()) {
    return arrow::Status::Invalid(
        "--cluster needs --ticket-secret-file: every node of a cluster signs and checks tickets with the "
        "same secret (e.g. head -c 32 /dev/urandom > cluster.secret, shared with every node)");
  }
  return options;
}

}  // namespace

Invocation ParseCommandLine(const std::vector<std::string>& args) {
  CLI::App app{"Squadron: an Arrow Flight SQL server for data lakes, on embedded DuckDB",
               "squadron"};
  app.set_version_flag("--version", std::string("squadron ") + SQUADRON_VERSION);
  app.require_subcommand(1);
  RawServeOptions raw;
  CLI::App* serve = app.add_subcommand("serve", "Serve Flight SQL until SIGINT/SIGTERM");
  AddServeOptions(serve, &raw);

  QueryOptions query;
  CLI::App* query_cmd = app.add_subcommand("query", "Run one SQL query against a Flight SQL server");
  query_cmd->add_option("sql", query.sql, "The SQL; read from stdin when absent");
  query_cmd->add_option("--path", query.path,
                        "Ask for a Flight path descriptor instead of SQL (e.g. a directory of the "
                        "distributed Parquet example service)");
  query_cmd->add_option("--uri", query.uri, "Server to ask")->envname("SQUADRON_URI")->capture_default_str();
  query_cmd->add_option("-o,--output", query.output,
                        "Write every row to this file instead of printing a table: .arrow (Arrow IPC "
                        "file), .arrows (IPC stream), .parquet or .csv");
  query_cmd->add_option("--parallel", query.parallel, "Endpoints fetched at once")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  query_cmd->add_option("--max-rows", query.max_rows, "Rows printed as a table (without --output)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  query_cmd->add_flag("--timing", query.timing, "Print plan and fetch times and throughput to stderr");
  query_cmd->add_option("--progress", query.progress, "Progress on stderr: auto (on a terminal), always, never")
      ->check(CLI::IsMember({"auto", "always", "never"}))
      ->capture_default_str();
  query_cmd->add_option("--compression", query.compression,
                        "Ask for IPC body compression of the result: none, zstd or lz4")
      ->check(CLI::IsMember({"none", "zstd", "lz4"}));
  query_cmd->add_option("--username", query.username, "User name (sent as Basic authorization)")
      ->envname("SQUADRON_USERNAME");
  query_cmd->add_option("--password", query.password, "Password (prefer the environment variable)")
      ->envname("SQUADRON_PASSWORD");
  query_cmd->add_flag("--kerberos", query.kerberos,
                      "Authenticate with Kerberos (SPNEGO) from the ticket cache (kinit; KRB5CCNAME)");
  query_cmd->add_option("--kerberos-service", query.kerberos_service,
                        "With --kerberos: the service of the server's principal (SERVICE/host@REALM)")
      ->capture_default_str();
  query_cmd->add_option("--tls-ca", query.tls_ca, "PEM CAs to trust for grpc+tls:// (default: the system's)")
      ->envname("SQUADRON_TLS_CA");
  query_cmd->add_option("--tls-cert", query.tls_cert, "PEM client certificate, for servers requiring mutual TLS")
      ->envname("SQUADRON_TLS_CERT");
  query_cmd->add_option("--tls-key", query.tls_key, "PEM private key of --tls-cert")->envname("SQUADRON_TLS_KEY");
  query_cmd->add_option("--token", query.token, "Bearer token (sent as Bearer authorization)")
      ->envname("SQUADRON_TOKEN");

  ClusterStatusOptions cluster_status;
  CLI::App* cluster_cmd = app.add_subcommand("cluster", "Inspect a cluster of Squadron nodes");
  cluster_cmd->require_subcommand(1);
  CLI::App* status_cmd = cluster_cmd->add_subcommand(
      "status", "List the cluster's nodes (id, URI, engine, load) and its distributed queries with their state");
  status_cmd->add_option("--cluster", cluster_status.cluster, "zk://HOST:PORT[,HOST:PORT...]/PATH")
      ->envname("SQUADRON_CLUSTER")
      ->required();
  status_cmd->add_flag("--json", cluster_status.json, "Print JSON instead of tables");
  status_cmd->add_option("--timeout", cluster_status.timeout_seconds, "Seconds to wait for ZooKeeper")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();

  PasswdOptions passwd;
  CLI::App* passwd_cmd = app.add_subcommand(
      "passwd", "Add or change a user of a password file (--auth password): the password is read without echo "
                "on a terminal, else one line from stdin; the file keeps argon2id hashes only");
  passwd_cmd->add_option("file", passwd.file, "The password file (created, mode 0600, if absent)")->required();
  passwd_cmd->add_option("user", passwd.user, "The user name")->required();
  passwd_cmd->add_option("--role", passwd.role, "reader, writer or admin")
      ->check(CLI::IsMember({"reader", "writer", "admin"}))
      ->capture_default_str();

  Invocation invocation;
  std::vector<std::string> reversed(args.rbegin(), args.rend() - (args.empty() ? 0 : 1));
  try {
    app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    std::ostringstream out;
    invocation.exit_code = app.exit(e, out, out);
    invocation.output = out.str();
    return invocation;
  }
  if (status_cmd->parsed()) {
    invocation.action = Invocation::Action::kClusterStatus;
    invocation.cluster_status = std::move(cluster_status);
    return invocation;
  }
  if (passwd_cmd->parsed()) {
    invocation.action = Invocation::Action::kPasswd;
    invocation.passwd = std::move(passwd);
    return invocation;
  }
  if (query_cmd->parsed()) {
    invocation.action = Invocation::Action::kQuery;
    invocation.query = std::move(query);
    return invocation;
  }
  const arrow::Status file_status =
      raw.config_file.empty() ? arrow::Status::OK() : ApplyConfigFile(serve, raw.config_file);
  arrow::Result<server::ServerOptions> options =
      file_status.ok() ? Convert(raw) : arrow::Result<server::ServerOptions>(file_status);
  if (!options.ok()) {
    invocation.exit_code = 2;
    invocation.output = "squadron: " + options.status().message() + "\n";
    return invocation;
  }
  invocation.action = Invocation::Action::kServe;
  invocation.serve = std::move(*options);
  invocation.log_level = raw.log_level;
  return invocation;
}

}  // namespace squadron::cli
