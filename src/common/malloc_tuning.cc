#include "common/malloc_tuning.h"

#include <malloc.h>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <thread>
#include <cstdlib>
#include <string_view>

namespace squadron {

std::string TuneMallocForStreaming() {
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  if (tunables != nullptr && std::string_view(tunables).find("malloc") != std::string_view::npos) {
    return "left to GLIBC_TUNABLES";
  }
#if defined(__GLIBC__)
  const bool mmap_ok = mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1;
  const bool trim_ok = mallopt(M_TRIM_THRESHOLD, 128 << 20) == 1;
  // glibc gives threads up to 8 arenas per core, each keeping its own free
  // memory; the server's bulk data lives in DuckDB's jemalloc and Arrow's
  // pool, so two arenas per core are enough and fragment far less.
  const int arenas = static_cast<int>(std::max(2u, 2 * std::thread::hardware_concurrency()));
  const bool arena_ok = mallopt(M_ARENA_MAX, arenas) == 1;
  if (mmap_ok && trim_ok && arena_ok) {
    return "mmap_threshold=32MiB trim_threshold=128MiB arena_max=" + std::to_string(arenas);
  }
  return "mallopt refused";
#else
  return "not glibc";
#endif
}

void ReleaseFreeHeapMemory() {
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

int64_t ResidentBytes() {
  std::FILE* statm = std::fopen("/proc/self/statm", "r");
  if (statm == nullptr) return 0;
  long pages = 0, resident = 0;
  const bool ok = std::fscanf(statm, "%ld %ld", &pages, &resident) == 2;
  std::fclose(statm);
  return ok ? static_cast<int64_t>(resident) * sysconf(_SC_PAGESIZE) : 0;
}

}  // namespace squadron
