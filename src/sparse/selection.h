#pragma once
/// Which weights a mask update drops and grows: positions picked by a mask
/// and by magnitude, with every tie decided. Private to the sparse area.

#include <torch/types.h>

#include <cstdint>

namespace frugal::sparse {

/// The flat view of a contiguous tensor; throws for a non-contiguous one
/// (masks and masked weights are edited through it in place).
torch::Tensor flat(const torch::Tensor& t);

/// Flat positions where `mask` (contiguous bool) equals `want`, ascending.
torch::Tensor positions_where(const torch::Tensor& mask, bool want);

/// The `k` flat positions with the largest (or smallest) |score| among those
/// where `mask` equals `want`. Ties go to the lower position, NaN ranks last:
/// the choice is fully determined, and never leaves the allowed positions.
/// Scanning only the allowed positions makes the drop (among the few active
/// ones) several times cheaper than a topk over the whole tensor.
torch::Tensor select_by_magnitude(const torch::Tensor& score, const torch::Tensor& mask, bool want,
                                  int64_t k, bool largest);

}  // namespace frugal::sparse
