#pragma once
// The trainer's checkpoint helpers shared by trainer.cpp and checkpoint.cpp
// (private to src/train).

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <cstdint>
#include <string>

namespace frugal::train::detail {

/// Format of checkpoint.pt: 1 (no "format" entry) holds epoch checkpoints
/// only; 2 adds checkpoints within an epoch and the metrics line count.
constexpr int64_t kCheckpointFormat = 2;

/// For a resumed run: keeps the first `lines` lines of the metrics file at
/// `path`, or with `lines` < 0 (a format-1 checkpoint) the records of epochs
/// before `epoch`. Returns the lines kept.
int64_t keep_metrics(const std::string& path, int64_t lines, int64_t epoch);

/// The state of LibTorch's default generator for `device` (dropout and any
/// user code draw from it), and its inverse.
at::Tensor generator_state(c10::Device device);
void set_generator_state(c10::Device device, const at::Tensor& state);

}  // namespace frugal::train::detail
