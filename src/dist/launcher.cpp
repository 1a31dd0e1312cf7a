#include "frugal/dist/launcher.h"

#include <c10/util/Exception.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <iostream>
#include <thread>

namespace frugal::dist {

namespace {

volatile sig_atomic_t g_forward_signal = 0;

void remember_signal(int signal) { g_forward_signal = signal; }

std::string describe(int status) {
  if (WIFSIGNALED(status)) return std::string("was killed by signal ") + strsignal(WTERMSIG(status));
  return "exited with status " + std::to_string(WEXITSTATUS(status));
}

/// Reaps every child in `pids` that has ended, without blocking; marks them -1.
void reap(std::vector<pid_t>& pids, std::vector<int>& statuses, int64_t& running) {
  for (size_t r = 0; r < pids.size(); ++r) {
    if (pids[r] <= 0) continue;
    int status = 0;
    if (waitpid(pids[r], &status, WNOHANG) == pids[r]) {
      statuses[r] = status;
      pids[r] = -1;
      --running;
    }
  }
}

}  // namespace

int64_t free_port(const std::string& host) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  TORCH_CHECK(fd >= 0, "launch: cannot open a socket: ", std::strerror(errno));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = 0;
  TORCH_CHECK(inet_pton(AF_INET, host.c_str(), &address.sin_addr) == 1,
              "launch: not an IPv4 address: ", host);
  socklen_t length = sizeof address;
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
                  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0;
  close(fd);
  TORCH_CHECK(ok, "launch: no free port on ", host, ": ", std::strerror(errno));
  return ntohs(address.sin_port);
}

int launch_workers(const LaunchOptions& options) {
  TORCH_CHECK(options.nproc >= 1, "launch: --nproc must be >= 1, got ", options.nproc);
  const std::string program = options.program.empty() ? "/proc/self/exe" : options.program;
  const int64_t port = options.port > 0 ? options.port : free_port(options.host);
  const std::string master = options.host + ":" + std::to_string(port);

  struct sigaction forward {};
  forward.sa_handler = remember_signal;
  sigemptyset(&forward.sa_mask);
  struct sigaction old_int {}, old_term {};
  sigaction(SIGINT, &forward, &old_int);
  sigaction(SIGTERM, &forward, &old_term);

  std::vector<pid_t> pids(options.nproc, -1);
  std::vector<int> statuses(options.nproc, 0);
  pid_t group = 0;
  const pid_t launcher = getpid();
  for (int64_t r = 0; r < options.nproc; ++r) {
    std::vector<std::string> args = {program};
    args.insert(args.end(), options.args.begin(), options.args.end());
    for (const std::string& a : {std::string("--rank"), std::to_string(r), std::string("--world-size"),
                                 std::to_string(options.nproc), std::string("--master"), master})
      args.push_back(a);
    const pid_t pid = fork();
    TORCH_CHECK(pid >= 0, "launch: fork failed: ", std::strerror(errno));
    if (pid == 0) {
      setpgid(0, group);  // the first worker leads the group, the others join it
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != launcher) _exit(127);  // the launcher died before prctl
      signal(SIGINT, SIG_DFL);
      signal(SIGTERM, SIG_DFL);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(program.c_str(), argv.data());
      std::cerr << "frugal: error: launch: cannot run " << program << ": " << std::strerror(errno)
                << std::endl;
      _exit(127);
    }
    setpgid(pid, group);  // also here, so the group exists before the next fork
    if (group == 0) group = pid;
    pids[r] = pid;
  }

  int64_t running = options.nproc;
  int64_t failed = -1;
  while (running > 0 && failed < 0 && g_forward_signal == 0) {
    reap(pids, statuses, running);
    for (int64_t r = 0; r < options.nproc && failed < 0; ++r)
      if (pids[r] == -1 && statuses[r] != 0) failed = r;
    if (running > 0 && failed < 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (running > 0) {
    if (failed >= 0)
      std::cerr << "frugal: error: rank " << failed << " " << describe(statuses[failed])
                << "; stopping the other ranks" << std::endl;
    killpg(group, g_forward_signal != 0 ? g_forward_signal : SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() +
                          std::chrono::milliseconds(static_cast<int64_t>(options.grace_s * 1000));
    while (running > 0 && std::chrono::steady_clock::now() < deadline) {
      reap(pids, statuses, running);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (running > 0) killpg(group, SIGKILL);
    for (auto& pid : pids)
      if (pid > 0) waitpid(pid, nullptr, 0);
  }
  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGTERM, &old_term, nullptr);
  if (failed >= 0) return 1;
  if (g_forward_signal != 0) {
    std::cerr << "frugal: error: stopped by signal " << strsignal(g_forward_signal) << std::endl;
    return 1;
  }
  for (int64_t r = 0; r < options.nproc; ++r)
    if (statuses[r] != 0) {
      std::cerr << "frugal: error: rank " << r << " " << describe(statuses[r]) << std::endl;
      return 1;
    }
  return 0;
}

}  // namespace frugal::dist
