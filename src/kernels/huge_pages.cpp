#include "huge_pages.h"

#include <ATen/ATen.h>
#include <c10/util/llvmMathExtras.h>

#include <sys/mman.h>

#include <cstdint>

namespace frugal::kernels::detail {
namespace {

constexpr uint64_t kHugePage = uint64_t{2} << 20;

}  // namespace

torch::Tensor empty_huge(at::IntArrayRef sizes) {
  const auto options = at::TensorOptions().dtype(at::kFloat);
  const int64_t bytes = c10::multiply_integers(sizes) * int64_t{sizeof(float)};
  if (bytes < kHugePageMinBytes) return at::empty(sizes, options);
  // Map one huge page more than needed, so that a 2 MiB aligned start exists
  // inside, and unmap the slack on both sides.
  const uint64_t length = c10::llvm::alignTo<kHugePage>(bytes), mapped = length + kHugePage;
  void* raw = mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return at::empty(sizes, options);
  const auto base = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t start = c10::llvm::alignTo<kHugePage>(base), end = start + length;
  if (start > base) munmap(raw, start - base);
  if (base + mapped > end) munmap(reinterpret_cast<void*>(end), base + mapped - end);
  void* data = reinterpret_cast<void*>(start);
  // Advice only: where THP is off the mapping keeps 4 KiB pages and works
  // the same.
  madvise(data, length, MADV_HUGEPAGE);
  return at::from_blob(
      data, sizes, [length](void* p) { munmap(p, length); }, options);
}

}  // namespace frugal::kernels::detail
