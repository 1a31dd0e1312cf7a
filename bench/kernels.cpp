// Sparse (CSR kernels) vs dense (torch::linear on OpenBLAS) forward time of a
// linear layer, over layer shapes, densities, batch sizes and thread counts,
// in one run. Writes one JSON object per case and prints a Markdown table
// plus the crossover densities (where sparse and dense take equally long),
// the numbers behind the table in src/kernels/dispatch.cpp.
//
//   bench_kernels [--json=PATH] [--quick] [Google Benchmark flags]
//
// --quick runs only the LeNet-300-100 layers (for a smoke test).

#include <frugal/kernels/csr.h>
#include <frugal/kernels/dispatch.h>
#include <frugal/kernels/sparse_linear.h>

#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

namespace fk = frugal::kernels;

namespace {

struct Layer {
  std::string name;
  int64_t out, in;
};

struct Case {
  Layer layer;
  double density;  // < 0: the dense baseline
  int64_t batch;
  int64_t threads;
};

std::string case_name(const Case& c) {
  char buf[160];
  if (c.density < 0)
    std::snprintf(buf, sizeof buf, "dense/%s/b%ld/t%ld", c.layer.name.c_str(), static_cast<long>(c.batch),
                  static_cast<long>(c.threads));
  else
    std::snprintf(buf, sizeof buf, "sparse/%s/d%.2f/b%ld/t%ld", c.layer.name.c_str(), c.density,
                  static_cast<long>(c.batch), static_cast<long>(c.threads));
  return buf;
}

/// A mask with exactly round(density * out * in) active weights.
torch::Tensor exact_mask(int64_t out, int64_t in, double density) {
  const int64_t total = out * in, keep = static_cast<int64_t>(std::llround(density * total));
  auto mask = torch::zeros({total}, torch::kBool);
  mask.index_fill_(0, torch::randperm(total, torch::kLong).slice(0, 0, keep), true);
  return mask.view({out, in});
}

void run_case(benchmark::State& state, Case c) {
  fk::set_num_threads(c.threads);
  torch::NoGradGuard no_grad;
  torch::manual_seed(0);
  const auto x = torch::randn({c.batch, c.layer.in});
  const auto b = torch::randn({c.layer.out});
  if (c.density < 0) {
    const auto w = torch::randn({c.layer.out, c.layer.in});
    for (auto _ : state) benchmark::DoNotOptimize(torch::linear(x, w, b));
  } else {
    const auto pattern = fk::CsrPattern::from_mask(exact_mask(c.layer.out, c.layer.in, c.density));
    const auto values = torch::randn({pattern.nnz()});
    for (auto _ : state) benchmark::DoNotOptimize(fk::sparse_linear(x, values, pattern, b));
  }
}

/// Keeps every run's time per iteration (microseconds) by name, and prints
/// as the console reporter does.
class Collector : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const auto& run : runs)
      if (run.run_type == Run::RT_Iteration && !run.error_occurred)
        times[run.run_name.function_name] =
            run.GetAdjustedRealTime() * benchmark::GetTimeUnitMultiplier(benchmark::kMicrosecond) /
            benchmark::GetTimeUnitMultiplier(run.time_unit);
    ConsoleReporter::ReportRuns(runs);
  }
  std::map<std::string, double> times;
};

/// Density where sparse time meets dense time, interpolated between the
/// measured densities (ascending); 0.5 when sparse still wins at the highest.
double crossover(const std::vector<std::pair<double, double>>& ratio_by_density) {
  // ratio = sparse_us / dense_us, increasing with density.
  double prev_d = 0.0, prev_r = 0.0;
  for (const auto& [d, r] : ratio_by_density) {
    if (r >= 1.0) return prev_d + (d - prev_d) * (1.0 - prev_r) / std::max(1e-12, r - prev_r);
    prev_d = d;
    prev_r = r;
  }
  return prev_d;
}

}  // namespace

