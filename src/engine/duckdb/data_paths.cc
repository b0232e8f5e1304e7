#include "engine/duckdb/data_paths.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <string_view>

#include "common/status.h"

namespace squadron::engine {

namespace fs = std::filesystem;

namespace {

enum class Format { kParquet, kCsv, kJson, kDuckDb, kUnknown };

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// Compression suffixes DuckDB reads transparently.
std::string StripCompression(std::string name) {
  for (std::string_view c : {".gz", ".zst"}) {
    if (EndsWith(name, c)) return name.substr(0, name.size() - c.size());
  }
  return name;
}

Format FormatOf(const std::string& filename) {
  const std::string name = StripCompression(Lower(filename));
  if (EndsWith(name, ".parquet") || EndsWith(name, ".pq")) return Format::kParquet;
  if (EndsWith(name, ".csv") || EndsWith(name, ".tsv")) return Format::kCsv;
  if (EndsWith(name, ".json") || EndsWith(name, ".jsonl") || EndsWith(name, ".ndjson")) {
    return Format::kJson;
  }
  if (EndsWith(name, ".duckdb") || EndsWith(name, ".ddb") || EndsWith(name, ".db")) {
    return Format::kDuckDb;
  }
  return Format::kUnknown;
}

bool HasWildcard(std::string_view s) { return s.find_first_of("*?[") != std::string_view::npos; }

// A file name without its data extensions: "trips.csv.gz" -> "trips".
std::string Stem(const std::string& filename) {
  std::string name = StripCompression(filename);
  const auto dot = name.find('.');
  return dot == std::string::npos || dot == 0 ? name : name.substr(0, dot);
}

// Makes a readable identifier: letters, digits and '_', not starting with a digit.
std::string SanitizeName(const std::string& raw) {
  std::string out;
  for (unsigned char c : raw) out += std::isalnum(c) ? static_cast<char>(c) : '_';
  if (out.empty() || std::isdigit(static_cast<unsigned char>(out[0]))) out = "_" + out;
  return out;
}

std::string ReaderCall(Format format, const std::string& location) {
  switch (format) {
    case Format::kParquet:
      return "read_parquet(" + QuoteLiteral(location) + ")";
    case Format::kCsv:
      return "read_csv(" + QuoteLiteral(location) + ")";
    default:
      return "read_json(" + QuoteLiteral(location) + ")";
  }
}

// The format of the first data file under a directory, searched depth-first.
Format FirstFormatUnder(const fs::path& dir, std::string* extension) {
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    const std::string name = it->path().filename().string();
    const Format f = FormatOf(name);
    if (f != Format::kUnknown && f != Format::kDuckDb) {
      const std::string lower = Lower(name);
      *extension = lower.substr(lower.find('.'));
      return f;
    }
  }
  return Format::kUnknown;
}

}  // namespace

namespace {

// Wraps `s` in `quote`, doubling each `quote` inside (SQL's escaping rule).
std::string Quote(const std::string& s, char quote) {
  std::string out(1, quote);
  for (char c : s) {
    out += c;
    if (c == quote) out += quote;
  }
  return out + quote;
}

}  // namespace

std::string QuoteLiteral(const std::string& s) { return Quote(s, '\''); }

std::string QuoteIdentifier(const std::string& s) { return Quote(s, '"'); }

arrow::Result<DataSource> PlanDataSource(const std::string& spec, bool read_only) {
  std::string name;
  std::string path = spec;
  const auto eq = spec.find('=');
  if (eq != std::string::npos && eq > 0 && spec.find('/') > eq) {
    name = spec.substr(0, eq);
    path = spec.substr(eq + 1);
  }
  if (path.empty()) return InvalidArgument("Invalid data path '", spec, "': empty path");

  std::string location;
  Format format = Format::kUnknown;
  std::error_code ec;
  if (HasWildcard(path)) {
    // Name a glob after the last directory before the first wildcard.
    const fs::path p(path);
    fs::path base;
    for (const auto& part : p) {
      if (HasWildcard(part.string())) break;
      base /= part;
    }
    if (name.empty()) name = base.filename().string();
    format = FormatOf(p.filename().string());
    location = path;
    if (format == Format::kDuckDb || format == Format::kUnknown) {
      return InvalidArgument("Invalid data path '", spec,
                             "': a glob must end in a Parquet, CSV or JSON file pattern, "
                             "such as *.parquet");
    }
  } else if (fs::is_directory(path, ec)) {
    const fs::path dir = fs::path(path).lexically_normal();
    std::string extension;
    format = FirstFormatUnder(dir, &extension);
    if (format == Format::kUnknown) {
      return InvalidArgument("Invalid data path '", spec,
                             "': the directory holds no Parquet, CSV or JSON files");
    }
    if (name.empty()) {
      name = (dir.filename().empty() ? dir.parent_path() : dir).filename().string();
    }
    location = (dir / "**" / ("*" + extension)).string();
  } else if (fs::is_regular_file(path, ec)) {
    const std::string filename = fs::path(path).filename().string();
    format = FormatOf(filename);
    if (format == Format::kUnknown) {
      return InvalidArgument("Invalid data path '", spec,
                             "': unknown file type (expected .parquet, .csv, .tsv, .json, "
                             ".jsonl, .ndjson, optionally .gz/.zst, or a .duckdb/.db file)");
    }
    if (name.empty()) name = Stem(filename);
    location = path;
  } else {
    return InvalidArgument("Invalid data path '", spec, "': no such file or directory");
  }

  DataSource source;
  source.name = SanitizeName(name);
  if (format == Format::kDuckDb) {
    source.sql = "ATTACH " + QuoteLiteral(location) + " AS " + QuoteIdentifier(source.name) +
                 (read_only ? " (READ_ONLY)" : "");
  } else {
    source.sql = "CREATE OR REPLACE VIEW " + QuoteIdentifier(source.name) + " AS SELECT * FROM " +
                 ReaderCall(format, location);
  }
  return source;
}

}  // namespace squadron::engine
