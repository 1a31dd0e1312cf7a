#include "frugal/sparse/distribution.h"

#include <c10/util/Exception.h>

#include <algorithm>
#include <cmath>
#include <numeric>

namespace frugal::sparse {

Distribution parse_distribution(const std::string& name) {
  if (name == "uniform") return Distribution::kUniform;
  if (name == "er") return Distribution::kER;
  if (name == "erk") return Distribution::kERK;
  TORCH_CHECK(false, "unknown density distribution '", name, "' (expected uniform, er or erk)");
}

std::string to_string(Distribution distribution) {
  switch (distribution) {
    case Distribution::kUniform: return "uniform";
    case Distribution::kER: return "er";
    case Distribution::kERK: return "erk";
  }
  TORCH_CHECK(false, "invalid Distribution value ", static_cast<int>(distribution));
}

namespace {

int64_t numel_of(const std::vector<int64_t>& shape) {
  return std::accumulate(shape.begin(), shape.end(), int64_t{1}, std::multiplies<int64_t>());
}

}  // namespace

double raw_density(const std::vector<int64_t>& shape, Distribution distribution) {
  TORCH_CHECK(shape.size() >= 2, "a masked weight needs at least 2 dimensions, got ", shape.size());
  for (int64_t s : shape) TORCH_CHECK(s > 0, "a masked weight has an empty dimension: ", s);
  switch (distribution) {
    case Distribution::kUniform: return 1.0;
    case Distribution::kER: {
      const double n_out = static_cast<double>(shape[0]), n_in = static_cast<double>(shape[1]);
      return (n_in + n_out) / (n_in * n_out);
    }
    case Distribution::kERK: {
      double sum = 0, prod = 1;
      for (int64_t s : shape) {
        sum += static_cast<double>(s);
        prod *= static_cast<double>(s);
      }
      return sum / prod;
    }
  }
  TORCH_CHECK(false, "invalid Distribution value ", static_cast<int>(distribution));
}

namespace {

/// The counts, possibly with zeros; the public overloads reject those with
/// the layer's index or name.
std::vector<int64_t> solve_counts(const std::vector<std::vector<int64_t>>& shapes, double density,
                                  Distribution distribution) {
  TORCH_CHECK(density > 0.0 && density <= 1.0, "density must be in (0, 1], got ", density);
  TORCH_CHECK(!shapes.empty(), "no layer to distribute the density over");
  const size_t n = shapes.size();
  std::vector<int64_t> sizes(n);
  std::vector<double> raw(n);
  int64_t total = 0;
  for (size_t i = 0; i < n; ++i) {
    raw[i] = raw_density(shapes[i], distribution);
    sizes[i] = numel_of(shapes[i]);
    total += sizes[i];
  }
  const auto target = static_cast<int64_t>(std::llround(density * static_cast<double>(total)));

  // Solve epsilon for the layers not yet dense. Making a layer dense takes
  // away less than the share it had, so epsilon only grows from one round to
  // the next: every layer over 1 now stays over 1, and all of them can be made
  // dense at once (RigL removes one per round and ends at the same set).
  std::vector<bool> dense(n, false);
  std::vector<double> share(n, 0.0);
  for (;;) {
    int64_t rest = target;
    double divisor = 0;
    for (size_t i = 0; i < n; ++i) {
      if (dense[i])
        rest -= sizes[i];
      else
        divisor += raw[i] * static_cast<double>(sizes[i]);
    }
    if (divisor == 0) break;  // every layer dense: density 1
    const double epsilon = static_cast<double>(rest) / divisor;
    bool changed = false;
    for (size_t i = 0; i < n; ++i)
      if (!dense[i] && epsilon * raw[i] > 1.0 + 1e-12) {
        dense[i] = true;
        changed = true;
      }
    if (changed) continue;
    for (size_t i = 0; i < n; ++i)
      share[i] = dense[i] ? static_cast<double>(sizes[i])
                          : std::min(static_cast<double>(sizes[i]),
                                     epsilon * raw[i] * static_cast<double>(sizes[i]));
    break;
  }
  for (size_t i = 0; i < n; ++i)
    if (dense[i]) share[i] = static_cast<double>(sizes[i]);

  // Largest remainder: floor every share, then hand the weights still missing
  // to the largest fractional parts.
  std::vector<int64_t> counts(n);
  int64_t assigned = 0;
  for (size_t i = 0; i < n; ++i) {
    counts[i] = std::min(sizes[i], static_cast<int64_t>(std::floor(share[i])));
    assigned += counts[i];
  }
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return share[a] - std::floor(share[a]) > share[b] - std::floor(share[b]);
  });
  int64_t missing = target - assigned;
  // Floating error can leave a share a hair under an integer; a second pass
  // over layers with room keeps the total exact in that case too.
  for (int pass = 0; pass < 2 && missing > 0; ++pass)
    for (size_t i : order) {
      if (missing == 0) break;
      if (counts[i] < sizes[i] && (pass == 1 || share[i] > std::floor(share[i]))) {
        ++counts[i];
        --missing;
      }
    }
  TORCH_CHECK(missing == 0, "internal error: could not place ", missing, " active weights");
  return counts;
}

}  // namespace

std::vector<int64_t> layer_active_counts(const std::vector<std::vector<int64_t>>& shapes,
                                         double density, Distribution distribution) {
  auto counts = solve_counts(shapes, density, distribution);
  for (size_t i = 0; i < counts.size(); ++i)
    TORCH_CHECK(counts[i] > 0, "density ", density, " with distribution ", to_string(distribution),
                " leaves layer ", i, " (", numel_of(shapes[i]),
                " weights) without any active weight; raise the density or keep the layer dense");
  return counts;
}

std::vector<int64_t> layer_active_counts(const MaskSet& masks, double density,
                                         Distribution distribution) {
  std::vector<std::vector<int64_t>> shapes;
  shapes.reserve(masks.size());
  for (const auto& p : masks.params()) shapes.push_back(p.weight.sizes().vec());
  auto counts = solve_counts(shapes, density, distribution);
  for (size_t i = 0; i < counts.size(); ++i)
    TORCH_CHECK(counts[i] > 0, "density ", density, " with distribution ", to_string(distribution),
                " leaves layer '", masks.params()[i].name, "' (", masks.params()[i].numel(),
                " weights) without any active weight; raise the density or keep the layer dense");
  return counts;
}

void init_random_masks(MaskSet& masks, const std::vector<int64_t>& counts, Rng& rng) {
  TORCH_CHECK(counts.size() == masks.size(), "got ", counts.size(), " active counts for ",
              masks.size(), " masked layers");
  for (size_t i = 0; i < masks.size(); ++i) {
    auto& p = masks.params()[i];
    p.mask.copy_(random_mask(p.mask.sizes(), counts[i], rng));
  }
}

}  // namespace frugal::sparse
