package dev.squadron.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.math.BigDecimal;
import java.sql.Connection;
import java.sql.Date;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Timestamp;
import java.sql.Types;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Statements through the Flight SQL JDBC driver: update counts, parameters
 * whose type DuckDB cannot infer, cancellation, and where result columns come
 * from. Same fixture as {@link JdbcCompatTest} (tests/integration/test_jdbc.py):
 * sales.customers (1 Ada, 2 Grace), sales.orders (ids 1, 2), sales.notes
 * (id, text) and the attached database warehouse (stock: sku0..sku2).
 *
 * <p>Driver 18.3.0 facts these tests rely on: {@code Statement.execute*} is an
 * update when the prepared statement's dataset_schema has no fields (then the
 * count is DoPut's DoPutUpdateResult.record_count), otherwise a query;
 * {@code PreparedStatement.executeUpdate} always takes the DoPut path. Rows
 * written here use ids 200+ of sales.notes and tables named jdbc_*, so they do
 * not meet {@link JdbcCompatTest}'s.
 */
class JdbcStatementTest {
  static final String URL = JdbcCompatTest.URL;
  static Connection connection;

  @BeforeAll
  static void connect() throws SQLException {
    connection = DriverManager.getConnection(URL);
  }

  @AfterAll
  static void close() throws SQLException {
    connection.close();
  }

  static long count(String sql) throws SQLException {
    try (Statement statement = connection.createStatement(); ResultSet rs = statement.executeQuery(sql)) {
      assertTrue(rs.next(), sql);
      long value = rs.getLong(1);
      assertFalse(rs.next(), sql);
      return value;
    }
  }

  /** Runs SQL whose outcome the test does not assert (set-up and clean-up). */
  static void run(String sql) throws SQLException {
    try (Statement statement = connection.createStatement()) {
      statement.execute(sql);
      ResultSet rs = statement.getResultSet();
      if (rs != null) {
        while (rs.next()) {
          // drain, so the server's statement completes
        }
        rs.close();
      }
    }
  }

  // ---------------------------------------------------------------- update counts

  @Test
  void executeUpdateOnInsertReturnsTheRowCount() throws SQLException {
    run("DELETE FROM sales.notes WHERE id IN (201, 202)");  // a rerun on the same server
    try (Statement statement = connection.createStatement()) {
      assertEquals(2, statement.executeUpdate("INSERT INTO sales.notes VALUES (201, 'two-oh-one'), (202, 'two-oh-two')"));
    }
    assertEquals(2, count("SELECT count(*) FROM sales.notes WHERE id IN (201, 202)"));
  }

  @Test
  void executeOnInsertIsAnUpdateWithACount() throws SQLException {
    run("DELETE FROM sales.notes WHERE id IN (203)");  // a rerun on the same server
    try (Statement statement = connection.createStatement()) {
      assertFalse(statement.execute("INSERT INTO sales.notes VALUES (203, 'two-oh-three')"),
          "execute() of an INSERT answered a result set");
      assertEquals(1, statement.getUpdateCount());
      assertNull(statement.getResultSet());
    }
    assertEquals(1, count("SELECT count(*) FROM sales.notes WHERE id = 203 AND text = 'two-oh-three'"));
  }

  /** A DML statement that answers rows stays a query (its dataset_schema has fields). */
  @Test
  void insertReturningIsAQuery() throws SQLException {
    run("DELETE FROM sales.notes WHERE id IN (206)");  // a rerun on the same server
    try (Statement statement = connection.createStatement()) {
      assertTrue(statement.execute("INSERT INTO sales.notes VALUES (206, 'two-oh-six') RETURNING id, text"));
      try (ResultSet rs = statement.getResultSet()) {
        assertTrue(rs.next());
        assertEquals(206, rs.getInt("id"));
        assertEquals("two-oh-six", rs.getString("text"));
        assertFalse(rs.next());
      }
    }
    assertEquals(1, count("SELECT count(*) FROM sales.notes WHERE id = 206"));
  }

  @Test
  void preparedExecuteUpdateWithParametersReturnsOne() throws SQLException {
    run("DELETE FROM sales.notes WHERE id IN (204, 205)");  // a rerun on the same server
    try (PreparedStatement insert = connection.prepareStatement("INSERT INTO sales.notes VALUES (?, ?)")) {
      insert.setInt(1, 204);
      insert.setString(2, "two-oh-four");
      assertEquals(1, insert.executeUpdate());
      insert.setInt(1, 205);
      insert.setString(2, "two-oh-five");
      assertEquals(1, insert.executeUpdate());
    }
    assertEquals(2, count("SELECT count(*) FROM sales.notes WHERE id IN (204, 205)"));
  }

