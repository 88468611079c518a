// ChannelMode::kShell against real servers: one persistent `/bin/sh -s` channel per session,
// framed runs, and what ends a shell (timeouts, too_large, a dying shell); then the host agent's
// `probe_channel: auto` falling back to exec on a host whose forced command is no shell.
#include <pwd.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <future>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>

#include "agent_runner.hpp"
#include "fleetps/agent/host_agent.hpp"
#include "fleetps/agent/shell_totals.hpp"
#include "fleetps/agent/ssh_session.hpp"
#include "fleetps/probes/dialect.hpp"
#include "test_host.hpp"

namespace fleetps::agent {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
using Result = boost::system::result<CommandOutput>;
using testing::TestHost;

using testing::Await;

RunOptions Shell(Clock::duration timeout = 10s, std::uint64_t limit = 1 << 20) {
  RunOptions o;
  o.channel = ChannelMode::kShell;
  o.deadline = Clock::now() + timeout;
  o.output_limit = limit;
  return o;
}

std::string Describe(const Result& r) {
  if (!r) return std::string(ReasonName(r.error()));
  return "out=[" + r->out + "] err=[" + r->err +
         "] rc=" + std::to_string(r->exit_status.value_or(-1));
}

class ShellChannelTest : public ::testing::TestWithParam<std::string> {
 protected:
  explicit ShellChannelTest(unsigned channels = 2)
      : host_(TestHost::Options{.server = GetParam(), .user = "fleetps-shell"}),
        session_(io_.get_executor()) {
    spec_ = host_.Spec("shell");
    spec_.max_channels_per_host = channels;
  }
  void SetUp() override {
    const auto ec = Await(io_, session_.Connect(spec_, Clock::now() + 10s));
    ASSERT_FALSE(ec) << ReasonName(ec);
  }
  Result Run(const std::string& script, RunOptions options = Shell()) {
    return Await(io_, session_.RunScript(script, options));
  }

  asio::io_context io_;
  TestHost host_;
  config::HostSpec spec_;
  SshSession session_;
};

TEST_P(ShellChannelTest, ManyRunsShareOneShellWithByteExactOutput) {
  struct Case {
    std::string script, out, err;
    int rc;
  };
  const std::vector<Case> cases = {
      {"echo out; echo err >&2\n", "out\n", "err\n", 0},
      {"printf abc; printf 'no newline' >&2; exit 3\n", "abc", "no newline", 3},
      {"true\n", "", "", 0},
      {"printf '\\n\\n'; (exit 255)\n", "\n\n", "", 255},
      {"cd /; echo $PWD", "/\n", "", 0},  // no newline at the end of the script
      // The cd above ended with its subshell; stdin is /dev/null, not the rest of the frame.
      {"test \"$PWD\" = / || echo home; read x; echo \"[$x]\"\n", "home\n[]\n", "", 0},
  };
  for (int round = 0; round < 5; ++round) {
    for (const Case& c : cases) {
      const Result r = Run(c.script);
      ASSERT_TRUE(r) << c.script << ": " << ReasonName(r.error());
      EXPECT_EQ(r->out, c.out) << c.script;
      EXPECT_EQ(r->err, c.err) << c.script;
      EXPECT_EQ(r->exit_status, c.rc) << c.script;
      EXPECT_EQ(r->bytes, c.out.size() + c.err.size());
    }
  }
  const ShellStats stats = session_.Shell();
  EXPECT_TRUE(stats.open);
  EXPECT_EQ(stats.opened, 1u) << "every run on the one shell channel";
  EXPECT_EQ(stats.stray_bytes, 0u);
}

TEST_P(ShellChannelTest, AnEndMarkerWithAnotherTokenIsOutput) {
  const std::string fake = "@@FLEETPS 0123456789abcdef0123456789abcdef EXIT";
  const Result r = Run("echo; echo '" + fake + " rc=0'; echo >&2; echo '" + fake +
                       "' >&2; sleep 1; echo after; echo after >&2\n");
  ASSERT_TRUE(r) << ReasonName(r.error());
  EXPECT_EQ(r->out, "\n" + fake + " rc=0\nafter\n");
  EXPECT_EQ(r->err, "\n" + fake + "\nafter\n");
  EXPECT_EQ(session_.Shell().opened, 1u);
}

TEST_P(ShellChannelTest, TooLargeEndsTheShellNotTheSession) {
  const Result big = Run("head -c 1000000 /dev/zero\n", Shell(10s, 100000));
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error(), Errc::kTooLarge);
  EXPECT_TRUE(session_.IsUsable());
  EXPECT_FALSE(session_.Shell().open);
  const Result next = Run("echo next\n");
  ASSERT_TRUE(next) << ReasonName(next.error());
  EXPECT_EQ(next->out, "next\n");
  EXPECT_EQ(session_.Shell().opened, 2u);
  // Exactly at the limit is not too large (the end markers do not count).
  const Result exact = Run("head -c 1000 /dev/zero; head -c 24 /dev/zero >&2\n", Shell(10s, 1024));
  ASSERT_TRUE(exact) << ReasonName(exact.error());
  EXPECT_EQ(exact->bytes, 1024u);
}

