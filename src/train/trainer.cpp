#include "frugal/train/trainer.h"

#include "checkpoint.h"

#include "frugal/core/allocator.h"
#include "frugal/core/checked_file.h"
#include "frugal/core/seed.h"
#include "frugal/core/threads.h"

#include "frugal/dist/data_parallel.h"
#include "frugal/kernels/dispatch.h"
#include "frugal/train/progress.h"

#include <torch/torch.h>

#include <sys/resource.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>
#include <utility>

namespace frugal::train {

namespace fs = std::filesystem;

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

torch::Tensor cross_entropy_per_sample(const torch::Tensor& logits,
                                       const data::IndexedBatch& batch) {
  return torch::nn::functional::cross_entropy(
      logits, batch.targets,
      torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
}

/// The machine's 1-minute load average (all processes), or 0 where unknown.
double machine_load_average() {
  double load = 0.0;
  std::ifstream("/proc/loadavg") >> load;
  return load;
}

/// The process's peak resident memory so far, in MiB (Linux reports KiB).
double peak_rss_mb() {
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;
}

/// What data-parallel ranks keep equal: the model's parameters and buffers
/// and every tensor the optimizer steps (hooks add their own groups).
std::vector<torch::Tensor> shared_tensors(torch::nn::Module& module,
                                          torch::optim::Optimizer& optimizer) {
  std::vector<std::vector<torch::Tensor>> lists = {module.parameters(), module.buffers()};
  for (auto& group : optimizer.param_groups()) lists.push_back(group.params());
  return dist::unique_tensors(lists);
}

std::vector<torch::Tensor> stepped_tensors(torch::nn::Module& module,
                                           torch::optim::Optimizer& optimizer) {
  std::vector<std::vector<torch::Tensor>> lists = {module.parameters()};
  for (auto& group : optimizer.param_groups()) lists.push_back(group.params());
  return dist::unique_tensors(lists);
}

}  // namespace

void TrainerOptions::validate() const {
  TORCH_CHECK(epochs >= 1, "train: epochs must be >= 1, got ", epochs);
  TORCH_CHECK(batch_size >= 1, "train: batch_size must be >= 1, got ", batch_size);
  TORCH_CHECK(eval_batch_size >= 1, "train: eval_batch_size must be >= 1, got ", eval_batch_size);
  TORCH_CHECK(threads >= 0, "train: threads must be >= 0 (0 = the cores not busy), got ", threads);
  TORCH_CHECK(checkpoint_every >= 1, "train: checkpoint_every must be >= 1, got ", checkpoint_every);
  TORCH_CHECK(checkpoint_every_steps >= 0, "train: checkpoint_every_steps must be >= 0 (0 = off), got ",
              checkpoint_every_steps);
  TORCH_CHECK(eval_every >= 1, "train: eval_every must be >= 1, got ", eval_every);
  schedule.validate();
  loader.validate();
}

Trainer::Trainer(torch::nn::AnyModule model, std::shared_ptr<torch::optim::Optimizer> optimizer,
                 TrainerOptions options)
    : model_(std::move(model)),
      optimizer_(std::move(optimizer)),
      options_(std::move(options)),
      device_(resolve_device(options_.device)),
      sample_loss_(cross_entropy_per_sample) {
  options_.validate();
  TORCH_CHECK(!model_.is_empty(), "trainer: no model");
  TORCH_CHECK(optimizer_, "trainer: no optimizer");
  // In place (Tensor::set_data): the optimizer's parameters stay the same tensors.
  model_.ptr()->to(device_);
}

torch::Device resolve_device(const c10::optional<torch::Device>& device) {
  if (!device) return torch::cuda::is_available() ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
  if (device->is_cuda()) {
    const int64_t count = torch::cuda::device_count();
    TORCH_CHECK(count > 0, "device ", device->str(), ": this LibTorch has no CUDA device (torch::cuda::is_available() is false)");
    TORCH_CHECK(!device->has_index() || device->index() < count, "device ", device->str(), ": there are ", count,
                " CUDA devices");
  }
  return *device;
}

void Trainer::add_hook(std::shared_ptr<TrainHook> hook) {
  TORCH_CHECK(hook, "trainer: null hook");
  hooks_.push_back(std::move(hook));
}

void Trainer::set_data_parallel(std::shared_ptr<dist::DataParallel> data_parallel) {
  dp_ = std::move(data_parallel);
}

void Trainer::resume_from(const std::string& checkpoint) {
  TORCH_CHECK(fs::exists(checkpoint), "resume: no checkpoint at ", checkpoint);
  resume_path_ = checkpoint;
}

EvalResult Trainer::evaluate(const data::IndexedDataset& data, const StepInfo& info) {
  torch::NoGradGuard no_grad;
  auto& module = *model_.ptr();
  module.eval();
  for (auto& hook : hooks_) hook->before_forward(false, info);
  double loss_sum = 0.0;
  int64_t correct = 0;
  const int64_t n = data.size();
  // Each rank evaluates a contiguous shard; the sums are reduced below.
  const int64_t world = dp_ ? dp_->world_size() : 1, rank = dp_ ? dp_->rank() : 0;
  const int64_t first = n * rank / world, last = n * (rank + 1) / world;
  data::SampleTransform transform;
  transform.augment = options_.augment;  // evaluation: the centre crop, no flip
  transform.normalization = options_.normalization;
  data::BatchLoader loader(data, torch::arange(first, last, torch::kLong), options_.eval_batch_size,
                           transform, options_.loader);
  for (int64_t b = 0; b < loader.batches(); ++b) {
    const auto batch = loader.next();
    const auto y = batch.targets.to(device_);
    auto logits = model_.forward(batch.inputs.to(device_));
    loss_sum += torch::nn::functional::cross_entropy(
                    logits, y,
                    torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                    .item<double>();
    correct += logits.argmax(1).eq(y).sum().item<int64_t>();
  }
  module.train();
  if (dp_) {
    const auto sums = dp_->sum({loss_sum, static_cast<double>(correct)},
                               "evaluation at step " + std::to_string(info.step));
    loss_sum = sums[0];
    correct = static_cast<int64_t>(sums[1]);
  }
  return {loss_sum / std::max<int64_t>(n, 1), static_cast<double>(correct) / std::max<int64_t>(n, 1)};
}

/// What one fit() call carries from its start through its epochs to its outputs.
struct Trainer::Run {
  core::ThreadPlan threads;
  int64_t world = 1;
  int64_t local_batch = 0;
  int64_t planned_steps = 0;
  bool writer = true;
  bool write_files = false;
  std::vector<double> base_lrs;
  std::ofstream metrics;
  int64_t metrics_lines = 0;  // in the file, for the checkpoints
  Progress progress{false};

  void log_line(const nlohmann::json& record) {
    if (!metrics.is_open()) return;
    metrics << record.dump() << '\n';
    metrics.flush();
    ++metrics_lines;
  }
};

void Trainer::begin_run(Run& run, const data::IndexedDataset& train, const data::IndexedDataset& test,
                        data::EpochSampler& sampler) {
  TORCH_CHECK(train.size() > 0, "train: the training set is empty");
  options_.augment.validate(train.sample_shape());
  TORCH_CHECK(test.size() == 0 || test.sample_shape() == train.sample_shape(),
              "train: test samples ", c10::IntArrayRef(test.sample_shape()),
              " do not have the training samples' shape ", c10::IntArrayRef(train.sample_shape()));
  TORCH_CHECK(sampler.size() == train.size(), "train: the sampler covers ", sampler.size(),
              " samples, the training set has ", train.size());
  const auto sampler_epochs = sampler.epochs();
  TORCH_CHECK(!sampler_epochs || *sampler_epochs == options_.epochs, "train: the sampler plans ",
              sampler_epochs.value_or(0), " epochs (InfoBatchOptions epochs) but the trainer runs ",
              options_.epochs, " (TrainerOptions::epochs); build both from one value");
  run.threads = core::set_threads(options_.threads);
  core::keep_freed_memory();
  run.world = dp_ ? dp_->world_size() : 1;
  TORCH_CHECK(options_.batch_size % run.world == 0, "train: batch_size ", options_.batch_size,
              " does not split evenly over ", run.world, " processes");
  run.local_batch = options_.batch_size / run.world;
  run.writer = !dp_ || dp_->is_writer();
  run.write_files = !options_.run_dir.empty() && run.writer;
  if (run.write_files) fs::create_directories(options_.run_dir);
  const std::string metrics_path = (fs::path(options_.run_dir) / "metrics.jsonl").string();
  const int64_t full_batches = (train.size() + options_.batch_size - 1) / options_.batch_size;
  run.planned_steps = options_.epochs * full_batches;

  TrainContext context;
  context.model = model_.ptr().get();
  context.optimizer = optimizer_.get();
  context.epochs = options_.epochs;
  context.planned_steps = run.planned_steps;
  context.seed = options_.seed;
  context.log_event = [&run](const nlohmann::json& record) { run.log_line(record); };
  for (auto& hook : hooks_) hook->on_train_begin(context);
  // Read after the hooks: a hook may add its own parameter group (pruning scores).
  for (auto& group : optimizer_->param_groups()) run.base_lrs.push_back(group.options().get_lr());

  if (!resume_path_.empty()) load_checkpoint(sampler, run.world, dp_ ? dp_->rank() : 0);
  if (dp_) {
    dp_->broadcast_from_root(shared_tensors(*model_.ptr(), *optimizer_), "start-up broadcast");
    // Averaged during backward if the parameters are fixed for the run (not with compact layers).
    bool fixed = true;
    for (const auto& hook : hooks_) fixed = fixed && hook->fixed_parameters();
    dp_->attach(model_.ptr()->parameters(), fixed);
  }
  if (run.write_files) {
    if (resume_path_.empty())
      std::ofstream(metrics_path, std::ios::trunc).close();
    else
      run.metrics_lines = detail::keep_metrics(metrics_path, resume_metrics_lines_, next_epoch_);
    run.metrics.open(metrics_path, std::ios::app);
  }
  run.progress = Progress(options_.progress && run.writer);
  model_.ptr()->train();
}

double Trainer::train_step(const data::IndexedBatch& batch, const StepInfo& info,
                           data::EpochSampler& sampler, double& bookkeeping_s) {
  for (auto& hook : hooks_) hook->before_forward(true, info);
  optimizer_->zero_grad();
  if (dp_) dp_->before_forward();
  auto logits = model_.forward(batch.inputs);
  auto losses = sample_loss_(logits, batch);
  auto loss = (batch.weights * losses).mean();
  for (auto& hook : hooks_) {
    auto reg = hook->regularizer(info);
    if (reg.defined()) loss = loss + reg;
  }
  const double loss_value = loss.item<double>();
  TORCH_CHECK(std::isfinite(loss_value), "training loss became ", loss_value, " at epoch ",
              info.epoch, ", step ", info.step,
              " (try a lower learning rate); the last good checkpoint is kept");
  if (dp_) dp_->backward(loss, info.step);  // averages the attached gradients as it runs
  else loss.backward();
  for (auto& hook : hooks_) hook->before_step(info);
  if (dp_) dp_->average_gradients(stepped_tensors(*model_.ptr(), *optimizer_), info.step);
  optimizer_->step();
  for (auto& hook : hooks_) hook->after_step(info);

  const auto bookkeeping_start = std::chrono::steady_clock::now();
  if (dp_) {
    const auto [all_indices, all_losses] = dp_->gather_scores(batch.indices, losses.detach(), info.step);
    sampler.update_scores(all_indices, all_losses);
  } else {
    sampler.update_scores(batch.indices, losses.detach());
  }
  bookkeeping_s += seconds_since(bookkeeping_start);
  return loss_value;
}

void Trainer::train_epoch(Run& run, int64_t epoch, const data::IndexedDataset& train,
                          const data::IndexedDataset& test, data::EpochSampler& sampler) {
  const int64_t epochs = options_.epochs;
  // From a checkpoint within this epoch: its plan, the hooks and the
  // generators are restored, not begun again; the running metrics go on.
  const EpochPosition start = std::exchange(resume_position_, EpochPosition());
  const bool resumed = start.batches_done > 0;
  const auto epoch_start =
      std::chrono::steady_clock::now() -
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(
          std::chrono::duration<double>(start.elapsed_s));
  // Anything drawing from the global generator (dropout, user code) is
  // reproducible per epoch, so a resumed run equals an uninterrupted one.
  torch::manual_seed(core::mix_seed(options_.seed, static_cast<uint64_t>(epoch), 1));
  if (resumed) {
    detail::set_generator_state(torch::kCPU, start.cpu_rng);
    if (start.device_rng.defined()) detail::set_generator_state(device_, start.device_rng);
  }
  auto bookkeeping_start = std::chrono::steady_clock::now();
  if (!resumed) sampler.begin_epoch(epoch);
  double bookkeeping_s = start.bookkeeping_s + seconds_since(bookkeeping_start);
  const auto& order = sampler.order();
  const auto planned = static_cast<int64_t>(order.size());
  const int64_t batches = (planned + run.local_batch - 1) / run.local_batch;
  TORCH_CHECK(start.batches_done < std::max<int64_t>(batches, 1), "resume: the checkpoint is at batch ",
              start.batches_done, " of epoch ", epoch, ", which has ", batches);
  // Batch b is order[b*B, (b+1)*B): the rest of the epoch is the rest of the order.
  const auto order_tensor =
      torch::from_blob(const_cast<int32_t*>(order.data()), {planned}, torch::kInt)
          .slice(0, std::min(planned, start.batches_done * run.local_batch))
          .to(torch::kLong);
  data::SampleTransform transform;
  transform.augment = options_.augment;
  transform.normalization = options_.normalization;
  transform.train = true;
  transform.seed = options_.seed;
  transform.epoch = epoch;
  // Workers assemble the next batches while this thread trains.
  data::BatchLoader loader(train, order_tensor, run.local_batch, transform, options_.loader);
  if (!resumed)
    for (auto& hook : hooks_) hook->on_epoch_begin(epoch);

  double loss_sum = start.loss_sum;
  int64_t epoch_samples = start.samples;
  bool checkpoint_at_end = false;  // a step checkpoint that fell on the epoch's last step
  for (int64_t b = start.batches_done; b < batches; ++b) {
    StepInfo info;
    info.step = step_;
    info.epoch = epoch;
    info.progress = (static_cast<double>(epoch) + static_cast<double>(b) / batches) / epochs;
    info.planned_steps = run.planned_steps;
    set_learning_rates(*optimizer_, run.base_lrs, lr_factor(options_.schedule, info.progress, epochs));

    data::IndexedBatch batch = loader.next();  // indices stay on the CPU, where the sampler is
    batch.inputs = batch.inputs.to(device_);
    batch.targets = batch.targets.to(device_);
    batch.weights = sampler.weights_of(batch.indices).to(device_);

    const double loss_value = train_step(batch, info, sampler, bookkeeping_s);
    loss_sum += loss_value * batch.indices.size(0);
    epoch_samples += batch.indices.size(0);
    ++step_;
    const double elapsed = seconds_since(epoch_start);
    const double rate = epoch_samples / std::max(elapsed, 1e-9);
    const double eta = elapsed / (b + 1) * (batches - b - 1) +
                       (wall_s_ + elapsed) / (epoch + 1) * (epochs - epoch - 1);
    run.progress.step(epoch, epochs, b, batches, loss_sum / epoch_samples,
                      static_cast<double>(sampler.kept()) / sampler.size(), rate, eta);
    if (options_.checkpoint && options_.checkpoint_every_steps > 0 &&
        step_ % options_.checkpoint_every_steps == 0) {
      if (b + 1 == batches) {
        checkpoint_at_end = true;
      } else {
        EpochPosition at;
        at.batches_done = b + 1;
        at.samples = epoch_samples;
        at.loss_sum = loss_sum;
        at.elapsed_s = seconds_since(epoch_start);
        at.bookkeeping_s = bookkeeping_s;
        save_checkpoint(sampler, &at, run.metrics_lines, run.write_files);
      }
    }
  }
  if (dp_) {
    // The epoch over all ranks; buffers (batch-norm statistics) from rank 0,
    // so that every rank evaluates and saves the same model.
    const auto sums = dp_->sum({loss_sum, static_cast<double>(epoch_samples)},
                               "metrics of epoch " + std::to_string(epoch));
    loss_sum = sums[0];
    epoch_samples = static_cast<int64_t>(sums[1]);
    dp_->broadcast_from_root(model_.ptr()->buffers(), "buffer broadcast after epoch " + std::to_string(epoch));
    dp_->check_identical(stepped_tensors(*model_.ptr(), *optimizer_),
                         "parameters after epoch " + std::to_string(epoch));
  }
  const double train_s = seconds_since(epoch_start);
  samples_forwarded_ += epoch_samples;

  StepInfo end_info;
  end_info.step = step_;
  end_info.epoch = epoch;
  end_info.progress = static_cast<double>(epoch + 1) / epochs;
  end_info.planned_steps = run.planned_steps;
  const auto eval_start = std::chrono::steady_clock::now();
  const bool last_epoch = epoch + 1 == epochs;
  const bool evaluate_now = test.size() > 0 && (last_epoch || (epoch + 1) % options_.eval_every == 0);
  if (evaluate_now) {
    last_eval_ = evaluate(test, end_info);
    best_accuracy_ = std::max(best_accuracy_, last_eval_.accuracy);
    evaluated_ = true;
  }
  const double eval_s = seconds_since(eval_start);
  wall_s_ += seconds_since(epoch_start);

  nlohmann::json record = {
      {"epoch", epoch},
      {"train_loss", loss_sum / std::max<int64_t>(epoch_samples, 1)},
      {"kept", sampler.kept()},
      {"kept_share", static_cast<double>(sampler.kept()) / sampler.size()},
      {"samples_forwarded", samples_forwarded_},
      {"steps", step_},
      {"lr", optimizer_->param_groups()[0].options().get_lr()},
      {"train_s", train_s},
      {"eval_s", eval_s},
      {"bookkeeping_s", bookkeeping_s},
      {"wall_s", wall_s_},
      {"load_avg", machine_load_average()}};
  if (dp_) record["comm_s"] = dp_->comm_s();
  max_load_ = std::max(max_load_, record["load_avg"].get<double>());
  if (evaluate_now) {
    record["test_loss"] = last_eval_.loss;
    record["test_acc"] = last_eval_.accuracy;
  }
  for (auto& hook : hooks_) hook->on_epoch_end(epoch, record);
  next_epoch_ = epoch + 1;
  run.log_line(record);
  char accuracy[32] = "-";
  if (evaluate_now) std::snprintf(accuracy, sizeof accuracy, "%.2f%%", 100.0 * last_eval_.accuracy);
  char line[256];
  std::snprintf(line, sizeof line,
                "epoch %lld/%lld  loss %.4f  test acc %s  kept %.0f%%  %.1f s  (total %s)",
                static_cast<long long>(epoch + 1), static_cast<long long>(epochs),
                record["train_loss"].get<double>(), accuracy,
                100.0 * record["kept_share"].get<double>(), train_s + eval_s,
                format_duration(wall_s_).c_str());
  run.progress.epoch_line(line);
  if (options_.checkpoint &&
      (last_epoch || checkpoint_at_end || (epoch + 1) % options_.checkpoint_every == 0))
    save_checkpoint(sampler, nullptr, run.metrics_lines, run.write_files);
}

nlohmann::json Trainer::finish_run(Run& run, const data::IndexedDataset& train) {
  const int64_t epochs = options_.epochs;
  nlohmann::json summary = {
      {"epochs", epochs},
      {"threads", run.threads.threads},
      {"intra_op_threads", run.threads.intra_op},
      {"blas", core::to_string(run.threads.blas_threading)},
      {"train_samples", train.size()},
      {"samples_forwarded", samples_forwarded_},
      {"full_data_samples", epochs * train.size()},
      {"saved_share", 1.0 - static_cast<double>(samples_forwarded_) /
                                static_cast<double>(epochs * train.size())},
      {"steps", step_},
      {"wall_s", wall_s_},
      {"cores", static_cast<int64_t>(std::max(1u, std::thread::hardware_concurrency()))},
      {"max_load_avg", max_load_},
      {"peak_rss_mb", peak_rss_mb()},
      {"world_size", run.world}};
  if (dp_) summary["comm_s"] = dp_->comm_s();
  if (evaluated_) {
    summary["test_acc"] = last_eval_.accuracy;
    summary["test_loss"] = last_eval_.loss;
    summary["best_test_acc"] = best_accuracy_;
  }
  for (auto& hook : hooks_) hook->on_train_end(summary);
  if (run.write_files) {
    save_model();
    core::write_file_atomically((fs::path(options_.run_dir) / "summary.json").string(),
                                summary.dump(2) + "\n");
  }
  return summary;
}

nlohmann::json Trainer::fit(const data::IndexedDataset& train, const data::IndexedDataset& test,
                            data::EpochSampler& sampler) {
  Run run;  // hooks keep its log_event for the whole fit
  begin_run(run, train, test, sampler);
  for (int64_t epoch = next_epoch_; epoch < options_.epochs; ++epoch)
    train_epoch(run, epoch, train, test, sampler);
  return finish_run(run, train);
}

}  // namespace frugal::train
