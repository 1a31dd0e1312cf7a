// The [run] device option end to end on the CPU: run_recipe() on tiny CSV data.

#include "frugal/app/run.h"
#include "frugal/recipe/recipe.h"
#include "tool/cli_fixture.h"

#include <torch/cuda.h>

#include <fstream>
#include <sstream>

namespace {

using RunDevice = frugal_test::Cli;

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST_F(RunDevice, CpuIsRecordedInTheResolvedRecipeAndTheSummaryAndResumes) {
  const auto r = frugal::recipe::load_recipe(recipe(), {"run.device=cpu", "train.epochs=1"});
  const auto summary = frugal::app::run_recipe(r);
  EXPECT_EQ(summary["device"], "cpu");
  const std::string config = read_text(run_dir() / "config.toml");
  EXPECT_NE(config.find("device = 'cpu'"), std::string::npos) << config;
  const auto again = frugal::recipe::load_recipe((run_dir() / "config.toml").string());
  ASSERT_TRUE(again.train.device.has_value());
  EXPECT_TRUE(again.train.device->is_cpu());
}

TEST_F(RunDevice, AutoPicksCudaOnlyWhereLibTorchHasIt) {
  const auto summary = frugal::app::run_recipe(frugal::recipe::load_recipe(recipe(), {"train.epochs=1"}));
  EXPECT_EQ(summary["device"], torch::cuda::is_available() ? "cuda" : "cpu");
}

TEST_F(RunDevice, CudaWhereLibTorchHasNoneIsAClearErrorBeforeAnythingIsWritten) {
  if (torch::cuda::is_available()) GTEST_SKIP() << "this LibTorch has CUDA";
  const auto r = frugal::recipe::load_recipe(recipe(), {"run.device=cuda"});
  try {
    frugal::app::run_recipe(r);
    ADD_FAILURE() << "run_recipe trained on a CUDA device that does not exist";
  } catch (const c10::Error& e) {
    const std::string message = e.what_without_backtrace();
    EXPECT_NE(message.find("device cuda: this LibTorch has no CUDA device"), std::string::npos) << message;
  }
  EXPECT_FALSE(std::filesystem::exists(run_dir()));
}

}  // namespace
