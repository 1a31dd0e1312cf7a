// Collectives of two forked processes on loopback.

#include "frugal/dist/data_parallel.h"

#include "support/fork_ranks.h"

#include <torch/torch.h>

#include <filesystem>

namespace {

namespace fs = std::filesystem;
using frugal::dist::Communicator;
using frugal::dist::DataParallel;
using frugal_test::fork_ranks;

fs::path out_file(const std::string& name, int64_t rank) {
  return fs::temp_directory_path() / ("frugal_dp_" + name + "_" + std::to_string(rank) + ".pt");
}

void expect_all_succeeded(const std::vector<frugal_test::RankResult>& results) {
  for (size_t r = 0; r < results.size(); ++r)
    ASSERT_EQ(results[r].status, 0) << "rank " << r << ": " << results[r].error;
}

TEST(DataParallel, AveragesGradientsAndStatisticsInSeveralBucketsToTheMean) {
  auto results = fork_ranks(2, [](int64_t rank, std::shared_ptr<Communicator> c) {
    frugal::dist::DataParallelOptions o;
    o.bucket_mb = 40.0 / (1024 * 1024);  // 40 bytes: several buckets
    DataParallel dp(c, o);
    torch::manual_seed(7 + rank);
    std::vector<torch::Tensor> params = {torch::zeros({3, 4}, torch::requires_grad()),
                                         torch::zeros({5}, torch::requires_grad()),
                                         torch::zeros({2, 2}, torch::requires_grad())};
    for (auto& p : params) p.mutable_grad() = torch::randn(p.sizes());
    auto stat = torch::randn({6});
    dp.add_statistics([stat] { return std::vector<torch::Tensor>{stat}; });
    std::vector<torch::Tensor> local = {params[0].grad().clone(), params[1].grad().clone(),
                                        params[2].grad().clone(), stat.clone()};
    dp.average_gradients({params[0], params[1], params[2], params[0]}, 0);  // a duplicate: once
    torch::save(std::vector<torch::Tensor>{local[0], local[1], local[2], local[3], params[0].grad(),
                                           params[1].grad(), params[2].grad(), stat},
                out_file("avg", rank).string());
  });
  expect_all_succeeded(results);
  std::vector<torch::Tensor> a, b;
  torch::load(a, out_file("avg", 0).string());
  torch::load(b, out_file("avg", 1).string());
  for (int i = 0; i < 4; ++i) {
    auto mean = (a[i] + b[i]) / 2;
    EXPECT_TRUE(torch::allclose(a[4 + i], mean, 1e-6, 1e-7)) << "tensor " << i;
    EXPECT_TRUE(a[4 + i].equal(b[4 + i])) << "tensor " << i << " differs between the ranks";
  }
  EXPECT_FALSE(a[0].equal(b[0])) << "the ranks started from different gradients";
  for (int r = 0; r < 2; ++r) fs::remove(out_file("avg", r));
}

TEST(DataParallel, GathersIntegerIndicesExactlyBeyondTwoToThe24) {
  auto results = fork_ranks(2, [](int64_t rank, std::shared_ptr<Communicator> c) {
    DataParallel dp(c);
    const int64_t base = (int64_t{1} << 24) + 1 + rank;  // not representable in float32
    auto indices = torch::tensor({base, base + 2, (int64_t{1} << 31) + 5 * rank}, torch::kLong);
    auto losses = torch::tensor({0.1f + rank, 1e-30f, 3.25f * (rank + 1)});
    auto [i, l] = dp.gather_scores(indices, losses, 0);
    torch::save(std::vector<torch::Tensor>{i, l}, out_file("gather", rank).string());
  });
  expect_all_succeeded(results);
  for (int r = 0; r < 2; ++r) {
    std::vector<torch::Tensor> got;
    torch::load(got, out_file("gather", r).string());
    const int64_t b = (int64_t{1} << 24) + 1;
    auto want = torch::tensor({b, b + 2, int64_t{1} << 31, b + 1, b + 3, (int64_t{1} << 31) + 5});
    EXPECT_TRUE(got[0].equal(want)) << got[0];
    EXPECT_TRUE(got[1].equal(torch::tensor({0.1f, 1e-30f, 3.25f, 1.1f, 1e-30f, 6.5f}))) << got[1];
    fs::remove(out_file("gather", r));
  }
}

TEST(DataParallel, BroadcastGivesEveryRankRankZerosValuesAndTheCheckSeesDivergence) {
  auto results = fork_ranks(2, [](int64_t rank, std::shared_ptr<Communicator> c) {
    DataParallel dp(c);
    auto w = torch::full({4, 3}, static_cast<float>(rank + 1));
    auto buffer = torch::arange(5, torch::kLong) * (rank + 1);
    dp.broadcast_from_root({w, buffer}, "start");
    TORCH_CHECK(w.equal(torch::ones({4, 3})) && buffer.equal(torch::arange(5, torch::kLong)),
                "not rank 0's values");
    dp.check_identical({w}, "weights");
    if (rank == 1) w[2][1] += 1e-6;
    dp.check_identical({w}, "weights");  // throws on both ranks
  });
  for (int r = 0; r < 2; ++r) {
    EXPECT_EQ(results[r].status, 1);
    EXPECT_NE(results[r].error.find("rank 1's weights differ from rank 0's"), std::string::npos)
        << results[r].error;
  }
}

TEST(DataParallel, ADeadRankIsNamedByTheOtherWithinTheTimeout) {
  auto results = fork_ranks(2, [](int64_t rank, std::shared_ptr<Communicator> c) {
    DataParallel dp(c);
    auto p = torch::zeros({8}, torch::requires_grad());
    p.mutable_grad() = torch::ones({8});
    dp.average_gradients({p}, 0);
    if (rank == 1) _exit(3);  // dies without a word
    dp.average_gradients({p}, 1);
  }, /*timeout_s=*/2.0);
  EXPECT_EQ(results[1].status, 3);
  EXPECT_EQ(results[0].status, 1);
  EXPECT_NE(results[0].error.find("rank 1 stopped responding (timeout 2 s) during gradient allreduce at step 1"),
            std::string::npos) << results[0].error;
  EXPECT_LT(results[0].seconds, 2.0 + 6.0);
}

TEST(DataParallel, AHungRankStopsTheOtherAfterTheTimeout) {
  auto results = fork_ranks(2, [](int64_t rank, std::shared_ptr<Communicator> c) {
    DataParallel dp(c);
    if (rank == 1) {
      kill(getpid(), SIGSTOP);  // hangs, heartbeat included, until killed
      return;
    }
    auto p = torch::zeros({8}, torch::requires_grad());
    p.mutable_grad() = torch::ones({8});
    dp.average_gradients({p}, 5);
  }, /*timeout_s=*/2.0, /*limit_s=*/9.0);
  EXPECT_EQ(results[0].status, 1);
  EXPECT_NE(results[0].error.find("rank 1 stopped responding (timeout 2 s)"), std::string::npos)
      << results[0].error;
  EXPECT_GE(results[0].seconds, 1.5);
  EXPECT_LT(results[0].seconds, 2.0 + 6.0);
  EXPECT_EQ(results[1].status, -1) << "the stopped rank was killed by the test";
}

TEST(DataParallel, TheReducerAveragesGradientsDuringBackwardAndSkipsThemAfterIt) {
  auto results = fork_ranks(2, [](int64_t rank, std::shared_ptr<Communicator> c) {
    frugal::dist::DataParallelOptions o;
    o.bucket_mb = 40.0 / (1024 * 1024);  // 40 bytes: several buckets
    DataParallel dp(c, o);
    torch::manual_seed(3);
    auto w = torch::randn({4, 3}, torch::requires_grad());
    auto b = torch::randn({4}, torch::requires_grad());
    auto frozen = torch::randn({4}, torch::requires_grad(false));  // not the Reducer's
    dp.attach({w, b, frozen, w}, /*fixed_parameters=*/true);
    TORCH_CHECK(dp.overlapped(), "not overlapped");
    std::vector<torch::Tensor> saved;
    for (int64_t step = 0; step < 2; ++step) {  // the second after the buckets' rebuild
      torch::manual_seed(100 * step + rank);
      auto x = torch::randn({5, 3});
      w.mutable_grad() = torch::Tensor();
      b.mutable_grad() = torch::Tensor();
      dp.before_forward();
      auto loss = (torch::mm(x, w.t()) + b + frozen).pow(2).sum();
      auto local = torch::autograd::grad({loss}, {w, b}, {}, /*retain_graph=*/true);
      dp.backward(loss, step);
      saved.push_back(local[0]);
      saved.push_back(local[1]);
      saved.push_back(w.grad().clone());
      saved.push_back(b.grad().clone());
      // Already averaged: average_gradients leaves them alone.
      dp.average_gradients({w, b}, step);
      TORCH_CHECK(w.grad().equal(saved.end()[-2]) && b.grad().equal(saved.end()[-1]),
                  "average_gradients averaged the Reducer's gradients again");
    }
    TORCH_CHECK(dp.overlapped_steps() == 2, "overlapped steps ", dp.overlapped_steps());
    torch::save(saved, out_file("reducer", rank).string());
  });
  expect_all_succeeded(results);
  std::vector<torch::Tensor> a, b;
  torch::load(a, out_file("reducer", 0).string());
  torch::load(b, out_file("reducer", 1).string());
  for (size_t step = 0; step < 2; ++step)
    for (size_t i = 0; i < 2; ++i) {
      const size_t local = 4 * step + i, averaged = 4 * step + 2 + i;
      EXPECT_FALSE(a[local].equal(b[local])) << "the ranks' local gradients are alike";
      auto mean = (a[local] + b[local]) / 2;
      EXPECT_TRUE(torch::allclose(a[averaged], mean, 1e-6, 1e-6)) << "step " << step << " tensor " << i;
      EXPECT_TRUE(a[averaged].equal(b[averaged])) << "step " << step << " tensor " << i;
    }
  for (int r = 0; r < 2; ++r) fs::remove(out_file("reducer", r));
}

TEST(DataParallel, ADeadRankDuringTheReducersBackwardIsNamedByTheOther) {
  auto results = fork_ranks(2, [](int64_t rank, std::shared_ptr<Communicator> c) {
    DataParallel dp(c);
    auto w = torch::ones({8}, torch::requires_grad());
    dp.attach({w}, /*fixed_parameters=*/true);
    for (int64_t step = 0; step < 3; ++step) {  // after the buckets' rebuild at step 1
      if (rank == 1 && step == 2) _exit(3);  // dies without a word
      dp.before_forward();
      dp.backward((w * w).sum(), step);
    }
  }, /*timeout_s=*/2.0);
  EXPECT_EQ(results[1].status, 3);
  EXPECT_EQ(results[0].status, 1);
  EXPECT_NE(results[0].error.find("rank 1 stopped responding (timeout 2 s) during gradient allreduce at step 2"),
            std::string::npos) << results[0].error;
  EXPECT_LT(results[0].seconds, 2.0 + 6.0);
}

TEST(DataParallel, ParametersThatChangeKeepTheAllreduceAfterBackward) {
  auto results = fork_ranks(2, [](int64_t rank, std::shared_ptr<Communicator> c) {
    DataParallel dp(c);
    auto w = torch::full({3}, 1.0 + rank, torch::requires_grad());
    dp.attach({w}, /*fixed_parameters=*/false);
    TORCH_CHECK(!dp.overlapped(), "overlapped although the parameters change");
    dp.before_forward();
    dp.backward((w * w).sum(), 0);
    TORCH_CHECK(w.grad().equal(torch::full({3}, 2.0 + 2 * rank)), "backward averaged: ", w.grad());
    dp.average_gradients({w}, 0);
    TORCH_CHECK(w.grad().equal(torch::full({3}, 3.0)), "not averaged after backward: ", w.grad());
    TORCH_CHECK(dp.overlapped_steps() == 0, "overlapped steps ", dp.overlapped_steps());
  });
  expect_all_succeeded(results);
}

}  // namespace
