// Descriptors of fleetps' HostAgent against fleetsim (issue 17): an established session holds
// one descriptor (libssh gets the connection's own, no duplicate), sessions that the server
// breaks (libssh then closes the descriptor itself) leak none, and accept-new that cannot write
// known_hosts reports `known_hosts_write` with the file and the error, and opens the circuit.
#include <sys/mount.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "agent_test_support.hpp"
#include "fleetps/agent/errors.hpp"

namespace fleetps::fleetsim::testing {
namespace {

using namespace std::chrono_literals;
using agent::Errc;
using agent::HostState;
using agent::ProbeStatus;

std::size_t OpenDescriptors() {
  std::size_t n = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    (void)entry;
    ++n;
  }
  return n - 1;  // the iterator's own
}

agent::AgentOptions Options() {
  agent::AgentOptions o;
  o.timings.backoff_base = 100ms;
  o.timings.backoff_cap = 400ms;
  o.timings.circuit_first = 30s;  // the default: a failure must not retry within the test
  o.uniform = [] { return 0.5; };
  return o;
}

class AgentDescriptorTest : public ::testing::Test {
 protected:
  void StartFleet(std::uint32_t hosts, const std::vector<std::string>& extra = {}) {
    std::string error;
    ASSERT_TRUE(fleet_.Start(hosts, extra, error)) << error;
    hosts_ = EmittedHosts(fleet_, error);
    ASSERT_EQ(hosts_.size(), hosts) << error;
    for (auto& h : hosts_) {
      h.connect_timeout = 5s;
      h.probe_timeout = 5s;
      h.interval = 500ms;
    }
  }

