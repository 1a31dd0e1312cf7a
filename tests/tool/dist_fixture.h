#pragma once
// Helpers for running the frugal program as several processes.

#include "cli_fixture.h"

#include "frugal/recipe/recipe.h"
#include "frugal/app/run.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <sstream>
#include <thread>

namespace frugal_test {

/// A child running `command` through sh -c "exec ..." (so pid is the program).
struct Spawned {
  pid_t pid = -1;
  fs::path log;
  int status = -1;  // exit status once waited for; -1 while running or when killed

  /// Waits up to `seconds`; true when it exited (status set).
  bool wait(double seconds) {
    const auto deadline = std::chrono::steady_clock::now() +
                          std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
    while (pid > 0) {
      int s = 0;
      if (waitpid(pid, &s, WNOHANG) == pid) {
        status = WIFEXITED(s) ? WEXITSTATUS(s) : -1;
        pid = -1;
        return true;
      }
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return true;
  }
  std::string output() const {
    std::ifstream in(log);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }
  ~Spawned() {
    if (pid > 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  }
};

inline std::unique_ptr<Spawned> spawn(const std::string& command, const fs::path& log) {
  auto s = std::make_unique<Spawned>();
  s->log = log;
  const std::string line = "exec " + command + " > '" + log.string() + "' 2>&1";
  s->pid = fork();
  if (s->pid == 0) {
    execl("/bin/sh", "sh", "-c", line.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  return s;
}

/// Polls `ready` every 20 ms for up to `seconds`.
inline bool eventually(const std::function<bool()>& ready, double seconds) {
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
  while (std::chrono::steady_clock::now() < deadline) {
    if (ready()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return ready();
}

inline int64_t lines_of(const fs::path& path) {
  std::ifstream in(path);
  int64_t n = 0;
  for (std::string line; std::getline(in, line);) ++n;
  return n;
}

/// The parameters of `run_dir`/model.pt, built from the recipe the run saved.
inline std::vector<std::pair<std::string, torch::Tensor>> weights_of(const fs::path& run_dir) {
  auto recipe = frugal::recipe::load_recipe((run_dir / "config.toml").string(), {});
  const auto source = frugal::app::load_data(recipe.data);
  auto model = frugal::app::build_model(recipe, source.train->sample_shape(), source.train->class_count());
  frugal::app::load_model_weights(*model, (run_dir / "model.pt").string());
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& p : model->named_parameters()) out.emplace_back(p.key(), p.value().detach().clone());
  return out;
}

/// Largest absolute difference between the weights of two runs.
inline double max_difference(const fs::path& a, const fs::path& b) {
  auto wa = weights_of(a), wb = weights_of(b);
  EXPECT_EQ(wa.size(), wb.size());
  double worst = 0.0;
  for (size_t i = 0; i < wa.size() && i < wb.size(); ++i)
    worst = std::max(worst, (wa[i].second - wb[i].second).abs().max().item<double>());
  return worst;
}

/// Child pids of `pid` (Linux /proc/PID/task/PID/children).
inline std::vector<pid_t> children_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children");
  std::vector<pid_t> out;
  for (pid_t c; in >> c;) out.push_back(c);
  return out;
}

inline std::string cmdline_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (auto& c : text)
    if (c == '\0') c = ' ';
  return text;
}

inline bool process_exists(pid_t pid) { return kill(pid, 0) == 0 || errno != ESRCH; }

}  // namespace frugal_test
