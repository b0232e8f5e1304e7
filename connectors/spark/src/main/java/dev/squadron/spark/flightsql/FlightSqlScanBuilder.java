package dev.squadron.spark.flightsql;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.Set;

import org.apache.spark.sql.connector.expressions.filter.Predicate;
import org.apache.spark.sql.connector.read.Scan;
import org.apache.spark.sql.connector.read.ScanBuilder;
import org.apache.spark.sql.connector.read.SupportsPushDownLimit;
import org.apache.spark.sql.connector.read.SupportsPushDownRequiredColumns;
import org.apache.spark.sql.connector.read.SupportsPushDownV2Filters;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

/**
 * Takes what Spark pushes down: the columns it needs (top-level only; a
 * struct is read whole), the filters the dialect can write, and a LIMIT.
 */
final class FlightSqlScanBuilder
    implements ScanBuilder, SupportsPushDownRequiredColumns, SupportsPushDownV2Filters, SupportsPushDownLimit {
  private final FlightSqlTable table;
  /** Null until Spark prunes (all columns, the query unwrapped). */
  private StructType pruned;
  private final List<Predicate> pushed = new ArrayList<>();
  private final List<String> pushedSql = new ArrayList<>();
  private OptionalInt limit = OptionalInt.empty();

  FlightSqlScanBuilder(FlightSqlTable table) {
    this.table = table;
  }

  @Override
  public Predicate[] pushPredicates(Predicate[] predicates) {
    if (!table.options().pushDownPredicate) return predicates;
    Set<String> names = new LinkedHashSet<>(List.of(table.schema().fieldNames()));
    PredicateTranslator translator = new PredicateTranslator(table.dialect(), names);
    List<Predicate> rest = new ArrayList<>();
    for (Predicate predicate : predicates) {
      Optional<String> sql = translator.translate(predicate);
      if (sql.isPresent()) {
        pushed.add(predicate);
        pushedSql.add(sql.get());
      } else {
        rest.add(predicate);
      }
    }
    return rest.toArray(new Predicate[0]);
  }

  @Override
  public Predicate[] pushedPredicates() {
    return pushed.toArray(new Predicate[0]);
  }

  @Override
  public void pruneColumns(StructType required) {
    if (!table.options().pushDownColumns) return;
    Set<String> exact = new LinkedHashSet<>();
    Set<String> folded = new LinkedHashSet<>();
    for (StructField f : required.fields()) {
      exact.add(f.name());
      folded.add(f.name().toLowerCase(Locale.ROOT));
    }
    List<StructField> kept = new ArrayList<>();
    for (StructField f : table.schema().fields()) {
      if (exact.contains(f.name()) || folded.contains(f.name().toLowerCase(Locale.ROOT))) kept.add(f);
    }
    pruned = new StructType(kept.toArray(new StructField[0]));
  }

  @Override
  public boolean pushLimit(int n) {
    if (!table.options().pushDownLimit) return false;
    limit = OptionalInt.of(n);
    return true;
  }

  @Override
  public boolean isPartiallyPushed() {
    // The server applies the LIMIT to the whole result, over every endpoint.
    return false;
  }

  @Override
  public Scan build() {
    StructType readSchema = pruned == null ? table.schema() : pruned;
    boolean allColumns = pruned == null || pruned.equals(table.schema());
    List<String> columns = allColumns ? null : List.of(readSchema.fieldNames());
    SqlDialect dialect = (columns == null && pushedSql.isEmpty() && limit.isEmpty()) ? SqlDialect.ANSI
        : table.dialect();
    PushedQuery query = PushedQuery.build(table.options().query, columns, pushedSql, limit, dialect);
    return new FlightSqlScan(table.options(), readSchema, query, pushed.toArray(new Predicate[0]), limit);
  }
}
