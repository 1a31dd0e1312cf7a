#pragma once
/// How many threads frugal computes with, and in which pool.
///
/// LibTorch runs its own ops on an OpenMP pool (libgomp) and calls OpenBLAS
/// for matrix products. Debian ships two OpenBLAS builds behind one soname:
/// with the OpenMP build (libopenblas0-openmp, what scripts/setup.sh selects)
/// OpenBLAS runs on that same OpenMP pool, so there is one pool and nothing to
/// contend. With the pthread build (libopenblas0-pthread) there are two pools
/// whose idle workers spin: on 2 cores, 2 threads trained LeNet 3x slower than
/// 1 (docs/RESULTS.md, threads). So with the pthread build only OpenBLAS gets
/// several threads and LibTorch's own pool gets one, which measured never
/// slower than one thread.
///
/// The choice applies to the whole process, so it serves the CLI and a user's
/// own program alike: call set_threads once before training (the Trainer does).

#include <cstdint>
#include <string>

namespace frugal::core {

/// The BLAS LibTorch calls, found at run time.
enum class BlasThreading { kUnknown, kSequential, kPthread, kOpenMP };

BlasThreading blas_threading();
std::string to_string(BlasThreading threading);

/// Cores not kept busy by other processes: the cores this process may run on,
/// less the average load of everything else over a 100 ms sample of
/// /proc/stat; at least 1.
int64_t available_cores();

struct ThreadPlan {
  /// Threads asked for (0 resolved to available_cores()).
  int64_t threads = 1;
  /// Threads of LibTorch's own (OpenMP) pool.
  int64_t intra_op = 1;
  /// Threads OpenBLAS may use per call.
  int64_t blas = 1;
  BlasThreading blas_threading = BlasThreading::kUnknown;
};

/// Sets LibTorch's and OpenBLAS's thread counts for `threads` threads
/// (0: available_cores()) as described above; returns what it set.
ThreadPlan set_threads(int64_t threads);

/// Sets the threads of OpenBLAS's own pool (>= 1), which LibTorch's
/// at::set_num_threads does not reach; false when no OpenBLAS is loaded.
/// Primes the BLAS the first time (core/blas_prime.h), whichever BLAS it is.
bool set_blas_threads(int64_t threads);

}  // namespace frugal::core
