#include "frugal/dist/communicator.h"

#include "frugal/core/enum_names.h"

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
// Defined by CMake only where LibTorch has CUDA and c10d's NCCL (see CMakeLists.txt).
#ifdef FRUGAL_WITH_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <functional>
#include <mutex>
#include <sstream>
#include <thread>

// glog's severity threshold (libglog, which c10 logs through); declared here
// because glog's header clashes with c10's logging macros.
namespace fLI {
extern int32_t FLAGS_minloglevel;
}

namespace frugal::dist {

namespace {

using Clock = std::chrono::steady_clock;
using Ms = std::chrono::milliseconds;

Ms to_ms(double seconds) { return Ms(static_cast<int64_t>(seconds * 1000.0)); }

std::string alive_key(int64_t rank) { return "frugal/alive/" + std::to_string(rank); }

/// Between heartbeats: a fifth of the timeout, within [0.2 s, 1 s].
Ms heartbeat_interval(double timeout_s) {
  return to_ms(std::clamp(timeout_s / 5.0, 0.2, 1.0));
}

std::string format_seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g s", s);
  return buf;
}

/// Gloo's and c10d's messages start with "[file:line] "; keep the reason only.
std::string short_reason(const std::string& message) {
  std::string first = message.substr(0, message.find('\n'));
  while (!first.empty() && first.front() == '[') {
    auto close = first.find("] ");
    if (close == std::string::npos) break;
    first = first.substr(close + 2);
  }
  return first;
}

c10::intrusive_ptr<c10d::TCPStore> client_store(const DistOptions& o, Ms timeout) {
  c10d::TCPStoreOptions opts;
  opts.port = static_cast<uint16_t>(o.master_port);
  opts.isServer = false;
  opts.waitWorkers = false;
  opts.timeout = timeout;
  return c10::make_intrusive<c10d::TCPStore>(o.master_host, opts);
}

constexpr core::EnumName<Backend> kBackendNames[] = {
    {Backend::kAuto, "auto"}, {Backend::kGloo, "gloo"}, {Backend::kNccl, "nccl"}};
constexpr const char* kBackendWhat = "dist backend";

}  // namespace

Backend parse_backend(const std::string& name) { return core::parse_enum(kBackendWhat, kBackendNames, name); }

std::string to_string(Backend backend) { return core::enum_name(kBackendWhat, kBackendNames, backend); }

bool nccl_built() {
#ifdef FRUGAL_WITH_NCCL
  return true;
#else
  return false;
#endif
}

Backend DistOptions::resolved_backend() const {
  if (backend != Backend::kAuto) return backend;
  return nccl_built() && device.is_cuda() ? Backend::kNccl : Backend::kGloo;
}

void check_backend_built(Backend backend) {
  TORCH_CHECK(backend != Backend::kNccl || nccl_built(),
              "dist: backend \"nccl\" is not built into this frugal (it needs a LibTorch built with CUDA "
              "and c10d's NCCL, found when frugal is configured); use \"gloo\" or \"auto\"");
}

void DistOptions::validate() const {
  check_backend_built(backend);
  TORCH_CHECK(backend != Backend::kNccl || device.is_cuda(),
              "dist: backend \"nccl\" needs a CUDA device, the run's device is ", device.str());
  TORCH_CHECK(world_size >= 1, "dist: world size must be >= 1, got ", world_size);
  TORCH_CHECK(rank >= 0 && rank < world_size, "dist: rank must lie in [0, ", world_size, "), got ",
              rank);
  TORCH_CHECK(master_port >= 1 && master_port <= 65535, "dist: master port must lie in [1, 65535], got ",
              master_port);
  TORCH_CHECK(!master_host.empty(), "dist: empty master host");
  TORCH_CHECK(timeout_s > 0, "dist: timeout must be > 0 s, got ", timeout_s);
}

