#include "common/units.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <limits>

#include "common/status.h"

namespace squadron {

namespace {

struct NumberAndUnit {
  int64_t number;
  std::string unit;  // lower-cased
};

arrow::Result<NumberAndUnit> SplitNumber(std::string_view text, std::string_view what) {
  auto trimmed = text;
  while (!trimmed.empty() && std::isspace(static_cast<unsigned char>(trimmed.front()))) {
    trimmed.remove_prefix(1);
  }
  while (!trimmed.empty() && std::isspace(static_cast<unsigned char>(trimmed.back()))) {
    trimmed.remove_suffix(1);
  }
  int64_t number = 0;
  auto [end, ec] = std::from_chars(trimmed.data(), trimmed.data() + trimmed.size(), number);
  if (ec != std::errc() || end == trimmed.data()) {
    return InvalidArgument("Invalid ", what, " '", text, "': expected a non-negative integer and a unit");
  }
  if (number < 0) {
    return InvalidArgument("Invalid ", what, " '", text, "': must not be negative");
  }
  std::string unit(end, trimmed.data() + trimmed.size());
  unit.erase(std::remove_if(unit.begin(), unit.end(), [](unsigned char c) { return std::isspace(c); }),
             unit.end());
  std::transform(unit.begin(), unit.end(), unit.begin(), [](unsigned char c) { return std::tolower(c); });
  return NumberAndUnit{number, unit};
}

arrow::Result<int64_t> Scale(int64_t number, int64_t factor, std::string_view text, std::string_view what) {
  if (number > std::numeric_limits<int64_t>::max() / factor) {
    return InvalidArgument("Invalid ", what, " '", text, "': too large");
  }
  return number * factor;
}

}  // namespace

arrow::Result<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  ARROW_ASSIGN_OR_RAISE(auto parsed, SplitNumber(text, "duration"));
  int64_t factor = 0;
  if (parsed.unit == "ms") {
    factor = 1;
  } else if (parsed.unit.empty() || parsed.unit == "s") {
    factor = 1000;
  } else if (parsed.unit == "m" || parsed.unit == "min") {
    factor = 60 * 1000;
  } else if (parsed.unit == "h") {
    factor = 3600 * 1000;
  } else {
    return InvalidArgument("Invalid duration '", text, "': unknown unit '", parsed.unit,
                           "' (use ms, s, m or h)");
  }
  ARROW_ASSIGN_OR_RAISE(auto ms, Scale(parsed.number, factor, text, "duration"));
  return std::chrono::milliseconds(ms);
}

arrow::Result<int64_t> ParseByteSize(std::string_view text) {
  ARROW_ASSIGN_OR_RAISE(auto parsed, SplitNumber(text, "byte size"));
  static const std::pair<std::string_view, int64_t> kUnits[] = {
      {"", 1},
      {"b", 1},
      {"kb", 1000},
      {"mb", 1000 * 1000},
      {"gb", 1000 * 1000 * 1000},
      {"kib", int64_t{1} << 10},
      {"mib", int64_t{1} << 20},
      {"gib", int64_t{1} << 30},
  };
  for (const auto& [unit, factor] : kUnits) {
    if (parsed.unit == unit) return Scale(parsed.number, factor, text, "byte size");
  }
  return InvalidArgument("Invalid byte size '", text, "': unknown unit '", parsed.unit,
                         "' (use B, KB, MB, GB, KiB, MiB or GiB)");
}

std::string FormatDuration(std::chrono::milliseconds d) {
  const auto ms = d.count();
  if (ms % (3600 * 1000) == 0 && ms != 0) return std::to_string(ms / (3600 * 1000)) + "h";
  if (ms % (60 * 1000) == 0 && ms != 0) return std::to_string(ms / (60 * 1000)) + "m";
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

}  // namespace squadron
