// Bulk ingest: an Arrow stream from a client written into a DuckDB table.
#include <atomic>

#include <arrow/c/bridge.h>
#include <arrow/record_batch.h>

#include "common/status.h"
#include "duckdb/common/arrow/arrow_wrapper.hpp"
#include "duckdb/function/table/arrow.hpp"
#include "duckdb/main/relation.hpp"
#include "engine/duckdb/data_paths.h"
#include "engine/duckdb/duckdb_internal.h"

namespace squadron::engine {

namespace {

std::string QualifiedName(const IngestRequest& request) {
  std::string name;
  if (request.catalog) name += QuoteIdentifier(*request.catalog) + ".";
  if (request.schema) name += QuoteIdentifier(*request.schema) + ".";
  return name + QuoteIdentifier(request.table);
}

// Runs one statement; errors come back as statuses.
arrow::Result<duckdb::unique_ptr<duckdb::MaterializedQueryResult>> Run(duckdb::Connection& connection,
                                                                      const std::string& sql) {
  auto result = connection.Query(sql);
  if (result->HasError()) return FromDuckDb(result->GetErrorObject());
  return result;
}

// The client's stream as a temporary DuckDB view, dropped (and the stream
// released) when this goes away. DuckDB reads the stream once, when the view
// is scanned. The view is temporary, so it lives in this connection's own
// catalog: other clients' catalog browsing never sees it (binding it from
// another connection would read a stream that is being consumed or freed).
class StreamView {
 public:
  static arrow::Result<std::unique_ptr<StreamView>> Make(duckdb::Connection& connection,
                                                         std::shared_ptr<arrow::RecordBatchReader> data) {
    static std::atomic<uint64_t> counter{0};
    auto view = std::unique_ptr<StreamView>(
        new StreamView(connection, "__squadron_ingest_" + std::to_string(++counter)));
    ARROW_RETURN_NOT_OK(arrow::ExportRecordBatchReader(std::move(data), &view->stream_));
    try {
      duckdb::vector<duckdb::Value> parameters{
          duckdb::Value::POINTER(reinterpret_cast<uintptr_t>(&view->stream_)),
          duckdb::Value::POINTER(reinterpret_cast<uintptr_t>(&Produce)),
          duckdb::Value::POINTER(reinterpret_cast<uintptr_t>(&GetSchema))};
      connection.TableFunction("arrow_scan", parameters)->CreateView(view->name_, /*replace=*/true,
                                                                      /*temporary=*/true);
    } catch (const std::exception& e) {
      return InvalidArgument("Cannot read the ingest stream: ", duckdb::ErrorData(e).Message());
    }
    view->created_ = true;
    return view;
  }

  ~StreamView() {
    if (created_) (void)connection_.Query("DROP VIEW IF EXISTS " + QuoteIdentifier(name_));
    if (stream_.release != nullptr) stream_.release(&stream_);
  }

  const std::string& name() const { return name_; }

 private:
  StreamView(duckdb::Connection& connection, std::string name)
      : connection_(connection), name_(std::move(name)) {
    stream_.release = nullptr;
  }

  // DuckDB's arrow_scan asks for the stream once per scan: the first takes it.
  static duckdb::unique_ptr<duckdb::ArrowArrayStreamWrapper> Produce(uintptr_t factory,
                                                                    duckdb::ArrowStreamParameters&) {
    auto* source = reinterpret_cast<ArrowArrayStream*>(factory);
    auto wrapper = duckdb::make_uniq<duckdb::ArrowArrayStreamWrapper>();
    wrapper->number_of_rows = -1;
    if (source->release == nullptr) {
      throw duckdb::InvalidInputException("the ingest stream was already read");
    }
    wrapper->arrow_array_stream = *source;  // the wrapper releases it now
    source->release = nullptr;
    return wrapper;
  }

  static void GetSchema(ArrowArrayStream* factory, ArrowSchema& schema) {
    if (factory->release == nullptr || factory->get_schema(factory, &schema) != 0) {
      throw duckdb::InvalidInputException("cannot read the ingest stream's schema");
    }
  }

  duckdb::Connection& connection_;
  const std::string name_;
  ArrowArrayStream stream_;
  bool created_ = false;
};

// Column definitions of the view, for CREATE TABLE: bound without reading data.
arrow::Result<std::string> ColumnDefinitions(duckdb::Connection& connection, const std::string& view) {
  auto prepared = connection.Prepare("SELECT * FROM " + QuoteIdentifier(view));
  if (prepared->HasError()) return FromDuckDb(prepared->error);
  std::string columns;
  const auto& names = prepared->GetNames();
  const auto& types = prepared->GetTypes();
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) columns += ", ";
    columns += QuoteIdentifier(names[i]) + " " + types[i].ToString();
  }
  return columns;
}

arrow::Result<int64_t> WriteRows(duckdb::Connection& connection, const IngestRequest& request,
                                 const std::string& view) {
  const std::string table = QualifiedName(request);
  const bool exists =
      connection.TableInfo(request.catalog.value_or(""), request.schema.value_or(""), request.table) != nullptr;
  if (exists && request.if_exists == IngestRequest::IfExists::kFail) {
    return arrow::Status::AlreadyExists("Table ", table,
                                        " already exists (if_exists=FAIL); ingest with append or replace");
  }
  if (!exists && request.if_missing == IngestRequest::IfMissing::kFail) {
    return NotFound("Table ", table, " does not exist (if_not_exist=FAIL); ingest with create");
  }
  if (!exists || request.if_exists == IngestRequest::IfExists::kReplace) {
    ARROW_ASSIGN_OR_RAISE(auto columns, ColumnDefinitions(connection, view));
    ARROW_RETURN_NOT_OK(Run(connection, std::string(exists ? "CREATE OR REPLACE " : "CREATE ") +
                                            (request.temporary ? "TEMP " : "") + "TABLE " + table +
                                            " (" + columns + ")")
                            .status());
  }
  ARROW_ASSIGN_OR_RAISE(auto result,
                        Run(connection, "INSERT INTO " + table + " BY NAME SELECT * FROM " +
                                            QuoteIdentifier(view)));
  return result->GetValue(0, 0).GetValue<int64_t>();
}

}  // namespace

arrow::Result<int64_t> IngestInto(duckdb::Connection& connection, const IngestRequest& request,
                                  std::shared_ptr<arrow::RecordBatchReader> data) {
  try {
    if (request.table.empty()) return InvalidArgument("Ingest needs a table name");
    ARROW_ASSIGN_OR_RAISE(auto view, StreamView::Make(connection, std::move(data)));
    const bool own_transaction = !connection.HasActiveTransaction();
    if (own_transaction) connection.BeginTransaction();
    auto rows = WriteRows(connection, request, view->name());
    if (own_transaction) {
      if (rows.ok()) {
        auto commit = connection.Query("COMMIT");
        if (commit->HasError()) return FromDuckDb(commit->GetErrorObject());
      } else if (connection.HasActiveTransaction()) {
        connection.Rollback();
      }
    }
    return rows;
  } catch (const std::exception& e) {
    if (connection.HasActiveTransaction()) connection.Rollback();
    return FromDuckDb(duckdb::ErrorData(e));
  }
}

}  // namespace squadron::engine
