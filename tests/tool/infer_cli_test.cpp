// End-to-end: frugal export, infer and bench-infer on a tiny sparse run.

#include "cli_fixture.h"

#include <algorithm>

namespace {

using namespace frugal_test;

int lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

using InferCli = Cli;

TEST_F(InferCli, ExportWritesASparseModelThatInferRunsLikeTheBakedModel) {
  auto trained = run("train " + recipe() +
                     " --set model.hidden=[32,16] train.epochs=2 sparse.enabled=true sparse.density=0.3 sparse.distribution=\\\"uniform\\\" "
                     "sparse.method=\\\"static\\\"");
  ASSERT_EQ(trained.status, 0) << trained.output;
  auto exported = run("export " + run_dir().string() + " --kernel sparse");
  ASSERT_EQ(exported.status, 0) << exported.output;
  EXPECT_TRUE(fs::exists(run_dir() / "export" / "sparse_model.pt"));
  EXPECT_NE(exported.output.find("| body.0 | 32x3 |"), std::string::npos) << exported.output;
  EXPECT_NE(exported.output.find("| sparse |"), std::string::npos) << exported.output;

  auto inferred = run("infer " + run_dir().string() + " --batch 16");
  ASSERT_EQ(inferred.status, 0) << inferred.output;
  EXPECT_NE(inferred.output.find("test samples: 100\n"), std::string::npos) << inferred.output;
  EXPECT_NE(inferred.output.find("same prediction: 1\n"), std::string::npos) << inferred.output;
  EXPECT_NE(inferred.output.find("sparse model accuracy: "), std::string::npos) << inferred.output;

  auto bench = run("bench-infer " + run_dir().string() + " --batch 1 32 --samples 40");
  ASSERT_EQ(bench.status, 0) << bench.output;
  EXPECT_NE(bench.output.find("| 1 | 1 |"), std::string::npos) << bench.output;
  EXPECT_NE(bench.output.find("| 32 | 1 |"), std::string::npos) << bench.output;
}

TEST_F(InferCli, ExportWithoutMasksAndInferWithoutExportFailInOneLine) {
  ASSERT_EQ(run("train " + recipe() + " --set train.epochs=1").status, 0);
  auto exported = run("export " + run_dir().string());
  EXPECT_NE(exported.status, 0);
  EXPECT_NE(exported.output.find("frugal: error: export: run"), std::string::npos) << exported.output;
  EXPECT_EQ(lines(exported.output), 1) << exported.output;

  auto inferred = run("infer " + run_dir().string());
  EXPECT_NE(inferred.status, 0);
  EXPECT_NE(inferred.output.find("frugal export"), std::string::npos) << inferred.output;
  EXPECT_EQ(lines(inferred.output), 1) << inferred.output;
}

}  // namespace
