package dev.squadron.spark.flightsql;

import java.util.EnumSet;
import java.util.Map;
import java.util.Set;

import dev.squadron.spark.flight.FlightConnectionOptions;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.spark.sql.connector.catalog.SupportsRead;
import org.apache.spark.sql.connector.catalog.TableCapability;
import org.apache.spark.sql.connector.read.ScanBuilder;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.sql.util.ArrowUtils;
import org.apache.spark.sql.util.CaseInsensitiveStringMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** One query of a Flight SQL server, readable in batches. */
final class FlightSqlTable implements SupportsRead {
  private static final Logger LOG = LoggerFactory.getLogger(FlightSqlTable.class);

  private final FlightSqlOptions options;
  private final StructType schema;
  /** Asked of the server once per table, when a scan first pushes something. */
  private SqlDialect dialect;

  FlightSqlTable(FlightSqlOptions options, StructType schema) {
    this.options = options;
    this.schema = schema;
    this.dialect = options.dialect;
  }

  @Override
  public String name() {
    return "flightsql " + options.uri;
  }

  /** Spark's built-in sources still give schema(); columns() derives from it. */
  @Override
  @SuppressWarnings("deprecation")
  public StructType schema() {
    return schema;
  }

  @Override
  public Set<TableCapability> capabilities() {
    return EnumSet.of(TableCapability.BATCH_READ);
  }

  @Override
  public ScanBuilder newScanBuilder(CaseInsensitiveStringMap scanOptions) {
    return new FlightSqlScanBuilder(this);
  }

  FlightSqlOptions options() {
    return options;
  }

  /** The dialect option, or what the server's SqlInfo says (ANSI when it says nothing useful). */
  synchronized SqlDialect dialect() {
    if (dialect != null) return dialect;
    try (BufferAllocator allocator = ArrowUtils.rootAllocator().newChildAllocator("flightsql-sqlinfo", 0,
        Long.MAX_VALUE)) {
      FlightConnectionOptions.Authenticated session = options.connection.openAuthenticated(allocator, options.uri);
      try {
        Map<Integer, Object> info = FlightSqlCommands.readSqlInfo(session.client,
            FlightConnectionOptions.callOptions(session.headers), FlightSqlCommands.FLIGHT_SQL_SERVER_NAME,
            FlightSqlCommands.FLIGHT_SQL_SERVER_VERSION, FlightSqlCommands.SQL_IDENTIFIER_QUOTE_CHAR);
        dialect = SqlDialect.detect(String.valueOf(info.get(FlightSqlCommands.SQL_IDENTIFIER_QUOTE_CHAR)),
            String.valueOf(info.get(FlightSqlCommands.FLIGHT_SQL_SERVER_NAME)),
            String.valueOf(info.get(FlightSqlCommands.FLIGHT_SQL_SERVER_VERSION)));
      } finally {
        session.client.close();
      }
    } catch (RuntimeException e) {
      LOG.warn("flightsql: SqlInfo of {} failed ({}); pushed SQL is written in ANSI SQL", options.uri, e.toString());
      dialect = SqlDialect.ANSI;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      dialect = SqlDialect.ANSI;
    }
    LOG.info("flightsql: {} speaks the {} dialect", options.uri, dialect);
    return dialect;
  }
}
