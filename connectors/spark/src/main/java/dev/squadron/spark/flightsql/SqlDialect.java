package dev.squadron.spark.flightsql;

import java.time.Instant;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.Locale;
import java.util.Optional;

import org.apache.spark.sql.types.BinaryType;
import org.apache.spark.sql.types.BooleanType;
import org.apache.spark.sql.types.ByteType;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.DateType;
import org.apache.spark.sql.types.Decimal;
import org.apache.spark.sql.types.DecimalType;
import org.apache.spark.sql.types.DoubleType;
import org.apache.spark.sql.types.FloatType;
import org.apache.spark.sql.types.IntegerType;
import org.apache.spark.sql.types.LongType;
import org.apache.spark.sql.types.ShortType;
import org.apache.spark.sql.types.TimestampNTZType;
import org.apache.spark.sql.types.TimestampType;

/**
 * How the SQL sent to a Flight SQL server quotes names and writes literals.
 *
 * <p>Literals take Spark's internal representation (what a pushed V2
 * predicate's {@code LiteralValue} holds: {@code UTF8String}, days since the
 * epoch for a date, microseconds for a timestamp, {@code Decimal}, ...). A
 * literal a dialect cannot write exactly renders as empty, and the predicate
 * holding it stays with Spark.
 */
public enum SqlDialect {
  /** SQL standard: "double-quoted" names, 'quote''doubling' strings; no binary literals. */
  ANSI,
  /** DuckDB (Squadron's default engine): ANSI plus {@code unhex('..')} binary literals. */
  DUCKDB,
  /** Spark SQL: `backtick` names, backslash escapes in strings, TIMESTAMP_LTZ/_NTZ, X'..'. */
  SPARK;

  private static final DateTimeFormatter TIMESTAMP =
      DateTimeFormatter.ofPattern("uuuu-MM-dd HH:mm:ss.SSSSSS", Locale.ROOT);

  /** Parses the {@code dialect} option ("ansi", "duckdb", "spark"; case-insensitive). */
  public static SqlDialect parse(String name) {
    try {
      return valueOf(name.trim().toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(
          "Invalid flightsql option 'dialect': expected auto, ansi, duckdb or spark, got '" + name + "'");
    }
  }

  /**
   * Picks the dialect from what a server says of itself in SqlInfo: its
   * identifier quote character, name and version (Squadron's version names
   * its engine, e.g. "0.1.0 (duckdb v1.4.4)").
   */
  public static SqlDialect detect(String identifierQuote, String serverName, String serverVersion) {
    String about = (serverName + " " + serverVersion).toLowerCase(Locale.ROOT);
    if ("`".equals(identifierQuote) || about.contains("spark")) return SPARK;
    if (about.contains("duckdb")) return DUCKDB;
    return ANSI;
  }

  /** Quotes one name (a column, an alias) so that any character is allowed. */
  public String quoteIdentifier(String name) {
    if (this == SPARK) return "`" + name.replace("`", "``") + "`";
    return "\"" + name.replace("\"", "\"\"") + "\"";
  }

  /** A string literal, or empty when the text cannot be written (a NUL character). */
  public Optional<String> stringLiteral(String text) {
    if (text.indexOf('\0') >= 0) return Optional.empty();
    if (this == SPARK) {
      // Spark's parser processes backslash escapes inside string literals.
      return Optional.of("'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'");
    }
    return Optional.of("'" + text.replace("'", "''") + "'");
  }

  /**
   * A literal of Spark type {@code type} holding {@code value} in Spark's
   * internal representation, or empty when it cannot be written exactly
   * (null, NaN, an infinity, a date outside years 1-9999, a binary value in
   * plain ANSI, a type not listed here).
   */
  public Optional<String> literal(Object value, DataType type) {
    if (value == null) return Optional.empty();
    if (type instanceof BooleanType) return Optional.of((Boolean) value ? "TRUE" : "FALSE");
    if (type instanceof ByteType || type instanceof ShortType || type instanceof IntegerType
        || type instanceof LongType) {
      return Optional.of(value.toString());
    }
    if (type instanceof FloatType) {
      float f = (Float) value;
      if (Float.isNaN(f) || Float.isInfinite(f)) return Optional.empty();
      return Optional.of("CAST(" + Float.toString(f) + " AS REAL)");
    }
    if (type instanceof DoubleType) {
      double d = (Double) value;
      if (Double.isNaN(d) || Double.isInfinite(d)) return Optional.empty();
      return Optional.of("CAST(" + Double.toString(d) + " AS DOUBLE)");
    }
    if (type instanceof DecimalType) {
      DecimalType t = (DecimalType) type;
      String digits = ((Decimal) value).toJavaBigDecimal().toPlainString();
      return Optional.of("CAST(" + digits + " AS DECIMAL(" + t.precision() + ", " + t.scale() + "))");
    }
    if (DataTypes.StringType.equals(type)) {
      // Only the default (binary) collation: another would compare differently.
      return stringLiteral(value.toString());
    }
    if (type instanceof DateType) {
      LocalDate date = LocalDate.ofEpochDay((Integer) value);
      if (date.getYear() < 1 || date.getYear() > 9999) return Optional.empty();
      return Optional.of("DATE '" + date + "'");
    }
    if (type instanceof TimestampType) {
      LocalDateTime utc = utc((Long) value);
      if (utc.getYear() < 1 || utc.getYear() > 9999) return Optional.empty();
      String text = "'" + TIMESTAMP.format(utc) + "+00:00'";
      return Optional.of((this == SPARK ? "TIMESTAMP_LTZ " : "TIMESTAMP WITH TIME ZONE ") + text);
    }
    if (type instanceof TimestampNTZType) {
      LocalDateTime local = utc((Long) value);
      if (local.getYear() < 1 || local.getYear() > 9999) return Optional.empty();
      String text = "'" + TIMESTAMP.format(local) + "'";
      return Optional.of((this == SPARK ? "TIMESTAMP_NTZ " : "TIMESTAMP ") + text);
    }
    if (type instanceof BinaryType) {
      String hex = hex((byte[]) value);
      if (this == SPARK) return Optional.of("X'" + hex + "'");
      if (this == DUCKDB) return Optional.of("unhex('" + hex + "')");
      return Optional.empty();
    }
    return Optional.empty();
  }

  private static LocalDateTime utc(long micros) {
    Instant instant = Instant.EPOCH.plusSeconds(Math.floorDiv(micros, 1_000_000L))
        .plusNanos(Math.floorMod(micros, 1_000_000L) * 1000L);
    return LocalDateTime.ofInstant(instant, ZoneOffset.UTC);
  }

  private static String hex(byte[] bytes) {
    StringBuilder out = new StringBuilder(bytes.length * 2);
    for (byte b : bytes) out.append(String.format(Locale.ROOT, "%02X", b));
    return out.toString();
  }
}
