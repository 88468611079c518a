// Issue 5 scale acceptance: fleetsim starts 10,000 hosts in under 30 s, and fleetps HostAgents
// for all 10,000, on one io_context with two threads, each reach `ready` (connect, strict
// host-key check, auth, fingerprint) and deliver one ok process probe.
//
// Descriptors: fleetsim holds one per listener plus one per session, and this sandbox's hard
// RLIMIT_NOFILE is 20,000 (not raisable), so 10,000 listeners leave room for ~9,700 sessions,
// not 10,000. The agents therefore run in a rolling window: at most kWindow (5,000) agents live
// at once; each is stopped after its first ok probe (its session closes) and the next host's
// agent starts in its place. Every one of the 10,000 hosts is still connected, fingerprinted
// and probed by its own agent; only "all 10,000 sessions open at the same instant" is not
// exercised (fleetsim_scale_tests holds 5,000 idle sessions for that side).
//
// Stopped agents must release their connections, or fleetsim runs out of descriptors near host
// 9,990 and the test stops at the stall limit (see AgentBugClosedSessionsReleaseTheirConnection).
// Measured 2026-11-21, 2 loaded vCPUs, with that leak fixed locally: fleetsim ready in 0.22 s,
// all 10,000 ready after 55.8 s, all probed ok after 58.6 s, 0 failed connects.
#include <sys/resource.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <boost/json/parse.hpp>

#include "agent_test_support.hpp"
#include "fleetps/agent/errors.hpp"

namespace fleetps::fleetsim::testing {
namespace {

using namespace std::chrono_literals;
using agent::HostState;
using agent::ProbeStatus;

std::uint32_t EnvOr(const char* name, std::uint32_t fallback) {
  const char* env = std::getenv(name);
  return env != nullptr ? static_cast<std::uint32_t>(std::stoul(env)) : fallback;
}

// FLEETSIM_AGENT_SCALE_HOSTS / _WINDOW override the counts for local experiments.
const std::uint32_t kHosts = EnvOr("FLEETSIM_AGENT_SCALE_HOSTS", 10'000);
const std::uint32_t kWindow = EnvOr("FLEETSIM_AGENT_SCALE_WINDOW", 5'000);
// The collector's default `max_concurrent_handshakes`.
constexpr std::size_t kHandshakes = 64;
// Whole test budget (ctest TIMEOUT is 300 s): startup, then every host ready and probed.
constexpr auto kBudget = 240s;
// Give up early when no host made progress for this long (connect_timeout is 20 s).
constexpr auto kStall = 45s;

// Per-host progress, written on the agents' strands, read by the test thread.
struct Progress {
  std::atomic<std::uint32_t> ready{0};
  std::atomic<std::uint32_t> ok{0};
  std::atomic<std::uint32_t> exited{0};
  std::atomic<std::uint32_t> failed_connects{0};  // backoff or circuit_open (then retried)
  std::atomic<std::uint32_t> bad_probes{0};       // a non-ok probe on a ready session
  std::atomic<std::uint32_t> wrong_dialect{0};
  std::mutex mu;
  std::map<std::string, std::uint32_t> reasons;  // failure reason -> count (guarded by mu)
  std::atomic<std::int64_t> last_ready_ns{0};
  std::atomic<std::int64_t> last_ok_ns{0};
};

// One host's sink: counts the first ready and the first ok probe, then stops its agent.
struct HostSink {
  std::shared_ptr<Progress> progress;
  AgentRunner* runner = nullptr;
  std::size_t index = 0;
  std::string dialect;  // what fleet.yaml says; the agent must find the same by fingerprinting
  Clock::time_point t0;
  bool ready = false;
  bool done = false;

  static void Max(std::atomic<std::int64_t>& slot, std::int64_t v) {
    std::int64_t cur = slot.load();
    while (cur < v && !slot.compare_exchange_weak(cur, v)) {
    }
  }
  std::int64_t Since() const { return (Clock::now() - t0).count(); }

  void OnStatus(const agent::HostStatus& s) {
    if (s.state == HostState::kReady && !ready) {
      ready = true;
      progress->ready.fetch_add(1);
      Max(progress->last_ready_ns, Since());
      if (!s.dialect || probes::DialectName(*s.dialect) != dialect)
        progress->wrong_dialect.fetch_add(1);
    } else if (s.state == HostState::kBackoff || s.state == HostState::kCircuitOpen) {
      progress->failed_connects.fetch_add(1);
      std::lock_guard lock(progress->mu);
      ++progress->reasons[std::string(agent::StateName(s.state)) + ":" +
                          std::string(agent::ReasonName(s.last_reason))];
    }
  }
  void OnResult(const agent::ProbeResult& r) {
    if (done || !ready) return;  // ticks before ready are `error` by design
    if (r.status != ProbeStatus::kOk || !r.snapshot || r.snapshot->processes.empty()) {
      progress->bad_probes.fetch_add(1);
      std::lock_guard lock(progress->mu);
      ++progress->reasons[std::string("probe:") + std::string(agent::ProbeStatusName(r.status)) +
                          ":" + std::string(agent::ReasonName(r.reason))];
      return;
    }
    done = true;
    progress->ok.fetch_add(1);
    Max(progress->last_ok_ns, Since());
    runner->StopAgent(index);
  }
};

std::size_t OpenDescriptors() {
  return static_cast<std::size_t>(std::distance(
      std::filesystem::directory_iterator("/proc/self/fd"), std::filesystem::directory_iterator{}));
}

double Seconds(std::int64_t ns) { return static_cast<double>(ns) / 1e9; }

TEST(AgentScaleTest, TenThousandHostsEachReachReadyAndAnswerAnOkProbe) {
  rlimit nofile{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &nofile), 0);
  // This process needs a descriptor per live session; raise the soft limit to the hard one.
  nofile.rlim_cur = nofile.rlim_max;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &nofile), 0);
  ASSERT_GT(nofile.rlim_cur, kWindow + 256) << "not enough descriptors for the session window";