  @Test
  void updateAndDeleteReturnTheirCounts() throws SQLException {
    run("CREATE OR REPLACE TABLE sales.jdbc_counts AS SELECT range::INTEGER AS id FROM range(5)");
    try (Statement statement = connection.createStatement()) {
      assertEquals(3, statement.executeUpdate("UPDATE sales.jdbc_counts SET id = id + 10 WHERE id < 3"));
      assertEquals(3, count("SELECT count(*) FROM sales.jdbc_counts WHERE id >= 10"));
      assertFalse(statement.execute("DELETE FROM sales.jdbc_counts WHERE id >= 11"),
          "execute() of a DELETE answered a result set");
      assertEquals(2, statement.getUpdateCount());
      assertEquals(0, statement.executeUpdate("DELETE FROM sales.jdbc_counts WHERE id > 100"));
    }
    assertEquals(3, count("SELECT count(*) FROM sales.jdbc_counts"));
    try (PreparedStatement delete = connection.prepareStatement("DELETE FROM sales.jdbc_counts WHERE id < ?")) {
      delete.setInt(1, 4);
      assertEquals(1, delete.executeUpdate());  // removes 3; 4 and 10 remain
    }
    assertEquals(2, count("SELECT count(*) FROM sales.jdbc_counts"));
  }

  @Test
  void ddlReturnsZero() throws SQLException {
    run("DROP TABLE IF EXISTS sales.jdbc_ddl");
    try (Statement statement = connection.createStatement()) {
      assertEquals(0, statement.executeUpdate("CREATE TABLE sales.jdbc_ddl (x INTEGER)"));
      assertEquals(0, count("SELECT count(*) FROM sales.jdbc_ddl"));  // it exists, empty
      assertFalse(statement.execute("DROP TABLE sales.jdbc_ddl"), "execute() of a DROP answered a result set");
      assertEquals(0, statement.getUpdateCount());
    }
    assertEquals(0, count("SELECT count(*) FROM information_schema.tables "
        + "WHERE table_schema = 'sales' AND table_name = 'jdbc_ddl'"));
  }

  // --------------------------------------------------- parameters DuckDB cannot type
  //
  // Driver 18.3.0 fills a parameter batch built from the advertised parameter
  // schema, through AvaticaParameterBinder's BinderVisitor (one converter per
  // Arrow type, casting the Java value); it cannot bind to a union (non-null:
  // "Binding to vector type ... DenseUnionVector is not yet supported"; null:
  // "The method setNull() is not supported on DenseUnionVector."), and an
  // Arrow type takes only the setters whose Java value that converter casts.
  // So Squadron advertises a parameter DuckDB cannot type as float64, which
  // takes setInt/setLong/setDouble/setBigDecimal/setNull; other values need
  // the parameter typed in SQL (CAST(? AS VARCHAR)), which then binds them.

  @Test
  void untypedParameterInArithmetic() throws SQLException {
    try (PreparedStatement statement = connection.prepareStatement("SELECT ? + 1")) {
      statement.setInt(1, 41);
      try (ResultSet rs = statement.executeQuery()) {
        assertTrue(rs.next());
        assertEquals(42, rs.getInt(1));
        assertFalse(rs.next());
      }
    }
  }

  @Test
  void castParameterInConcatenation() throws SQLException {
    try (PreparedStatement statement = connection.prepareStatement("SELECT CAST(? AS VARCHAR) || 'x'")) {
      statement.setString(1, "abc");
      try (ResultSet rs = statement.executeQuery()) {
        assertTrue(rs.next());
        assertEquals("abcx", rs.getString(1));
        assertFalse(rs.next());
      }
    }
  }

  /** {@code SELECT ?} after {@code bind}: the one row it answers. */
  interface Binder {
    void bind(PreparedStatement statement) throws SQLException;
  }

  static ResultSet selectParameter(PreparedStatement statement, Binder binder) throws SQLException {
    binder.bind(statement);
    ResultSet rs = statement.executeQuery();
    assertTrue(rs.next());
    return rs;
  }

  @Test
  void bareParameterSetInt() throws SQLException {
    try (PreparedStatement statement = connection.prepareStatement("SELECT ?");
        ResultSet rs = selectParameter(statement, s -> s.setInt(1, 41))) {
      assertEquals(41, rs.getInt(1));
    }
  }

  @Test
  void bareParameterSetLong() throws SQLException {
    try (PreparedStatement statement = connection.prepareStatement("SELECT ?");
        ResultSet rs = selectParameter(statement, s -> s.setLong(1, 5_000_000_000L))) {
      assertEquals(5_000_000_000L, rs.getLong(1));
    }
  }

