// Sparse training and pruning through the command line, then export.

#include "cli_fixture.h"

#include <nlohmann/json.hpp>

namespace {

using namespace frugal_test;

nlohmann::json summary_of(const fs::path& run_dir) {
  std::ifstream in(run_dir / "summary.json");
  return nlohmann::json::parse(in);
}

TEST_F(Cli, SparseRunKeepsExactDensityLogsMaskUpdatesAndExports) {
  // Masked layers: body.0 (16x3) and head (3x16), 96 weights; uniform 25% is 24 active.
  auto r = run("train " + recipe() +
               " --set sparse.enabled=true sparse.density=0.25 sparse.distribution=uniform "
               "sparse.update_interval=5 infobatch.enabled=true");
  ASSERT_EQ(r.status, 0) << r.output;
  auto s = summary_of(run_dir());
  EXPECT_EQ(s["active_weights"], 24);
  EXPECT_EQ(s["masked_weights"], 96);
  EXPECT_GT(s["itop_rate"].get<double>(), 0.25) << "masks moved, so more weights were explored";
  EXPECT_GT(s["mask_updates"].get<int64_t>(), 0);
  std::ifstream metrics(run_dir() / "metrics.jsonl");
  int updates = 0;
  for (std::string line; std::getline(metrics, line);)
    if (line.find("\"mask_update\"") != std::string::npos) ++updates;
  EXPECT_EQ(updates, s["mask_updates"].get<int>());

  auto e = run("export " + run_dir().string());
  ASSERT_EQ(e.status, 0) << e.output;
  EXPECT_NE(e.output.find("| total | 24 | 96 |"), std::string::npos) << e.output;
  EXPECT_NE(e.output.find("largest output difference, masked vs exported: 0"), std::string::npos)
      << e.output;
  EXPECT_TRUE(fs::exists(run_dir() / "export" / "weights.csr"));
}

TEST_F(Cli, FineTunePruningFromAnInitModelWithNewHeadExports) {
  ASSERT_EQ(run("train " + recipe() + " --set run.name=pre data.classes=[0,1]").status, 0);
  auto r = run("train " + recipe() + " --set data.classes=[2,1] model.init=\"" +
               (run_dir("pre") / "model.pt").string() +
               "\" model.new_head=true prune.enabled=true prune.method=movement "
               "prune.final_remaining=0.25 prune.warmup=0 prune.cooldown=0.3 prune.keep_head_dense=true");
  ASSERT_EQ(r.status, 0) << r.output;
  auto s = summary_of(run_dir());
  EXPECT_DOUBLE_EQ(s["prune"]["remaining"].get<double>(), 0.25);
  auto e = run("export " + run_dir().string());
  ASSERT_EQ(e.status, 0) << e.output;
  EXPECT_NE(e.output.find("| total | 12 | 48 |"), std::string::npos) << e.output;
  EXPECT_NE(e.output.find("masked vs exported: 0"), std::string::npos) << e.output;
}

TEST_F(Cli, BadMaskOptionsAreClearErrors) {
  for (const char* set : {"sparse.enabled=true sparse.density=1.5",
                          "sparse.enabled=true sparse.method=magic",
                          "sparse.enabled=true sparse.update_interval=0",
                          "sparse.enabled=true 'sparse.dense_layers=[\"nope\"]'",
                          "prune.enabled=true prune.final_remaining=0",
                          "prune.enabled=true prune.method=random",
                          "prune.enabled=true 'prune.include=[\"nothing.*\"]'"}) {
    auto r = run("train " + recipe() + " --set " + set);
    EXPECT_NE(r.status, 0) << set;
    // Errors found once the model exists (a pattern matching no layer) come
    // after the resolved recipe is printed: still one error line, the last.
    const auto last = r.output.rfind('\n', r.output.size() - 2);
    const std::string last_line = r.output.substr(last == std::string::npos ? 0 : last + 1);
    EXPECT_EQ(last_line.rfind("frugal: error: ", 0), 0u) << set << ": " << r.output;
    EXPECT_EQ(r.output.find("frugal: error: "), r.output.rfind("frugal: error: ")) << set;
    EXPECT_FALSE(fs::exists(run_dir() / "checkpoint.pt")) << set;
  }
  auto e = run("export " + run_dir().string() + "-missing");
  EXPECT_NE(e.status, 0);
}

}  // namespace
