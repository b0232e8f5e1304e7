package dev.squadron.spark.writer;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

import com.google.gson.JsonObject;
import dev.squadron.spark.flight.FlightConnectionOptions;
import org.apache.arrow.flight.CallStatus;
import org.apache.arrow.flight.FlightClient;
import org.apache.arrow.flight.FlightDescriptor;
import org.apache.arrow.flight.FlightRuntimeException;
import org.apache.arrow.flight.FlightStatusCode;
import org.apache.arrow.flight.PutResult;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.spark.SparkEnv;
import org.apache.spark.TaskContext;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.connector.write.DataWriter;
import org.apache.spark.sql.connector.write.WriterCommitMessage;
import org.apache.spark.sql.execution.arrow.ArrowWriter;
import org.apache.spark.sql.util.ArrowUtils;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One task attempt: converts rows with Spark's ArrowWriter and pushes them
 * with DoPut to the partition's node (docs/exchange-protocol.md step 2).
 * Used by the task's thread only.
 */
final class SquadronDataWriter implements DataWriter<InternalRow> {
  private static final Logger LOG = LoggerFactory.getLogger(SquadronDataWriter.class);
  /** How often (in rows) the batch's byte size is checked. */
  private static final int SIZE_CHECK_ROWS = 1024;
  /** How often a task blocked by backpressure looks again. */
  private static final long READY_POLL_NANOS = 200_000;
  /** How long commit and abort wait for the node's answer. */
  private static final long ANSWER_TIMEOUT_S = 300;

  private final SquadronWriterFactory factory;
  private final int partition;
  private final long attempt;
  private final String uri;
  /** Batches after which this attempt throws (tests); -1 never. */
  private final int failAfterBatches;
  /** Sleep after each batch (tests: a straggler); 0 none. */
  private final int slowMillisPerBatch;
  private final BufferAllocator allocator;
  private final VectorSchemaRoot root;
  private final ArrowWriter arrowWriter;
  private final Answer answer = new Answer();
  private FlightClient client;
  private FlightClient.ClientStreamListener stream;
  /** The stream ended: committed, aborted or cancelled. */
  private boolean ended;
  private int rowsInBatch;
  private long rows;
  private long batches;
  /** Time spent waiting for the node: its flow control, and its commit answer (backpressure). */
  private long blockedNanos;

  SquadronDataWriter(SquadronWriterFactory factory, int partition, long taskId) {
    this.factory = factory;
    this.partition = partition;
    this.attempt = taskId;
    this.uri = factory.uris[partition];
    TaskContext task = TaskContext.get();
    boolean firstAttempt = task == null || task.attemptNumber() == 0;
    this.failAfterBatches = firstAttempt && partition == factory.options.failFirstAttemptOfPartition
        ? factory.options.failAfterBatches : -1;
    this.slowMillisPerBatch = firstAttempt && partition == factory.options.slowFirstAttemptOfPartition
        ? factory.options.slowMillisPerBatch : 0;
    this.allocator = ArrowUtils.rootAllocator().newChildAllocator(
        "squadron-writer-p" + partition + "-a" + taskId, 0, Long.MAX_VALUE);
    try {
      this.root = VectorSchemaRoot.create(
          SquadronBatchWrite.arrowSchema(factory.schema, factory.timeZone, factory.largeVarTypes), allocator);
      this.arrowWriter = ArrowWriter.create(root);
    } catch (RuntimeException e) {
      allocator.close();
      throw e;
    }
  }

  @Override
  public void write(InternalRow row) throws IOException {
    try {
      start();
      arrowWriter.write(row);
      rowsInBatch++;
      if (rowsInBatch >= factory.options.batchRows
          || (rowsInBatch % SIZE_CHECK_ROWS == 0 && arrowWriter.sizeInBytes() >= factory.options.batchBytes)) {
        flush();
      }
    } catch (FlightRuntimeException e) {
      throw nodeFailure(e);
    }
  }

  @Override
  public WriterCommitMessage commit() throws IOException {
    try {
      return commitAttempt();
    } catch (FlightRuntimeException e) {
      throw nodeFailure(e);
    }
  }

