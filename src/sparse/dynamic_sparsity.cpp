#include "frugal/sparse/dynamic_sparsity.h"

#include <c10/util/string_utils.h>
#include <torch/optim/adagrad.h>
#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>
#include <torch/optim/rmsprop.h>
#include <torch/optim/sgd.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <numeric>

namespace frugal::sparse {

SparseMethod parse_sparse_method(const std::string& name) {
  if (name == "static") return SparseMethod::kStatic;
  if (name == "random" || name == "set") return SparseMethod::kRandom;
  if (name == "gradient" || name == "rigl") return SparseMethod::kGradient;
  if (name == "momentum" || name == "snfs") return SparseMethod::kMomentum;
  if (name == "random_unfired") return SparseMethod::kRandomUnfired;
  TORCH_CHECK(false, "unknown sparse training method '", name,
              "' (expected static, random/set, gradient/rigl, momentum/snfs or random_unfired)");
}

std::string to_string(SparseMethod method) {
  switch (method) {
    case SparseMethod::kStatic: return "static";
    case SparseMethod::kRandom: return "random";
    case SparseMethod::kGradient: return "gradient";
    case SparseMethod::kMomentum: return "momentum";
    case SparseMethod::kRandomUnfired: return "random_unfired";
  }
  TORCH_CHECK(false, "invalid SparseMethod value ", static_cast<int>(method));
}

DropSchedule parse_drop_schedule(const std::string& name) {
  if (name == "cosine") return DropSchedule::kCosine;
  if (name == "linear") return DropSchedule::kLinear;
  if (name == "constant") return DropSchedule::kConstant;
  TORCH_CHECK(false, "unknown drop fraction schedule '", name,
              "' (expected cosine, linear or constant)");
}

std::string to_string(DropSchedule schedule) {
  switch (schedule) {
    case DropSchedule::kCosine: return "cosine";
    case DropSchedule::kLinear: return "linear";
    case DropSchedule::kConstant: return "constant";
  }
  TORCH_CHECK(false, "invalid DropSchedule value ", static_cast<int>(schedule));
}

double drop_fraction_at(double alpha, DropSchedule schedule, double progress, double t_end) {
  if (progress >= t_end) return 0.0;
  const double t = std::max(progress, 0.0) / t_end;
  switch (schedule) {
    case DropSchedule::kCosine: return alpha / 2.0 * (1.0 + std::cos(M_PI * t));
    case DropSchedule::kLinear: return alpha * (1.0 - t);
    case DropSchedule::kConstant: return alpha;
  }
  TORCH_CHECK(false, "invalid DropSchedule value ", static_cast<int>(schedule));
}

std::vector<int64_t> redistribute_growth(int64_t budget, const std::vector<double>& shares,
                                         const std::vector<int64_t>& capacity) {
  const size_t n = shares.size();
  TORCH_CHECK(capacity.size() == n, "got ", n, " shares but ", capacity.size(), " capacities");
  TORCH_CHECK(budget >= 0, "growth budget must be >= 0, got ", budget);
  int64_t room = 0;
  for (size_t i = 0; i < n; ++i) {
    TORCH_CHECK(shares[i] >= 0 && std::isfinite(shares[i]),
                "growth shares must be finite and >= 0, got ", shares[i]);
    TORCH_CHECK(capacity[i] >= 0, "layer capacity must be >= 0, got ", capacity[i]);
    room += capacity[i];
  }
  TORCH_CHECK(room >= budget, "cannot grow ", budget, " weights into ", room, " free positions");

  // Water-filling: split what is left over the layers not yet full; a layer
  // that would overflow is filled, and the split is done again without it.
  std::vector<double> amount(n, 0.0);
  std::vector<bool> full(n, false);
  for (size_t i = 0; i < n; ++i) full[i] = capacity[i] == 0;
  for (;;) {
    double left = static_cast<double>(budget);
    double weight_sum = 0, capacity_sum = 0;
    for (size_t i = 0; i < n; ++i) {
      if (full[i]) {
        left -= static_cast<double>(capacity[i]);
      } else {
        weight_sum += shares[i];
        capacity_sum += static_cast<double>(capacity[i]);
      }
    }
    if (capacity_sum == 0) break;
    const bool by_capacity = weight_sum == 0;
    bool overflow = false;
    for (size_t i = 0; i < n; ++i) {
      if (full[i]) continue;
      const double w = by_capacity ? static_cast<double>(capacity[i]) / capacity_sum
                                   : shares[i] / weight_sum;
      amount[i] = std::max(0.0, left) * w;
      if (amount[i] > static_cast<double>(capacity[i])) {
        full[i] = true;
        overflow = true;
      }
    }
    if (!overflow) break;
  }
  for (size_t i = 0; i < n; ++i)
    if (full[i]) amount[i] = static_cast<double>(capacity[i]);

  std::vector<int64_t> counts(n);
  int64_t assigned = 0;
  for (size_t i = 0; i < n; ++i) {
    counts[i] = std::min(capacity[i], static_cast<int64_t>(std::floor(amount[i])));
    assigned += counts[i];
  }
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return amount[a] - std::floor(amount[a]) > amount[b] - std::floor(amount[b]);
  });
  int64_t missing = budget - assigned;
  TORCH_CHECK(missing >= 0, "internal error: growth overshoots by ", -missing);
  while (missing > 0) {
    const int64_t before = missing;
    for (size_t i : order) {
      if (missing == 0) break;
      if (counts[i] < capacity[i]) {
        ++counts[i];
        --missing;
      }
    }
    TORCH_CHECK(missing < before, "internal error: no room left for ", missing, " weights");
  }
  return counts;
}

