// One training epoch of LeNet-300-100 with sparse layers (kernels::SparseLinear,
// forward and backward through the CSR kernels) against the usual way of
// training a sparse network: dense torch Linear layers whose weights and
// gradients are multiplied by the mask every step. Same masks, same initial
// weights, same data, same optimizer (SGD with momentum), in the same process.
//
//   bench_sparse_training [--density 0.05] [--threads 1] [--samples 60000]
//                         [--batch 128] [--repeats 2] [--json PATH]
//
// Prints both epoch times and the largest difference between the two models'
// weights after the epoch (they compute the same thing); with --json writes
// {model, density, threads, dense_s, sparse_s}. bench/sparse_training.sh runs it.
//
// Sparse training from scratch: Mocanu et al., "Scalable training of
// artificial neural networks with adaptive sparse connectivity inspired by
// network science", Nature Communications 2018 (SET); Evci et al., "Rigging
// the Lottery: Making All Tickets Winners", ICML 2020 (RigL).

#include <frugal/kernels/dispatch.h>
#include <frugal/kernels/sparse_linear.h>

#include <torch/torch.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

namespace {

using frugal::kernels::KernelChoice;
using frugal::kernels::SparseLinear;
using frugal::kernels::SparseLinearOptions;

struct Args {
  double density = 0.05;
  int64_t threads = 1;
  int64_t samples = 60000;
  int64_t batch = 128;
  int64_t repeats = 2;
  std::string json;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    TORCH_CHECK(i + 1 < argc, "bench_sparse_training: ", flag, " needs a value");
    const std::string value = argv[++i];
    if (flag == "--density")
      a.density = std::stod(value);
    else if (flag == "--threads")
      a.threads = std::stoll(value);
    else if (flag == "--samples")
      a.samples = std::stoll(value);
    else if (flag == "--batch")
      a.batch = std::stoll(value);
    else if (flag == "--repeats")
      a.repeats = std::stoll(value);
    else if (flag == "--json")
      a.json = value;
    else
      TORCH_CHECK(false, "bench_sparse_training: unknown flag ", flag);
  }
  TORCH_CHECK(a.density > 0 && a.density <= 1, "bench_sparse_training: density must be in (0, 1], got ", a.density);
  TORCH_CHECK(a.samples >= a.batch && a.batch >= 1 && a.repeats >= 1 && a.threads >= 1,
              "bench_sparse_training: need samples >= batch >= 1, repeats >= 1 and threads >= 1");
  return a;
}

constexpr int64_t kWidths[] = {784, 300, 100, 10};
constexpr double kLr = 0.01, kMomentum = 0.9;

/// LeNet-300-100 with SparseLinear layers.
struct SparseNet : torch::nn::Module {
  explicit SparseNet(const std::vector<torch::Tensor>& weights, const std::vector<torch::Tensor>& masks,
                     const std::vector<torch::Tensor>& biases) {
    for (size_t i = 0; i < weights.size(); ++i) {
      auto layer = SparseLinear(SparseLinearOptions(kWidths[i], kWidths[i + 1]).kernel(KernelChoice::kSparse));
      layer->from_dense(weights[i], masks[i]);
      torch::NoGradGuard no_grad;
      layer->bias.copy_(biases[i]);
      layers.push_back(register_module("fc" + std::to_string(i), layer));
    }
  }
  torch::Tensor forward(torch::Tensor x) {
    for (size_t i = 0; i < layers.size(); ++i) {
      x = layers[i]->forward(x);
      if (i + 1 < layers.size()) x = torch::relu(x);
    }
    return x;
  }
  std::vector<SparseLinear> layers;
};

