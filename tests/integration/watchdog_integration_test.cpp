// The host-side probe watchdog through real SSH servers (DESIGN.md section 3: nothing a probe
// starts outlives its deadline on the host). The probe user's processes are sampled with the
// machine's ps from outside the server's session.
//  - HungPs: a host whose ps never answers; a HostAgent keeps probing it. Each probe times out,
//    and its shell, the stuck ps and the watchdog must be gone before the next one starts.
//  - LoginShells: `kill -9 0` must end exactly the probe under every login shell, on a
//    connection that keeps working afterwards.
//  - Neighbour: what else the kill reaches on the same connection (nothing with OpenSSH; the
//    connection's other channels with dropbear).
// Each runs for OpenSSH's sshd and for dropbear.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>

#include "agent_runner.hpp"
#include "fleetps/agent/host_agent.hpp"
#include "fleetps/agent/ssh_session.hpp"
#include "fleetps/probes/dialect.hpp"
#include "test_host.hpp"

namespace fleetps::agent {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
using testing::TestHost;

constexpr const char* kUser = "fleetps-wd";

using testing::Await;

// The probe user's live processes by process group: pgid -> "pid args" lines. The servers' own
// processes (sshd's `sshd: user@notty`, dropbear) are not the probe's; zombies are already dead.
std::map<long, std::vector<std::string>> ProbeGroups() {
  std::map<long, std::vector<std::string>> groups;
  const std::string cmd = std::string("ps -u ") + kUser + " -o pid=,pgid=,stat=,args= 2>/dev/null";
  FILE* ps = ::popen(cmd.c_str(), "r");
  if (ps == nullptr) return groups;
  char line[4096];
  while (std::fgets(line, sizeof line, ps) != nullptr) {
    std::istringstream in(line);
    long pid = 0, pgid = 0;
    std::string stat, args;
    in >> pid >> pgid >> stat;
    std::getline(in >> std::ws, args);
    if (!args.empty() && args.back() == '\n') args.pop_back();
    if (stat.empty() || stat[0] == 'Z' || args.rfind("sshd:", 0) == 0 ||
        args.find("dropbear") != std::string::npos) {
      continue;
    }
    groups[pgid].push_back(std::to_string(pid) + " " + args);
  }
  ::pclose(ps);
  return groups;
}

std::string Describe(const std::map<long, std::vector<std::string>>& groups) {
  std::string s;
  for (const auto& [pgid, procs] : groups) {
    s += "pgid " + std::to_string(pgid) + ":\n";
    for (const auto& p : procs) s += "  " + p + "\n";
  }
  return s;
}

// Waits up to `limit` for the probe user to have no process left; returns what is left.
std::map<long, std::vector<std::string>> AwaitNoProbeProcesses(Clock::duration limit) {
  const auto end = Clock::now() + limit;
  for (;;) {
    auto groups = ProbeGroups();
    if (groups.empty() || Clock::now() >= end) return groups;
    std::this_thread::sleep_for(100ms);
  }
}

// Ends whatever the probe user still runs, so that a failed test does not leave hung probes to
// the next one (the user is this file's own).
void KillLeftovers() {
  for (const auto& [pgid, procs] : ProbeGroups()) {
    for (const auto& p : procs) ::kill(static_cast<pid_t>(std::stol(p)), SIGKILL);
  }
}

// A dialect-emulator directory (tests/emulators/isolate) whose usr/bin/ps is overlaid onto
// /usr/bin/ps in the server's mount namespace: works for dropbear too, which ignores
// `--path-prefix`. The process table never comes (a ps stuck on NFS); the fingerprint's two
// questions get procps answers, so the agent reaches ready and runs the linux-procps probe.
class HungPsEmulator {
 public:
  HungPsEmulator() {
    char tmpl[] = "/tmp/fleetps-hungps-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp");
    root_ = tmpl;
    fs::create_directories(Dir() / "usr" / "bin");
    std::ofstream(Dir() / "usr" / "bin" / "ps")
        << "#!/bin/sh\n"
           "case \"$1\" in\n"
           "  --version) echo 'ps from procps-ng 4.0.2'; exit 0 ;;\n"
           "  -o) if [ \"$2\" = pid= ] && [ \"$3\" = -p ]; then printf '%5s\\n' \"$4\"; exit 0; fi "
           ";;\n"
           "esac\n"
           "sleep 100000\n";
    for (const fs::path& p :
         {root_, Dir(), Dir() / "usr", Dir() / "usr" / "bin", Dir() / "usr" / "bin" / "ps"}) {
      ::chmod(p.c_str(), 0755);  // the probe user runs it
    }
  }
  ~HungPsEmulator() {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  HungPsEmulator(const HungPsEmulator&) = delete;
  HungPsEmulator& operator=(const HungPsEmulator&) = delete;

  // Not named busybox*: isolate hides the machine's /proc, as on a non-Linux host.
  [[nodiscard]] fs::path Dir() const { return root_ / "hung"; }

 private:
  fs::path root_;
};

using testing::AgentRunner;

class WatchdogHungPsTest : public ::testing::TestWithParam<std::string> {};

// probe_timeout 2 s, interval 3 s: each probe hangs in ps and times out at the agent, which
// closes that probe's channel (the session stays). Without the watchdog every hung probe stays
// on the host (its shell, the ps and the ps's sleep) and they pile up; with it, the host kills
// each one ~2 s after it started, before the next tick, and the agent starts no run on the
// host before that.
TEST_P(WatchdogHungPsTest, HungProbesNeverPileUpAndNoneOutlivesTheAgent) {
  HungPsEmulator emulator;
  TestHost host(
      TestHost::Options{.server = GetParam(), .user = kUser, .emulator = emulator.Dir().string()});
  ASSERT_TRUE(AwaitNoProbeProcesses(2s).empty()) << "the probe user is busy before the test";
  config::HostSpec spec = host.Spec("watchdog-hung-ps");
  spec.interval = 3s;
  spec.probe_timeout = 2s;

  std::mutex mu;
  int timeouts = 0, ready = 0;
  AgentSink sink{[&](const HostStatus& s) {
                   std::lock_guard lock(mu);
                   if (s.state == HostState::kReady) ++ready;
                 },
                 [&](const ProbeResult& r) {
                   std::lock_guard lock(mu);
                   if (r.status == ProbeStatus::kTimeout) ++timeouts;
                 }};
  AgentOptions options;
  options.timings.backoff_base = 400ms;
  options.timings.backoff_cap = 1s;
  options.uniform = [] { return 0.5; };

  AgentRunner runner;
  runner.Start(spec, sink, options);
  std::size_t most_groups = 0, most_hung = 0;
  std::string worst;
  // The stuck ps's sleeps seen, by pid: with dropbear every channel of the connection shares
  // one process group, so groups cannot tell one probe from the next.
  std::set<long> hung;
  // Each hung probe costs probe_timeout, then the agent waits for the host's watchdog to have
  // fired (about 1 s more) before it runs anything else on the host.
  const auto end = Clock::now() + 20s;
  while (Clock::now() < end) {
    const auto groups = ProbeGroups();
    std::size_t hung_now = 0;
    for (const auto& [pgid, procs] : groups) {
      for (const std::string& p : procs) {
        if (p.find("sleep 100000") == std::string::npos) continue;
        ++hung_now;
        hung.insert(std::stol(p));
      }
    }
    if (groups.size() > most_groups || hung_now > most_hung) {
      most_groups = std::max(most_groups, groups.size());
      most_hung = std::max(most_hung, hung_now);
      worst = Describe(groups);
    }
    std::this_thread::sleep_for(200ms);
  }
  runner.Stop();
  const auto left = AwaitNoProbeProcesses(spec.probe_timeout + 2s);

  EXPECT_LE(most_groups, 1u) << "processes of more than one probe at once:\n" << worst;
  EXPECT_LE(most_hung, 1u) << "processes of more than one probe at once:\n" << worst;
  EXPECT_GE(hung.size(), 3u) << "the test must see at least three hung probes";
  {
    std::lock_guard lock(mu);
    EXPECT_EQ(ready, 1) << "the fingerprint must pass (only the process table hangs), and a "
                           "timed-out probe costs its channel, not the session";
    EXPECT_GE(timeouts, 3);
  }
  EXPECT_TRUE(left.empty()) << "probe processes outlived the agent by probe_timeout + 2 s:\n"
                            << Describe(left);
  KillLeftovers();
}

INSTANTIATE_TEST_SUITE_P(Servers, WatchdogHungPsTest, ::testing::Values("sshd", "dropbear"),
                         [](const auto& p) { return p.param; });

struct LoginCase {
  const char* server;
  const char* shell;
};

void PrintTo(const LoginCase& c, std::ostream* os) { *os << c.server << " " << c.shell; }

class WatchdogLoginShellTest : public ::testing::TestWithParam<LoginCase> {};

// The session's process group is the probe's: `kill -9 0` ends the script, its children and a
// login shell (csh, tcsh) that ran `/bin/sh -s` as a child, never the server (the same
// connection runs the next script), and a script that finishes first leaves nothing behind.
TEST_P(WatchdogLoginShellTest, DeadlineKillsExactlyTheProbe) {
  const LoginCase c = GetParam();
  // scripts/setup installs every shell of this list: a missing one is a broken setup.
  ASSERT_EQ(::access(c.shell, X_OK), 0) << c.shell << " is not installed (scripts/setup)";
  TestHost host(TestHost::Options{.server = c.server, .user = kUser, .shell = c.shell});
  ASSERT_TRUE(AwaitNoProbeProcesses(2s).empty());
  asio::io_context io;
  SshSession session(io.get_executor());
  ASSERT_FALSE(Await(io, session.Connect(host.Spec("watchdog-login"), Clock::now() + 10s)));

  RunOptions options;
  options.channel = testing::TestChannelMode();
  options.deadline = Clock::now() + 8s;
  const auto start = Clock::now();
  auto hung = Await(
      io, session.RunScript(probes::WithWatchdog(
                                "fp_n=0123456789abcdef\necho start\nsleep 1000\necho never\n", 1s),
                            options));
  const auto took = Clock::now() - start;
  if (options.channel == ChannelMode::kShell) {
    // The group killed is the persistent shell's: the run ends as shell_failed, and the next
    // run below opens a new shell on the same connection.
    ASSERT_FALSE(hung);
    EXPECT_EQ(hung.error(), Errc::kShellFailed);
  } else {
    ASSERT_TRUE(hung) << ReasonName(hung.error());
    EXPECT_EQ(hung->out, "start\n");
    EXPECT_EQ(hung->exit_signal, "KILL");
  }
  EXPECT_GE(took, 900ms);
  EXPECT_LT(took, 4s)
      << "the channel must close when the watchdog fires, not at the agent's deadline";
  const auto after_kill = AwaitNoProbeProcesses(2s);
  EXPECT_TRUE(after_kill.empty()) << Describe(after_kill);

  options.deadline = Clock::now() + 8s;
  auto done = Await(
      io, session.RunScript(
              probes::WithWatchdog(
                  "fp_n=0123456789abcdef\necho out\nls / >/dev/null\necho err >&2\n(exit 7)\n", 5s),
              options));
  ASSERT_TRUE(done) << "the connection must survive the kill: " << ReasonName(done.error());
  EXPECT_EQ(done->out, "out\n");
  EXPECT_EQ(done->err, "err\n");
  EXPECT_EQ(done->exit_status, 7);
  EXPECT_LT(done->duration, 3s);
  // The persistent shell itself stays until its channel closes: close it, then nothing may be
  // left either. The script's end disarms the watchdog, whose own sleep lasts the 5 s deadline:
  // everything gone within 3 s proves the disarm, and the wait ends when it is gone (a fixed
  // second could be too short on a loaded machine).
  if (options.channel == ChannelMode::kShell) session.Close();
  const auto after_done = AwaitNoProbeProcesses(3s);
  EXPECT_TRUE(after_done.empty()) << "3 s after the script:\n" << Describe(after_done);
  session.Close();
  KillLeftovers();
}

// What `kill -9 0` reaches besides the probe: with OpenSSH nothing (each channel's shell leads
// its own session and group); dropbear 2022.83 calls no setsid for a command without a pty, so
// every channel of a connection shares the group of dropbear's per-connection process and a
// watchdog that fires also ends the connection's other channels. The agent has given up such a
// connection by then (the host deadline passes after the agent's), so this pins what the
// watchdog's documentation says rather than a wish.
class WatchdogNeighbourTest : public ::testing::TestWithParam<std::string> {};

TEST_P(WatchdogNeighbourTest, WhatTheKillReachesOnTheSameConnection) {
  TestHost host(TestHost::Options{.server = GetParam(), .user = kUser});
  asio::io_context io;
  SshSession session(io.get_executor());
  ASSERT_FALSE(Await(io, session.Connect(host.Spec("watchdog-neighbour"), Clock::now() + 10s)));
  RunOptions options;
  options.deadline = Clock::now() + 8s;
  const std::string hung = probes::WithWatchdog("fp_n=0123456789abcdef\nsleep 1000\n", 1s);
  const std::string neighbour =
      probes::WithWatchdog("fp_n=0123456789abcdef\nsleep 3\necho done\n", 10s);
  using Result = boost::system::result<CommandOutput>;
  auto both = [&]() -> asio::awaitable<std::pair<Result, Result>> {
    using namespace asio::experimental::awaitable_operators;
    auto [a, b] =
        co_await (session.RunScript(hung, options) && session.RunScript(neighbour, options));
    co_return std::pair<Result, Result>{std::move(a), std::move(b)};
  };
  const auto [a, b] = Await(io, both());
  ASSERT_TRUE(a) << ReasonName(a.error());
  EXPECT_EQ(a->exit_signal, "KILL");
  ASSERT_TRUE(b) << ReasonName(b.error());
  if (GetParam() == "sshd") {
    EXPECT_EQ(b->out, "done\n");
    EXPECT_EQ(b->exit_status, 0);
  } else {
    EXPECT_EQ(b->out, "") << "dropbear: the neighbour channel shares the group";
    EXPECT_EQ(b->exit_signal, "KILL");
  }
  session.Close();
  KillLeftovers();
}

INSTANTIATE_TEST_SUITE_P(Servers, WatchdogNeighbourTest, ::testing::Values("sshd", "dropbear"),
                         [](const auto& p) { return p.param; });

INSTANTIATE_TEST_SUITE_P(ServersAndShells, WatchdogLoginShellTest, ::testing::ValuesIn([] {
                           std::vector<LoginCase> cases;
                           for (const char* server : {"sshd", "dropbear"}) {
                             for (const char* shell :
                                  {"/bin/sh", "/bin/ksh93", "/usr/bin/mksh", "/usr/bin/yash",
                                   "/bin/bash", "/bin/csh", "/usr/bin/tcsh"}) {
                               cases.push_back({server, shell});
                             }
                           }
                           return cases;
                         }()),
                         [](const auto& p) {
                           std::string shell = p.param.shell;
                           shell = shell.substr(shell.rfind('/') + 1);
                           return std::string(p.param.server) + "_" +
                                  (shell == "sh" ? std::string("sh_dash") : shell);
                         });

}  // namespace
}  // namespace fleetps::agent
