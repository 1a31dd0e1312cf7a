#include "frugal/core/threads.h"

#include "support/expect_error.h"

#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <thread>

namespace {

using namespace frugal;

TEST(Threads, AvailableCoresIsBetweenOneAndTheUsableCores) {
  const int64_t cores = core::available_cores();
  EXPECT_GE(cores, 1);
  EXPECT_LE(cores, static_cast<int64_t>(std::max(1u, std::thread::hardware_concurrency())));
}

TEST(Threads, PlanIsWhatLibTorchRunsWithAndOnePoolSpins) {
  const auto plan = core::set_threads(2);
  EXPECT_EQ(plan.threads, 2);
  EXPECT_EQ(plan.blas, 2);
  EXPECT_EQ(at::get_num_threads(), plan.intra_op);
  // The pthread OpenBLAS brings a second spinning pool: then LibTorch's gets one thread.
  EXPECT_EQ(plan.intra_op, plan.blas_threading == core::BlasThreading::kPthread ? 1 : 2);
  const auto one = core::set_threads(1);
  EXPECT_EQ(one.intra_op, 1);
  EXPECT_EQ(at::get_num_threads(), 1);
  EXPECT_NE(core::to_string(one.blas_threading), "");
}

TEST(Threads, ZeroMeansTheAvailableCoresAndNegativeIsAnError) {
  const auto plan = core::set_threads(0);
  EXPECT_GE(plan.threads, 1);
  EXPECT_LE(plan.threads, static_cast<int64_t>(std::max(1u, std::thread::hardware_concurrency())));
  frugal_test::expect_error([] { core::set_threads(-1); }, "threads must be >= 0 (0 = the cores not busy), got -1");
}

}  // namespace
