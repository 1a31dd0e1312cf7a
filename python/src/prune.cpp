// frugal._C.Pruner: the C++ prune::Pruner (magnitude / AGP, movement, soft
// movement, L0; cubic schedule; bake) over a Python model's Linear and Conv
// layers, through a Mirror (mirror.h). The pruner computes each masked
// weight W' = f(W, S) with autograd and stores it in the mirrored layer's
// `weight` member; the Python side (python/frugal/pruning.py) hands it to
// the Python layer's forward.

#include "bind.h"
#include "mirror.h"

#include "frugal/kernels/csr.h"
#include "frugal/prune/export.h"
#include "frugal/prune/pruner.h"

#include <torch/torch.h>

namespace frugal::python {

namespace {

using prune::Pruner;
using prune::PruneOptions;

py::dict to_dict(const prune::RemainingReport& report) {
  py::dict layers;
  for (const auto& l : report.layers) layers[py::str(l.name)] = py::make_tuple(l.kept, l.total);
  py::dict d;
  d["layers"] = layers;
  d["kept"] = report.kept;
  d["total"] = report.total;
  d["share"] = report.share();
  return d;
}

class PyPruner {
 public:
  PyPruner(const std::vector<std::string>& names, const std::vector<torch::Tensor>& weights,
           const PruneOptions& options, uint64_t seed)
      : mirror_(names, weights), pruner_(mirror_.root(), options) {
    TORCH_CHECK(options.total_steps() >= 1, "prune total_steps must be >= 1, got ", options.total_steps());
    context_.model = &mirror_.root();
    context_.optimizer = nullptr;  // frugal.Pruner.add_score_group does it in Python
    context_.planned_steps = options.total_steps();
    context_.seed = seed;
    pruner_.on_train_begin(context_);
    for (const auto& name : pruner_.pruned_names()) members_.push_back(&mirror_.weight_member(name));
  }

  Pruner& pruner() { return pruner_; }
  core::StepInfo info(int64_t step) const {
    core::StepInfo info;
    info.step = step;
    info.planned_steps = context_.planned_steps;
    info.progress = static_cast<double>(step) / static_cast<double>(context_.planned_steps);
    return info;
  }
  /// What the pruned layers' forwards should read now, in pruned_names() order.
  std::vector<torch::Tensor> installed() const {
    std::vector<torch::Tensor> out;
    for (const auto* m : members_) out.push_back(*m);
    return out;
  }

