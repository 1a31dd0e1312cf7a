#pragma once
/// Readying OpenBLAS's packing buffer before the first timed product.
///
/// OpenBLAS 0.3.21's single-precision GEMM kernel for Zen (and Haswell)
/// prefetches the next block of its packed right-hand operand. For a product
/// whose packed left block fits one pass (m <= 320 rows in the kernel's
/// layout: a 784 -> 300 or 300 -> 100 Linear layer) that next block lies in a
/// part of the buffer no product has written yet, so the page is not mapped
/// and every prefetch costs a page walk that never succeeds. perf on such a
/// call puts 71% of the kernel's samples on the instruction after that
/// `prefetcht1`, and the product runs 2.3 to 3x slower (docs/RESULTS.md,
/// speed: [256, 784] x [784, 300] on one thread, 10.8 ms against 3.4 ms).
/// The state lasts until a larger product writes those pages, which a
/// training step's backward does but forward-only work (evaluation,
/// inference, a kernel benchmark's dense side) may never do.
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
