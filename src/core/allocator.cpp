#include <frugal/core/allocator.h>

#include <cstdlib>  // defines __GLIBC__ where the C library is glibc
#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace frugal::core {

bool keep_freed_memory() {
#if defined(__GLIBC__)
  // glibc refuses an mmap threshold above half its largest heap (32 MiB on
  // 64-bit systems).
  constexpr int kMmapThreshold = 32 << 20, kTrimThreshold = 256 << 20;
  const bool mmap_set = mallopt(M_MMAP_THRESHOLD, kMmapThreshold) == 1;
  return mallopt(M_TRIM_THRESHOLD, kTrimThreshold) == 1 && mmap_set;
#else
  return false;
#endif
}

}  // namespace frugal::core