  Fleetsim fleet;
  std::string error;
  ASSERT_TRUE(
      fleet.Start(kHosts, {"--dialects", "linux-procps=70,busybox=10,aix=10,solaris=10"}, error))
      << error;
  std::printf("fleetsim: %u hosts ready in %.2f s\n", kHosts, fleet.StartupSeconds());
  EXPECT_LT(fleet.StartupSeconds(), 30.0);
  auto hosts = EmittedHosts(fleet, error);
  ASSERT_EQ(hosts.size(), kHosts) << error;

  agent::AgentOptions options;
  options.handshake_limiter = std::make_shared<agent::AsyncSemaphore>(kHandshakes);
  // One parsed known_hosts (10,000 lines) for the whole fleet, as the collector shares it.
  options.known_hosts = std::make_shared<agent::KnownHostsFile>(hosts.front().known_hosts);
  options.timings.backoff_base = 100ms;
  options.timings.backoff_cap = 2s;
  options.timings.circuit_first = 500ms;
  options.timings.circuit_cap = 2s;

  auto progress = std::make_shared<Progress>();
  const auto t0 = Clock::now();
  const auto give_up = t0 + kBudget -
                       std::chrono::duration_cast<Clock::duration>(
                           std::chrono::duration<double>(fleet.StartupSeconds()));
  std::uint32_t peak_live = 0;
  {
    AgentRunner runner(2);
    std::uint32_t launched = 0;
    auto last_log = Clock::now();
    auto last_progress = Clock::now();
    std::uint32_t last_done = 0;
    while (Clock::now() < give_up) {
      while (launched < kHosts && launched - progress->exited.load() < kWindow) {
        config::HostSpec spec = hosts[launched];
        auto sink = std::make_shared<HostSink>();
        sink->progress = progress;
        sink->runner = &runner;
        sink->index = launched;
        sink->dialect = spec.dialect;
        sink->t0 = t0;
        spec.dialect.clear();        // fingerprint and choose, as for a real host
        spec.connect_timeout = 20s;  // under a reconnect storm on 2 loaded cores
        spec.probe_timeout = 30s;
        spec.interval = 3s;  // first ok tick at most 3 s after ready; the agent stops after it
        spec.keepalive = 60s;
        agent::AgentSink agent_sink{[sink](const agent::HostStatus& s) { sink->OnStatus(s); },
                                    [sink](const agent::ProbeResult& r) { sink->OnResult(r); }};
        const std::size_t index = runner.Start(std::move(spec), std::move(agent_sink), options,
                                               [progress] { progress->exited.fetch_add(1); });
        ASSERT_EQ(index, launched);
        ++launched;
      }
      peak_live = std::max(peak_live, launched - progress->exited.load());
      if (progress->exited.load() == kHosts) break;
      if (const auto done = progress->ready.load() + progress->ok.load(); done != last_done) {
        last_done = done;
        last_progress = Clock::now();
      } else if (Clock::now() - last_progress > kStall) {
        const auto stats = HttpWithin(fleet.ControlPort(), "GET", "/stats", 2s);
        ADD_FAILURE() << "no progress for "
                      << std::chrono::duration_cast<std::chrono::seconds>(kStall).count()
                      << " s with " << launched - progress->exited.load()
                      << " agents live; fleetsim /stats "
                      << (stats.status == 200 ? stats.body : "did not answer (out of descriptors?)")
                      << "; this process has " << OpenDescriptors() << " descriptors open";
        break;
      }
      if (Clock::now() - last_log >= 10s) {
        last_log = Clock::now();
        std::printf("+%.0f s: launched %u ready %u ok %u stopped %u failed connects %u\n",
                    std::chrono::duration<double>(last_log - t0).count(), launched,
                    progress->ready.load(), progress->ok.load(), progress->exited.load(),
                    progress->failed_connects.load());
        std::fflush(stdout);
      }
      std::this_thread::sleep_for(5ms);
    }
    runner.Stop();
    EXPECT_EQ(runner.Crashes(), 0);
  }
  const double total = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf(
      "agents: %u hosts, window %u (peak %u live), %zu concurrent handshakes, 2 threads: "
      "all ready after %.2f s, all probed ok after %.2f s (%.0f hosts/s), %u failed connects, "
      "%u bad probes\n",
      kHosts, kWindow, peak_live, kHandshakes, Seconds(progress->last_ready_ns.load()),
      Seconds(progress->last_ok_ns.load()), kHosts / Seconds(progress->last_ok_ns.load()),
      progress->failed_connects.load(), progress->bad_probes.load());
  {
    std::lock_guard lock(progress->mu);
    for (const auto& [reason, n] : progress->reasons) std::printf("  %s: %u\n", reason.c_str(), n);
  }
  // Stopped agents closed their sessions: fleetsim sees them go, this process holds no sockets.
  std::uint64_t sessions_open = ~0ull;
  for (auto until = Clock::now() + 10s; Clock::now() < until; std::this_thread::sleep_for(100ms)) {
    const auto stats = HttpWithin(fleet.ControlPort(), "GET", "/stats", 2s);
    if (stats.status != 200) continue;
    sessions_open =
        boost::json::parse(stats.body).as_object().at("sessions_open").to_number<std::uint64_t>();
    if (sessions_open == 0) break;
  }
  EXPECT_EQ(sessions_open, 0u) << "sessions left open by stopped agents";
  const auto own_fds = OpenDescriptors();
  EXPECT_LT(own_fds, 64u) << "descriptors left open by stopped agents";
  const auto http = HttpWithin(fleet.ControlPort(), "GET", "/stats", 2s);
  std::printf("fleetsim /stats: %s\n(total %.1f s)\n", http.body.c_str(), total);
  ::testing::Test::RecordProperty("startup_seconds", std::to_string(fleet.StartupSeconds()));
  ::testing::Test::RecordProperty("all_ready_seconds",
                                  std::to_string(Seconds(progress->last_ready_ns.load())));
  ::testing::Test::RecordProperty("all_ok_seconds",
                                  std::to_string(Seconds(progress->last_ok_ns.load())));

  EXPECT_EQ(progress->ready.load(), kHosts) << "every host reaches ready";
  EXPECT_EQ(progress->ok.load(), kHosts) << "every host delivers an ok probe";
  EXPECT_EQ(progress->wrong_dialect.load(), 0u) << "fingerprinting finds fleet.yaml's dialect";
  EXPECT_EQ(progress->bad_probes.load(), 0u);
  EXPECT_EQ(progress->failed_connects.load(), 0u) << "loopback handshakes must not fail";
  EXPECT_LE(peak_live, kWindow);
}

}  // namespace
}  // namespace fleetps::fleetsim::testing
