// The Spark engine: runs Flight SQL statements on Apache Spark through Spark
// Connect (engine/spark/spark_connect_client.h).
#pragma once

#include <memory>

#include <arrow/result.h>

#include "engine/engine.h"
#include "engine/spark/spark_connect_client.h"

namespace squadron::engine {

/// Connects to the Spark Connect server (UNAVAILABLE naming it when it does
/// not answer within options.connect_timeout) and returns an engine whose
/// every session is a Spark session of its own.
///
/// What runs on Spark so far: queries (results streamed from the driver as
/// Arrow), their schema without running them (prepared statements), DDL and
/// DML (update count unknown: -1), session options (time zone, catalog,
/// database) and interruption. Catalog browsing, parameters, bulk ingest and
/// transactions answer UNIMPLEMENTED (or Spark's own error), saying so.
arrow::Result<std::unique_ptr<Engine>> OpenSparkEngine(const spark::SparkConnectOptions& options);

}  // namespace squadron::engine
