package dev.squadron.spark.flightsql;

import java.net.URI;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.OptionalInt;
import java.util.stream.Collectors;

import dev.squadron.spark.flight.FlightConnectionOptions;
import org.apache.arrow.flight.FlightEndpoint;
import org.apache.arrow.flight.FlightInfo;
import org.apache.arrow.flight.Location;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.spark.sql.connector.expressions.filter.Predicate;
import org.apache.spark.sql.connector.read.Batch;
import org.apache.spark.sql.connector.read.InputPartition;
import org.apache.spark.sql.connector.read.PartitionReaderFactory;
import org.apache.spark.sql.connector.read.Scan;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.sql.util.ArrowUtils;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One read of a Flight SQL query. {@link #planInputPartitions} runs the
 * pushed query (GetFlightInfo executes it) and gives one partition per
 * endpoint.
 */
final class FlightSqlScan implements Scan, Batch {
  private static final Logger LOG = LoggerFactory.getLogger(FlightSqlScan.class);
  /** A location meaning "the connection the FlightInfo came from" (Flight's spec). */
  private static final String REUSE_CONNECTION = "arrow-flight-reuse-connection";

  private final FlightSqlOptions options;
  private final StructType readSchema;
  private final PushedQuery query;
  private final Predicate[] pushed;
  private final OptionalInt limit;
  /** Planned once per scan: planning runs the query. */
  private InputPartition[] partitions;

  FlightSqlScan(FlightSqlOptions options, StructType readSchema, PushedQuery query, Predicate[] pushed,
                OptionalInt limit) {
    this.options = options;
    this.readSchema = readSchema;
    this.query = query;
    this.pushed = pushed;
    this.limit = limit;
  }

  @Override
  public StructType readSchema() {
    return readSchema;
  }

  /** What explain() shows: the pushed filters, columns and limit, and the SQL sent. */
  @Override
  public String description() {
    String filters = Arrays.stream(pushed).map(Predicate::toString).collect(Collectors.joining(", "));
    String columns = String.join(", ", readSchema.fieldNames());
    return "FlightSQL " + options.uri + " PushedFilters: [" + filters + "], RequiredColumns: [" + columns + "]"
        + (limit.isPresent() ? ", PushedLimit: " + limit.getAsInt() : "")
        + ", Query: " + query.sql().replace('\n', ' ');
  }

  @Override
  public Batch toBatch() {
    return this;
  }

  @Override
  public synchronized InputPartition[] planInputPartitions() {
    if (partitions != null) return partitions;
    try (BufferAllocator allocator = ArrowUtils.rootAllocator().newChildAllocator("flightsql-plan", 0,
        Long.MAX_VALUE)) {
      FlightConnectionOptions.Authenticated session = options.connection.openAuthenticated(allocator, options.uri);
      FlightInfo info;
      try {
        info = session.client.getInfo(FlightSqlCommands.statementQuery(query.sql()),
            FlightConnectionOptions.callOptions(session.headers));
      } finally {
        session.client.close();
      }
      checkSchema(ArrowTypeMapping.toSparkSchema(info.getSchemaOptional().orElseThrow(
          () -> new IllegalStateException("flightsql: the server's FlightInfo has no schema"))));
      List<InputPartition> planned = new ArrayList<>();
      for (FlightEndpoint endpoint : info.getEndpoints()) {
        List<String> uris = new ArrayList<>();
        List<String> hosts = new ArrayList<>();
        for (Location location : endpoint.getLocations()) {
          URI uri = location.getUri();
          if (REUSE_CONNECTION.equals(uri.getScheme())) {
            uris.add(options.uri);
          } else {
            uris.add(uri.toString());
            if (uri.getHost() != null) hosts.add(uri.getHost());
          }
        }
        if (uris.isEmpty()) uris.add(options.uri);
        planned.add(new FlightEndpointPartition(planned.size(), endpoint.getTicket().getBytes(), uris,
            hosts.toArray(new String[0]), session.headers, options.connection, readSchema));
      }
      LOG.info("flightsql: {} endpoint(s) for query {}", planned.size(), query.sql().replace('\n', ' '));
      partitions = planned.toArray(new InputPartition[0]);
      return partitions;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("flightsql: interrupted while planning", e);
    }
  }

  /** The result must have the columns (names and types) Spark planned with. */
  private void checkSchema(StructType actual) {
    if (readSchema.fields().length == 0) return;  // the NO_COLUMNS placeholder
    StructField[] want = readSchema.fields();
    StructField[] got = actual.fields();
    boolean same = want.length == got.length;
    for (int i = 0; same && i < want.length; i++) {
      same = want[i].name().equals(got[i].name()) && sameType(want[i].dataType(), got[i].dataType());
    }
    if (!same) {
      throw new IllegalStateException("flightsql: the server's result schema " + actual.simpleString()
          + " differs from the schema read earlier " + readSchema.simpleString() + " (query: " + query.sql() + ")");
    }
  }

  private static boolean sameType(DataType a, DataType b) {
    return a.asNullable().equals(b.asNullable());
  }

  @Override
  public PartitionReaderFactory createReaderFactory() {
    return new FlightSqlReaderFactory();
  }
}
