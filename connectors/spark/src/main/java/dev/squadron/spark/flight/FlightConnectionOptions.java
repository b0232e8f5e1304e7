package dev.squadron.spark.flight;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.Serializable;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;

import org.apache.arrow.flight.CallHeaders;
import org.apache.arrow.flight.CallOption;
import org.apache.arrow.flight.CallStatus;
import org.apache.arrow.flight.FlightCallHeaders;
import org.apache.arrow.flight.FlightClient;
import org.apache.arrow.flight.FlightClientMiddleware;
import org.apache.arrow.flight.FlightRuntimeException;
import org.apache.arrow.flight.FlightStatusCode;
import org.apache.arrow.flight.HeaderCallOption;
import org.apache.arrow.flight.Location;
import org.apache.arrow.flight.LocationSchemes;
import org.apache.arrow.memory.BufferAllocator;

/**
 * How to open and authenticate Flight connections: TLS settings, credentials
 * and extra headers. Serializable: it travels from the driver to the tasks
 * (with the password or token in it, as Spark's JDBC source does).
 *
 * <p>Options (names case-insensitive, after {@code prefix}):
 * <ul>
 *   <li>{@code username}, {@code password}: Basic credentials. The driver
 *       sends them in a Flight handshake; a bearer token the server answers
 *       with is then sent on every call (by the tasks too). A server without
 *       handshake (UNIMPLEMENTED) or that answers no token gets an
 *       {@code authorization: Basic} header on every call instead.</li>
 *   <li>{@code token}: sent as {@code authorization: Bearer <token>} on every call.</li>
 *   <li>{@code tls.skipVerify} (default false): do not verify the server's certificate.</li>
 *   <li>{@code tls.trustedCertificates}: a PEM file of trusted roots, read on the driver.</li>
 *   <li>{@code header.NAME}: an extra header NAME sent on every call.</li>
 * </ul>
 */
public final class FlightConnectionOptions implements Serializable {
  private static final long serialVersionUID = 1L;
  private static final String AUTHORIZATION = "authorization";

  private final String username;
  private final String password;
  private final boolean tlsSkipVerify;
  private final byte[] trustedCertificates;
  private final Map<String, String> headers;

  private FlightConnectionOptions(String username, String password, boolean tlsSkipVerify,
                                  byte[] trustedCertificates, Map<String, String> headers) {
    this.username = username;
    this.password = password;
    this.tlsSkipVerify = tlsSkipVerify;
    this.trustedCertificates = trustedCertificates;
    this.headers = headers;
  }

  /** Reads the options named {@code prefix + name} from a case-insensitive map. */
  public static FlightConnectionOptions parse(Map<String, String> options, String prefix) {
    String username = get(options, prefix + "username");
    String password = get(options, prefix + "password");
    String token = get(options, prefix + "token");
    if (token != null && username != null) {
      throw new IllegalArgumentException("Invalid options: give '" + prefix + "token' or '" + prefix
          + "username'/'" + prefix + "password', not both");
    }
    if ((username == null) != (password == null)) {
      throw new IllegalArgumentException("Invalid options: '" + prefix + "username' and '" + prefix
          + "password' go together");
    }
    boolean skipVerify = Boolean.parseBoolean(getOrDefault(options, prefix + "tls.skipVerify", "false"));
    byte[] pem = null;
    String pemPath = get(options, prefix + "tls.trustedCertificates");
    if (pemPath != null) {
      try {
        pem = Files.readAllBytes(Paths.get(pemPath));
      } catch (IOException e) {
        throw new IllegalArgumentException("Cannot read '" + prefix + "tls.trustedCertificates' " + pemPath + ": " + e, e);
      }
    }
    Map<String, String> headers = new LinkedHashMap<>();
    String headerPrefix = (prefix + "header.").toLowerCase(Locale.ROOT);
    for (Map.Entry<String, String> e : options.entrySet()) {
      if (e.getKey().toLowerCase(Locale.ROOT).startsWith(headerPrefix)) {
        headers.put(e.getKey().substring(headerPrefix.length()).toLowerCase(Locale.ROOT), e.getValue());
      }
    }
    if (token != null) headers.put(AUTHORIZATION, "Bearer " + token);
    return new FlightConnectionOptions(username, password, skipVerify, pem, headers);
  }

  /** No credentials, no TLS settings, no headers. */
  public static FlightConnectionOptions none() {
    return new FlightConnectionOptions(null, null, false, null, Map.of());
  }

  private static String get(Map<String, String> options, String key) {
    String value = options.get(key);
    return value == null || value.isEmpty() ? null : value;
  }

  private static String getOrDefault(Map<String, String> options, String key, String fallback) {
    String value = get(options, key);
    return value == null ? fallback : value;
  }

