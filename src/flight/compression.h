// IPC body compression of result streams: chosen per call (a header), per
// session (the ipc_compression option) or for the server (--ipc-compression).
#pragma once

#include <string>
#include <string_view>

#include <arrow/ipc/options.h>
#include <arrow/result.h>
#include <arrow/util/type_fwd.h>

namespace squadron::flight {

/// The DoGet header that picks the compression of that one stream.
inline constexpr std::string_view kCompressionHeader = "squadron-ipc-compression";

/// Parses "none", "zstd" or "lz4" (case-insensitive). InvalidArgument names
/// the choices otherwise.
arrow::Result<arrow::Compression::type> ParseIpcCompression(std::string_view name);

/// The name ParseIpcCompression() reads back.
std::string IpcCompressionName(arrow::Compression::type codec);

/// IPC write options that compress record batch bodies with `codec`.
arrow::Result<arrow::ipc::IpcWriteOptions> WriteOptionsFor(arrow::Compression::type codec);

}  // namespace squadron::flight
