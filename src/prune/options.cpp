#include "frugal/prune/options.h"

#include <c10/util/Exception.h>

#include <cmath>

namespace frugal::prune {

PruneMethod parse_prune_method(const std::string& name) {
  if (name == "magnitude") return PruneMethod::magnitude;
  if (name == "movement") return PruneMethod::movement;
  if (name == "soft_movement") return PruneMethod::soft_movement;
  if (name == "l0") return PruneMethod::l0;
  TORCH_CHECK(false, "unknown pruning method '", name,
              "' (expected magnitude, movement, soft_movement or l0)");
}

PruneSelection parse_prune_selection(const std::string& name) {
  if (name == "local") return PruneSelection::local;
  if (name == "global") return PruneSelection::global;
  TORCH_CHECK(false, "unknown pruning selection '", name, "' (expected local or global)");
}

RegularizerNorm parse_regularizer_norm(const std::string& name) {
  if (name == "per_tensor") return RegularizerNorm::per_tensor;
  if (name == "per_weight") return RegularizerNorm::per_weight;
  TORCH_CHECK(false, "unknown regularizer normalization '", name,
              "' (expected per_tensor or per_weight)");
}

std::string to_string(PruneMethod method) {
  switch (method) {
    case PruneMethod::magnitude: return "magnitude";
    case PruneMethod::movement: return "movement";
    case PruneMethod::soft_movement: return "soft_movement";
    case PruneMethod::l0: return "l0";
  }
  TORCH_CHECK(false, "unknown pruning method value ", static_cast<int>(method));
}

std::string to_string(PruneSelection selection) {
  switch (selection) {
    case PruneSelection::local: return "local";
    case PruneSelection::global: return "global";
  }
  TORCH_CHECK(false, "unknown pruning selection value ", static_cast<int>(selection));
}

std::string to_string(RegularizerNorm norm) {
  switch (norm) {
    case RegularizerNorm::per_tensor: return "per_tensor";
    case RegularizerNorm::per_weight: return "per_weight";
  }
  TORCH_CHECK(false, "unknown regularizer normalization value ", static_cast<int>(norm));
}

void PruneOptions::validate() const {
  to_string(method_);  // rejects a value outside the enum
  to_string(selection_);
  to_string(regularizer_norm_);
  TORCH_CHECK(initial_remaining_ > 0.0 && initial_remaining_ <= 1.0,
              "initial remaining share must be in (0, 1], got ", initial_remaining_);
  TORCH_CHECK(final_remaining_ > 0.0 && final_remaining_ <= 1.0,
              "final remaining share must be in (0, 1], got ", final_remaining_);
  TORCH_CHECK(final_remaining_ <= initial_remaining_, "final remaining share ", final_remaining_,
              " exceeds the initial remaining share ", initial_remaining_);
  TORCH_CHECK(warmup_ >= 0.0 && warmup_ < 1.0, "pruning warm-up share must be in [0, 1), got ",
              warmup_);
  TORCH_CHECK(cooldown_ >= 0.0 && cooldown_ < 1.0,
              "pruning cool-down share must be in [0, 1), got ", cooldown_);
  TORCH_CHECK(warmup_ + cooldown_ < 1.0, "pruning warm-up ", warmup_, " + cool-down ", cooldown_,
              " leave no share of training for the schedule (their sum must be < 1)");
  TORCH_CHECK(total_steps_ >= 0, "pruning total steps must be >= 0 (0: planned steps), got ",
              total_steps_);
  TORCH_CHECK(!one_shot_ || method_ == PruneMethod::magnitude,
              "one_shot applies to magnitude pruning only, the method is ", to_string(method_));
  TORCH_CHECK(score_lr_ > 0.0 && std::isfinite(score_lr_),
              "score learning rate must be > 0, got ", score_lr_);
  if (score_init_) {
    TORCH_CHECK(std::isfinite(*score_init_), "score init must be finite, got ", *score_init_);
  }
  TORCH_CHECK(initial_threshold_ >= 0.0 && initial_threshold_ < 1.0,
              "soft movement initial threshold must be in [0, 1), got ", initial_threshold_);
  TORCH_CHECK(final_threshold_ > 0.0 && final_threshold_ < 1.0,
              "soft movement final threshold must be in (0, 1), got ", final_threshold_);
  if (lambda_) {
    TORCH_CHECK(*lambda_ >= 0.0 && std::isfinite(*lambda_),
                "regularization lambda must be >= 0, got ", *lambda_);
  }
}

double PruneOptions::resolved_score_init() const {
  if (score_init_) return *score_init_;
  return method_ == PruneMethod::l0 ? 2.197 : 0.0;
}

double PruneOptions::resolved_lambda() const {
  if (lambda_) return *lambda_;
  switch (method_) {
    case PruneMethod::soft_movement: return 400.0;
    case PruneMethod::l0: return 125.0;
    default: return 0.0;
  }
}

bool PruneOptions::learns_scores() const { return method_ != PruneMethod::magnitude; }

}  // namespace frugal::prune
