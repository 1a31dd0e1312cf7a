#include "frugal/core/checked_file.h"
#include "frugal/prune/distill.h"
#include "frugal/prune/export.h"
#include "frugal/prune/pruner.h"

#include "support/expect_error.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <fstream>

namespace prune = frugal::prune;

namespace {

using frugal_test::error_of;

std::string temp_path(const std::string& name) { return ::testing::TempDir() + "/" + name; }

torch::Tensor sparse_random(std::vector<int64_t> shape, double density, torch::Dtype dtype) {
  auto w = torch::randn(shape, torch::TensorOptions().dtype(dtype));
  return w * (torch::rand(shape) < density).to(dtype);
}

}  // namespace

TEST(Csr, HoldsExactlyTheNonZerosRowByRow) {
  auto w = torch::tensor({{0.0f, 2.0f, 0.0f}, {0.0f, 0.0f, 0.0f}, {3.0f, 0.0f, -1.0f}});
  auto m = prune::to_csr("w", w);
  EXPECT_EQ(m.rows(), 3);
  EXPECT_EQ(m.cols(), 3);
  EXPECT_TRUE(torch::equal(m.pattern.row_ptr(), torch::tensor({0, 1, 1, 3}, torch::kLong)));
  EXPECT_TRUE(torch::equal(m.pattern.col_idx(), torch::tensor({1, 0, 2}, torch::kInt)));
  EXPECT_TRUE(torch::equal(m.values, torch::tensor({2.0f, 3.0f, -1.0f})));
  EXPECT_TRUE(torch::equal(prune::to_dense(m), w));
}

TEST(Csr, FileRoundTripsLinearAndConvWeights) {
  torch::manual_seed(7);
  std::vector<prune::CsrMatrix> written = {
      prune::to_csr("fc.weight", sparse_random({20, 30}, 0.1, torch::kFloat)),
      prune::to_csr("conv.weight", sparse_random({4, 2, 3, 3}, 0.3, torch::kFloat)),
      prune::to_csr("double.weight", sparse_random({5, 7}, 0.5, torch::kDouble)),
      prune::to_csr("empty.weight", torch::zeros({3, 4})),
  };
  const auto path = temp_path("round_trip.csr");
  prune::write_csr(path, written);
  auto read = prune::read_csr(path);
  ASSERT_EQ(read.size(), written.size());
  for (size_t i = 0; i < read.size(); ++i) {
    EXPECT_EQ(read[i].name, written[i].name);
    EXPECT_EQ(read[i].shape, written[i].shape);
    EXPECT_TRUE(read[i].pattern.equals(written[i].pattern)) << read[i].name;
    EXPECT_TRUE(torch::equal(read[i].values, written[i].values)) << read[i].name;
    EXPECT_TRUE(torch::equal(prune::to_dense(read[i]), prune::to_dense(written[i])));
  }
  EXPECT_EQ(read[2].values.scalar_type(), torch::kDouble);
  EXPECT_EQ(read[3].nnz(), 0);
  std::remove(path.c_str());
}

TEST(Csr, RejectsTruncatedOrFlippedFilesWithClearMessages) {
  auto path = temp_path("corrupt.csr");
  prune::write_csr(path, {prune::to_csr("w", sparse_random({8, 8}, 0.5, torch::kFloat))});
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  const auto rewrite = [&](const std::string& content) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
  };
  for (size_t size : {size_t{0}, size_t{10}, size_t{30}, bytes.size() / 2, bytes.size() - 1}) {
    rewrite(bytes.substr(0, size));
    const auto error = error_of([&] { prune::read_csr(path); });
    EXPECT_TRUE(error.find("truncated") != std::string::npos || error.find("not a frugal file") != std::string::npos)
        << "cut at " << size << ": " << error;
  }
  // One flipped byte anywhere: in the header, the name, the indices, the last value.
  for (size_t at : {size_t{3}, size_t{12}, size_t{30}, bytes.size() / 2, bytes.size() - 1}) {
    std::string flipped = bytes;
    flipped[at] = static_cast<char>(flipped[at] ^ 0x10);
    rewrite(flipped);
    const auto error = error_of([&] { prune::read_csr(path); });
    EXPECT_TRUE(error.find("corrupt") != std::string::npos || error.find("not a frugal file") != std::string::npos)
        << "flipped at " << at << ": " << error;
  }
  // A sound checked file that holds something else.
  frugal::core::write_file_atomically(path, frugal::core::seal("NOTACSR!" + std::string(16, '\0')));
  EXPECT_NE(error_of([&] { prune::read_csr(path); }).find("bad magic"), std::string::npos);
  std::remove(path.c_str());
  EXPECT_NE(error_of([&] { prune::read_csr(path); }).find("cannot read"), std::string::npos);
}