  /** Checks that {@code uri} is a Flight URI this connector can open (grpc, grpc+tcp, grpc+tls). */
  public static URI checkUri(String uri, String optionName) {
    try {
      URI parsed = new URI(uri);
      String scheme = parsed.getScheme();
      if (!LocationSchemes.GRPC.equals(scheme) && !LocationSchemes.GRPC_INSECURE.equals(scheme)
          && !LocationSchemes.GRPC_TLS.equals(scheme)) {
        throw new IllegalArgumentException("Invalid option '" + optionName + "': expected grpc://, grpc+tcp:// or "
            + "grpc+tls://HOST:PORT, got '" + uri + "'");
      }
      if (parsed.getHost() == null || parsed.getPort() < 0) {
        throw new IllegalArgumentException("Invalid option '" + optionName + "': '" + uri + "' names no host and port");
      }
      return parsed;
    } catch (URISyntaxException e) {
      throw new IllegalArgumentException("Invalid option '" + optionName + "': '" + uri + "' is not a URI", e);
    }
  }

  /** The headers every call sends without a handshake: the token's, and header.NAME options. */
  public Map<String, String> headers() {
    return java.util.Collections.unmodifiableMap(headers);
  }

  /** Opens a client to {@code uri}; the caller closes it before {@code allocator}. */
  public FlightClient open(BufferAllocator allocator, String uri) {
    return open(allocator, uri, null);
  }

  private FlightClient open(BufferAllocator allocator, String uri, FlightClientMiddleware.Factory middleware) {
    Location location;
    try {
      location = new Location(uri);
    } catch (URISyntaxException e) {
      throw new IllegalArgumentException("Invalid Flight URI '" + uri + "'", e);
    }
    FlightClient.Builder builder = FlightClient.builder(allocator, location);
    if (LocationSchemes.GRPC_TLS.equals(location.getUri().getScheme())) {
      builder.useTls();
      if (tlsSkipVerify) builder.verifyServer(false);
      if (trustedCertificates != null) builder.trustedCertificates(new ByteArrayInputStream(trustedCertificates));
    }
    if (middleware != null) builder.intercept(middleware);
    return builder.build();
  }

  /**
   * Opens a client to {@code uri} and authenticates: with a username, the
   * handshake runs now. Returns the client and the headers every call (on
   * any node) must carry.
   */
  public Authenticated openAuthenticated(BufferAllocator allocator, String uri) {
    if (username == null) return new Authenticated(open(allocator, uri), new LinkedHashMap<>(headers));
    AtomicReference<String> answered = new AtomicReference<>();
    FlightClient client = open(allocator, uri, info -> new AuthorizationCatcher(answered));
    Map<String, String> callHeaders = new LinkedHashMap<>(headers);
    String basic = "Basic " + Base64.getEncoder().encodeToString(
        (username + ":" + password).getBytes(StandardCharsets.UTF_8));
    try {
      CallHeaders handshakeHeaders = new FlightCallHeaders();
      handshakeHeaders.insert(AUTHORIZATION, basic);
      client.handshake(new HeaderCallOption(handshakeHeaders));
    } catch (FlightRuntimeException e) {
      if (e.status().code() != FlightStatusCode.UNIMPLEMENTED) {
        closeQuietly(client);
        throw e;
      }
    }
    String bearer = answered.get();
    callHeaders.put(AUTHORIZATION, bearer != null && bearer.regionMatches(true, 0, "Bearer ", 0, 7) ? bearer : basic);
    return new Authenticated(client, callHeaders);
  }

  /** Call options carrying {@code headers}. */
  public static CallOption[] callOptions(Map<String, String> headers, CallOption... more) {
    List<CallOption> options = new ArrayList<>();
    if (!headers.isEmpty()) {
      CallHeaders callHeaders = new FlightCallHeaders();
      headers.forEach(callHeaders::insert);
      options.add(new HeaderCallOption(callHeaders));
    }
    for (CallOption o : more) options.add(o);
    return options.toArray(new CallOption[0]);
  }

  static void closeQuietly(AutoCloseable closeable) {
    try {
      if (closeable != null) closeable.close();
    } catch (Exception ignored) {
      // Closing after a failure: the failure is what the caller reports.
    }
  }

  /** A client and the headers each of its calls (and the tasks' calls) must send. */
  public static final class Authenticated {
    public final FlightClient client;
    public final Map<String, String> headers;

    Authenticated(FlightClient client, Map<String, String> headers) {
      this.client = client;
      this.headers = headers;
    }
  }

  /** Remembers the authorization header a server answers a handshake with. */
  private static final class AuthorizationCatcher implements FlightClientMiddleware {
    private final AtomicReference<String> answered;

    AuthorizationCatcher(AtomicReference<String> answered) {
      this.answered = answered;
    }

    @Override
    public void onBeforeSendingHeaders(CallHeaders outgoing) {}

    @Override
    public void onHeadersReceived(CallHeaders incoming) {
      String value = incoming.get(AUTHORIZATION);
      if (value != null) answered.set(value);
    }

    @Override
    public void onCallCompleted(CallStatus status) {}
  }
}
