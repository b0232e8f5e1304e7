package dev.squadron.spark.writer;

import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.connector.write.DataWriter;
import org.apache.spark.sql.connector.write.DataWriterFactory;
import org.apache.spark.sql.types.StructType;

/** Serialized to the tasks: the options, the schema and each partition's node. */
final class SquadronWriterFactory implements DataWriterFactory {
  private static final long serialVersionUID = 1L;

  final SquadronWriteOptions options;
  /** The producer credential of the query (as the plan answered it). */
  final String credential;
  final StructType schema;
  /** The session time zone and Arrow string width: the Arrow schema is derived from these. */
  final String timeZone;
  final boolean largeVarTypes;
  /** For each partition, the URI of the node that takes it. */
  final String[] uris;

  SquadronWriterFactory(SquadronWriteOptions options, String credential, StructType schema, String timeZone,
                        boolean largeVarTypes, String[] uris) {
    this.options = options;
    this.credential = credential;
    this.schema = schema;
    this.timeZone = timeZone;
    this.largeVarTypes = largeVarTypes;
    this.uris = uris;
  }

  /** @param taskId Spark's task attempt id: unique per attempt, speculative copies included */
  @Override
  public DataWriter<InternalRow> createWriter(int partitionId, long taskId) {
    return new SquadronDataWriter(this, partitionId, taskId);
  }
}
