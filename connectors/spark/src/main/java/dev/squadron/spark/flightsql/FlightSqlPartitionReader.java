package dev.squadron.spark.flightsql;

import java.util.ArrayList;
import java.util.List;

import dev.squadron.spark.flight.FlightConnectionOptions;
import org.apache.arrow.flight.FlightClient;
import org.apache.arrow.flight.FlightStream;
import org.apache.arrow.flight.Ticket;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.FieldVector;
import org.apache.arrow.vector.ValueVector;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.dictionary.Dictionary;
import org.apache.arrow.vector.dictionary.DictionaryEncoder;
import org.apache.arrow.vector.types.pojo.DictionaryEncoding;
import org.apache.spark.TaskContext;
import org.apache.spark.sql.connector.read.PartitionReader;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.util.ArrowUtils;
import org.apache.spark.sql.vectorized.ArrowColumnVector;
import org.apache.spark.sql.vectorized.ColumnVector;
import org.apache.spark.sql.vectorized.ColumnarBatch;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Streams one endpoint (DoGet of its ticket) as ColumnarBatches over the
 * Arrow vectors: no copy, except for decoded dictionaries. Each batch is
 * valid until the next call to {@link #next}.
 */
final class FlightSqlPartitionReader implements PartitionReader<ColumnarBatch> {
  private static final Logger LOG = LoggerFactory.getLogger(FlightSqlPartitionReader.class);

  private final FlightEndpointPartition partition;
  private final BufferAllocator allocator;
  private final FlightClient client;
  private final FlightStream stream;
  private final String uri;
  /** Vectors decoded from dictionaries for the current batch: freed at the next batch. */
  private final List<ValueVector> owned = new ArrayList<>();
  private ColumnarBatch current;
  private boolean finished;
  private long batches;
  private long rows;

  FlightSqlPartitionReader(FlightEndpointPartition partition) {
    this.partition = partition;
    this.uri = partition.uris.get(0);
    TaskContext task = TaskContext.get();
    String name = "flightsql-endpoint-" + partition.index + (task == null ? "" : "-task-" + task.taskAttemptId());
    this.allocator = ArrowUtils.rootAllocator().newChildAllocator(name, 0, Long.MAX_VALUE);
    FlightClient opened = null;
    try {
      opened = partition.connection.open(allocator, uri);
      this.stream = opened.getStream(new Ticket(partition.ticket), FlightConnectionOptions.callOptions(partition.headers));
      this.client = opened;
    } catch (RuntimeException e) {
      closeQuietly(opened);
      allocator.close();
      throw e;
    }
  }

  @Override
  public boolean next() {
    freeOwned();
    if (finished || !stream.next()) {
      finished = true;
      return false;
    }
    VectorSchemaRoot root = stream.getRoot();
    StructField[] fields = partition.readSchema.fields();
    ColumnVector[] columns = new ColumnVector[fields.length];
    for (int i = 0; i < fields.length; i++) {
      columns[i] = wrap(root.getVector(i), fields[i]);
    }
    current = new ColumnarBatch(columns, root.getRowCount());
    batches++;
    rows += root.getRowCount();
    return true;
  }

  private ColumnVector wrap(FieldVector vector, StructField field) {
    DictionaryEncoding encoding = vector.getField().getDictionary();
    if (encoding != null) {
      Dictionary dictionary = stream.getDictionaryProvider().lookup(encoding.getId());
      if (dictionary == null) {
        throw new IllegalStateException("flightsql: column '" + field.name() + "' names dictionary "
            + encoding.getId() + ", which the stream did not send");
      }
      ValueVector decoded = DictionaryEncoder.decode(vector, dictionary, allocator);
      owned.add(decoded);
      vector = (FieldVector) decoded;
    }
    if (ArrowTypeMapping.needsConversion(vector.getField())) {
      return new ConvertedColumnVector(vector, field.dataType());
    }
    return new ArrowColumnVector(vector);
  }

  @Override
  public ColumnarBatch get() {
    return current;
  }

  @Override
  public void close() {
    freeOwned();
    try {
      if (!finished) stream.cancel("the Spark task stopped reading", null);
    } catch (RuntimeException ignored) {
      // Cancelling a stream that already ended.
    }
    closeQuietly(stream);
    closeQuietly(client);
    allocator.close();
    LOG.info("flightsql: endpoint {} from {}: {} batches, {} rows{}", partition.index, uri, batches, rows,
        finished ? "" : " (stopped early)");
  }

  private void freeOwned() {
    for (ValueVector v : owned) v.close();
    owned.clear();
  }

  private static void closeQuietly(AutoCloseable closeable) {
    try {
      if (closeable != null) closeable.close();
    } catch (Exception e) {
      LOG.debug("flightsql: close failed: {}", e.toString());
    }
  }
}
