#include "huge_pages.h"

#include <ATen/ATen.h>

#include <sys/mman.h>

#include <cstdint>

namespace frugal::kernels::detail {
namespace {

constexpr int64_t kHugePage = int64_t{2} << 20;

int64_t round_up(int64_t n, int64_t to) { return (n + to - 1) / to * to; }

}  // namespace

torch::Tensor empty_huge(at::IntArrayRef sizes) {
  const auto options = at::TensorOptions().dtype(at::kFloat);
  const int64_t bytes = c10::multiply_integers(sizes) * int64_t{sizeof(float)};
  if (bytes < kHugePageMinBytes) return at::empty(sizes, options);
  // Map one huge page more than needed, so that a 2 MiB aligned start exists
  // inside, and unmap the slack on both sides.
  const int64_t length = round_up(bytes, kHugePage);
  void* raw = mmap(nullptr, length + kHugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return at::empty(sizes, options);
  const auto base = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t start = (base + kHugePage - 1) / kHugePage * kHugePage;
  if (start > base) munmap(raw, start - base);
  if (const uintptr_t tail = base + length + kHugePage - (start + length); tail > 0)
    munmap(reinterpret_cast<void*>(start + length), tail);
  void* data = reinterpret_cast<void*>(start);
  // Advice only: where THP is off the mapping keeps 4 KiB pages and works
  // the same.
  madvise(data, length, MADV_HUGEPAGE);
  return at::from_blob(
      data, sizes, [length](void* p) { munmap(p, length); }, options);
}

}  // namespace frugal::kernels::detail
