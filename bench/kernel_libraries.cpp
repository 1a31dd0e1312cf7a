// Why frugal has its own sparse kernel: the forward product of a sparse
// linear layer, y = x W^T, with frugal's CSR kernel against what Debian already
// offers, LibTorch 1.13's sparse CSR matmul and libxsmm 1.17's sparse x dense
// product (libxsmm_spmdm), and against dense torch::linear (OpenBLAS), one
// thread, in the same run. Every library's output is checked against the
// dense product of the masked weight before it is timed.
//
//   bench_kernel_libraries [--json PATH]
//
// libxsmm: Heinecke, Henry, Hutchinson & Pabst, "LIBXSMM: Accelerating Small
// Matrix Multiplications by Runtime Code Generation", SC 2016; its spmdm
// routines are the sparse-dense products of Intel's DL work (Satish et al.).

#include <frugal/kernels/csr.h>
#include <frugal/kernels/dispatch.h>
#include <frugal/kernels/sparse_linear.h>

#include <libxsmm.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

namespace fk = frugal::kernels;

namespace {

/// Median wall time of `fn` in microseconds over at least 5 calls and about 0.3 s.
double median_us(const std::function<void()>& fn) {
  using Clock = std::chrono::steady_clock;
  fn();
  std::vector<double> t;
  const auto start = Clock::now();
  while (t.size() < 5 || (t.size() < 200 && std::chrono::duration<double>(Clock::now() - start).count() < 0.3)) {
    const auto t0 = Clock::now();
    fn();
    t.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  std::nth_element(t.begin(), t.begin() + t.size() / 2, t.end());
  return t[t.size() / 2];
}

/// y [batch, out] = x [batch, in] W^T through libxsmm's sparse x dense product,
/// computed as C = A B with A = W (sparse slices, M = out, K = in), B = x^T
/// (given as x, transb 'T'), C = y^T (written as y, transc 'T').
class XsmmLinear {
 public:
  XsmmLinear(const torch::Tensor& weight, int64_t batch) : m_(weight.size(0)), k_(weight.size(1)), n_(batch) {
    libxsmm_spmdm_init(static_cast<int>(m_), static_cast<int>(n_), static_cast<int>(k_), 1, &handle_, &slices_);
    const auto w = weight.contiguous();
    for (int b = 0; b < libxsmm_spmdm_get_num_createSparseSlice_blocks(&handle_); ++b)
      libxsmm_spmdm_createSparseSlice_fp32_thread(&handle_, 'N', w.data_ptr<float>(), slices_, b, 0, 1);
  }
  ~XsmmLinear() { libxsmm_spmdm_destroy(&handle_); }
  XsmmLinear(const XsmmLinear&) = delete;
  XsmmLinear& operator=(const XsmmLinear&) = delete;

  void forward(const torch::Tensor& x, torch::Tensor& y) {
    const float alpha = 1.f, beta = 0.f;
    for (int b = 0; b < libxsmm_spmdm_get_num_compute_blocks(&handle_); ++b)
      libxsmm_spmdm_compute_fp32_thread(&handle_, 'N', 'T', &alpha, slices_, x.data_ptr<float>(), 'T', &beta,
                                        y.data_ptr<float>(), b, 0, 1);
  }

 private:
  int64_t m_, k_, n_;
  libxsmm_spmdm_handle handle_{};
  libxsmm_CSR_sparseslice* slices_ = nullptr;
};

torch::Tensor exact_mask(int64_t out, int64_t in, double density) {
  const int64_t total = out * in, keep = static_cast<int64_t>(std::llround(density * total));
  auto mask = torch::zeros({total}, torch::kBool);
  mask.index_fill_(0, torch::randperm(total, torch::kLong).slice(0, 0, keep), true);
  return mask.view({out, in});
}

double max_error(const torch::Tensor& got, const torch::Tensor& want) {
  return (got - want).abs().max().item<double>() / std::max(1e-12, want.abs().max().item<double>());
}

}  // namespace

int main(int argc, char** argv) {
  std::string json_path = "kernel_libraries.json";
  for (int i = 1; i < argc; ++i) {
    TORCH_CHECK(std::strcmp(argv[i], "--json") == 0 && i + 1 < argc, "usage: bench_kernel_libraries [--json PATH]");
    json_path = argv[++i];
  }
  fk::set_num_threads(1);
  libxsmm_init();
  torch::NoGradGuard no_grad;
  torch::manual_seed(0);

  struct Layer {
    const char* name;
    int64_t out, in;
  };
  const Layer layers[] = {{"784x300", 300, 784}, {"4096x4096", 4096, 4096}};
  std::ofstream json(json_path);
  json << "[\n";
  bool first = true;
  std::printf("| layer | density | batch | dense us | frugal us | LibTorch CSR us | libxsmm us | frugal vs dense | "
              "best library vs dense |\n|---|---|---|---|---|---|---|---|---|\n");
  for (const auto& layer : layers)
    for (const double density : {0.10, 0.02})
      for (const int64_t batch : {32, 256}) {
        const auto mask = exact_mask(layer.out, layer.in, density);
        const auto weight = torch::randn({layer.out, layer.in}) * mask;
        const auto x = torch::randn({batch, layer.in});
        const auto reference = torch::linear(x, weight);

        const auto pattern = fk::CsrPattern::from_mask(mask);
        const auto values = fk::csr_values(weight, pattern).contiguous();
        const auto torch_csr = fk::to_torch_sparse_csr(values, pattern);
        const auto xt = x.t().contiguous();
        XsmmLinear xsmm(weight, batch);
        auto xsmm_y = torch::empty({batch, layer.out});

        // Correctness first: a fast wrong product would mean nothing.
        xsmm.forward(x, xsmm_y);
        const double err_frugal = max_error(fk::sparse_linear(x, values, pattern), reference);
        const double err_torch = max_error(torch::mm(torch_csr, xt).t(), reference);
        const double err_xsmm = max_error(xsmm_y, reference);
        TORCH_CHECK(err_frugal < 1e-4 && err_torch < 1e-4 && err_xsmm < 1e-4, "wrong product for ", layer.name,
                    " at density ", density, ", batch ", batch, ": relative errors frugal ", err_frugal,
                    ", LibTorch CSR ", err_torch, ", libxsmm ", err_xsmm);

        const double dense_us = median_us([&] { torch::linear(x, weight); });
        const double frugal_us = median_us([&] { fk::sparse_linear(x, values, pattern); });
        const double torch_us = median_us([&] { torch::mm(torch_csr, xt); });
        const double xsmm_us = median_us([&] { xsmm.forward(x, xsmm_y); });
        const double best_library = std::min(torch_us, xsmm_us);
        std::printf("| %s | %.0f%% | %ld | %.1f | %.1f | %.1f | %.1f | %.2fx | %.2fx |\n", layer.name, 100 * density,
                    static_cast<long>(batch), dense_us, frugal_us, torch_us, xsmm_us, dense_us / frugal_us,
                    dense_us / best_library);
        std::fflush(stdout);
        char line[320];
        std::snprintf(line, sizeof line,
                      "%s  {\"layer\": \"%s\", \"density\": %.2f, \"batch\": %ld, \"threads\": 1, \"dense_us\": %.2f, "
                      "\"frugal_us\": %.2f, \"torch_csr_us\": %.2f, \"libxsmm_us\": %.2f}",
                      first ? "" : ",\n", layer.name, density, static_cast<long>(batch), dense_us, frugal_us, torch_us,
                      xsmm_us);
        json << line;
        first = false;
      }
  json << "\n]\n";
  libxsmm_finalize();
  std::printf("\nwrote %s\n", json_path.c_str());
  return 0;
}