/// LeNet-300-100 with dense Linear layers and masks applied by hand.
struct MaskedNet : torch::nn::Module {
  MaskedNet(const std::vector<torch::Tensor>& weights, const std::vector<torch::Tensor>& masks_,
            const std::vector<torch::Tensor>& biases)
      : masks(masks_) {
    for (size_t i = 0; i < weights.size(); ++i) {
      auto layer = torch::nn::Linear(kWidths[i], kWidths[i + 1]);
      torch::NoGradGuard no_grad;
      layer->weight.copy_(weights[i] * masks[i]);
      layer->bias.copy_(biases[i]);
      layers.push_back(register_module("fc" + std::to_string(i), layer));
    }
  }
  torch::Tensor forward(torch::Tensor x) {
    for (size_t i = 0; i < layers.size(); ++i) {
      x = layers[i]->forward(x);
      if (i + 1 < layers.size()) x = torch::relu(x);
    }
    return x;
  }
  /// Masked training: pruned weights get no gradient (and so no momentum),
  /// and are re-zeroed after the step in case anything moved them.
  void mask_grads() {
    for (size_t i = 0; i < layers.size(); ++i) layers[i]->weight.grad().mul_(masks[i]);
  }
  void reapply_masks() {
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < layers.size(); ++i) layers[i]->weight.mul_(masks[i]);
  }
  std::vector<torch::nn::Linear> layers;
  std::vector<torch::Tensor> masks;
};

/// Seconds for one epoch over (x, y) in order, in batches.
template <class Net, class AfterBackward, class AfterStep>
double epoch(Net& net, const torch::Tensor& x, const torch::Tensor& y, int64_t batch, AfterBackward after_backward,
             AfterStep after_step) {
  torch::optim::SGD opt(net.parameters(), torch::optim::SGDOptions(kLr).momentum(kMomentum));
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t start = 0; start + batch <= x.size(0); start += batch) {
    opt.zero_grad();
    const auto loss = torch::cross_entropy_loss(net.forward(x.slice(0, start, start + batch)),
                                                y.slice(0, start, start + batch));
    loss.backward();
    after_backward();
    opt.step();
    after_step();
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Args a = parse(argc, argv);
    frugal::kernels::set_num_threads(a.threads);
    torch::manual_seed(0);
    const auto x = torch::randn({a.samples, kWidths[0]});
    const auto y = torch::randint(10, {a.samples}, torch::kLong);
    std::vector<torch::Tensor> weights, masks, biases;
    for (int i = 0; i < 3; ++i) {
      const double bound = 1.0 / std::sqrt(static_cast<double>(kWidths[i]));
      weights.push_back(torch::empty({kWidths[i + 1], kWidths[i]}).uniform_(-bound, bound));
      masks.push_back(torch::rand({kWidths[i + 1], kWidths[i]}).lt(a.density).to(torch::kFloat));
      biases.push_back(torch::empty({kWidths[i + 1]}).uniform_(-bound, bound));
    }

    double dense_s = 1e30, sparse_s = 1e30, max_diff = 0.0;
    for (int64_t r = 0; r < a.repeats; ++r) {
      // Fresh, identical models each repeat; alternate so machine load hits both alike.
      MaskedNet dense(weights, masks, biases);
      SparseNet sparse(weights, masks, biases);
      dense_s = std::min(dense_s, epoch(dense, x, y, a.batch, [&] { dense.mask_grads(); }, [&] { dense.reapply_masks(); }));
      sparse_s = std::min(sparse_s, epoch(sparse, x, y, a.batch, [] {}, [] {}));
      for (int i = 0; i < 3; ++i)
        max_diff = std::max(max_diff,
                            (dense.layers[i]->weight - sparse.layers[i]->to_dense()).abs().max().item<double>());
    }
    std::cout << "LeNet-300-100, density " << a.density << ", " << a.threads << " thread(s), " << a.samples
              << " samples, batch " << a.batch << "\n"
              << "masked dense epoch: " << dense_s << " s\nsparse epoch:       " << sparse_s
              << " s\nspeed-up: " << dense_s / sparse_s << "x\nlargest weight difference after the epoch: " << max_diff
              << std::endl;
    if (!a.json.empty()) {
      std::ofstream out(a.json);
      out << "{\"model\": \"lenet-300-100\", \"density\": " << a.density << ", \"threads\": " << a.threads
          << ", \"dense_s\": " << dense_s << ", \"sparse_s\": " << sparse_s << "}\n";
      TORCH_CHECK(out.good(), "bench_sparse_training: cannot write ", a.json);
    }
  } catch (const c10::Error& e) {
    std::cerr << "bench_sparse_training: error: " << e.what_without_backtrace() << std::endl;
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "bench_sparse_training: error: " << e.what() << std::endl;
    return 1;
  }
  return 0;
}
