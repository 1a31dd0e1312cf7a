#pragma once
// Stand-in for a header Debian's libtorch-dev does not ship.
//
// c10d/reducer.hpp includes torch/csrc/distributed/autograd/context/context.h,
// which the installed headers lack (upstream pytorch/pytorch#88006: the
// dist-autograd headers are left out of the install), so a program cannot
// include reducer.hpp at all. reducer.hpp needs exactly two names from it:
//   - DistAutogradContext::GradCallback, for a static_assert that its own
//     GradCallback is the same type (std::function<bool(at::Tensor&)>);
//   - ContextPtr, the type of a member (shared_ptr and raw pointer to the
//     context) that only libtorch's compiled reducer.cpp touches.
// Only those are declared here; the class cannot be constructed, so nothing
// in frugal can create or use a context (code that did would need the real
// header). Private to frugal_dist (src/dist/reducer.cpp) and bench_reducer:
// only their include paths name src/dist/shim, it is never installed, and no
// public header includes reducer.hpp.

#include <ATen/core/Tensor.h>

#include <functional>
#include <memory>

namespace torch {
namespace distributed {
namespace autograd {

class DistAutogradContext {
 public:
  using GradCallback = std::function<bool(at::Tensor&)>;
  DistAutogradContext() = delete;
};

using ContextPtr = std::shared_ptr<DistAutogradContext>;

}  // namespace autograd
}  // namespace distributed
}  // namespace torch
