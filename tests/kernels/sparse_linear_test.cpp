#include <frugal/kernels/csr.h>
#include <frugal/kernels/dispatch.h>
#include <frugal/kernels/sparse_linear.h>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <sstream>
#include <string>
#include <vector>

namespace fk = frugal::kernels;

namespace {

/// A mask [out, in] with the given density plus the hard cases the kernels
/// must survive: an empty row, a full row (when there are rows for them).
torch::Tensor make_mask(int64_t out, int64_t in, double density, torch::Generator& gen) {
  auto mask = torch::rand({out, in}, gen).lt(density);
  if (out >= 3 && density > 0.0 && density < 1.0) {
    mask[0].fill_(false);
    mask[1].fill_(true);
  }
  return mask;
}

struct Case {
  int64_t out, in, batch;
  double density;
};

std::string describe(const Case& c) {
  std::ostringstream s;
  s << "out=" << c.out << " in=" << c.in << " batch=" << c.batch << " density=" << c.density;
  return s.str();
}

/// Shapes that are not multiples of 8 or 64, batch 1, wide batches (several
/// tiles plus a ragged one, and 128 for the padded leading dimension), inputs
/// wider than one cache panel, densities 0 and 1, and an input whose packed
/// x^T (2100 x 272 floats) is past the huge-page threshold.
std::vector<Case> cases() {
  return {{1, 1, 1, 1.0},     {7, 13, 1, 0.5},    {7, 13, 5, 0.5},     {33, 70, 3, 0.3},
          {17, 9, 64, 0.7},   {40, 200, 65, 0.1}, {65, 129, 128, 0.2}, {10, 300, 200, 0.05},
          {30, 20, 17, 0.0},  {30, 20, 17, 1.0},  {3, 500, 9, 0.02},   {120, 77, 1, 0.15},
          {40, 2100, 256, 0.05}};
}

/// Compares forward and all gradients with torch::linear on W * mask.
void check_against_dense(const Case& c, int seed) {
  SCOPED_TRACE(describe(c));
  auto gen = torch::make_generator<at::CPUGeneratorImpl>(seed);
  const auto mask = make_mask(c.out, c.in, c.density, gen);
  const auto weight = torch::randn({c.out, c.in}, gen) * mask;
  const auto pattern = fk::CsrPattern::from_mask(mask);
  ASSERT_EQ(pattern.nnz(), mask.sum().item<int64_t>());

  auto values = fk::csr_values(weight, pattern).detach().requires_grad_(true);
  auto bias = torch::randn({c.out}, gen).requires_grad_(true);
  auto x = torch::randn({c.batch, c.in}, gen).requires_grad_(true);
  const auto grad_y = torch::randn({c.batch, c.out}, gen);

  auto y = fk::sparse_linear(x, values, pattern, bias);
  y.backward(grad_y);

  auto dense_w = weight.clone().requires_grad_(true);
  auto dense_b = bias.detach().clone().requires_grad_(true);
  auto dense_x = x.detach().clone().requires_grad_(true);
  auto y_ref = torch::linear(dense_x, dense_w, dense_b);
  y_ref.backward(grad_y);

  const double tol = 1e-4 * std::max<double>(1.0, std::sqrt(static_cast<double>(std::max(c.in, c.batch))));
  EXPECT_TRUE(torch::allclose(y, y_ref, tol, tol)) << (y - y_ref).abs().max().item<float>();
  EXPECT_TRUE(torch::allclose(x.grad(), dense_x.grad(), tol, tol))
      << (x.grad() - dense_x.grad()).abs().max().item<float>();
  const auto grad_values_ref = fk::csr_values(dense_w.grad(), pattern);
  EXPECT_TRUE(torch::allclose(values.grad(), grad_values_ref, tol, tol))
      << (values.grad() - grad_values_ref).abs().max().item<float>();
  EXPECT_TRUE(torch::allclose(bias.grad(), dense_b.grad(), tol, tol));

  // The no-autograd entry points agree with the autograd ones.
  EXPECT_TRUE(torch::allclose(fk::sparse_linear_input_grad(grad_y, values.detach(), pattern), x.grad(), tol, tol));
  EXPECT_TRUE(torch::allclose(fk::sparse_linear_values_grad(grad_y, x.detach(), pattern), values.grad(), tol, tol));
  EXPECT_TRUE(torch::allclose(fk::dense_weight_grad(grad_y, x.detach()), dense_w.grad(), tol, tol));
}

class ThreadsScope {
 public:
  explicit ThreadsScope(int64_t n) : prev_(torch::get_num_threads()) { fk::set_num_threads(n); }
  ~ThreadsScope() { fk::set_num_threads(prev_); }

