package dev.squadron.spark.flightsql;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.HashMap;
import java.util.Map;

import com.google.protobuf.CodedOutputStream;
import org.apache.arrow.flight.CallOption;
import org.apache.arrow.flight.FlightClient;
import org.apache.arrow.flight.FlightDescriptor;
import org.apache.arrow.flight.FlightEndpoint;
import org.apache.arrow.flight.FlightInfo;
import org.apache.arrow.flight.FlightStream;
import org.apache.arrow.vector.UInt4Vector;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.complex.DenseUnionVector;

/**
 * The few Flight SQL messages the reader sends, encoded here (Arrow Java's
 * flight-sql artifact is not on Maven Central for 19.0.0): each is a
 * {@code google.protobuf.Any} wrapping a message of FlightSql.proto.
 */
final class FlightSqlCommands {
  private static final String TYPE_PREFIX = "type.googleapis.com/arrow.flight.protocol.sql.";

  /** SqlInfo codes (FlightSql.proto's SqlInfo enum). */
  static final int FLIGHT_SQL_SERVER_NAME = 0;
  static final int FLIGHT_SQL_SERVER_VERSION = 1;
  static final int SQL_IDENTIFIER_QUOTE_CHAR = 504;

  private FlightSqlCommands() {}

  /** CommandStatementQuery { string query = 1; }: GetFlightInfo/GetSchema of a query. */
  static FlightDescriptor statementQuery(String sql) {
    return FlightDescriptor.command(any("CommandStatementQuery", out -> out.writeString(1, sql)));
  }

  /** CommandGetSqlInfo { repeated uint32 info = 1; }. */
  static FlightDescriptor sqlInfo(int... codes) {
    return FlightDescriptor.command(any("CommandGetSqlInfo", out -> {
      for (int code : codes) out.writeUInt32(1, code);
    }));
  }

  /**
   * Reads SqlInfo values (strings, booleans, numbers) from the server: the
   * result has columns info_name (uint32) and value (a dense union).
   */
  static Map<Integer, Object> readSqlInfo(FlightClient client, CallOption[] options, int... codes) {
    Map<Integer, Object> values = new HashMap<>();
    FlightInfo info = client.getInfo(sqlInfo(codes), options);
    for (FlightEndpoint endpoint : info.getEndpoints()) {
      try (FlightStream stream = client.getStream(endpoint.getTicket(), options)) {
        while (stream.next()) {
          VectorSchemaRoot root = stream.getRoot();
          UInt4Vector names = (UInt4Vector) root.getVector(0);
          DenseUnionVector union = (DenseUnionVector) root.getVector(1);
          for (int i = 0; i < root.getRowCount(); i++) {
            Object value = union.getObject(i);
            values.put(names.get(i), value == null ? null : value.toString());
          }
        }
      } catch (Exception e) {
        if (e instanceof RuntimeException) throw (RuntimeException) e;
        throw new IllegalStateException("Reading SqlInfo failed: " + e, e);
      }
    }
    return values;
  }

  private interface Body {
    void write(CodedOutputStream out) throws IOException;
  }

  private static byte[] any(String message, Body body) {
    try {
      ByteArrayOutputStream inner = new ByteArrayOutputStream();
      CodedOutputStream innerOut = CodedOutputStream.newInstance(inner);
      body.write(innerOut);
      innerOut.flush();
      ByteArrayOutputStream outer = new ByteArrayOutputStream();
      CodedOutputStream out = CodedOutputStream.newInstance(outer);
      out.writeString(1, TYPE_PREFIX + message);
      out.writeByteArray(2, inner.toByteArray());
      out.flush();
      return outer.toByteArray();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
