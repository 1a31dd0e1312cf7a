#include "frugal/core/blas_prime.h"

#include "frugal/core/threads.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

namespace {

using namespace frugal;

// Priming must not disturb a seeded run: the next random numbers are the ones
// the run would have drawn without it, and grad mode is as it was.
TEST(BlasPrime, PrimingProductLeavesTheGeneratorAndGradModeAlone) {
  at::manual_seed(7);
  const auto expected = at::randn({16});
  at::manual_seed(7);
  ASSERT_TRUE(at::GradMode::is_enabled());
  core::detail::blas_priming_product();
  EXPECT_TRUE(at::GradMode::is_enabled());
  EXPECT_TRUE(at::equal(at::randn({16}), expected)) << "the priming product drew random numbers";
}

// Every entry point that sets threads ends with a primed BLAS, and priming
// runs once per process.
TEST(BlasPrime, SettingBlasThreadsPrimesOnce) {
  core::set_blas_threads(1);
  EXPECT_FALSE(core::prime_blas()) << "set_blas_threads did not prime the BLAS";
  EXPECT_FALSE(core::prime_blas());
}

}  // namespace