 private:
  int64_t prev_;
};

class PortableScope {
 public:
  explicit PortableScope(bool portable) { fk::set_portable_kernels(portable); }
  ~PortableScope() { fk::set_portable_kernels(false); }
};

}  // namespace

TEST(CsrPattern, RoundTripsThroughDenseAndMask) {
  auto gen = torch::make_generator<at::CPUGeneratorImpl>(1);
  const auto mask = make_mask(13, 37, 0.3, gen);
  const auto weight = torch::randn({13, 37}, gen) * mask;
  const auto pattern = fk::CsrPattern::from_mask(mask);
  EXPECT_TRUE(torch::equal(pattern.to_mask(), mask));
  const auto values = fk::csr_values(weight, pattern);
  EXPECT_TRUE(torch::equal(fk::csr_to_dense(values, pattern), weight));
  // LibTorch's own CSR tensor sees the same matrix.
  EXPECT_TRUE(torch::equal(fk::to_torch_sparse_csr(values, pattern).to_dense(), weight));
  // Row 0 was emptied, row 1 filled.
  EXPECT_EQ(pattern.row_ptr()[1].item<int64_t>(), 0);
  EXPECT_EQ((pattern.row_ptr()[2] - pattern.row_ptr()[1]).item<int64_t>(), 37);
}

TEST(CsrPattern, TransposedPatternHoldsTheTransposedMatrix) {
  auto gen = torch::make_generator<at::CPUGeneratorImpl>(2);
  const auto mask = make_mask(9, 150, 0.2, gen);
  const auto weight = torch::randn({9, 150}, gen) * mask;
  const auto pattern = fk::CsrPattern::from_mask(mask);
  const auto t = pattern.transposed();
  EXPECT_EQ(t.rows(), 150);
  EXPECT_EQ(t.cols(), 9);
  const auto values_t = fk::csr_values(weight, pattern).index_select(0, pattern.transpose_perm());
  EXPECT_TRUE(torch::equal(fk::csr_to_dense(values_t, t), weight.t()));
  EXPECT_TRUE(t.transposed().equals(pattern));
}

TEST(CsrPattern, RejectsMalformedIndexWithTheOffendingValue) {
  const auto row_ptr = torch::tensor({0, 2, 3}, torch::kLong);
  EXPECT_NO_THROW(fk::CsrPattern(row_ptr, torch::tensor({0, 3, 1}, torch::kInt), 4));
  try {
    fk::CsrPattern(row_ptr, torch::tensor({3, 0, 1}, torch::kInt), 4);
    FAIL() << "unsorted columns accepted";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("ascending"), std::string::npos) << e.what();
  }
  EXPECT_THROW(fk::CsrPattern(row_ptr, torch::tensor({0, 4, 1}, torch::kInt), 4), c10::Error);
  EXPECT_THROW(fk::CsrPattern(row_ptr, torch::tensor({0, 1}, torch::kInt), 4), c10::Error);
  EXPECT_THROW(fk::CsrPattern(torch::tensor({1, 2, 3}, torch::kLong), torch::tensor({0, 1, 2}, torch::kInt), 4),
               c10::Error);
}

