#include <frugal/kernels/dispatch.h>
#include <frugal/kernels/sparse_conv2d.h>
#include <frugal/kernels/sparse_linear.h>

#include "csr_kernels.h"
#include "frugal/core/enum_names.h"
#include "frugal/core/threads.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <c10/util/Exception.h>
#include <torch/utils.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <map>
#include <mutex>
#include <tuple>
#include <vector>

namespace frugal::kernels {
namespace {

std::atomic<CrossoverSource> g_source{CrossoverSource::kTable};

void check_shape(const LinearShape& s) {
  TORCH_CHECK(s.out_features >= 0 && s.in_features >= 0 && s.batch >= 1 && s.threads >= 1,
              "LinearShape: need out, in >= 0 and batch, threads >= 1; got out = ", s.out_features,
              ", in = ", s.in_features, ", batch = ", s.batch, ", threads = ", s.threads);
}

/// Batch sizes share a measurement within a power of two.
int64_t batch_bucket(int64_t batch) {
  int64_t b = 1;
  while (b < batch) b *= 2;
  return b;
}

/// Runs with `threads` threads and restores the previous count.
class ThreadsGuard {
 public:
  explicit ThreadsGuard(int64_t threads) : prev_(at::get_num_threads()) {
    if (threads != prev_) set_num_threads(threads);
  }
  ~ThreadsGuard() { set_num_threads(prev_); }

