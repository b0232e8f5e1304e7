// The Spark engine: runs Flight SQL statements on Apache Spark through Spark
// Connect (engine/spark/spark_connect_client.h).
#pragma once

#include <chrono>
#include <memory>

#include <arrow/result.h>

#include "engine/engine.h"
#include "engine/spark/spark_connect_client.h"

namespace squadron::engine {

/// Connects to the Spark Connect server (UNAVAILABLE naming it when it does
/// not answer within options.connect_timeout) and returns an engine that runs
/// every statement on Spark. Each client (SessionSettings::client) gets a
/// Spark session of its own, kept until ReleaseClient or until unused for
/// `client_idle_timeout`.
arrow::Result<std::unique_ptr<Engine>> OpenSparkEngine(const spark::SparkConnectOptions& options,
                                                       std::chrono::milliseconds client_idle_timeout);

}  // namespace squadron::engine
