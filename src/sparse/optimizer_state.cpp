#include "frugal/sparse/optimizer_state.h"

#include "frugal/kernels/csr.h"

#include <c10/util/string_utils.h>
#include <torch/optim/adagrad.h>
#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>
#include <torch/optim/rmsprop.h>
#include <torch/optim/sgd.h>
#include <torch/torch.h>

namespace frugal::sparse {

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

}  // namespace frugal::sparse
