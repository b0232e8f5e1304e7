#include "engine/spark/spark_metadata.h"

#include "common/status.h"

namespace squadron::engine::spark {

namespace {
constexpr char kNotYet[] = " is not available on the Spark engine yet";
}  // namespace

arrow::Result<std::vector<std::string>> ListCatalogs(SparkConnectClient&) {
  return Unimplemented("Catalog browsing", kNotYet);
}

arrow::Result<std::vector<std::pair<std::string, std::string>>> ListSchemas(SparkConnectClient&,
                                                                            const std::optional<std::string>&,
                                                                            const std::optional<std::string>&) {
  return Unimplemented("Catalog browsing", kNotYet);
}

arrow::Result<std::vector<TableEntry>> ListTables(SparkConnectClient&, const TableFilter&) {
  return Unimplemented("Catalog browsing", kNotYet);
}

arrow::Result<Dialect> DescribeDialect(SparkConnectClient&) { return Dialect{}; }

std::vector<SqlTypeInfo> SqlTypes() { return {}; }

}  // namespace squadron::engine::spark
