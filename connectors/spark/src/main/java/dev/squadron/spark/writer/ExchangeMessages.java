package dev.squadron.spark.writer;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.Channels;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.google.gson.JsonSyntaxException;
import org.apache.arrow.vector.ipc.WriteChannel;
import org.apache.arrow.vector.ipc.message.MessageSerializer;
import org.apache.arrow.vector.types.pojo.Schema;

/** The JSON bodies of the exchange protocol (docs/exchange-protocol.md) that the sink sends and reads. */
final class ExchangeMessages {
  static final String PLAN_ACTION = "squadron.exchange.plan";
  static final String COMPLETE_ACTION = "squadron.exchange.complete";
  static final String FAIL_ACTION = "squadron.exchange.fail";
  static final String PUT_PREFIX = "squadron.exchange.put:";

  private ExchangeMessages() {}

  /** One partition's serving node, from the plan's result. */
  static final class Assignment {
    final int partition;
    final String node;
    final String uri;

    Assignment(int partition, String node, String uri) {
      this.partition = partition;
      this.node = node;
      this.uri = uri;
    }
  }

  /** What squadron.exchange.plan answers (the shape of squadron.exchange.begin's result). */
  static final class Planned {
    final String queryId;
    final String credential;
    final List<Assignment> assignment;
    final String flightInfo;

    Planned(String queryId, String credential, List<Assignment> assignment, String flightInfo) {
      this.queryId = queryId;
      this.credential = credential;
      this.assignment = assignment;
      this.flightInfo = flightInfo;
    }
  }

  /** A committed attempt of a partition, as squadron.exchange.complete lists it. */
  static final class Committed {
    final int partition;
    final long attempt;

    Committed(int partition, long attempt) {
      this.partition = partition;
      this.attempt = attempt;
    }
  }

  /** The Arrow IPC encapsulated schema message (what pyarrow's Schema.serialize() gives). */
  static byte[] schemaMessage(Schema schema) {
    try {
      ByteArrayOutputStream bytes = new ByteArrayOutputStream();
      MessageSerializer.serialize(new WriteChannel(Channels.newChannel(bytes)), schema);
      return bytes.toByteArray();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  static byte[] planBody(String query, String credential, int partitions, Schema schema) {
    JsonObject body = new JsonObject();
    body.addProperty("query", query);
    body.addProperty("credential", credential);
    body.addProperty("partitions", partitions);
    body.addProperty("schema", Base64.getEncoder().encodeToString(schemaMessage(schema)));
    return utf8(body);
  }

  static Planned parsePlanned(byte[] result) {
    JsonObject json = object(result, PLAN_ACTION + " result");
    List<Assignment> assignment = new ArrayList<>();
    for (JsonElement item : array(json, "assignment", PLAN_ACTION + " result")) {
      JsonObject a = item.getAsJsonObject();
      assignment.add(new Assignment(a.get("partition").getAsInt(), string(a, "node"), string(a, "uri")));
    }
    return new Planned(string(json, "query_id"), string(json, "credential"), assignment, string(json, "flight_info"));
  }

  /** The DoPut descriptor's command: the prefix, then {"query","partition","attempt","credential"}. */
  static byte[] putCommand(String query, int partition, long attempt, String credential) {
    JsonObject body = new JsonObject();
    body.addProperty("query", query);
    body.addProperty("partition", partition);
    body.addProperty("attempt", attempt);
    body.addProperty("credential", credential);
    return (PUT_PREFIX + body).getBytes(StandardCharsets.UTF_8);
  }

  static byte[] commitMarker() {
    JsonObject body = new JsonObject();
    body.addProperty("commit", true);
    return utf8(body);
  }

  static byte[] abortMarker(String reason) {
    JsonObject body = new JsonObject();
    body.addProperty("abort", reason);
    return utf8(body);
  }

  /** The PutResult's app_metadata: {"partition","attempt","rows","committed"}. */
  static JsonObject parsePutResult(byte[] metadata) {
    return object(metadata, "PutResult");
  }

  static byte[] completeBody(String query, String credential, List<Committed> committed) {
    JsonObject body = new JsonObject();
    body.addProperty("query", query);
    body.addProperty("credential", credential);
    JsonArray list = new JsonArray();
    for (Committed c : committed) {
      JsonObject item = new JsonObject();
      item.addProperty("partition", c.partition);
      item.addProperty("attempt", c.attempt);
      list.add(item);
    }
    body.add("committed", list);
    return utf8(body);
  }

  static byte[] failBody(String query, String credential, String reason, String status) {
    JsonObject body = new JsonObject();
    body.addProperty("query", query);
    body.addProperty("credential", credential);
    body.addProperty("reason", reason);
    body.addProperty("status", status);
    return utf8(body);
  }

  private static byte[] utf8(JsonObject body) {
    return body.toString().getBytes(StandardCharsets.UTF_8);
  }

  private static JsonObject object(byte[] bytes, String what) {
    try {
      JsonElement json = JsonParser.parseString(new String(bytes, StandardCharsets.UTF_8));
      if (!json.isJsonObject()) throw new IllegalStateException("squadron: the " + what + " is not a JSON object");
      return json.getAsJsonObject();
    } catch (JsonSyntaxException e) {
      throw new IllegalStateException("squadron: the " + what + " is not JSON: " + e.getMessage(), e);
    }
  }

  private static JsonArray array(JsonObject json, String field, String what) {
    JsonElement value = json.get(field);
    if (value == null || !value.isJsonArray()) {
      throw new IllegalStateException("squadron: the " + what + " has no array '" + field + "'");
    }
    return value.getAsJsonArray();
  }

  private static String string(JsonObject json, String field) {
    JsonElement value = json.get(field);
    return value == null || value.isJsonNull() ? null : value.getAsString();
  }
}