TEST_P(ShellChannelTest, TooLargeOnAnExecChannelCostsOnlyTheChannel) {
  RunOptions exec = Shell(10s, 100000);
  exec.channel = ChannelMode::kExec;
  // Stderr after most of the window's stdout is what made libssh send a window adjust after its
  // close, which dropbear answered by ending the connection.
  const Result big = Run("head -c 1000000 /dev/zero; echo end >&2\n", exec);
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error(), Errc::kTooLarge);
  EXPECT_TRUE(session_.IsUsable());
  exec.output_limit = 1 << 20;
  const Result next = Run("echo next\n", exec);
  ASSERT_TRUE(next) << ReasonName(next.error());
  EXPECT_EQ(next->out, "next\n");
}

TEST_P(ShellChannelTest, ATimeoutCostsTheProbeNotTheSession) {
  // A sleep nobody else runs, so that the check below sees only this one.
  const std::string sleeper = "sleep 4711";
  const auto started = Clock::now();
  const Result hung = Run(
      probes::WithWatchdog("fp_n=0123456789abcdef\necho start\n" + sleeper + "\n", 2s), Shell(2s));
  ASSERT_FALSE(hung);
  EXPECT_EQ(hung.error(), Errc::kTimeout);
  EXPECT_LT(Clock::now() - started, 3s);
  EXPECT_TRUE(session_.IsUsable()) << "a timeout must not poison the session";
  // The host-side watchdog (2 s, armed after the run started) has surely fired by now + 1.5 s.
  // Wait for it first, as HostAgent does: dropbear puts every channel of a session in one
  // process group, so the watchdog's `kill -9 0` would also take a shell opened before it fired
  // (seen once in CI: the next run ended shell_failed).
  std::this_thread::sleep_for(1500ms);
  const Result next = Run("echo alive\n");
  ASSERT_TRUE(next) << ReasonName(next.error());
  EXPECT_EQ(next->out, "alive\n");
  EXPECT_EQ(session_.Shell().opened, 2u) << "the timed-out shell was closed, a new one opened";
  const Result ps = Run("ps -eo args= | grep -c '^" + sleeper + "$'; :\n");
  ASSERT_TRUE(ps) << ReasonName(ps.error());
  EXPECT_EQ(ps->out, "0\n") << "the timed-out probe's sleep outlived the watchdog";
}

TEST_P(ShellChannelTest, AShellKilledBetweenRunsIsReopened) {
  const Result pid = Run("echo $$\n");
  ASSERT_TRUE(pid) << ReasonName(pid.error());
  ASSERT_EQ(::kill(static_cast<pid_t>(std::stol(pid->out)), SIGKILL), 0);
  std::this_thread::sleep_for(500ms);  // the channel's EOF and close reach us meanwhile
  const Result next = Run("echo $$\n");
  ASSERT_TRUE(next) << ReasonName(next.error());
  EXPECT_NE(next->out, pid->out);
  EXPECT_EQ(session_.Shell().opened, 2u);
}

TEST_P(ShellChannelTest, AShellThatDiesDuringARunIsShellFailed) {
  const Result killed = Run("echo before; kill -KILL $$\n");
  ASSERT_FALSE(killed) << Describe(killed);
  EXPECT_EQ(killed.error(), Errc::kShellFailed);
  const Result exited = Run("echo before; exec true\n");  // replaces only the subshell
  ASSERT_TRUE(exited) << ReasonName(exited.error());
  EXPECT_EQ(exited->out, "before\n");
  EXPECT_TRUE(session_.IsUsable());
  EXPECT_EQ(session_.Shell().opened, 2u);
}