  private WriterCommitMessage commitAttempt() throws IOException {
    start();
    if (rowsInBatch > 0) flush();
    awaitReady();
    stream.putMetadata(buffer(ExchangeMessages.commitMarker()));
    stream.completed();
    ended = true;
    // The node answers once it holds every batch: while its spool is full,
    // that wait is backpressure too (a small partition fits in gRPC's windows).
    long start = System.nanoTime();
    JsonObject result;
    try {
      stream.getResult();  // the node's status: throws when it refused the commit
      result = answer.await();
    } finally {
      blockedNanos += System.nanoTime() - start;
    }
    if (result == null || !result.has("committed") || !result.get("committed").getAsBoolean()) {
      throw new IOException("squadron: node " + uri + " did not commit partition " + partition + " attempt "
          + attempt + ": " + result);
    }
    // Another attempt of the partition committed on the node first (its
    // task's executor was lost before Spark heard of it): that attempt's
    // rows are the partition's, and this one's were dropped.
    long committed = result.has("committed_attempt") ? result.get("committed_attempt").getAsLong() : attempt;
    if (committed != attempt) {
      LOG.warn("squadron: partition {} was committed on {} by attempt {} already; attempt {} defers to it",
          partition, uri, committed, attempt);
    }
    LOG.info("squadron: pushed partition {} attempt {} to {}: {} batches, {} rows (node counted {}), "
            + "waited on the node (backpressure) {} ms; executor {} host {} pid {}", partition, attempt, uri, batches,
        rows, result.has("rows") ? result.get("rows").getAsLong() : -1, blockedNanos / 1_000_000, executorId(), host(),
        pid());
    if (partition == factory.options.dieAfterCommitOfPartition && TaskContext.get() != null
        && TaskContext.get().attemptNumber() == 0) {
      LOG.error("squadron.test.dieAfterCommitOfPartition: the executor exits after committing partition {} attempt {}",
          partition, attempt);
      Runtime.getRuntime().halt(57);
    }
    return new SquadronCommitMessage(partition, committed, uri, rows, batches);
  }

  /**
   * The node's failure, named: an unreachable node as "squadron: node URI is
   * unavailable", which the driver reports as UNAVAILABLE (FailureStatus).
   */
  private IOException nodeFailure(FlightRuntimeException e) {
    CallStatus status = e.status();
    if (status.code() == FlightStatusCode.UNAVAILABLE) {
      return new IOException(FailureStatus.unavailableMessage(uri, status.description()), e);
    }
    return new IOException("squadron: node " + uri + " failed partition " + partition + " attempt " + attempt
        + ": " + status.code() + ": " + status.description(), e);
  }

  @Override
  public void abort() {
    LOG.warn("squadron: aborting partition {} attempt {} to {} after {} batches, {} rows; executor {} host {} pid {}",
        partition, attempt, uri, batches, rows, executorId(), host(), pid());
    if (stream == null || ended) return;
    ended = true;
    try {
      stream.putMetadata(buffer(ExchangeMessages.abortMarker(
          "Spark task attempt " + attempt + " of partition " + partition + " aborted")));
      stream.completed();
      answer.await();
    } catch (Exception e) {
      // The node drops an attempt whose stream breaks, too.
      stream.error(e);
    }
  }

  @Override
  public void close() {
    try {
      if (stream != null && !ended) {
        ended = true;
        stream.error(new IOException("squadron: task closed before commit"));
      }
      if (client != null) client.close();
    } catch (Exception e) {
      LOG.warn("squadron: closing the stream of partition {} attempt {}: {}", partition, attempt, e.toString());
    } finally {
      root.close();
      allocator.close();
    }
  }

  /** Opens the DoPut stream (once): an empty partition still pushes its schema and commits. */
  private void start() throws IOException {
    if (stream != null) return;
    if (attempt > Integer.MAX_VALUE) {
      throw new IOException("squadron: task attempt id " + attempt + " exceeds the protocol's 32-bit attempt");
    }
    client = factory.options.connection.open(allocator, uri);
    FlightDescriptor descriptor = FlightDescriptor.command(
        ExchangeMessages.putCommand(factory.options.query, partition, attempt, factory.credential));
    stream = client.startPut(descriptor, root, answer,
        FlightConnectionOptions.callOptions(factory.options.connection.headers()));
  }

