#include "frugal/sparse/random.h"

#include <c10/util/Exception.h>

#include <sstream>
#include <string>

namespace frugal::sparse {

Rng::Rng(uint64_t seed) {
  // A seed sequence spreads small consecutive seeds (0, 1, 2, ...) over the
  // whole 19937-bit state, so their streams are unrelated.
  std::seed_seq sequence{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32),
                         0x73706172u /* "spar" */};
  engine_.seed(sequence);
}

uint64_t Rng::below(uint64_t n) {
  TORCH_CHECK(n > 0, "Rng::below needs a positive bound, got ", n);
  // Lemire's multiply-shift: the high word of x * n is uniform in [0, n) once
  // the few low words that would favour some values are rejected.
  unsigned __int128 product = static_cast<unsigned __int128>(next()) * n;
  uint64_t low = static_cast<uint64_t>(product);
  if (low < n) {
    const uint64_t threshold = -n % n;
    while (low < threshold) {
      product = static_cast<unsigned __int128>(next()) * n;
      low = static_cast<uint64_t>(product);
    }
  }
  return static_cast<uint64_t>(product >> 64);
}

torch::Tensor Rng::state() const {
  std::ostringstream out;
  out << engine_;
  const std::string text = out.str();
  auto tensor = torch::empty({static_cast<int64_t>(text.size())}, torch::kUInt8);
  std::copy(text.begin(), text.end(), tensor.data_ptr<uint8_t>());
  return tensor;
}

void Rng::set_state(const torch::Tensor& state) {
  TORCH_CHECK(state.defined() && state.dim() == 1 && state.scalar_type() == torch::kUInt8,
              "random generator state must be a 1-D uint8 tensor, got ",
              state.defined() ? state.toString() : std::string("an undefined tensor"));
  auto contiguous = state.contiguous();
  const auto* data = contiguous.data_ptr<uint8_t>();
  std::istringstream in(std::string(data, data + contiguous.numel()));
  std::mt19937_64 engine;
  in >> engine;
  TORCH_CHECK(!in.fail(), "random generator state is corrupt (", contiguous.numel(), " bytes)");
  engine_ = engine;
}

torch::Tensor choose(torch::Tensor& candidates, int64_t k, Rng& rng) {
  TORCH_CHECK(candidates.dim() == 1 && candidates.scalar_type() == torch::kLong &&
                  candidates.is_contiguous(),
              "choose needs a contiguous 1-D int64 tensor of candidates");
  const int64_t n = candidates.numel();
  TORCH_CHECK(k >= 0 && k <= n, "cannot choose ", k, " of ", n, " candidates");
  if (!candidates.device().is_cpu()) {
    // The shuffle walks host memory: shuffle a CPU copy and write it back.
    auto host = candidates.cpu();
    choose(host, k, rng);
    candidates.copy_(host);
    return candidates.narrow(0, 0, k);
  }
  int64_t* data = candidates.data_ptr<int64_t>();
  for (int64_t i = 0; i < k; ++i) {
    const int64_t j = i + static_cast<int64_t>(rng.below(static_cast<uint64_t>(n - i)));
    std::swap(data[i], data[j]);
  }
  return candidates.narrow(0, 0, k);
}

torch::Tensor random_mask(at::IntArrayRef shape, int64_t k, Rng& rng) {
  auto mask = torch::empty(shape, torch::kBool);
  const int64_t n = mask.numel();
  TORCH_CHECK(k >= 0 && k <= n, "cannot activate ", k, " of ", n, " weights");
  // Draw the smaller side so the rejection rate stays below one half.
  const bool draw_active = k <= n - k;
  const int64_t draws = draw_active ? k : n - k;
  mask.fill_(!draw_active);
  bool* data = mask.data_ptr<bool>();
  for (int64_t drawn = 0; drawn < draws;) {
    const uint64_t i = rng.below(static_cast<uint64_t>(n));
    if (data[i] != draw_active) {
      data[i] = draw_active;
      ++drawn;
    }
  }
  return mask;
}

}  // namespace frugal::sparse
