// CommandGetSqlInfo: the facts a client asks of the server before querying.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include <arrow/record_batch.h>
#include <arrow/result.h>
#include <arrow/type_fwd.h>

#include "engine/engine.h"

namespace squadron::flight {

/// One SqlInfo value; the alternative chosen is the union child it goes to:
/// 0 string, 1 bool, 2 int64, 3 int32 (bitmask or enum), 4 string list,
/// 5 int32 -> list<int32> map.
using SqlInfoValue = std::variant<std::string, bool, int64_t, int32_t, std::vector<std::string>,
                                  std::map<int32_t, std::vector<int32_t>>>;

/// SqlInfo id -> value.
using SqlInfoMap = std::map<uint32_t, SqlInfoValue>;

/// Returns the fixed result schema of CommandGetSqlInfo.
const std::shared_ptr<arrow::Schema>& SqlInfoSchema();

/// Builds the CommandGetSqlInfo result for the `requested` ids (all when
/// empty). Ids the server does not know are left out, as the protocol allows.
arrow::Result<std::shared_ptr<arrow::RecordBatch>> MakeSqlInfoBatch(
    const SqlInfoMap& values, const std::vector<uint32_t>& requested);

struct ServerFacts {
  std::string engine_name;
  std::string engine_version;
  bool read_only = false;
  /// Idle timeout of prepared statement handles, in milliseconds (0: none).
  int32_t statement_timeout_ms = 0;
  /// Idle timeout of transactions, in milliseconds (0: none).
  int32_t transaction_timeout_ms = 0;
  /// The engine's SQL: keywords, functions, conversions, quoting, identifier
  /// case, NULL order, catalog term, transactions.
  engine::Dialect dialect;
};

/// Returns the SqlInfo answers of this server: a value for every id the
/// protocol defines, of the union type it defines.
SqlInfoMap MakeServerSqlInfo(const ServerFacts& facts);

}  // namespace squadron::flight
