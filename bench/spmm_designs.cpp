// The two forms of the CSR product at batch 256, one thread, against the
// dense product, alternated round by round in one run (times: medians over
// rounds; speed-ups: medians of each round's ratio):
//   dense        torch::linear on OpenBLAS
//   sparse       frugal::kernels::sparse_linear (pack + spmm's choice)
//   panels       spmm_panels from a packed x^T (the kernel alone)
//   tiles        spmm_tiles from a packed x^T on 4 KiB pages, y written [B, out]
//   tiles_2m     the same from a copy of x^T on huge pages (empty_huge, as
//                sparse_linear packs wide layers): the TLB's share
//   tiles_t      spmm_tiles from x^T to y^T: the layout kept across layers,
//                no transpose on either side
//   pack         the transpose of x into x^T that every call pays today
//
//   bench_spmm_designs [--json=PATH] [--rounds=N] [--batch=B] [--densities=D,D,...] [--quick]
//
// --batch: the batch (default 256); --densities: the densities of both
// layers (default 0.10,0.02); --quick: 784x300 only, 1 round (a smoke test).

#include <frugal/kernels/csr.h>
#include <frugal/kernels/dispatch.h>
#include <frugal/kernels/sparse_linear.h>

#include "../src/kernels/csr_kernels.h"
#include "../src/kernels/huge_pages.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace fk = frugal::kernels;
namespace fd = frugal::kernels::detail;

