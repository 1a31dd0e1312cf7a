// Micro-benchmark of one conv layer, sparse (kernels::sparse_conv2d, direct
// sparse convolution) against dense (at::conv2d on the masked weight), at the
// conv shapes of the built-in CNN and ResNet-20 on 28x28 inputs: forward
// (inference, no autograd) and forward + backward (input, weight / values and
// bias gradients; no input gradient for the one-channel first layers). Dense and sparse calls alternate within each round so that
// machine noise hits both alike; prints the medians over ROUNDS rounds.
//
//   build/bench_sparse_conv_layer [density=0.1] [rounds=7] [threads=0 (LibTorch's default)]
//
// Built by `cmake --build build --target bench_sparse_conv_layer`.

#include <frugal/kernels/csr.h>
#include <frugal/kernels/dispatch.h>
#include <frugal/kernels/sparse_conv2d.h>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/autograd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace fk = frugal::kernels;

namespace {

struct Layer {
  const char* name;
  int64_t batch, cin, cout, size, k, stride, pad;
};

const Layer kLayers[] = {
    {"cnn.conv1 1->32 28x28", 128, 1, 32, 28, 3, 1, 1},
    {"cnn.conv2 32->64 14x14", 128, 32, 64, 14, 3, 1, 1},
    {"resnet stem 1->16 28x28", 128, 1, 16, 28, 3, 1, 1},
    {"resnet 16->16 28x28", 128, 16, 16, 28, 3, 1, 1},
    {"resnet 16->32 s2 28x28", 128, 16, 32, 28, 3, 2, 1},
    {"resnet 32->32 14x14", 128, 32, 32, 14, 3, 1, 1},
    {"resnet 32->64 s2 14x14", 128, 32, 64, 14, 3, 2, 1},
    {"resnet 64->64 7x7", 128, 64, 64, 7, 3, 1, 1},
    {"resnet 1x1 16->32 s2", 128, 16, 32, 28, 1, 2, 0},
};

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

template <class Fn>
double time_ms(Fn&& fn) {
  const auto t0 = std::chrono::steady_clock::now();
  fn();
  return ms_since(t0);
}

double median(std::vector<double> v) {
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const double density = argc > 1 ? std::atof(argv[1]) : 0.1;
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 7;
  const int threads = argc > 3 ? std::atoi(argv[3]) : 0;
  if (threads > 0) fk::set_num_threads(threads);
  std::printf("density %.3f, %d rounds, %d threads, avx2 %s\n", density, rounds, at::get_num_threads(),
              fk::avx2_kernels_active() ? "on" : "off");
  std::printf("| layer | dense fwd ms | sparse fwd ms | fwd speed-up | dense fwd+bwd ms | sparse fwd+bwd ms | "
              "fwd+bwd speed-up |\n|---|---|---|---|---|---|---|\n");
  at::manual_seed(0);
  for (const auto& l : kLayers) {
    const auto x = at::randn({l.batch, l.cin, l.size, l.size});
    const auto mask = at::rand({l.cout, l.cin, l.k, l.k}).lt(density);
    const auto w = at::randn({l.cout, l.cin, l.k, l.k}) * mask;
    const auto b = at::randn({l.cout});
    const auto pattern = fk::CsrPattern::from_mask(mask.view({l.cout, -1}));
    const auto values = fk::csr_values(w.view({l.cout, -1}), pattern);
    const auto opts = fk::SparseConv2dOptions(l.k).stride(l.stride).padding(l.pad);
    const std::vector<int64_t> stride = {l.stride, l.stride}, pad = {l.pad, l.pad};
    auto dense_fwd = [&] {
      at::NoGradGuard g;
      at::conv2d(x, w, b, stride, pad);
    };
    auto sparse_fwd = [&] {
      at::NoGradGuard g;
      fk::sparse_conv2d(x, values, pattern, b, opts);
    };
    // A model's first layer (one input channel here) gets no input gradient.
    const bool input_grad = l.cin > 1;
    auto dense_train = [&] {
      auto xi = x.detach().requires_grad_(input_grad), wi = w.detach().requires_grad_(true), bi = b.detach().requires_grad_(true);
      auto y = at::conv2d(xi, wi, bi, stride, pad);
      y.backward(at::ones_like(y));
    };
    auto sparse_train = [&] {
      auto xi = x.detach().requires_grad_(input_grad), vi = values.detach().requires_grad_(true),
           bi = b.detach().requires_grad_(true);
      auto y = fk::sparse_conv2d(xi, vi, pattern, bi, opts);
      y.backward(at::ones_like(y));
    };
    dense_fwd(), sparse_fwd(), dense_train(), sparse_train();  // warm-up
    std::vector<double> df, sf, dt, st;
    for (int r = 0; r < rounds; ++r) {
      df.push_back(time_ms(dense_fwd));
      sf.push_back(time_ms(sparse_fwd));
      dt.push_back(time_ms(dense_train));
      st.push_back(time_ms(sparse_train));
    }
    const double mdf = median(df), msf = median(sf), mdt = median(dt), mst = median(st);
    std::printf("| %s | %.2f | %.2f | %.2fx | %.2f | %.2f | %.2fx |\n", l.name, mdf, msf, mdf / msf, mdt, mst,
                mdt / mst);
    std::fflush(stdout);
  }
  return 0;
}