  private void flush() throws IOException {
    arrowWriter.finish();
    awaitReady();
    if (answer.isDone()) answer.getResult();  // the call ended early: the node's error, now
    stream.putNext();  // copies the buffers (zero-copy is off): the vectors are reused
    arrowWriter.reset();
    batches++;
    rows += rowsInBatch;
    rowsInBatch = 0;
    if (slowMillisPerBatch > 0) {
      try {
        Thread.sleep(slowMillisPerBatch);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new InterruptedIOException("squadron.test.slowFirstAttemptOfPartition: interrupted (killed?)");
      }
    }
    if (failAfterBatches >= 0 && batches >= failAfterBatches) {
      throw new IOException("squadron.test.failFirstAttemptOfPartition: attempt " + attempt + " of partition "
          + partition + " fails after " + batches + " batches, as the test asked");
    }
  }

  /**
   * Waits for gRPC's flow control (a full spool on the node applies
   * backpressure) by parking, instead of Arrow's busy-wait in putNext. (An
   * on-ready handler cannot be set once startPut has started the call.)
   */
  private void awaitReady() throws IOException {
    if (stream.isReady() || answer.isDone()) return;
    long start = System.nanoTime();
    try {
      parkUntilReady();
    } finally {
      blockedNanos += System.nanoTime() - start;
    }
  }

  private void parkUntilReady() throws IOException {
    while (!stream.isReady() && !answer.isDone()) {
      LockSupport.parkNanos(READY_POLL_NANOS);
      if (Thread.interrupted()) {
        Thread.currentThread().interrupt();
        throw new InterruptedIOException("squadron: interrupted while the node " + uri + " applied backpressure");
      }
    }
  }

  private ArrowBuf buffer(byte[] bytes) {
    ArrowBuf buf = allocator.buffer(bytes.length);
    buf.setBytes(0, bytes);
    buf.writerIndex(bytes.length);  // Flight sends the readable bytes only
    return buf;  // the stream takes it and frees it once sent
  }

  private static String executorId() {
    SparkEnv env = SparkEnv.get();
    return env == null ? "?" : env.executorId();
  }

  private static String host() {
    try {
      return InetAddress.getLocalHost().getHostName();
    } catch (UnknownHostException e) {
      return "?";
    }
  }

  private static long pid() {
    return ProcessHandle.current().pid();
  }

  /** The node's PutResult and the call's end; callbacks run on gRPC threads. */
  private static final class Answer implements FlightClient.PutListener {
    private final CountDownLatch done = new CountDownLatch(1);
    private volatile JsonObject result;
    private volatile Throwable error;

    @Override
    public void onNext(PutResult value) {
      // Borrowed: Arrow closes the PutResult when this returns.
      ArrowBuf metadata = value.getApplicationMetadata();
      if (metadata != null && metadata.readableBytes() > 0) {
        byte[] bytes = new byte[(int) metadata.readableBytes()];
        metadata.getBytes(0, bytes);
        result = ExchangeMessages.parsePutResult(bytes);
      }
    }

    @Override
    public void onError(Throwable t) {
      error = t;
      done.countDown();
    }

    @Override
    public void onCompleted() {
      done.countDown();
    }

    /** Ends the busy-wait of Arrow's putNext once the call is over. */
    @Override
    public boolean isCancelled() {
      return done.getCount() == 0;
    }

    /** Waits for the call's end; throws the node's status when it ended in error. */
    @Override
    public void getResult() {
      try {
        if (!done.await(ANSWER_TIMEOUT_S, TimeUnit.SECONDS)) {
          throw new IllegalStateException("squadron: the node gave no answer in " + ANSWER_TIMEOUT_S + " s");
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException("squadron: interrupted while waiting for the node's answer", e);
      }
      if (error instanceof RuntimeException) throw (RuntimeException) error;
      if (error != null) throw new IllegalStateException("squadron: the push failed: " + error, error);
    }

    boolean isDone() {
      return done.getCount() == 0;
    }

    JsonObject await() throws IOException {
      try {
        if (!done.await(ANSWER_TIMEOUT_S, TimeUnit.SECONDS)) {
          throw new IOException("squadron: the node gave no answer in " + ANSWER_TIMEOUT_S + " s");
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new InterruptedIOException("squadron: interrupted while waiting for the node's answer");
      }
      if (error != null) throw new IOException("squadron: the node refused the push: " + error.getMessage(), error);
      return result;
    }
  }
}