TEST(SparseLinearKernels, MatchMaskedDenseOnAvx2Path) {
  int seed = 10;
  for (const auto& c : cases()) check_against_dense(c, seed++);
}

TEST(SparseLinearKernels, MatchMaskedDenseOnPortablePath) {
  PortableScope portable(true);
  EXPECT_FALSE(fk::avx2_kernels_active());
  int seed = 100;
  for (const auto& c : cases()) check_against_dense(c, seed++);
}

TEST(SparseLinearKernels, MatchMaskedDenseMultiThreaded) {
  ThreadsScope threads(2);
  int seed = 200;
  // Large enough that the work is split between threads.
  for (const auto& c : std::vector<Case>{{300, 784, 256, 0.1}, {257, 333, 70, 0.3}, {100, 300, 1, 0.5},
                                         {10, 100, 256, 0.2}})
    check_against_dense(c, seed++);
}

TEST(SparseLinearKernels, AcceptsLeadingDimensions) {
  auto gen = torch::make_generator<at::CPUGeneratorImpl>(3);
  const auto mask = make_mask(6, 11, 0.5, gen);
  const auto weight = torch::randn({6, 11}, gen) * mask;
  const auto pattern = fk::CsrPattern::from_mask(mask);
  const auto x = torch::randn({2, 3, 11}, gen);
  const auto y = fk::sparse_linear(x, fk::csr_values(weight, pattern), pattern);
  ASSERT_EQ(y.sizes(), (std::vector<int64_t>{2, 3, 6}));
  EXPECT_TRUE(torch::allclose(y, torch::linear(x, weight), 1e-5, 1e-5));
}

TEST(SparseLinearKernels, RejectsMismatchedShapes) {
  const auto pattern = fk::CsrPattern::from_mask(torch::ones({4, 5}));
  const auto values = torch::ones({20});
  EXPECT_THROW(fk::sparse_linear(torch::ones({2, 6}), values, pattern), c10::Error);
  EXPECT_THROW(fk::sparse_linear(torch::ones({2, 5}), torch::ones({19}), pattern), c10::Error);
  EXPECT_THROW(fk::sparse_linear(torch::ones({2, 5}), values, pattern, torch::ones({3})), c10::Error);
  EXPECT_THROW(fk::sparse_linear(torch::ones({2, 5}, torch::kDouble), values, pattern), c10::Error);
}

TEST(SparseLinearModule, TrainsLikeMaskedDenseWithSgd) {
  torch::manual_seed(7);
  const int64_t in = 37, out = 23, batch = 19;
  fk::SparseLinear sparse(fk::SparseLinearOptions(in, out).density(0.2).kernel(fk::KernelChoice::kSparse));
  const auto mask = sparse->mask();
  auto dense_w = sparse->to_dense().clone().requires_grad_(true);
  auto dense_b = sparse->bias.detach().clone().requires_grad_(true);

  torch::optim::SGD opt_sparse(sparse->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));
  torch::optim::SGD opt_dense({dense_w, dense_b}, torch::optim::SGDOptions(0.1).momentum(0.9));
  const auto target = torch::randn({batch, out});
  for (int step = 0; step < 5; ++step) {
    const auto x = torch::randn({batch, in});
    opt_sparse.zero_grad();
    torch::mse_loss(sparse->forward(x), target).backward();
    opt_sparse.step();

    opt_dense.zero_grad();
    torch::mse_loss(torch::linear(x, dense_w, dense_b), target).backward();
    // Masked dense training: only active weights learn.
    dense_w.mutable_grad().mul_(mask);
    opt_dense.step();
  }
  EXPECT_TRUE(torch::allclose(sparse->to_dense(), dense_w.detach(), 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(sparse->bias, dense_b, 1e-5, 1e-5));
  // Off-pattern weights stayed exactly zero.
  EXPECT_EQ(sparse->to_dense().masked_select(mask.logical_not()).abs().max().item<float>(), 0.f);
}

