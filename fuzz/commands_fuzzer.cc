// libFuzzer target: the bytes clients put in a FlightDescriptor's cmd, a
// Ticket and an Action body.
//
// The same input goes to ParseCommand, TicketCodec::Decode (as sent, and
// re-signed so the fuzzer gets past the MAC to the body) and every action
// body parser. What parses must serialize and parse back to the same thing.
// Any error status is a correct answer; a crash or sanitizer report is a bug.
//
// `fuzz_commands --write-seeds DIR` writes a seed corpus of well-formed
// commands, action bodies and tickets to DIR and exits.
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "flight/actions.h"
#include "flight/command.h"
#include "flight/ticket.h"

namespace {

namespace flight = squadron::flight;

// Any 32 bytes do: the fuzzer signs tickets with the same secret.
constexpr std::string_view kSecret = "squadron-fuzz-ticket-secret-0032";
static_assert(kSecret.size() == 32);

// A fixed instant (2026-01-01T00:00:00Z), so that runs are reproducible.
const std::chrono::system_clock::time_point kNow{std::chrono::seconds(1767225600)};

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "fuzz_commands: %s\n", what.c_str());
  std::abort();
}

const flight::TicketCodec& Codec() {
  static const flight::TicketCodec codec{std::string(kSecret)};
  return codec;
}

// The ticket a Squadron node would issue with `body` as its TicketBody bytes.
std::string SignedTicket(std::string_view body) {
  std::string ticket(1, '\x01');
  ticket.append(body);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  HMAC(EVP_sha256(), kSecret.data(), static_cast<int>(kSecret.size()),
       reinterpret_cast<const unsigned char*>(ticket.data()), ticket.size(), mac, &mac_len);
  ticket.append(reinterpret_cast<const char*>(mac), mac_len);
  return ticket;
}

void FuzzCommand(std::string_view input) {
  auto command = flight::ParseCommand(input);
  if (!command.ok()) return;
  const std::string wire = flight::SerializeCommand(*command);
  auto again = flight::ParseCommand(wire);
  if (!again.ok()) {
    Fail("a parsed " + std::string(flight::CommandName(*command)) +
         " does not parse once serialized: " + again.status().ToString());
  }
  if (flight::CommandName(*again) != flight::CommandName(*command)) {
    Fail("round trip turned " + std::string(flight::CommandName(*command)) + " into " +
         std::string(flight::CommandName(*again)));
  }
  if (flight::SerializeCommand(*again) != wire) {
    Fail("a " + std::string(flight::CommandName(*command)) + " serializes differently after a round trip");
  }
}

void FuzzTicket(std::string_view input) {
  (void)Codec().Decode(input, kNow);
  auto contents = Codec().Decode(SignedTicket(input), kNow);
  if (!contents.ok()) return;
  // A ticket that decodes is one the server could have issued: encoding its
  // contents again must give a ticket that decodes to the same result. The
  // wire form holds milliseconds, so the expiry is compared in milliseconds.
  auto again = Codec().Decode(Codec().Encode(*contents), kNow);
  using std::chrono::milliseconds;
  if (!again.ok() || again->result_id != contents->result_id ||
      std::chrono::duration_cast<milliseconds>(again->expires_at.time_since_epoch()) !=
          std::chrono::duration_cast<milliseconds>(contents->expires_at.time_since_epoch())) {
    Fail("a decoded ticket does not survive Encode and Decode");
  }
}

void FuzzActions(std::string_view input) {
  if (auto create = flight::ParseCreatePreparedStatement(input); create.ok()) {
    auto again = flight::ParseCreatePreparedStatement(flight::SerializeCreatePreparedStatement(*create));
    if (!again.ok() || again->query != create->query || again->transaction_id != create->transaction_id) {
      Fail("CreatePreparedStatement does not round-trip");
    }
  }
  (void)flight::ParseClosePreparedStatement(input);
  (void)flight::ParseBeginTransaction(input);
  if (auto end = flight::ParseEndTransaction(input); end.ok()) {
    auto again = flight::ParseEndTransaction(flight::SerializeEndTransaction(*end));
    if (!again.ok() || again->transaction_id != end->transaction_id || again->commit != end->commit) {
      Fail("EndTransaction does not round-trip");
    }
  }
  (void)flight::ParseCancelQuery(input);
}

// Well-formed inputs for each parser, named for the corpus directory.
std::vector<std::pair<std::string, std::string>> Seeds() {
  using namespace flight;
  const squadron::engine::TableRef table{"memory", "main", "orders"};
  std::vector<std::pair<std::string, std::string>> seeds = {
      {"statement_query", SerializeCommand(StatementQueryCommand{"SELECT 1", std::nullopt})},
      {"statement_query_txn", SerializeCommand(StatementQueryCommand{"SELECT * FROM t WHERE a = ?", "txn-1"})},
      {"statement_update", SerializeCommand(StatementUpdateCommand{"INSERT INTO t VALUES (1)", std::nullopt})},
      {"sql_info", SerializeCommand(GetSqlInfoCommand{{0, 1, 500, 1000}})},
      {"sql_info_all", SerializeCommand(GetSqlInfoCommand{})},
      {"prepared_query", SerializeCommand(PreparedStatementQueryCommand{"handle-1"})},
      {"prepared_update", SerializeCommand(PreparedStatementUpdateCommand{"handle-2"})},
      {"ingest", SerializeCommand(StatementIngestCommand{{"t", "main", "memory", false}, std::nullopt})},
      {"catalogs", SerializeCommand(GetCatalogsCommand{})},
      {"db_schemas", SerializeCommand(GetDbSchemasCommand{"memory", "ma%"})},
      {"tables", SerializeCommand(GetTablesCommand{{"memory", "%", "ord_rs", {"TABLE", "VIEW"}, true}})},
      {"table_types", SerializeCommand(GetTableTypesCommand{})},
      {"primary_keys", SerializeCommand(GetPrimaryKeysCommand{table})},
      {"exported_keys", SerializeCommand(GetExportedKeysCommand{table})},
      {"imported_keys", SerializeCommand(GetImportedKeysCommand{table})},
      {"cross_reference", SerializeCommand(GetCrossReferenceCommand{table, {std::nullopt, std::nullopt, "items"}})},
      {"xdbc_type_info", SerializeCommand(GetXdbcTypeInfoCommand{4})},
      {"action_create_prepared", SerializeCreatePreparedStatement({"SELECT ?", "txn-1"})},
      {"action_end_transaction", SerializeEndTransaction({"txn-1", true})},
      {"action_begin_transaction_result", SerializeBeginTransactionResult("txn-1")},
      {"ticket", Codec().Encode({"result-1", kNow + std::chrono::hours(1)})},
      {"ticket_expired", Codec().Encode({"result-2", kNow - std::chrono::hours(1)})},
  };
  // The body of a ticket alone: what the re-signing path feeds to Decode.
  const std::string ticket = Codec().Encode({"result-3", kNow + std::chrono::hours(1)});
  seeds.emplace_back("ticket_body", ticket.substr(1, ticket.size() - 1 - 32));
  return seeds;
}

[[noreturn]] void WriteSeeds(const std::string& dir) {
  for (const auto& [name, bytes] : Seeds()) {
    std::ofstream out(dir + "/" + name, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out) Fail("cannot write " + dir + "/" + name);
  }
  std::exit(0);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  if (*argc == 3 && std::string_view((*argv)[1]) == "--write-seeds") WriteSeeds((*argv)[2]);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  FuzzCommand(input);
  FuzzTicket(input);
  FuzzActions(input);
  return 0;
}
