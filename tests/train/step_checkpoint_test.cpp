// Checkpoints at a step interval: a run stopped after a checkpoint within an
// epoch and resumed equals the uninterrupted run bit for bit (weights,
// summary, every metrics record but its timings), with InfoBatch pruning
// (and draws from the global generator), with RigL updating between the
// checkpoint and the epoch's end, and with two processes.

#include "support/crash_hook.h"
#include "support/fork_ranks.h"
#include "frugal/core/checked_file.h"
#include "frugal/data/infobatch.h"
#include "frugal/dist/data_parallel.h"
#include "frugal/sparse/dynamic_sparsity.h"
#include "frugal/train/models.h"
#include "frugal/train/optim.h"
#include "frugal/train/trainer.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <functional>

namespace {

namespace fs = std::filesystem;
using namespace frugal;
using frugal_test::CrashAtStep;

data::TensorDataset blobs(int64_t n, uint64_t seed) {
  torch::manual_seed(seed);
  auto targets = torch::randint(0, 3, {n}, torch::kLong);
  auto inputs = torch::randn({n, 8}) + targets.to(torch::kFloat).unsqueeze(1) * 1.5;
  return {inputs, targets, 3};
}

std::string temp_dir(const std::string& name) {
  auto dir = fs::temp_directory_path() / ("frugal_step_ckpt_" + name + "_" + std::to_string(getpid()));
  fs::remove_all(dir);
  return dir.string();
}

struct Setup {
  std::shared_ptr<train::Classifier> model;
  std::shared_ptr<torch::optim::Optimizer> optimizer;
  std::unique_ptr<train::Trainer> trainer;
};

/// An MLP trained with batch 16 (over all processes), checkpoints every
/// `every_steps` steps and otherwise only after the last epoch (every_steps
/// 0: after every epoch).
Setup make(const std::string& run_dir, int64_t epochs, int64_t every_steps) {
  torch::manual_seed(1);
  Setup s;
  s.model = std::make_shared<train::MlpImpl>(8, std::vector<int64_t>{16}, 3);
  train::OptimizerSpec spec;
  spec.lr = 0.05;
  s.optimizer = train::build_optimizer(spec, {torch::optim::OptimizerParamGroup(s.model->parameters())});
  train::TrainerOptions options;
  options.epochs = epochs;
  options.batch_size = 16;
  options.run_dir = run_dir;
  options.progress = false;
  options.threads = 1;
  options.checkpoint_every = every_steps > 0 ? 100 : 1;
  options.checkpoint_every_steps = every_steps;
  s.trainer = std::make_unique<train::Trainer>(torch::nn::AnyModule(s.model), s.optimizer, options);
  return s;
}

/// Draws from LibTorch's global generator at every step, as dropout would:
/// a run resumed within an epoch must continue the generator's stream.
struct GlobalNoise : train::TrainHook {
  std::string name() const override { return "noise"; }
  void on_train_begin(train::TrainContext& context) override { model = context.model; }
  torch::Tensor regularizer(const train::StepInfo&) override {
    return 1e-3 * torch::randn({}) * model->parameters()[0].sum();
  }
  torch::nn::Module* model = nullptr;
};

/// metrics.jsonl without the fields that measure time.
std::vector<nlohmann::json> records(const std::string& run_dir) {
  std::ifstream in(run_dir + "/metrics.jsonl");
  std::vector<nlohmann::json> out;
  for (std::string line; std::getline(in, line);) {
    auto record = nlohmann::json::parse(line);
    for (const char* timing : {"train_s", "eval_s", "bookkeeping_s", "wall_s", "load_avg", "comm_s", "update_ms"})
      record.erase(timing);
    out.push_back(record);
  }
  return out;
}

/// {epoch, batches done, processes} of a checkpoint within an epoch; empty for one at an epoch's end.
std::vector<int64_t> position_of(const std::string& checkpoint) {
  torch::serialize::InputArchive archive;
  core::load_checked(archive, checkpoint, "test");
  torch::Tensor where;
  if (!archive.try_read("within_epoch", where)) return {};
  return {where[0].item<int64_t>(), where[1].item<int64_t>(), where[2].item<int64_t>()};
}

void expect_same_run(const Setup& a, const nlohmann::json& a_summary, const std::string& a_dir,
                     const Setup& c, const nlohmann::json& c_summary, const std::string& c_dir) {
  auto pa = a.model->named_parameters(), pc = c.model->named_parameters();
  ASSERT_EQ(pa.size(), pc.size());
  for (const auto& item : pa) EXPECT_TRUE(torch::equal(item.value(), pc[item.key()])) << item.key();
  for (const char* key : {"samples_forwarded", "steps", "test_acc", "test_loss"})
    EXPECT_EQ(c_summary[key], a_summary[key]) << key;
  const auto ra = records(a_dir), rc = records(c_dir);
  ASSERT_EQ(ra.size(), rc.size()) << "metrics.jsonl holds each record once";
  for (size_t i = 0; i < ra.size(); ++i) EXPECT_EQ(rc[i], ra[i]) << "metrics line " << i;
}

TEST(StepCheckpoint, ResumingWithinAPruningInfoBatchEpochEqualsTheUninterruptedRun) {
  auto train_set = blobs(200, 1), test_set = blobs(50, 2);
  const std::string a_dir = temp_dir("ib_a"), b_dir = temp_dir("ib_b");
  // Scores as a moving average: one that missed the epoch's first updates
  // stays different to the end, even when no pruning decision flips.
  auto sampler = [] {
    return data::InfoBatchSampler(200, data::InfoBatchOptions(4).seed(5).score_momentum(0.5));
  };
  auto a = make(a_dir, 4, 5);
  a.trainer->add_hook(std::make_shared<GlobalNoise>());
  auto a_sampler = sampler();
  const auto a_summary = a.trainer->fit(train_set, test_set, a_sampler);
  {
    // Epoch 0 is steps 0..12; the checkpoint after step 14 is within epoch 1.
    auto b = make(b_dir, 4, 5);
    b.trainer->add_hook(std::make_shared<GlobalNoise>());
    b.trainer->add_hook(std::make_shared<CrashAtStep>(17));
    auto b_sampler = sampler();
    EXPECT_THROW(b.trainer->fit(train_set, test_set, b_sampler), std::runtime_error);
  }
  EXPECT_EQ(position_of(b_dir + "/checkpoint.pt"), (std::vector<int64_t>{1, 2, 1}));
  ASSERT_TRUE(sampler().prunes(1));
  ASSERT_LT(records(a_dir)[1]["kept"].get<int64_t>(), 200) << "epoch 1 pruned nothing";

  auto c = make(b_dir, 4, 5);
  c.trainer->add_hook(std::make_shared<GlobalNoise>());
  c.trainer->add_hook(std::make_shared<CrashAtStep>(-1));
  c.trainer->resume_from(b_dir + "/checkpoint.pt");
  auto c_sampler = sampler();
  const auto c_summary = c.trainer->fit(train_set, test_set, c_sampler);
  expect_same_run(a, a_summary, a_dir, c, c_summary, b_dir);
  EXPECT_TRUE(torch::equal(c_sampler.scores(), a_sampler.scores()));
  fs::remove_all(a_dir);
  fs::remove_all(b_dir);
}

TEST(StepCheckpoint, ResumingWithinAnEpochBeforeARigLUpdateEqualsTheUninterruptedRun) {
  // RigL on the compact CSR kernels: the checkpoint must hold the values
  // trained since the epoch began, and the update at step 9 comes after it.
  auto train_set = blobs(200, 1), test_set = blobs(50, 2);
  const std::string a_dir = temp_dir("rigl_a"), b_dir = temp_dir("rigl_b");
  auto sparsity = [] {
    return std::make_shared<sparse::DynamicSparsity>(sparse::DynamicSparsityOptions(0.3)
                                                         .distribution(sparse::Distribution::kUniform)
                                                         .update_interval(5)
                                                         .kernel(kernels::KernelChoice::kSparse));
  };
  auto a = make(a_dir, 2, 7);
  a.trainer->add_hook(sparsity());
  data::ShuffleSampler a_sampler(200, 5);
  const auto a_summary = a.trainer->fit(train_set, test_set, a_sampler);
  {
    auto b = make(b_dir, 2, 7);
    b.trainer->add_hook(sparsity());
    b.trainer->add_hook(std::make_shared<CrashAtStep>(9));
    data::ShuffleSampler b_sampler(200, 5);
    EXPECT_THROW(b.trainer->fit(train_set, test_set, b_sampler), std::runtime_error);
  }
  EXPECT_EQ(position_of(b_dir + "/checkpoint.pt"), (std::vector<int64_t>{0, 7, 1}));
  bool update_after_checkpoint = false;
  for (const auto& r : records(a_dir))
    update_after_checkpoint = update_after_checkpoint ||
                              (r.value("event", "") == "mask_update" && r["step"] == 9 && r["epoch"] == 0);
  ASSERT_TRUE(update_after_checkpoint) << "no mask update between the checkpoint and the epoch's end";

  auto c = make(b_dir, 2, 7);
  c.trainer->add_hook(sparsity());
  c.trainer->add_hook(std::make_shared<CrashAtStep>(-1));
  c.trainer->resume_from(b_dir + "/checkpoint.pt");
  data::ShuffleSampler c_sampler(200, 5);
  const auto c_summary = c.trainer->fit(train_set, test_set, c_sampler);
  expect_same_run(a, a_summary, a_dir, c, c_summary, b_dir);
  EXPECT_EQ(c_summary["active_weights"], a_summary["active_weights"]);
  fs::remove_all(a_dir);
  fs::remove_all(b_dir);
}

TEST(StepCheckpoint, ACheckpointThatFallsOnAnEpochsLastStepIsWrittenAtTheEpochsEnd) {
  auto train_set = blobs(200, 1);
  const std::string dir = temp_dir("edge");
  auto a = make(dir, 2, 13);  // 13 steps per epoch
  a.trainer->add_hook(std::make_shared<CrashAtStep>(14));
  data::ShuffleSampler sampler(200, 5);
  EXPECT_THROW(a.trainer->fit(train_set, data::TensorDataset{}, sampler), std::runtime_error);
  EXPECT_TRUE(position_of(dir + "/checkpoint.pt").empty()) << "an epoch checkpoint, not a position";
  fs::remove_all(dir);
}

/// `checkpoint` rewritten in format 1, as frugal wrote it before checkpoints
/// within epochs existed: no "format", no "metrics_lines". Its parts pass
/// through a fresh model, optimizer and sampler (an archive cannot be copied).
void rewrite_as_format_1(const std::string& checkpoint) {
  torch::serialize::InputArchive in, model_in, optimizer_in, sampler_in;
  core::load_checked(in, checkpoint, "test");
  auto fresh = make("", 4, 0);
  auto sampler = data::InfoBatchSampler(200, data::InfoBatchOptions(4).seed(5));
  in.read("model", model_in);
  fresh.model->load(model_in);
  in.read("optimizer", optimizer_in);
  fresh.optimizer->load(optimizer_in);
  in.read("sampler", sampler_in);
  sampler.load(sampler_in);
  torch::serialize::OutputArchive out, model_out, optimizer_out, sampler_out, hook_out;
  fresh.model->save(model_out);
  fresh.optimizer->save(optimizer_out);
  sampler.save(sampler_out);
  out.write("model", model_out);
  out.write("hook.crash", hook_out);
  out.write("optimizer", optimizer_out);
  out.write("sampler", sampler_out);
  for (const char* key : {"progress", "wall_s", "eval"}) {
    torch::Tensor t;
    in.read(key, t);
    out.write(key, t);
  }
  core::save_checked(out, checkpoint);
}

TEST(StepCheckpoint, AnEpochCheckpointOfFormatOneStillResumesExactly) {
  auto train_set = blobs(200, 1), test_set = blobs(50, 2);
  const std::string a_dir = temp_dir("v1_a"), b_dir = temp_dir("v1_b");
  auto sampler = [] { return data::InfoBatchSampler(200, data::InfoBatchOptions(4).seed(5)); };
  auto a = make(a_dir, 4, 0);
  auto a_sampler = sampler();
  const auto a_summary = a.trainer->fit(train_set, test_set, a_sampler);
  {
    auto b = make(b_dir, 4, 0);
    b.trainer->add_hook(std::make_shared<frugal_test::CrashAt>(2));
    auto b_sampler = sampler();
    EXPECT_THROW(b.trainer->fit(train_set, test_set, b_sampler), std::runtime_error);
  }
  rewrite_as_format_1(b_dir + "/checkpoint.pt");
  // A line after the epochs done, as a crash can leave: format 1 keeps the epochs' records only.
  std::ofstream(b_dir + "/metrics.jsonl", std::ios::app) << R"({"event":"mask_update","epoch":2})" << "\n";
  auto c = make(b_dir, 4, 0);
  c.trainer->add_hook(std::make_shared<frugal_test::CrashAt>(-1));
  c.trainer->resume_from(b_dir + "/checkpoint.pt");
  auto c_sampler = sampler();
  const auto c_summary = c.trainer->fit(train_set, test_set, c_sampler);
  expect_same_run(a, a_summary, a_dir, c, c_summary, b_dir);
  fs::remove_all(a_dir);
  fs::remove_all(b_dir);
}

TEST(StepCheckpoint, ACheckpointOfANewerFormatIsRefusedInOneLine) {
  const std::string dir = temp_dir("v3");
  fs::create_directories(dir);
  torch::serialize::OutputArchive out;
  out.write("format", torch::tensor(int64_t{3}));
  core::save_checked(out, dir + "/checkpoint.pt");
  auto a = make(dir, 1, 0);
  a.trainer->resume_from(dir + "/checkpoint.pt");
  auto sampler = data::InfoBatchSampler(200, data::InfoBatchOptions(1).seed(5));
  auto train_set = blobs(200, 1);
  try {
    a.trainer->fit(train_set, data::TensorDataset{}, sampler);
    ADD_FAILURE() << "a checkpoint of format 3 must be refused";
  } catch (const c10::Error& e) {
    EXPECT_EQ(std::string(e.what_without_backtrace()),
              "resume: " + dir + "/checkpoint.pt has checkpoint format 3; this frugal reads formats 1 "
              "to 2 (was it written by a newer frugal?)");
  }
  fs::remove_all(dir);
}

/// As rank `dp` (of 2) with InfoBatch on 160 samples, checkpoints every 4
/// steps in `dir`; crashes before step `crash` (-1: never); resumes from
/// `dir`'s checkpoint when `resume`. Saves the parameters to dir/params.<rank>.
void train_rank(const std::shared_ptr<dist::DataParallel>& dp, const std::string& dir, int64_t crash,
                bool resume) {
  auto train_set = blobs(160, 1), test_set = blobs(50, 2);
  auto s = make(dir, 3, 4);
  s.trainer->set_data_parallel(dp);
  s.trainer->add_hook(std::make_shared<CrashAtStep>(crash));
  if (resume) s.trainer->resume_from(dir + "/checkpoint.pt");
  data::InfoBatchSampler sampler(160, data::InfoBatchOptions(3).seed(5), dp->shard());
  s.trainer->fit(train_set, test_set, sampler);
  std::vector<torch::Tensor> params;
  for (const auto& p : s.model->parameters()) params.push_back(p.detach().clone());
  torch::save(params, dir + "/params." + std::to_string(dp->rank()));
}

std::vector<torch::Tensor> saved_params(const std::string& dir, int rank) {
  std::vector<torch::Tensor> params;
  torch::load(params, dir + "/params." + std::to_string(rank));
  return params;
}

TEST(StepCheckpoint, TwoProcessesResumedWithinAnEpochFromRankZerosFileEqualTheUninterruptedRun) {
  const std::string a_dir = temp_dir("dist_a"), b_dir = temp_dir("dist_b");
  using Communicator = std::shared_ptr<dist::Communicator>;
  auto whole = frugal_test::fork_ranks(2, [&](int64_t, Communicator c) {
    train_rank(std::make_shared<dist::DataParallel>(c), a_dir, -1, false);
  });
  for (int r = 0; r < 2; ++r) ASSERT_EQ(whole[r].status, 0) << "rank " << r << ": " << whole[r].error;
  // Epoch 0 is steps 0..9 (80 samples per rank); the checkpoint after step 11 is within epoch 1.
  auto cut = frugal_test::fork_ranks(2, [&](int64_t, Communicator c) {
    train_rank(std::make_shared<dist::DataParallel>(c), b_dir, 13, false);
  });
  for (int r = 0; r < 2; ++r) EXPECT_EQ(cut[r].error, "simulated crash") << "rank " << r;
  ASSERT_EQ(position_of(b_dir + "/checkpoint.pt"), (std::vector<int64_t>{1, 2, 2}));
  ASSERT_EQ(records(b_dir).size(), 1u) << "epoch 0's record only";

  {  // The rest of the epoch is each rank's shard: one process cannot continue it.
    auto alone = make(b_dir, 3, 4);
    alone.trainer->resume_from(b_dir + "/checkpoint.pt");
    data::InfoBatchSampler sampler(160, data::InfoBatchOptions(3).seed(5));
    auto train_set = blobs(160, 1);
    try {
      alone.trainer->fit(train_set, data::TensorDataset{}, sampler);
      ADD_FAILURE() << "a checkpoint of 2 processes within an epoch must not resume in one";
    } catch (const c10::Error& e) {
      EXPECT_NE(std::string(e.what_without_backtrace()).find("by 2 processes; resume it with 2, not 1"),
                std::string::npos)
          << e.what_without_backtrace();
    }
  }
  auto resumed = frugal_test::fork_ranks(2, [&](int64_t, Communicator c) {
    train_rank(std::make_shared<dist::DataParallel>(c), b_dir, -1, true);
  });
  for (int r = 0; r < 2; ++r) ASSERT_EQ(resumed[r].status, 0) << "rank " << r << ": " << resumed[r].error;
  const auto a0 = saved_params(a_dir, 0), b0 = saved_params(b_dir, 0), b1 = saved_params(b_dir, 1);
  ASSERT_EQ(a0.size(), b0.size());
  for (size_t i = 0; i < a0.size(); ++i) {
    EXPECT_TRUE(torch::equal(a0[i], b0[i])) << "parameter " << i;
    EXPECT_TRUE(torch::equal(b0[i], b1[i])) << "parameter " << i << " differs between the ranks";
  }
  const auto ra = records(a_dir), rb = records(b_dir);
  ASSERT_EQ(ra.size(), rb.size());
  for (size_t i = 0; i < ra.size(); ++i) EXPECT_EQ(rb[i], ra[i]) << "metrics line " << i;
  fs::remove_all(a_dir);
  fs::remove_all(b_dir);
}

}  // namespace