 private:
  Mirror mirror_;
  Pruner pruner_;
  core::TrainContext context_;
  std::vector<torch::Tensor*> members_;
};

}  // namespace

void bind_prune(py::module_& m) {
  py::class_<PyPruner>(m, "Pruner", R"doc(
The C++ pruner over a model's Linear / Conv weights (`names`: module names,
`weights`: their weight parameters). frugal.Pruner drives it.)doc")
      .def(py::init([](const std::vector<std::string>& names, const std::vector<torch::Tensor>& weights,
                       const std::string& method, int64_t total_steps, const std::string& selection,
                       double initial_remaining, double final_remaining, double warmup, double cooldown,
                       bool one_shot, double score_lr, c10::optional<double> score_init,
                       double initial_threshold, double final_threshold, c10::optional<double> lambda,
                       const std::string& regularizer_norm, const std::vector<std::string>& include,
                       const std::vector<std::string>& dense, bool keep_head_dense, uint64_t seed) {
             return value_errors([&] {
               auto options = PruneOptions(prune::parse_prune_method(method))
                                  .selection(prune::parse_prune_selection(selection))
                                  .initial_remaining(initial_remaining)
                                  .final_remaining(final_remaining)
                                  .warmup(warmup)
                                  .cooldown(cooldown)
                                  .total_steps(total_steps)
                                  .one_shot(one_shot)
                                  .score_lr(score_lr)
                                  .score_init(score_init)
                                  .initial_threshold(initial_threshold)
                                  .final_threshold(final_threshold)
                                  .lambda(lambda)
                                  .regularizer_norm(prune::parse_regularizer_norm(regularizer_norm))
                                  .include(include)
                                  .dense(dense)
                                  .keep_head_dense(keep_head_dense);
               return std::make_unique<PyPruner>(names, weights, options, seed);
             });
           }),
           py::arg("names"), py::arg("weights"), py::arg("method"), py::arg("total_steps"),
           py::arg("selection") = "local", py::arg("initial_remaining") = 1.0, py::arg("final_remaining") = 0.1,
           py::arg("warmup") = 0.1, py::arg("cooldown") = 0.2, py::arg("one_shot") = false,
           py::arg("score_lr") = 1e-2, py::arg("score_init") = py::none(), py::arg("initial_threshold") = 0.0,
           py::arg("final_threshold") = 0.1, py::arg("lambda_") = py::none(),
           py::arg("regularizer_norm") = "per_tensor", py::arg("include") = std::vector<std::string>{},
           py::arg("dense") = std::vector<std::string>{}, py::arg("keep_head_dense") = false, py::arg("seed") = 0)
      .def("before_forward",
           [](PyPruner& p, bool training, int64_t step) {
             p.pruner().before_forward(training, p.info(step));
             return p.installed();
           },
           py::arg("training"), py::arg("step"), py::call_guard<py::gil_scoped_release>(),
           "Computes the masked weights W' for this forward; returns them in pruned_names order.")
      .def("regularizer",
           [](PyPruner& p, int64_t step) -> c10::optional<torch::Tensor> {
             auto r = p.pruner().regularizer(p.info(step));
             if (!r.defined()) return c10::nullopt;
             return r;
           },
           py::arg("step"))
      .def("after_step", [](PyPruner& p, int64_t step) { p.pruner().after_step(p.info(step)); }, py::arg("step"))
      .def("score_parameters", [](PyPruner& p) { return p.pruner().score_parameters(); })
      .def_property_readonly("pruned_names", [](PyPruner& p) { return p.pruner().pruned_names(); })
      .def("target_remaining", [](PyPruner& p, int64_t step) { return p.pruner().target_remaining(p.info(step)); },
           py::arg("step"))
      .def("threshold", [](PyPruner& p, int64_t step) { return p.pruner().threshold(p.info(step)); },
           py::arg("step"))
      .def("lambda_", [](PyPruner& p, int64_t step) { return p.pruner().lambda(p.info(step)); }, py::arg("step"))
      .def("remaining", [](PyPruner& p) { return to_dict(p.pruner().remaining()); })
      .def("masks",
           [](PyPruner& p) {
             std::vector<torch::Tensor> masks;
             for (const auto& m : p.pruner().masks().params()) masks.push_back(m.mask.clone());
             return masks;
           },
           "The deterministic masks (bool) at the last position a call saw.")
      .def("restore", [](PyPruner& p) { p.pruner().restore(); })
      .def("bake", [](PyPruner& p) { return to_dict(p.pruner().bake()); })
      .def_property_readonly("baked", [](PyPruner& p) { return p.pruner().baked(); })
      .def("state_bytes",
           [](PyPruner& p) {
             return archive_bytes([&](torch::serialize::OutputArchive& a) { p.pruner().save(a); });
           })
      .def("load_state_bytes",
           [](PyPruner& p, const std::string& bytes) {
             load_archive_bytes(bytes, [&](torch::serialize::InputArchive& a) {
               value_errors([&] { p.pruner().load(a); });
             });
           },
           py::arg("state"));

  // The export file format of `frugal export` (weights.csr, prune/export.h),
  // for python/frugal/csr_file.py.
  m.def("read_csr",
        [](const std::string& path) {
          return value_errors([&] {
            py::list out;
            for (const auto& m : prune::read_csr(path))
              out.append(py::make_tuple(m.name, m.shape, kernels::to_torch_sparse_csr(m.values, m.pattern)));
            return out;
          });
        },
        py::arg("path"), "[(name, shape, sparse CSR tensor [rows, cols])] from a CSR export file.");
  m.def("write_csr",
        [](const std::string& path, const std::vector<std::pair<std::string, torch::Tensor>>& weights) {
          value_errors([&] {
            std::vector<prune::CsrMatrix> matrices;
            for (const auto& [name, weight] : weights) matrices.push_back(prune::to_csr(name, weight));
            prune::write_csr(path, matrices);
          });
        },
        py::arg("path"), py::arg("weights"), "Writes [(name, weight)] as a CSR export file (atomically).");
}

}  // namespace frugal::python
