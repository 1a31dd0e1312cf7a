#include "frugal/core/blas_prime.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <mutex>

namespace frugal::core {

namespace detail {

void blas_priming_product() {
  // 512 rows split into two packed blocks and 512 columns fill the packed
  // operand's region, which is what writes the pages (see the header).
  // Constant inputs: the default generator's stream stays untouched.
  at::AutoGradMode no_grad(false);
  const auto ones = at::ones({512, 512}, at::kFloat);
  (void)at::mm(ones, ones);
}

}  // namespace detail

bool prime_blas() {
  static std::once_flag once;
  bool ran = false;
  std::call_once(once, [&] {
    detail::blas_priming_product();
    ran = true;
  });
  return ran;
}

}  // namespace frugal::core
