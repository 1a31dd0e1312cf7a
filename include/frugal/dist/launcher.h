#pragma once
/// Starts N worker processes of a program on this machine, one per rank, and
/// watches them: `frugal train RECIPE --nproc N` re-executes frugal with
/// --rank R --world-size N --master 127.0.0.1:PORT added.
///
/// The workers share one process group of their own and die with the
/// launcher (PR_SET_PDEATHSIG). When one fails, the launcher prints one line
/// naming it, ends the group (SIGTERM, then SIGKILL after `grace_s`), reaps
/// every worker and returns non-zero. SIGINT / SIGTERM to the launcher are
/// passed on to the workers.

#include <cstdint>
#include <string>
#include <vector>

namespace frugal::dist {

struct LaunchOptions {
  /// Executable to start (default: this program, /proc/self/exe).
  std::string program;
  /// Arguments after argv[0], without the rank flags.
  std::vector<std::string> args;
  /// Number of worker processes, >= 1.
  int64_t nproc = 1;
  /// Address of the store rank 0 hosts. Default 127.0.0.1.
  std::string host = "127.0.0.1";
  /// Port of the store; 0 picks a free one. Default 0.
  int64_t port = 0;
  /// Seconds between SIGTERM and SIGKILL when ending the workers. Default 5.
  double grace_s = 5.0;
};

/// Runs the workers to the end; returns 0 when all succeeded, else 1 (after
/// printing "frugal: error: rank R ..." for the first that failed).
int launch_workers(const LaunchOptions& options);

/// A TCP port free on `host` right now (bound and released).
int64_t free_port(const std::string& host);

}  // namespace frugal::dist
