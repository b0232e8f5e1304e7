package dev.squadron.spark.writer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.vector.types.pojo.Field;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The `squadron` sink in a real local Spark (local[2,4]: a failed task is
 * retried) against {@link StandInCluster}, which stands in for Squadron's
 * coordinator and nodes until the server has squadron.exchange.plan.
 */
class SquadronWriterSparkTest {
  private static SparkSession spark;
  private BufferAllocator allocator;
  private StandInCluster cluster;

  @BeforeAll
  static void startSpark() {
    spark = SparkSession.builder().master("local[2,4]").appName("squadron-writer-test")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate();
  }

  @AfterAll
  static void stopSpark() {
    if (spark != null) spark.stop();
  }

  @BeforeEach
  void startCluster() throws Exception {
    allocator = new RootAllocator();
    cluster = new StandInCluster(allocator);
  }

  @AfterEach
  void stopCluster() throws Exception {
    cluster.close();
    allocator.close();  // throws if a stream leaked Arrow memory
  }

  private static Dataset<Row> rows(long n, int partitions) {
    return spark.range(0, n, 1, partitions)
        .selectExpr("id", "CAST(id AS DECIMAL(23, 1)) AS amount", "concat('s', id) AS name",
            "timestamp_seconds(id) AS at");
  }

  private void write(Dataset<Row> df, Map<String, String> extra) {
    Map<String, String> options = new HashMap<>();
    options.put("squadron.query", StandInCluster.QUERY);
    options.put("squadron.coordinator", cluster.coordinator());
    options.put("squadron.credential", StandInCluster.CREDENTIAL);
    options.put("squadron.ordered", "false");
    options.put("squadron.batchRows", "10000");
    options.putAll(extra);
    df.write().format("squadron").options(options).mode("append").save();
  }

  private static long sumTo(long n) {
    return n * (n - 1) / 2;
  }

  /** The complete action's list as partition -> attempt. */
  private Map<Integer, Long> completedList() {
    JsonObject completed = cluster.completed;
    assertNotNull(completed, "squadron.exchange.complete was not called");
    Map<Integer, Long> list = new HashMap<>();
    for (JsonElement e : completed.getAsJsonArray("committed")) {
      JsonObject item = e.getAsJsonObject();
      assertNull(list.put(item.get("partition").getAsInt(), item.get("attempt").getAsLong()), "listed twice");
    }
    return list;
  }

  @Test
  void pushesEveryPartitionToItsNodeAndCompletes() {
    long n = 100_000;
    Dataset<Row> df = rows(n, 4);
    write(df, Map.of());
    assertEquals(1, cluster.planCalls);
    assertEquals(4, cluster.plannedPartitions, "PhysicalWriteInfo.numPartitions is the task count");
    List<Field> fields = cluster.plannedSchema.getFields();
    assertEquals(List.of("id", "amount", "name", "at"), fields.stream().map(Field::getName).toList());
    assertEquals("Timestamp(MICROSECOND, UTC)", fields.get(3).getType().toString());
    assertEquals("Decimal(23, 1, 128)", fields.get(1).getType().toString());

    Map<Integer, StandInCluster.Attempt> served = cluster.servedAttempts();
    assertEquals(4, served.size());
    long rows = 0;
    long sum = 0;
    for (StandInCluster.Attempt a : served.values()) {
      assertEquals("n" + (a.partition % 2 + 1), a.node, "partition " + a.partition + " went to its node");
      assertEquals(3, a.batches, "25,000 rows in batches of 10,000");
      rows += a.rows;
      sum += a.sum;
    }
    assertEquals(n, rows);
    assertEquals(sumTo(n), sum);
    Map<Integer, Long> list = completedList();
    assertEquals(4, list.size());
    served.forEach((p, a) -> assertEquals(a.attempt, list.get(p)));
    assertNull(cluster.failed);
  }

  @Test
  void emptyPartitionsCommitToo() {
    write(rows(10, 3).where("id < 0"), Map.of());
    assertEquals(3, cluster.plannedPartitions);
    assertEquals(3, completedList().size());
    cluster.servedAttempts().values().forEach(a -> assertEquals(0, a.rows));
  }

  @Test
  void aRetriedAttemptIsPublishedExactlyOnce() {
    long n = 80_000;
    write(rows(n, 4), Map.of("squadron.test.failFirstAttemptOfPartition", "1",
        "squadron.test.failAfterBatches", "1"));
    List<StandInCluster.Attempt> tries = cluster.attemptsOf(1);
    assertEquals(2, tries.size(), "the first attempt failed, Spark retried it");
    StandInCluster.Attempt failed = tries.get(0);
    StandInCluster.Attempt retried = tries.get(1);
    assertTrue(failed.end.startsWith("abort") || failed.end.startsWith("broken"), failed.end);
    assertEquals(1, failed.batches);
    assertEquals("commit", retried.end);
    assertNotEquals(failed.attempt, retried.attempt, "each attempt has its own id");
    assertEquals(retried.attempt, completedList().get(1));
    long rows = cluster.servedAttempts().values().stream().mapToLong(a -> a.rows).sum();
    long sum = cluster.servedAttempts().values().stream().mapToLong(a -> a.sum).sum();
    assertEquals(n, rows);
    assertEquals(sumTo(n), sum);
  }

  @Test
  void aFailedJobFailsTheQueryWithSparksReason() {
    Dataset<Row> df = spark.range(0, 1000, 1, 2)
        .selectExpr("id", "if(id < 700, id, CAST(raise_error('boom at 700') AS BIGINT)) AS x");
    Exception e = assertThrows(Exception.class, () -> write(df, Map.of()));
    assertTrue(String.valueOf(e.getMessage()).contains("boom at 700") || String.valueOf(e.getCause()).contains("boom"),
        String.valueOf(e));
    assertNull(cluster.completed);
    assertNotNull(cluster.failed, "squadron.exchange.fail was not called");
    String reason = cluster.failed.get("reason").getAsString();
    assertTrue(reason.contains("boom at 700"), reason);
    assertTrue(cluster.servedAttempts().size() <= 1, "partition 1 never commits");
  }

  @Test
  void aWrongCredentialIsRefusedAtPlanning() {
    Exception e = assertThrows(Exception.class, () -> write(rows(10, 1), Map.of("squadron.credential", "wrong")));
    String text = String.valueOf(e) + " " + String.valueOf(e.getCause());
    assertTrue(text.contains("UNAUTHENTICATED") || text.contains("Invalid producer credential"), text);
    assertEquals(0, cluster.attempts.size());
  }
}
