// The process-group choice: [dist] backend auto / gloo / nccl. NCCL cannot
// be built here (Debian's LibTorch has no CUDA); what can be tested is that
// auto picks Gloo on the CPU, and that "nccl" where it cannot run is one
// clear error.

#include "frugal/dist/communicator.h"

#include "support/fork_ranks.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace {

using namespace frugal::dist;

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const c10::Error& e) {
    return e.what_without_backtrace();
  }
  return "";
}

TEST(Backend, NamesParseAndPrintAndOthersAreRefused) {
  for (const char* name : {"auto", "gloo", "nccl"}) EXPECT_EQ(to_string(parse_backend(name)), name);
  EXPECT_EQ(error_of([] { parse_backend("mpi"); }), "unknown dist backend 'mpi' (expected auto, gloo or nccl)");
}

TEST(Backend, AutoIsGlooOnTheCpuAndNcclOnCudaOnlyWhereBuilt) {
  DistOptions o;
  EXPECT_EQ(o.backend, Backend::kAuto);
  EXPECT_EQ(o.resolved_backend(), Backend::kGloo);
  o.device = torch::Device(torch::kCUDA);
  EXPECT_EQ(o.resolved_backend(), nccl_built() ? Backend::kNccl : Backend::kGloo);
  o.backend = Backend::kGloo;
  EXPECT_EQ(o.resolved_backend(), Backend::kGloo);
}

TEST(Backend, NcclWhereItCannotRunIsOneClearError) {
  DistOptions o;
  o.backend = Backend::kNccl;
  o.world_size = 2;
  const std::string error = error_of([&] { o.validate(); });
  if (nccl_built()) {
    EXPECT_EQ(error, "dist: backend \"nccl\" needs a CUDA device, the run's device is cpu");
  } else {
    EXPECT_EQ(error, "dist: backend \"nccl\" is not built into this frugal (it needs a LibTorch built with "
                     "CUDA and c10d's NCCL, found when frugal is configured); use \"gloo\" or \"auto\"");
    EXPECT_EQ(error_of([] { check_backend_built(Backend::kNccl); }), error);
    EXPECT_EQ(error_of([&] { Communicator c(o); }), error) << "refused before any rendezvous";
  }
  o.backend = Backend::kGloo;
  EXPECT_EQ(error_of([&] { o.validate(); }), "");
}

TEST(Backend, TwoRanksWithAutoOnTheCpuReduceThroughGloo) {
  auto results = frugal_test::fork_ranks(2, [](int64_t rank, std::shared_ptr<Communicator> c) {
    TORCH_CHECK(c->backend() == Backend::kGloo, "rank ", rank, " uses ", to_string(c->backend()));
    std::vector<torch::Tensor> t = {torch::tensor({static_cast<double>(rank + 1)}, torch::kDouble)};
    c->allreduce_sum(t, "test sum");
    TORCH_CHECK(t[0].item<double>() == 3.0, "sum ", t[0].item<double>());
    auto all = c->allgather(torch::tensor({rank}), "test gather");
    TORCH_CHECK(all.equal(torch::tensor({0, 1})), "gathered ", all);
  });
  for (int r = 0; r < 2; ++r) EXPECT_EQ(results[r].status, 0) << "rank " << r << ": " << results[r].error;
}

}  // namespace