  @Test
  void bareParameterSetDouble() throws SQLException {
    try (PreparedStatement statement = connection.prepareStatement("SELECT ?");
        ResultSet rs = selectParameter(statement, s -> s.setDouble(1, 2.5))) {
      assertEquals(2.5, rs.getDouble(1));
    }
  }

  @Test
  void castParameterSetBoolean() throws SQLException {
    try (PreparedStatement statement = connection.prepareStatement("SELECT CAST(? AS BOOLEAN)");
        ResultSet rs = selectParameter(statement, s -> s.setBoolean(1, true))) {
      assertTrue(rs.getBoolean(1));
      assertFalse(rs.wasNull());
    }
  }

  @Test
  void castParameterSetString() throws SQLException {
    try (PreparedStatement statement = connection.prepareStatement("SELECT CAST(? AS VARCHAR)");
        ResultSet rs = selectParameter(statement, s -> s.setString(1, "hello"))) {
      assertEquals("hello", rs.getString(1));
    }
  }

  @Test
  void bareParameterSetBigDecimal() throws SQLException {
    try (PreparedStatement statement = connection.prepareStatement("SELECT ?");
        ResultSet rs = selectParameter(statement, s -> s.setBigDecimal(1, new BigDecimal("12.34")))) {
      BigDecimal value = rs.getBigDecimal(1);
      assertNotNull(value);
      assertEquals(0, new BigDecimal("12.34").compareTo(value), value.toPlainString());
    }
  }

  @Test
  void castParameterSetDate() throws SQLException {
    try (PreparedStatement statement = connection.prepareStatement("SELECT CAST(? AS DATE)");
        ResultSet rs = selectParameter(statement, s -> s.setDate(1, Date.valueOf("2024-01-02")))) {
      assertEquals(Date.valueOf("2024-01-02"), rs.getDate(1));
    }
  }

  @Test
  void castParameterSetTimestamp() throws SQLException {
    Timestamp when = Timestamp.valueOf("2024-01-02 03:04:05.678");
    try (PreparedStatement statement = connection.prepareStatement("SELECT CAST(? AS TIMESTAMP_MS)");
        ResultSet rs = selectParameter(statement, s -> s.setTimestamp(1, when))) {
      assertEquals(when, rs.getTimestamp(1));
    }
  }

  @Test
  void bareParameterSetNull() throws SQLException {
    try (PreparedStatement statement = connection.prepareStatement("SELECT ?");
        ResultSet rs = selectParameter(statement, s -> s.setNull(1, Types.INTEGER))) {
      assertNull(rs.getObject(1));
      assertTrue(rs.wasNull());
    }
  }

  // ----------------------------------------------------------------------- cancel

  /**
   * A query that DuckDB takes far longer than the timeout to finish on any
   * machine (10^13 row pairs in constant memory; DuckDB does about 2 * 10^8
   * a second per core). cancel() 1.5 s in must end it with an SQLException. Driver
   * 18.3.0's cancel() waits for the statement's monitor, which it holds
   * during GetFlightInfo, and then cancels the result's DoGet streams; a
   * server that computes the aggregate inside GetFlightInfo therefore keeps
   * cancel() and the query waiting until the timeout.
   */
  @Test
  @Timeout(value = 180, unit = TimeUnit.SECONDS)
  void cancelStopsARunningQuery() throws Exception {
    final String sql =
        "SELECT count(*) FROM range(1000000000) a, range(10000) b WHERE a.range + b.range < 0";
    Connection own = DriverManager.getConnection(URL);
    ExecutorService threads = Executors.newFixedThreadPool(2, r -> {
      Thread thread = new Thread(r, "cancel-test");
      thread.setDaemon(true);
      return thread;
    });
    try {
      Statement statement = own.createStatement();
      Future<Long> query = threads.submit(() -> {
        try (ResultSet rs = statement.executeQuery(sql)) {
          return rs.next() ? rs.getLong(1) : -1L;
        }
      });
      Thread.sleep(1500);
      assertFalse(query.isDone(), "the query ended before cancel(): " + (query.isDone() ? outcome(query) : ""));
      // cancel() may itself block (today it waits for GetFlightInfo), so it runs on its own thread.
      Future<?> cancel = threads.submit(() -> {
        statement.cancel();
        return null;
      });
      try {
        long value = query.get(120, TimeUnit.SECONDS);
        fail("the cancelled query returned a result: " + value);
      } catch (ExecutionException e) {
        assertTrue(e.getCause() instanceof SQLException,
            "the cancelled query failed with " + e.getCause() + " rather than an SQLException");
      } catch (TimeoutException e) {
        fail("the query was still running 120 s after cancel() (cancel() "
            + (cancel.isDone() ? "returned" : "had not returned") + ")");
      }
    } finally {
      threads.shutdownNow();
      // Closing the channel cancels the gRPC call, so a query still running stops.
      Thread closer = new Thread(() -> {
        try {
          own.close();
        } catch (Exception e) {
          // "Channel shutdown invoked" and the like: not this test's subject.
        }
      });
      closer.setDaemon(true);
      closer.start();
      closer.join(10_000);
    }
  }

