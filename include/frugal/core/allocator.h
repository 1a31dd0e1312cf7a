#pragma once
/// Keeping freed memory for the next training step.
///
/// A training step allocates the same large tensors (activations, their
/// gradients, the convolutions' working buffers) and frees them again.
/// glibc's malloc serves blocks above its mmap threshold with fresh mappings
/// and gives the top of the heap back to the system once more than the trim
/// threshold is free, so every step faults those pages in again: 11% of a
/// sparse CNN training step on one core went to page faults
/// (docs/RESULTS.md, speed). keep_freed_memory raises both thresholds, so the
/// blocks stay in the heap and are reused.
///
/// The setting is process-wide: the Trainer makes it when a run starts (like
/// core::set_threads); a program with its own loop can call it once. A block
/// larger than the new mmap threshold (32 MiB, glibc's upper bound) is still
/// mapped and unmapped as before, and memory is still returned to the system
/// once more than 256 MiB at the top of the heap is free.

namespace frugal::core {

/// Raises glibc's mmap threshold to 32 MiB and its trim threshold to 256 MiB
/// (no effect with another C library). Idempotent; true when glibc took both.
bool keep_freed_memory();

}  // namespace frugal::core
