// c10d's own C++ Reducer (what DistributedDataParallel runs) against frugal's
// bucketed allreduce after backward (DataParallel::average_gradients), in one
// process per rank on 127.0.0.1; bench/reducer.sh starts the ranks.
//
//   bench_reducer --rank R --world-size 2 --port P --model mlp|cnn --steps N
//                 --rounds K [--warmup W] [--bucket-mb B] [--first-bucket-mb F]
//                 [--out FILE]
//
// Every round trains the same model from the same initial weights on the same
// synthetic batches (per rank; global batch 128) once with each mode, the
// mode that goes first alternating between rounds, and rank 0 appends one JSON
// line per run to FILE: {model, mode, round, steps_per_s, bucket_mb,
// first_bucket_mb, buckets, max_abs_diff}. buckets is the Reducer's count
// after its rebuild (-1 on frugal's lines); max_abs_diff (the same on both of
// a round's lines) is the largest difference between the two modes' weights
// after the round's steps. Beyond the tolerance the program fails, as it does
// when the ranks' weights differ (DataParallel::check_identical).
//
// Both modes use one Gloo thread over a TCPStore, as frugal's Communicator
// does; the Reducer gets a process group of its own (port P) because the
// Communicator (port P+1) does not hand its group out.

#include "frugal/core/threads.h"
#include "frugal/dist/communicator.h"
#include "frugal/dist/data_parallel.h"
#include "frugal/train/models.h"
#include "frugal/train/optim.h"

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
// Needs src/dist/shim (frugal_dist's private include directory): see the shim's comment.
#include <torch/csrc/distributed/c10d/reducer.hpp>
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  int64_t rank = -1;
  int64_t world_size = 2;
  int64_t port = 29600;
  std::string model = "cnn";
  int64_t steps = 50;
  int64_t rounds = 3;
  int64_t warmup = 3;
  int64_t global_batch = 128;
  double bucket_mb = 25.0;
  /// The Reducer's first bucket (DDP's default 1 MB), which starts the
  /// allreduce of the last layers' gradients early.
  double first_bucket_mb = 1.0;
  std::string out;
};