std::pair<std::string, int64_t> parse_master(const std::string& host_port) {
  const auto colon = host_port.rfind(':');
  TORCH_CHECK(colon != std::string::npos && colon > 0 && colon + 1 < host_port.size(),
              "dist: --master must be HOST:PORT, got '", host_port, "'");
  const std::string port = host_port.substr(colon + 1);
  TORCH_CHECK(port.find_first_not_of("0123456789") == std::string::npos && port.size() <= 5,
              "dist: --master port must be a number, got '", port, "'");
  std::string host = host_port.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return {host, std::stoll(port)};
}

std::string local_address_towards(const std::string& host, int64_t port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* found = nullptr;
  const int rc = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found);
  TORCH_CHECK(rc == 0 && found != nullptr, "dist: cannot resolve master host '", host, "': ",
              gai_strerror(rc));
  std::string address;
  for (addrinfo* a = found; a != nullptr && address.empty(); a = a->ai_next) {
    const int fd = socket(a->ai_family, SOCK_DGRAM, 0);
    if (fd < 0) continue;
    sockaddr_storage local{};
    socklen_t length = sizeof local;
    if (connect(fd, a->ai_addr, a->ai_addrlen) == 0 &&
        getsockname(fd, reinterpret_cast<sockaddr*>(&local), &length) == 0) {
      char text[INET6_ADDRSTRLEN] = {};
      const void* raw = local.ss_family == AF_INET
                            ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(&local)->sin_addr)
                            : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(&local)->sin6_addr);
      if (inet_ntop(local.ss_family, raw, text, sizeof text) != nullptr) address = text;
    }
    close(fd);
  }
  freeaddrinfo(found);
  TORCH_CHECK(!address.empty(), "dist: no route from this machine to the master host '", host, "'");
  return address;
}

namespace {

/// c10d's Gloo group on `store`, bound to the address this machine uses to
/// reach the master, with one thread (the ranks' own threads compute).
c10::intrusive_ptr<c10d::ProcessGroup> gloo_group(const DistOptions& o,
                                                  const c10::intrusive_ptr<c10d::Store>& store, Ms timeout) {
  auto options = c10d::ProcessGroupGloo::Options::create(timeout);
  options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(
      local_address_towards(o.master_host, o.master_port)));
  options->threads = 1;
  return c10::make_intrusive<c10d::ProcessGroupGloo>(c10::make_intrusive<c10d::PrefixStore>("gloo", store),
                                                     static_cast<int>(o.rank), static_cast<int>(o.world_size),
                                                     options);
}

/// c10d's NCCL group on the same store, its collectives bounded by the same
/// timeout. Unreachable without NCCL: validate() refuses the backend.
c10::intrusive_ptr<c10d::ProcessGroup> nccl_group(const DistOptions& o,
                                                  const c10::intrusive_ptr<c10d::Store>& store, Ms timeout) {
#ifdef FRUGAL_WITH_NCCL
  auto options = c10d::ProcessGroupNCCL::Options::create();
  options->timeout = timeout;
  return c10::make_intrusive<c10d::ProcessGroupNCCL>(c10::make_intrusive<c10d::PrefixStore>("nccl", store),
                                                     static_cast<int>(o.rank), static_cast<int>(o.world_size),
                                                     options);
#else
  TORCH_CHECK(false, "dist: backend \"nccl\" is not built into this frugal");
#endif
}

}  // namespace

/// What the heartbeat thread shares with its owner; the thread keeps it alive
/// (a store call to a vanished peer can block forever, so it is detached).
struct Heartbeat {
  std::mutex mutex;
  std::condition_variable wake;
  bool stop = false;
};

struct Communicator::Impl {
  c10::intrusive_ptr<c10d::TCPStore> store;
  c10::intrusive_ptr<c10d::ProcessGroup> group;  // Gloo or NCCL
  std::shared_ptr<Heartbeat> heartbeat = std::make_shared<Heartbeat>();
  // NCCL reduces CUDA tensors only: CPU ones (metric sums, score pairs) go through the device.
  c10::optional<torch::Device> stage_on;