  Fleetsim fleet_;
  std::vector<config::HostSpec> hosts_;
};

// The first connect creates what the io_context keeps for its life (Asio's resolver thread and
// its descriptors), so counts start once one host is ready; that host's session is one of them.
bool StartFirstAndWaitReady(AgentRunner& runner, const config::HostSpec& spec, Recorder& rec) {
  runner.Start(spec, rec.Sink(), Options());
  return rec.WaitFor([](const Recorder& r) { return r.CountStates(HostState::kReady) > 0; }, 30s);
}

TEST_F(AgentDescriptorTest, EachEstablishedSessionHoldsOneDescriptorAndClosingReleasesIt) {
  constexpr std::uint32_t kHosts = 25;
  StartFleet(kHosts);
  ASSERT_FALSE(HasFatalFailure());
  AgentRunner runner;
  std::vector<std::unique_ptr<Recorder>> recorders;
  recorders.push_back(std::make_unique<Recorder>());
  ASSERT_TRUE(StartFirstAndWaitReady(runner, hosts_[0], *recorders.back()));
  const std::size_t before = OpenDescriptors();  // with one session
  for (std::size_t i = 1; i < hosts_.size(); ++i) {
    recorders.push_back(std::make_unique<Recorder>());
    runner.Start(hosts_[i], recorders.back()->Sink(), Options());
  }
  for (auto& rec : recorders) {
    ASSERT_TRUE(
        rec->WaitFor([](const Recorder& r) { return r.CountResults(ProbeStatus::kOk) > 0; }, 30s));
  }
  // Every session is established and idle between probes: one socket each (two before, with
  // libssh's duplicate). A probe's channel adds no descriptor.
  const std::size_t during = OpenDescriptors();
  EXPECT_EQ(during - before, kHosts - 1)
      << "one session: " << before << " open; " << kHosts << " sessions: " << during;
  runner.Stop();
  EXPECT_EQ(OpenDescriptors(), before - 1) << "sessions closed by the collector leave descriptors";
}

TEST_F(AgentDescriptorTest, SessionsTheServerBreaksLeaveNoDescriptorBehind) {
  // The server drops each connection of hosts 1-6 after one command: libssh 0.10.6 gets
  // SSH_MSG_DISCONNECT and closes the descriptor itself, inside a call; the agents reconnect
  // over and over. Host 7 is healthy.
  StartFleet(7, {"--fault", "1-6=disconnect_after:1"});
  ASSERT_FALSE(HasFatalFailure());
  AgentRunner runner;
  Recorder healthy;
  ASSERT_TRUE(StartFirstAndWaitReady(runner, hosts_[6], healthy));
  const std::size_t before = OpenDescriptors();
  std::vector<std::unique_ptr<Recorder>> recorders;
  for (std::size_t i = 0; i < 6; ++i) {
    recorders.push_back(std::make_unique<Recorder>());
    runner.Start(hosts_[i], recorders.back()->Sink(), Options());
  }
  for (auto& rec : recorders) {
    // Three sessions established and lost per host.
    ASSERT_TRUE(rec->WaitFor(
        [](const Recorder& r) { return r.CountStates(HostState::kFingerprinting) >= 3; }, 30s));
  }
  runner.Stop();
  EXPECT_EQ(OpenDescriptors(), before - 1);
  std::lock_guard lock(recorders[0]->mu);
  EXPECT_NE(recorders[0]->FindState(HostState::kBackoff), recorders[0]->statuses.size())
      << "the sessions were lost, not kept";
}

// A directory that refuses writes even to root: a read-only tmpfs mount (removed at the end).
class ReadOnlyDir {
 public:
  ReadOnlyDir() : path_(MakeTempDir("ro-known-hosts")) {
    if (::geteuid() == 0) {
      mounted_ = ::mount("tmpfs", path_.c_str(), "tmpfs", MS_RDONLY, "size=64k") == 0;
    } else {
      std::filesystem::permissions(
          path_, std::filesystem::perms::owner_read | std::filesystem::perms::owner_exec);
      mounted_ = true;
    }
  }
  ~ReadOnlyDir() {
    if (::geteuid() == 0) {
      ::umount2(path_.c_str(), MNT_DETACH);
    } else {
      std::filesystem::permissions(path_, std::filesystem::perms::owner_all);
    }
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  ReadOnlyDir(const ReadOnlyDir&) = delete;
  ReadOnlyDir& operator=(const ReadOnlyDir&) = delete;
  [[nodiscard]] bool Ok() const { return mounted_; }
  [[nodiscard]] const std::filesystem::path& Path() const { return path_; }

 private:
  std::filesystem::path path_;
  bool mounted_ = false;
};

TEST_F(AgentDescriptorTest, AcceptNewThatCannotWriteKnownHostsOpensTheCircuitAndNamesTheFile) {
  StartFleet(1);
  ASSERT_FALSE(HasFatalFailure());
  ReadOnlyDir dir;
  ASSERT_TRUE(dir.Ok()) << "cannot make " << dir.Path() << " read-only";
  auto spec = hosts_[0];
  spec.known_hosts = (dir.Path() / "known_hosts").string();
  spec.host_key_policy = config::HostKeyPolicy::kAcceptNew;
  AgentRunner runner;
  Recorder rec;
  runner.Start(spec, rec.Sink(), Options());
  ASSERT_TRUE(rec.WaitFor(
      [](const Recorder& r) {
        return r.CountStates(HostState::kCircuitOpen) + r.CountStates(HostState::kBackoff) > 0;
      },
      15s));
  // Well past the short backoff (400 ms cap): a failure retried on it would have reconnected.
  std::this_thread::sleep_for(1500ms);
  runner.Stop();
  std::lock_guard lock(rec.mu);
  const auto failed = rec.FindState(HostState::kCircuitOpen);
  ASSERT_LT(failed, rec.statuses.size()) << "the failure must open the circuit, not back off";
  const auto& status = rec.statuses[failed];
  EXPECT_EQ(status.last_reason, Errc::kKnownHostsWrite);
  EXPECT_GE(status.retry_in, 30s);
  EXPECT_NE(status.detail.find(dir.Path().string()), std::string::npos) << status.detail;
  EXPECT_NE(status.detail.find("Read-only file system"), std::string::npos) << status.detail;
  EXPECT_EQ(rec.CountStates(HostState::kConnecting), 1u) << "no second handshake";
  EXPECT_EQ(rec.CountStates(HostState::kBackoff), 0u);
}

}  // namespace
}  // namespace fleetps::fleetsim::testing
