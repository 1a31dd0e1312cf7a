#include "frugal/prune/pruner.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <map>
#include <memory>
#include <sstream>

namespace frugal::prune {

// ---------------------------------------------------------------------------
// Names and options

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

// ---------------------------------------------------------------------------
// Top-v selection

int64_t kept_count(double v, int64_t n) {
  TORCH_CHECK(v >= 0.0 && v <= 1.0, "remaining share must be in [0, 1], got ", v);
  TORCH_CHECK(n >= 0, "weight count must be >= 0, got ", n);
  return std::llround(v * static_cast<double>(n));
}

namespace {

/// Top-`keep` of a CPU float or double vector. The mask is recomputed every
/// step, and ATen's kthvalue plus separate compare and count passes took a
/// third of a small MLP's step, so this selects in two passes over the data
/// (Floyd & Rivest, "Algorithm 489: SELECT", CACM 1975): a strided sample
/// brackets the threshold, one pass counts the scores below the bracket and
/// copies those inside it, std::nth_element finds the threshold within the
/// bracket, and a last pass writes the mask, keeping the lowest-indexed ties.
/// The result is exact whatever the sample; a bad bracket only costs a full
/// selection.
template <typename T>
void top_keep(const T* s, int64_t n, int64_t keep, bool* mask) {
  const int64_t rank = n - keep;  // 0-based rank of the threshold from the smallest
  T kth;
  int64_t above = 0;  // scores > kth
  auto full_select = [&] {
    std::vector<T> copy(s, s + n);
    std::nth_element(copy.begin(), copy.begin() + rank, copy.end());
    kth = copy[rank];
    above = 0;
    for (int64_t i = 0; i < n; ++i) above += s[i] > kth;
  };
  bool nan = false;
  for (int64_t i = 0; i < n; ++i) nan |= std::isnan(s[i]);
  TORCH_CHECK(!nan, "scores contain NaN");
  constexpr int64_t sample_size = 2048;
  if (n <= 4 * sample_size) {
    full_select();
  } else {
    std::vector<T> sample(sample_size);
    for (int64_t j = 0; j < sample_size; ++j) sample[j] = s[j * n / sample_size];
    std::sort(sample.begin(), sample.end());
    const int64_t at = rank * sample_size / n, margin = 128;
    const T lo = sample[std::max<int64_t>(0, at - margin)];
    const T hi = sample[std::min<int64_t>(sample_size - 1, at + margin)];
    // Branch-free: the comparisons are unpredictable, and mispredicted
    // branches made this pass slower than the selection it saves.
    std::unique_ptr<T[]> band(new T[n]);
    int64_t below = 0, in_band = 0;
    for (int64_t i = 0; i < n; ++i) {
      const T x = s[i];
      band[in_band] = x;
      in_band += static_cast<int64_t>(x >= lo) & static_cast<int64_t>(x <= hi);
      below += x < lo;
    }
    if (rank >= below && rank < below + in_band) {
      std::nth_element(band.get(), band.get() + (rank - below), band.get() + in_band);
      kth = band[rank - below];
      above = n - below - in_band;
      for (int64_t j = 0; j < in_band; ++j) above += band[j] > kth;
    } else {
      full_select();
    }
  }
  for (int64_t i = 0; i < n; ++i) mask[i] = s[i] > kth;
  for (int64_t i = 0, ties = keep - above; ties > 0; ++i) {
    if (s[i] == kth) {
      mask[i] = true;
      --ties;
    }
  }
}

}  // namespace

torch::Tensor top_v_mask(const torch::Tensor& scores, int64_t keep) {
  torch::NoGradGuard no_grad;
  const int64_t n = scores.numel();
  TORCH_CHECK(keep >= 0 && keep <= n, "cannot keep ", keep, " of ", n, " weights");
  auto flat = scores.detach().reshape({-1});
  auto bool_options = scores.options().dtype(torch::kBool);
  if (keep == n || keep == 0) {
    TORCH_CHECK(!flat.isnan().any().item<bool>(), "scores contain NaN");
    return keep == n ? torch::ones(scores.sizes(), bool_options)
                     : torch::zeros(scores.sizes(), bool_options);
  }
  if (flat.device().is_cpu() &&
      (flat.scalar_type() == torch::kFloat || flat.scalar_type() == torch::kDouble)) {
    auto values = flat.contiguous();
    auto mask = torch::empty({n}, bool_options);
    if (values.scalar_type() == torch::kFloat)
      top_keep(values.data_ptr<float>(), n, keep, mask.data_ptr<bool>());
    else
      top_keep(values.data_ptr<double>(), n, keep, mask.data_ptr<bool>());
    return mask.view(scores.sizes());
  }
  // Other dtypes and devices: the same rule with ATen operations.
  TORCH_CHECK(!flat.isnan().any().item<bool>(), "scores contain NaN");
  auto kth = std::get<0>(flat.kthvalue(n - keep + 1));
  auto mask = flat.gt(kth);
  const int64_t missing = keep - mask.sum().item<int64_t>();
  if (missing > 0) {
    // Equal scores at the threshold: the lowest flat indices win, so the
    // count is exact and the choice does not depend on the selection algorithm.
    auto ties = flat.eq(kth).nonzero().reshape({-1}).slice(0, 0, missing);
    mask.index_fill_(0, ties, true);
  }
  return mask.view(scores.sizes());
}

std::vector<torch::Tensor> top_v_masks(const std::vector<torch::Tensor>& scores, double v,
                                       PruneSelection selection) {
  std::vector<torch::Tensor> masks;
  masks.reserve(scores.size());
  if (selection == PruneSelection::local) {
    for (const auto& s : scores) masks.push_back(top_v_mask(s, kept_count(v, s.numel())));
    return masks;
  }
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> flat;
  flat.reserve(scores.size());
  for (const auto& s : scores) flat.push_back(s.detach().reshape({-1}));
  auto all = torch::cat(flat);
  auto mask = top_v_mask(all, kept_count(v, all.numel()));
  int64_t offset = 0;
  for (const auto& s : scores) {
    masks.push_back(mask.slice(0, offset, offset + s.numel()).view(s.sizes()));
    offset += s.numel();
  }
  return masks;
}

// ---------------------------------------------------------------------------
// Straight-through estimator

namespace {

class MaskedWeightFunction : public torch::autograd::Function<MaskedWeightFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& weight,
                               const torch::Tensor& scores, const torch::Tensor& mask) {
    ctx->save_for_backward({weight, mask});
    return weight * mask;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_output) {
    auto saved = ctx->get_saved_variables();
    const auto& grad = grad_output[0];
    // The mask is treated as the identity of the scores (straight through):
    // dL/dS = dL/dM = dL/dW' * W, for masked and kept weights alike.
    return {grad * saved[1], grad * saved[0], torch::Tensor()};
  }
};

}  // namespace

