#pragma once
/// Readying OpenBLAS's packing buffer before the first timed product.
///
/// On this project's Zen machine, OpenBLAS 0.3.21's single-precision GEMM
/// runs 2.3 to 3x slower on products with at most 320 rows in the kernel's
/// layout (a 784 -> 300 or 300 -> 100 Linear layer) until some larger product
/// has run in the process (docs/RESULTS.md, speed: [256, 784] x [784, 300] on
/// one thread, 10.8 ms against 3.4 ms). perf puts 71% of the kernel's samples
/// on the instruction after its `prefetcht1` of the next packed block; the
/// likely cause (inferred, not read in OpenBLAS's source) is that this
/// prefetch reaches pages of the packing buffer no product has written yet,
/// so each one costs a page walk that never succeeds. A training step's
/// backward runs a product large enough to end the state; forward-only work
/// (evaluation, inference, a kernel benchmark's dense side) may never do.
///
/// prime_blas runs one 512 x 512 x 512 product, once per process, on the
/// current thread count, which writes the pages. core::set_blas_threads calls
/// it, so every frugal entry point that sets threads (core::set_threads, the
/// Trainer, kernels::set_num_threads) has a primed BLAS; a program that uses
/// frugal's layers without setting threads can call it itself.

namespace frugal::core {

/// Runs the priming product the first time it is called (about 3 to 10 ms on
/// one core); later calls return at once. Uses no random numbers and records
/// nothing for autograd. True on the call that ran the product.
bool prime_blas();

namespace detail {
/// The priming product itself, every time it is called (for tests).
void blas_priming_product();
}  // namespace detail

}  // namespace frugal::core
