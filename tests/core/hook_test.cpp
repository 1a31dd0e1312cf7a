#include "support/expect_error.h"
#include "frugal/core/hook.h"

#include <gtest/gtest.h>

using frugal::core::StepInfo;
using frugal_test::expect_error;

TEST(StepInfo, AtGivesStepOverTotalAsProgress) {
  const auto info = StepInfo::at(30, 120, 2);
  EXPECT_EQ(info.step, 30);
  EXPECT_EQ(info.epoch, 2);
  EXPECT_DOUBLE_EQ(info.progress, 0.25);
  EXPECT_EQ(info.planned_steps, 120);
  EXPECT_DOUBLE_EQ(StepInfo::at(120, 120).progress, 1.0) << "the state after the last step";
  expect_error([] { StepInfo::at(121, 120); }, "step 121 is outside [0, total_steps = 120]");
  expect_error([] { StepInfo::at(0, 0); }, "total_steps must be >= 1, got 0");
}

TEST(StepInfo, ValidateRejectsProgressOutsideTheUnitIntervalOrBehindTheStep) {
  StepInfo info;
  info.step = 10;
  info.planned_steps = 100;
  expect_error([&] { info.validate("hook"); }, "hook: StepInfo.progress 0 is behind step 10");
  info.progress = -0.1;
  expect_error([&] { info.validate("hook"); }, "StepInfo.progress must lie in [0, 1], got -0.1");
  info.progress = 0.1;
  info.validate("hook");  // consistent
  info.progress = 0.5;
  info.validate("hook");  // ahead of the step: InfoBatch ran fewer batches than planned
  info.planned_steps = 0;
  expect_error([&] { info.validate("hook"); }, "planned_steps must be >= 1, got 0");
}
