package dev.squadron.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.math.BigDecimal;
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Types;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * What a browsing tool (DBeaver) does through the Flight SQL JDBC driver. The
 * server is started by tests/integration/test_jdbc.py with a fixture: schema
 * sales (customers, orders with a foreign key, view big_orders) and an
 * attached database warehouse (table stock).
 */
class JdbcCompatTest {
  static final String URL =
      "jdbc:arrow-flight-sql://127.0.0.1:" + System.getProperty("squadron.port") + "/?useEncryption=false";
  static Connection connection;

  @BeforeAll
  static void connect() throws SQLException {
    connection = DriverManager.getConnection(URL);
  }

  @AfterAll
  static void close() throws SQLException {
    connection.close();
  }

  // The driver joins SqlInfo string lists with ", ".
  static List<String> list(String joined) {
    return Arrays.asList(joined.split(",\\s*"));
  }

  static List<String> column(ResultSet rs, String name) throws SQLException {
    List<String> values = new ArrayList<>();
    while (rs.next()) {
      values.add(rs.getString(name));
    }
    rs.close();
    return values;
  }

  @Test
  void executeQueryReturnsValues() throws SQLException {
    try (Statement statement = connection.createStatement();
        ResultSet rs = statement.executeQuery("SELECT id, amount FROM sales.orders ORDER BY id")) {
      assertTrue(rs.next());
      assertEquals(1, rs.getLong("id"));
      assertEquals(new BigDecimal("250.00"), rs.getBigDecimal("amount"));
      assertTrue(rs.next());
      assertEquals(2, rs.getLong(1));
      assertFalse(rs.next());
    }
  }

  @Test
  void preparedStatementsTakeParameters() throws SQLException {
    try (PreparedStatement insert = connection.prepareStatement("INSERT INTO sales.notes VALUES (?, ?)")) {
      insert.setInt(1, 7);
      insert.setString(2, "seven");
      assertEquals(1, insert.executeUpdate());
    }
    try (PreparedStatement query = connection.prepareStatement("SELECT text FROM sales.notes WHERE id = ?")) {
      query.setInt(1, 7);
      try (ResultSet rs = query.executeQuery()) {
        assertTrue(rs.next());
        assertEquals("seven", rs.getString(1));
        assertFalse(rs.next());
      }
    }
  }

  @Test
  void catalogInTheUrlSelectsTheDefaultCatalog() throws SQLException {
    Connection warehouse = DriverManager.getConnection(URL + "&catalog=warehouse");
    try (Statement statement = warehouse.createStatement();
        ResultSet rs = statement.executeQuery("SELECT count(*) FROM stock")) {
      assertTrue(rs.next());
      assertEquals(3, rs.getLong(1));
    }
    try {
      warehouse.close();
    } catch (SQLException e) {
      // Driver 18.3.0 shuts its channel before reading CloseSession's answer;
      // the server has closed the session (test_jdbc.py checks its log).
      assertTrue(e.getMessage().contains("Channel shutdown invoked"), e.getMessage());
    }
  }

  @Test
  void catalogsSchemasAndTables() throws SQLException {
    DatabaseMetaData meta = connection.getMetaData();
    assertTrue(column(meta.getCatalogs(), "TABLE_CAT").containsAll(List.of("memory", "warehouse")));
    List<String> schemas = column(meta.getSchemas("memory", null), "TABLE_SCHEM");
    assertTrue(schemas.containsAll(List.of("main", "sales")), schemas.toString());
    Set<String> seen = new HashSet<>();
    try (ResultSet tables = meta.getTables(null, "sales", "%", null)) {
      while (tables.next()) {
        seen.add(tables.getString("TABLE_NAME") + ":" + tables.getString("TABLE_TYPE"));
      }
    }
    assertTrue(seen.containsAll(Set.of("customers:TABLE", "orders:TABLE", "big_orders:VIEW")), seen.toString());
    assertEquals(List.of("big_orders"), column(meta.getTables(null, "sales", "big\\_%", new String[] {"VIEW"}),
        "TABLE_NAME"));
    assertTrue(column(meta.getTableTypes(), "TABLE_TYPE").containsAll(List.of("TABLE", "VIEW")));
  }