torch::Tensor masked_weight(const torch::Tensor& weight, const torch::Tensor& scores,
                            const torch::Tensor& mask) {
  TORCH_CHECK(weight.sizes() == scores.sizes(), "scores have shape ", scores.sizes(),
              ", the weight has ", weight.sizes());
  TORCH_CHECK(weight.sizes() == mask.sizes(), "mask has shape ", mask.sizes(),
              ", the weight has ", weight.sizes());
  TORCH_CHECK(!mask.requires_grad(), "the mask must be a constant (no gradient)");
  return MaskedWeightFunction::apply(weight, scores, mask.to(weight.dtype()));
}

// ---------------------------------------------------------------------------
// Reports

double RemainingReport::overall_share() const {
  int64_t all_kept = kept, all = total;
  for (const auto& d : dense) {
    all_kept += d.kept;
    all += d.total;
  }
  return all > 0 ? static_cast<double>(all_kept) / static_cast<double>(all) : 0.0;
}

nlohmann::json RemainingReport::to_json() const {
  nlohmann::json j;
  j["layers"] = nlohmann::json::object();
  for (const auto& l : layers)
    j["layers"][l.name] = {{"kept", l.kept}, {"total", l.total}, {"share", l.share()}};
  j["kept"] = kept;
  j["total"] = total;
  j["share"] = share();
  if (!dense.empty()) {
    j["kept_dense"] = nlohmann::json::array();
    for (const auto& d : dense) j["kept_dense"].push_back(d.name);
    j["overall_share"] = overall_share();
  }
  return j;
}

