#pragma once
// Training hooks that simulate a crash: CrashAt throws when epoch `at`
// begins, CrashAtStep before the forward pass of global step `at` (within an
// epoch). -1: never (a resumed run needs the same hooks, so it adds one too).

#include "frugal/core/hook.h"

#include <stdexcept>
#include <string>

namespace frugal_test {

struct CrashAt : frugal::core::TrainHook {
  explicit CrashAt(int64_t at) : at_(at) {}
  std::string name() const override { return "crash"; }
  void on_epoch_begin(int64_t epoch) override {
    if (epoch == at_) throw std::runtime_error("simulated crash");
  }
  int64_t at_;
};

struct CrashAtStep : frugal::core::TrainHook {
  explicit CrashAtStep(int64_t at) : at_(at) {}
  std::string name() const override { return "crash_step"; }
  void before_forward(bool training, const frugal::core::StepInfo& info) override {
    if (training && info.step == at_) throw std::runtime_error("simulated crash");
  }
  int64_t at_;
};

}  // namespace frugal_test
