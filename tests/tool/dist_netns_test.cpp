// Two "machines" in network namespaces joined by a veth pair (192.0.2.0/24,
// TEST-NET-1): training across them, and a link taken down mid-run.
// Needs root and `ip netns`; skipped otherwise.

#include "dist_fixture.h"

#include <cstdlib>

namespace {

using namespace frugal_test;

int sh(const std::string& command) {
  const int status = std::system((command + " > /dev/null 2>&1").c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/// Namespaces fa<pid> (192.0.2.1) and fb<pid> (192.0.2.2), removed on destruction.
class TwoHosts {
 public:
  TwoHosts() : a_("frugal_a" + std::to_string(getpid())), b_("frugal_b" + std::to_string(getpid())) {
    if (geteuid() != 0) {
      reason_ = "needs root to create network namespaces";
      return;
    }
    const std::string va = "fva" + std::to_string(getpid() % 100000), vb = "fvb" + std::to_string(getpid() % 100000);
    const std::vector<std::string> steps = {
        "ip netns add " + a_,
        "ip netns add " + b_,
        "ip link add " + va + " type veth peer name " + vb,
        "ip link set " + va + " netns " + a_,
        "ip link set " + vb + " netns " + b_,
        "ip -n " + a_ + " addr add 192.0.2.1/24 dev " + va,
        "ip -n " + b_ + " addr add 192.0.2.2/24 dev " + vb,
        "ip -n " + a_ + " link set lo up",
        "ip -n " + b_ + " link set lo up",
        "ip -n " + a_ + " link set " + va + " up",
        "ip -n " + b_ + " link set " + vb + " up",
    };
    for (const auto& step : steps)
      if (sh(step) != 0) {
        reason_ = "'" + step + "' failed (no network namespaces here?)";
        return;
      }
    vb_ = vb;
    ready_ = true;
  }
  ~TwoHosts() {
    sh("ip netns del " + a_);  // takes the veth pair with it
    sh("ip netns del " + b_);
  }
  bool ready() const { return ready_; }
  const std::string& reason() const { return reason_; }
  std::string in_a(const std::string& command) const { return "ip netns exec " + a_ + " " + command; }
  std::string in_b(const std::string& command) const { return "ip netns exec " + b_ + " " + command; }
  /// Takes host b's side of the link down.
  bool cut() const { return sh("ip -n " + b_ + " link set " + vb_ + " down") == 0; }

 private:
  std::string a_, b_, vb_, reason_;
  bool ready_ = false;
};

class DistNetns : public Cli {};

TEST_F(DistNetns, TwoHostsTrainTogetherAndACutLinkStopsBothWithinTheTimeout) {
  TwoHosts hosts;
  if (!hosts.ready()) GTEST_SKIP() << hosts.reason();
  const std::string master = "192.0.2.1:29517";
  auto command = [&](int rank, const std::string& name, const std::string& sets) {
    return std::string(FRUGAL_BINARY) + " train " + recipe() + " --set run.name=\"" + name +
           "\" run.dist_timeout_s=3 " + sets + " --world-size 2 --master " + master +
           " --rank " + std::to_string(rank);
  };
  {  // a whole run across the two hosts
    auto a = spawn(hosts.in_a(command(0, "across", "")), dir_ / "a.log");
    auto b = spawn(hosts.in_b(command(1, "across", "")), dir_ / "b.log");
    ASSERT_TRUE(a->wait(60) && b->wait(10)) << a->output() << b->output();
    ASSERT_EQ(a->status, 0) << a->output();
    ASSERT_EQ(b->status, 0) << b->output();
    EXPECT_TRUE(fs::exists(run_dir("across") / "model.pt"));
  }
  // A long run whose link goes down.
  auto a = spawn(hosts.in_a(command(0, "cut", "train.epochs=100000")), dir_ / "a2.log");
  auto b = spawn(hosts.in_b(command(1, "cut", "train.epochs=100000")), dir_ / "b2.log");
  ASSERT_TRUE(eventually([&] { return lines_of(run_dir("cut") / "metrics.jsonl") >= 2; }, 30))
      << a->output() << b->output();
  ASSERT_TRUE(hosts.cut());
  ASSERT_TRUE(a->wait(3 + 12)) << "host a still trains";
  ASSERT_TRUE(b->wait(10)) << "host b still trains";
  EXPECT_EQ(a->status, 1);
  EXPECT_EQ(b->status, 1);
  EXPECT_NE(a->output().find("frugal: error: rank 1 stopped responding (timeout 3 s) during "),
            std::string::npos) << a->output();
  EXPECT_NE(b->output().find("frugal: error: rank 0 stopped responding (timeout 3 s) during "),
            std::string::npos) << b->output();
}

}  // namespace
