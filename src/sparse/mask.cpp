#include "frugal/sparse/mask.h"

#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <regex>

namespace frugal::sparse {

int64_t MaskedParam::active() const { return mask.sum().item<int64_t>(); }

namespace {

bool is_maskable(torch::nn::Module& m) {
  return dynamic_cast<torch::nn::LinearImpl*>(&m) || dynamic_cast<torch::nn::Conv1dImpl*>(&m) ||
         dynamic_cast<torch::nn::Conv2dImpl*>(&m) || dynamic_cast<torch::nn::Conv3dImpl*>(&m);
}

std::vector<std::regex> compile(const std::vector<std::string>& patterns, const char* what) {
  std::vector<std::regex> out;
  for (const auto& p : patterns) {
    try {
      out.emplace_back(p);
    } catch (const std::regex_error& e) {
      TORCH_CHECK(false, what, " pattern '", p, "' is not a valid regular expression: ", e.what());
    }
  }
  return out;
}

/// t <- t * mask for a bool mask, by AND-ing every element's bits with all
/// ones or all zeros: ~7x faster than t.mul_(mask), which first copies the
/// mask to t's dtype; this runs twice per step on every masked weight.
/// Inactive entries become +0 even if they held NaN or inf.
template <typename Bits>
void and_with_mask(void* data, const bool* mask, int64_t n) {
  auto* bits = static_cast<Bits*>(data);
  const auto* keep = reinterpret_cast<const uint8_t*>(mask);
  // By-value captures and __restrict let the compiler vectorize (4x faster
  // than with the pointers captured by reference).
  at::parallel_for(0, n, 1 << 16, [bits, keep](int64_t begin, int64_t end) {
    Bits* __restrict out = bits;
    const uint8_t* __restrict in = keep;
    for (int64_t i = begin; i < end; ++i) out[i] &= static_cast<Bits>(-static_cast<Bits>(in[i]));
  });
}

void zero_inactive(torch::Tensor& t, const torch::Tensor& mask) {
  if (t.is_contiguous() && mask.is_contiguous() && t.device().is_cpu() &&
      mask.scalar_type() == torch::kBool && t.sizes() == mask.sizes()) {
    const size_t size = t.element_size();
    if (size == 2 || size == 4 || size == 8) {
      if (size == 2) and_with_mask<uint16_t>(t.data_ptr(), mask.data_ptr<bool>(), t.numel());
      if (size == 4) and_with_mask<uint32_t>(t.data_ptr(), mask.data_ptr<bool>(), t.numel());
      if (size == 8) and_with_mask<uint64_t>(t.data_ptr(), mask.data_ptr<bool>(), t.numel());
      // Writing through the pointer bypasses autograd's bookkeeping; an
      // in-place op would bump the version, so do the same.
      if (!t.is_inference()) t.unsafeGetTensorImpl()->bump_version();
      return;
    }
  }
  t.mul_(mask);
}

}  // namespace

std::vector<std::pair<std::string, torch::nn::Module*>> modules_of(torch::nn::Module& model) {
  // named_modules() with the root included needs the root held by a
  // shared_ptr; listing the root by hand works for any module.
  std::vector<std::pair<std::string, torch::nn::Module*>> modules = {{"", &model}};
  for (const auto& item : model.named_modules(/*name_prefix=*/"", /*include_self=*/false))
    modules.emplace_back(item.key(), item.value().get());
  return modules;
}

MaskSet::MaskSet(torch::nn::Module& model, const MaskSelection& selection) {
  auto include = compile(selection.include, "mask include");
  auto dense = compile(selection.dense, "dense layer");
  std::vector<bool> include_used(include.size(), false), dense_used(dense.size(), false);

  const auto modules = modules_of(model);
  const torch::nn::Module* head = nullptr;
  std::string head_name;
  if (selection.keep_head_dense) {
    for (const auto& [module_name, module_ptr] : modules)
      if (dynamic_cast<torch::nn::LinearImpl*>(module_ptr)) {
        head = module_ptr;
        head_name = module_name.empty() ? "<root>" : module_name;
      }
  }
  int64_t maskable = 0;
  for (const auto& [module_name, module_ptr] : modules) {
    torch::nn::Module& module = *module_ptr;
    if (!is_maskable(module)) continue;
    // Keep the dict alive: find() points into it.
    const auto own = module.named_parameters(/*recurse=*/false);
    const torch::Tensor* weight = own.find("weight");
    if (weight == nullptr) continue;
    std::string name = module_name.empty() ? "weight" : module_name + ".weight";
    ++maskable;

    bool included = include.empty();
    for (size_t i = 0; i < include.size(); ++i)
      if (std::regex_match(name, include[i]) || std::regex_match(module_name, include[i])) {
        included = true;
        include_used[i] = true;
      }
    bool kept_dense = false;
    for (size_t i = 0; i < dense.size(); ++i)
      if (std::regex_match(name, dense[i]) || std::regex_match(module_name, dense[i])) {
        kept_dense = true;
        dense_used[i] = true;
      }
    if (included && !kept_dense && &module == head) kept_dense = true;
    if (kept_dense) kept_dense_.push_back(name);
    if (!included || kept_dense) continue;

    MaskedParam p;
    p.name = name;
    p.weight = *weight;
    p.mask = torch::ones_like(*weight, torch::kBool);
    p.n_out = weight->size(0);
    p.n_in = weight->dim() > 1 ? weight->size(1) : 1;
    p.kernel = weight->dim() > 2 ? weight->numel() / (p.n_out * p.n_in) : 1;
    params_.push_back(std::move(p));
  }
  for (size_t i = 0; i < include.size(); ++i)
    TORCH_CHECK(include_used[i], "mask include pattern '", selection.include[i],
                "' matches no Linear or Conv layer");
  for (size_t i = 0; i < dense.size(); ++i)
    TORCH_CHECK(dense_used[i], "dense layer pattern '", selection.dense[i],
                "' matches no Linear or Conv layer");
  TORCH_CHECK(!params_.empty() || head == nullptr || maskable > 1,
              "nothing to mask: the only Linear layer '", head_name,
              "' is the output head, which keep_head_dense keeps dense (set keep_head_dense "
              "to false to mask it)");
  TORCH_CHECK(!params_.empty(), "no Linear or Conv weight left to mask",
              head != nullptr ? " (keep_head_dense keeps the head '" + head_name + "' dense)" : "");
}

MaskedParam& MaskSet::at(const std::string& name) {
  for (auto& p : params_)
    if (p.name == name) return p;
  TORCH_CHECK(false, "no masked weight named '", name, "'");
}

void MaskSet::apply_to_weights() {
  for (size_t i = 0; i < params_.size(); ++i) apply_to_weight(i);
}

void MaskSet::apply_to_weight(size_t index) {
  TORCH_CHECK(index < params_.size(), "MaskSet::apply_to_weight: index ", index, " out of range (",
              params_.size(), " masked weights)");
  torch::NoGradGuard no_grad;
  zero_inactive(params_[index].weight, params_[index].mask);
}

void MaskSet::apply_to_gradients() {
  torch::NoGradGuard no_grad;
  for (auto& p : params_)
    if (p.weight.grad().defined()) zero_inactive(p.weight.mutable_grad(), p.mask);
}

int64_t MaskSet::active() const {
  int64_t n = 0;
  for (const auto& p : params_) n += p.active();
  return n;
}

int64_t MaskSet::total() const {
  int64_t n = 0;
  for (const auto& p : params_) n += p.numel();
  return n;
}

double MaskSet::density() const {
  return static_cast<double>(active()) / static_cast<double>(total());
}

void MaskSet::save(torch::serialize::OutputArchive& archive, const std::string& prefix) const {
  for (const auto& p : params_) archive.write(prefix + p.name, p.mask, /*is_buffer=*/true);
}

void MaskSet::load(torch::serialize::InputArchive& archive, const std::string& prefix) {
  for (auto& p : params_) {
    torch::Tensor m;
    TORCH_CHECK(archive.try_read(prefix + p.name, m, /*is_buffer=*/true),
                "checkpoint has no mask for '", p.name, "'");
    TORCH_CHECK(m.sizes() == p.mask.sizes(), "mask for '", p.name, "' has shape ", m.sizes(),
                ", the weight has ", p.mask.sizes());
    p.mask.copy_(m.to(torch::kBool));
  }
}

}  // namespace frugal::sparse
