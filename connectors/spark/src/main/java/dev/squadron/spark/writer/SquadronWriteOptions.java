package dev.squadron.spark.writer;

import java.io.Serializable;
import java.util.Map;

import dev.squadron.spark.flight.FlightConnectionOptions;

/**
 * The options of the {@code squadron} sink (names case-insensitive), which
 * a Squadron coordinator passes in its WriteOperation.
 *
 * <ul>
 *   <li>{@code squadron.query} (required): the query id the coordinator reserved.</li>
 *   <li>{@code squadron.coordinator} (required): the coordinator's URI, grpc://HOST:PORT.</li>
 *   <li>{@code squadron.credential} (required): the query's producer credential.</li>
 *   <li>{@code squadron.ordered} (default false): the result is sorted; partitions
 *       keep Spark's order (the coordinator assigns contiguous ranges).</li>
 *   <li>{@code squadron.batchRows} (default 65536): rows per pushed Arrow batch.</li>
 *   <li>{@code squadron.batchBytes} (default 64 MiB): a batch is pushed early once
 *       its Arrow buffers reach this size.</li>
 *   <li>{@code squadron.tls.skipVerify}, {@code squadron.tls.trustedCertificates},
 *       {@code squadron.token}, {@code squadron.header.NAME}: how to reach the nodes
 *       ({@link FlightConnectionOptions}).</li>
 *   <li>Tests only: {@code squadron.test.failFirstAttemptOfPartition} (a partition id)
 *       with {@code squadron.test.failAfterBatches} (n): the first attempt of that
 *       partition throws after pushing n batches, so that Spark retries it.</li>
 *   <li>Tests only: {@code squadron.test.dieAfterCommitOfPartition} (a partition id):
 *       the executor running the first attempt of that partition exits right after
 *       the node committed it, before Spark hears of the commit.</li>
 *   <li>Tests only: {@code squadron.test.slowFirstAttemptOfPartition} (a partition id)
 *       with {@code squadron.test.slowMillisPerBatch} (ms): the first attempt of that
 *       partition sleeps after each batch (a straggler, for speculative execution).</li>
 * </ul>
 */
public final class SquadronWriteOptions implements Serializable {
  private static final long serialVersionUID = 1L;
  static final String PREFIX = "squadron.";

  final String query;
  final String coordinator;
  final String credential;
  final boolean ordered;
  final int batchRows;
  final long batchBytes;
  final FlightConnectionOptions connection;
  /** -1: no injected failure. */
  final int failFirstAttemptOfPartition;
  final int failAfterBatches;
  /** -1: none. */
  final int dieAfterCommitOfPartition;
  final int slowFirstAttemptOfPartition;
  final int slowMillisPerBatch;

  private SquadronWriteOptions(String query, String coordinator, String credential, boolean ordered, int batchRows,
                               long batchBytes, FlightConnectionOptions connection, int failFirstAttemptOfPartition,
                               int failAfterBatches, int dieAfterCommitOfPartition, int slowFirstAttemptOfPartition,
                               int slowMillisPerBatch) {
    this.query = query;
    this.coordinator = coordinator;
    this.credential = credential;
    this.ordered = ordered;
    this.batchRows = batchRows;
    this.batchBytes = batchBytes;
    this.connection = connection;
    this.failFirstAttemptOfPartition = failFirstAttemptOfPartition;
    this.failAfterBatches = failAfterBatches;
    this.dieAfterCommitOfPartition = dieAfterCommitOfPartition;
    this.slowFirstAttemptOfPartition = slowFirstAttemptOfPartition;
    this.slowMillisPerBatch = slowMillisPerBatch;
  }

  /** Parses a case-insensitive option map; IllegalArgumentException says what is wrong. */
  public static SquadronWriteOptions parse(Map<String, String> options) {
    String query = required(options, "query");
    String coordinator = required(options, "coordinator");
    FlightConnectionOptions.checkUri(coordinator, PREFIX + "coordinator");
    String credential = required(options, "credential");
    boolean ordered = Boolean.parseBoolean(options.getOrDefault(PREFIX + "ordered", "false").trim());
    int batchRows = (int) number(options, "batchRows", 65536, 1, Integer.MAX_VALUE);
    long batchBytes = number(options, "batchBytes", 64L << 20, 1024, Long.MAX_VALUE);
    int failPartition = (int) number(options, "test.failFirstAttemptOfPartition", -1, -1, Integer.MAX_VALUE);
    int failAfter = (int) number(options, "test.failAfterBatches", 0, 0, Integer.MAX_VALUE);
    int diePartition = (int) number(options, "test.dieAfterCommitOfPartition", -1, -1, Integer.MAX_VALUE);
    int slowPartition = (int) number(options, "test.slowFirstAttemptOfPartition", -1, -1, Integer.MAX_VALUE);
    int slowMillis = (int) number(options, "test.slowMillisPerBatch", 0, 0, 600_000);
    return new SquadronWriteOptions(query, coordinator, credential, ordered, batchRows, batchBytes,
        FlightConnectionOptions.parse(options, PREFIX), failPartition, failAfter, diePartition, slowPartition,
        slowMillis);
  }

  private static String required(Map<String, String> options, String name) {
    String value = options.get(PREFIX + name);
    if (value == null || value.isEmpty()) {
      throw new IllegalArgumentException("squadron: the option '" + PREFIX + name + "' is required (the Squadron "
          + "coordinator passes it; see docs/exchange-protocol.md)");
    }
    return value;
  }

  private static long number(Map<String, String> options, String name, long fallback, long min, long max) {
    String text = options.get(PREFIX + name);
    if (text == null || text.isEmpty()) return fallback;
    try {
      long value = Long.parseLong(text.trim());
      if (value < min || value > max) throw new NumberFormatException();
      return value;
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("squadron: the option '" + PREFIX + name + "' must be an integer within "
          + min + ".." + max + ", got '" + text + "'");
    }
  }
}
