#pragma once
/// How SNFS spreads the weights one mask update grows over the layers.

#include <cstdint>
#include <vector>

namespace frugal::sparse {

/// SNFS growth redistribution: splits `budget` weights over layers in
/// proportion to `shares` (>= 0), no layer above its `capacity`; layers that
/// would overflow are filled and the rest is split again among the others.
/// The counts sum to exactly `budget` (largest remainder rounding). When all
/// uncapped shares are 0 the split follows the remaining capacities. Throws
/// when the capacities cannot hold the budget.
std::vector<int64_t> redistribute_growth(int64_t budget, const std::vector<double>& shares,
                                         const std::vector<int64_t>& capacity);

}  // namespace frugal::sparse