TEST_P(ShellChannelTest, ASecondRunTakesAnExecChannelWhileTheShellIsBusy) {
  using namespace asio::experimental::awaitable_operators;
  auto both = [&]() -> asio::awaitable<std::pair<Result, Result>> {
    auto [a, b] = co_await (session_.RunScript("sleep 1; echo slow; echo $$\n", Shell()) &&
                            session_.RunScript("echo quick; echo $$\n", Shell()));
    co_return std::pair<Result, Result>{std::move(a), std::move(b)};
  };
  const auto [slow, quick] = Await(io_, both());
  ASSERT_TRUE(slow) << ReasonName(slow.error());
  ASSERT_TRUE(quick) << ReasonName(quick.error());
  EXPECT_TRUE(slow->out.starts_with("slow\n"));
  EXPECT_TRUE(quick->out.starts_with("quick\n"));
  EXPECT_NE(slow->out.substr(5), quick->out.substr(6)) << "two different shells";
  EXPECT_EQ(session_.Shell().opened, 1u) << "the second run must not open another shell";
}

// Output a run's background job writes after the run's end markers belongs to no run: the next
// run drops it before it starts, counted on the session and in the process-wide totals
// (fleetps_probe_shell_stray_bytes_total).
TEST_P(ShellChannelTest, BytesBetweenRunsAreDroppedAndCounted) {
  const std::uint64_t before = ShellTotalsNow().stray_bytes;
  const std::string done = "/tmp/fleetps-stray-" + std::to_string(::getpid()) + "-" + GetParam();
  const Result first = Run("rm -f " + done + "; (sleep 0.3; echo late; : >" + done + ") &\n");
  ASSERT_TRUE(first) << Describe(first);
  EXPECT_EQ(first->out, "");
  // Wait on an exec channel of the same connection until the late line was written: the server
  // forwards the shell's bytes before this run's answer.
  RunOptions exec = Shell();
  exec.channel = ChannelMode::kExec;
  const Result waited = Run("i=0; while [ ! -e " + done +
                                " ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done; "
                                "rm -f " +
                                done + "; echo $i\n",
                            exec);
  ASSERT_TRUE(waited) << Describe(waited);
  ASSERT_NE(waited->out, "100\n") << "the background job never wrote";
  const Result next = Run("echo next\n");
  ASSERT_TRUE(next) << Describe(next);
  EXPECT_EQ(next->out, "next\n") << "the late line is no part of the next run";
  EXPECT_EQ(session_.Shell().stray_bytes, 5u);
  EXPECT_EQ(session_.Shell().opened, 1u);
  EXPECT_EQ(ShellTotalsNow().stray_bytes - before, 5u);
}

INSTANTIATE_TEST_SUITE_P(Servers, ShellChannelTest, ::testing::Values("sshd", "dropbear"));

class OneChannelShellTest : public ShellChannelTest {
 protected:
  OneChannelShellTest() : ShellChannelTest(1) {}
};

TEST_P(OneChannelShellTest, WithOneChannelASecondRunWaitsForTheShell) {
  using namespace asio::experimental::awaitable_operators;
  auto both = [&]() -> asio::awaitable<std::pair<Result, Result>> {
    auto [a, b] = co_await (session_.RunScript("sleep 1; echo $$\n", Shell()) &&
                            session_.RunScript("echo $$\n", Shell()));
    co_return std::pair<Result, Result>{std::move(a), std::move(b)};
  };
  const auto [first, second] = Await(io_, both());
  ASSERT_TRUE(first) << ReasonName(first.error());
  ASSERT_TRUE(second) << ReasonName(second.error());
  EXPECT_EQ(first->out, second->out) << "the same shell, one run after the other";
  // An exec run with no free channel closes the idle shell rather than wait for nothing.
  RunOptions exec = Shell();
  exec.channel = ChannelMode::kExec;
  const Result r = Run("echo exec\n", exec);
  ASSERT_TRUE(r) << ReasonName(r.error());
  EXPECT_EQ(r->out, "exec\n");
  EXPECT_FALSE(session_.Shell().open);
}

INSTANTIATE_TEST_SUITE_P(Servers, OneChannelShellTest, ::testing::Values("sshd"));

