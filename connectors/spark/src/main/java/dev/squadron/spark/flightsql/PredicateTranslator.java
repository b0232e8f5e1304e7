package dev.squadron.spark.flightsql;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;

import org.apache.spark.sql.connector.expressions.Expression;
import org.apache.spark.sql.connector.expressions.Literal;
import org.apache.spark.sql.connector.expressions.NamedReference;
import org.apache.spark.sql.connector.expressions.filter.Predicate;
import org.apache.spark.sql.types.DataTypes;

/**
 * Writes Spark's V2 predicates as SQL for a {@link SqlDialect}.
 *
 * <p>Translated: comparisons (=, &lt;&gt;, &lt;=&gt; as IS NOT DISTINCT FROM,
 * &lt;, &lt;=, &gt;, &gt;=) between top-level columns and literals, IS [NOT]
 * NULL, IN, STARTS_WITH/ENDS_WITH/CONTAINS (as LIKE with an escape), AND,
 * OR, NOT, ALWAYS_TRUE/ALWAYS_FALSE. Anything else (functions, casts, nested
 * fields, a literal the dialect cannot write exactly) is not translated and
 * stays with Spark.
 */
public final class PredicateTranslator {
  private static final Set<String> COMPARISONS = Set.of("=", "<>", "<", "<=", ">", ">=");
  /** The LIKE escape character: not a backslash, which Spark's strings treat specially. */
  private static final char LIKE_ESCAPE = '!';

  private final SqlDialect dialect;
  /** Top-level column names of the scanned query (only these are referenced). */
  private final Set<String> columns;

  /** @param columns the query's top-level column names, as the server spells them */
  public PredicateTranslator(SqlDialect dialect, Set<String> columns) {
    this.dialect = dialect;
    this.columns = columns;
  }

  /** The predicate as a SQL boolean expression, or empty if it cannot be translated. */
  public Optional<String> translate(Predicate predicate) {
    Expression[] c = predicate.children();
    String name = predicate.name();
    switch (name) {
      case "ALWAYS_TRUE":
        return Optional.of("(1 = 1)");
      case "ALWAYS_FALSE":
        return Optional.of("(1 = 0)");
      case "AND":
      case "OR": {
        if (c.length != 2 || !(c[0] instanceof Predicate) || !(c[1] instanceof Predicate)) return Optional.empty();
        Optional<String> left = translate((Predicate) c[0]);
        Optional<String> right = translate((Predicate) c[1]);
        if (left.isEmpty() || right.isEmpty()) return Optional.empty();
        return Optional.of("(" + left.get() + " " + name + " " + right.get() + ")");
      }
      case "NOT": {
        if (c.length != 1 || !(c[0] instanceof Predicate)) return Optional.empty();
        return translate((Predicate) c[0]).map(inner -> "(NOT " + inner + ")");
      }
      case "IS_NULL":
      case "IS_NOT_NULL": {
        if (c.length != 1) return Optional.empty();
        String test = name.equals("IS_NULL") ? " IS NULL)" : " IS NOT NULL)";
        return column(c[0]).map(col -> "(" + col + test);
      }
      case "IN": {
        if (c.length < 2) return Optional.empty();
        Optional<String> col = column(c[0]);
        if (col.isEmpty()) return Optional.empty();
        List<String> values = new ArrayList<>();
        for (int i = 1; i < c.length; i++) {
          Optional<String> value = literal(c[i]);
          if (value.isEmpty()) return Optional.empty();
          values.add(value.get());
        }
        return Optional.of("(" + col.get() + " IN (" + String.join(", ", values) + "))");
      }
      case "STARTS_WITH":
      case "ENDS_WITH":
      case "CONTAINS":
        return like(name, c);
      case "<=>":
        return comparison("IS NOT DISTINCT FROM", c);
      default:
        if (COMPARISONS.contains(name)) return comparison(name, c);
        return Optional.empty();
    }
  }

  private Optional<String> comparison(String op, Expression[] c) {
    if (c.length != 2) return Optional.empty();
    Optional<String> left = operand(c[0]);
    Optional<String> right = operand(c[1]);
    if (left.isEmpty() || right.isEmpty()) return Optional.empty();
    if (c[0] instanceof Literal && c[1] instanceof Literal) return Optional.empty();
    return Optional.of("(" + left.get() + " " + op + " " + right.get() + ")");
  }

  private Optional<String> like(String name, Expression[] c) {
    if (c.length != 2 || !(c[1] instanceof Literal)) return Optional.empty();
    Literal<?> pattern = (Literal<?>) c[1];
    if (pattern.value() == null || !DataTypes.StringType.equals(pattern.dataType())) return Optional.empty();
    Optional<String> col = column(c[0]);
    if (col.isEmpty()) return Optional.empty();
    String escaped = escapeLike(pattern.value().toString());
    String text = name.equals("STARTS_WITH") ? escaped + "%"
        : name.equals("ENDS_WITH") ? "%" + escaped : "%" + escaped + "%";
    Optional<String> quoted = dialect.stringLiteral(text);
    Optional<String> escape = dialect.stringLiteral(String.valueOf(LIKE_ESCAPE));
    if (quoted.isEmpty() || escape.isEmpty()) return Optional.empty();
    return Optional.of("(" + col.get() + " LIKE " + quoted.get() + " ESCAPE " + escape.get() + ")");
  }

  /** Escapes LIKE's wildcards (% and _) and the escape character itself. */
  static String escapeLike(String text) {
    StringBuilder out = new StringBuilder(text.length() + 8);
    for (int i = 0; i < text.length(); i++) {
      char ch = text.charAt(i);
      if (ch == '%' || ch == '_' || ch == LIKE_ESCAPE) out.append(LIKE_ESCAPE);
      out.append(ch);
    }
    return out.toString();
  }

  private Optional<String> operand(Expression e) {
    if (e instanceof NamedReference) return column(e);
    return literal(e);
  }

  private Optional<String> column(Expression e) {
    if (!(e instanceof NamedReference)) return Optional.empty();
    String[] path = ((NamedReference) e).fieldNames();
    if (path.length != 1 || !columns.contains(path[0])) return Optional.empty();
    return Optional.of(dialect.quoteIdentifier(path[0]));
  }

  private Optional<String> literal(Expression e) {
    if (!(e instanceof Literal)) return Optional.empty();
    Literal<?> literal = (Literal<?>) e;
    return dialect.literal(literal.value(), literal.dataType());
  }
}