namespace {

/// Zeroes `t` (any layout) at flat positions `positions`, or sets them to `value`.
void fill_at(torch::Tensor& t, const torch::Tensor& positions, double value = 0.0) {
  if (!t.defined() || positions.numel() == 0) return;
  if (t.is_contiguous()) {
    t.view(-1).index_fill_(0, positions, value);
  } else {
    auto flat = t.contiguous().view(-1);
    flat.index_fill_(0, positions, value);
    t.copy_(flat.view(t.sizes()));
  }
}

double initial_accumulator(torch::optim::Optimizer& optimizer, const torch::Tensor& param) {
  for (auto& group : optimizer.param_groups())
    for (auto& p : group.params())
      if (p.unsafeGetTensorImpl() == param.unsafeGetTensorImpl())
        return static_cast<torch::optim::AdagradOptions&>(group.options())
            .initial_accumulator_value();
  return 0.0;
}

}  // namespace

namespace {

/// Calls fn(state tensor, its initial value) for each per-entry state tensor
/// the optimizer holds for `param`; nothing when it holds none yet.
template <typename Fn>
void for_each_state_tensor(torch::optim::Optimizer& optimizer, const torch::Tensor& param, Fn&& fn) {
  auto it = optimizer.state().find(c10::guts::to_string(param.unsafeGetTensorImpl()));
  if (it == optimizer.state().end()) return;
  torch::NoGradGuard no_grad;
  auto& state = *it->second;
  if (auto* s = dynamic_cast<torch::optim::SGDParamState*>(&state)) {
    fn(s->momentum_buffer(), 0.0);
  } else if (auto* s = dynamic_cast<torch::optim::AdamParamState*>(&state)) {
    fn(s->exp_avg(), 0.0);
    fn(s->exp_avg_sq(), 0.0);
    fn(s->max_exp_avg_sq(), 0.0);
  } else if (auto* s = dynamic_cast<torch::optim::AdamWParamState*>(&state)) {
    fn(s->exp_avg(), 0.0);
    fn(s->exp_avg_sq(), 0.0);
    fn(s->max_exp_avg_sq(), 0.0);
  } else if (auto* s = dynamic_cast<torch::optim::RMSpropParamState*>(&state)) {
    fn(s->square_avg(), 0.0);
    fn(s->momentum_buffer(), 0.0);
    fn(s->grad_avg(), 0.0);
  } else if (auto* s = dynamic_cast<torch::optim::AdagradParamState*>(&state)) {
    fn(s->sum(), initial_accumulator(optimizer, param));
  } else {
    TORCH_CHECK(false, "cannot reset the state of this optimizer for grown weights "
                       "(supported: SGD, Adam, AdamW, RMSprop, Adagrad)");
  }
}

}  // namespace

void reset_optimizer_state(torch::optim::Optimizer& optimizer, const torch::Tensor& param,
                           const torch::Tensor& positions) {
  if (positions.numel() == 0) return;
  for_each_state_tensor(optimizer, param,
                        [&](torch::Tensor& t, double initial) { fill_at(t, positions, initial); });
}

