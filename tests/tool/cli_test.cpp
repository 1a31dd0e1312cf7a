// End-to-end: the frugal program on tiny data it is given here.

#include "cli_fixture.h"

#include <algorithm>

namespace {

using namespace frugal_test;

TEST_F(Cli, TrainWritesAFullRunDirectoryAndReportComparesRuns) {
  auto full = run("train " + recipe());
  ASSERT_EQ(full.status, 0) << full.output;
  for (const char* file : {"config.toml", "metrics.jsonl", "checkpoint.pt", "model.pt", "summary.json"})
    EXPECT_TRUE(fs::exists(run_dir() / file)) << file;
  auto pruned = run("train " + recipe() + " --set run.name=pruned infobatch.enabled=true");
  ASSERT_EQ(pruned.status, 0) << pruned.output;
  EXPECT_NE(pruned.output.find("enabled = true"), std::string::npos) << "resolved recipe printed";

  auto report = run("report " + run_dir().string() + " " + run_dir("pruned").string() + " --out " +
                    (dir_ / "report").string());
  ASSERT_EQ(report.status, 0) << report.output;
  EXPECT_NE(report.output.find("| tiny |"), std::string::npos) << report.output;
  EXPECT_NE(report.output.find("| pruned |"), std::string::npos) << report.output;
  for (const char* png : {"test_accuracy.png", "test_loss.png", "kept_samples.png", "wall_time.png"})
    EXPECT_GT(fs::file_size(dir_ / "report" / png), 1000u) << png;
}

TEST_F(Cli, ResumeContinuesFromTheCheckpoint) {
  ASSERT_EQ(run("train " + recipe() + " --set train.epochs=2").status, 0);
  // Pretend the run was meant to last 3 epochs and died after 2.
  auto resumed = run("train --resume " + run_dir().string() + " --set train.epochs=3");
  ASSERT_EQ(resumed.status, 0) << resumed.output;
  std::ifstream metrics(run_dir() / "metrics.jsonl");
  int lines = 0;
  for (std::string line; std::getline(metrics, line);) ++lines;
  EXPECT_EQ(lines, 3);
}

TEST_F(Cli, ResumeFromAFlippedByteFailsInOneLineAndKeepsTheRun) {
  ASSERT_EQ(run("train " + recipe() + " --set train.epochs=2").status, 0);
  const auto checkpoint = run_dir() / "checkpoint.pt";
  std::string bytes;
  {
    std::ifstream in(checkpoint, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  bytes[bytes.size() / 3] ^= 0x10;
  std::ofstream(checkpoint, std::ios::binary | std::ios::trunc) << bytes;
  auto contents = [&](const char* name) {
    std::ifstream in(run_dir() / name);
    return std::string((std::istreambuf_iterator<char>(in)), {});
  };
  const std::string summary = contents("summary.json"), config = contents("config.toml");

  auto r = run("train --resume " + run_dir().string() + " --set train.epochs=3");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("frugal: error: resume: " + checkpoint.string() + " is corrupt"),
            std::string::npos)
      << r.output;
  // stderr also echoes the resolved recipe first; the error is one line, the last.
  const auto error_at = r.output.rfind("frugal: error: ");
  ASSERT_NE(error_at, std::string::npos) << r.output;
  EXPECT_EQ(r.output.find('\n', error_at), r.output.size() - 1) << r.output;
  EXPECT_EQ(contents("summary.json"), summary) << "the failed resume leaves the run alone";
  EXPECT_EQ(contents("config.toml"), config) << "the failed resume leaves the run alone";
}

TEST_F(Cli, BadRecipeGivesOneLineAndNonZeroExit) {
  auto r = run("train " + recipe() + " --set train.epoch=3");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("frugal: error: recipe: [train] has no key 'epoch'"), std::string::npos)
      << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
  EXPECT_FALSE(fs::exists(run_dir()));
}

TEST_F(Cli, CorruptDataFileFailsClearlyWithoutCheckpoint) {
  std::ofstream(dir_ / "train.csv", std::ios::app) << "1.0,oops,3,1\n";
  auto r = run("train " + recipe());
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("train.csv"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(run_dir() / "checkpoint.pt"));
  EXPECT_FALSE(fs::exists(run_dir() / "model.pt"));
}

TEST_F(Cli, DivergingLossFailsClearly) {
  auto r = run("train " + recipe() + " --set optimizer.lr=1e30");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("training loss became"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(run_dir() / "model.pt"));
}

}  // namespace