TEST(SparseLinearModule, DenseAndSparsePathsGiveTheSameGradients) {
  torch::manual_seed(8);
  fk::SparseLinear a(fk::SparseLinearOptions(50, 30).density(0.3).kernel(fk::KernelChoice::kSparse));
  auto b = std::dynamic_pointer_cast<fk::SparseLinearImpl>(a->clone());
  b->options.kernel(fk::KernelChoice::kDense);
  EXPECT_TRUE(a->uses_sparse_kernel(8));
  EXPECT_FALSE(b->uses_sparse_kernel(8));
  const auto x = torch::randn({8, 50});
  a->forward(x).pow(2).sum().backward();
  b->forward(x).pow(2).sum().backward();
  EXPECT_TRUE(torch::allclose(a->values.grad(), b->values.grad(), 1e-4, 1e-4));
  EXPECT_TRUE(torch::allclose(a->bias.grad(), b->bias.grad(), 1e-4, 1e-4));
}

TEST(SparseLinearModule, SetPatternKeepsSurvivorsAndRewritesInPlace) {
  torch::manual_seed(9);
  fk::SparseLinear layer(fk::SparseLinearOptions(20, 10).density(0.3));
  const auto before = layer->to_dense();
  const auto old_mask = layer->mask();
  auto* values_impl = layer->values.unsafeGetTensorImpl();
  const void* values_data = layer->values.data_ptr();
  const void* col_data = layer->col_idx.data_ptr();

  // Drop 5 active weights and grow 5 inactive ones: same count.
  auto flat = old_mask.flatten().clone();
  const auto active = flat.nonzero().flatten(), inactive = flat.logical_not().nonzero().flatten();
  flat.index_fill_(0, active.slice(0, 0, 5), false);
  flat.index_fill_(0, inactive.slice(0, 0, 5), true);
  const auto new_mask = flat.view({10, 20});

  const auto source = layer->set_pattern(new_mask);
  EXPECT_TRUE(torch::equal(layer->mask(), new_mask));
  EXPECT_EQ(layer->values.unsafeGetTensorImpl(), values_impl);
  EXPECT_EQ(layer->values.data_ptr(), values_data);
  EXPECT_EQ(layer->col_idx.data_ptr(), col_data);
  EXPECT_EQ(source.lt(0).sum().item<int64_t>(), 5);
  // Survivors keep their value, grown weights start at zero.
  EXPECT_TRUE(torch::equal(layer->to_dense(), before * new_mask));

  // A pattern with more entries replaces the data but not the parameter.
  layer->set_pattern(torch::ones({10, 20}));
  EXPECT_EQ(layer->values.unsafeGetTensorImpl(), values_impl);
  EXPECT_EQ(layer->values.numel(), 200);
  EXPECT_TRUE(torch::equal(layer->to_dense(), before * new_mask));
}

TEST(SparseLinearModule, RemapEntriesCarriesOptimizerState) {
  const auto prev = fk::CsrPattern::from_mask(torch::tensor({{1, 1, 0}, {0, 1, 1}}));
  const auto next = fk::CsrPattern::from_mask(torch::tensor({{1, 0, 1}, {0, 1, 1}}));
  const auto source = fk::pattern_source(prev, next);
  EXPECT_TRUE(torch::equal(source, torch::tensor({0, -1, 2, 3}, torch::kLong)));
  const auto state = torch::tensor({10.f, 11.f, 12.f, 13.f});
  EXPECT_TRUE(torch::equal(fk::remap_entries(state, source), torch::tensor({10.f, 0.f, 12.f, 13.f})));
}

