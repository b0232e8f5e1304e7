// Limits checked on a statement's text before DuckDB parses it.
//
// DuckDB's transformer copies a WITH clause's map of common table expressions
// into every CTE of that clause, so parsing costs memory that grows with the
// square of the CTE count: 1,600 CTEs take ~2 GiB before planning starts, and
// 10,000 (a 318 KB statement) took the server past 24 GiB. --memory-limit
// does not bound it: the parser allocates outside DuckDB's buffer manager. The
// count is taken from DuckDB's own tokenizer, which is linear.
#include <cctype>

#include "common/status.h"
#include "duckdb/parser/parser.hpp"
#include "duckdb/parser/simplified_token.hpp"
#include "engine/duckdb/duckdb_internal.h"

namespace squadron::engine {

namespace {

bool IsIdentifierChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

bool WordAt(const std::string& sql, size_t at, std::string_view word) {
  if (at + word.size() > sql.size()) return false;
  for (size_t i = 0; i < word.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(sql[at + i])) != word[i]) return false;
  }
  return at + word.size() == sql.size() || !IsIdentifierChar(sql[at + word.size()]);
}

// An upper bound of the CTE count that needs no tokenizer: every CTE has an
// AS keyword, so a statement with few "as" words has few CTEs.
size_t CountAsWords(const std::string& sql) {
  size_t count = 0;
  for (size_t i = 0; i + 1 < sql.size(); ++i) {
    if ((sql[i] | 0x20) == 'a' && (sql[i + 1] | 0x20) == 's' && (i == 0 || !IsIdentifierChar(sql[i - 1])) &&
        WordAt(sql, i, "as")) {
      ++count;
    }
  }
  return count;
}

}  // namespace

size_t CountCommonTableExpressions(const std::string& sql) {
  using duckdb::SimplifiedTokenType;
  const auto tokens = duckdb::Parser::Tokenize(sql);
  size_t count = 0;
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i].type != SimplifiedTokenType::SIMPLIFIED_TOKEN_KEYWORD || !WordAt(sql, tokens[i].start, "as")) {
      continue;
    }
    // name AS [NOT] [MATERIALIZED] ( query )
    size_t next = i + 1;
    while (next < tokens.size() && tokens[next].type == SimplifiedTokenType::SIMPLIFIED_TOKEN_KEYWORD &&
           (WordAt(sql, tokens[next].start, "not") || WordAt(sql, tokens[next].start, "materialized"))) {
      ++next;
    }
    if (next < tokens.size() && tokens[next].type == SimplifiedTokenType::SIMPLIFIED_TOKEN_OPERATOR &&
        sql[tokens[next].start] == '(') {
      ++count;
    }
  }
  return count;
}

arrow::Status CheckStatementLimits(const std::string& sql, const DuckDbOptions& options) {
  if (options.max_statement_ctes <= 0) return arrow::Status::OK();
  const auto limit = static_cast<size_t>(options.max_statement_ctes);
  if (CountAsWords(sql) <= limit) return arrow::Status::OK();
  const size_t ctes = CountCommonTableExpressions(sql);
  if (ctes <= limit) return arrow::Status::OK();
  return InvalidArgument("Statement refused: it defines ", ctes, " common table expressions (WITH name AS (...)) "
                         "and the limit is ", limit, " (--max-statement-ctes); DuckDB's parser needs memory "
                         "that grows with the square of that count. Split the query or raise the limit");
}

}  // namespace squadron::engine
