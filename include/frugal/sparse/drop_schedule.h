#pragma once
/// The drop fraction of dynamic sparse training over time: the share of each
/// layer's active weights a mask update drops.

#include <string>

namespace frugal::sparse {

/// How the drop fraction decays from alpha to 0 at t_end.
enum class DropSchedule {
  /// "cosine": f_t = (alpha / 2)(1 + cos(pi t / T_end)) (RigL, ITOP).
  kCosine,
  /// "linear": f_t = alpha (1 - t / T_end).
  kLinear,
  /// "constant": f_t = alpha (SET).
  kConstant,
};

/// "cosine", "linear" or "constant". Throws on any other name.
DropSchedule parse_drop_schedule(const std::string& name);
std::string to_string(DropSchedule schedule);

/// The share of each layer's active weights dropped at training progress
/// `progress` (share of training done, in [0, 1]); 0 from `t_end` on.
double drop_fraction_at(double alpha, DropSchedule schedule, double progress, double t_end);

}  // namespace frugal::sparse
