package dev.squadron.spark.flightsql;

import java.util.List;
import java.util.Map;

import dev.squadron.spark.flight.FlightConnectionOptions;
import org.apache.spark.sql.connector.read.InputPartition;
import org.apache.spark.sql.types.StructType;

/** One FlightInfo endpoint: its ticket, where to fetch it, and how. */
final class FlightEndpointPartition implements InputPartition {
  private static final long serialVersionUID = 1L;

  final int index;
  final byte[] ticket;
  /** The endpoint's locations, or the source's uri when it has none; the first is used. */
  final List<String> uris;
  /** Hosts of the endpoint's locations: Spark prefers executors there. */
  private final String[] hosts;
  /** Headers every call sends (the bearer token the driver's handshake got). */
  final Map<String, String> headers;
  final FlightConnectionOptions connection;
  final StructType readSchema;

  FlightEndpointPartition(int index, byte[] ticket, List<String> uris, String[] hosts, Map<String, String> headers,
                          FlightConnectionOptions connection, StructType readSchema) {
    this.index = index;
    this.ticket = ticket;
    this.uris = List.copyOf(uris);
    this.hosts = hosts;
    this.headers = Map.copyOf(headers);
    this.connection = connection;
    this.readSchema = readSchema;
  }

  @Override
  public String[] preferredLocations() {
    return hosts.clone();
  }
}
