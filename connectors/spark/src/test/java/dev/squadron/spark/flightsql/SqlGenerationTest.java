package dev.squadron.spark.flightsql;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.math.BigDecimal;
import java.time.Instant;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.Set;

import org.apache.spark.sql.connector.expressions.Expression;
import org.apache.spark.sql.connector.expressions.Expressions;
import org.apache.spark.sql.connector.expressions.LiteralValue;
import org.apache.spark.sql.connector.expressions.NamedReference;
import org.apache.spark.sql.connector.expressions.filter.AlwaysFalse;
import org.apache.spark.sql.connector.expressions.filter.AlwaysTrue;
import org.apache.spark.sql.connector.expressions.filter.And;
import org.apache.spark.sql.connector.expressions.filter.Not;
import org.apache.spark.sql.connector.expressions.filter.Or;
import org.apache.spark.sql.connector.expressions.filter.Predicate;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.Decimal;
import org.apache.spark.unsafe.types.UTF8String;
import org.junit.jupiter.api.Test;

/** The SQL the reader sends: quoting, literals of every pushed type, predicates, the wrapping query. */
class SqlGenerationTest {
  private static final Set<String> COLUMNS = Set.of("id", "name", "we\"ird`col", "d", "ts", "ntz", "amount", "bin",
      "f", "x", "flag");

  private static NamedReference col(String name) {
    return Expressions.column(name);
  }

  private static NamedReference quotedCol(String name) {
    // Expressions.column parses dots; FieldReference.apply of a one-part Seq does not.
    return org.apache.spark.sql.connector.expressions.FieldReference.column(name);
  }

  private static <T> LiteralValue<T> lit(T value, DataType type) {
    return new LiteralValue<>(value, type);
  }

  private static Predicate pred(String name, Expression... children) {
    return new Predicate(name, children);
  }

  private static String sql(SqlDialect dialect, Predicate p) {
    return new PredicateTranslator(dialect, COLUMNS).translate(p).orElse("<none>");
  }

  @Test
  void quotesIdentifiersPerDialect() {
    assertEquals("\"a\"\"b\"", SqlDialect.ANSI.quoteIdentifier("a\"b"));
    assertEquals("\"a`b\"", SqlDialect.DUCKDB.quoteIdentifier("a`b"));
    assertEquals("`a``b`", SqlDialect.SPARK.quoteIdentifier("a`b"));
    assertEquals("`a\"b`", SqlDialect.SPARK.quoteIdentifier("a\"b"));
  }

  @Test
  void escapesStringLiteralsPerDialect() {
    assertEquals(Optional.of("'it''s \\n'"), SqlDialect.ANSI.stringLiteral("it's \\n"));
    assertEquals(Optional.of("'it\\'s \\\\n'"), SqlDialect.SPARK.stringLiteral("it's \\n"));
    assertEquals(Optional.empty(), SqlDialect.ANSI.stringLiteral("nul\0"));
    // An injection attempt stays one literal.
    assertEquals(Optional.of("''' OR 1=1 --'"), SqlDialect.DUCKDB.stringLiteral("' OR 1=1 --"));
    assertEquals(Optional.of("'\\' OR 1=1 --'"), SqlDialect.SPARK.stringLiteral("' OR 1=1 --"));
  }

