#include "frugal/prune/report.h"

#include <torch/torch.h>

#include <iomanip>
#include <sstream>

namespace frugal::prune {

double RemainingReport::overall_share() const {
  int64_t all_kept = kept, all = total;
  for (const auto& d : dense) {
    all_kept += d.kept;
    all += d.total;
  }
  return all > 0 ? static_cast<double>(all_kept) / static_cast<double>(all) : 0.0;
}

nlohmann::json RemainingReport::to_json() const {
  nlohmann::json j;
  j["layers"] = nlohmann::json::object();
  for (const auto& l : layers)
    j["layers"][l.name] = {{"kept", l.kept}, {"total", l.total}, {"share", l.share()}};
  j["kept"] = kept;
  j["total"] = total;
  j["share"] = share();
  if (!dense.empty()) {
    j["kept_dense"] = nlohmann::json::array();
    for (const auto& d : dense) j["kept_dense"].push_back(d.name);
    j["overall_share"] = overall_share();
  }
  return j;
}

std::string RemainingReport::table() const {
  std::ostringstream out;
  out << "| layer | kept | total | remaining |\n|---|---:|---:|---:|\n";
  auto row = [&out](const std::string& name, int64_t k, int64_t n, double share) {
    out << "| " << name << " | " << k << " | " << n << " | " << std::fixed << std::setprecision(2)
        << 100.0 * share << "% |\n";
  };
  for (const auto& l : layers) row(l.name, l.kept, l.total, l.share());
  row("total", kept, total, share());
  if (dense.empty()) return out.str();
  int64_t all_kept = kept, all = total;
  for (const auto& d : dense) {
    row(d.name + " (kept dense)", d.kept, d.total, d.share());
    all_kept += d.kept;
    all += d.total;
  }
  row("overall", all_kept, all, overall_share());
  return out.str();
}

RemainingReport count_nonzero(torch::nn::Module& model, const std::vector<std::string>& names,
                              const std::vector<std::string>& dense) {
  torch::NoGradGuard no_grad;
  auto params = model.named_parameters();
  auto count = [&params](const std::string& name) {
    const torch::Tensor* p = params.find(name);
    TORCH_CHECK(p != nullptr, "model has no parameter named '", name, "'");
    return LayerRemaining{name, p->ne(0).sum().item<int64_t>(), p->numel()};
  };
  RemainingReport report;
  for (const auto& name : names) {
    auto l = count(name);
    report.kept += l.kept;
    report.total += l.total;
    report.layers.push_back(std::move(l));
  }
  for (const auto& name : dense) report.dense.push_back(count(name));
  return report;
}

}  // namespace frugal::prune
