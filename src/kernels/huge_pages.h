#pragma once
/// Buffers backed by transparent huge pages (private to src/kernels).
///
/// A packed x^T of a wide layer (4096 rows x 1088 bytes = 4.3 MiB) is read a
/// row at a time in the pattern's column order, a different 4 KiB page for
/// nearly every entry: more pages than the L1 TLB holds, so each entry's
/// lanes wait on a page walk. On 2 MiB pages the same reads measured 12%
/// faster per FMA on the 4096 x 4096 layer at 10% density (docs/RESULTS.md,
/// section 2), and no faster on 784 x 300, whose x^T spans 208 pages.

#include <torch/types.h>

namespace frugal::kernels::detail {

/// Buffers from this size on are mapped on their own and advised onto huge
/// pages; smaller ones come from LibTorch's allocator.
constexpr int64_t kHugePageMinBytes = int64_t{2} << 20;

/// An uninitialized float32 CPU tensor of `sizes`, contiguous. From
/// kHugePageMinBytes on it is its own mapping, 2 MiB aligned and advised
/// MADV_HUGEPAGE (the kernel may still back it by 4 KiB pages: THP off, or no
/// huge page free); freed with the tensor.
torch::Tensor empty_huge(at::IntArrayRef sizes);

}  // namespace frugal::kernels::detail
