#include "frugal/recipe/recipe.h"

#include <gtest/gtest.h>

#include <string>

namespace {

using frugal::recipe::parse_recipe;
using frugal::recipe::Recipe;

std::string error_of(const std::string& text, const std::vector<std::string>& overrides = {}) {
  try {
    parse_recipe(text, "test.toml", overrides);
  } catch (const c10::Error& e) {
    return e.what_without_backtrace();
  }
  return "";
}

TEST(Recipe, EmptyRecipeGivesTheDocumentedDefaults) {
  Recipe r = parse_recipe("", "empty");
  EXPECT_EQ(r.data.name, "fashion-mnist");
  EXPECT_EQ(r.model.spec.name, "mlp");
  EXPECT_EQ(r.model.spec.hidden, (std::vector<int64_t>{300, 100}));
  EXPECT_EQ(r.train.epochs, 15);
  EXPECT_FALSE(r.infobatch.enabled);
  EXPECT_DOUBLE_EQ(r.infobatch.options.prune_ratio(), 0.5);
  EXPECT_DOUBLE_EQ(r.infobatch.options.delta(), 0.875);
  EXPECT_EQ(r.train.schedule.name, "cosine");
}

TEST(Recipe, ValuesAreReadWithTheirTypes) {
  Recipe r = parse_recipe(R"(
[train]
epochs = 3
[optimizer]
lr = 1          # an integer is a fine number
nesterov = true
[schedule]
milestones = [2, 4.5]
[infobatch]
enabled = true
prune_ratio = 0.3
)", "t");
  EXPECT_EQ(r.train.epochs, 3);
  EXPECT_DOUBLE_EQ(r.optimizer.lr, 1.0);
  EXPECT_TRUE(r.optimizer.nesterov);
  EXPECT_EQ(r.train.schedule.milestones, (std::vector<double>{2, 4.5}));
  EXPECT_TRUE(r.infobatch.enabled);
  EXPECT_DOUBLE_EQ(r.infobatch_options().prune_ratio(), 0.3);
  EXPECT_EQ(r.infobatch_options().epochs(), 3);
}

TEST(Recipe, UnknownKeyIsAnErrorListingTheSectionsValidKeys) {
  auto msg = error_of("[train]\nepoch = 3\n");
  EXPECT_NE(msg.find("[train] has no key 'epoch'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("valid keys: epochs, batch_size"), std::string::npos) << msg;
}

TEST(Recipe, UnknownSectionWrongTypeAndSyntaxErrorsNameTheProblem) {
  EXPECT_NE(error_of("[trian]\n").find("unknown section [trian]"), std::string::npos);
  EXPECT_NE(error_of("[train]\nepochs = \"ten\"\n").find("[train] epochs must be an integer"),
            std::string::npos);
  EXPECT_NE(error_of("[train\n").find("test.toml"), std::string::npos);
  EXPECT_NE(error_of("[model]\nhidden = [1, \"a\"]\n").find("an array of integers"),
            std::string::npos);
}

TEST(Recipe, OutOfRangeValuesAreErrors) {
  EXPECT_NE(error_of("[infobatch]\nprune_ratio = 0.95\n").find("prune_ratio must lie in [0, 0.9]"),
            std::string::npos);
  EXPECT_NE(error_of("[infobatch]\ndelta = -1\n").find("delta"), std::string::npos);
  EXPECT_NE(error_of("[train]\nepochs = 0\n").find("epochs must be >= 1"), std::string::npos);
  EXPECT_NE(error_of("[optimizer]\nname = \"lamb\"\n").find("[optimizer] name 'lamb' is unknown"),
            std::string::npos);
  EXPECT_NE(error_of("[data]\nname = \"imagenet\"\n").find("'imagenet' is unknown"),
            std::string::npos);
  EXPECT_NE(error_of("[data]\nname = \"csv\"\n").find("path is needed"), std::string::npos);
  EXPECT_NE(error_of("[data]\nworkers = -2\n").find("workers must be >= -1, got -2"), std::string::npos);
  EXPECT_NE(error_of("[data]\nname = \"csv\"\npath = \"a.csv\"\nin_place = true\n").find("cannot be read in place"),
            std::string::npos);
  EXPECT_NE(error_of("[augment]\ncrop = -1\n").find("crop must be >= 0"), std::string::npos);
  EXPECT_NE(error_of("[augment]\npadding = 4\n").find("needs a crop"), std::string::npos);
  EXPECT_NE(error_of("[model]\nname = \"vgg\"\n").find("known: mlp, cnn, resnet20, resnet18"),
            std::string::npos);
}

TEST(Recipe, AugmentAndWorkersBindToTheDataAreasOptions) {
  Recipe r = parse_recipe("[augment]\ncrop = 32\npadding = 4\nflip = true\n[data]\nworkers = 3\n", "t");
  EXPECT_EQ(r.train.augment.crop(), 32);
  EXPECT_EQ(r.train.augment.padding(), 4);
  EXPECT_TRUE(r.train.augment.flip());
  EXPECT_EQ(r.train.loader.workers(), 3);
  EXPECT_EQ(parse_recipe("", "t").train.loader.workers(), -1);
  EXPECT_NE(r.to_toml().find("[augment]"), std::string::npos);
}

TEST(Recipe, OverridesApplyOnTopAndParseAsToml) {
  Recipe r = parse_recipe("[train]\nepochs = 3\n", "t",
                          {"train.epochs=7", "run.name=my-run", "model.hidden=[10, 20]",
                           "infobatch.enabled=true", "optimizer.lr=0.5"});
  EXPECT_EQ(r.train.epochs, 7);
  EXPECT_EQ(r.run.name, "my-run");
  EXPECT_EQ(r.model.spec.hidden, (std::vector<int64_t>{10, 20}));
  EXPECT_TRUE(r.infobatch.enabled);
  EXPECT_DOUBLE_EQ(r.optimizer.lr, 0.5);
  EXPECT_NE(error_of("", {"train.epoch=3"}).find("has no key 'epoch'"), std::string::npos);
  EXPECT_NE(error_of("", {"epochs=3"}).find("section.key=value"), std::string::npos);
}

TEST(Recipe, ResolvedRecipeParsesBackToTheSameRecipe) {
  Recipe r = parse_recipe("[train]\nepochs = 4\n[infobatch]\nenabled = true\n", "t",
                          {"optimizer.lr=0.2"});
  Recipe again = parse_recipe(r.to_toml(), "resolved");
  EXPECT_EQ(again.to_toml(), r.to_toml());
  EXPECT_EQ(again.train.epochs, 4);
  EXPECT_DOUBLE_EQ(again.optimizer.lr, 0.2);
  EXPECT_NE(r.to_toml().find("prune_ratio = 0.5"), std::string::npos) << "defaults are written out";
}

TEST(Recipe, KeysTheChosenDataSetOrModelIgnoresAreErrors) {
  const auto hidden = error_of("[model]\nname = \"cnn\"\nhidden = [10]\n");
  EXPECT_NE(hidden.find("[model] hidden is ignored: model 'cnn' has no hidden widths"), std::string::npos) << hidden;
  const auto label = error_of("[data]\nname = \"idx\"\npath = \"d\"\n", {"data.label_column=y"});
  EXPECT_NE(label.find("[data] label_column is ignored: data set 'idx' is not a csv file"), std::string::npos)
      << label;
  Recipe csv = parse_recipe("[data]\nname = \"csv\"\npath = \"t.csv\"\nlabel_column = \"y\"\n", "t");
  EXPECT_EQ(csv.data.label_column, "y");
}

TEST(Recipe, ResolvedRecipeLeavesOutTheKeysTheModelAndDataIgnore) {
  const Recipe cnn = parse_recipe("[model]\nname = \"cnn\"\n", "t");
  EXPECT_EQ(cnn.to_toml().find("hidden"), std::string::npos) << cnn.to_toml();
  EXPECT_EQ(cnn.to_toml().find("label_column"), std::string::npos) << cnn.to_toml();
  EXPECT_EQ(parse_recipe(cnn.to_toml(), "resolved").to_toml(), cnn.to_toml());
  EXPECT_NE(parse_recipe("", "t").to_toml().find("hidden = [ 300, 100 ]"), std::string::npos);
}

TEST(Recipe, EnumKeysTakeTheLibrarysAliasesAndWriteTheCanonicalName) {
  const Recipe r = parse_recipe("[sparse]\nmethod = \"rigl\"\n[prune]\nselection = \"global\"\n", "t");
  EXPECT_EQ(r.value_text("sparse", "method"), "gradient");
  EXPECT_EQ(r.sparse.options.method(), frugal::sparse::SparseMethod::kGradient);
  EXPECT_EQ(r.value_text("prune", "selection"), "global");
  EXPECT_NE(error_of("[sparse]\nmethod = \"magic\"\n").find("[sparse] method: unknown sparse training method 'magic'"),
            std::string::npos);
}

TEST(Recipe, DeviceIsAutoCpuCudaOrCudaNAndAnythingElseIsAnErrorNamingIt) {
  EXPECT_FALSE(parse_recipe("", "t").train.device.has_value());
  EXPECT_TRUE(parse_recipe("[run]\ndevice = \"cpu\"\n", "t").train.device->is_cpu());
  const auto second_gpu = parse_recipe("[run]\ndevice = \"cuda:1\"\n", "t");
  EXPECT_TRUE(second_gpu.train.device->is_cuda());
  EXPECT_EQ(second_gpu.train.device->index(), 1);
  EXPECT_EQ(second_gpu.value_text("run", "device"), "cuda:1");
  EXPECT_NE(error_of("[run]\ndevice = \"tpu\"\n").find("[run] device 'tpu' is not auto, cpu, cuda or cuda:N"),
            std::string::npos);
  EXPECT_NE(error_of("", {"run.device=cuda:x"}).find("[run] device 'cuda:x' is not"), std::string::npos);
}

}  // namespace