  /// What the group works on in place of `tensors`: themselves, or device copies.
  std::vector<torch::Tensor> staged(const std::vector<torch::Tensor>& tensors) const {
    if (!stage_on) return tensors;
    std::vector<torch::Tensor> out;
    for (const auto& t : tensors) out.push_back(t.is_cuda() ? t : t.to(*stage_on));
    return out;
  }
  /// The results back into the tensors that were staged.
  static void unstage(const std::vector<torch::Tensor>& work, std::vector<torch::Tensor>& tensors) {
    for (size_t i = 0; i < tensors.size(); ++i)
      if (!work[i].is_same(tensors[i])) tensors[i].copy_(work[i]);
  }
};

Communicator::Communicator(DistOptions options) : options_(std::move(options)) {
  options_.validate();
  if (options_.world_size == 1) return;
  impl_ = std::make_unique<Impl>();
  const auto timeout = to_ms(options_.timeout_s);
  const std::string where = options_.master_host + ":" + std::to_string(options_.master_port);
  try {
    c10d::TCPStoreOptions opts;
    opts.port = static_cast<uint16_t>(options_.master_port);
    opts.isServer = options_.rank == 0;
    opts.numWorkers = static_cast<size_t>(options_.world_size);
    opts.waitWorkers = true;
    opts.timeout = timeout;
    impl_->store = c10::make_intrusive<c10d::TCPStore>(options_.master_host, opts);
    if (options_.resolved_backend() == Backend::kNccl) {
      impl_->group = nccl_group(options_, impl_->store, timeout);
      impl_->stage_on = options_.device;
    } else {
      impl_->group = gloo_group(options_, impl_->store, timeout);
    }
  } catch (const std::exception& e) {
    TORCH_CHECK(false, "dist: rank ", options_.rank, " could not join the ", options_.world_size,
                " ranks at ", where, " within ", format_seconds(options_.timeout_s), ": ",
                short_reason(e.what()));
  }
  // Heartbeats from a thread of their own, through a store client of their own.
  const DistOptions o = options_;
  std::thread([o, beat = impl_->heartbeat] {
    const Ms interval = heartbeat_interval(o.timeout_s);
    try {
      auto store = client_store(o, 4 * interval);
      std::unique_lock<std::mutex> lock(beat->mutex);
      while (!beat->stop) {
        lock.unlock();
        store->add(alive_key(o.rank), 1);
        lock.lock();
        beat->wake.wait_for(lock, interval, [&] { return beat->stop; });
      }
    } catch (const std::exception&) {
      // The store is gone: the next collective fails and says which rank went.
    }
  }).detach();
}

Communicator::~Communicator() {
  if (!impl_) return;
  {
    std::lock_guard<std::mutex> lock(impl_->heartbeat->mutex);
    impl_->heartbeat->stop = true;
  }
  impl_->heartbeat->wake.notify_all();
}