void remap_optimizer_state(torch::optim::Optimizer& optimizer, const torch::Tensor& param,
                           const torch::Tensor& source) {
  TORCH_CHECK(param.dim() == 1 && source.numel() == param.numel(), "remap_optimizer_state: need a 1-D parameter and ",
              "one source per entry, got ", param.sizes(), " and ", source.sizes());
  const auto grown = source.lt(0).nonzero().view(-1);
  for_each_state_tensor(optimizer, param, [&](torch::Tensor& t, double initial) {
    if (!t.defined()) return;
    TORCH_CHECK(t.numel() == param.numel(), "remap_optimizer_state: state of ", t.numel(), " entries for a parameter of ",
                param.numel());
    t.copy_(kernels::remap_entries(t, source));
    if (initial != 0.0) fill_at(t, grown, initial);
  });
}

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

torch::Tensor flat(const torch::Tensor& t) {
  TORCH_CHECK(t.is_contiguous(), "masked weights and masks must be contiguous");
  return t.view(-1);
}

/// Flat positions where `mask` (contiguous bool) equals `want`, ascending.
/// One counting pass and one filling pass: about twice as fast as nonzero().
torch::Tensor positions_where(const torch::Tensor& mask, bool want) {
  const bool* m = mask.data_ptr<bool>();
  const int64_t n = mask.numel();
  int64_t count = 0;
  for (int64_t i = 0; i < n; ++i) count += m[i] == want;
  auto out = torch::empty({count}, torch::kLong);
  int64_t* o = out.data_ptr<int64_t>();
  for (int64_t i = 0; i < n; ++i)
    if (m[i] == want) *o++ = i;
  return out;
}

template <typename T>
torch::Tensor select_impl(const T* score, const bool* mask, int64_t n, bool want, int64_t k,
                          bool largest) {
  int64_t count = 0;
  for (int64_t i = 0; i < n; ++i) count += mask[i] == want;
  TORCH_CHECK(k >= 0 && k <= count, "cannot select ", k, " of ", count, " positions");
  // NaN ranks last either way, so the order below is a strict total order.
  const T last = largest ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::infinity();
  std::vector<std::pair<T, int64_t>> candidates;
  candidates.reserve(static_cast<size_t>(count));
  for (int64_t i = 0; i < n; ++i)
    if (mask[i] == want) {
      const T v = std::abs(score[i]);
      candidates.emplace_back(std::isnan(v) ? last : v, i);
    }
  auto before = [largest](const std::pair<T, int64_t>& a, const std::pair<T, int64_t>& b) {
    if (a.first != b.first) return largest ? a.first > b.first : a.first < b.first;
    return a.second < b.second;
  };
  if (k < count) std::nth_element(candidates.begin(), candidates.begin() + k, candidates.end(), before);
  auto out = torch::empty({k}, torch::kLong);
  int64_t* o = out.data_ptr<int64_t>();
  for (int64_t i = 0; i < k; ++i) o[i] = candidates[static_cast<size_t>(i)].second;
  std::sort(o, o + k);
  return out;
}

/// The `k` flat positions with the largest (or smallest) |score| among those
/// where `mask` equals `want`. Ties go to the lower position, NaN ranks last:
/// the choice is fully determined, and never leaves the allowed positions.
/// Scanning only the allowed positions makes the drop (among the few active
/// ones) several times cheaper than a topk over the whole tensor.
torch::Tensor select_by_magnitude(const torch::Tensor& score, const torch::Tensor& mask, bool want,
                                  int64_t k, bool largest) {
  TORCH_CHECK(score.numel() == mask.numel() && mask.is_contiguous(),
              "score and mask must match: ", score.sizes(), " vs ", mask.sizes());
  if (score.scalar_type() == torch::kDouble) {
    auto s = score.contiguous();
    return select_impl<double>(s.data_ptr<double>(), mask.data_ptr<bool>(), s.numel(), want, k,
                               largest);
  }
  auto s = score.to(torch::kFloat).contiguous();
  return select_impl<float>(s.data_ptr<float>(), mask.data_ptr<bool>(), s.numel(), want, k,
                            largest);
}

constexpr const char* kMaskKey = "mask/";
constexpr const char* kUnionKey = "union/";
constexpr const char* kMomentumKey = "momentum/";
constexpr const char* kRngKey = "rng";
constexpr const char* kUpdatesKey = "updates";

}  // namespace