TEST(SparseLinearModule, FromDenseAndToDenseRoundTrip) {
  auto gen = torch::make_generator<at::CPUGeneratorImpl>(4);
  fk::SparseLinear layer(fk::SparseLinearOptions(31, 17).density(0.1));
  const auto mask = make_mask(17, 31, 0.4, gen);
  const auto weight = torch::randn({17, 31}, gen);
  layer->from_dense(weight, mask);
  EXPECT_TRUE(torch::equal(layer->to_dense(), weight * mask));
  EXPECT_NEAR(layer->density(), mask.to(torch::kDouble).mean().item<double>(), 1e-12);
}

TEST(SparseLinearModule, SavesLoadsAndClonesItsPattern) {
  torch::manual_seed(11);
  fk::SparseLinear a(fk::SparseLinearOptions(12, 8).density(0.4));
  std::stringstream buffer;
  torch::save(a, buffer);
  fk::SparseLinear b(fk::SparseLinearOptions(12, 8).density(0.9));
  torch::load(b, buffer);
  EXPECT_TRUE(torch::equal(b->mask(), a->mask()));
  EXPECT_TRUE(torch::equal(b->to_dense(), a->to_dense()));
  const auto x = torch::randn({3, 12});
  EXPECT_TRUE(torch::allclose(b->forward(x), a->forward(x)));

  auto c = std::dynamic_pointer_cast<fk::SparseLinearImpl>(a->clone());
  EXPECT_TRUE(torch::equal(c->to_dense(), a->to_dense()));
  // The clone is independent: changing its pattern leaves the original.
  c->set_pattern(torch::ones({8, 12}));
  EXPECT_NEAR(a->density(), 0.4, 0.05);
}

TEST(SparseLinearModule, ResetDrawsExactDensity) {
  fk::SparseLinear layer(fk::SparseLinearOptions(100, 40).density(0.05));
  EXPECT_EQ(layer->values.numel(), 200);
  EXPECT_THROW(fk::SparseLinear(fk::SparseLinearOptions(10, 10).density(1.5)), c10::Error);
}

TEST(KernelDispatch, ForcedChoicesWinAndAutoFollowsTheCrossover) {
  const fk::LinearShape shape{300, 784, 32, 1};
  EXPECT_TRUE(fk::use_sparse_kernel(shape, 0.9, fk::KernelChoice::kSparse));
  EXPECT_FALSE(fk::use_sparse_kernel(shape, 0.01, fk::KernelChoice::kDense));
  const double crossover = fk::table_crossover_density(shape);
  EXPECT_GT(crossover, 0.0);
  EXPECT_LT(crossover, 1.0);
  EXPECT_TRUE(fk::use_sparse_kernel(shape, crossover * 0.5));
  EXPECT_FALSE(fk::use_sparse_kernel(shape, std::min(1.0, crossover * 1.5)));
  EXPECT_THROW(fk::use_sparse_kernel(shape, 1.5), c10::Error);
  // Tiny layers at small batches are overhead-bound and stay dense.
  EXPECT_FALSE(fk::use_sparse_kernel(fk::LinearShape{10, 100, 1, 1}, 0.01));
  EXPECT_TRUE(fk::use_sparse_kernel(fk::LinearShape{10, 100, 256, 1}, 0.01));
}

TEST(KernelDispatch, MeasuredCrossoverIsCachedAndSane) {
  const fk::LinearShape shape{64, 96, 16, 1};
  const double first = fk::measure_crossover_density(shape);
  EXPECT_GE(first, 0.0);
  EXPECT_LE(first, 1.0);
  // Cached: a batch in the same power-of-two bucket returns the same number.
  EXPECT_EQ(fk::measure_crossover_density(fk::LinearShape{64, 96, 13, 1}), first);
  fk::set_crossover_source(fk::CrossoverSource::kMeasure);
  EXPECT_EQ(fk::crossover_density(shape), first);
  fk::set_crossover_source(fk::CrossoverSource::kTable);
  EXPECT_EQ(fk::crossover_density(shape), fk::table_crossover_density(shape));
}