  @Test
  void columnsDescribeTypesAndNullability() throws SQLException {
    ResultSet rs = connection.getMetaData().getColumns(null, "sales", "orders", "%");
    List<String> names = new ArrayList<>();
    while (rs.next()) {
      names.add(rs.getString("COLUMN_NAME"));
      if (rs.getString("COLUMN_NAME").equals("amount")) {
        assertEquals(Types.DECIMAL, rs.getInt("DATA_TYPE"));
        assertEquals("DECIMAL(12,2)", rs.getString("TYPE_NAME"));
        assertEquals(12, rs.getInt("COLUMN_SIZE"));
        assertEquals(2, rs.getInt("DECIMAL_DIGITS"));
        assertEquals(DatabaseMetaData.columnNoNulls, rs.getInt("NULLABLE"));
      }
    }
    rs.close();
    assertEquals(List.of("id", "customer_id", "amount", "placed"), names);
  }

  @Test
  void keys() throws SQLException {
    DatabaseMetaData meta = connection.getMetaData();
    assertEquals(List.of("id"), column(meta.getPrimaryKeys(null, "sales", "orders"), "COLUMN_NAME"));
    try (ResultSet imported = meta.getImportedKeys(null, "sales", "orders")) {
      assertTrue(imported.next());
      assertEquals("customers", imported.getString("PKTABLE_NAME"));
      assertEquals("id", imported.getString("PKCOLUMN_NAME"));
      assertEquals("customer_id", imported.getString("FKCOLUMN_NAME"));
      assertEquals(1, imported.getInt("KEY_SEQ"));
      assertEquals(DatabaseMetaData.importedKeyNoAction, imported.getInt("DELETE_RULE"));
      assertFalse(imported.next());
    }
    assertEquals(List.of("orders"), column(meta.getExportedKeys(null, "sales", "customers"), "FKTABLE_NAME"));
  }

  @Test
  void dialectAndCapabilities() throws SQLException {
    DatabaseMetaData meta = connection.getMetaData();
    assertEquals("Squadron", meta.getDatabaseProductName());
    assertEquals("\"", meta.getIdentifierQuoteString());
    assertEquals("\\", meta.getSearchStringEscape());
    assertTrue(list(meta.getSQLKeywords()).contains("PIVOT"), meta.getSQLKeywords());
    assertTrue(list(meta.getNumericFunctions()).contains("ABS"));
    assertTrue(list(meta.getStringFunctions()).contains("LOWER"));
    assertTrue(list(meta.getTimeDateFunctions()).contains("DATE_TRUNC"));
    assertTrue(list(meta.getSystemFunctions()).contains("CURRENT_DATABASE"));
    assertTrue(meta.supportsTransactions());
    assertFalse(meta.supportsSavepoints());
    assertTrue(meta.supportsBatchUpdates());
    assertTrue(meta.supportsFullOuterJoins());
    assertTrue(meta.supportsUnionAll());
    assertTrue(meta.supportsCorrelatedSubqueries());
    assertFalse(meta.supportsStoredProcedures());
    assertFalse(meta.isReadOnly());
    assertEquals("schema", meta.getSchemaTerm());
    assertEquals("database", meta.getCatalogTerm());
    assertEquals(0, meta.getMaxColumnsInTable());
    assertEquals(0, meta.getMaxStatementLength());
    assertEquals(0, meta.getMaxTableNameLength());
    assertTrue(meta.supportsLimitedOuterJoins());
    // The driver passes the protocol's SqlTransactionIsolationLevel through:
    // 3 is SQL_TRANSACTION_REPEATABLE_READ (DuckDB's snapshot isolation).
    assertEquals(3, meta.getDefaultTransactionIsolation());
  }

  @Test
  void resultSetMetaData() throws SQLException {
    try (Statement statement = connection.createStatement();
        ResultSet rs = statement.executeQuery("SELECT id, amount, placed FROM sales.orders")) {
      ResultSetMetaData meta = rs.getMetaData();
      assertEquals(3, meta.getColumnCount());
      assertEquals("amount", meta.getColumnName(2));
      assertEquals("DECIMAL", meta.getColumnTypeName(2));  // the driver names Arrow's type
      assertEquals(12, meta.getPrecision(2));
      assertEquals(2, meta.getScale(2));
      assertEquals("BIGINT", meta.getColumnTypeName(1));
      assertEquals(Types.TIMESTAMP, meta.getColumnType(3));
    }
  }
}