Options parse(int argc, char** argv) {
  Options o;
  std::map<std::string, std::string> given;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    TORCH_CHECK(flag.rfind("--", 0) == 0 && i + 1 < argc, "bench_reducer: expected --FLAG VALUE, got '",
                flag, "'");
    given[flag.substr(2)] = argv[++i];
  }
  auto integer = [&](const std::string& name, int64_t& into, int64_t min) {
    if (!given.count(name)) return;
    const std::string& v = given[name];
    size_t used = 0;
    try {
      into = std::stoll(v, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    TORCH_CHECK(used == v.size() && !v.empty() && into >= min, "bench_reducer: --", name,
                " must be an integer >= ", min, ", got '", v, "'");
    given.erase(name);
  };
  auto real = [&](const std::string& name, double& into) {
    if (!given.count(name)) return;
    const std::string& v = given[name];
    size_t used = 0;
    try {
      into = std::stod(v, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    TORCH_CHECK(used == v.size() && !v.empty() && into > 0, "bench_reducer: --", name,
                " must be a number > 0, got '", v, "'");
    given.erase(name);
  };
  integer("rank", o.rank, 0);
  integer("world-size", o.world_size, 2);
  integer("port", o.port, 1);
  integer("steps", o.steps, 1);
  integer("rounds", o.rounds, 1);
  integer("warmup", o.warmup, 0);
  integer("global-batch", o.global_batch, 1);
  real("bucket-mb", o.bucket_mb);
  real("first-bucket-mb", o.first_bucket_mb);
  if (given.count("model")) o.model = given["model"], given.erase("model");
  if (given.count("out")) o.out = given["out"], given.erase("out");
  TORCH_CHECK(given.empty(), "bench_reducer: unknown flag --", given.empty() ? "" : given.begin()->first);
  TORCH_CHECK(o.rank >= 0 && o.rank < o.world_size, "bench_reducer: --rank in [0, ", o.world_size,
              ") is required");
  TORCH_CHECK(o.port + 1 <= 65535, "bench_reducer: --port must leave P+1 free below 65536");
  TORCH_CHECK(o.global_batch % o.world_size == 0, "bench_reducer: --global-batch ", o.global_batch,
              " is not divisible by the world size ", o.world_size);
  TORCH_CHECK(o.rank != 0 || !o.out.empty(), "bench_reducer: rank 0 needs --out FILE");
  frugal::train::model_entry(o.model);  // throws naming the built-in models
  return o;
}

/// The Reducer's process group: rendezvous and Gloo set up as frugal's Communicator does.
c10::intrusive_ptr<c10d::ProcessGroupGloo> reducer_group(const Options& o) {
  const std::chrono::milliseconds timeout(60000);
  c10d::TCPStoreOptions store_options;
  store_options.port = static_cast<uint16_t>(o.port);
  store_options.isServer = o.rank == 0;
  store_options.numWorkers = static_cast<size_t>(o.world_size);
  store_options.waitWorkers = true;
  store_options.timeout = timeout;
  auto store = c10::make_intrusive<c10d::TCPStore>("127.0.0.1", store_options);
  auto gloo = c10d::ProcessGroupGloo::Options::create(timeout);
  gloo->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
  gloo->threads = 1;
  return c10::make_intrusive<c10d::ProcessGroupGloo>(
      c10::make_intrusive<c10d::PrefixStore>("reducer", store), static_cast<int>(o.rank),
      static_cast<int>(o.world_size), gloo);
}

struct Batch {
  torch::Tensor x, y;
};

/// This rank's synthetic batches, Fashion-MNIST shaped; step s uses batch s % size.
std::vector<Batch> make_batches(const Options& o) {
  torch::manual_seed(1000 + o.rank);
  std::vector<Batch> batches;
  const int64_t local = o.global_batch / o.world_size;
  for (int i = 0; i < 16; ++i)
    batches.push_back({torch::randn({local, 1, 28, 28}), torch::randint(10, {local}, torch::kLong)});
  return batches;
}

std::shared_ptr<frugal::train::Classifier> make_model(const Options& o) {
  torch::manual_seed(7);  // the same initial weights on every rank and in both modes
  frugal::train::ModelSpec spec;
  spec.name = o.model;
  spec.input_shape = {1, 28, 28};
  return frugal::train::build_model(spec);
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(frugal::train::Classifier& model) {
  frugal::train::OptimizerSpec spec;  // SGD 0.05, momentum 0.9, weight decay 5e-4: the recipes'
  return frugal::train::build_optimizer(spec, {torch::optim::OptimizerParamGroup(model.parameters())});
}

struct RunResult {
  double steps_per_s = 0.0;
  std::vector<torch::Tensor> weights;
  /// The Reducer's buckets after the steps (after its rebuild); -1 for frugal's.
  int64_t buckets = -1;
};

/// Trains a fresh model for warmup + steps steps; `step_fn(model, optimizer,
/// batch, step)` does one step's forward, backward and gradient averaging.
template <typename StepFn>
RunResult train(const Options& o, frugal::dist::DataParallel& dp, const std::vector<Batch>& batches,
                StepFn&& step_fn, const std::function<void(frugal::train::Classifier&)>& setup) {
  auto model = make_model(o);
  auto optimizer = make_optimizer(*model);
  setup(*model);
  auto one = [&](int64_t s) {
    optimizer->zero_grad();
    step_fn(*model, batches[s % batches.size()]);
    optimizer->step();
  };
  for (int64_t s = 0; s < o.warmup; ++s) one(s);
  dp.communicator().barrier("start of the timed steps");
  const auto start = Clock::now();
  for (int64_t s = o.warmup; s < o.warmup + o.steps; ++s) one(s);
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  RunResult result;
  result.steps_per_s = static_cast<double>(o.steps) / seconds;
  for (const auto& p : model->parameters()) result.weights.push_back(p.detach().clone());
  dp.check_identical(result.weights, "weights after the steps");
  return result;
}

torch::Tensor loss_of(frugal::train::Classifier& model, const Batch& b) {
  return torch::nn::functional::cross_entropy(model.forward(b.x), b.y);
}

/// (a) frugal: backward, then DataParallel::average_gradients in buckets.
RunResult run_bucketed(const Options& o, frugal::dist::DataParallel& dp,
                       const std::vector<Batch>& batches) {
  std::vector<torch::Tensor> params;
  int64_t step = 0;
  return train(o, dp, batches, [&](frugal::train::Classifier& model, const Batch& b) {
    loss_of(model, b).backward();
    dp.average_gradients(params, step++);
  }, [&](frugal::train::Classifier& model) { params = model.parameters(); });
}

/// (b) c10d::Reducer, constructed as DDP (torch/nn/parallel/distributed.py,
/// 1.13) does: buckets from compute_bucket_assignment_by_size over the
/// parameters with limits {first bucket, bucket}, in reverse (the last
/// layers' gradients are ready first); rebuild_buckets() before each forward
/// (after the first step it regroups the buckets by the order in which
/// gradients became ready), prepare_for_forward(), and prepare_for_backward()
/// after the forward. Its autograd hooks copy each gradient into its bucket
/// (scaled by 1/world size) and start a bucket's allreduce as soon as it is
/// full, while backward goes on; backward returns with the averaged gradients.
RunResult run_reducer(const Options& o, frugal::dist::DataParallel& dp,
                      const std::vector<Batch>& batches,
                      const c10::intrusive_ptr<c10d::ProcessGroup>& group) {
  std::unique_ptr<c10d::Reducer> reducer;
  const auto bucket_bytes = static_cast<int64_t>(o.bucket_mb * 1024 * 1024);
  const auto first_bytes = std::min(bucket_bytes, static_cast<int64_t>(o.first_bucket_mb * 1024 * 1024));
  auto setup = [&](frugal::train::Classifier& model) {
    const auto params = model.parameters();
    const std::vector<bool> sparse(params.size(), false);
    c10d::verify_params_across_processes(group, params, c10::nullopt);
    auto [buckets, limits] = c10d::compute_bucket_assignment_by_size(
        params, {static_cast<size_t>(first_bytes), static_cast<size_t>(bucket_bytes)}, sparse);
    std::reverse(buckets.begin(), buckets.end());
    std::reverse(limits.begin(), limits.end());
    reducer = std::make_unique<c10d::Reducer>(params, buckets, limits, group, sparse, bucket_bytes,
                                              /*find_unused_parameters=*/false,
                                              /*gradient_as_bucket_view=*/false,
                                              std::unordered_map<size_t, std::string>{}, first_bytes);
  };
  auto result = train(o, dp, batches, [&](frugal::train::Classifier& model, const Batch& b) {
    reducer->rebuild_buckets();
    reducer->prepare_for_forward();
    auto loss = loss_of(model, b);
    reducer->prepare_for_backward({});
    loss.backward();
  }, setup);
  result.buckets = static_cast<int64_t>(reducer->get_grad_buckets().size());
  return result;
}

double max_abs_diff(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b,
                    double& scale) {
  double diff = 0.0;
  scale = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff = std::max(diff, (a[i] - b[i]).abs().max().item<double>());
    scale = std::max(scale, a[i].abs().max().item<double>());
  }
  return diff;
}

int run(const Options& o) {
  frugal::core::set_threads(1);
  auto group = reducer_group(o);
  frugal::dist::DistOptions dist;
  dist.rank = o.rank;
  dist.world_size = o.world_size;
  dist.master_port = o.port + 1;
  dist.timeout_s = 60.0;
  frugal::dist::DataParallelOptions dp_options;
  dp_options.bucket_mb = o.bucket_mb;
  frugal::dist::DataParallel dp(std::make_shared<frugal::dist::Communicator>(dist), dp_options);
  const auto batches = make_batches(o);

  std::ofstream out;
  if (o.rank == 0) {
    out.open(o.out, std::ios::app);
    TORCH_CHECK(out, "bench_reducer: cannot append to '", o.out, "'");
  }
  for (int64_t round = 1; round <= o.rounds; ++round) {
    std::map<std::string, RunResult> results;
    // Alternate which mode goes first, so neither always gets the warmer (or quieter) slot.
    const std::vector<std::string> order =
        round % 2 == 1 ? std::vector<std::string>{"bucketed", "reducer"}
                       : std::vector<std::string>{"reducer", "bucketed"};
    for (const auto& mode : order)
      results[mode] = mode == "bucketed" ? run_bucketed(o, dp, batches)
                                         : run_reducer(o, dp, batches, group);
    double scale = 0.0;
    const double diff = max_abs_diff(results["bucketed"].weights, results["reducer"].weights, scale);
    // Both average the same gradients: only rounding may differ (the Reducer
    // scales before the sum, frugal after it).
    const double tolerance = 1e-5 * std::max(1.0, scale);
    TORCH_CHECK(diff <= tolerance, "bench_reducer: ", o.model, " round ", round,
                ": the reducer's weights differ from the bucketed allreduce's by ", diff,
                " (tolerance ", tolerance, ")");
    if (o.rank != 0) continue;
    for (const auto& mode : order) {
      char line[320];
      std::snprintf(line, sizeof line,
                    "{\"model\": \"%s\", \"mode\": \"%s\", \"round\": %lld, \"steps_per_s\": %.3f, "
                    "\"bucket_mb\": %g, \"first_bucket_mb\": %g, \"buckets\": %lld, \"max_abs_diff\": %.3g}",
                    o.model.c_str(), mode.c_str(), static_cast<long long>(round),
                    results[mode].steps_per_s, o.bucket_mb,
                    mode == "reducer" ? std::min(o.bucket_mb, o.first_bucket_mb) : o.bucket_mb,
                    static_cast<long long>(results[mode].buckets), diff);
      out << line << "\n";
      std::cout << line << std::endl;
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parse(argc, argv));
  } catch (const std::exception& e) {
    const std::string what = e.what();
    std::cerr << what.substr(0, what.find('\n')) << "\n";
    return 1;
  }
}
