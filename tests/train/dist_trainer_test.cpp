// The trainer as two forked ranks on loopback against one process.

#include "frugal/dist/data_parallel.h"
#include "frugal/sparse/dynamic_sparsity.h"
#include "frugal/train/models.h"
#include "frugal/train/optim.h"
#include "frugal/train/trainer.h"

#include "support/blobs.h"
#include "support/fork_ranks.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>

namespace {

namespace fs = std::filesystem;
using namespace frugal;

using frugal_test::blobs;

/// Records every layer's mask after every step (after the sparse hook's update).
struct MaskRecorder : train::TrainHook {
  explicit MaskRecorder(std::shared_ptr<sparse::DynamicSparsity> s) : sparsity(std::move(s)) {}
  std::string name() const override { return "recorder"; }
  void after_step(const train::StepInfo&) override {
    for (const auto& p : sparsity->masks().params()) history.push_back(p.mask.clone());
  }
  std::shared_ptr<sparse::DynamicSparsity> sparsity;
  std::vector<torch::Tensor> history;
};

/// Trains RigL (kSparse: compact CSR layers; kDense: masks on the dense
/// weights; none: no sparse hook) on 160 samples, global batch 16, as rank
/// `rank` of `dp` (null: alone); model seed `init_seed`. Returns the
/// parameters, then the recorded masks, then the test accuracy.
std::vector<torch::Tensor> train_rigl(std::shared_ptr<dist::DataParallel> dp, uint64_t init_seed,
                                      c10::optional<kernels::KernelChoice> kernel = kernels::KernelChoice::kSparse) {
  auto train_set = blobs(160, 1), test_set = blobs(50, 2);
  torch::manual_seed(init_seed);
  auto model = std::make_shared<train::MlpImpl>(8, std::vector<int64_t>{16}, 3);
  train::OptimizerSpec spec;
  spec.lr = 0.05;
  std::shared_ptr<torch::optim::Optimizer> optimizer =
      train::build_optimizer(spec, {torch::optim::OptimizerParamGroup(model->parameters())});
  train::TrainerOptions options;
  options.epochs = 4;
  options.batch_size = 16;
  options.progress = false;
  options.threads = 1;
  train::Trainer trainer(torch::nn::AnyModule(model), optimizer, options);
  std::shared_ptr<MaskRecorder> recorder;
  if (kernel) {
    auto sparsity = std::make_shared<sparse::DynamicSparsity>(sparse::DynamicSparsityOptions(0.3)
                                                                  .distribution(sparse::Distribution::kUniform)
                                                                  .update_interval(2)
                                                                  .kernel(*kernel));
    recorder = std::make_shared<MaskRecorder>(sparsity);
    trainer.add_hook(sparsity);
    trainer.add_hook(recorder);
    if (dp) dp->add_statistics([sparsity] { return sparsity->statistics_to_average(); });
  }
  if (dp) trainer.set_data_parallel(dp);
  data::ShuffleSampler sampler(160, 5, dp ? dp->shard() : data::Shard{});
  auto summary = trainer.fit(train_set, test_set, sampler);
  std::vector<torch::Tensor> out;
  for (const auto& p : model->parameters()) out.push_back(p.detach().clone());
  if (recorder)
    for (const auto& m : recorder->history) out.push_back(m);
  out.push_back(torch::tensor({summary["test_acc"].get<double>()}, torch::kDouble));
  return out;
}

TEST(DistributedTrainer, TwoRanksWithRigLKeepIdenticalMasksAfterEveryStepAndMatchOneProcess) {
  const fs::path dir = fs::temp_directory_path() / ("frugal_dist_trainer_" + std::to_string(getpid()));
  fs::create_directories(dir);
  auto results = frugal_test::fork_ranks(2, [&](int64_t rank, std::shared_ptr<dist::Communicator> c) {
    // Rank 1 starts from other weights: the start-up broadcast must fix them.
    auto dp = std::make_shared<dist::DataParallel>(c);
    auto out = train_rigl(dp, rank == 0 ? 11 : 12);
    // Compact layers change their values at mask updates: no Reducer.
    TORCH_CHECK(!dp->overlapped() && dp->overlapped_steps() == 0,
                "the compact layers' gradients went through the Reducer");
    torch::save(out, (dir / std::to_string(rank)).string());
  });
  for (int r = 0; r < 2; ++r) ASSERT_EQ(results[r].status, 0) << "rank " << r << ": " << results[r].error;
  std::vector<torch::Tensor> rank0, rank1;
  torch::load(rank0, (dir / "0").string());
  torch::load(rank1, (dir / "1").string());
  fs::remove_all(dir);
  const auto alone = train_rigl(nullptr, 11);
  ASSERT_EQ(rank0.size(), alone.size()) << "same number of steps";
  ASSERT_EQ(rank1.size(), alone.size());
  const size_t params = 4;  // body.0 weight and bias, head weight and bias
  bool changed = false;
  for (size_t i = params; i + 1 < alone.size(); ++i) {
    ASSERT_TRUE(rank0[i].equal(rank1[i])) << "masks of the ranks differ at record " << i - params;
    ASSERT_TRUE(rank0[i].equal(alone[i])) << "masks differ from one process at record " << i - params;
    changed = changed || (i >= params + 2 && !alone[i].equal(alone[i - 2]));
  }
  EXPECT_TRUE(changed) << "RigL never changed a mask";
  for (size_t i = 0; i < params; ++i) {
    EXPECT_TRUE(rank0[i].equal(rank1[i])) << "parameter " << i << " differs between the ranks";
    EXPECT_TRUE(torch::allclose(rank0[i], alone[i], 1e-5, 1e-5))
        << "parameter " << i << ": " << (rank0[i] - alone[i]).abs().max().item<double>();
  }
  EXPECT_EQ(rank0.back().item<double>(), alone.back().item<double>()) << "sharded evaluation";
}

/// Two ranks of train_rigl(kernel) against one process: the same weights
/// (and masks), with every one of the 40 steps' gradients averaged by the
/// Reducer during backward.
void expect_overlapped_run_matches_one_process(c10::optional<kernels::KernelChoice> kernel,
                                               const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("frugal_dist_" + name + std::to_string(getpid()));
  fs::create_directories(dir);
  auto results = frugal_test::fork_ranks(2, [&](int64_t rank, std::shared_ptr<dist::Communicator> c) {
    auto dp = std::make_shared<dist::DataParallel>(c);
    auto out = train_rigl(dp, rank == 0 ? 11 : 12, kernel);
    TORCH_CHECK(dp->overlapped(), "the Reducer was not attached");
    TORCH_CHECK(dp->overlapped_steps() == 40, "the Reducer averaged ", dp->overlapped_steps(),
                " of the 40 steps");
    torch::save(out, (dir / std::to_string(rank)).string());
  });
  for (int r = 0; r < 2; ++r) ASSERT_EQ(results[r].status, 0) << "rank " << r << ": " << results[r].error;
  std::vector<torch::Tensor> rank0, rank1;
  torch::load(rank0, (dir / "0").string());
  torch::load(rank1, (dir / "1").string());
  fs::remove_all(dir);
  const auto alone = train_rigl(nullptr, 11, kernel);
  ASSERT_EQ(rank0.size(), alone.size());
  for (size_t i = 0; i + 1 < alone.size(); ++i) {
    EXPECT_TRUE(rank0[i].equal(rank1[i])) << "record " << i << " differs between the ranks";
    EXPECT_TRUE(torch::allclose(rank0[i], alone[i], 1e-5, 1e-5))
        << "record " << i << ": " << (rank0[i] - alone[i]).abs().max().item<double>();
  }
  EXPECT_EQ(rank0.back().item<double>(), alone.back().item<double>()) << "sharded evaluation";
}

TEST(DistributedTrainer, TwoRanksOfADenseMlpAverageThroughTheReducerAndMatchOneProcess) {
  expect_overlapped_run_matches_one_process(c10::nullopt, "mlp");
}

TEST(DistributedTrainer, TwoRanksWithRigLOnMaskedDenseWeightsAverageThroughTheReducerAndMatchOneProcess) {
  expect_overlapped_run_matches_one_process(kernels::KernelChoice::kDense, "rigl_dense");
}

}  // namespace