void Communicator::fail(const std::string& what, const std::string& reason) {
  // Which ranks stopped bumping their heartbeat? Watch them for a few intervals.
  // The process is about to stop: c10d's retry warnings would only bury the one line.
  fLI::FLAGS_minloglevel = 3;
  const Ms interval = heartbeat_interval(options_.timeout_s);
  const Ms connect = std::max(Ms(2000), 4 * interval);
  struct Probe {
    std::mutex mutex;
    std::condition_variable done_cv;
    bool done = false;
    std::vector<int64_t> lost;
  };
  auto probe = std::make_shared<Probe>();
  // In a thread of its own: a store call to a vanished host may never return.
  std::thread([probe, o = options_, interval, connect] {
    std::vector<int64_t> lost;
    try {
      auto store = client_store(o, connect);
      std::vector<int64_t> before, after;
      for (int64_t r = 0; r < o.world_size; ++r) before.push_back(store->add(alive_key(r), 0));
      std::this_thread::sleep_for(3 * interval);
      for (int64_t r = 0; r < o.world_size; ++r) after.push_back(store->add(alive_key(r), 0));
      for (int64_t r = 0; r < o.world_size; ++r)
        if (r != o.rank && before[r] == after[r]) lost.push_back(r);
      std::lock_guard<std::mutex> lock(probe->mutex);
      probe->lost = lost;
      probe->done = true;
    } catch (const std::exception&) {
      // The store is unreachable: rank 0, which hosts it, is the one lost.
      std::lock_guard<std::mutex> lock(probe->mutex);
      if (o.rank != 0) probe->lost = {0};
      probe->done = true;
    }
    probe->done_cv.notify_all();
  }).detach();
  std::vector<int64_t> lost;
  {
    std::unique_lock<std::mutex> lock(probe->mutex);
    const bool answered = probe->done_cv.wait_for(lock, connect + 4 * interval + Ms(1000),
                                                  [&] { return probe->done; });
    if (answered) lost = probe->lost;
    else if (options_.rank != 0) lost = {0};  // rank 0's store is unreachable
  }
  std::ostringstream message;
  if (!lost.empty()) {
    message << (lost.size() == 1 ? "rank " : "ranks ");
    for (size_t i = 0; i < lost.size(); ++i) message << (i ? ", " : "") << lost[i];
    message << " stopped responding (timeout " << format_seconds(options_.timeout_s) << ") during "
            << what << " (" << reason << ")";
  } else {
    message << "communication failed during " << what << " although every rank is alive ("
            << reason << "); a rank slower than the timeout ("
            << format_seconds(options_.timeout_s) << ") needs a larger [run] dist_timeout_s";
  }
  TORCH_CHECK(false, message.str());
}

c10::intrusive_ptr<c10d::ProcessGroup> Communicator::process_group() const {
  if (!impl_) return {};
  return impl_->group;
}

void Communicator::fail_during(const std::string& what, const std::exception& error) {
  fail(what, short_reason(error.what()));
}

namespace {

template <typename Fn>
void run_collective(double& comm_s, const std::string& what, Fn&& fn,
                    const std::function<void(const std::string&, const std::string&)>& fail) {
  const auto start = Clock::now();
  std::string reason;
  try {
    fn();
  } catch (const std::exception& e) {
    reason = short_reason(e.what());
  }
  comm_s += std::chrono::duration<double>(Clock::now() - start).count();
  if (!reason.empty()) fail(what, reason);
}

}  // namespace

void Communicator::allreduce_sum(std::vector<torch::Tensor>& tensors, const std::string& what) {
  if (!impl_ || tensors.empty()) return;
  auto work = impl_->staged(tensors);
  run_collective(comm_s_, what, [&] {
    impl_->group->allreduce(work)->wait();
  }, [this](const std::string& w, const std::string& r) { fail(w, r); });
  Impl::unstage(work, tensors);
}

void Communicator::broadcast(std::vector<torch::Tensor>& tensors, int64_t root,
                             const std::string& what) {
  if (!impl_ || tensors.empty()) return;
  c10d::BroadcastOptions opts;
  opts.rootRank = root;
  for (auto& t : tensors) {
    std::vector<torch::Tensor> one = {t};
    auto work = impl_->staged(one);
    run_collective(comm_s_, what, [&] { impl_->group->broadcast(work, opts)->wait(); },
                   [this](const std::string& w, const std::string& r) { fail(w, r); });
    Impl::unstage(work, one);
  }
}

torch::Tensor Communicator::allgather(const torch::Tensor& local, const std::string& what) {
  if (!impl_) return local.clone();
  std::vector<torch::Tensor> inputs = impl_->staged({local.contiguous()});
  std::vector<std::vector<torch::Tensor>> outputs(1);
  for (int64_t r = 0; r < options_.world_size; ++r) outputs[0].push_back(torch::empty_like(inputs[0]));
  run_collective(comm_s_, what, [&] { impl_->group->allgather(outputs, inputs)->wait(); },
                 [this](const std::string& w, const std::string& r) { fail(w, r); });
  return torch::cat(outputs[0]).to(local.device());
}

void Communicator::barrier(const std::string& what) {
  if (!impl_) return;
  run_collective(comm_s_, what, [&] { impl_->group->barrier()->wait(); },
                 [this](const std::string& w, const std::string& r) { fail(w, r); });
}

}  // namespace frugal::dist
