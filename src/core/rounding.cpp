#include "frugal/core/rounding.h"

#include <c10/util/Exception.h>

#include <algorithm>
#include <cmath>
#include <numeric>

namespace frugal::core {

std::vector<int64_t> largest_remainder(const std::vector<double>& amounts, const std::vector<int64_t>& capacity,
                                       int64_t total) {
  const size_t n = amounts.size();
  TORCH_CHECK(capacity.size() == n, "largest remainder: ", n, " amounts but ", capacity.size(), " capacities");
  std::vector<int64_t> counts(n);
  int64_t assigned = 0;
  for (size_t i = 0; i < n; ++i) {
    counts[i] = std::min(capacity[i], static_cast<int64_t>(std::floor(amounts[i])));
    assigned += counts[i];
  }
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return amounts[a] - std::floor(amounts[a]) > amounts[b] - std::floor(amounts[b]);
  });
  int64_t missing = total - assigned;
  TORCH_CHECK(missing >= 0, "largest remainder: the floors overshoot the total ", total, " by ", -missing);
  // Floating error can leave an amount a hair under an integer, so a count
  // with no fractional part may still have to take one: further rounds.
  while (missing > 0) {
    const int64_t before = missing;
    for (size_t i : order) {
      if (missing == 0) break;
      if (counts[i] < capacity[i]) {
        ++counts[i];
        --missing;
      }
    }
    TORCH_CHECK(missing < before, "largest remainder: no room left for ", missing, " of ", total);
  }
  return counts;
}

}  // namespace frugal::core
