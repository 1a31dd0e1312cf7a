// The trainer's checkpoint.pt and model.pt: what they hold, how a run
// resumes from them (at an epoch's end or within an epoch).

#include "checkpoint.h"

#include "frugal/core/checked_file.h"
#include "frugal/dist/data_parallel.h"
#include "frugal/train/trainer.h"

#include <ATen/Context.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <mutex>

namespace frugal::train {

namespace fs = std::filesystem;

namespace detail {

int64_t keep_metrics(const std::string& path, int64_t lines, int64_t epoch) {
  std::ifstream in(path);
  if (!in) return 0;
  std::string kept, line;
  int64_t count = 0;
  while ((lines < 0 || count < lines) && std::getline(in, line)) {
    if (lines < 0) {
      auto record = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (!record.is_object() || record.value("epoch", int64_t{0}) >= epoch) continue;
    }
    kept += line + "\n";
    ++count;
  }
  in.close();
  core::write_file_atomically(path, kept);
  return count;
}

at::Tensor generator_state(c10::Device device) {
  at::Generator generator = at::globalContext().defaultGenerator(device);
  std::lock_guard<std::mutex> lock(generator.mutex());
  return generator.get_state();
}

void set_generator_state(c10::Device device, const at::Tensor& state) {
  at::Generator generator = at::globalContext().defaultGenerator(device);
  std::lock_guard<std::mutex> lock(generator.mutex());
  generator.set_state(state);
}

}  // namespace detail

void Trainer::write_model(torch::serialize::OutputArchive& archive) const {
  torch::serialize::OutputArchive model;
  model_.ptr()->save(model);
  archive.write("model", model);
  for (const auto& hook : hooks_) {
    torch::serialize::OutputArchive hook_archive;
    hook->save(hook_archive);
    archive.write("hook." + hook->name(), hook_archive);
  }
}

void Trainer::save_model() const {
  // The final model carries the hooks' state (masks, union masks) beside the weights.
  torch::serialize::OutputArchive archive;
  write_model(archive);
  core::save_checked(archive, (fs::path(options_.run_dir) / "model.pt").string());
}

void Trainer::save_checkpoint(data::EpochSampler& sampler, const EpochPosition* within,
                              int64_t metrics_lines, bool write) {
  for (auto& hook : hooks_) hook->before_checkpoint();
  const int64_t world = dp_ ? dp_->world_size() : 1, rank = dp_ ? dp_->rank() : 0;
  std::vector<double> shares;
  if (within != nullptr) {
    // Every rank's running sums, each in its own slots, so that the sum over
    // ranks is exact (x + 0): each rank resumes with its own, and the epoch's
    // reduction at its end adds them in the uninterrupted run's order.
    shares.assign(2 * world, 0.0);
    shares[2 * rank] = within->loss_sum;
    shares[2 * rank + 1] = static_cast<double>(within->samples);
    if (dp_) shares = dp_->sum(shares, "checkpoint at step " + std::to_string(step_));
  }
  if (!write) return;

  torch::serialize::OutputArchive archive, optimizer, sampler_archive;
  write_model(archive);
  optimizer_->save(optimizer);
  // Within an epoch this is the epoch's plan (order, weights) and the scores recorded so far.
  sampler.save(sampler_archive);
  archive.write("format", torch::tensor(detail::kCheckpointFormat));
  archive.write("optimizer", optimizer);
  archive.write("sampler", sampler_archive);
  archive.write("progress", torch::tensor({next_epoch_, step_, samples_forwarded_}));
  archive.write("wall_s", torch::tensor(wall_s_, torch::kDouble));
  // The last evaluation, so that resuming a finished run reports it again.
  archive.write("eval", torch::tensor({last_eval_.loss, last_eval_.accuracy, best_accuracy_,
                                       evaluated_ ? 1.0 : 0.0},
                                      torch::kDouble));
  archive.write("metrics_lines", torch::tensor(metrics_lines));
  if (within != nullptr) {
    std::vector<double> loss_sums(world);
    std::vector<int64_t> samples(world);
    for (int64_t r = 0; r < world; ++r) {
      loss_sums[r] = shares[2 * r];
      samples[r] = static_cast<int64_t>(shares[2 * r + 1]);
    }
    archive.write("within_epoch", torch::tensor({next_epoch_, within->batches_done, world}));
    archive.write("within_epoch.loss_sum", torch::tensor(loss_sums, torch::kDouble));
    archive.write("within_epoch.samples", torch::tensor(samples));
    archive.write("within_epoch.seconds",
                  torch::tensor({within->elapsed_s, within->bookkeeping_s}, torch::kDouble));
    archive.write("within_epoch.cpu_rng", detail::generator_state(torch::kCPU));
    if (device_.is_cuda()) archive.write("within_epoch.device_rng", detail::generator_state(device_));
  }
  core::save_checked(archive, (fs::path(options_.run_dir) / "checkpoint.pt").string());
}

void Trainer::load_checkpoint(data::EpochSampler& sampler, int64_t world, int64_t rank) {
  torch::serialize::InputArchive archive, model, optimizer, sampler_archive;
  core::load_checked(archive, resume_path_, "resume");
  torch::Tensor format;
  const int64_t version = archive.try_read("format", format) ? format.item<int64_t>() : 1;
  TORCH_CHECK(version >= 1 && version <= detail::kCheckpointFormat, "resume: ", resume_path_,
              " has checkpoint format ", version, "; this frugal reads formats 1 to ",
              detail::kCheckpointFormat, " (was it written by a newer frugal?)");
  archive.read("model", model);
  model_.ptr()->load(model);
  archive.read("optimizer", optimizer);
  optimizer_->load(optimizer);
  archive.read("sampler", sampler_archive);
  sampler.load(sampler_archive);
  for (const auto& hook : hooks_) {
    torch::serialize::InputArchive hook_archive;
    TORCH_CHECK(archive.try_read("hook." + hook->name(), hook_archive), "resume: ", resume_path_,
                " has no state for '", hook->name(), "'");
    hook->load(hook_archive);
  }
  torch::Tensor progress, wall, eval;
  archive.read("progress", progress);
  archive.read("wall_s", wall);
  archive.read("eval", eval);
  next_epoch_ = progress[0].item<int64_t>();
  step_ = progress[1].item<int64_t>();
  samples_forwarded_ = progress[2].item<int64_t>();
  wall_s_ = wall.item<double>();
  last_eval_ = {eval[0].item<double>(), eval[1].item<double>()};
  best_accuracy_ = eval[2].item<double>();
  evaluated_ = eval[3].item<double>() != 0.0;

  resume_metrics_lines_ = -1;  // format 1: the records of the epochs done
  resume_position_ = EpochPosition();
  if (version < 2) return;
  torch::Tensor lines, where;
  archive.read("metrics_lines", lines);
  resume_metrics_lines_ = lines.item<int64_t>();
  if (!archive.try_read("within_epoch", where)) return;
  const int64_t saved_world = where[2].item<int64_t>();
  TORCH_CHECK(where[0].item<int64_t>() == next_epoch_, "resume: ", resume_path_,
              " is inconsistent: its position is in epoch ", where[0].item<int64_t>(),
              ", its progress in epoch ", next_epoch_);
  // The rest of the epoch is each rank's shard of the saved plan.
  TORCH_CHECK(saved_world == world, "resume: ", resume_path_, " was written within epoch ",
              next_epoch_, " by ", saved_world, " processes; resume it with ", saved_world,
              ", not ", world);
  torch::Tensor loss_sums, samples, seconds, cpu_rng, device_rng;
  archive.read("within_epoch.loss_sum", loss_sums);
  archive.read("within_epoch.samples", samples);
  archive.read("within_epoch.seconds", seconds);
  archive.read("within_epoch.cpu_rng", cpu_rng);
  resume_position_.batches_done = where[1].item<int64_t>();
  resume_position_.loss_sum = loss_sums[rank].item<double>();
  resume_position_.samples = samples[rank].item<int64_t>();
  resume_position_.elapsed_s = seconds[0].item<double>();
  resume_position_.bookkeeping_s = seconds[1].item<double>();
  resume_position_.cpu_rng = cpu_rng;
  if (device_.is_cuda()) {
    TORCH_CHECK(archive.try_read("within_epoch.device_rng", device_rng), "resume: ", resume_path_,
                " was written within an epoch on the CPU; resume it on the CPU, not ", device_.str());
    resume_position_.device_rng = device_rng;
  }
}

}  // namespace frugal::train
