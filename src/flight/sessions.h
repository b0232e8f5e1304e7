// Client sessions: state a client keeps across calls, named by the cookie
// arrow_flight_session_id.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <arrow/flight/server.h>
#include <arrow/flight/types.h>
#include <arrow/result.h>
#include <arrow/util/type_fwd.h>

#include "engine/engine.h"
#include "flight/handle_table.h"

namespace squadron::flight {

/// The cookie that names a session.
inline constexpr std::string_view kSessionCookie = "arrow_flight_session_id";

/// What a session holds besides its handles.
struct ClientSession {
  /// Applied to every engine connection the session's statements use.
  engine::SessionSettings settings;
  /// Per-session query timeout; unset means the server's.
  std::optional<std::chrono::milliseconds> query_timeout;
  /// IPC body compression of the session's query results; unset means the
  /// server's.
  std::optional<arrow::Compression::type> ipc_compression;
  /// The user who opened it ("" without authentication): nobody else may use it.
  std::string user;
};

/// Returns the session id in the call's cookie header, if any.
std::optional<std::string> SessionIdFromHeaders(const arrow::flight::CallHeaders& headers);

/// Session options as the protocol sees them (SetSessionOptions values).
std::map<std::string, arrow::flight::SessionOptionValue> SessionOptions(const ClientSession& session);

/// Applies one option to `session`. Returns kInvalidName for an option
/// Squadron does not know or lets sessions change, kInvalidValue for a value
/// of the wrong kind; nullopt when applied. An unset value (monostate)
/// returns the option to its default.
std::optional<arrow::flight::SetSessionOptionErrorValue> ApplySessionOption(
    const std::string& name, const arrow::flight::SessionOptionValue& value, ClientSession* session);

/// Live sessions, each closed by CloseSession or after an idle timeout.
///
/// Thread-safe. TakeExpired() returns the ids of idle sessions so their
/// handles can be closed too.
class SessionStore {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  struct Options {
    /// A session unused this long is closed.
    std::chrono::milliseconds idle_timeout{std::chrono::hours(1)};
    /// Sessions open at once; Create() beyond it fails with UNAVAILABLE.
    size_t max_sessions = 10000;
  };

  explicit SessionStore(Options options, Clock clock = &std::chrono::steady_clock::now);

  /// Opens a session; returns its id (safe to put in a cookie).
  arrow::Result<std::string> Create();

  /// Returns a copy of the session and marks it used. NotFound for an unknown,
  /// closed or expired id.
  arrow::Result<ClientSession> Get(const std::string& id);

  /// Replaces a live session's state. NotFound as Get().
  arrow::Status Update(const std::string& id, ClientSession session);

  /// Closes a session. NotFound as Get().
  arrow::Status Close(const std::string& id);

  /// Removes sessions idle past the timeout and returns their ids.
  std::vector<std::string> TakeExpired();

  size_t size();

 private:
  HandleTable<ClientSession> table_;
};

}  // namespace squadron::flight
