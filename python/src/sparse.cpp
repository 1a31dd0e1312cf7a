// frugal._C.DynamicSparsity: the C++ sparse::DynamicSparsity (masks,
// distribution, drop / grow, ITOP rate) over the weights of a Python model,
// through a Mirror (mirror.h) of its Linear and Conv layers. The C++ hook
// selects, masks, drops and grows exactly as in a C++ training run.

#include "bind.h"
#include "mirror.h"

#include "frugal/sparse/dynamic_sparsity.h"

#include <torch/torch.h>

namespace frugal::python {

namespace {

using sparse::DynamicSparsity;
using sparse::DynamicSparsityOptions;

core::StepInfo step_info(int64_t step, double progress, int64_t total_steps) {
  core::StepInfo info;
  info.step = step;
  info.progress = progress;
  info.planned_steps = total_steps;
  return info;
}

/// The hook with the mirror it runs on.
class PyDynamicSparsity {
 public:
  PyDynamicSparsity(const std::vector<std::string>& names, const std::vector<torch::Tensor>& weights,
                    DynamicSparsityOptions options, int64_t total_steps)
      : mirror_(names, weights), hook_(options), total_steps_(total_steps) {
    TORCH_CHECK(total_steps >= 1, "sparse total_steps must be >= 1, got ", total_steps);
    context_.model = &mirror_.root();
    context_.optimizer = nullptr;  // Python's optimizer state is reset by the Python side
    context_.epochs = 1;
    context_.planned_steps = total_steps;
    hook_.on_train_begin(context_);
  }

  DynamicSparsity& hook() { return hook_; }
  const DynamicSparsity& hook() const { return hook_; }
  core::StepInfo info(int64_t step, double progress) const { return step_info(step, progress, total_steps_); }

