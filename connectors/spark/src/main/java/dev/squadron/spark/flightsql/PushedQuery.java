package dev.squadron.spark.flightsql;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalInt;

/**
 * The SQL a scan sends: the user's query, wrapped as
 * {@code SELECT <columns> FROM (<query>) AS q WHERE <filters> LIMIT <n>}
 * when columns were pruned or filters or a limit pushed; the query unchanged
 * otherwise (so a query the server cannot nest, or whose ORDER BY matters,
 * still works when nothing is pushed).
 */
public final class PushedQuery implements Serializable {
  private static final long serialVersionUID = 1L;
  /** The single column selected when Spark needs no column at all (e.g. count()). */
  public static final String NO_COLUMNS = "__squadron_row";

  private final String sql;

  private PushedQuery(String sql) {
    this.sql = sql;
  }

  /**
   * @param baseQuery the user's query (a trailing ';' is dropped)
   * @param columns the selected top-level columns, or null for all of them (no pruning)
   * @param filters SQL boolean expressions, ANDed
   * @param limit a row limit, if pushed
   */
  public static PushedQuery build(String baseQuery, List<String> columns, List<String> filters, OptionalInt limit,
                                  SqlDialect dialect) {
    String base = stripTerminator(baseQuery);
    if (columns == null && filters.isEmpty() && limit.isEmpty()) return new PushedQuery(base);
    StringBuilder sql = new StringBuilder("SELECT ");
    if (columns == null) {
      sql.append("*");
    } else if (columns.isEmpty()) {
      sql.append("1 AS ").append(dialect.quoteIdentifier(NO_COLUMNS));
    } else {
      List<String> quoted = new ArrayList<>(columns.size());
      for (String column : columns) quoted.add(dialect.quoteIdentifier(column));
      sql.append(String.join(", ", quoted));
    }
    // Newlines: a trailing "-- comment" in the user's query must not swallow ") AS q".
    sql.append(" FROM (\n").append(base).append("\n) AS q");
    if (!filters.isEmpty()) sql.append(" WHERE ").append(String.join(" AND ", filters));
    if (limit.isPresent()) sql.append(" LIMIT ").append(limit.getAsInt());
    return new PushedQuery(sql.toString());
  }

  static String stripTerminator(String query) {
    String q = query.strip();
    while (q.endsWith(";")) q = q.substring(0, q.length() - 1).stripTrailing();
    return q;
  }

  public String sql() {
    return sql;
  }

  @Override
  public String toString() {
    return sql;
  }
}
