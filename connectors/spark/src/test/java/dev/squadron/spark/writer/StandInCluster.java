package dev.squadron.spark.writer;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import org.apache.arrow.flight.Action;
import org.apache.arrow.flight.CallStatus;
import org.apache.arrow.flight.FlightServer;
import org.apache.arrow.flight.FlightStream;
import org.apache.arrow.flight.Location;
import org.apache.arrow.flight.NoOpFlightProducer;
import org.apache.arrow.flight.PutResult;
import org.apache.arrow.flight.Result;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.BigIntVector;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.ipc.ReadChannel;
import org.apache.arrow.vector.ipc.message.MessageSerializer;
import org.apache.arrow.vector.types.pojo.Schema;

/**
 * A stand-in for Squadron's side of the exchange (docs/exchange-protocol.md),
 * for the connector's unit tests until the C++ server has
 * squadron.exchange.plan: two Flight servers ("nodes"); the first is also the
 * coordinator. It keeps what it was told, and applies the protocol's rules:
 * the producer credential, first commit wins, data only from committed
 * attempts.
 */
final class StandInCluster implements AutoCloseable {
  static final String QUERY = "q-standin";
  static final String CREDENTIAL = "producer-credential-of-q-standin";

  /** One attempt's stream as a node saw it. */
  static final class Attempt {
    final int partition;
    final long attempt;
    final String node;
    long rows;
    int batches;
    /** Sum of the first column (a bigint), to check the content. */
    long sum;
    /** "commit", "abort: reason" or "broken". */
    String end;

    Attempt(int partition, long attempt, String node) {
      this.partition = partition;
      this.attempt = attempt;
      this.node = node;
    }
  }

  final List<FlightServer> servers = new ArrayList<>();
  final List<String> uris = new ArrayList<>();
  final List<Attempt> attempts = Collections.synchronizedList(new ArrayList<>());
  /** partition -> committed attempt, as the nodes decided (first commit wins). */
  final Map<Integer, Long> committedAtNodes = new ConcurrentHashMap<>();
  volatile Schema plannedSchema;
  volatile int plannedPartitions = -1;
  volatile int planCalls;
  volatile JsonObject completed;
  volatile JsonObject failed;

  private final BufferAllocator allocator;

  StandInCluster(BufferAllocator allocator) throws Exception {
    this.allocator = allocator;
    for (int i = 0; i < 2; i++) {
      String node = "n" + (i + 1);
      FlightServer server = FlightServer.builder(allocator, Location.forGrpcInsecure("127.0.0.1", 0),
          new Node(node)).build().start();
      servers.add(server);
      uris.add("grpc://127.0.0.1:" + server.getPort());
    }
  }

  String coordinator() {
    return uris.get(0);
  }

  List<Attempt> attemptsOf(int partition) {
    List<Attempt> out = new ArrayList<>();
    synchronized (attempts) {
      for (Attempt a : attempts) if (a.partition == partition) out.add(a);
    }
    return out;
  }

  @Override
  public void close() throws Exception {
    for (FlightServer s : servers) s.close();
  }

  private static JsonObject json(byte[] bytes) {
    JsonElement e = JsonParser.parseString(new String(bytes, StandardCharsets.UTF_8));
    return e.getAsJsonObject();
  }

  private final class Node extends NoOpFlightProducer {
    private final String id;

    Node(String id) {
      this.id = id;
    }

    @Override
    public void doAction(CallContext context, Action action, StreamListener<Result> listener) {
      JsonObject body = json(action.getBody());
      if (!CREDENTIAL.equals(body.get("credential").getAsString())) {
        listener.onError(CallStatus.UNAUTHENTICATED.withDescription("Invalid producer credential").toRuntimeException());
        return;
      }
      switch (action.getType()) {
        case "squadron.exchange.plan": {
          planCalls++;
          plannedPartitions = body.get("partitions").getAsInt();
          byte[] schema = java.util.Base64.getDecoder().decode(body.get("schema").getAsString());
          try {
            plannedSchema = MessageSerializer.deserializeSchema(
                new ReadChannel(java.nio.channels.Channels.newChannel(new java.io.ByteArrayInputStream(schema))));
          } catch (Exception e) {
            listener.onError(CallStatus.INVALID_ARGUMENT.withDescription("bad schema: " + e).toRuntimeException());
            return;
          }
          JsonObject reply = new JsonObject();
          reply.addProperty("query_id", body.get("query").getAsString());
          reply.addProperty("credential", CREDENTIAL);
          com.google.gson.JsonArray assignment = new com.google.gson.JsonArray();
          for (int p = 0; p < plannedPartitions; p++) {
            JsonObject a = new JsonObject();
            a.addProperty("partition", p);
            a.addProperty("node", "n" + (p % 2 + 1));
            a.addProperty("uri", uris.get(p % 2));
            assignment.add(a);
          }
          reply.add("assignment", assignment);
          reply.addProperty("flight_info", "");
          listener.onNext(new Result(reply.toString().getBytes(StandardCharsets.UTF_8)));
          listener.onCompleted();
          return;
        }
        case "squadron.exchange.complete":
          completed = body;
          break;
        case "squadron.exchange.fail":
          failed = body;
          break;
        default:
          listener.onError(CallStatus.UNIMPLEMENTED.withDescription(action.getType()).toRuntimeException());
          return;
      }
      listener.onNext(new Result("{}".getBytes(StandardCharsets.UTF_8)));
      listener.onCompleted();
    }

