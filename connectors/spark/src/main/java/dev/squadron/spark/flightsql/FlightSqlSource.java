package dev.squadron.spark.flightsql;

import java.util.Map;

import dev.squadron.spark.flight.FlightConnectionOptions;
import org.apache.arrow.flight.FlightRuntimeException;
import org.apache.arrow.flight.FlightStatusCode;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.types.pojo.Schema;
import org.apache.spark.sql.connector.catalog.Table;
import org.apache.spark.sql.connector.catalog.TableProvider;
import org.apache.spark.sql.connector.expressions.Transform;
import org.apache.spark.sql.sources.DataSourceRegister;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.sql.util.ArrowUtils;
import org.apache.spark.sql.util.CaseInsensitiveStringMap;

/**
 * The {@code flightsql} data source: reads a query from any Arrow Flight SQL
 * server, one Spark partition per FlightInfo endpoint. Options:
 * {@link FlightSqlOptions}.
 *
 * <pre>
 * spark.read.format("flightsql").option("uri", "grpc://host:31337")
 *     .option("query", "SELECT * FROM trips").load()
 * </pre>
 */
public final class FlightSqlSource implements TableProvider, DataSourceRegister {
  @Override
  public String shortName() {
    return "flightsql";
  }

  /** The query's schema, from GetSchema (or GetFlightInfo when the server has no GetSchema). */
  @Override
  public StructType inferSchema(CaseInsensitiveStringMap options) {
    FlightSqlOptions parsed = FlightSqlOptions.parse(options);
    return ArrowTypeMapping.toSparkSchema(fetchSchema(parsed));
  }

  @Override
  public Table getTable(StructType schema, Transform[] partitioning, Map<String, String> properties) {
    return new FlightSqlTable(FlightSqlOptions.parse(new CaseInsensitiveStringMap(properties)), schema);
  }

  static Schema fetchSchema(FlightSqlOptions options) {
    try (BufferAllocator allocator = ArrowUtils.rootAllocator().newChildAllocator("flightsql-schema", 0,
        Long.MAX_VALUE)) {
      FlightConnectionOptions.Authenticated session = options.connection.openAuthenticated(allocator, options.uri);
      try {
        var callOptions = FlightConnectionOptions.callOptions(session.headers);
        try {
          return session.client.getSchema(FlightSqlCommands.statementQuery(options.query), callOptions).getSchema();
        } catch (FlightRuntimeException e) {
          if (e.status().code() != FlightStatusCode.UNIMPLEMENTED) throw e;
          // Without GetSchema the query runs once for its schema.
          return session.client.getInfo(FlightSqlCommands.statementQuery(options.query), callOptions)
              .getSchemaOptional()
              .orElseThrow(() -> new IllegalStateException("flightsql: the server's FlightInfo has no schema"));
        }
      } finally {
        session.client.close();
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("flightsql: interrupted while reading the schema", e);
    }
  }
}
