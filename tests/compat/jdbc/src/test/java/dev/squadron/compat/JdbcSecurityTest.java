package dev.squadron.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

/**
 * The Flight SQL JDBC driver against a Squadron with --auth password: user and
 * password in the URL, and TLS with useEncryption=true and a trust store. Run
 * only by tests/integration/test_security.py (-Dsquadron.security=true), which
 * starts a plaintext server (squadron.port) and a TLS one (squadron.tlsPort)
 * over the table t (id 0..999), with users alice (reader) and bob (writer).
 */
@EnabledIfSystemProperty(named = "squadron.security", matches = "true")
class JdbcSecurityTest {
  static final String PLAIN = "jdbc:arrow-flight-sql://127.0.0.1:" + System.getProperty("squadron.port")
      + "/?useEncryption=false";
  static final String TLS = "jdbc:arrow-flight-sql://localhost:" + System.getProperty("squadron.tlsPort")
      + "/?useEncryption=true&useSystemTrustStore=false&trustStore=" + System.getProperty("squadron.trustStore")
      + "&trustStorePassword=" + System.getProperty("squadron.trustStorePassword");

  static String user(String name) {
    return "&user=" + name + "&password=" + System.getProperty("squadron.password." + name);
  }

  static long count(Connection connection) throws SQLException {
    try (Statement statement = connection.createStatement();
         ResultSet rows = statement.executeQuery("SELECT count(*), sum(id) FROM t")) {
      assertTrue(rows.next());
      assertEquals(499500L, rows.getLong(2));
      return rows.getLong(1);
    }
  }

  @Test
  void userAndPasswordInTheUrl() throws SQLException {
    try (Connection connection = DriverManager.getConnection(PLAIN + user("alice"))) {
      assertEquals(1000L, count(connection));
    }
  }

  @Test
  void wrongPasswordOrNoneIsRefused() {
    SQLException wrong = assertThrows(SQLException.class,
        () -> count(DriverManager.getConnection(PLAIN + "&user=alice&password=nope")));
    assertTrue(String.valueOf(wrong.getMessage()).contains("Invalid user name or password")
        || String.valueOf(wrong.getCause()).contains("Invalid user name or password"), wrong.toString());
    assertThrows(SQLException.class, () -> count(DriverManager.getConnection(PLAIN)));
  }

  @Test
  void tlsWithATrustStore() throws SQLException {
    try (Connection connection = DriverManager.getConnection(TLS + user("bob"))) {
      assertEquals(1000L, count(connection));
    }
  }

  @Test
  void aReaderCannotWrite() throws SQLException {
    try (Connection connection = DriverManager.getConnection(PLAIN + user("alice"));
         Statement statement = connection.createStatement()) {
      SQLException denied = assertThrows(SQLException.class,
          () -> statement.executeUpdate("INSERT INTO t VALUES (5000, 1)"));
      String text = denied + " " + denied.getCause();
      assertTrue(text.contains("writer role"), text);
    }
    try (Connection connection = DriverManager.getConnection(PLAIN + user("alice"))) {
      assertEquals(1000L, count(connection));  // nothing was written
    }
  }
}
