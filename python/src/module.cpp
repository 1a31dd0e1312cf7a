// frugal._C: the compiled half of the `frugal` Python package. Import torch
// first (python/frugal/__init__.py does): the module links libtorch_python.

#include "bind.h"

#include <sstream>

namespace frugal::python {

py::bytes archive_bytes(const std::function<void(torch::serialize::OutputArchive&)>& save) {
  torch::serialize::OutputArchive archive;
  save(archive);
  std::ostringstream out;
  archive.save_to(out);
  return py::bytes(out.str());
}

void load_archive_bytes(const std::string& bytes,
                        const std::function<void(torch::serialize::InputArchive&)>& load) {
  torch::serialize::InputArchive archive;
  value_errors([&] { archive.load_from(bytes.data(), bytes.size()); });
  load(archive);
}

}  // namespace frugal::python

PYBIND11_MODULE(_C, m) {
  namespace py = pybind11;
  m.doc() = "frugal's C++ core: InfoBatch sampler, dynamic sparsity, CSR kernels, pruning";
  // Errors of the C++ core: one line (no C++ backtrace), never a crash.
  py::register_local_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const c10::ValueError& e) {
      PyErr_SetString(PyExc_ValueError, e.what_without_backtrace());
    } catch (const c10::IndexError& e) {
      PyErr_SetString(PyExc_IndexError, e.what_without_backtrace());
    } catch (const c10::Error& e) {
      PyErr_SetString(PyExc_RuntimeError, e.what_without_backtrace());
    }
  });
  frugal::python::bind_data(m);
  frugal::python::bind_sparse(m);
  frugal::python::bind_kernels(m);
  frugal::python::bind_prune(m);
}
