// frugal._C.InfoBatchSampler: the C++ data::InfoBatchSampler, whose
// decisions the Python InfoBatch (python/frugal/infobatch.py) takes as they are.

#include "bind.h"

#include "frugal/data/infobatch.h"

#include <torch/torch.h>

namespace frugal::python {

namespace {

using data::InfoBatchOptions;
using data::InfoBatchSampler;

torch::Tensor to_tensor(const std::vector<int32_t>& order) {
  return torch::tensor(at::ArrayRef<int32_t>(order), torch::kInt).to(torch::kLong);
}

}  // namespace

void bind_data(py::module_& m) {
  py::class_<InfoBatchSampler>(m, "InfoBatchSampler", R"doc(
The C++ InfoBatch sampler (frugal::data::InfoBatchSampler): per-sample scores
and weights, and each epoch's plan (kept samples, shuffled, this rank's shard).
The Python InfoBatch wraps it; use it directly to drive your own loop.)doc")
      .def(py::init([](int64_t num_samples, int64_t epochs, double prune_ratio, double delta,
                       int64_t warmup_epochs, double score_momentum, uint64_t seed, int64_t rank,
                       int64_t world_size) {
             return value_errors([&] {
               TORCH_CHECK(world_size >= 1, "infobatch: world_size must be >= 1, got ", world_size);
               TORCH_CHECK(rank >= 0 && rank < world_size, "infobatch: rank ", rank,
                           " is outside [0, ", world_size, ")");
               auto options = InfoBatchOptions(epochs)
                                  .prune_ratio(prune_ratio)
                                  .delta(delta)
                                  .warmup_epochs(warmup_epochs)
                                  .score_momentum(score_momentum)
                                  .seed(seed);
               return std::make_unique<InfoBatchSampler>(num_samples, options,
                                                         data::Shard{rank, world_size});
             });
           }),
           py::arg("num_samples"), py::arg("epochs"), py::arg("prune_ratio") = 0.5,
           py::arg("delta") = 0.875, py::arg("warmup_epochs") = 0, py::arg("score_momentum") = 1.0,
           py::arg("seed") = 0, py::arg("rank") = 0, py::arg("world_size") = 1)
      .def("begin_epoch", &InfoBatchSampler::begin_epoch, py::arg("epoch"),
           py::call_guard<py::gil_scoped_release>(), "Plans epoch `epoch` (0-based).")
      .def("order", [](const InfoBatchSampler& s) { return to_tensor(s.order()); },
           "This rank's sample indices of the planned epoch, in training order (int64).")
      .def("weights_of", &InfoBatchSampler::weights_of, py::arg("indices"),
           "Loss weights (float32) of `indices` in the planned epoch.")
      .def("update_scores", &InfoBatchSampler::update_scores, py::arg("indices"), py::arg("losses"),
           py::call_guard<py::gil_scoped_release>(),
           "Records per-sample losses (all ranks' pairs in a distributed run).")
      .def("prunes", &InfoBatchSampler::prunes, py::arg("epoch"))
      .def_property_readonly("kept", &InfoBatchSampler::kept, "Samples the epoch trains on, all ranks.")
      .def_property_readonly("size", &InfoBatchSampler::size)
      .def_property_readonly("below_mean", &InfoBatchSampler::below_mean)
      .def_property_readonly("scores", [](const InfoBatchSampler& s) { return s.scores().clone(); })
      .def_property_readonly("weights", [](const InfoBatchSampler& s) { return s.weights().clone(); })
      .def_property_readonly("stop_epoch", [](const InfoBatchSampler& s) { return s.options().stop_epoch(); })
      .def_property_readonly("epochs", [](const InfoBatchSampler& s) { return s.options().epochs(); })
      .def_property_readonly("prune_ratio", [](const InfoBatchSampler& s) { return s.options().prune_ratio(); })
      .def_property_readonly("delta", [](const InfoBatchSampler& s) { return s.options().delta(); })
      .def_property_readonly("warmup_epochs",
                             [](const InfoBatchSampler& s) { return s.options().warmup_epochs(); })
      .def_property_readonly("score_momentum",
                             [](const InfoBatchSampler& s) { return s.options().score_momentum(); })
      .def_property_readonly("seed", [](const InfoBatchSampler& s) { return s.options().seed(); })
      .def("state_bytes",
           [](const InfoBatchSampler& s) {
             return archive_bytes([&](torch::serialize::OutputArchive& a) { s.save(a); });
           },
           "Scores, weights, plan and seed as bytes (a torch::serialize archive).")
      .def("load_state_bytes",
           [](InfoBatchSampler& s, const std::string& bytes) {
             load_archive_bytes(bytes, [&](torch::serialize::InputArchive& a) {
               value_errors([&] { s.load(a); });
             });
           },
           py::arg("state"));
}

}  // namespace frugal::python