namespace {

struct Case {
  const char* name;
  int64_t out, in;
  double density;
};

/// Mean wall time of one call in microseconds, over enough calls for ~50 ms.
double time_us(const std::function<void()>& f) {
  using clock = std::chrono::steady_clock;
  f();
  int64_t n = 0;
  const auto t0 = clock::now();
  double us = 0;
  do {
    f();
    ++n;
    us = std::chrono::duration<double, std::micro>(clock::now() - t0).count();
  } while (us < 5e4);
  return us / static_cast<double>(n);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::string json_path = "spmm_designs.json";
  int rounds = 5;
  int64_t batch = 256;
  std::vector<double> densities = {0.10, 0.02};
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--json=", 7) == 0) {
      json_path = argv[i] + 7;
    } else if (std::strncmp(argv[i], "--rounds=", 9) == 0) {
      rounds = std::atoi(argv[i] + 9);
    } else if (std::strncmp(argv[i], "--batch=", 8) == 0) {
      batch = std::atoll(argv[i] + 8);
    } else if (std::strncmp(argv[i], "--densities=", 12) == 0) {
      densities.clear();
      for (char *d = argv[i] + 12, *end = d; *d; d = end + (*end == ',')) {
        densities.push_back(std::strtod(d, &end));
        if (end == d) {
          densities = {};  // not a number: rejected below
          break;
        }
      }
    } else if (std::strcmp(argv[i], "--quick") == 0) {
      quick = true;
    } else {
      std::fprintf(stderr, "bench_spmm_designs: unknown argument %s\n", argv[i]);
      return 2;
    }
  }
  if (batch < 2 || densities.empty() ||
      std::any_of(densities.begin(), densities.end(), [](double d) { return !(d > 0 && d <= 1); })) {
    std::fprintf(stderr, "bench_spmm_designs: --batch must be >= 2 and --densities in (0, 1]\n");
    return 2;
  }
  if (rounds < 1) {
    std::fprintf(stderr, "bench_spmm_designs: --rounds must be >= 1, got %d\n", rounds);
    return 2;
  }
  if (!fd::avx2_active()) {
    std::fprintf(stderr, "bench_spmm_designs: spmm_tiles needs AVX2 + FMA, not available here\n");
    return 1;
  }
  if (quick) rounds = 1;
  fk::set_num_threads(1);
  torch::NoGradGuard no_grad;
  std::vector<Case> cases;
  if (!quick)
    for (const double d : densities) cases.push_back({"4096x4096", 4096, 4096, d});
  for (const double d : densities) cases.push_back({"784x300", 300, 784, d});
  const int64_t ld = fd::padded_ld(batch);
  const std::vector<std::string> variants = {"dense", "sparse", "panels", "tiles", "tiles_2m", "tiles_t", "pack"};

  std::ofstream json(json_path);
  json << "[\n";
  std::printf("| layer | density | dense us | sparse us | panels us | tiles us | tiles_2m us | tiles_t us | pack us | "
              "panels+pack | tiles+pack | tiles_t | sparse_linear | tiles 4K / 2M |\n"
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (size_t ci = 0; ci < cases.size(); ++ci) {
    const Case& c = cases[ci];
    torch::manual_seed(0);
    const int64_t total = c.out * c.in, keep = static_cast<int64_t>(std::llround(c.density * total));
    auto mask = torch::zeros({total}, torch::kBool);
    mask.index_fill_(0, torch::randperm(total, torch::kLong).slice(0, 0, keep), true);
    const auto pattern = fk::CsrPattern::from_mask(mask.view({c.out, c.in}));
    const auto x = torch::randn({batch, c.in}), w = torch::randn({c.out, c.in}), bias = torch::randn({c.out});
    const auto values = fk::csr_values(w, pattern).contiguous();
    const auto& panels = pattern.panel_offsets();
    const fd::CsrView view{pattern.rows(), pattern.cols(), pattern.row_ptr().data_ptr<int64_t>(),
                           pattern.col_idx().data_ptr<int32_t>(), panels.data_ptr<int32_t>(), panels.size(1) - 1};
    auto xt = torch::empty({c.in, ld}), y = torch::empty({batch, c.out}), yt = torch::empty({c.out, ld});
    const float *v = values.data_ptr<float>(), *b = bias.data_ptr<float>();
    fd::transpose(x.data_ptr<float>(), batch, c.in, xt.data_ptr<float>(), ld);
    const auto xt_2m = fd::empty_huge({c.in, ld}).copy_(xt);
    const std::map<std::string, std::function<void()>> run = {
        {"dense", [&] { torch::linear(x, w, bias); }},
        {"sparse", [&] { fk::sparse_linear(x, values, pattern, bias); }},
        {"panels", [&] { fd::spmm_panels(view, v, xt.data_ptr<float>(), ld, batch, b, y.data_ptr<float>(), c.out); }},
        {"tiles",
         [&] { fd::spmm_tiles(view, v, xt.data_ptr<float>(), ld, batch, b, y.data_ptr<float>(), c.out, false); }},
        {"tiles_2m",
         [&] { fd::spmm_tiles(view, v, xt_2m.data_ptr<float>(), ld, batch, b, y.data_ptr<float>(), c.out, false); }},
        {"tiles_t",
         [&] { fd::spmm_tiles(view, v, xt.data_ptr<float>(), ld, batch, b, yt.data_ptr<float>(), ld, true); }},
        {"pack", [&] { fd::transpose(x.data_ptr<float>(), batch, c.in, xt.data_ptr<float>(), ld); }}};
    // The forms must agree before they are timed.
    const auto ref = torch::linear(x, w * mask.view({c.out, c.in}), bias);
    run.at("tiles")();
    const bool tiles_ok = torch::allclose(y, ref, 1e-3, 1e-3);
    run.at("panels")();
    const bool panels_ok = torch::allclose(y, ref, 1e-3, 1e-3);
    run.at("tiles_t")();
    const bool tiles_t_ok = torch::allclose(yt.slice(1, 0, batch).t(), ref, 1e-3, 1e-3);
    if (!tiles_ok || !panels_ok || !tiles_t_ok) {
      std::fprintf(stderr, "bench_spmm_designs: %s at %.2f: a kernel disagrees with the dense product\n", c.name,
                   c.density);
      return 1;
    }
    std::map<std::string, std::vector<double>> times;
    for (int r = 0; r < rounds; ++r)
      for (const auto& name : variants) times[name].push_back(time_us(run.at(name)));
    std::map<std::string, double> m;
    for (const auto& name : variants) m[name] = median(times[name]);
    // Speed-ups are medians of each round's own ratio: the dense and sparse
    // calls of one round ran seconds apart, so a slow spell of the shared host
    // hits both, where a ratio of separate medians would take it on one side.
    auto speedup = [&](std::initializer_list<const char*> parts) {
      std::vector<double> ratios;
      for (int r = 0; r < rounds; ++r) {
        double t = 0;
        for (const char* p : parts) t += times[p][r];
        ratios.push_back(times["dense"][r] / t);
      }
      return median(ratios);
    };
    const double panels_x = speedup({"panels", "pack"}), tiles_x = speedup({"tiles", "pack"}),
                 tiles_t_x = speedup({"tiles_t"}), sparse_x = speedup({"sparse"});
    std::vector<double> page_ratios;
    for (int r = 0; r < rounds; ++r) page_ratios.push_back(times["tiles"][r] / times["tiles_2m"][r]);
    const double page_x = median(page_ratios);
    std::printf("| %s | %.0f%% | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.2fx | %.2fx | %.2fx | %.2fx | %.2f |\n",
                c.name, 100 * c.density, m["dense"], m["sparse"], m["panels"], m["tiles"], m["tiles_2m"], m["tiles_t"],
                m["pack"], panels_x, tiles_x, tiles_t_x, sparse_x, page_x);
    json << (ci ? ",\n" : "") << "  {\"layer\": \"" << c.name << "\", \"density\": " << c.density
         << ", \"batch\": " << batch << ", \"threads\": 1, \"rounds\": " << rounds;
    for (const auto& name : variants) json << ", \"" << name << "_us\": " << m[name];
    json << ", \"speedup_panels_pack\": " << panels_x << ", \"speedup_tiles_pack\": " << tiles_x
         << ", \"speedup_tiles_t\": " << tiles_t_x << ", \"speedup_sparse_linear\": " << sparse_x
         << ", \"tiles_4k_over_2m\": " << page_x;
    json << "}";
  }
  json << "\n]\n";
  std::printf("\nwrote %s\n", json_path.c_str());
  return 0;
}
