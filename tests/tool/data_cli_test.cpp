// frugal pack and the CIFAR recipes, end to end on tiny data of the real layouts.

#include "tool/cli_fixture.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace {

namespace fs = std::filesystem;
using frugal_test::run;

class DataCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("frugal_data_cli_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  /// The official directory layout with `records` records per file.
  void write_cifar(const fs::path& dir, int classes, int records) const {
    fs::create_directories(dir);
    auto batch = [&](const std::string& name, int seed) {
      std::ofstream out(dir / name, std::ios::binary);
      for (int r = 0; r < records; ++r) {
        const int label = (r + seed) % classes;
        if (classes == 100) out.put(static_cast<char>(label / 5));  // coarse label
        out.put(static_cast<char>(label));
        for (int i = 0; i < 3072; ++i) out.put(static_cast<char>((i * 7 + label * 50 + seed) % 256));
      }
    };
    if (classes == 10) {
      for (int b = 1; b <= 5; ++b) batch("data_batch_" + std::to_string(b) + ".bin", b);
      batch("test_batch.bin", 9);
    } else {
      batch("train.bin", 1);
      batch("test.bin", 9);
    }
  }

  std::string tiny(const std::string& data_path) const {
    return " --set data.path=\"" + data_path + "\" run.out_dir=\"" + (dir_ / "runs").string() +
           "\" run.progress=false run.threads=1 data.limit=4 data.test_limit=2 data.workers=1"
           " train.epochs=1 train.batch_size=4 train.eval_batch_size=4 sparse.update_interval=1";
  }

  fs::path dir_;
};

TEST_F(DataCli, EveryCifarRecipeTrainsOnDataOfTheOfficialLayout) {
  write_cifar(dir_ / "cifar-10-batches-bin", 10, 2);
  write_cifar(dir_ / "cifar-100-binary", 100, 10);
  for (const std::string data : {"cifar10", "cifar100"}) {
    const std::string path = (dir_ / (data == "cifar10" ? "cifar-10-batches-bin" : "cifar-100-binary")).string();
    for (const std::string variant : {"full", "infobatch", "rigl"}) {
      const std::string recipe = std::string(FRUGAL_SOURCE_DIR) + "/recipes/" + data + "-resnet18-" + variant + ".toml";
      const auto r = run("train " + recipe + tiny(path));
      ASSERT_EQ(r.status, 0) << recipe << "\n" << r.output;
      EXPECT_NE(r.output.find("\"model\": \"resnet18\""), std::string::npos) << r.output;
      EXPECT_NE(r.output.find("\"test_acc\""), std::string::npos) << r.output;
    }
  }
}

TEST_F(DataCli, AMissingCifarDirectorySaysWhereToPutIt) {
  const std::string recipe = std::string(FRUGAL_SOURCE_DIR) + "/recipes/cifar10-resnet18-full.toml";
  const auto r = run("train " + recipe + tiny((dir_ / "nowhere").string()));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("frugal: error: data: CIFAR directory " + (dir_ / "nowhere").string() +
                          " does not exist (CIFAR is not packaged in Debian"),
            std::string::npos)
      << r.output;
}

TEST_F(DataCli, PackThenTrainFromThePackedDirectoryWithAugmentation) {
  write_cifar(dir_ / "cifar", 10, 4);
  const auto packed = run("pack cifar10 " + (dir_ / "cifar").string() + " " + (dir_ / "packed").string());
  ASSERT_EQ(packed.status, 0) << packed.output;
  EXPECT_TRUE(fs::exists(dir_ / "packed/train.pack"));
  EXPECT_TRUE(fs::exists(dir_ / "packed/test.pack"));
  std::ofstream(dir_ / "recipe.toml") << "[data]\nname = \"packed\"\n[augment]\ncrop = 32\npadding = 4\nflip = true\n"
                                      << "[model]\nname = \"cnn\"\n";
  const auto r = run("train " + (dir_ / "recipe.toml").string() + tiny((dir_ / "packed").string()));
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("\"train_samples\": 4"), std::string::npos) << r.output;
}

TEST_F(DataCli, PackNamesTheBadImageInOneErrorAndWritesNothing) {
  fs::create_directories(dir_ / "images/cat");
  std::ofstream(dir_ / "images/cat/broken.jpg") << "\xff\xd8\xff not really a jpeg";
  const auto r = run("pack images " + (dir_ / "images").string() + " " + (dir_ / "out").string());
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find((dir_ / "images/cat/broken.jpg").string() + ": bad JPEG"), std::string::npos)
      << r.output;
  EXPECT_FALSE(fs::exists(dir_ / "out/train.pack"));
}

}  // namespace
