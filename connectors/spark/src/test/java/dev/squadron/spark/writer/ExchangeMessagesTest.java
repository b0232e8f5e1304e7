package dev.squadron.spark.writer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.nio.channels.Channels;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.List;
import java.util.Map;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import org.apache.arrow.vector.ipc.ReadChannel;
import org.apache.arrow.vector.ipc.message.MessageSerializer;
import org.apache.arrow.vector.types.pojo.Schema;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.Test;

/** The JSON bodies of the exchange protocol, field by field. */
class ExchangeMessagesTest {
  private static JsonObject json(byte[] bytes) {
    return JsonParser.parseString(new String(bytes, StandardCharsets.UTF_8)).getAsJsonObject();
  }

  private static final StructType SCHEMA = new StructType()
      .add("id", DataTypes.LongType, false)
      .add("amount", DataTypes.createDecimalType(23, 1))
      .add("name", DataTypes.StringType)
      .add("at", DataTypes.TimestampType)
      .add("id", DataTypes.IntegerType);  // duplicate names are legal in a query result

  @Test
  void planBodyCarriesSparksArrowSchema() throws Exception {
    Schema arrow = SquadronBatchWrite.arrowSchema(SCHEMA, "America/New_York", false);
    JsonObject body = json(ExchangeMessages.planBody("q-1", "cred\"\\", 8, arrow));
    assertEquals("q-1", body.get("query").getAsString());
    assertEquals("cred\"\\", body.get("credential").getAsString());
    assertEquals(8, body.get("partitions").getAsInt());
    byte[] ipc = Base64.getDecoder().decode(body.get("schema").getAsString());
    // The encapsulated IPC message: continuation marker, then the flatbuffer.
    assertEquals((byte) 0xFF, ipc[0]);
    Schema decoded = MessageSerializer.deserializeSchema(
        new ReadChannel(Channels.newChannel(new ByteArrayInputStream(ipc))));
    assertEquals(arrow, decoded);
    assertEquals("Timestamp(MICROSECOND, America/New_York)", decoded.getFields().get(3).getType().toString());
    assertEquals("Decimal(23, 1, 128)", decoded.getFields().get(1).getType().toString());
    assertTrue(!decoded.getFields().get(0).isNullable());
    assertEquals(4, body.size());
  }

  @Test
  void parsesThePlansResult() {
    String reply = "{\"query_id\":\"q-1\",\"credential\":\"c\",\"flight_info\":\"AAAA\",\"extra\":1,"
        + "\"assignment\":[{\"partition\":0,\"node\":\"n1\",\"uri\":\"grpc://a:1\"},"
        + "{\"partition\":1,\"node\":\"n2\",\"uri\":\"grpc://b:2\"}]}";
    ExchangeMessages.Planned planned = ExchangeMessages.parsePlanned(reply.getBytes(StandardCharsets.UTF_8));
    assertEquals("q-1", planned.queryId);
    assertEquals("c", planned.credential);
    assertEquals("AAAA", planned.flightInfo);
    assertEquals(2, planned.assignment.size());
    assertEquals("grpc://b:2", planned.assignment.get(1).uri);
    assertEquals("n2", planned.assignment.get(1).node);
    assertThrows(IllegalStateException.class, () -> ExchangeMessages.parsePlanned("[]".getBytes(StandardCharsets.UTF_8)));
    assertThrows(IllegalStateException.class, () -> ExchangeMessages.parsePlanned("{".getBytes(StandardCharsets.UTF_8)));
  }

  @Test
  void putDescriptorAndMarkers() {
    String command = new String(ExchangeMessages.putCommand("q-1", 3, 12345L, "c"), StandardCharsets.UTF_8);
    assertTrue(command.startsWith("squadron.exchange.put:{"), command);
    JsonObject body = json(command.substring("squadron.exchange.put:".length()).getBytes(StandardCharsets.UTF_8));
    assertEquals(Map.of("query", "q-1", "partition", "3", "attempt", "12345", "credential", "c"),
        Map.of("query", body.get("query").getAsString(), "partition", body.get("partition").toString(),
            "attempt", body.get("attempt").toString(), "credential", body.get("credential").getAsString()));
    assertEquals("{\"commit\":true}", new String(ExchangeMessages.commitMarker(), StandardCharsets.UTF_8));
    assertEquals("{\"abort\":\"it's \\\"bad\\\"\"}", new String(ExchangeMessages.abortMarker("it's \"bad\""),
        StandardCharsets.UTF_8));
  }

  @Test
  void completeAndFailBodies() {
    JsonObject complete = json(ExchangeMessages.completeBody("q-1", "c",
        List.of(new ExchangeMessages.Committed(0, 7), new ExchangeMessages.Committed(1, 9))));
    assertEquals("[{\"partition\":0,\"attempt\":7},{\"partition\":1,\"attempt\":9}]",
        complete.get("committed").toString());
    assertEquals("q-1", complete.get("query").getAsString());
    assertEquals("c", complete.get("credential").getAsString());
    JsonObject fail = json(ExchangeMessages.failBody("q-1", "c", "Job aborted: boom\nline 2", "INTERNAL"));
    assertEquals("Job aborted: boom\nline 2", fail.get("reason").getAsString());
    assertEquals("INTERNAL", fail.get("status").getAsString());
  }

  @Test
  void failuresAreClassifiedForTheReaders() {
    // A task's exception reaches the driver as text inside the job's.
    assertEquals(FailureStatus.INVALID_ARGUMENT, FailureStatus.of(new RuntimeException(
        "Job aborted due to stage failure: ... [DIVIDE_BY_ZERO] Division by zero. SQLSTATE: 22012")));
    assertEquals(FailureStatus.INVALID_ARGUMENT, FailureStatus.of(new IllegalStateException("wrapped",
        new RuntimeException("[USER_RAISED_EXCEPTION] row 5 is bad SQLSTATE: P0001"))));
    assertEquals(FailureStatus.UNAVAILABLE, FailureStatus.of(new RuntimeException("Task 3 failed: java.io.IOException: "
        + FailureStatus.unavailableMessage("grpc://10.0.0.1:31337", "Connection refused") + " SQLSTATE: 22012")));
    assertEquals(FailureStatus.INTERNAL, FailureStatus.of(new RuntimeException("Executor lost: OOM")));
    RuntimeException loop = new RuntimeException("a");
    RuntimeException other = new RuntimeException("b", loop);
    loop.initCause(other);
    assertEquals(FailureStatus.INTERNAL, FailureStatus.of(loop));  // a cause cycle ends
  }

  @Test
  void optionsAreValidated() {
    Map<String, String> ok = Map.of("squadron.query", "q", "squadron.coordinator", "grpc://h:1",
        "squadron.credential", "c");
    SquadronWriteOptions parsed = SquadronWriteOptions.parse(ok);
    assertEquals(65536, parsed.batchRows);
    assertEquals(-1, parsed.failFirstAttemptOfPartition);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> SquadronWriteOptions.parse(Map.of("squadron.query", "q", "squadron.coordinator", "grpc://h:1")));
    assertTrue(e.getMessage().contains("squadron.credential"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> SquadronWriteOptions.parse(Map.of("squadron.query", "q",
        "squadron.coordinator", "http://h:1", "squadron.credential", "c")));
    assertTrue(e.getMessage().contains("squadron.coordinator"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> SquadronWriteOptions.parse(Map.of("squadron.query", "q",
        "squadron.coordinator", "grpc://h:1", "squadron.credential", "c", "squadron.batchRows", "0")));
    assertTrue(e.getMessage().contains("batchRows"), e.getMessage());
  }
}
