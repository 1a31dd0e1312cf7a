#include "frugal/sparse/redistribute.h"

#include "frugal/core/rounding.h"

#include <c10/util/Exception.h>

#include <algorithm>
#include <cmath>

namespace frugal::sparse {

std::vector<int64_t> redistribute_growth(int64_t budget, const std::vector<double>& shares,
                                         const std::vector<int64_t>& capacity) {
  const size_t n = shares.size();
  TORCH_CHECK(capacity.size() == n, "got ", n, " shares but ", capacity.size(), " capacities");
  TORCH_CHECK(budget >= 0, "growth budget must be >= 0, got ", budget);
  int64_t room = 0;
  for (size_t i = 0; i < n; ++i) {
    TORCH_CHECK(shares[i] >= 0 && std::isfinite(shares[i]),
                "growth shares must be finite and >= 0, got ", shares[i]);
    TORCH_CHECK(capacity[i] >= 0, "layer capacity must be >= 0, got ", capacity[i]);
    room += capacity[i];
  }
  TORCH_CHECK(room >= budget, "cannot grow ", budget, " weights into ", room, " free positions");

  // Water-filling: split what is left over the layers not yet full; a layer
  // that would overflow is filled, and the split is done again without it.
  std::vector<double> amount(n, 0.0);
  std::vector<bool> full(n, false);
  for (size_t i = 0; i < n; ++i) full[i] = capacity[i] == 0;
  for (;;) {
    double left = static_cast<double>(budget);
    double weight_sum = 0, capacity_sum = 0;
    for (size_t i = 0; i < n; ++i) {
      if (full[i]) {
        left -= static_cast<double>(capacity[i]);
      } else {
        weight_sum += shares[i];
        capacity_sum += static_cast<double>(capacity[i]);
      }
    }
    if (capacity_sum == 0) break;
    const bool by_capacity = weight_sum == 0;
    bool overflow = false;
    for (size_t i = 0; i < n; ++i) {
      if (full[i]) continue;
      const double w = by_capacity ? static_cast<double>(capacity[i]) / capacity_sum
                                   : shares[i] / weight_sum;
      amount[i] = std::max(0.0, left) * w;
      if (amount[i] > static_cast<double>(capacity[i])) {
        full[i] = true;
        overflow = true;
      }
    }
    if (!overflow) break;
  }
  for (size_t i = 0; i < n; ++i)
    if (full[i]) amount[i] = static_cast<double>(capacity[i]);

  // Largest remainder: the counts sum to the budget exactly.
  return core::largest_remainder(amount, capacity, budget);
}

}  // namespace frugal::sparse
