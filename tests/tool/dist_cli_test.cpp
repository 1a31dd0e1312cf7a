// frugal train with several processes on loopback: same weights as one
// process with the whole batch; resume; a lost rank ends the others.

#include "dist_fixture.h"

#include "frugal/dist/launcher.h"

#include <algorithm>

namespace {

using namespace frugal_test;

class DistCli : public Cli {
 protected:
  /// Trains `name` with `extra` flags; fails the test on a non-zero exit.
  void train(const std::string& name, const std::string& extra, const std::string& sets = "") {
    auto r = run("train " + recipe() + " --set run.name=\"" + name + "\" " + sets + " " + extra);
    ASSERT_EQ(r.status, 0) << r.output;
  }
};

TEST_F(DistCli, TwoProcessesWithHalfTheBatchEachGiveTheWeightsOfOneWithTheWholeBatch) {
  train("one", "");
  train("two", "--nproc 2");
  EXPECT_LT(max_difference(run_dir("one"), run_dir("two")), 1e-5);
  // Only rank 0 writes; the summary counts the samples of both ranks.
  auto summary = nlohmann::json::parse(std::ifstream(run_dir("two") / "summary.json"));
  EXPECT_EQ(summary["world_size"], 2);
  EXPECT_EQ(summary["samples_forwarded"], 900);
  EXPECT_GE(summary["comm_s"].get<double>(), 0.0);
  auto one = nlohmann::json::parse(std::ifstream(run_dir("one") / "summary.json"));
  EXPECT_EQ(summary["test_acc"], one["test_acc"]) << "evaluation sharded over the ranks";
}

TEST_F(DistCli, TwoProcessesEqualOneWithInfoBatch) {
  // Seed 1 keeps an even number of samples every epoch, so neither rank pads
  // its shard (padding trains a sample twice, which one process does not).
  const std::string sets =
      "--set run.seed=1 infobatch.enabled=true infobatch.prune_ratio=0.5 train.epochs=3";
  train("one", "", sets);
  train("two", "--nproc 2", sets);
  std::ifstream metrics(run_dir("one") / "metrics.jsonl");
  bool pruned = false;
  for (std::string line; std::getline(metrics, line);) {
    auto kept = nlohmann::json::parse(line)["kept"].get<int64_t>();
    ASSERT_EQ(kept % 2, 0) << "pick a seed that keeps an even number: " << line;
    pruned = pruned || kept < 300;
  }
  EXPECT_TRUE(pruned) << "InfoBatch pruned nothing";
  EXPECT_LT(max_difference(run_dir("one"), run_dir("two")), 1e-5);
  EXPECT_EQ(lines_of(run_dir("two") / "metrics.jsonl"), 3);
  auto a = nlohmann::json::parse(std::ifstream(run_dir("one") / "summary.json"));
  auto b = nlohmann::json::parse(std::ifstream(run_dir("two") / "summary.json"));
  EXPECT_EQ(a["samples_forwarded"], b["samples_forwarded"]) << "the same pruning decisions";
}

TEST_F(DistCli, TwoProcessesEqualOneWithRigL) {
  const std::string sets =
      "--set sparse.enabled=true sparse.method=\"gradient\" sparse.density=0.4 "
      "sparse.update_interval=3 sparse.distribution=\"uniform\"";
  train("one", "", sets);
  train("two", "--nproc 2", sets);
  EXPECT_LT(max_difference(run_dir("one"), run_dir("two")), 1e-5);
}

TEST_F(DistCli, ResumingATwoProcessRunStoppedMidwayEqualsTheUninterruptedRun) {
  const std::string sets = "--set train.epochs=20 infobatch.enabled=true";
  train("whole", "--nproc 2", sets);
  auto launcher = spawn(std::string(FRUGAL_BINARY) + " train " + recipe() +
                            " --set run.name=\"cut\" " + sets.substr(6) + " --nproc 2",
                        dir_ / "cut.log");
  const fs::path cut = run_dir("cut");
  ASSERT_TRUE(eventually([&] { return lines_of(cut / "metrics.jsonl") >= 3; }, 30)) << launcher->output();
  kill(launcher->pid, SIGKILL);  // the workers die with it
  ASSERT_TRUE(launcher->wait(10));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const int64_t done = lines_of(cut / "metrics.jsonl");
  ASSERT_LT(done, 20) << "the run finished before it was stopped";
  ASSERT_TRUE(fs::exists(cut / "checkpoint.pt"));
  ASSERT_FALSE(fs::exists(cut / "model.pt"));
  auto resumed = run("train --resume " + cut.string() + " --nproc 2");
  ASSERT_EQ(resumed.status, 0) << resumed.output;
  EXPECT_EQ(lines_of(cut / "metrics.jsonl"), 20);
  EXPECT_LT(max_difference(run_dir("whole"), cut), 1e-6) << "stopped after " << done << " epochs";
}

TEST_F(DistCli, ResumingATwoProcessRunKilledAfterACheckpointWithinAnEpochEqualsTheUninterruptedRun) {
  // 10 steps per epoch, a checkpoint every 3 steps: nearly all within epochs
  // (tests/train/step_checkpoint_test.cpp stops at a chosen step; this one
  // checks the recipe key and `frugal train --resume` end to end).
  const std::string sets =
      "--set train.epochs=20 train.checkpoint_every=100 train.checkpoint_every_steps=3 infobatch.enabled=true";
  train("whole", "--nproc 2", sets);
  auto launcher = spawn(std::string(FRUGAL_BINARY) + " train " + recipe() + " --set run.name=\"cut\" " +
                            sets.substr(6) + " --nproc 2",
                        dir_ / "cut.log");
  const fs::path cut = run_dir("cut");
  ASSERT_TRUE(eventually([&] { return fs::exists(cut / "checkpoint.pt"); }, 30)) << launcher->output();
  kill(launcher->pid, SIGKILL);  // the workers die with it
  ASSERT_TRUE(launcher->wait(10));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_FALSE(fs::exists(cut / "model.pt")) << "the run finished before it was stopped";
  auto resumed = run("train --resume " + cut.string() + " --nproc 2");
  ASSERT_EQ(resumed.status, 0) << resumed.output;
  EXPECT_EQ(lines_of(cut / "metrics.jsonl"), 20);
  EXPECT_EQ(max_difference(run_dir("whole"), cut), 0.0) << "bit for bit";
}

TEST_F(DistCli, BackendNcclWhereItIsNotBuiltIsOneClearErrorAndAutoTrainsWithGloo) {
  if (frugal::dist::nccl_built()) GTEST_SKIP() << "this frugal is built with NCCL";
  auto r = run("train " + recipe() + " --set dist.backend=\"nccl\" --nproc 2");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("frugal: error: recipe: dist: backend \"nccl\" is not built into this frugal"),
            std::string::npos)
      << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
  EXPECT_FALSE(fs::exists(run_dir()));
  train("auto", "--nproc 2", "--set dist.backend=\"auto\" train.epochs=1");
  std::ifstream config(run_dir("auto") / "config.toml");
  const std::string text((std::istreambuf_iterator<char>(config)), {});
  EXPECT_NE(text.find("[dist]\nbackend = 'auto'"), std::string::npos) << text;
}

