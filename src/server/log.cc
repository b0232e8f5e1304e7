#include "server/log.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "common/status.h"

namespace squadron::server {

arrow::Status InitLogging(const std::string& level) {
  const auto parsed = spdlog::level::from_str(level);
  if (parsed == spdlog::level::off && level != "off") {
    return InvalidArgument("Invalid log level '", level,
                           "': use trace, debug, info, warn, error or off");
  }
  auto logger = spdlog::stderr_logger_mt("squadron");
  logger->set_pattern("ts=%Y-%m-%dT%H:%M:%S.%fZ level=%l thread=%t %v", spdlog::pattern_time_type::utc);
  logger->set_level(parsed);
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
  return arrow::Status::OK();
}

}  // namespace squadron::server
