#include "frugal/prune/schedule.h"

#include <gtest/gtest.h>

#include <cmath>

using frugal::prune::CubicSchedule;
using frugal::prune::regularizer_weight;

namespace {

CubicSchedule make(double initial, double final, int64_t warmup, int64_t cooldown, int64_t total) {
  CubicSchedule s;
  s.initial = initial;
  s.final = final;
  s.warmup = warmup;
  s.cooldown = cooldown;
  s.total = total;
  return s;
}

}  // namespace

TEST(CubicSchedule, HoldsInitialValueUpToTheEndOfWarmup) {
  auto s = make(1.0, 0.1, 10, 20, 100);
  for (int64_t step = 0; step <= 10; ++step) EXPECT_DOUBLE_EQ(s(step), 1.0) << step;
  EXPECT_LT(s(11), 1.0);
}

TEST(CubicSchedule, HoldsFinalValueDuringCooldown) {
  auto s = make(1.0, 0.1, 10, 20, 100);
  for (int64_t step = 80; step <= 150; ++step) EXPECT_DOUBLE_EQ(s(step), 0.1) << step;
  EXPECT_GT(s(79), 0.1);
}

TEST(CubicSchedule, FollowsTheCubicInBetween) {
  auto s = make(1.0, 0.1, 10, 20, 100);
  for (int64_t step = 11; step <= 80; ++step) {
    const double k = 1.0 - (step - 10) / 70.0;
    EXPECT_NEAR(s(step), 0.1 + 0.9 * k * k * k, 1e-12) << step;
  }
  // Hand values: halfway through the ramp k = 1/2, so v = 0.1 + 0.9 / 8.
  EXPECT_NEAR(s(45), 0.2125, 1e-12);
  EXPECT_NEAR(make(0.0, 0.1, 0, 0, 4)(2), 0.1 - 0.1 / 8.0, 1e-12);
}

TEST(CubicSchedule, IsMonotoneAndContinuousAtBothEnds) {
  auto s = make(1.0, 0.03, 7, 13, 97);
  for (int64_t step = 1; step < 120; ++step) EXPECT_LE(s(step), s(step - 1)) << step;
  EXPECT_DOUBLE_EQ(s(97 - 13), 0.03);  // the formula reaches v_f exactly where cool-down starts
}

TEST(CubicSchedule, RejectsScheduleWithoutRoomToRamp) {
  auto s = make(1.0, 0.1, 50, 50, 100);
  try {
    s(0);
    FAIL() << "expected an error";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("no steps left to ramp"), std::string::npos) << e.what();
  }
  EXPECT_THROW(make(1.0, 0.1, 0, 0, 10)(-1), c10::Error);
  EXPECT_THROW(make(1.0, 0.1, -1, 0, 10)(0), c10::Error);
}

TEST(RegularizerWeight, RampsWithTheScheduledValue) {
  EXPECT_DOUBLE_EQ(regularizer_weight(400.0, 0.0, 0.1), 0.0);
  EXPECT_DOUBLE_EQ(regularizer_weight(400.0, 0.05, 0.1), 200.0);
  EXPECT_DOUBLE_EQ(regularizer_weight(400.0, 0.1, 0.1), 400.0);
  EXPECT_DOUBLE_EQ(regularizer_weight(125.0, 1.0, 1.0), 125.0);
  EXPECT_THROW(regularizer_weight(1.0, 0.5, 0.0), c10::Error);
}
