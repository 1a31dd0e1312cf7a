#pragma once
// Runs a function in W forked processes, one per rank, joined on loopback.

#include "frugal/dist/communicator.h"
#include "frugal/dist/launcher.h"

#include <c10/util/Exception.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace frugal_test {

struct RankResult {
  int status = -1;        // exit status, -1 when it had to be killed
  std::string error;      // what the rank threw, if anything
  double seconds = 0.0;   // from start to exit
};

/// Forks `world` processes; each joins a Communicator (loopback, free port,
/// `timeout_s`) and runs `body(rank, communicator)`. A rank that throws writes
/// the message and exits 1. Ranks still running after `limit_s` are killed.
inline std::vector<RankResult> fork_ranks(
    int64_t world, const std::function<void(int64_t, std::shared_ptr<frugal::dist::Communicator>)>& body,
    double timeout_s = 10.0, double limit_s = 60.0) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("frugal_ranks_" + std::to_string(getpid()));
  fs::create_directories(dir);
  const int64_t port = frugal::dist::free_port("127.0.0.1");
  const auto start = std::chrono::steady_clock::now();
  std::vector<pid_t> pids;
  for (int64_t r = 0; r < world; ++r) {
    const pid_t pid = fork();
    if (pid == 0) {
      int code = 0;
      try {
        frugal::dist::DistOptions o;
        o.rank = r;
        o.world_size = world;
        o.master_port = port;
        o.timeout_s = timeout_s;
        body(r, std::make_shared<frugal::dist::Communicator>(o));
      } catch (const c10::Error& e) {
        std::ofstream(dir / std::to_string(r)) << e.what_without_backtrace();
        code = 1;
      } catch (const std::exception& e) {
        std::ofstream(dir / std::to_string(r)) << e.what();
        code = 1;
      }
      std::fflush(nullptr);
      _exit(code);  // no gtest teardown, no destructors of the shared group
    }
    pids.push_back(pid);
  }
  std::vector<RankResult> results(world);
  size_t left = pids.size();
  while (left > 0) {
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    for (int64_t r = 0; r < world; ++r) {
      if (pids[r] <= 0) continue;
      int status = 0;
      if (waitpid(pids[r], &status, WNOHANG) == pids[r]) {
        results[r].status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        results[r].seconds = elapsed;
        pids[r] = -1;
        --left;
      } else if (elapsed > limit_s) {
        kill(pids[r], SIGKILL);
        waitpid(pids[r], nullptr, 0);
        results[r].status = -1;
        results[r].seconds = elapsed;
        pids[r] = -1;
        --left;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (int64_t r = 0; r < world; ++r) {
    std::ifstream in(dir / std::to_string(r));
    std::stringstream text;
    text << in.rdbuf();
    results[r].error = text.str();
  }
  fs::remove_all(dir);
  return results;
}

}  // namespace frugal_test