TEST(Export, BakedModelRoundTripsThroughCsrWithSameOutputs) {
  torch::manual_seed(8);
  torch::nn::Sequential model(torch::nn::Linear(6, 10), torch::nn::ReLU(), torch::nn::Linear(10, 3));
  prune::Pruner pruner(*model, prune::PruneOptions(prune::PruneMethod::kMagnitude)
                                   .final_remaining(0.2).one_shot(true).keep_head_dense(true));
  frugal::core::StepInfo info;
  pruner.before_forward(false, info);
  auto x = torch::randn({4, 6});
  torch::NoGradGuard no_grad;
  auto masked = model->forward(x);
  auto report = pruner.bake();
  EXPECT_EQ(report.kept, 12);
  EXPECT_EQ(report.total, 60);
  EXPECT_NE(report.table().find("| 0.weight | 12 | 60 | 20.00% |"), std::string::npos);

  const auto path = temp_path("model.csr");
  prune::write_csr(path, prune::to_csr(*model, pruner.pruned_names()));
  auto read = prune::read_csr(path);
  ASSERT_EQ(read.size(), 1u);
  EXPECT_EQ(read[0].nnz(), 12);
  // A fresh model given the weights from the file computes the same outputs.
  torch::manual_seed(99);
  torch::nn::Sequential fresh(torch::nn::Linear(6, 10), torch::nn::ReLU(), torch::nn::Linear(10, 3));
  auto fresh_params = fresh->named_parameters();
  for (const auto& p : model->named_parameters()) fresh_params[p.key()].copy_(p.value());
  fresh_params["0.weight"].copy_(prune::to_dense(read[0]));
  EXPECT_TRUE(torch::allclose(fresh->forward(x), masked, 1e-6, 1e-6));
  std::remove(path.c_str());
}

TEST(Distillation, MatchesHandComputedLoss) {
  auto student = torch::tensor({{1.0, 0.0}, {0.0, 2.0}}, torch::kDouble).requires_grad_();
  auto teacher = torch::tensor({{0.0, 0.0}, {2.0, 0.0}}, torch::kDouble).requires_grad_();
  auto targets = torch::tensor({0, 1}, torch::kLong);
  auto opts = prune::DistillOptions().alpha_ce(0.25).alpha_kd(0.75).temperature(2.0);
  auto losses = prune::distillation_losses(student, teacher, targets, opts);
  ASSERT_EQ(losses.sizes(), torch::IntArrayRef({2}));
  auto expected = [](double s0, double s1, double t0, double t1, int label) {
    auto lse = [](double a, double b) { return std::log(std::exp(a) + std::exp(b)); };
    double ce = lse(s0, s1) - (label == 0 ? s0 : s1);
    double ps0 = std::exp(s0 / 2 - lse(s0 / 2, s1 / 2)), ps1 = 1 - ps0;
    double pt0 = std::exp(t0 / 2 - lse(t0 / 2, t1 / 2)), pt1 = 1 - pt0;
    double kl = pt0 * std::log(pt0 / ps0) + pt1 * std::log(pt1 / ps1);
    return 0.25 * ce + 0.75 * 4.0 * kl;
  };
  EXPECT_NEAR(losses[0].item<double>(), expected(1, 0, 0, 0, 0), 1e-12);
  EXPECT_NEAR(losses[1].item<double>(), expected(0, 2, 2, 0, 1), 1e-12);
  losses.sum().backward();
  EXPECT_TRUE(student.grad().defined());
  EXPECT_FALSE(teacher.grad().defined());
}

TEST(Distillation, KlTermVanishesWhenStudentMatchesTeacher) {
  auto logits = torch::randn({5, 4});
  auto targets = torch::randint(0, 4, {5});
  auto kd_only = prune::distillation_losses(logits, logits, targets,
                                            prune::DistillOptions().alpha_ce(0.0).alpha_kd(1.0));
  EXPECT_LT(kd_only.abs().max().item<float>(), 1e-6f);
  EXPECT_NE(error_of([&] {
              prune::distillation_losses(logits, logits, targets,
                                         prune::DistillOptions().temperature(0.0));
            }).find("temperature must be > 0, got 0"),
            std::string::npos);
}
