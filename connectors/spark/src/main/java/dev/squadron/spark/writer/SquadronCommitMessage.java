package dev.squadron.spark.writer;

import org.apache.spark.sql.connector.write.WriterCommitMessage;

/** What a committed task attempt tells the driver: its partition, attempt and where it went. */
final class SquadronCommitMessage implements WriterCommitMessage {
  private static final long serialVersionUID = 1L;

  final int partition;
  final long attempt;
  final String uri;
  final long rows;
  final long batches;

  SquadronCommitMessage(int partition, long attempt, String uri, long rows, long batches) {
    this.partition = partition;
    this.attempt = attempt;
    this.uri = uri;
    this.rows = rows;
    this.batches = batches;
  }

  @Override
  public String toString() {
    return "partition " + partition + " attempt " + attempt + " (" + rows + " rows to " + uri + ")";
  }
}
