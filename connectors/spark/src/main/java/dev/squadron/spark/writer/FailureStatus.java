package dev.squadron.spark.writer;

import java.util.IdentityHashMap;
import java.util.Map;
import java.util.regex.Pattern;

import org.apache.spark.SparkThrowable;

/**
 * The gRPC status a failed write job gives the query's readers
 * (squadron.exchange.fail's "status"): INVALID_ARGUMENT when the query's SQL
 * or data is at fault (Spark's SQLSTATE classes 22 and 42, and a query's own
 * raise_error, P0001), UNAVAILABLE when a serving node could not be reached,
 * INTERNAL otherwise. A task's exception reaches the driver as text inside
 * the job's, so the messages are read as well as the exception types.
 */
final class FailureStatus {
  static final String INVALID_ARGUMENT = "INVALID_ARGUMENT";
  static final String UNAVAILABLE = "UNAVAILABLE";
  static final String INTERNAL = "INTERNAL";

  private static final Pattern USER_SQLSTATE = Pattern.compile("SQLSTATE: (22|42)[0-9A-Z]{3}|SQLSTATE: P0001");
  private static final String NODE_UNAVAILABLE = "is unavailable (squadron node)";
  private static final int MAX_CAUSES = 32;

  private FailureStatus() {}

  /** The message a task throws when its node cannot be reached. */
  static String unavailableMessage(String uri, String why) {
    return "squadron: node " + uri + " " + NODE_UNAVAILABLE + ": " + why;
  }

  static String of(Throwable failure) {
    Map<Throwable, Boolean> seen = new IdentityHashMap<>();
    boolean invalid = false;
    for (Throwable t = failure; t != null && seen.size() < MAX_CAUSES && seen.put(t, true) == null; t = t.getCause()) {
      String message = t.getMessage() == null ? "" : t.getMessage();
      // A lost node explains whatever else went wrong with the tasks that pushed to it.
      if (message.contains(NODE_UNAVAILABLE)) return UNAVAILABLE;
      if (t instanceof SparkThrowable) {
        String state = ((SparkThrowable) t).getSqlState();
        if (state != null && (state.startsWith("22") || state.startsWith("42") || state.equals("P0001"))) {
          invalid = true;
        }
      }
      if (USER_SQLSTATE.matcher(message).find()) invalid = true;
    }
    return invalid ? INVALID_ARGUMENT : INTERNAL;
  }
}