 private:
  int64_t prev_;
};

/// Median wall time of `fn` in microseconds, after one warm-up call.
template <class Fn>
double median_us(Fn&& fn) {
  using Clock = std::chrono::steady_clock;
  fn();
  std::vector<double> t;
  const auto start = Clock::now();
  // At least 3 runs, and about 30 ms in all so that short calls are averaged.
  while (t.size() < 3 || (t.size() < 50 && std::chrono::duration<double>(Clock::now() - start).count() < 0.03)) {
    const auto t0 = Clock::now();
    fn();
    t.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  std::nth_element(t.begin(), t.begin() + t.size() / 2, t.end());
  return t[t.size() / 2];
}

/// The density at which the sparse time, fitted linearly through (d1, t1)
/// and (d2, t2), equals the dense time, in [0, 1].
double fitted_crossover(double t_dense, double d1, double t1, double d2, double t2) {
  const double slope = (t2 - t1) / (d2 - d1);
  const double base = t1 - slope * d1;
  if (slope > 0) return std::clamp((t_dense - base) / slope, 0.0, 1.0);
  return t_dense > base ? 1.0 : 0.0;
}

/// kSparse and kDense decide alone; kAuto compares the density with the
/// crossover that `crossover` gives.
template <class Crossover>
bool decide(KernelChoice choice, double density, Crossover&& crossover) {
  switch (choice) {
    case KernelChoice::kSparse: return true;
    case KernelChoice::kDense: return false;
    case KernelChoice::kAuto: break;
  }
  return density < crossover();
}

// The table behind kTable, measured with bench/kernels.sh (bench_kernels) on
// the reference machine (2-core AMD EPYC VM, family 23 model 1, AVX2;
// LibTorch 1.13 on the OpenMP build of OpenBLAS 0.3.21, primed as
// core/blas_prime.h describes; bench/results/kernels.json, 2026-12-01). For
// each layer (784x300, 300x100, 4096x4096), batch (1, 32, 256) and thread
// count (1, 2), the crossover is the density at which the sparse forward time
// equals torch::linear's, interpolated linearly between the measured
// densities (1, 2, 5, 10, 20, 50%); a layer still faster sparse at 50% counts
// as 0.5 (higher densities were not measured). Each entry is the smallest
// crossover over those layers and over two runs, the conservative choice.
// Batch 1 is its own row; 2-64 use the batch-32 measurements, larger batches
// the batch-256 ones.
struct TableRow {
  int64_t max_batch;
  double one_thread;
  double many_threads;
};
constexpr TableRow kTable[] = {
    {1, 0.49, 0.33},
    {64, 0.50, 0.33},
    {INT64_MAX, 0.41, 0.25},
};
// Tiny layers (100x10 in the benchmark) at small batches take 3 to 7 us
// either way, mostly fixed per-call cost, and which path wins changed from
// run to run: they stay dense. At batch > 64 the table holds for them.
constexpr int64_t kTinyWeights = 4096;
constexpr int64_t kTinyMaxBatch = 64;

}  // namespace

double table_crossover_density(const LinearShape& shape) {
  check_shape(shape);
  for (const auto& row : kTable) {
    if (shape.batch > row.max_batch) continue;
    const double d = shape.threads > 1 ? row.many_threads : row.one_thread;
    const bool tiny = shape.out_features * shape.in_features < kTinyWeights && shape.batch <= kTinyMaxBatch;
    return tiny ? 0.0 : d;
  }
  return 0.0;
}

double measure_crossover_density(const LinearShape& shape) {
  check_shape(shape);
  using Key = std::tuple<int64_t, int64_t, int64_t, int64_t>;
  static std::mutex mutex;
  static std::map<Key, double> cache;
  const int64_t batch = batch_bucket(shape.batch);
  const Key key{shape.out_features, shape.in_features, batch, shape.threads};
  std::lock_guard<std::mutex> lock(mutex);
  if (const auto it = cache.find(key); it != cache.end()) return it->second;

  const int64_t out = shape.out_features, in = shape.in_features;
  double crossover = 1.0;
  if (out > 0 && in > 0) {
    ThreadsGuard threads(shape.threads);
    torch::NoGradGuard no_grad;
    // A private generator: measuring must not shift the caller's random stream.
    auto gen = at::make_generator<at::CPUGeneratorImpl>(0x5eed);
    const auto x = at::randn({batch, in}, gen);
    const auto w = at::randn({out, in}, gen);
    const auto b = at::randn({out}, gen);
    const double t_dense = median_us([&] { at::linear(x, w, b); });
    const double d1 = 0.05, d2 = 0.30;
    double t[2];
    for (int i = 0; i < 2; ++i) {
      const auto mask = at::rand({out, in}, gen).lt(i == 0 ? d1 : d2);
      const auto pattern = CsrPattern::from_mask(mask);
      const auto values = csr_values(w, pattern);
      t[i] = median_us([&] { sparse_linear(x, values, pattern, b); });
    }
    crossover = fitted_crossover(t_dense, d1, t[0], d2, t[1]);
  }
  cache.emplace(key, crossover);
  return crossover;
}

double measure_conv_crossover_density(const ConvShape& shape) {
  const auto& s = shape;
  TORCH_CHECK(s.out_channels >= 0 && s.in_channels >= 0 && s.kernel_h >= 1 && s.kernel_w >= 1 && s.height >= 1 &&
                  s.width >= 1 && s.stride_h >= 1 && s.stride_w >= 1 && s.pad_h >= 0 && s.pad_w >= 0 &&
                  s.dilation_h >= 1 && s.dilation_w >= 1 && s.batch >= 1 && s.threads >= 1,
              "ConvShape: invalid sizes: out = ", s.out_channels, ", in = ", s.in_channels, ", kernel = ", s.kernel_h,
              "x", s.kernel_w, ", image = ", s.height, "x", s.width, ", stride = ", s.stride_h, "x", s.stride_w,
              ", padding = ", s.pad_h, "x", s.pad_w, ", dilation = ", s.dilation_h, "x", s.dilation_w,
              ", batch = ", s.batch, ", threads = ", s.threads);
  const int64_t batch = batch_bucket(s.batch);
  const std::vector<int64_t> key = {s.out_channels, s.in_channels, s.kernel_h, s.kernel_w, s.height, s.width,
                                    s.stride_h, s.stride_w, s.pad_h, s.pad_w, s.dilation_h, s.dilation_w,
                                    batch, s.threads};
  static std::mutex mutex;
  static std::map<std::vector<int64_t>, double> cache;
  std::lock_guard<std::mutex> lock(mutex);
  if (const auto it = cache.find(key); it != cache.end()) return it->second;

  double crossover = 1.0;
  const int64_t cols = s.in_channels * s.kernel_h * s.kernel_w;
  if (s.out_channels > 0 && cols > 0) {
    ThreadsGuard threads(s.threads);
    torch::NoGradGuard no_grad;
    auto gen = at::make_generator<at::CPUGeneratorImpl>(0x5eed);
    const auto x = at::randn({batch, s.in_channels, s.height, s.width}, gen);
    const auto w = at::randn({s.out_channels, s.in_channels, s.kernel_h, s.kernel_w}, gen);
    const auto b = at::randn({s.out_channels}, gen);
    const std::vector<int64_t> stride = {s.stride_h, s.stride_w}, pad = {s.pad_h, s.pad_w},
                               dil = {s.dilation_h, s.dilation_w};
    const double t_dense = median_us([&] { at::conv2d(x, w, b, stride, pad, dil); });
    const auto options = SparseConv2dOptions({s.kernel_h, s.kernel_w})
                             .stride({s.stride_h, s.stride_w})
                             .padding({s.pad_h, s.pad_w})
                             .dilation({s.dilation_h, s.dilation_w});
    const double d1 = 0.05, d2 = 0.30;
    double t[2];
    for (int i = 0; i < 2; ++i) {
      const auto pattern = CsrPattern::from_mask(at::rand({s.out_channels, cols}, gen).lt(i == 0 ? d1 : d2));
      const auto values = csr_values(w.view({s.out_channels, cols}), pattern);
      t[i] = median_us([&] { sparse_conv2d(x, values, pattern, b, options); });
    }
    crossover = fitted_crossover(t_dense, d1, t[0], d2, t[1]);
  }
  cache.emplace(key, crossover);
  return crossover;
}

bool use_sparse_conv_kernel(const ConvShape& shape, double density, KernelChoice choice) {
  TORCH_CHECK(density >= 0.0 && density <= 1.0, "use_sparse_conv_kernel: density must be in [0, 1], got ", density);
  return decide(choice, density, [&] { return measure_conv_crossover_density(shape); });
}

void set_crossover_source(CrossoverSource source) { g_source.store(source); }
CrossoverSource crossover_source() { return g_source.load(); }

namespace {

constexpr core::EnumName<KernelChoice> kChoiceNames[] = {
    {KernelChoice::kAuto, "auto"}, {KernelChoice::kSparse, "sparse"}, {KernelChoice::kDense, "dense"}};
constexpr const char* kChoiceWhat = "kernel choice";

}  // namespace

KernelChoice parse_kernel_choice(const std::string& name) { return core::parse_enum(kChoiceWhat, kChoiceNames, name); }

std::string to_string(KernelChoice choice) { return core::enum_name(kChoiceWhat, kChoiceNames, choice); }

double crossover_density(const LinearShape& shape) {
  return crossover_source() == CrossoverSource::kMeasure ? measure_crossover_density(shape)
                                                         : table_crossover_density(shape);
}

bool use_sparse_kernel(const LinearShape& shape, double density, KernelChoice choice) {
  TORCH_CHECK(density >= 0.0 && density <= 1.0, "use_sparse_kernel: density must be in [0, 1], got ", density);
  return decide(choice, density, [&] { return crossover_density(shape); });
}

bool KernelDecisions::use_sparse(int64_t out_features, int64_t in_features, int64_t batch, double density,
                                 KernelChoice choice) {
  if (choice != KernelChoice::kAuto) return choice == KernelChoice::kSparse;
  const int64_t threads = at::get_num_threads();
  const auto key = std::make_pair(batch, threads);
  if (const auto it = cache_.find(key); it != cache_.end()) return it->second;
  const bool sparse = use_sparse_kernel(LinearShape{out_features, in_features, batch, threads}, density, choice);
  cache_.emplace(key, sparse);
  return sparse;
}

void set_num_threads(int64_t threads) {
  TORCH_CHECK(threads >= 1, "set_num_threads: need at least one thread, got ", threads);
  at::set_num_threads(static_cast<int>(threads));
  core::set_blas_threads(threads);
}

bool avx2_kernels_active() { return detail::avx2_active(); }
void set_portable_kernels(bool portable) { detail::force_portable(portable); }

}  // namespace frugal::kernels
