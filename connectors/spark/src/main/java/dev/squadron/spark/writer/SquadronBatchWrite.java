package dev.squadron.spark.writer;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.Iterator;
import java.util.List;

import dev.squadron.spark.flight.FlightConnectionOptions;
import org.apache.arrow.flight.Action;
import org.apache.arrow.flight.FlightClient;
import org.apache.arrow.flight.Result;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.types.pojo.Schema;
import org.apache.spark.SparkContext;
import org.apache.spark.sql.connector.write.BatchWrite;
import org.apache.spark.sql.connector.write.DataWriterFactory;
import org.apache.spark.sql.connector.write.PhysicalWriteInfo;
import org.apache.spark.sql.connector.write.WriterCommitMessage;
import org.apache.spark.sql.internal.SQLConf;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.sql.util.ArrowUtils;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The driver's side of one distributed query: plans it with the coordinator
 * when Spark knows its task count, then completes or fails it. Runs on the
 * driver only.
 */
final class SquadronBatchWrite implements BatchWrite {
  private static final Logger LOG = LoggerFactory.getLogger(SquadronBatchWrite.class);
  /** How long abort() waits for Spark's reason (its job-end event is delivered asynchronously). */
  private static final long REASON_WAIT_MS = 2000;

  private final SquadronWriteOptions options;
  private final StructType schema;
  /** The producer credential the plan answered (the option's, unless the coordinator says otherwise). */
  private String credential;
  private JobFailureListener failures;

  SquadronBatchWrite(SquadronWriteOptions options, StructType schema) {
    this.options = options;
    this.schema = schema;
    this.credential = options.credential;
  }

  /** The Arrow schema Spark's own conversion makes (what each task's ArrowWriter writes). */
  static Schema arrowSchema(StructType schema, String timeZone, boolean largeVarTypes) {
    return ArrowUtils.toArrowSchema(schema, timeZone, /*errorOnDuplicatedFieldNames=*/false, largeVarTypes,
        ArrowUtils.toArrowSchema$default$5());
  }

  @Override
  public DataWriterFactory createBatchWriterFactory(PhysicalWriteInfo info) {
    int partitions = info.numPartitions();
    SQLConf conf = SQLConf.get();
    String timeZone = conf.sessionLocalTimeZone();
    boolean largeVarTypes = conf.arrowUseLargeVarTypes();
    Schema arrow = arrowSchema(schema, timeZone, largeVarTypes);
    byte[] reply = action(ExchangeMessages.PLAN_ACTION,
        ExchangeMessages.planBody(options.query, options.credential, partitions, arrow));
    ExchangeMessages.Planned planned = ExchangeMessages.parsePlanned(reply);
    if (planned.credential != null) credential = planned.credential;
    String[] uris = new String[partitions];
    String[] nodes = new String[partitions];
    for (ExchangeMessages.Assignment a : planned.assignment) {
      if (a.partition < 0 || a.partition >= partitions) {
        throw new IllegalStateException("squadron: the coordinator assigned partition " + a.partition
            + ", outside 0.." + (partitions - 1));
      }
      uris[a.partition] = a.uri;
      nodes[a.partition] = a.node;
    }
    for (int p = 0; p < partitions; p++) {
      if (uris[p] == null) throw new IllegalStateException("squadron: the coordinator assigned no node to partition " + p);
    }
    LOG.info("squadron: planned query {} with {} partitions over nodes {} (ordered={}, time zone {})", options.query,
        partitions, Arrays.stream(nodes).distinct().toArray(), options.ordered, timeZone);
    failures = JobFailureListener.register(SparkContext.getOrCreate());
    return new SquadronWriterFactory(options, credential, schema, timeZone, largeVarTypes, uris);
  }

  @Override
  public boolean useCommitCoordinator() {
    return true;
  }

  @Override
  public void commit(WriterCommitMessage[] messages) {
    unregister();
    List<ExchangeMessages.Committed> committed = new ArrayList<>();
    long rows = 0;
    for (WriterCommitMessage m : messages) {
      SquadronCommitMessage c = (SquadronCommitMessage) m;
      committed.add(new ExchangeMessages.Committed(c.partition, c.attempt));
      rows += c.rows;
    }
    committed.sort(Comparator.comparingInt(c -> c.partition));
    action(ExchangeMessages.COMPLETE_ACTION, ExchangeMessages.completeBody(options.query, credential, committed));
    LOG.info("squadron: completed query {}: {} partitions, {} rows", options.query, committed.size(), rows);
  }

  @Override
  public void abort(WriterCommitMessage[] messages) {
    String reason = failures == null ? null : failures.awaitReason(REASON_WAIT_MS);
    String status = failures == null ? FailureStatus.INTERNAL : failures.status();
    unregister();
    if (reason == null) reason = "Spark job aborted";
    try {
      action(ExchangeMessages.FAIL_ACTION, ExchangeMessages.failBody(options.query, credential, reason, status));
      LOG.warn("squadron: failed query {} ({}): {}", options.query, status, reason);
    } catch (RuntimeException e) {
      // Spark reports the job's own failure; the coordinator's deadline ends the query otherwise.
      LOG.error("squadron: could not fail query {} at {}: {}", options.query, options.coordinator, e.toString());
    }
  }

  private void unregister() {
    if (failures != null) failures.unregister();
  }

  /** DoAction on the coordinator; returns the first result's body. */
  private byte[] action(String type, byte[] body) {
    try (BufferAllocator allocator = ArrowUtils.rootAllocator().newChildAllocator("squadron-driver", 0,
        Long.MAX_VALUE)) {
      FlightClient client = options.connection.open(allocator, options.coordinator);
      try {
        Iterator<Result> results = client.doAction(new Action(type, body),
            FlightConnectionOptions.callOptions(options.connection.headers()));
        byte[] first = results.hasNext() ? results.next().getBody() : new byte[0];
        while (results.hasNext()) results.next();
        return first;
      } finally {
        client.close();
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("squadron: interrupted during " + type, e);
    }
  }
}
