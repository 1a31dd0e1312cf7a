#pragma once
// A training hook that simulates a crash: it throws when epoch `at` begins.

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

}  // namespace frugal_test