 private:
  Mirror mirror_;
  DynamicSparsity hook_;
  core::TrainContext context_;
  int64_t total_steps_;
};

}  // namespace

void bind_sparse(py::module_& m) {
  m.def("layer_active_counts",
        [](const std::vector<std::vector<int64_t>>& shapes, double density, const std::string& distribution) {
          return value_errors([&] {
            return sparse::layer_active_counts(shapes, density, sparse::parse_distribution(distribution));
          });
        },
        py::arg("shapes"), py::arg("density"), py::arg("distribution") = "erk",
        "Exact active weights per layer for `density` (sums to round(density * total)).");
  m.def("drop_fraction_at",
        [](double alpha, const std::string& schedule, double progress, double t_end) {
          return value_errors([&] {
            return sparse::drop_fraction_at(alpha, sparse::parse_drop_schedule(schedule), progress, t_end);
          });
        },
        py::arg("alpha"), py::arg("schedule"), py::arg("progress"), py::arg("t_end"));

  using S = PyDynamicSparsity;
  py::class_<S>(m, "DynamicSparsity", R"doc(
The C++ dynamic sparse training hook over a model's Linear / Conv weights.
`names` are the layers' module names and `weights` their weight parameters;
the include / dense_layers patterns select among them. Python's
frugal.DynamicSparsity drives it (gradient hooks, optimizer state).)doc")
      .def(py::init([](const std::vector<std::string>& names, const std::vector<torch::Tensor>& weights,
                       double density, const std::string& distribution, const std::string& method,
                       double drop_fraction, const std::string& schedule, int64_t update_interval,
                       double t_end, double momentum, uint64_t seed, int64_t total_steps,
                       const std::vector<std::string>& include, const std::vector<std::string>& dense_layers,
                       bool keep_head_dense) {
             return value_errors([&] {
               auto options = DynamicSparsityOptions(density)
                                  .distribution(sparse::parse_distribution(distribution))
                                  .method(sparse::parse_sparse_method(method))
                                  .drop_fraction(drop_fraction)
                                  .schedule(sparse::parse_drop_schedule(schedule))
                                  .update_interval(update_interval)
                                  .t_end(t_end)
                                  .momentum(momentum)
                                  .seed(seed)
                                  .include(include)
                                  .dense_layers(dense_layers)
                                  .keep_head_dense(keep_head_dense)
                                  .kernel(kernels::KernelChoice::kDense);
               return std::make_unique<S>(names, weights, options, total_steps);
             });
           }),
           py::arg("names"), py::arg("weights"), py::arg("density"), py::arg("distribution") = "erk",
           py::arg("method") = "gradient", py::arg("drop_fraction") = 0.3, py::arg("schedule") = "cosine",
           py::arg("update_interval") = 100, py::arg("t_end") = 0.75, py::arg("momentum") = 0.9,
           py::arg("seed") = 0, py::arg("total_steps") = 1, py::arg("include") = std::vector<std::string>{},
           py::arg("dense_layers") = std::vector<std::string>{}, py::arg("keep_head_dense") = false)
      .def("before_forward",
           [](S& s, bool training, int64_t step, double progress) {
             s.hook().before_forward(training, s.info(step, progress));
           },
           py::arg("training"), py::arg("step"), py::arg("progress"), py::call_guard<py::gil_scoped_release>(),
           "Applies masks chosen or loaded but not yet applied.")
      .def("before_step", [](S& s, int64_t step, double progress) { s.hook().before_step(s.info(step, progress)); },
           py::arg("step"), py::arg("progress"), py::call_guard<py::gil_scoped_release>(),
           "Keeps the dense gradient (RigL update steps) or momentum (SNFS), then masks the gradients.")
      .def("after_step", [](S& s, int64_t step, double progress) { s.hook().after_step(s.info(step, progress)); },
           py::arg("step"), py::arg("progress"), py::call_guard<py::gil_scoped_release>(),
           "Re-applies the masks; drops and grows at update steps.")
      .def("is_update_step", [](const S& s, int64_t step, double progress) {
             return s.hook().is_update_step(s.info(step, progress)); },
           py::arg("step"), py::arg("progress"))
      .def("drop_fraction", [](const S& s, int64_t step, double progress) {
             return s.hook().drop_fraction(s.info(step, progress)); },
           py::arg("step"), py::arg("progress"))
      .def("set_external", [](S& s, size_t index) { value_errors([&] { s.hook().set_external(index); }); },
           py::arg("index"), "Layer `index` is held outside (a SparseLinear): not masked at each step.")
      .def("statistics_to_average", [](const S& s) { return s.hook().statistics_to_average(); },
           "Tensors to average in place across processes between before_step and after_step.")
      .def_property_readonly("names", [](const S& s) {
             std::vector<std::string> names;
             for (const auto& p : s.hook().masks().params()) names.push_back(p.name);
             return names;
           }, "Masked weights' parameter names (module name + '.weight').")
      .def_property_readonly("masks", [](const S& s) {
             std::vector<torch::Tensor> masks;
             for (const auto& p : s.hook().masks().params()) masks.push_back(p.mask);
             return masks;
           }, "The masks themselves (bool, changed in place at updates); do not modify.")
      .def_property_readonly("union_masks", [](const S& s) { return s.hook().union_masks(); })
      .def("density", [](const S& s) { return s.hook().masks().density(); })
      .def("active", [](const S& s) { return s.hook().masks().active(); })
      .def("total", [](const S& s) { return s.hook().masks().total(); })
      .def("itop_rate", [](const S& s) { return s.hook().itop_rate(); })
      .def("itop_rate_per_layer", [](const S& s) { return s.hook().itop_rate_per_layer(); })
      .def_property_readonly("updates", [](const S& s) { return s.hook().updates(); })
      .def("last_update", [](const S& s) {
             const auto& u = s.hook().last_update();
             py::dict d;
             d["step"] = u.step;
             d["drop_fraction"] = u.drop_fraction;
             d["dropped"] = u.dropped;
             d["grown"] = u.grown;
             d["update_ms"] = u.update_ms;
             return d;
           })
      .def("state_bytes", [](const S& s) {
             return archive_bytes([&](torch::serialize::OutputArchive& a) { s.hook().save(a); });
           })
      .def("load_state_bytes", [](S& s, const std::string& bytes) {
             load_archive_bytes(bytes, [&](torch::serialize::InputArchive& a) {
               value_errors([&] { s.hook().load(a); });
             });
           }, py::arg("state"));
}

}  // namespace frugal::python