int main(int argc, char** argv) {
  std::string json_path = "kernels.json";
  bool quick = false;
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (std::strncmp(argv[i], "--json=", 7) == 0)
      json_path = argv[i] + 7;
    else if (std::strcmp(argv[i], "--quick") == 0)
      quick = true;
    else
      args.push_back(argv[i]);
  }
  int bargc = static_cast<int>(args.size());
  benchmark::Initialize(&bargc, args.data());

  std::vector<Layer> layers = {{"784x300", 300, 784}, {"300x100", 100, 300}, {"100x10", 10, 100}};
  if (!quick) layers.push_back({"4096x4096", 4096, 4096});
  const std::vector<double> densities = {0.50, 0.20, 0.10, 0.05, 0.02, 0.01};
  const std::vector<int64_t> batches = {1, 32, 256};
  const int64_t cores = std::max<int64_t>(1, static_cast<int64_t>(std::thread::hardware_concurrency()));
  const std::vector<int64_t> thread_counts = cores > 1 ? std::vector<int64_t>{1, cores} : std::vector<int64_t>{1};

  std::vector<Case> cases;
  for (const auto& layer : layers)
    for (const int64_t threads : thread_counts)
      for (const int64_t batch : batches) {
        cases.push_back({layer, -1.0, batch, threads});
        for (const double d : densities) cases.push_back({layer, d, batch, threads});
      }
  for (const auto& c : cases)
    benchmark::RegisterBenchmark(case_name(c).c_str(), run_case, c)
        ->Unit(benchmark::kMicrosecond)
        ->UseRealTime()
        ->MinTime(quick ? 0.02 : 0.15);

  Collector collector;
  benchmark::RunSpecifiedBenchmarks(&collector);
  benchmark::Shutdown();

  std::ofstream json(json_path);
  json << "[\n";
  bool first = true;
  std::printf("\n| layer | density | batch | threads | dense us | sparse us | speedup | auto |\n");
  std::printf("|---|---|---|---|---|---|---|---|\n");
  std::map<std::tuple<std::string, int64_t, int64_t>, std::vector<std::pair<double, double>>> ratios;
  for (const auto& c : cases) {
    if (c.density < 0) continue;
    Case dense = c;
    dense.density = -1.0;
    const auto s = collector.times.find(case_name(c)), d = collector.times.find(case_name(dense));
    if (s == collector.times.end() || d == collector.times.end()) continue;  // filtered out
    const bool auto_sparse =
        fk::use_sparse_kernel(fk::LinearShape{c.layer.out, c.layer.in, c.batch, c.threads}, c.density);
    char line[256];
    std::snprintf(line, sizeof line,
                  "%s  {\"layer\": \"%s\", \"density\": %.2f, \"batch\": %ld, \"threads\": %ld, "
                  "\"dense_us\": %.2f, \"sparse_us\": %.2f, \"auto\": \"%s\"}",
                  first ? "" : ",\n", c.layer.name.c_str(), c.density, static_cast<long>(c.batch),
                  static_cast<long>(c.threads), d->second, s->second, auto_sparse ? "sparse" : "dense");
    json << line;
    first = false;
    std::printf("| %s | %.0f%% | %ld | %ld | %.1f | %.1f | %.2fx | %s%s |\n", c.layer.name.c_str(), 100 * c.density,
                static_cast<long>(c.batch), static_cast<long>(c.threads), d->second, s->second,
                d->second / s->second, auto_sparse ? "sparse" : "dense",
                auto_sparse && s->second > d->second ? " (slower!)" : "");
    ratios[{c.layer.name, c.batch, c.threads}].emplace_back(c.density, s->second / d->second);
  }
  json << "\n]\n";

  std::printf("\nCrossover density (sparse time = dense time; 0.50 means sparse still wins at 50%%):\n\n");
  std::printf("| layer | batch | threads | crossover |\n|---|---|---|---|\n");
  for (auto& [key, points] : ratios) {
    std::sort(points.begin(), points.end());
    std::printf("| %s | %ld | %ld | %.3f |\n", std::get<0>(key).c_str(), static_cast<long>(std::get<1>(key)),
                static_cast<long>(std::get<2>(key)), crossover(points));
  }
  std::printf("\nwrote %s\n", json_path.c_str());
  return 0;
}
