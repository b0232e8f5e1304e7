package dev.squadron.spark.writer;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

import org.apache.spark.SparkContext;
import org.apache.spark.scheduler.JobFailed;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerJobEnd;
import org.apache.spark.scheduler.SparkListenerJobStart;

/**
 * Catches why the write's Spark job failed, for squadron.exchange.fail:
 * BatchWrite.abort() is not told. Listens to the jobs of the SQL execution
 * that registered it (all jobs when there is none). Callbacks run on Spark's
 * listener bus thread; awaitReason on the driver's write thread.
 */
final class JobFailureListener extends SparkListener {
  private static final String EXECUTION_ID = "spark.sql.execution.id";

  private final SparkContext context;
  private final String executionId;
  private final Set<Integer> jobs = ConcurrentHashMap.newKeySet();
  private String reason;  // guarded by this
  private String status = FailureStatus.INTERNAL;  // guarded by this

  private JobFailureListener(SparkContext context, String executionId) {
    this.context = context;
    this.executionId = executionId;
  }

  static JobFailureListener register(SparkContext context) {
    JobFailureListener listener = new JobFailureListener(context, context.getLocalProperty(EXECUTION_ID));
    context.addSparkListener(listener);
    return listener;
  }

  void unregister() {
    context.removeSparkListener(this);
  }

  @Override
  public void onJobStart(SparkListenerJobStart start) {
    String id = start.properties() == null ? null : start.properties().getProperty(EXECUTION_ID);
    if (executionId == null || executionId.equals(id)) jobs.add(start.jobId());
  }

  @Override
  public void onJobEnd(SparkListenerJobEnd end) {
    if (!jobs.contains(end.jobId()) || !(end.jobResult() instanceof JobFailed)) return;
    Exception e = ((JobFailed) end.jobResult()).exception();
    synchronized (this) {
      reason = e.getMessage() == null ? e.toString() : e.getMessage();
      status = FailureStatus.of(e);
      notifyAll();
    }
  }

  /** Spark's reason, waiting up to {@code millis} for it; null if none came. */
  synchronized String awaitReason(long millis) {
    long deadline = System.currentTimeMillis() + millis;
    while (reason == null) {
      long left = deadline - System.currentTimeMillis();
      if (left <= 0) break;
      try {
        wait(left);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        break;
      }
    }
    return reason;
  }

  /** The readers' status for the reason (FailureStatus); INTERNAL if none came. */
  synchronized String status() {
    return status;
  }
}
