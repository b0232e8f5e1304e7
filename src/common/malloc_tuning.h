// glibc malloc settings for processes that stream large Arrow batches.
#pragma once

#include <cstdint>
#include <string>

namespace squadron {

/// Keeps freed batch-sized blocks in the heap for reuse. By default glibc
/// serves blocks of a few MiB with mmap (or trims the heap after freeing
/// them), so every result batch costs fresh zeroed pages: page faults and
/// page clearing were ~15% of the server's CPU time while streaming.
///
/// Raises the mmap threshold to 32 MiB (glibc's maximum) and the trim
/// threshold to 128 MiB, so at most that much freed memory stays mapped per
/// arena, and limits glibc to two arenas per core (see
/// ReleaseFreeHeapMemory).
/// Does nothing when GLIBC_TUNABLES sets malloc tunables (the operator
/// decides). Returns a description for the log.
std::string TuneMallocForStreaming();

/// Hands the heap's free memory back to the operating system (glibc's
/// malloc_trim over every arena). The trim threshold above is per arena, and
/// each thread that allocated gets an arena, so after a burst of load the
/// process can keep hundreds of MiB it no longer uses. Costs a walk of the
/// free lists; meant to run every few seconds, not per call.
void ReleaseFreeHeapMemory();

/// The resident set size of this process in bytes (from /proc/self/statm),
/// or 0 where that cannot be read.
int64_t ResidentBytes();

}  // namespace squadron
