#pragma once
/// Sparse or dense: which kernel a layer should use.
///
/// The sparse kernel does work proportional to the non-zeros, torch::linear
/// (OpenBLAS sgemm) does work proportional to rows * cols at several times the
/// throughput per multiply-add; so for each layer shape, batch size and thread
/// count there is a crossover density below which sparse is faster. It is
/// either measured on the running machine (once per shape, cached) or read
/// from a table measured with bench/kernels.sh (see docs in dispatch.cpp).
///
/// Sparse kernels for deep learning on CPUs: Gale, Zaharia, Young & Elsen,
/// "Sparse GPU Kernels for Deep Learning", SC 2020 (the SpMM / SDDMM split
/// used here); Elsen, Dukhan, Gale & Simonyan, "Fast Sparse ConvNets", CVPR
/// 2020 (crossover densities of sparse vs dense on CPU).

#include <cstdint>
#include <map>
#include <string>
#include <utility>

namespace frugal::kernels {

/// Which kernel a sparse layer runs.
enum class KernelChoice {
  /// Sparse when the layer's density is below the crossover density for its
  /// shape, batch and threads; dense otherwise.
  kAuto,
  /// Always the CSR kernels.
  kSparse,
  /// Always torch::linear on the densified weight.
  kDense,
};

/// "auto", "sparse" or "dense". Throws on any other name.
KernelChoice parse_kernel_choice(const std::string& name);
std::string to_string(KernelChoice choice);

/// Where kAuto takes the crossover density from.
enum class CrossoverSource {
  /// The table measured by bench/kernels.sh on the reference machine:
  /// deterministic, no timing at run time.
  kTable,
  /// Timed on this machine the first time a shape is seen, then cached.
  kMeasure,
};

/// One call of a linear layer: y [batch, out] = x [batch, in] W^T.
struct LinearShape {
  int64_t out_features = 0;
  int64_t in_features = 0;
  int64_t batch = 1;
  /// Intra-op threads (at::get_num_threads()).
  int64_t threads = 1;
};

/// The crossover density from the built-in table (in [0, 1]).
double table_crossover_density(const LinearShape& shape);

/// The crossover density timed on this machine: torch::linear against the
/// sparse kernel at two densities (5% and 30%, random patterns), with the
/// sparse time fitted as a + c * density. Measured once per (out, in, batch
/// rounded up to a power of two, threads) and cached for the process
/// (thread-safe). Takes up to a few hundred milliseconds for large layers.
double measure_crossover_density(const LinearShape& shape);

/// Sets where kAuto reads the crossover. Default: kTable.
void set_crossover_source(CrossoverSource source);
CrossoverSource crossover_source();

/// The crossover density kAuto uses for `shape` under the current source.
double crossover_density(const LinearShape& shape);

/// Whether a layer of the given density should run the sparse kernel:
/// kSparse -> true, kDense -> false, kAuto -> density < crossover_density(shape).
bool use_sparse_kernel(const LinearShape& shape, double density, KernelChoice choice = KernelChoice::kAuto);

/// One layer's kAuto decisions, cached per (batch, threads): a layer asks on
/// every call, and the crossover lookup (or measurement) is not free.
class KernelDecisions {
 public:
  /// use_sparse_kernel() for a [out, in] layer of `density` at `batch` rows
  /// and the current intra-op thread count.
  bool use_sparse(int64_t out_features, int64_t in_features, int64_t batch, double density, KernelChoice choice);
  /// Forgets every decision; call when the layer's density changes.
  void clear() { cache_.clear(); }

 private:
  std::map<std::pair<int64_t, int64_t>, bool> cache_;
};

/// One call of a conv2d layer (groups = 1): input [batch, in, height, width],
/// weight [out, in, kernel_h, kernel_w].
struct ConvShape {
  int64_t out_channels = 0;
  int64_t in_channels = 0;
  int64_t kernel_h = 1, kernel_w = 1;
  int64_t height = 1, width = 1;
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_h = 0, pad_w = 0;
  int64_t dilation_h = 1, dilation_w = 1;
  int64_t batch = 1;
  /// Intra-op threads (at::get_num_threads()).
  int64_t threads = 1;
};

/// The crossover density of sparse_conv2d against at::conv2d, timed on this
/// machine as measure_crossover_density() does for linear layers (the forward
/// at densities 5% and 30%, fitted linearly). Measured once per shape (batch
/// rounded up to a power of two) and threads, cached for the process
/// (thread-safe); a large layer takes a few hundred milliseconds once.
///
/// Conv layers have no built-in table: their cost depends on too many sizes
/// (channels, image, kernel, stride) for a few measured rows to cover, so
/// kAuto measures them whatever crossover_source() says.
double measure_conv_crossover_density(const ConvShape& shape);

/// Whether a conv layer of the given density should run the sparse kernel:
/// kSparse -> true, kDense -> false, kAuto -> density <
/// measure_conv_crossover_density(shape).
bool use_sparse_conv_kernel(const ConvShape& shape, double density, KernelChoice choice = KernelChoice::kAuto);

/// Sets the threads of LibTorch's intra-op pool (torch::set_num_threads) and
/// of OpenBLAS's own pool. Debian's LibTorch calls OpenBLAS's pthread build,
/// whose pool torch::set_num_threads does not reach: without this, a
/// "single-threaded" dense matmul still runs on every core.
void set_num_threads(int64_t threads);

/// Whether the AVX2 + FMA kernels are in use (CPU support, not forced off).
bool avx2_kernels_active();
/// Forces the portable kernels (true) or returns to the automatic choice
/// (false). For tests and benchmarks; process-wide.
void set_portable_kernels(bool portable);

}  // namespace frugal::kernels
