#include "common/text.h"

#include <cctype>

#include <fmt/format.h>

namespace squadron {

std::string Clip(std::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  size_t keep = max_bytes;
  // Back off over UTF-8 continuation bytes (10xxxxxx) so a sequence stays whole.
  while (keep > 0 && (static_cast<unsigned char>(text[keep]) & 0xC0) == 0x80) --keep;
  return fmt::format("{}... [cut: {} of {} bytes shown]", text.substr(0, keep), keep, text.size());
}

arrow::Status ClipMessage(const arrow::Status& status) {
  if (status.ok() || status.message().size() <= kMaxStatusMessageBytes) return status;
  return arrow::Status(status.code(), Clip(status.message(), kMaxStatusMessageBytes), status.detail());
}

std::string FirstKeyword(std::string_view sql) {
  size_t i = 0;
  while (i < sql.size()) {
    if (std::isspace(static_cast<unsigned char>(sql[i])) || sql[i] == '(') {
      ++i;
    } else if (sql.substr(i, 2) == "--") {
      i = sql.find('\n', i);
      if (i == std::string_view::npos) return "";
    } else if (sql.substr(i, 2) == "/*") {
      i = sql.find("*/", i);
      if (i == std::string_view::npos) return "";
      i += 2;
    } else {
      break;
    }
  }
  std::string word;
  while (i < sql.size() && std::isalpha(static_cast<unsigned char>(sql[i]))) {
    word.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(sql[i++]))));
  }
  return word;
}

}  // namespace squadron