// Whatever the user's login shell, the framed script runs under `/bin/sh -s` (which the login
// shell starts with -c) and comes back byte-exact.
class ShellLoginTest : public ::testing::TestWithParam<std::pair<const char*, const char*>> {};

TEST_P(ShellLoginTest, RunsFramedScriptsUnderEveryLoginShell) {
  const auto [server, login] = GetParam();
  const std::string installed = std::string_view(login) == "busybox-sh" ? "/bin/busybox" : login;
  ASSERT_EQ(::access(installed.c_str(), X_OK), 0)
      << installed << " is not installed (scripts/setup)";
  TestHost host(TestHost::Options{.server = server, .user = "fleetps-shell", .shell = login});
  if (installed != login) {  // the login shell is the link to busybox, not the system's sh
    const passwd* user = ::getpwnam("fleetps-shell");
    ASSERT_NE(user, nullptr);
    EXPECT_TRUE(std::filesystem::equivalent(user->pw_shell, installed)) << user->pw_shell;
  }
  asio::io_context io;
  SshSession session(io.get_executor());
  const auto ec = Await(io, session.Connect(host.Spec("shell-login"), Clock::now() + 10s));
  ASSERT_FALSE(ec) << ReasonName(ec);
  for (int i = 0; i < 3; ++i) {
    const Result r = Await(
        io, session.RunScript("printf 'a\\tb %s' \"$HOME\" | wc -c; echo e >&2; exit 7", Shell()));
    ASSERT_TRUE(r) << login << ": " << ReasonName(r.error());
    EXPECT_EQ(r->err, "e\n");
    EXPECT_EQ(r->exit_status, 7);
    EXPECT_FALSE(r->out.empty());
  }
  EXPECT_EQ(session.Shell().opened, 1u);
}

INSTANTIATE_TEST_SUITE_P(
    LoginShells, ShellLoginTest,
    ::testing::Values(std::pair{"sshd", "/bin/dash"}, std::pair{"sshd", "/bin/bash"},
                      std::pair{"sshd", "/bin/ksh"}, std::pair{"sshd", "/bin/mksh"},
                      std::pair{"sshd", "/usr/bin/yash"}, std::pair{"sshd", "/bin/csh"},
                      std::pair{"sshd", "/usr/bin/tcsh"}, std::pair{"dropbear", "/usr/bin/tcsh"},
                      // BusyBox appliances: sh is busybox (scripts/testhost makes the link).
                      std::pair{"sshd", "busybox-sh"}, std::pair{"dropbear", "busybox-sh"}),
    [](const auto& p) {
      std::string login = p.param.second;
      login = login.substr(login.rfind('/') + 1);
      if (login == "busybox-sh") login = "busybox_sh";
      return std::string(p.param.first) + "_" + login;
    });

// A forced command that reads the whole script before running it works for exec channels but
// never answers a shell that keeps stdin open: `auto` must notice on the first shell run, say
// why, and probe over exec.
TEST(ShellAutoFallbackTest, AHostWhoseShellNeverAnswersFallsBackToExec) {
  TestHost host(TestHost::Options{
      .server = "sshd",
      .user = "fleetps-shell",
      .sshd_options = {"ForceCommand f=$(mktemp) && cat >$f && /bin/sh $f; r=$?; rm -f $f; "
                       "exit $r"}});
  config::HostSpec spec = host.Spec("shell-fallback");
  spec.probe_channel = config::ProbeChannel::kAuto;
  spec.probe_timeout = 2s;
  spec.interval = 3s;
  testing::Recorder rec;
  testing::AgentRunner runner;
  runner.Start(spec, rec.Sink(), testing::FastAgentOptions());
  ASSERT_TRUE(rec.WaitFor(
      [](testing::Recorder& r) {
        return std::any_of(r.results.begin(), r.results.end(),
                           [](const ProbeResult& p) { return p.status == ProbeStatus::kOk; });
      },
      20s));
  runner.Stop();
  const auto ready = std::find_if(rec.statuses.begin(), rec.statuses.end(),
                                  [](const HostStatus& s) { return s.state == HostState::kReady; });
  ASSERT_NE(ready, rec.statuses.end());
  EXPECT_EQ(ready->channel, ChannelMode::kExec);
  EXPECT_EQ(ready->channel_fallback, "the shell sent no end marker within probe_timeout");
  EXPECT_EQ(ready->epoch, 1u) << "the fallback needs no reconnect";
}

}  // namespace
}  // namespace fleetps::agent
