#include "frugal/core/threads.h"

#include "frugal/core/blas_prime.h"

#include <ATen/Parallel.h>
#include <c10/util/Exception.h>

#include <dlfcn.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <sstream>
#include <thread>

namespace frugal::core {

namespace {

/// Looked up at run time: LibTorch loads OpenBLAS, frugal does not link it,
/// and another BLAS may stand in its place.
template <typename Fn>
Fn openblas_symbol(const char* name) {
  return reinterpret_cast<Fn>(dlsym(RTLD_DEFAULT, name));
}

/// Busy and total jiffies of all cores since boot.
bool read_cpu_jiffies(double& busy, double& total) {
  std::ifstream in("/proc/stat");
  std::string label;
  if (!(in >> label) || label != "cpu") return false;
  double user, nice, system, idle, iowait, irq, softirq, steal;
  if (!(in >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal)) return false;
  busy = user + nice + system + irq + softirq + steal;
  total = busy + idle + iowait;
  return true;
}

/// CPU seconds this process has used.
double own_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

int64_t usable_cores() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

}  // namespace

BlasThreading blas_threading() {
  using GetParallel = int (*)();
  const auto fn = openblas_symbol<GetParallel>("openblas_get_parallel");
  if (!fn) return BlasThreading::kUnknown;
  switch (fn()) {
    case 0: return BlasThreading::kSequential;
    case 1: return BlasThreading::kPthread;
    case 2: return BlasThreading::kOpenMP;
    default: return BlasThreading::kUnknown;
  }
}

std::string to_string(BlasThreading threading) {
  switch (threading) {
    case BlasThreading::kSequential: return "openblas-sequential";
    case BlasThreading::kPthread: return "openblas-pthread";
    case BlasThreading::kOpenMP: return "openblas-openmp";
    case BlasThreading::kUnknown: break;
  }
  return "unknown";
}

int64_t available_cores() {
  const int64_t cores = usable_cores();
  double busy0, total0, busy1, total1;
  if (!read_cpu_jiffies(busy0, total0)) return cores;
  const double own0 = own_cpu_seconds();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  if (!read_cpu_jiffies(busy1, total1) || total1 <= total0) return cores;
  const double machine_cores = std::max(1u, std::thread::hardware_concurrency());
  // Core-seconds the others kept busy during the sample, as a number of cores.
  const double elapsed = (total1 - total0) / machine_cores;  // jiffies per core
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double others = (busy1 - busy0) / elapsed - (own_cpu_seconds() - own0) * ticks / elapsed;
  const int64_t idle = static_cast<int64_t>(std::lround(machine_cores - std::max(0.0, others)));
  return std::clamp<int64_t>(idle, 1, cores);
}

ThreadPlan set_threads(int64_t threads) {
  TORCH_CHECK(threads >= 0, "threads must be >= 0 (0 = the cores not busy), got ", threads);
  ThreadPlan plan;
  plan.threads = threads == 0 ? available_cores() : threads;
  plan.blas_threading = blas_threading();
  // Two spinning pools contend (see the header): then only OpenBLAS gets them.
  plan.intra_op = plan.blas_threading == BlasThreading::kPthread ? 1 : plan.threads;
  plan.blas = plan.threads;
  at::set_num_threads(static_cast<int>(plan.intra_op));
  set_blas_threads(plan.blas);
  return plan;
}

bool set_blas_threads(int64_t threads) {
  TORCH_CHECK(threads >= 1, "BLAS threads must be >= 1, got ", threads);
  using SetThreads = void (*)(int);
  static const auto fn = openblas_symbol<SetThreads>("openblas_set_num_threads");
  if (fn) fn(static_cast<int>(threads));
  prime_blas();
  return fn != nullptr;
}

}  // namespace frugal::core