    @Override
    public Runnable acceptPut(CallContext context, FlightStream stream, StreamListener<PutResult> ack) {
      return () -> {
        String command = new String(stream.getDescriptor().getCommand(), StandardCharsets.UTF_8);
        if (!command.startsWith("squadron.exchange.put:")) {
          ack.onError(CallStatus.INVALID_ARGUMENT.withDescription("not a push").toRuntimeException());
          return;
        }
        JsonObject d = json(command.substring("squadron.exchange.put:".length()).getBytes(StandardCharsets.UTF_8));
        if (!CREDENTIAL.equals(d.get("credential").getAsString()) || !QUERY.equals(d.get("query").getAsString())) {
          ack.onError(CallStatus.UNAUTHENTICATED.withDescription("Invalid producer credential").toRuntimeException());
          return;
        }
        Attempt a = new Attempt(d.get("partition").getAsInt(), d.get("attempt").getAsLong(), id);
        attempts.add(a);
        a.end = "broken";
        try {
          while (stream.next()) {
            ArrowBuf metadata = stream.getLatestMetadata();
            if (metadata != null) {  // the writer's batches carry none: this is the final marker
              byte[] bytes = new byte[(int) metadata.readableBytes()];
              metadata.getBytes(0, bytes);
              JsonObject marker = json(bytes);
              a.end = marker.has("commit") ? "commit" : "abort: " + marker.get("abort").getAsString();
              continue;
            }
            VectorSchemaRoot root = stream.getRoot();
            a.batches++;
            a.rows += root.getRowCount();
            BigIntVector first = (BigIntVector) root.getVector(0);
            for (int i = 0; i < root.getRowCount(); i++) a.sum += first.isNull(i) ? 0 : first.get(i);
          }
          stream.close();  // frees the last metadata buffer it holds
        } catch (Exception e) {
          a.end = "broken: " + e;
          ack.onError(CallStatus.CANCELLED.withCause(e).toRuntimeException());
          return;
        }
        boolean committed = false;
        Long winner = null;
        if ("commit".equals(a.end)) {
          // As the nodes do: a later attempt of a committed partition defers to the first.
          winner = committedAtNodes.putIfAbsent(a.partition, a.attempt);
          committed = true;
        }
        JsonObject reply = new JsonObject();
        reply.addProperty("partition", a.partition);
        reply.addProperty("attempt", a.attempt);
        reply.addProperty("rows", a.rows);
        reply.addProperty("committed", committed);
        reply.addProperty("committed_attempt", winner == null ? a.attempt : winner);
        byte[] bytes = reply.toString().getBytes(StandardCharsets.UTF_8);
        ArrowBuf buf = allocator.buffer(bytes.length);
        buf.setBytes(0, bytes);
        buf.writerIndex(bytes.length);
        try (PutResult result = PutResult.metadata(buf)) {  // the server side does not free it
          ack.onNext(result);
        }
        ack.onCompleted();
      };
    }
  }

  /** Committed attempts' rows per partition (what a reader would be served). */
  Map<Integer, Attempt> servedAttempts() {
    Map<Integer, Attempt> served = new HashMap<>();
    synchronized (attempts) {
      for (Attempt a : attempts) {
        Long winner = committedAtNodes.get(a.partition);
        if (winner != null && winner == a.attempt && "commit".equals(a.end)) served.put(a.partition, a);
      }
    }
    return served;
  }
}