  @Test
  void writesLiteralsOfEveryPushedType() {
    SqlDialect d = SqlDialect.DUCKDB;
    assertEquals("TRUE", d.literal(true, DataTypes.BooleanType).get());
    assertEquals("-7", d.literal((byte) -7, DataTypes.ByteType).get());
    assertEquals("300", d.literal((short) 300, DataTypes.ShortType).get());
    assertEquals("-2147483648", d.literal(Integer.MIN_VALUE, DataTypes.IntegerType).get());
    assertEquals("9223372036854775807", d.literal(Long.MAX_VALUE, DataTypes.LongType).get());
    assertEquals("CAST(1.5 AS REAL)", d.literal(1.5f, DataTypes.FloatType).get());
    assertEquals("CAST(1.0E-10 AS DOUBLE)", d.literal(1e-10, DataTypes.DoubleType).get());
    assertEquals(Optional.empty(), d.literal(Double.NaN, DataTypes.DoubleType));
    assertEquals(Optional.empty(), d.literal(Float.POSITIVE_INFINITY, DataTypes.FloatType));
    assertEquals("CAST(-12345678901234567890.1 AS DECIMAL(23, 1))",
        d.literal(Decimal.apply(new BigDecimal("-12345678901234567890.1")), DataTypes.createDecimalType(23, 1)).get());
    assertEquals("'x''y'", d.literal(UTF8String.fromString("x'y"), DataTypes.StringType).get());
    int days = (int) LocalDate.of(2024, 2, 29).toEpochDay();
    assertEquals("DATE '2024-02-29'", d.literal(days, DataTypes.DateType).get());
    assertEquals(Optional.empty(), d.literal((int) LocalDate.of(10000, 1, 1).toEpochDay(), DataTypes.DateType));
    long micros = Instant.parse("2024-01-02T03:04:05.123456Z").getEpochSecond() * 1_000_000L + 123456;
    assertEquals("TIMESTAMP WITH TIME ZONE '2024-01-02 03:04:05.123456+00:00'",
        d.literal(micros, DataTypes.TimestampType).get());
    assertEquals("TIMESTAMP_LTZ '2024-01-02 03:04:05.123456+00:00'",
        SqlDialect.SPARK.literal(micros, DataTypes.TimestampType).get());
    long ntz = LocalDateTime.of(1969, 12, 31, 23, 59, 59, 999_999_000).toEpochSecond(ZoneOffset.UTC) * 1_000_000L
        + 999_999;
    assertEquals("TIMESTAMP '1969-12-31 23:59:59.999999'", d.literal(ntz, DataTypes.TimestampNTZType).get());
    assertEquals("TIMESTAMP_NTZ '1969-12-31 23:59:59.999999'", SqlDialect.SPARK.literal(ntz, DataTypes.TimestampNTZType).get());
    byte[] bytes = {(byte) 0xAB, 0x01};
    assertEquals("unhex('AB01')", d.literal(bytes, DataTypes.BinaryType).get());
    assertEquals("X'AB01'", SqlDialect.SPARK.literal(bytes, DataTypes.BinaryType).get());
    assertEquals(Optional.empty(), SqlDialect.ANSI.literal(bytes, DataTypes.BinaryType));
    assertEquals(Optional.empty(), d.literal(null, DataTypes.IntegerType));
    // A non-default collation compares differently: not pushed.
    assertEquals(Optional.empty(),
        d.literal(UTF8String.fromString("a"), org.apache.spark.sql.types.StringType.apply("UTF8_LCASE")));
  }

  @Test
  void translatesComparisonsAndLogic() {
    Predicate gt = pred(">", col("id"), lit(990, DataTypes.IntegerType));
    assertEquals("(\"id\" > 990)", sql(SqlDialect.ANSI, gt));
    assertEquals("(990 <= \"id\")", sql(SqlDialect.ANSI, pred("<=", lit(990, DataTypes.IntegerType), col("id"))));
    assertEquals("(\"id\" IS NOT DISTINCT FROM 1)", sql(SqlDialect.ANSI, pred("<=>", col("id"), lit(1, DataTypes.IntegerType))));
    Predicate eq = pred("=", col("name"), lit(UTF8String.fromString("a'b"), DataTypes.StringType));
    assertEquals("((\"id\" > 990) OR (NOT (\"name\" = 'a''b')))", sql(SqlDialect.ANSI, new Or(gt, new Not(eq))));
    assertEquals("((`id` > 990) AND (`name` = 'a\\'b'))", sql(SqlDialect.SPARK, new And(gt, eq)));
    assertEquals("(\"d\" IS NULL)", sql(SqlDialect.ANSI, pred("IS_NULL", col("d"))));
    assertEquals("(\"d\" IS NOT NULL)", sql(SqlDialect.ANSI, pred("IS_NOT_NULL", col("d"))));
    assertEquals("(1 = 1)", sql(SqlDialect.ANSI, new AlwaysTrue()));
    assertEquals("(1 = 0)", sql(SqlDialect.ANSI, new AlwaysFalse()));
    assertEquals("(\"id\" = \"x\")", sql(SqlDialect.ANSI, pred("=", col("id"), col("x"))));
    assertEquals("(\"we\"\"ird`col\" <> 1)", sql(SqlDialect.DUCKDB, pred("<>", quotedCol("we\"ird`col"), lit(1, DataTypes.IntegerType))));
    assertEquals("(`we\"ird``col` <> 1)", sql(SqlDialect.SPARK, pred("<>", quotedCol("we\"ird`col"), lit(1, DataTypes.IntegerType))));
  }

