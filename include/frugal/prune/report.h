#pragma once
/// How many weights pruning left, per layer and in total: the numbers the
/// pruner logs and the export prints.

#include <torch/nn/module.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace frugal::prune {

/// Remaining weights of one pruned layer.
struct LayerRemaining {
  std::string name;
  int64_t kept = 0;
  int64_t total = 0;
  double share() const { return total > 0 ? static_cast<double>(kept) / total : 0.0; }
};

/// Remaining weights per pruned layer and in total (pruned layers only),
/// and the Linear and Conv weights the selection kept dense.
struct RemainingReport {
  std::vector<LayerRemaining> layers;
  int64_t kept = 0;
  int64_t total = 0;
  /// Weights kept dense (PruneOptions::dense, keep_head_dense), not in kept / total.
  std::vector<LayerRemaining> dense;
  double share() const { return total > 0 ? static_cast<double>(kept) / total : 0.0; }
  /// Remaining share over the pruned and the dense layers together.
  double overall_share() const;
  /// {"layers": {name: {"kept", "total", "share"}}, "kept", "total", "share"},
  /// plus "kept_dense": [names] and "overall_share" when layers were kept dense.
  nlohmann::json to_json() const;
  /// A Markdown table, one row per layer and a total row; dense layers and an
  /// overall row follow when there are any.
  std::string table() const;
};

/// Counts the non-zeros of the weights named `names` (full parameter names),
/// and of `dense` as the layers kept dense.
RemainingReport count_nonzero(torch::nn::Module& model, const std::vector<std::string>& names,
                              const std::vector<std::string>& dense = {});

}  // namespace frugal::prune
