package dev.squadron.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.math.BigDecimal;
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Types;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

/**
 * DBeaver's DatabaseMetaData walk through the Flight SQL JDBC driver against a
 * Squadron on the Spark engine. Run only with -Dsquadron.engine=spark, by
 * tests/integration/test_spark_jdbc.py, which creates in Spark: namespace
 * jdbc_sales with the parquet table orders (id BIGINT, amount DECIMAL(12,2),
 * placed TIMESTAMP; rows 1 and 2) and the view big_orders.
 */
@EnabledIfSystemProperty(named = "squadron.engine", matches = "spark")
class SparkJdbcMetadataTest {
  static Connection connection;

  @BeforeAll
  static void connect() throws SQLException {
    connection = DriverManager.getConnection(JdbcCompatTest.URL);
  }

  @AfterAll
  static void close() throws SQLException {
    connection.close();
  }

  @Test
  void walksCatalogsSchemasTablesAndColumns() throws SQLException {
    DatabaseMetaData meta = connection.getMetaData();
    // Every level the way a browsing tool opens it, down to the columns.
    Map<String, List<String>> columns = new HashMap<>();
    for (String catalog : JdbcCompatTest.column(meta.getCatalogs(), "TABLE_CAT")) {
      for (String schema : JdbcCompatTest.column(meta.getSchemas(catalog, null), "TABLE_SCHEM")) {
        try (ResultSet tables = meta.getTables(catalog, schema.replace("_", "\\_"), "%", null)) {
          while (tables.next()) {
            String name = tables.getString("TABLE_NAME");
            String key = catalog + "." + schema + "." + name + ":" + tables.getString("TABLE_TYPE");
            columns.put(key, JdbcCompatTest.column(
                meta.getColumns(catalog, schema.replace("_", "\\_"), name.replace("_", "\\_"), "%"),
                "COLUMN_NAME"));
          }
        }
      }
    }
    assertEquals(List.of("id", "amount", "placed"), columns.get("spark_catalog.jdbc_sales.orders:TABLE"),
        columns.toString());
    assertEquals(List.of("id", "amount"), columns.get("spark_catalog.jdbc_sales.big_orders:VIEW"),
        columns.toString());
  }

  @Test
  void tablesFilteredByPatternAndType() throws SQLException {
    DatabaseMetaData meta = connection.getMetaData();
    assertEquals(List.of("big_orders"),
        JdbcCompatTest.column(meta.getTables(null, "jdbc\\_sales", "big\\_%", new String[] {"VIEW"}), "TABLE_NAME"));
    assertEquals(List.of("orders"),
        JdbcCompatTest.column(meta.getTables(null, "jdbc\\_sales", "%", new String[] {"TABLE"}), "TABLE_NAME"));
    assertTrue(JdbcCompatTest.column(meta.getTableTypes(), "TABLE_TYPE").containsAll(List.of("TABLE", "VIEW")));
  }

  @Test
  void columnsDescribeSparkTypes() throws SQLException {
    Map<String, Integer> types = new HashMap<>();
    try (ResultSet rs = connection.getMetaData().getColumns(null, "jdbc\\_sales", "orders", "%")) {
      while (rs.next()) {
        types.put(rs.getString("COLUMN_NAME"), rs.getInt("DATA_TYPE"));
        assertEquals(DatabaseMetaData.columnNullable, rs.getInt("NULLABLE"));  // parquet columns are nullable
        if (rs.getString("COLUMN_NAME").equals("amount")) {
          assertEquals("decimal(12,2)", rs.getString("TYPE_NAME"));  // Spark's own spelling
          assertEquals(12, rs.getInt("COLUMN_SIZE"));
          assertEquals(2, rs.getInt("DECIMAL_DIGITS"));
        }
        if (rs.getString("COLUMN_NAME").equals("placed")) {
          // Spark gives no precision: the driver's own for microsecond timestamps.
          assertEquals(26, rs.getInt("COLUMN_SIZE"));
          assertEquals(6, rs.getInt("DECIMAL_DIGITS"));
        }
      }
    }
    // The driver's codes for the Arrow types a query returns.
    assertEquals(Map.of("id", Types.BIGINT, "amount", Types.DECIMAL, "placed", Types.TIMESTAMP_WITH_TIMEZONE), types);
  }

  @Test
  void noKeys() throws SQLException {
    DatabaseMetaData meta = connection.getMetaData();
    assertEquals(List.of(), JdbcCompatTest.column(meta.getPrimaryKeys(null, "jdbc_sales", "orders"), "COLUMN_NAME"));
    assertEquals(List.of(), JdbcCompatTest.column(meta.getImportedKeys(null, "jdbc_sales", "orders"), "PKTABLE_NAME"));
  }

  @Test
  void dialectIsSparks() throws SQLException {
    DatabaseMetaData meta = connection.getMetaData();
    assertTrue(meta.getDatabaseProductVersion().contains("spark"), meta.getDatabaseProductVersion());
    assertEquals("`", meta.getIdentifierQuoteString());
    assertEquals("\\", meta.getSearchStringEscape());
    assertTrue(JdbcCompatTest.list(meta.getSQLKeywords()).contains("PIVOT"));
    assertTrue(JdbcCompatTest.list(meta.getNumericFunctions()).contains("ABS"));
    assertTrue(JdbcCompatTest.list(meta.getStringFunctions()).contains("UPPER"));
    assertTrue(JdbcCompatTest.list(meta.getTimeDateFunctions()).contains("DATE_TRUNC"));
    assertTrue(JdbcCompatTest.list(meta.getSystemFunctions()).contains("CURRENT_DATABASE"));
    assertFalse(meta.supportsTransactions());
    assertEquals(Connection.TRANSACTION_NONE, meta.getDefaultTransactionIsolation());
    assertTrue(meta.supportsTransactionIsolationLevel(Connection.TRANSACTION_NONE));
    assertFalse(meta.supportsTransactionIsolationLevel(Connection.TRANSACTION_REPEATABLE_READ));
    assertEquals("catalog", meta.getCatalogTerm());
    assertTrue(meta.supportsConvert(Types.VARCHAR, Types.DATE));
    assertFalse(meta.supportsConvert(Types.DATE, Types.BIGINT));
  }

  @Test
  void queriesTheTable() throws SQLException {
    try (Statement statement = connection.createStatement();
        ResultSet rs = statement.executeQuery("SELECT id, amount FROM jdbc_sales.orders ORDER BY id")) {
      assertTrue(rs.next());
      assertEquals(1, rs.getLong("id"));
      assertEquals(new BigDecimal("250.00"), rs.getBigDecimal("amount"));
      assertTrue(rs.next());
      assertEquals(2, rs.getLong(1));
      assertFalse(rs.next());
    }
  }
}
