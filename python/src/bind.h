#pragma once
/// Shared pieces of the frugal._C bindings: one file per area (data.cpp,
/// sparse.cpp, kernels.cpp, prune.cpp), registered by module.cpp.

#include <torch/csrc/utils/pybind.h>  // pybind11, and the torch.Tensor <-> at::Tensor caster
#include <torch/serialize/archive.h>

#include <functional>
#include <string>

namespace frugal::python {

namespace py = pybind11;

void bind_data(py::module_& m);
void bind_sparse(py::module_& m);
void bind_kernels(py::module_& m);
void bind_prune(py::module_& m);

/// Runs `f`; a c10::Error it throws (a failed TORCH_CHECK on a user's
/// argument) reaches Python as ValueError with the same message. Other
/// c10::Errors become RuntimeError (module.cpp).
template <typename F>
auto value_errors(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const c10::Error& e) {
    throw py::value_error(e.what_without_backtrace());
  }
}

/// A torch::serialize archive as Python bytes, and back.
py::bytes archive_bytes(const std::function<void(torch::serialize::OutputArchive&)>& save);
void load_archive_bytes(const std::string& bytes,
                        const std::function<void(torch::serialize::InputArchive&)>& load);

}  // namespace frugal::python
