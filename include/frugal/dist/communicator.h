#pragma once
/// Processes that train together: rendezvous through c10d's TCPStore, then
/// collectives through c10d::ProcessGroupGloo, or c10d::ProcessGroupNCCL on
/// the same store where this frugal is built with it and the run is on CUDA
/// (DistOptions::backend). Rank 0 hosts the store.
///
/// Failures: every collective waits at most `timeout`. When one fails, the
/// store's heartbeats (each rank bumps a counter every interval from its own
/// thread) tell which rank stopped; the error names it and what was under way:
///   "rank 1 stopped responding (timeout 5 s) during gradient allreduce at step 12"

#include <torch/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace c10d {
class ProcessGroup;
}  // namespace c10d

namespace frugal::dist {

/// The c10d process group that carries the collectives.
enum class Backend {
  kAuto,  ///< kNccl when nccl_built() and the device is CUDA, else kGloo
  kGloo,  ///< c10d::ProcessGroupGloo: CPU (and CUDA) tensors; always built in
  kNccl,  ///< c10d::ProcessGroupNCCL: a LibTorch with CUDA and NCCL, and a CUDA device
};
/// "auto", "gloo", "nccl"; throws naming any other.
Backend parse_backend(const std::string& name);
std::string to_string(Backend backend);
/// Whether this build has c10d's ProcessGroupNCCL (found by CMake at
/// configure time: a LibTorch built with CUDA whose NCCL header compiles and links).
bool nccl_built();
/// Throws one clear line for a backend this build lacks (kNccl without NCCL).
void check_backend_built(Backend backend);

struct DistOptions {
  /// This process's rank in [0, world_size). Default 0.
  int64_t rank = 0;
  /// Number of processes. Default 1 (no communication at all).
  int64_t world_size = 1;
  /// Host (address or name) of rank 0, which hosts the TCPStore. Default 127.0.0.1.
  std::string master_host = "127.0.0.1";
  /// Port of the TCPStore on master_host. Default 29500.
  int64_t master_port = 29500;
  /// Longest wait of a collective, and of the rendezvous, before the ranks
  /// give up. Default 300 s; must be > 0.
  double timeout_s = 300.0;
  /// Process group. Default kAuto; kNccl where !nccl_built() or on a CPU
  /// device is an error (validate()).
  Backend backend = Backend::kAuto;
  /// The device the run trains on (kAuto takes NCCL only for CUDA). Default CPU.
  torch::Device device = torch::kCPU;

  void validate() const;
  /// kGloo or kNccl: what `backend` means for `device` in this build.
  Backend resolved_backend() const;
};

/// "HOST:PORT" -> (host, port); throws naming a malformed value.
std::pair<std::string, int64_t> parse_master(const std::string& host_port);

class Communicator {
 public:
  /// Joins the group (blocks until all ranks joined, or throws after the timeout).
  explicit Communicator(DistOptions options);
  ~Communicator();
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  int64_t rank() const { return options_.rank; }
  int64_t world_size() const { return options_.world_size; }
  const DistOptions& options() const { return options_; }
  /// kGloo or kNccl (options().resolved_backend()).
  Backend backend() const { return options_.resolved_backend(); }

  /// In place: every rank gets the sum (contiguous CPU tensors).
  void allreduce_sum(std::vector<torch::Tensor>& tensors, const std::string& what);
  /// In place: every rank gets `root`'s values.
  void broadcast(std::vector<torch::Tensor>& tensors, int64_t root, const std::string& what);
  /// Concatenation over ranks (rank-major) of each rank's `local`, which must
  /// have the same shape and dtype on every rank.
  torch::Tensor allgather(const torch::Tensor& local, const std::string& what);
  void barrier(const std::string& what);

  /// Seconds spent inside collectives so far (not counting those that
  /// DataParallel's Reducer overlaps with backward).
  double comm_s() const { return comm_s_; }

  /// The Gloo group itself (null with world size 1), for DataParallel's
  /// Reducer, which issues its allreduces from autograd hooks.
  c10::intrusive_ptr<c10d::ProcessGroup> process_group() const;

  /// Throws the one-line error a failed collective gives ("rank N stopped
  /// responding ... during <what>"), for a collective issued elsewhere (the
  /// Reducer's, whose failure surfaces from backward) that threw `error`.
  [[noreturn]] void fail_during(const std::string& what, const std::exception& error);

 private:
  struct Impl;
  [[noreturn]] void fail(const std::string& what, const std::string& reason);

  DistOptions options_;
  std::unique_ptr<Impl> impl_;
  double comm_s_ = 0.0;
};

/// The local address this machine uses to reach `host` (route lookup through
/// a connected UDP socket; nothing is sent). 127.0.0.1 for loopback.
std::string local_address_towards(const std::string& host, int64_t port);

}  // namespace frugal::dist
