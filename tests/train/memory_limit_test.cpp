// Training on a packed data set three times larger than the memory the
// process may use, under a cgroup memory limit the test sets on a forked
// child (cgroup v2 or v1, whichever the machine has).

#include "frugal/data/epoch_sampler.h"
#include "frugal/data/packed.h"
#include "frugal/train/trainer.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace fs = std::filesystem;
using namespace frugal;

namespace {

constexpr int64_t kLimitBytes = int64_t{96} << 20;
constexpr int64_t kSide = 64;  // 4096-byte samples

/// Samples made from their index, never held: the source of a big packed file.
class Generated : public data::IndexedDataset {
 public:
  explicit Generated(int64_t n) : n_(n) {}
  int64_t size() const override { return n_; }
  int64_t class_count() const override { return 2; }
  std::vector<int64_t> sample_shape() const override { return {1, kSide, kSide}; }
  torch::ScalarType sample_type() const override { return torch::kByte; }
  torch::Tensor labels() const override { return torch::arange(n_, torch::kLong) % 2; }
  int64_t read(int64_t index, void* out) const override {
    auto* p = static_cast<uint8_t*>(out);
    for (int64_t k = 0; k < kSide * kSide; ++k) p[k] = static_cast<uint8_t>((index % 2) * 128 + k % 64);
    return index % 2;
  }

 private:
  int64_t n_;
};

/// A linear classifier on flattened images.
struct Linear : torch::nn::Module {
  Linear() { fc = register_module("fc", torch::nn::Linear(kSide * kSide, 2)); }
  torch::Tensor forward(torch::Tensor x) { return fc->forward(x.flatten(1)); }
  torch::nn::Linear fc{nullptr};
};

bool write_text(const fs::path& file, const std::string& text) {
  std::ofstream out(file);
  out << text;
  out.flush();
  return static_cast<bool>(out);
}

/// A memory cgroup made for this test and removed afterwards (also when it fails).
class MemoryCgroup {
 public:
  /// Empty `why_not()` when the group exists with the limit set.
  explicit MemoryCgroup(int64_t limit) {
    const std::string name = "frugal_test_" + std::to_string(getpid());
    if (fs::exists("/sys/fs/cgroup/cgroup.controllers")) {  // v2: one unified hierarchy
      write_text("/sys/fs/cgroup/cgroup.subtree_control", "+memory");
      dir_ = fs::path("/sys/fs/cgroup") / name;
      limit_file_ = "memory.max";
      peak_file_ = "memory.peak";
      procs_file_ = "cgroup.procs";
    } else if (fs::exists("/sys/fs/cgroup/memory/memory.limit_in_bytes")) {  // v1
      dir_ = fs::path("/sys/fs/cgroup/memory") / name;
      limit_file_ = "memory.limit_in_bytes";
      peak_file_ = "memory.max_usage_in_bytes";
      procs_file_ = "cgroup.procs";
    } else {
      why_not_ = "no cgroup memory controller is mounted under /sys/fs/cgroup";
      return;
    }
    std::error_code ec;
    if (!fs::create_directory(dir_, ec)) {
      why_not_ = "cannot create " + dir_.string() + " (" + (ec ? ec.message() : "exists") + "); needs root";
      dir_.clear();
      return;
    }
    if (!write_text(dir_ / limit_file_, std::to_string(limit))) {
      why_not_ = "cannot set " + (dir_ / limit_file_).string();
      return;
    }
    // No swap either, so that going over the limit means being killed.
    if (fs::exists(dir_ / "memory.swap.max")) write_text(dir_ / "memory.swap.max", "0");
    if (fs::exists(dir_ / "memory.memsw.limit_in_bytes"))
      write_text(dir_ / "memory.memsw.limit_in_bytes", std::to_string(limit));
  }
  ~MemoryCgroup() {
    if (!dir_.empty()) ::rmdir(dir_.c_str());  // empty once the child has exited
  }
  const std::string& why_not() const { return why_not_; }
  /// Moves the calling process into the group.
  bool join() const { return write_text(dir_ / procs_file_, "0"); }
  /// The group's peak usage in bytes (-1 where the kernel does not say).
  int64_t peak() const {
    std::ifstream in(dir_ / peak_file_);
    int64_t v = -1;
    in >> v;
    return v;
  }

 private:
  fs::path dir_;
  std::string limit_file_, peak_file_, procs_file_;
  std::string why_not_;
};

TEST(MemoryLimit, AnEpochOnAPackedSetThreeTimesTheMemoryLimitCompletes) {
  MemoryCgroup group(kLimitBytes);
  if (!group.why_not().empty()) GTEST_SKIP() << "no memory cgroup for this test: " << group.why_not();
  const fs::path dir = fs::temp_directory_path() / ("frugal_memlimit_" + std::to_string(getpid()));
  fs::create_directories(dir);
  const std::string file = (dir / "train.pack").string();
  const int64_t samples = 3 * kLimitBytes / (kSide * kSide);
  data::pack(Generated(samples), file);
  ASSERT_GE(static_cast<int64_t>(fs::file_size(file)), 3 * kLimitBytes);
  {
    // Out of the page cache, so that the child's reads really come from disk.
    const int fd = ::open(file.c_str(), O_RDONLY);
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    ::close(fd);
  }

  const pid_t pid = fork();
  if (pid == 0) {
    int code = 0;
    try {
      if (!group.join()) _exit(3);
      // Only what the child allocates from here on counts against the limit.
      data::PackedDataset train(file);
      torch::manual_seed(0);
      auto model = std::make_shared<Linear>();
      auto optimizer = std::make_shared<torch::optim::SGD>(model->parameters(), torch::optim::SGDOptions(0.01));
      train::TrainerOptions options;
      options.epochs = 1;
      options.batch_size = 128;
      options.threads = 1;
      options.progress = false;
      options.normalization = train.statistics();
      options.loader.workers(1).prefetch(1);
      train::Trainer trainer(torch::nn::AnyModule(model), optimizer, options);
      data::ShuffleSampler sampler(train.size(), 0);
      const auto summary = trainer.fit(train, data::TensorDataset{}, sampler);
      if (summary["samples_forwarded"].get<int64_t>() != samples) code = 4;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "child: %s\n", e.what());
      code = 2;
    }
    std::fflush(nullptr);
    _exit(code);
  }
  ASSERT_GT(pid, 0);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  const int64_t peak = group.peak();
  fs::remove_all(dir);
  ASSERT_FALSE(WIFSIGNALED(status)) << "the training was killed by signal " << WTERMSIG(status)
                                    << " (over the " << (kLimitBytes >> 20) << " MiB limit?)";
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "3: could not join the cgroup, 4: not every sample trained, 2: an error (stderr)";
  if (peak >= 0) {
    EXPECT_GT(peak, 0) << "the child did not run in the group";
    EXPECT_LE(peak, kLimitBytes);
  }
}

}  // namespace
