#pragma once
/// The cubic pruning schedule with warm-up and cool-down, and the
/// regularization weight that ramps with it.
///
/// Zhu & Gupta, "To prune, or not to prune: exploring the efficacy of pruning
/// for model compression", 2017 (automated gradual pruning, AGP/GMP), with
/// the warm-up and cool-down of Sanh, Wolf & Rush, "Movement Pruning:
/// Adaptive Sparsity by Fine-Tuning", NeurIPS 2020 (reference code:
/// `schedule_threshold` in movement-pruning/masked_run_glue.py).
///
/// Pure functions of the step: trivial to test, nothing to checkpoint.

#include <c10/util/Exception.h>

#include <cmath>
#include <cstdint>

namespace frugal::prune {

/// A quantity that moves from `initial` to `final` along a cubic: the
/// remaining share v of top-v methods (1.0 -> 0.1), or the threshold tau of
/// soft movement (0 -> 0.1). With w_i = warmup, w_f = cooldown, T = total:
///
///     step <= w_i:        initial
///     step >  T - w_f:    final
///     otherwise:          k = 1 - (step - w_i) / (T - w_i - w_f)
///                         final + (initial - final) * k^3
///
/// The value is continuous: it is `initial` at step w_i and `final` at step
/// T - w_f. It moves fast first and slowly at the end, when the network has
/// fewer weights left to recover with.
struct CubicSchedule {
  /// Value up to and including step `warmup`. Default 1.0 (nothing pruned).
  double initial = 1.0;
  /// Value after step `total - cooldown`. Default 0.1.
  double final = 0.1;
  /// Steps held at `initial` (w_i). Default 0.
  int64_t warmup = 0;
  /// Steps held at `final` at the end of training (w_f). Default 0.
  int64_t cooldown = 0;
  /// Steps of the whole run (T). Default 1.
  int64_t total = 1;

  /// Throws when the ramp has no room: it needs T - w_i - w_f > 0.
  void validate() const {
    TORCH_CHECK(warmup >= 0, "schedule warm-up must be >= 0 steps, got ", warmup);
    TORCH_CHECK(cooldown >= 0, "schedule cool-down must be >= 0 steps, got ", cooldown);
    TORCH_CHECK(total - warmup - cooldown > 0,
                "schedule has no steps left to ramp: total ", total, " - warm-up ", warmup,
                " - cool-down ", cooldown, " must be > 0");
  }

  /// The value at `step` (0-based optimizer step, or its progress equivalent).
  double operator()(int64_t step) const {
    validate();
    TORCH_CHECK(step >= 0, "schedule step must be >= 0, got ", step);
    if (step <= warmup) return initial;
    if (step > total - cooldown) return final;
    const double k = 1.0 - static_cast<double>(step - warmup) /
                               static_cast<double>(total - warmup - cooldown);
    return final + (initial - final) * k * k * k;
  }
};

/// The regularization weight at a point of the schedule:
/// lambda_t = lambda_final * value_t / value_final, as the reference does.
///
/// `value` is the scheduled quantity of the method. For soft movement it is
/// the threshold tau (0 -> tau_f), so lambda ramps up from 0 to lambda_final
/// together with tau. For L0 the reference schedules a constant 1 -> 1, so
/// lambda stays at lambda_final. Note that for a quantity that decreases (the
/// remaining share v of top-v methods, v_i > v_f) this formula makes lambda
/// start at lambda_final * v_i / v_f and decrease to lambda_final; no method
/// here combines top-v with a regularizer, so that case does not arise.
inline double regularizer_weight(double lambda_final, double value, double final_value) {
  TORCH_CHECK(final_value != 0.0,
              "regularizer weight needs a non-zero final scheduled value, got ", final_value);
  return lambda_final * value / final_value;
}

}  // namespace frugal::prune
