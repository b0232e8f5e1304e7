package dev.squadron.spark.writer;

import java.util.EnumSet;
import java.util.Set;

import org.apache.spark.sql.connector.catalog.SupportsWrite;
import org.apache.spark.sql.connector.catalog.TableCapability;
import org.apache.spark.sql.connector.write.BatchWrite;
import org.apache.spark.sql.connector.write.LogicalWriteInfo;
import org.apache.spark.sql.connector.write.Write;
import org.apache.spark.sql.connector.write.WriteBuilder;
import org.apache.spark.sql.types.StructType;

/** The result of one distributed query, written once (append). */
final class SquadronTable implements SupportsWrite {
  private final StructType schema;

  SquadronTable(StructType schema) {
    this.schema = schema;
  }

  @Override
  public String name() {
    return "squadron";
  }

  /** Spark's built-in sources still give schema(); columns() derives from it. */
  @Override
  @SuppressWarnings("deprecation")
  public StructType schema() {
    return schema;
  }

  /** Any schema: the rows are pushed as the query makes them (duplicate names too). */
  @Override
  public Set<TableCapability> capabilities() {
    return EnumSet.of(TableCapability.BATCH_WRITE, TableCapability.ACCEPT_ANY_SCHEMA);
  }

  @Override
  public WriteBuilder newWriteBuilder(LogicalWriteInfo info) {
    SquadronWriteOptions options = SquadronWriteOptions.parse(info.options());
    StructType written = info.schema();
    return new WriteBuilder() {
      @Override
      public Write build() {
        return new Write() {
          @Override
          public String description() {
            return "squadron query " + options.query + " via " + options.coordinator;
          }

          @Override
          public BatchWrite toBatch() {
            return new SquadronBatchWrite(options, written);
          }
        };
      }
    };
  }
}
