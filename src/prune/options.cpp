#include "frugal/prune/options.h"

#include "frugal/core/enum_names.h"

#include <c10/util/Exception.h>

#include <cmath>

namespace frugal::prune {

namespace {

constexpr core::EnumName<PruneMethod> kMethodNames[] = {{PruneMethod::kMagnitude, "magnitude"},
                                                         {PruneMethod::kMovement, "movement"},
                                                         {PruneMethod::kSoftMovement, "soft_movement"},
                                                         {PruneMethod::kL0, "l0"}};
constexpr core::EnumName<PruneSelection> kSelectionNames[] = {{PruneSelection::kLocal, "local"},
                                                               {PruneSelection::kGlobal, "global"}};
constexpr core::EnumName<RegularizerNorm> kNormNames[] = {{RegularizerNorm::kPerTensor, "per_tensor"},
                                                           {RegularizerNorm::kPerWeight, "per_weight"}};
constexpr const char* kMethodWhat = "pruning method";
constexpr const char* kSelectionWhat = "pruning selection";
constexpr const char* kNormWhat = "regularizer normalization";

}  // namespace

PruneMethod parse_prune_method(const std::string& name) { return core::parse_enum(kMethodWhat, kMethodNames, name); }

PruneSelection parse_prune_selection(const std::string& name) {
  return core::parse_enum(kSelectionWhat, kSelectionNames, name);
}

RegularizerNorm parse_regularizer_norm(const std::string& name) {
  return core::parse_enum(kNormWhat, kNormNames, name);
}

std::string to_string(PruneMethod method) { return core::enum_name(kMethodWhat, kMethodNames, method); }

std::string to_string(PruneSelection selection) { return core::enum_name(kSelectionWhat, kSelectionNames, selection); }

std::string to_string(RegularizerNorm norm) { return core::enum_name(kNormWhat, kNormNames, norm); }

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
  TORCH_CHECK(!one_shot_ || method_ == PruneMethod::kMagnitude,
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
  return method_ == PruneMethod::kL0 ? 2.197 : 0.0;
}

double PruneOptions::resolved_lambda() const {
  if (lambda_) return *lambda_;
  switch (method_) {
    case PruneMethod::kSoftMovement: return 400.0;
    case PruneMethod::kL0: return 125.0;
    default: return 0.0;
  }
}

bool PruneOptions::learns_scores() const { return method_ != PruneMethod::kMagnitude; }

}  // namespace frugal::prune
