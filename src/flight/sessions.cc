#include "flight/sessions.h"

#include <cmath>

#include "common/status.h"
#include "common/units.h"
#include "flight/compression.h"
#include "flight/ticket.h"

namespace squadron::flight {

namespace fl = arrow::flight;

namespace {

std::string Hex(const std::string& bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

}  // namespace

std::optional<std::string> SessionIdFromHeaders(const fl::CallHeaders& headers) {
  const auto [begin, end] = headers.equal_range("cookie");
  for (auto it = begin; it != end; ++it) {
    std::string_view rest = it->second;
    while (!rest.empty()) {
      const auto semi = rest.find(';');
      const std::string_view pair = Trim(rest.substr(0, semi));
      rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
      const auto eq = pair.find('=');
      if (eq != std::string_view::npos && Trim(pair.substr(0, eq)) == kSessionCookie) {
        return std::string(Trim(pair.substr(eq + 1)));
      }
    }
  }
  return std::nullopt;
}

std::map<std::string, fl::SessionOptionValue> SessionOptions(const ClientSession& session) {
  std::map<std::string, fl::SessionOptionValue> options;
  if (session.settings.catalog) options["catalog"] = *session.settings.catalog;
  if (session.settings.schema) options["schema"] = *session.settings.schema;
  if (session.settings.timezone) options["timezone"] = *session.settings.timezone;
  if (session.ipc_compression) options["ipc_compression"] = IpcCompressionName(*session.ipc_compression);
  if (session.query_timeout) {
    options["query_timeout"] = static_cast<double>(session.query_timeout->count()) / 1000.0;
  }
  return options;
}

std::optional<fl::SetSessionOptionErrorValue> ApplySessionOption(const std::string& name,
                                                                 const fl::SessionOptionValue& value,
                                                                 ClientSession* session) {
  const bool unset = std::holds_alternative<std::monostate>(value);
  const auto* text = std::get_if<std::string>(&value);
  std::optional<std::string>* target = nullptr;
  if (name == "catalog") target = &session->settings.catalog;
  if (name == "schema") target = &session->settings.schema;
  if (name == "timezone") target = &session->settings.timezone;
  if (target != nullptr) {
    if (unset) {
      target->reset();
    } else if (text != nullptr && !text->empty()) {
      *target = *text;
    } else {
      return fl::SetSessionOptionErrorValue::kInvalidValue;
    }
    return std::nullopt;
  }
  if (name == "query_timeout") {
    // Seconds, as a number (0 = no timeout) or a duration string ("30s").
    std::optional<double> seconds;
    if (const auto* d = std::get_if<double>(&value)) seconds = *d;
    if (const auto* i = std::get_if<int64_t>(&value)) seconds = static_cast<double>(*i);
    if (text != nullptr) {
      auto parsed = ParseDuration(*text);
      if (parsed.ok()) seconds = static_cast<double>(parsed->count()) / 1000.0;
    }
    if (unset) {
      session->query_timeout.reset();
    } else if (seconds && std::isfinite(*seconds) && *seconds >= 0 && *seconds < 1e9) {
      session->query_timeout = std::chrono::milliseconds(static_cast<int64_t>(*seconds * 1000));
    } else {
      return fl::SetSessionOptionErrorValue::kInvalidValue;
    }
    return std::nullopt;
  }
  if (name == "ipc_compression") {
    if (unset) {
      session->ipc_compression.reset();
      return std::nullopt;
    }
    auto codec = text != nullptr ? ParseIpcCompression(*text) : arrow::Status::Invalid("not text");
    if (!codec.ok()) return fl::SetSessionOptionErrorValue::kInvalidValue;
    session->ipc_compression = *codec;
    return std::nullopt;
  }
  return fl::SetSessionOptionErrorValue::kInvalidName;
}

SessionStore::SessionStore(Options options, Clock clock)
    : table_({options.idle_timeout, options.max_sessions}, std::move(clock),
             [idle = options.idle_timeout](const std::string& id) {
               return NotFound("Session '", id, "' is closed or expired (sessions close after ",
                               FormatDuration(idle),
                               " idle, on CloseSession, and when the server restarts): reconnect");
             },
             [max = options.max_sessions] {
               return Unavailable(Msg("Too many open sessions (limit --max-sessions=", max,
                                      "): close idle sessions or retry later"));
             }) {}

arrow::Result<std::string> SessionStore::Create() {
  std::string id = Hex(RandomBytes(16));
  ARROW_RETURN_NOT_OK(table_.Add(id, ClientSession{}, /*owner=*/""));
  return id;
}

arrow::Result<ClientSession> SessionStore::Get(const std::string& id) { return table_.Get(id, ""); }

arrow::Status SessionStore::Update(const std::string& id, ClientSession session) {
  return table_.Update(id, "", [&session](ClientSession& current) { current = std::move(session); });
}

arrow::Status SessionStore::Close(const std::string& id) { return table_.Take(id, "").status(); }

std::vector<std::string> SessionStore::TakeExpired() {
  std::vector<std::string> ids;
  for (auto& [id, session] : table_.TakeIdle()) ids.push_back(id);
  return ids;
}

size_t SessionStore::size() { return table_.size(); }

}  // namespace squadron::flight