std::string RemainingReport::table() const {
  std::ostringstream out;
  out << "| layer | kept | total | remaining |\n|---|---:|---:|---:|\n";
  auto row = [&out](const std::string& name, int64_t k, int64_t n, double share) {
    out << "| " << name << " | " << k << " | " << n << " | " << std::fixed << std::setprecision(2)
        << 100.0 * share << "% |\n";
  };
  for (const auto& l : layers) row(l.name, l.kept, l.total, l.share());
  row("total", kept, total, share());
  if (dense.empty()) return out.str();
  int64_t all_kept = kept, all = total;
  for (const auto& d : dense) {
    row(d.name + " (kept dense)", d.kept, d.total, d.share());
    all_kept += d.kept;
    all += d.total;
  }
  row("overall", all_kept, all, overall_share());
  return out.str();
}

RemainingReport count_nonzero(torch::nn::Module& model, const std::vector<std::string>& names,
                              const std::vector<std::string>& dense) {
  torch::NoGradGuard no_grad;
  auto params = model.named_parameters();
  auto count = [&params](const std::string& name) {
    const torch::Tensor* p = params.find(name);
    TORCH_CHECK(p != nullptr, "model has no parameter named '", name, "'");
    return LayerRemaining{name, p->ne(0).sum().item<int64_t>(), p->numel()};
  };
  RemainingReport report;
  for (const auto& name : names) {
    auto l = count(name);
    report.kept += l.kept;
    report.total += l.total;
    report.layers.push_back(std::move(l));
  }
  for (const auto& name : dense) report.dense.push_back(count(name));
  return report;
}

// ---------------------------------------------------------------------------
// Pruner

