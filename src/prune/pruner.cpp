#include "frugal/prune/pruner.h"

#include "frugal/core/seed.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>

namespace frugal::prune {

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
    case PruneMethod::kMagnitude:
      if (options_.one_shot()) return options_.final_remaining();
      [[fallthrough]];
    case PruneMethod::kMovement:
      if (pos < 0) return options_.initial_remaining();
      return schedule(options_.initial_remaining(), options_.final_remaining(), total)(pos);
    default: return 1.0;
  }
}

double Pruner::tau_at(int64_t pos, int64_t total) const {
  if (options_.method() != PruneMethod::kSoftMovement) return 0.0;
  if (pos < 0) return options_.initial_threshold();
  return schedule(options_.initial_threshold(), options_.final_threshold(), total)(pos);
}

double Pruner::lambda_at(int64_t pos, int64_t total) const {
  switch (options_.method()) {
    case PruneMethod::kSoftMovement:
      return regularizer_weight(options_.resolved_lambda(), tau_at(pos, total),
                                options_.final_threshold());
    case PruneMethod::kL0:
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
    case PruneMethod::kMagnitude: {
      if (options_.one_shot() && one_shot_taken_) {
        for (const auto& p : masks_.params()) masks.push_back(p.mask.clone());
        break;
      }
      std::vector<torch::Tensor> scores;
      for (const auto& l : layers_) scores.push_back(l.param.detach().abs());
      masks = top_v_masks(scores, v_at(pos, total), options_.selection());
      break;
    }
    case PruneMethod::kMovement: {
      std::vector<torch::Tensor> scores;
      for (const auto& l : layers_) scores.push_back(l.scores.detach());
      masks = top_v_masks(scores, v_at(pos, total), options_.selection());
      break;
    }
    case PruneMethod::kSoftMovement: {
      const double tau = tau_at(pos, total);
      for (const auto& l : layers_) masks.push_back(soft_movement_mask(l.scores, tau));
      break;
    }
    case PruneMethod::kL0:
      for (const auto& l : layers_) masks.push_back(l0_gate(l.scores.detach()));
      break;
  }
  for (size_t i = 0; i < masks.size(); ++i) masks[i] = masks[i].to(layers_[i].param.dtype());
  return masks;
}

std::vector<torch::Tensor> Pruner::train_masks(int64_t step, int64_t pos, int64_t total) {
  if (options_.method() != PruneMethod::kL0) return eval_masks(pos, total);
  constexpr double l = HardConcrete::l, r = HardConcrete::r, beta = HardConcrete::beta;
  // Keeps log(u) and log(1 - u) finite; the logistic noise is bounded by
  // +-13.8, far beyond where the gate saturates.
  constexpr double eps = 1e-6;
  std::vector<torch::Tensor> gates;
  for (size_t i = 0; i < layers_.size(); ++i) {
    const auto& scores = layers_[i].scores;
    // A stream per (step, layer), a pure function of the step: a resumed run
    // draws the same noise without saved generator state.
    auto generator = at::make_generator<at::CPUGeneratorImpl>(core::mix_seed(seed_, static_cast<uint64_t>(step), i));
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
      case PruneMethod::kMovement:
      case PruneMethod::kSoftMovement:
        *l.slot = masked_weight(l.param, l.scores, masks[i]);
        break;
      case PruneMethod::kMagnitude:
      case PruneMethod::kL0:
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
  if (method != PruneMethod::kSoftMovement && method != PruneMethod::kL0) return {};
  auto [pos, total] = position(info);
  // L0: the probability that a gate is non-zero, sigmoid(S - beta log(-l/r)).
  const double shift = method == PruneMethod::kL0
                           ? HardConcrete::beta * std::log(-HardConcrete::l / HardConcrete::r)
                           : 0.0;
  torch::Tensor sum;
  int64_t count = 0;
  for (const auto& l : layers_) {
    auto g = torch::sigmoid(l.scores - shift);
    auto term = options_.regularizer_norm() == RegularizerNorm::kPerTensor ? g.mean() : g.sum();
    sum = sum.defined() ? sum + term : term;
    count += options_.regularizer_norm() == RegularizerNorm::kPerTensor ? 1 : g.numel();
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
    case PruneMethod::kMagnitude:
    case PruneMethod::kMovement: j["target"] = v_at(last_pos_, last_total_); break;
    case PruneMethod::kSoftMovement:
      j["threshold"] = tau_at(last_pos_, last_total_);
      j["lambda"] = lambda_at(last_pos_, last_total_);
      break;
    case PruneMethod::kL0: j["lambda"] = lambda_at(last_pos_, last_total_); break;
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
