#pragma once
/// Top-k with deterministic ties: the one selection rule behind pruning's
/// top-v masks and the drop and growth of dynamic sparse training.

#include <cstdint>

namespace frugal::core {

/// Sets keep[i] for the `k` largest of values[0, n) and clears it for the
/// others; among equal values the lower index wins, so the choice is fully
/// determined and does not depend on the selection algorithm. Throws when a
/// value is NaN or k is outside [0, n]. For float and double.
///
/// Two passes over the data in the common case (Floyd & Rivest, "Algorithm
/// 489: SELECT", CACM 1975): a strided sample brackets the threshold, one
/// pass counts the values below the bracket and copies those inside it,
/// std::nth_element finds the threshold within the bracket, and a last pass
/// writes the flags. The result is exact whatever the sample; a bad bracket
/// only costs a full selection.
template <typename T>
void top_k_flags(const T* values, int64_t n, int64_t k, bool* keep);

}  // namespace frugal::core