TEST_F(DistCli, AKilledRankMakesTheOtherStopWithOneLineNamingIt) {
  const std::string master = "127.0.0.1:" + std::to_string(frugal::dist::free_port("127.0.0.1"));
  const std::string common = std::string(FRUGAL_BINARY) + " train " + recipe() +
                             " --set train.epochs=100000 run.dist_timeout_s=3 --world-size 2 --master " + master;
  auto rank0 = spawn(common + " --rank 0", dir_ / "rank0.log");
  auto rank1 = spawn(common + " --rank 1", dir_ / "rank1.log");
  ASSERT_TRUE(eventually([&] { return lines_of(run_dir() / "metrics.jsonl") >= 2; }, 30)) << rank0->output();
  kill(rank1->pid, SIGKILL);
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(rank0->wait(3 + 10)) << "rank 0 still runs";
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(rank0->status, 1);
  const std::string out = rank0->output();
  EXPECT_NE(out.find("frugal: error: rank 1 stopped responding (timeout 3 s) during "), std::string::npos) << out;
  EXPECT_LT(seconds, 3 + 8);
}

TEST_F(DistCli, AHungRankStopsTheOtherWithinTheTimeout) {
  const std::string master = "127.0.0.1:" + std::to_string(frugal::dist::free_port("127.0.0.1"));
  const std::string common = std::string(FRUGAL_BINARY) + " train " + recipe() +
                             " --set train.epochs=100000 run.dist_timeout_s=3 --world-size 2 --master " + master;
  auto rank0 = spawn(common + " --rank 0", dir_ / "rank0.log");
  auto rank1 = spawn(common + " --rank 1", dir_ / "rank1.log");
  ASSERT_TRUE(eventually([&] { return lines_of(run_dir() / "metrics.jsonl") >= 2; }, 30)) << rank0->output();
  kill(rank1->pid, SIGSTOP);
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(rank0->wait(3 + 10)) << "rank 0 still runs";
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(rank0->status, 1);
  const std::string out = rank0->output();
  EXPECT_NE(out.find("frugal: error: rank 1 stopped responding (timeout 3 s) during "), std::string::npos) << out;
  EXPECT_GE(seconds, 2.5);
  EXPECT_LT(seconds, 3 + 8);
}

TEST_F(DistCli, TheLauncherEndsEveryWorkerWhenOneDiesAndExitsNonZero) {
  auto launcher = spawn(std::string(FRUGAL_BINARY) + " train " + recipe() +
                            " --set train.epochs=100000 train.batch_size=30 --nproc 3",
                        dir_ / "launcher.log");
  std::vector<pid_t> workers;
  ASSERT_TRUE(eventually([&] {
    workers = children_of(launcher->pid);
    return workers.size() == 3 && lines_of(run_dir() / "metrics.jsonl") >= 1;
  }, 30)) << launcher->output();
  const pid_t group = getpgid(workers.front());
  pid_t rank1 = -1;
  for (pid_t w : workers)
    if (cmdline_of(w).find("--rank 1 ") != std::string::npos) rank1 = w;
  ASSERT_GT(rank1, 0);
  for (pid_t w : workers) EXPECT_EQ(getpgid(w), group) << "one process group for all workers";
  EXPECT_NE(group, getpgid(launcher->pid));
  kill(rank1, SIGKILL);
  ASSERT_TRUE(launcher->wait(20)) << "the launcher still runs";
  EXPECT_NE(launcher->status, 0);
  EXPECT_NE(launcher->output().find("frugal: error: rank 1 was killed by signal"), std::string::npos)
      << launcher->output();
  for (pid_t w : workers) EXPECT_FALSE(process_exists(w)) << "worker " << w << " left behind";
  EXPECT_EQ(killpg(group, 0), -1) << "a process of the workers' group is left";
}

}  // namespace
