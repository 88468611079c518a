// 10,000 simulated hosts start in under 30 s, and a client that is not fleetps' agent gets
// answers from every 4th of them (2,500) over SSH, and holds those sessions open. Every one of
// the 10,000 answering a probe is AgentScaleTest's part (fleetps' agent, both channel modes);
// here 10,000 more handshakes by a second client would cost about 90 s of CI for no new fact.
// The client is a small blocking libssh client on a few threads (an OpenSSH process per host
// would cost minutes); it checks each host key against the emitted known_hosts.
#include <sys/resource.h>
#include <gtest/gtest.h>
#include <libssh/libssh.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "fleetps/probes/dialect.hpp"
#include "fleetps/probes/process.hpp"
#include "libssh_client.hpp"
#include "test_support.hpp"

namespace fleetps::fleetsim::testing {
namespace {

// FLEETSIM_SCALE_HOSTS and FLEETSIM_SCALE_STRIDE (1: every host) override the host count and
// the sample for local experiments.
std::uint32_t EnvOr(const char* name, std::uint32_t fallback) {
  const char* env = std::getenv(name);
  return env != nullptr ? static_cast<std::uint32_t>(std::stoul(env)) : fallback;
}
const std::uint32_t kHosts = EnvOr("FLEETSIM_SCALE_HOSTS", 10'000);
const std::uint32_t kStride = std::max(1u, EnvOr("FLEETSIM_SCALE_STRIDE", 4));
const std::uint32_t kSampled = (kHosts + kStride - 1) / kStride;  // hosts 1, 1 + stride, ...
constexpr int kThreads = 4;
// Sessions kept open at the end. fleetsim needs a descriptor per listener and per session;
// with a hard RLIMIT_NOFILE of 20,000 (this CI machine) 10,000 listeners leave room for ~9,700.
constexpr std::uint32_t kHeld = 5'000;
constexpr std::string_view kNonce = "0badc0ffee15900d";

TEST(FleetsimScaleTest, TenThousandHostsStartQuicklyAndASampleAnswersAProbe) {
  rlimit limit{};
  ::getrlimit(RLIMIT_NOFILE, &limit);
  limit.rlim_cur = limit.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &limit);
  ASSERT_GE(limit.rlim_cur, kHosts + 256) << "the client side needs one descriptor per session";

  Fleetsim fleet;
  std::string error;
  ASSERT_TRUE(
      fleet.Start(kHosts, {"--dialects", "linux-procps=70,busybox=10,aix=10,solaris=10"}, error))
      << error;
  std::cout << "fleetsim: " << kHosts << " hosts ready in " << fleet.StartupSeconds() << " s\n";
  EXPECT_LT(fleet.StartupSeconds(), 30.0);

  ssh_init();
  ssh_key identity = nullptr;
  ASSERT_EQ(
      ssh_pki_import_privkey_file(fleet.Identity().c_str(), nullptr, nullptr, nullptr, &identity),
      SSH_OK);

  std::vector<SessionPtr> sessions(kSampled);
  std::atomic<std::uint32_t> next{0};
  std::atomic<int> probed{0};
  std::mutex failures_mutex;
  std::vector<std::string> failures;
  const auto started = std::chrono::steady_clock::now();
  auto worker = [&] {
    for (std::uint32_t i = next++; i < kSampled; i = next++) {
      const std::uint32_t n = 1 + i * kStride;
      std::string why;
      SessionPtr session = Connect(fleet.Port(n), fleet, identity, why);
      if (session) {
        const auto fp = probes::ParseFingerprint(Exec(session.get(), probes::FingerprintScript()));
        if (!fp.ok()) {
          why = "fingerprint: " + fp.error;
        } else {
          // Every sampled host answers the fingerprint probe; every 7th also the full
          // process probe (~70 KB each), which keeps the client's share of two cores affordable.
          // (Every 10th would meet only linux-procps and aix: fleetsim's dialect hash of
          // 1 + 40 k takes five values.)
          const auto dialect = probes::ChooseDialect(fp.fingerprint);
          if (i % 7 == 0) {
            const auto out =
                Exec(session.get(), probes::ProcessProbeScript(dialect, fp.fingerprint, kNonce));
            const auto parsed = probes::ParseProcessProbe(dialect, fp.fingerprint, out, kNonce);
            if (!parsed.ok() || parsed.snapshot.processes.size() < 10) {
              why = "probe: " + parsed.error;
            }
          }
          if (why.empty()) {
            ++probed;
          }
        }
      }
      if (!why.empty()) {
        std::lock_guard lock(failures_mutex);
        failures.push_back("sim" + std::to_string(n) + ": " + why);
      }
      if (i < kHeld) {
        sessions[i] = std::move(session);  // Kept open for the idle-session figures.
      }
    }
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::cout << "probed " << probed << " of " << kHosts << " hosts, every " << kStride
            << "th (connect, fingerprint; process probe on 1 in 7) in " << seconds << " s\n";
  EXPECT_EQ(probed.load(), static_cast<int>(kSampled));
  for (std::size_t i = 0; i < std::min<std::size_t>(failures.size(), 10); ++i) {
    ADD_FAILURE() << failures[i];
  }

  // Closed sessions leave fleetsim as soon as it reads their EOF; give it a moment.
  const std::string held = "\"sessions_open\":" + std::to_string(std::min(kSampled, kHeld)) + ",";
  HttpResult stats;
  for (int i = 0; i < 50; ++i) {
    stats = Http(fleet.ControlPort(), "GET", "/stats");
    if (stats.body.find(held) != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::cout << "fleetsim stats with every session open and idle: " << stats.body;
  EXPECT_NE(stats.body.find(held), std::string::npos) << stats.body;
  ssh_key_free(identity);
}

}  // namespace
}  // namespace fleetps::fleetsim::testing
