#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <gtest/gtest.h>

#include "agent_runner.hpp"
#include "fleetps/agent/host_agent.hpp"
#include "test_host.hpp"

namespace fleetps::agent {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
using testing::TestHost;

using testing::AgentRunner;
using testing::Recorder;

AgentOptions FastOptions() { return testing::FastAgentOptions(); }

void ExpectGapFree(const std::vector<ProbeResult>& results) {
  for (std::size_t i = 0; i < results.size(); ++i) {
    ASSERT_EQ(results[i].seq, i) << "seq must be gap-free and duplicate-free";
  }
}

TEST(HostAgentTest, ReachesReadyFingerprintsAndProbesOnSchedule) {
  TestHost host;
  auto spec = host.Spec("agent-ready");
  spec.interval = 500ms;
  Recorder rec;
  AgentRunner runner;
  runner.Start(spec, rec.Sink(), FastOptions());
  ASSERT_TRUE(rec.WaitFor(
      [](Recorder& r) {
        return std::count_if(r.results.begin(), r.results.end(), [](const ProbeResult& p) {
                 return p.status == ProbeStatus::kOk;
               }) >= 3;
      },
      20s));
  runner.Stop();
  std::vector<std::string> states;
  for (const auto& s : rec.statuses) states.emplace_back(StateName(s.state));
  ASSERT_GE(states.size(), 3u);
  EXPECT_EQ(states[0], "connecting");
  EXPECT_EQ(states[1], "fingerprinting");
  EXPECT_EQ(states[2], "ready");
  const HostStatus& ready = rec.statuses[2];
  EXPECT_EQ(ready.epoch, 1u);
  ASSERT_TRUE(ready.dialect.has_value());
  EXPECT_EQ(probes::DialectName(*ready.dialect), "linux-procps");
  ASSERT_TRUE(ready.fingerprint.has_value());
  EXPECT_EQ(ready.fingerprint->os, "Linux");
  EXPECT_EQ(ready.server.hostkey_type, "ssh-ed25519");
  ExpectGapFree(rec.results);
  const auto ok = std::find_if(rec.results.begin(), rec.results.end(),
                               [](const ProbeResult& p) { return p.status == ProbeStatus::kOk; });
  ASSERT_NE(ok, rec.results.end());
  ASSERT_TRUE(ok->snapshot);
  EXPECT_FALSE(ok->snapshot->processes.empty());
  EXPECT_EQ(ok->session_epoch, 1u);
  EXPECT_GT(ok->raw_bytes, 0u);
}

TEST(HostAgentTest, DialectFromConfigOverridesTheFingerprint) {
  TestHost host;
  auto spec = host.Spec("agent-dialect");
  spec.dialect = "busybox";
  Recorder rec;
  AgentRunner runner;
  runner.Start(spec, rec.Sink(), FastOptions());
  ASSERT_TRUE(rec.WaitFor(
      [](Recorder& r) {
        return std::any_of(r.statuses.begin(), r.statuses.end(),
                           [](const HostStatus& s) { return s.state == HostState::kReady; });
      },
      20s));
  runner.Stop();
  const auto ready = std::find_if(rec.statuses.begin(), rec.statuses.end(),
                                  [](const HostStatus& s) { return s.state == HostState::kReady; });
  EXPECT_EQ(probes::DialectName(ready->dialect.value()), "busybox");
}

TEST(HostAgentTest, ServerRestartGivesBackoffThenANewEpochWithoutSeqGaps) {
  TestHost host;
  auto spec = host.Spec("agent-restart");
  spec.interval = 300ms;
  spec.keepalive = 1s;
  Recorder rec;
  AgentRunner runner;
  runner.Start(spec, rec.Sink(), FastOptions());
  auto ready_count = [](Recorder& r) {
    return std::count_if(r.statuses.begin(), r.statuses.end(),
                         [](const HostStatus& s) { return s.state == HostState::kReady; });
  };
  ASSERT_TRUE(rec.WaitFor([&](Recorder& r) { return ready_count(r) == 1; }, 20s));
  host.Stop();  // kills sshd and its session processes: the connection drops
  ASSERT_TRUE(rec.WaitFor(
      [](Recorder& r) {
        return std::any_of(r.statuses.begin(), r.statuses.end(),
                           [](const HostStatus& s) { return s.state == HostState::kBackoff; });
      },
      10s));
  std::this_thread::sleep_for(1s);  // a few failed reconnects while it is down
  host.Start();
  ASSERT_TRUE(rec.WaitFor([&](Recorder& r) { return ready_count(r) == 2; }, 20s));
  ASSERT_TRUE(rec.WaitFor(
      [](Recorder& r) {
        return !r.results.empty() && r.results.back().status == ProbeStatus::kOk &&
               r.results.back().session_epoch == 2;
      },
      10s));
  runner.Stop();
  const auto second =
      std::find_if(rec.statuses.rbegin(), rec.statuses.rend(),
                   [](const HostStatus& s) { return s.state == HostState::kReady; });
  EXPECT_EQ(second->epoch, 2u);
  const auto backoff =
      std::find_if(rec.statuses.begin(), rec.statuses.end(),
                   [](const HostStatus& s) { return s.state == HostState::kBackoff; });
  EXPECT_TRUE(backoff->last_reason) << "backoff carries the failure reason";
  ExpectGapFree(rec.results);
  EXPECT_TRUE(std::any_of(rec.results.begin(), rec.results.end(), [](const ProbeResult& p) {
    return p.status == ProbeStatus::kError;
  })) << "ticks while down still yield a result";
}

TEST(HostAgentTest, WrongUserKeyOpensTheCircuitAndSpacesRetries) {
  TestHost host;
  auto spec = host.Spec("agent-circuit");
  const auto wrong = host.Dir() / "wrong_key";
  testing::Shell("ssh-keygen -q -t ed25519 -N '' -f " + wrong.string());
  spec.identity_file = wrong.string();
  Recorder rec;
  AgentRunner runner;
  runner.Start(spec, rec.Sink(), FastOptions());
  auto opens = [](Recorder& r) {
    return std::count_if(r.statuses.begin(), r.statuses.end(),
                         [](const HostStatus& s) { return s.state == HostState::kCircuitOpen; });
  };
  ASSERT_TRUE(rec.WaitFor([&](Recorder& r) { return opens(r) >= 3; }, 20s));
  runner.Stop();
  std::vector<Clock::time_point> open_times, connect_times;
  for (std::size_t i = 0; i < rec.statuses.size(); ++i) {
    const auto& s = rec.statuses[i];
    if (s.state == HostState::kCircuitOpen) {
      EXPECT_EQ(s.last_reason, Errc::kAuthDenied);
      open_times.push_back(rec.status_times[i]);
    }
    if (s.state == HostState::kConnecting) connect_times.push_back(rec.status_times[i]);
  }
  ASSERT_GE(open_times.size(), 3u);
  ASSERT_GE(connect_times.size(), 3u);
  // Cool-downs are 1 s * 1.1 and 2 s * 1.1 with the fixed jitter source: retries are spaced.
  EXPECT_GE(connect_times[1] - open_times[0], 1050ms);
  EXPECT_GE(connect_times[2] - open_times[1], 2150ms);
  EXPECT_EQ(rec.statuses[1].state, HostState::kCircuitOpen) << "no fingerprinting before auth";
}

}  // namespace
}  // namespace fleetps::agent