namespace {

/// The member that forward() reads, for the module types the mask layer selects.
torch::Tensor* weight_slot(torch::nn::Module& m) {
  if (auto* l = dynamic_cast<torch::nn::LinearImpl*>(&m)) return &l->weight;
  if (auto* c = dynamic_cast<torch::nn::Conv1dImpl*>(&m)) return &c->weight;
  if (auto* c = dynamic_cast<torch::nn::Conv2dImpl*>(&m)) return &c->weight;
  if (auto* c = dynamic_cast<torch::nn::Conv3dImpl*>(&m)) return &c->weight;
  return nullptr;
}

std::string weight_name(const std::string& module_name) {
  return module_name.empty() ? "weight" : module_name + ".weight";
}

/// At least 0.5% of each tensor stays, as the reference's ThresholdBinarizer:
/// floor(0.005 n) + 1 weights, so strictly more than 0.5%.
int64_t soft_minimum(int64_t n) { return std::min(n, n / 200 + 1); }

torch::Tensor soft_movement_mask(const torch::Tensor& scores, double tau) {
  torch::NoGradGuard no_grad;
  auto mask = torch::sigmoid(scores.detach()).gt(tau);
  const int64_t minimum = soft_minimum(scores.numel());
  if (mask.sum().item<int64_t>() < minimum) mask = top_v_mask(scores, minimum);
  return mask;
}

/// Deterministic hard-concrete gate: the stretched sigmoid, clamped.
torch::Tensor l0_gate(const torch::Tensor& scores) {
  constexpr double l = HardConcrete::l, r = HardConcrete::r;
  return torch::clamp(torch::sigmoid(scores) * (r - l) + l, 0.0, 1.0);
}

uint64_t mix_seed(uint64_t seed, int64_t step, size_t layer) {
  // splitmix64 finalizer over the three inputs: neighbouring steps and
  // layers get unrelated streams, and the stream is a pure function of the
  // step, so a resumed run draws the same noise without saved RNG state.
  uint64_t z = seed ^ (static_cast<uint64_t>(step) * 0x9E3779B97F4A7C15ULL) ^
               (static_cast<uint64_t>(layer) * 0xD1B54A32D192ED03ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

bool holds(torch::optim::Optimizer& optimizer, const torch::Tensor& t) {
  for (const auto& group : optimizer.param_groups())
    for (const auto& p : group.params())
      if (p.unsafeGetTensorImpl() == t.unsafeGetTensorImpl()) return true;
  return false;
}

}  // namespace

Pruner::Pruner(torch::nn::Module& model, PruneOptions options)
    : model_(model), options_(std::move(options)) {
  options_.validate();
  sparse::MaskSelection selection;
  selection.include = options_.include();
  selection.dense = options_.dense();
  selection.keep_head_dense = options_.keep_head_dense();
  std::map<std::string, torch::Tensor*> slots;
  for (const auto& [module_name, module] : sparse::modules_of(model_))
    if (torch::Tensor* slot = weight_slot(*module)) slots[weight_name(module_name)] = slot;
  masks_ = sparse::MaskSet(model_, selection);

  const double init = options_.resolved_score_init();
  for (const auto& p : masks_.params()) {
    Layer layer;
    auto it = slots.find(p.name);
    TORCH_CHECK(it != slots.end(), "no Linear or Conv module holds '", p.name, "'");
    layer.slot = it->second;
    layer.param = p.weight;
    if (options_.learns_scores()) {
      layer.scores = torch::full(p.weight.sizes(), init, p.weight.options().requires_grad(false));
      layer.scores.set_requires_grad(true);
    }
    layers_.push_back(std::move(layer));
  }
  if (options_.total_steps() > 0) last_total_ = options_.total_steps();
}

void Pruner::check_not_baked(const char* what) const {
  TORCH_CHECK(!baked_, "pruner.", what, "() called after bake(): the masks are already folded in");
}

std::pair<int64_t, int64_t> Pruner::position(const core::StepInfo& info) const {
  info.validate("pruner");
  if (options_.total_steps() > 0) return {info.step, options_.total_steps()};
  return {std::llround(info.progress * static_cast<double>(info.planned_steps)),
          info.planned_steps};
}

CubicSchedule Pruner::schedule(double initial, double final, int64_t total) const {
  CubicSchedule s;
  s.initial = initial;
  s.final = final;
  s.total = total;
  s.warmup = std::llround(options_.warmup() * static_cast<double>(total));
  s.cooldown = std::llround(options_.cooldown() * static_cast<double>(total));
  return s;
}

double Pruner::v_at(int64_t pos, int64_t total) const {
  switch (options_.method()) {
    case PruneMethod::magnitude:
      if (options_.one_shot()) return options_.final_remaining();
      [[fallthrough]];
    case PruneMethod::movement:
      if (pos < 0) return options_.initial_remaining();
      return schedule(options_.initial_remaining(), options_.final_remaining(), total)(pos);
    default: return 1.0;
  }
}

double Pruner::tau_at(int64_t pos, int64_t total) const {
  if (options_.method() != PruneMethod::soft_movement) return 0.0;
  if (pos < 0) return options_.initial_threshold();
  return schedule(options_.initial_threshold(), options_.final_threshold(), total)(pos);
}

double Pruner::lambda_at(int64_t pos, int64_t total) const {
  switch (options_.method()) {
    case PruneMethod::soft_movement:
      return regularizer_weight(options_.resolved_lambda(), tau_at(pos, total),
                                options_.final_threshold());
    case PruneMethod::l0:
      // The reference schedules 1 -> 1 for L0, so its lambda is constant.
      return options_.resolved_lambda();
    default: return 0.0;
  }
}

double Pruner::target_remaining(const core::StepInfo& info) const {
  auto [pos, total] = position(info);
  return v_at(pos, total);
}

double Pruner::threshold(const core::StepInfo& info) const {
  auto [pos, total] = position(info);
  return tau_at(pos, total);
}

double Pruner::lambda(const core::StepInfo& info) const {
  auto [pos, total] = position(info);
  return lambda_at(pos, total);
}

std::vector<torch::Tensor> Pruner::eval_masks(int64_t pos, int64_t total) const {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> masks;
  switch (options_.method()) {
    case PruneMethod::magnitude: {
      if (options_.one_shot() && one_shot_taken_) {
        for (const auto& p : masks_.params()) masks.push_back(p.mask.clone());
        break;
      }
      std::vector<torch::Tensor> scores;
      for (const auto& l : layers_) scores.push_back(l.param.detach().abs());
      masks = top_v_masks(scores, v_at(pos, total), options_.selection());
      break;
    }
    case PruneMethod::movement: {
      std::vector<torch::Tensor> scores;
      for (const auto& l : layers_) scores.push_back(l.scores.detach());
      masks = top_v_masks(scores, v_at(pos, total), options_.selection());
      break;
    }
    case PruneMethod::soft_movement: {
      const double tau = tau_at(pos, total);
      for (const auto& l : layers_) masks.push_back(soft_movement_mask(l.scores, tau));
      break;
    }
    case PruneMethod::l0:
      for (const auto& l : layers_) masks.push_back(l0_gate(l.scores.detach()));
      break;
  }
  for (size_t i = 0; i < masks.size(); ++i) masks[i] = masks[i].to(layers_[i].param.dtype());
  return masks;
}

std::vector<torch::Tensor> Pruner::train_masks(int64_t step, int64_t pos, int64_t total) {
  if (options_.method() != PruneMethod::l0) return eval_masks(pos, total);
  constexpr double l = HardConcrete::l, r = HardConcrete::r, beta = HardConcrete::beta;
  // Keeps log(u) and log(1 - u) finite; the logistic noise is bounded by
  // +-13.8, far beyond where the gate saturates.
  constexpr double eps = 1e-6;
  std::vector<torch::Tensor> gates;
  for (size_t i = 0; i < layers_.size(); ++i) {
    const auto& scores = layers_[i].scores;
    auto generator = at::make_generator<at::CPUGeneratorImpl>(mix_seed(seed_, step, i));
    auto u = torch::rand(scores.sizes(), generator, scores.options().requires_grad(false));
    u = u * (1.0 - 2.0 * eps) + eps;  // scaled, not clamped: no point masses at the ends
    auto s = torch::sigmoid((torch::logit(u) + scores) / beta);
    gates.push_back(torch::clamp(s * (r - l) + l, 0.0, 1.0));
  }
  return gates;
}

void Pruner::store_masks(const std::vector<torch::Tensor>& masks) {
  torch::NoGradGuard no_grad;
  auto& params = masks_.params();
  for (size_t i = 0; i < params.size(); ++i) params[i].mask.copy_(masks[i].ne(0));
}

void Pruner::take_one_shot() {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> scores;
  for (const auto& l : layers_) scores.push_back(l.param.detach().abs());
  store_masks(top_v_masks(scores, options_.final_remaining(), options_.selection()));
  one_shot_taken_ = true;
}

void Pruner::on_train_begin(core::TrainContext& context) {
  check_not_baked("on_train_begin");
  TORCH_CHECK(context.model == nullptr || context.model == &model_,
              "the pruner was built on another model than the one being trained");
  seed_ = context.seed;
  if (options_.one_shot() && !one_shot_taken_) take_one_shot();
  if (context.optimizer != nullptr && options_.learns_scores() &&
      !holds(*context.optimizer, layers_.front().scores))
    add_score_group(*context.optimizer);
}

void Pruner::before_forward(bool training, const core::StepInfo& info) {
  check_not_baked("before_forward");
  auto [pos, total] = position(info);
  last_pos_ = pos;
  last_total_ = total;
  if (options_.one_shot() && !one_shot_taken_) take_one_shot();
  if (!training) {
    torch::NoGradGuard no_grad;
    auto masks = eval_masks(pos, total);
    for (size_t i = 0; i < layers_.size(); ++i)
      *layers_[i].slot = layers_[i].param.detach() * masks[i];
    return;
  }
  auto masks = train_masks(info.step, pos, total);
  for (size_t i = 0; i < layers_.size(); ++i) {
    Layer& l = layers_[i];
    switch (options_.method()) {
      case PruneMethod::movement:
      case PruneMethod::soft_movement:
        *l.slot = masked_weight(l.param, l.scores, masks[i]);
        break;
      case PruneMethod::magnitude:
      case PruneMethod::l0:
        // For L0 the gate itself carries the gradient to the scores.
        *l.slot = l.param * masks[i];
        break;
    }
  }
  // masks_ is not refreshed here: remaining(), masks() and save() compute
  // the deterministic masks when asked, which also covers sampled L0 gates.
}

torch::Tensor Pruner::regularizer(const core::StepInfo& info) {
  check_not_baked("regularizer");
  info.validate("pruner");
  const auto method = options_.method();
  if (method != PruneMethod::soft_movement && method != PruneMethod::l0) return {};
  auto [pos, total] = position(info);
  // L0: the probability that a gate is non-zero, sigmoid(S - beta log(-l/r)).
  const double shift = method == PruneMethod::l0
                           ? HardConcrete::beta * std::log(-HardConcrete::l / HardConcrete::r)
                           : 0.0;
  torch::Tensor sum;
  int64_t count = 0;
  for (const auto& l : layers_) {
    auto g = torch::sigmoid(l.scores - shift);
    auto term = options_.regularizer_norm() == RegularizerNorm::per_tensor ? g.mean() : g.sum();
    sum = sum.defined() ? sum + term : term;
    count += options_.regularizer_norm() == RegularizerNorm::per_tensor ? 1 : g.numel();
  }
  return lambda_at(pos, total) * (sum / static_cast<double>(count));
}

void Pruner::after_step(const core::StepInfo& info) {
  info.validate("pruner");
  for (auto& l : layers_)
    if (l.scores.defined() && l.scores.grad().defined()) l.scores.mutable_grad().reset();
}

nlohmann::json Pruner::status() {
  nlohmann::json j;
  j["method"] = to_string(options_.method());
  auto report = remaining();
  j["remaining"] = report.share();
  j["layers"] = nlohmann::json::object();
  for (const auto& l : report.layers) j["layers"][l.name] = l.share();
  if (!report.dense.empty()) {
    // Said out loud: "remaining" covers the pruned layers only.
    j["kept_dense"] = nlohmann::json::array();
    for (const auto& d : report.dense) j["kept_dense"].push_back(d.name);
    j["overall_share"] = report.overall_share();
  }
  if (last_pos_ >= 0) j["step"] = last_pos_;
  switch (options_.method()) {
    case PruneMethod::magnitude:
    case PruneMethod::movement: j["target"] = v_at(last_pos_, last_total_); break;
    case PruneMethod::soft_movement:
      j["threshold"] = tau_at(last_pos_, last_total_);
      j["lambda"] = lambda_at(last_pos_, last_total_);
      break;
    case PruneMethod::l0: j["lambda"] = lambda_at(last_pos_, last_total_); break;
  }
  return j;
}

void Pruner::on_epoch_end(int64_t epoch, nlohmann::json& record) { record["prune"] = status(); }

void Pruner::on_train_end(nlohmann::json& summary) { summary["prune"] = status(); }

std::vector<torch::Tensor> Pruner::score_parameters() const {
  std::vector<torch::Tensor> scores;
  for (const auto& l : layers_)
    if (l.scores.defined()) scores.push_back(l.scores);
  return scores;
}

void Pruner::add_score_group(torch::optim::Optimizer& optimizer) const {
  check_not_baked("add_score_group");
  auto scores = score_parameters();
  if (scores.empty()) return;
  TORCH_CHECK(!optimizer.param_groups().empty(),
              "the optimizer has no parameter group to copy the score group's options from");
  auto options = optimizer.param_groups().front().options().clone();
  options->set_lr(options_.score_lr());
  // Decay would pull every score towards 0, i.e. towards "undecided"; the
  // reference's score group has none.
  if (auto* o = dynamic_cast<torch::optim::AdamOptions*>(options.get())) o->weight_decay(0.0);
  if (auto* o = dynamic_cast<torch::optim::AdamWOptions*>(options.get())) o->weight_decay(0.0);
  if (auto* o = dynamic_cast<torch::optim::SGDOptions*>(options.get())) o->weight_decay(0.0);
  if (auto* o = dynamic_cast<torch::optim::RMSpropOptions*>(options.get())) o->weight_decay(0.0);
  if (auto* o = dynamic_cast<torch::optim::AdagradOptions*>(options.get())) o->weight_decay(0.0);
  optimizer.add_param_group(torch::optim::OptimizerParamGroup(scores, std::move(options)));
}

std::vector<std::string> Pruner::pruned_names() const {
  std::vector<std::string> names;
  for (const auto& p : masks_.params()) names.push_back(p.name);
  return names;
}

RemainingReport Pruner::remaining() {
  if (baked_) return count_nonzero(model_, pruned_names(), masks_.kept_dense());
  store_masks(eval_masks(last_pos_, last_total_));
  RemainingReport report = count_nonzero(model_, {}, masks_.kept_dense());
  for (const auto& p : masks_.params()) {
    LayerRemaining l{p.name, p.active(), p.numel()};
    report.kept += l.kept;
    report.total += l.total;
    report.layers.push_back(std::move(l));
  }
  return report;
}

const sparse::MaskSet& Pruner::masks() {
  if (!baked_) store_masks(eval_masks(last_pos_, last_total_));
  return masks_;
}

void Pruner::restore() {
  for (auto& l : layers_) *l.slot = l.param;
}

RemainingReport Pruner::bake() {
  check_not_baked("bake");
  TORCH_CHECK(last_pos_ >= 0 || options_.one_shot(), "pruner.bake() before any training step: ",
              to_string(options_.method()),
              " pruning follows its schedule from the steps, and none was taken, so nothing "
              "would be pruned; train first (or, for magnitude pruning, set one_shot to prune "
              "to final_remaining at once)");
  auto masks = eval_masks(last_pos_, last_total_);
  {
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < layers_.size(); ++i) layers_[i].param.mul_(masks[i]);
  }
  store_masks(masks);
  restore();
  for (auto& l : layers_) l.scores = torch::Tensor();
  baked_ = true;
  return count_nonzero(model_, pruned_names(), masks_.kept_dense());
}

void Pruner::save(torch::serialize::OutputArchive& archive) const {
  archive.write("method", torch::tensor(static_cast<int64_t>(options_.method())), true);
  archive.write("position", torch::tensor({last_pos_, last_total_}), true);
  archive.write("one_shot_taken", torch::tensor(static_cast<int64_t>(one_shot_taken_)), true);
  archive.write("baked", torch::tensor(static_cast<int64_t>(baked_)), true);
  for (size_t i = 0; i < layers_.size(); ++i)
    if (layers_[i].scores.defined())
      archive.write("scores." + masks_.params()[i].name, layers_[i].scores.detach(), true);
  // The masks are written as the deterministic ones at the last position,
  // on a copy so that save() leaves the pruner untouched.
  sparse::MaskSet snapshot = masks_;
  if (!baked_) {
    auto masks = eval_masks(last_pos_, last_total_);
    for (size_t i = 0; i < masks.size(); ++i) snapshot.params()[i].mask = masks[i].ne(0);
  }
  snapshot.save(archive, "mask.");
}

void Pruner::load(torch::serialize::InputArchive& archive) {
  check_not_baked("load");
  auto read = [&archive](const std::string& key) {
    torch::Tensor t;
    TORCH_CHECK(archive.try_read(key, t, true), "pruner checkpoint has no '", key, "'");
    return t;
  };
  const auto method = static_cast<PruneMethod>(read("method").item<int64_t>());
  TORCH_CHECK(method == options_.method(), "pruner checkpoint was written by a ",
              to_string(method), " pruner, this one is ", to_string(options_.method()));
  TORCH_CHECK(read("baked").item<int64_t>() == 0,
              "pruner checkpoint was written after bake(); it holds no scores to resume from");
  auto position = read("position");
  {
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < layers_.size(); ++i) {
      if (!layers_[i].scores.defined()) continue;
      const auto& name = masks_.params()[i].name;
      auto s = read("scores." + name);
      TORCH_CHECK(s.sizes() == layers_[i].scores.sizes(), "scores for '", name, "' have shape ",
                  s.sizes(), ", the weight has ", layers_[i].scores.sizes());
      layers_[i].scores.copy_(s);
    }
  }
  masks_.load(archive, "mask.");
  last_pos_ = position[0].item<int64_t>();
  last_total_ = position[1].item<int64_t>();
  one_shot_taken_ = read("one_shot_taken").item<int64_t>() != 0;
}

}  // namespace frugal::prune