namespace {

/// A shared handle on `module` as a masked layer (kernels::MaskedLinear,
/// kernels::MaskedConv2d), or null. A root module that no shared_ptr holds
/// gets a non-owning handle: the model outlives the hook.
std::shared_ptr<kernels::MaskedLayer> as_masked_layer(torch::nn::Module& module) {
  auto* layer = dynamic_cast<kernels::MaskedLayer*>(&module);
  if (layer == nullptr) return nullptr;
  if (auto owner = module.weak_from_this().lock())
    return std::shared_ptr<kernels::MaskedLayer>(owner, layer);
  return std::shared_ptr<kernels::MaskedLayer>(std::shared_ptr<void>(), layer);
}

/// The masked layer (kernels::MaskedLinear, kernels::MaskedConv2d) of each
/// masked weight that may run the sparse kernels.
std::vector<std::shared_ptr<kernels::MaskedLayer>> find_kernel_layers(torch::nn::Module& model, const MaskSet& masks,
                                                                      const std::vector<bool>& frozen,
                                                                      kernels::KernelChoice choice) {
  std::vector<std::shared_ptr<kernels::MaskedLayer>> layers(masks.size());
  if (choice == kernels::KernelChoice::kDense) return layers;
  std::map<std::string, torch::nn::Module*> modules;
  for (const auto& [module_name, module] : modules_of(model))
    modules[module_name.empty() ? "weight" : module_name + ".weight"] = module;
  for (size_t i = 0; i < masks.size(); ++i) {
    const auto& name = masks.params()[i].name;
    auto it = modules.find(name);
    if (frozen[i] || it == modules.end()) continue;
    layers[i] = as_masked_layer(*it->second);
    const bool plain_linear = dynamic_cast<torch::nn::LinearImpl*>(it->second) != nullptr;
    const bool plain_conv = dynamic_cast<torch::nn::Conv2dImpl*>(it->second) != nullptr;
    TORCH_CHECK(layers[i] != nullptr || choice != kernels::KernelChoice::kSparse || !(plain_linear || plain_conv),
                "sparse kernel 'sparse': layer '", name, "' is a ",
                plain_linear ? "torch::nn::Linear; the CSR kernels need a frugal::kernels::MaskedLinear"
                             : "torch::nn::Conv2d; the sparse kernels need a frugal::kernels::MaskedConv2d",
                " there (or use kernel 'auto' or 'dense')");
  }
  return layers;
}

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

void DynamicSparsity::start_compact_layers() {
  // The compact form needs an optimizer to step the values, the kernels'
  // float32 CPU tensors, and a method that does without the dense gradient
  // at most steps (not SNFS).
  if (context_.optimizer == nullptr || options_.method() == SparseMethod::kMomentum) return;
  std::vector<torch::Tensor> values;
  for (size_t i = 0; i < kernel_layers_.size(); ++i) {
    auto& layer = kernel_layers_[i];
    if (!layer || layer->masked_weight().scalar_type() != torch::kFloat || !layer->masked_weight().device().is_cpu())
      continue;
    layer->set_compact_pattern(masks_.params()[i].mask, options_.kernel());
    values.push_back(layer->values());
  }
  if (values.empty()) return;
  // Same hyper-parameters as the weights they stand for (the first group's).
  auto& optimizer = *context_.optimizer;
  optimizer.add_param_group(
      torch::optim::OptimizerParamGroup(values, optimizer.param_groups().front().options().clone()));
}

bool DynamicSparsity::is_compact(size_t index) const {
  return index < kernel_layers_.size() && kernel_layers_[index] && kernel_layers_[index]->compact();
}

void DynamicSparsity::write_back_weights() {
  for (size_t i = 0; i < kernel_layers_.size(); ++i)
    if (is_compact(i)) kernel_layers_[i]->write_back();
}

void DynamicSparsity::set_kernel_patterns(bool remap_state) {
  for (size_t i = 0; i < kernel_layers_.size(); ++i) {
    auto& layer = kernel_layers_[i];
    if (!layer) continue;
    const auto& mask = masks_.params()[i].mask;
    if (!layer->compact()) {
      layer->set_pattern(mask, options_.kernel());
      continue;
    }
    auto source = layer->set_compact_pattern(mask, options_.kernel());
    if (!remap_state || context_.optimizer == nullptr) continue;
    // A weight dropped and grown again in the same update holds its old
    // position but starts afresh, as every grown weight does.
    const auto& grown = last_update_.grown[i];
    if (grown.numel() > 0) {
      auto fresh = torch::zeros({mask.numel()}, torch::kBool);
      fresh.index_fill_(0, grown, true);
      source.masked_fill_(fresh.index_select(0, layer->pattern().flat_indices()), -1);
    }
    remap_optimizer_state(*context_.optimizer, layer->values(), source);
  }
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
    // Compact layers keep their inactive weights out of the values altogether.
    for (size_t i = 0; i < masks_.size(); ++i)
      if (!is_compact(i)) masks_.apply_to_weight(i);
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
