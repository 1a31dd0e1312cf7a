#include "frugal/sparse/distribution.h"

#include "frugal/core/enum_names.h"
#include "frugal/core/rounding.h"

#include <c10/util/Exception.h>

#include <algorithm>
#include <cmath>
#include <numeric>

namespace frugal::sparse {

namespace {

constexpr core::EnumName<Distribution> kDistributionNames[] = {
    {Distribution::kUniform, "uniform"}, {Distribution::kER, "er"}, {Distribution::kERK, "erk"}};
constexpr const char* kDistributionWhat = "density distribution";

}  // namespace

Distribution parse_distribution(const std::string& name) {
  return core::parse_enum(kDistributionWhat, kDistributionNames, name);
}

std::string to_string(Distribution distribution) {
  return core::enum_name(kDistributionWhat, kDistributionNames, distribution);
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
  TORCH_CHECK(false, "invalid ", kDistributionWhat, " value ", static_cast<int>(distribution));
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

  // Largest remainder: the counts sum to the target exactly.
  return core::largest_remainder(share, sizes, target);
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
