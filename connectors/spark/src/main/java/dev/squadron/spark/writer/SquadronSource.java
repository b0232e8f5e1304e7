package dev.squadron.spark.writer;

import java.util.Map;

import org.apache.spark.sql.connector.catalog.Table;
import org.apache.spark.sql.connector.catalog.TableProvider;
import org.apache.spark.sql.connector.expressions.Transform;
import org.apache.spark.sql.sources.DataSourceRegister;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.sql.util.CaseInsensitiveStringMap;

/**
 * The {@code squadron} sink: Spark's executors push a query's result as
 * Arrow batches straight into Squadron nodes (docs/exchange-protocol.md).
 * A Squadron coordinator runs it through Spark Connect as
 * {@code spark.sql(q).write.format("squadron").options(...).mode("append").save()};
 * options: {@link SquadronWriteOptions}.
 */
public final class SquadronSource implements TableProvider, DataSourceRegister {
  @Override
  public String shortName() {
    return "squadron";
  }

  /** The written DataFrame's schema is the table's: nothing to infer. */
  @Override
  public boolean supportsExternalMetadata() {
    return true;
  }

  @Override
  public StructType inferSchema(CaseInsensitiveStringMap options) {
    throw new UnsupportedOperationException("squadron is a sink: it cannot be read");
  }

  @Override
  public Table getTable(StructType schema, Transform[] partitioning, Map<String, String> properties) {
    return new SquadronTable(schema);
  }
}