  @Test
  void translatesInAndLike() {
    assertEquals("(\"id\" IN (1, 2, 3))", sql(SqlDialect.ANSI, pred("IN", col("id"), lit(1, DataTypes.IntegerType),
        lit(2, DataTypes.IntegerType), lit(3, DataTypes.IntegerType))));
    assertEquals("(\"name\" LIKE 'a!%b!_c!!''%' ESCAPE '!')", sql(SqlDialect.ANSI,
        pred("STARTS_WITH", col("name"), lit(UTF8String.fromString("a%b_c!'"), DataTypes.StringType))));
    assertEquals("(`name` LIKE '%x\\\\y' ESCAPE '!')", sql(SqlDialect.SPARK,
        pred("ENDS_WITH", col("name"), lit(UTF8String.fromString("x\\y"), DataTypes.StringType))));
    assertEquals("(\"name\" LIKE '%mid%' ESCAPE '!')", sql(SqlDialect.ANSI,
        pred("CONTAINS", col("name"), lit(UTF8String.fromString("mid"), DataTypes.StringType))));
  }

  @Test
  void leavesWhatItCannotWriteToSpark() {
    Predicate nested = pred("=", col("st.a"), lit(1, DataTypes.IntegerType));
    Predicate unknownColumn = pred("=", col("nope"), lit(1, DataTypes.IntegerType));
    Predicate function = pred("=", new org.apache.spark.sql.connector.expressions.GeneralScalarExpression("UPPER",
        new Expression[] {col("name")}), lit(UTF8String.fromString("A"), DataTypes.StringType));
    Predicate nan = pred("=", col("f"), lit(Double.NaN, DataTypes.DoubleType));
    Predicate nullIn = pred("IN", col("id"), lit(1, DataTypes.IntegerType), lit(null, DataTypes.IntegerType));
    Predicate binaryAnsi = pred("=", col("bin"), lit(new byte[] {1}, DataTypes.BinaryType));
    Predicate literalsOnly = pred("=", lit(1, DataTypes.IntegerType), lit(1, DataTypes.IntegerType));
    for (Predicate p : List.of(nested, unknownColumn, function, nan, nullIn, binaryAnsi, literalsOnly)) {
      assertEquals("<none>", sql(SqlDialect.ANSI, p), p.toString());
    }
    // Half of an OR cannot go alone.
    assertEquals("<none>", sql(SqlDialect.ANSI, new Or(pred("IS_NULL", col("id")), (Predicate) function)));
    assertEquals("<none>", sql(SqlDialect.ANSI, new Not(nan)));
  }

  @Test
  void wrapsTheQueryOnlyWhenSomethingIsPushed() {
    assertEquals("SELECT * FROM t", PushedQuery.build(" SELECT * FROM t ;; ", null, List.of(), OptionalInt.empty(),
        SqlDialect.ANSI).sql());
    assertEquals("SELECT \"a\", \"b\"\"c\" FROM (\nSELECT * FROM t -- note\n) AS q WHERE (\"a\" > 1) AND (\"a\" < 9) LIMIT 5",
        PushedQuery.build("SELECT * FROM t -- note", List.of("a", "b\"c"), List.of("(\"a\" > 1)", "(\"a\" < 9)"),
            OptionalInt.of(5), SqlDialect.ANSI).sql());
    assertEquals("SELECT 1 AS `__squadron_row` FROM (\nq1\n) AS q",
        PushedQuery.build("q1", List.of(), List.of(), OptionalInt.empty(), SqlDialect.SPARK).sql());
    assertEquals("SELECT * FROM (\nq1\n) AS q WHERE (1 = 1)",
        PushedQuery.build("q1", null, List.of("(1 = 1)"), OptionalInt.empty(), SqlDialect.SPARK).sql());
  }

  @Test
  void detectsTheDialect() {
    assertEquals(SqlDialect.SPARK, SqlDialect.detect("`", "Squadron", "0.1.0 (spark 4.3.0)"));
    assertEquals(SqlDialect.DUCKDB, SqlDialect.detect("\"", "Squadron", "0.1.0 (duckdb v1.4.4)"));
    assertEquals(SqlDialect.ANSI, SqlDialect.detect("\"", "PostgreSQL", "16"));
    assertEquals(SqlDialect.ANSI, SqlDialect.detect("null", "null", "null"));
    assertEquals(SqlDialect.SPARK, SqlDialect.parse(" Spark "));
    assertTrue(PredicateTranslator.escapeLike("100%").equals("100!%"));
  }
}
