#include "flight/compression.h"

#include <algorithm>
#include <cctype>

#include <arrow/util/compression.h>

#include "common/status.h"

namespace squadron::flight {

arrow::Result<arrow::Compression::type> ParseIpcCompression(std::string_view name) {
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  if (lower == "none" || lower == "uncompressed" || lower.empty()) return arrow::Compression::UNCOMPRESSED;
  if (lower == "zstd") return arrow::Compression::ZSTD;
  if (lower == "lz4" || lower == "lz4_frame") return arrow::Compression::LZ4_FRAME;
  return InvalidArgument("Unknown IPC compression '", name, "': use none, zstd or lz4");
}

std::string IpcCompressionName(arrow::Compression::type codec) {
  switch (codec) {
    case arrow::Compression::ZSTD:
      return "zstd";
    case arrow::Compression::LZ4_FRAME:
      return "lz4";
    default:
      return "none";
  }
}

arrow::Result<arrow::ipc::IpcWriteOptions> WriteOptionsFor(arrow::Compression::type codec) {
  auto options = arrow::ipc::IpcWriteOptions::Defaults();
  if (codec != arrow::Compression::UNCOMPRESSED) {
    ARROW_ASSIGN_OR_RAISE(options.codec, arrow::util::Codec::Create(codec));
  }
  return options;
}

}  // namespace squadron::flight