  static String outcome(Future<Long> done) {
    try {
      return "result " + done.get();
    } catch (Exception e) {
      return e.toString();
    }
  }

  // ------------------------------------------------------- where result columns come from

  @Test
  void resultColumnsNameTheirTable() throws SQLException {
    try (Statement statement = connection.createStatement();
        ResultSet rs = statement.executeQuery("SELECT id, name FROM sales.customers ORDER BY id")) {
      assertTrue(rs.next());
      ResultSetMetaData meta = rs.getMetaData();
      for (int i = 1; i <= 2; i++) {
        assertEquals("customers", meta.getTableName(i), "table of column " + i);
        assertEquals("sales", meta.getSchemaName(i), "schema of column " + i);
        assertEquals("memory", meta.getCatalogName(i), "catalog of column " + i);
      }
      assertEquals("name", meta.getColumnName(2));
    }
  }

  /**
   * An empty result has no record batch, so the driver keeps the columns of
   * CreatePreparedStatement's dataset_schema (not the FlightInfo schema).
   */
  @Test
  void emptyResultColumnsNameTheirTable() throws SQLException {
    try (Statement statement = connection.createStatement();
        ResultSet rs = statement.executeQuery("SELECT id, name FROM sales.customers WHERE id < 0")) {
      assertFalse(rs.next());
      ResultSetMetaData meta = rs.getMetaData();
      assertEquals("customers", meta.getTableName(2));
      assertEquals("sales", meta.getSchemaName(2));
      assertEquals("memory", meta.getCatalogName(2));
    }
  }

  @Test
  void preparedResultColumnsNameTheirTable() throws SQLException {
    try (PreparedStatement statement = connection.prepareStatement("SELECT name FROM sales.customers WHERE id = ?")) {
      // Before execution the driver describes the dataset_schema of CreatePreparedStatement.
      assertEquals("customers", statement.getMetaData().getTableName(1));
      statement.setInt(1, 2);
      try (ResultSet rs = statement.executeQuery()) {
        assertTrue(rs.next());
        assertEquals("Grace", rs.getString(1));
        assertEquals("customers", rs.getMetaData().getTableName(1));
        assertEquals("sales", rs.getMetaData().getSchemaName(1));
      }
    }
  }

  @Test
  void computedColumnHasNoTable() throws SQLException {
    try (Statement statement = connection.createStatement();
        ResultSet rs = statement.executeQuery("SELECT id + 1 AS x, name FROM sales.customers ORDER BY id")) {
      assertTrue(rs.next());
      assertEquals(2, rs.getInt("x"));
      ResultSetMetaData meta = rs.getMetaData();
      // Driver 18.3.0 reports an absent ARROW:FLIGHT:SQL:TABLE_NAME as null.
      assertNull(meta.getTableName(1));
      assertNull(meta.getSchemaName(1));
      assertNull(meta.getCatalogName(1));
      assertEquals("customers", meta.getTableName(2));  // the plain column beside it keeps its table
    }
  }

  @Test
  void joinColumnsNameEachTheirTable() throws SQLException {
    try (Statement statement = connection.createStatement();
        ResultSet rs = statement.executeQuery("SELECT c.name, o.amount FROM sales.customers c "
            + "JOIN sales.orders o ON o.customer_id = c.id ORDER BY o.id")) {
      assertTrue(rs.next());
      assertEquals("Ada", rs.getString(1));
      assertEquals(new BigDecimal("250.00"), rs.getBigDecimal(2));
      ResultSetMetaData meta = rs.getMetaData();
      assertEquals("customers", meta.getTableName(1));
      assertEquals("orders", meta.getTableName(2));
      assertEquals("sales", meta.getSchemaName(1));
      assertEquals("sales", meta.getSchemaName(2));
    }
  }

  @Test
  void attachedDatabaseColumnsNameTheirCatalog() throws SQLException {
    try (Statement statement = connection.createStatement();
        ResultSet rs = statement.executeQuery("SELECT sku, qty FROM warehouse.stock ORDER BY qty")) {
      assertTrue(rs.next());
      assertEquals("sku0", rs.getString(1));
      ResultSetMetaData meta = rs.getMetaData();
      for (int i = 1; i <= 2; i++) {
        assertEquals("stock", meta.getTableName(i));
        assertEquals("main", meta.getSchemaName(i));
        assertEquals("warehouse", meta.getCatalogName(i));
      }
    }
  }
}
