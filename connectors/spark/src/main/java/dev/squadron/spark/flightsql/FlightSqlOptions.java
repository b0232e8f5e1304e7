package dev.squadron.spark.flightsql;

import java.io.Serializable;
import java.util.Locale;
import java.util.Map;

import dev.squadron.spark.flight.FlightConnectionOptions;

/**
 * The options of the {@code flightsql} source (names case-insensitive).
 *
 * <ul>
 *   <li>{@code uri} (required): {@code grpc://HOST:PORT} or {@code grpc+tls://HOST:PORT}.</li>
 *   <li>{@code query} or {@code dbtable} (exactly one): the SQL to read, or a
 *       table name, read as {@code SELECT * FROM <dbtable>} (the name is used
 *       as written: quote it yourself if it needs quoting).</li>
 *   <li>{@code username}/{@code password}, {@code token}, {@code tls.skipVerify},
 *       {@code tls.trustedCertificates}, {@code header.NAME}: see
 *       {@link FlightConnectionOptions}.</li>
 *   <li>{@code dialect} (default {@code auto}): how pushed-down SQL is written:
 *       {@code ansi}, {@code duckdb} or {@code spark}; {@code auto} asks the
 *       server's SqlInfo (identifier quote, name, version) and falls back to
 *       {@code ansi}.</li>
 *   <li>{@code pushDownPredicate} (default true): push filters into the SQL.</li>
 *   <li>{@code pushDownColumns} (default true): select only the columns Spark needs.</li>
 *   <li>{@code pushDownLimit} (default true): push a LIMIT into the SQL.</li>
 * </ul>
 */
public final class FlightSqlOptions implements Serializable {
  private static final long serialVersionUID = 1L;

  final String uri;
  /** The user's query: {@code query}, or {@code SELECT * FROM <dbtable>}. */
  final String query;
  final FlightConnectionOptions connection;
  /** Null for {@code auto}. */
  final SqlDialect dialect;
  final boolean pushDownPredicate;
  final boolean pushDownColumns;
  final boolean pushDownLimit;

  private FlightSqlOptions(String uri, String query, FlightConnectionOptions connection, SqlDialect dialect,
                           boolean pushDownPredicate, boolean pushDownColumns, boolean pushDownLimit) {
    this.uri = uri;
    this.query = query;
    this.connection = connection;
    this.dialect = dialect;
    this.pushDownPredicate = pushDownPredicate;
    this.pushDownColumns = pushDownColumns;
    this.pushDownLimit = pushDownLimit;
  }

  /** Parses a case-insensitive option map; IllegalArgumentException says what is wrong. */
  public static FlightSqlOptions parse(Map<String, String> options) {
    String uri = options.get("uri");
    if (uri == null || uri.isEmpty()) {
      throw new IllegalArgumentException("flightsql: the option 'uri' (grpc://HOST:PORT) is required");
    }
    FlightConnectionOptions.checkUri(uri, "uri");
    String query = options.get("query");
    String dbtable = options.get("dbtable");
    if ((query == null) == (dbtable == null)) {
      throw new IllegalArgumentException("flightsql: give exactly one of the options 'query' and 'dbtable'");
    }
    if (dbtable != null) query = "SELECT * FROM " + dbtable;
    String dialectName = options.getOrDefault("dialect", "auto");
    SqlDialect dialect = dialectName.trim().toLowerCase(Locale.ROOT).equals("auto") ? null
        : SqlDialect.parse(dialectName);
    return new FlightSqlOptions(uri, query, FlightConnectionOptions.parse(options, ""), dialect,
        flag(options, "pushDownPredicate"), flag(options, "pushDownColumns"), flag(options, "pushDownLimit"));
  }

  private static boolean flag(Map<String, String> options, String name) {
    String value = options.getOrDefault(name, "true").trim().toLowerCase(Locale.ROOT);
    if (!value.equals("true") && !value.equals("false")) {
      throw new IllegalArgumentException("flightsql: the option '" + name + "' is true or false, got '" + value + "'");
    }
    return value.equals("true");
  }
}
