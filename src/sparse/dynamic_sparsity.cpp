#include "frugal/sparse/dynamic_sparsity.h"

#include "compact_layers.h"
#include "frugal/core/enum_names.h"
#include "selection.h"

#include <torch/torch.h>

#include <chrono>
#include <cmath>

namespace frugal::sparse {

namespace {

// Canonical names first: to_string() prints those.
constexpr core::EnumName<SparseMethod> kMethodNames[] = {
    {SparseMethod::kStatic, "static"},     {SparseMethod::kRandom, "random"},
    {SparseMethod::kRandom, "set"},        {SparseMethod::kGradient, "gradient"},
    {SparseMethod::kGradient, "rigl"},     {SparseMethod::kMomentum, "momentum"},
    {SparseMethod::kMomentum, "snfs"},     {SparseMethod::kRandomUnfired, "random_unfired"}};
constexpr const char* kMethodWhat = "sparse training method";

}  // namespace

SparseMethod parse_sparse_method(const std::string& name) { return core::parse_enum(kMethodWhat, kMethodNames, name); }

std::string to_string(SparseMethod method) { return core::enum_name(kMethodWhat, kMethodNames, method); }

void DynamicSparsityOptions::validate() const {
  TORCH_CHECK(density_ > 0.0 && density_ <= 1.0, "sparse density must be in (0, 1], got ",
              density_);
  TORCH_CHECK(drop_fraction_ >= 0.0 && drop_fraction_ <= 1.0,
              "sparse drop_fraction must be in [0, 1], got ", drop_fraction_);
  TORCH_CHECK(update_interval_ >= 1, "sparse update_interval (delta_t) must be >= 1, got ",
              update_interval_);
  TORCH_CHECK(t_end_ > 0.0 && t_end_ <= 1.0, "sparse t_end must be in (0, 1], got ", t_end_);
  TORCH_CHECK(momentum_ >= 0.0 && momentum_ < 1.0, "sparse momentum must be in [0, 1), got ",
              momentum_);
  // Round-trip the enums so a value cast from a bad integer is caught here.
  (void)to_string(distribution_);
  (void)to_string(method_);
  (void)to_string(schedule_);
}

namespace {

constexpr const char* kMaskKey = "mask/";
constexpr const char* kUnionKey = "union/";
constexpr const char* kMomentumKey = "momentum/";
constexpr const char* kRngKey = "rng";
constexpr const char* kUpdatesKey = "updates";

}  // namespace

DynamicSparsity::DynamicSparsity(DynamicSparsityOptions options) : options_(std::move(options)) {
  options_.validate();
}

std::string DynamicSparsity::name() const { return "sparse"; }

void DynamicSparsity::on_train_begin(core::TrainContext& context) {
  TORCH_CHECK(context.model != nullptr, "sparse training needs the model in the TrainContext");
  context_ = context;  // a copy: attach() passes a temporary
  started_ = true;
  MaskSelection selection;
  selection.include = options_.include();
  selection.dense = options_.dense_layers();
  selection.keep_head_dense = options_.keep_head_dense();
  masks_ = MaskSet(*context.model, selection);
  for (const auto& p : masks_.params()) (void)flat(p.weight);

  const auto counts = layer_active_counts(masks_, options_.density(), options_.distribution());
  rng_ = Rng(options_.seed().value_or(context.seed));
  init_random_masks(masks_, counts, rng_);
  weights_pending_ = true;

  frozen_.assign(masks_.size(), false);
  external_.assign(masks_.size(), false);
  union_.clear();
  momentum_.clear();
  dense_grad_.clear();
  momentum_pending_ = false;
  for (size_t i = 0; i < masks_.size(); ++i) {
    const auto& p = masks_.params()[i];
    frozen_[i] = counts[i] == p.numel();
    union_.push_back(p.mask.clone());
    if (options_.method() == SparseMethod::kMomentum)
      momentum_.push_back(torch::zeros_like(p.weight, torch::MemoryFormat::Contiguous));
  }
  kernel_layers_ = find_kernel_layers(*context.model, masks_, frozen_, options_.kernel());
  start_compact_layers();
  updates_ = 0;
  last_update_ = MaskUpdateRecord();
  if (!loaded_.empty()) apply_loaded();
}

void DynamicSparsity::set_external(size_t index) {
  TORCH_CHECK(started_, "DynamicSparsity::set_external called before on_train_begin (or attach)");
  TORCH_CHECK(index < masks_.size(), "DynamicSparsity::set_external: index ", index, " out of range (",
              masks_.size(), " masked weights)");
  external_[index] = true;
}

bool DynamicSparsity::is_update_step(const core::StepInfo& info) const {
  return options_.method() != SparseMethod::kStatic &&
         (info.step + 1) % options_.update_interval() == 0 && info.progress < options_.t_end();
}

double DynamicSparsity::drop_fraction(const core::StepInfo& info) const {
  if (options_.method() == SparseMethod::kStatic) return 0.0;
  return drop_fraction_at(options_.drop_fraction(), options_.schedule(), info.progress,
                          options_.t_end());
}

void DynamicSparsity::mask_weights_if_pending() {
  if (!weights_pending_) return;
  masks_.apply_to_weights();
  // The weights are the truth here (fresh, or just loaded), and so is the
  // optimizer state of the values (none yet, or loaded for these masks).
  set_kernel_patterns(/*remap_state=*/false);
  weights_pending_ = false;
}

void DynamicSparsity::before_forward(bool training, const core::StepInfo& info) {
  TORCH_CHECK(started_, "DynamicSparsity::before_forward called before on_train_begin (or attach)");
  info.validate("DynamicSparsity::before_forward");
  mask_weights_if_pending();
  // Growth by gradient needs the dense gradient at update steps, growth by
  // momentum at every step until T_end: those forwards run dense.
  const bool dense_gradient =
      training && ((options_.method() == SparseMethod::kGradient && is_update_step(info)) ||
                   (options_.method() == SparseMethod::kMomentum && info.progress < options_.t_end()));
  for (auto& layer : kernel_layers_)
    if (layer) layer->set_dense_gradient(dense_gradient);
}

void DynamicSparsity::before_step(const core::StepInfo& info) {
  TORCH_CHECK(started_, "DynamicSparsity::before_step called before on_train_begin (or attach)");
  info.validate("DynamicSparsity::before_step");
  mask_weights_if_pending();
  torch::NoGradGuard no_grad;
  dense_grad_.clear();
  momentum_pending_ = false;
  const auto& params = masks_.params();
  if (options_.method() == SparseMethod::kGradient && is_update_step(info)) {
    for (size_t i = 0; i < params.size(); ++i) {
      const auto& p = params[i];
      const auto g = is_compact(i) ? kernel_layers_[i]->dense_weight_grad() : p.weight.grad();
      dense_grad_.push_back(g.defined() ? g.detach().clone(torch::MemoryFormat::Contiguous)
                                        : torch::zeros_like(p.weight,
                                                            torch::MemoryFormat::Contiguous));
    }
  }
  if (options_.method() == SparseMethod::kMomentum && info.progress < options_.t_end()) {
    const double beta = options_.momentum();
    for (size_t i = 0; i < params.size(); ++i) {
      momentum_[i].mul_(beta);
      const auto& g = params[i].weight.grad();
      if (g.defined()) momentum_[i].add_(g, 1.0 - beta);
    }
    momentum_pending_ = true;
  }
  masks_.apply_to_gradients();
}

std::vector<torch::Tensor> DynamicSparsity::statistics_to_average() const {
  if (!dense_grad_.empty()) return dense_grad_;
  if (momentum_pending_) return momentum_;
  return {};
}

void DynamicSparsity::after_step(const core::StepInfo& info) {
  TORCH_CHECK(started_, "DynamicSparsity::after_step called before on_train_begin (or attach)");
  info.validate("DynamicSparsity::after_step");
  if (weights_pending_) {
    mask_weights_if_pending();
  } else {
    // Compact and external layers keep their inactive weights out of their
    // values altogether.
    for (size_t i = 0; i < masks_.size(); ++i)
      if (!is_compact(i) && !external_[i]) masks_.apply_to_weight(i);
  }
  if (is_update_step(info)) {
    TORCH_CHECK(options_.method() != SparseMethod::kGradient || !dense_grad_.empty(),
                "gradient growth at step ", info.step,
                " needs the dense gradient: call before_step with the same StepInfo first");
    update_masks(info);
  }
  dense_grad_.clear();
  momentum_pending_ = false;
}

torch::Tensor DynamicSparsity::grow(size_t layer, int64_t count) {
  auto& p = masks_.params()[layer];
  auto mask = flat(p.mask);
  switch (options_.method()) {
    case SparseMethod::kRandom: {
      auto inactive = positions_where(mask, false);
      return choose(inactive, count, rng_).clone();
    }
    // Only inactive positions compete, so growth is exact even when fewer
    // than `count` of them have a non-zero score (ITOP's top-k over
    // |grad| * (1 - M) re-picks active weights then).
    case SparseMethod::kGradient:
      return select_by_magnitude(dense_grad_[layer], mask, false, count, /*largest=*/true);
    case SparseMethod::kMomentum:
      return select_by_magnitude(momentum_[layer], mask, false, count, /*largest=*/true);
    case SparseMethod::kRandomUnfired: {
      auto fired = flat(union_[layer]);
      auto unfired = positions_where(fired, false);
      if (unfired.numel() >= count) return choose(unfired, count, rng_).clone();
      // unfired is a subset of the inactive positions (the union holds the
      // mask), so the rest comes from inactive positions that were active once.
      auto refired = positions_where(fired & mask.logical_not(), true);
      return torch::cat({unfired, choose(refired, count - unfired.numel(), rng_)});
    }
    case SparseMethod::kStatic: break;
  }
  TORCH_CHECK(false, "method ", to_string(options_.method()), " does not grow weights");
}

void DynamicSparsity::update_masks(const core::StepInfo& info) {
  const auto start = std::chrono::steady_clock::now();
  torch::NoGradGuard no_grad;
  auto& params = masks_.params();
  const size_t n = params.size();
  const double fraction = drop_fraction(info);
  write_back_weights();  // drop and grow read and write the dense weights

  last_update_ = MaskUpdateRecord();
  last_update_.step = info.step;
  last_update_.drop_fraction = fraction;
  const auto empty = torch::empty({0}, torch::kLong);
  last_update_.dropped.assign(n, empty);
  last_update_.grown.assign(n, empty);

  std::vector<int64_t> drop(n, 0), grow_count(n, 0), capacity(n, 0);
  std::vector<double> shares(n, 0.0);
  for (size_t i = 0; i < n; ++i) {
    if (frozen_[i]) continue;
    auto& p = params[i];
    const int64_t active = p.active();
    drop[i] = std::llround(fraction * static_cast<double>(active));
    capacity[i] = p.numel() - active + drop[i];
    if (options_.method() == SparseMethod::kMomentum && active > 0)
      shares[i] = momentum_[i].abs().masked_select(p.mask).mean().item<double>();
  }

  // Drop: the `drop` active weights of smallest magnitude.
  for (size_t i = 0; i < n; ++i) {
    if (drop[i] == 0) continue;
    auto& p = params[i];
    auto mask = flat(p.mask);
    auto positions = select_by_magnitude(flat(p.weight), mask, true, drop[i], /*largest=*/false);
    mask.index_fill_(0, positions, false);
    flat(p.weight).index_fill_(0, positions, 0.0);
    last_update_.dropped[i] = positions;
  }

  int64_t budget = 0;
  for (size_t i = 0; i < n; ++i) budget += drop[i];
  if (options_.method() == SparseMethod::kMomentum) {
    std::vector<double> live_shares(n, 0.0);
    std::vector<int64_t> live_capacity(n, 0);
    for (size_t i = 0; i < n; ++i)
      if (!frozen_[i]) {
        // A non-finite share (diverged training) would poison the split;
        // such a layer is treated as having no claim.
        live_shares[i] = std::isfinite(shares[i]) ? shares[i] : 0.0;
        live_capacity[i] = capacity[i];
      }
    grow_count = redistribute_growth(budget, live_shares, live_capacity);
  } else {
    grow_count = drop;
  }

  for (size_t i = 0; i < n; ++i) {
    if (grow_count[i] == 0) continue;
    auto& p = params[i];
    auto positions = grow(i, grow_count[i]);
    flat(p.mask).index_fill_(0, positions, true);
    flat(p.weight).index_fill_(0, positions, 0.0);
    if (context_.optimizer != nullptr)
      reset_optimizer_state(*context_.optimizer, p.weight, positions);
    last_update_.grown[i] = positions;
  }
  for (size_t i = 0; i < n; ++i) union_[i].logical_or_(params[i].mask);
  set_kernel_patterns(/*remap_state=*/true);
  ++updates_;
  last_update_.update_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();

  if (context_.log_event) {
    nlohmann::json per_layer = nlohmann::json::object();
    const auto rates = itop_rate_per_layer();
    for (size_t i = 0; i < n; ++i) per_layer[params[i].name] = rates[i];
    context_.log_event({{"event", "mask_update"},
                         {"step", info.step},
                         {"epoch", info.epoch},
                         {"drop_fraction", fraction},
                         {"itop_rate", itop_rate()},
                         {"itop_rate_per_layer", per_layer},
                         {"density", masks_.density()},
                         {"update_ms", last_update_.update_ms}});
  }
}

double DynamicSparsity::itop_rate() const {
  int64_t fired = 0;
  for (const auto& u : union_) fired += u.sum().item<int64_t>();
  const int64_t total = masks_.total();
  return total == 0 ? 0.0 : static_cast<double>(fired) / static_cast<double>(total);
}

std::vector<double> DynamicSparsity::itop_rate_per_layer() const {
  std::vector<double> rates;
  rates.reserve(union_.size());
  for (const auto& u : union_)
    rates.push_back(static_cast<double>(u.sum().item<int64_t>()) / static_cast<double>(u.numel()));
  return rates;
}

void DynamicSparsity::on_epoch_end(int64_t epoch, nlohmann::json& record) {
  write_back_weights();  // the trainer's checkpoint follows
  record["density"] = masks_.density();
  record["itop_rate"] = itop_rate();
}

void DynamicSparsity::on_train_end(nlohmann::json& summary) {
  nlohmann::json per_layer = nlohmann::json::object();
  const auto rates = itop_rate_per_layer();
  for (size_t i = 0; i < masks_.size(); ++i) per_layer[masks_.params()[i].name] = rates[i];
  summary["density"] = masks_.density();
  summary["itop_rate"] = itop_rate();
  summary["itop_rate_per_layer"] = per_layer;
  summary["mask_updates"] = updates_;
  summary["active_weights"] = masks_.active();
  summary["masked_weights"] = masks_.total();
  auto kernel_layers = nlohmann::json::array();
  for (size_t i = 0; i < kernel_layers_.size(); ++i)
    if (kernel_layers_[i] && kernel_layers_[i]->has_pattern()) kernel_layers.push_back(masks_.params()[i].name);
  summary["kernel_layers"] = kernel_layers;
  // The patterns are an execution detail of this run: the model leaves it
  // as a plain (masked) dense model.
  for (auto& layer : kernel_layers_)
    if (layer) layer->clear_pattern();
}

void DynamicSparsity::save(torch::serialize::OutputArchive& archive) const {
  TORCH_CHECK(started_, "DynamicSparsity::save called before on_train_begin (or attach)");
  masks_.save(archive, kMaskKey);
  for (size_t i = 0; i < masks_.size(); ++i) {
    const auto& name = masks_.params()[i].name;
    archive.write(kUnionKey + name, union_[i], /*is_buffer=*/true);
    if (!momentum_.empty()) archive.write(kMomentumKey + name, momentum_[i], /*is_buffer=*/true);
  }
  archive.write(kRngKey, rng_.state(), /*is_buffer=*/true);
  archive.write(kUpdatesKey, torch::tensor(updates_, torch::kLong), /*is_buffer=*/true);
}

void DynamicSparsity::load(torch::serialize::InputArchive& archive) {
  // Read everything first: before on_train_begin the layer names are unknown.
  loaded_.clear();
  for (const auto& key : archive.keys()) {
    const bool ours = key.rfind(kMaskKey, 0) == 0 || key.rfind(kUnionKey, 0) == 0 ||
                      key.rfind(kMomentumKey, 0) == 0 || key == kRngKey || key == kUpdatesKey;
    if (!ours) continue;
    torch::Tensor t;
    if (archive.try_read(key, t, /*is_buffer=*/true)) loaded_[key] = t;
  }
  TORCH_CHECK(loaded_.count(kRngKey) != 0, "checkpoint holds no sparse training state");
  if (started_) apply_loaded();
}

void DynamicSparsity::apply_loaded() {
  torch::NoGradGuard no_grad;
  auto take = [&](const std::string& key, const torch::Tensor& like) {
    auto it = loaded_.find(key);
    TORCH_CHECK(it != loaded_.end(), "sparse checkpoint has no '", key, "'");
    TORCH_CHECK(it->second.sizes() == like.sizes(), "sparse checkpoint '", key, "' has shape ",
                it->second.sizes(), ", the model has ", like.sizes());
    return it->second;
  };
  for (size_t i = 0; i < masks_.size(); ++i) {
    auto& p = masks_.params()[i];
    p.mask.copy_(take(kMaskKey + p.name, p.mask).to(torch::kBool));
    union_[i].copy_(take(kUnionKey + p.name, p.mask).to(torch::kBool));
    union_[i].logical_or_(p.mask);
    if (!momentum_.empty()) momentum_[i].copy_(take(kMomentumKey + p.name, p.weight));
  }
  rng_.set_state(loaded_.at(kRngKey));
  auto updates = loaded_.find(kUpdatesKey);
  updates_ = updates == loaded_.end() ? 0 : updates->second.item<int64_t>();
  weights_pending_ = true;
  loaded_.clear();
}

}  // namespace frugal::sparse
