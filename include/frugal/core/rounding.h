#pragma once
/// Rounding real shares to whole counts that keep an exact total.

#include <cstdint>
#include <vector>

namespace frugal::core {

/// Whole counts for the real `amounts` (>= 0) that sum to exactly `total`,
/// none above its `capacity`: each amount is floored (at most its capacity),
/// then the counts still missing go one at a time to the largest fractional
/// parts first (ties to the earlier index), in as many rounds as needed,
/// skipping counts at capacity (Hamilton's largest remainder method).
/// Throws when the floors already exceed `total` or the capacities cannot
/// hold it.
std::vector<int64_t> largest_remainder(const std::vector<double>& amounts, const std::vector<int64_t>& capacity,
                                       int64_t total);

}  // namespace frugal::core
