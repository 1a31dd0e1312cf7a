// frugal._C: the CSR pattern and the sparse linear kernels, for
// frugal.SparseLinear (python/frugal/sparse_linear.py), whose
// torch.autograd.Function calls them in both directions, and the pattern
// remap that carries per-entry optimizer state across a drop and grow.

#include "bind.h"

#include "frugal/kernels/csr.h"
#include "frugal/kernels/sparse_linear.h"

#include <torch/torch.h>

namespace frugal::python {

void bind_kernels(py::module_& m) {
  using kernels::CsrPattern;
  py::class_<CsrPattern>(m, "CsrPattern", "Where the non-zeros of a weight [rows, cols] are, in CSR.")
      .def(py::init([](const torch::Tensor& row_ptr, const torch::Tensor& col_idx, int64_t cols) {
             return value_errors([&] { return CsrPattern(row_ptr, col_idx, cols); });
           }),
           py::arg("row_ptr"), py::arg("col_idx"), py::arg("cols"),
           "Adopts row_ptr (int64 [rows + 1]) and col_idx (int32 [nnz]).")
      .def_static("from_mask",
                  [](const torch::Tensor& mask) { return value_errors([&] { return CsrPattern::from_mask(mask); }); },
                  py::arg("mask"), py::call_guard<py::gil_scoped_release>())
      .def_property_readonly("rows", &CsrPattern::rows)
      .def_property_readonly("cols", &CsrPattern::cols)
      .def_property_readonly("nnz", &CsrPattern::nnz)
      .def_property_readonly("density", &CsrPattern::density)
      .def_property_readonly("row_ptr", &CsrPattern::row_ptr)
      .def_property_readonly("col_idx", &CsrPattern::col_idx)
      .def("flat_indices", &CsrPattern::flat_indices)
      .def("to_mask", &CsrPattern::to_mask);

  m.def("sparse_linear",
        [](const torch::Tensor& input, const torch::Tensor& values, const CsrPattern& pattern,
           const c10::optional<torch::Tensor>& bias) {
          return kernels::sparse_linear(input, values, pattern, bias.value_or(torch::Tensor()));
        },
        py::arg("input"), py::arg("values"), py::arg("pattern"), py::arg("bias") = py::none(),
        py::call_guard<py::gil_scoped_release>(), "y = input W^T + bias on the CSR kernel (SpMM).");
  m.def("sparse_linear_input_grad", &kernels::sparse_linear_input_grad, py::arg("grad_output"),
        py::arg("values"), py::arg("pattern"), py::call_guard<py::gil_scoped_release>(),
        "grad_input = grad_output W, through the transposed pattern.");
  m.def("sparse_linear_values_grad", &kernels::sparse_linear_values_grad, py::arg("grad_output"),
        py::arg("input"), py::arg("pattern"), py::call_guard<py::gil_scoped_release>(),
        "The weight gradient at the stored positions only (SDDMM), [nnz].");
  m.def("csr_values", &kernels::csr_values, py::arg("weight"), py::arg("pattern"),
        "values[k] = weight[row_k, col_k].");
  m.def("csr_to_dense", &kernels::csr_to_dense, py::arg("values"), py::arg("pattern"));
  m.def("pattern_source", &kernels::pattern_source, py::arg("prev"), py::arg("next"),
        "For each entry of `next`, the index of the same position in `prev`, or -1 (int64 [next.nnz]).");
}

}  // namespace frugal::python
