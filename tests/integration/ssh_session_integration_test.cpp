#include <chrono>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/this_coro.hpp>
#include <gtest/gtest.h>

#include "fleetps/agent/ssh_session.hpp"
#include "test_host.hpp"

namespace fleetps::agent {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using boost::system::error_code;
using testing::RunCoro;
using testing::TestHost;

struct Outcome {
  error_code connect;
  boost::system::result<CommandOutput> run = make_error_code(Errc::kInternal);
  ServerInfo info;
};

asio::awaitable<Outcome> ConnectAndRun(config::HostSpec spec, std::string script,
                                       std::uint64_t limit = 64ull << 20,
                                       std::chrono::seconds timeout = std::chrono::seconds(20),
                                       std::string interpreter = "/bin/sh -s",
                                       ChannelMode channel = testing::TestChannelMode()) {
  SshSession session(co_await asio::this_coro::executor);
  Outcome o;
  o.connect = co_await session.Connect(spec, Clock::now() + spec.connect_timeout);
  if (o.connect) co_return o;
  o.info = session.Info();
  RunOptions options;
  options.interpreter = interpreter;
  options.channel = channel;
  options.output_limit = limit;
  options.deadline = Clock::now() + timeout;
  o.run = co_await session.RunScript(script, options);
  co_return o;
}

class SessionTest : public ::testing::TestWithParam<std::string> {
 protected:
  SessionTest() : host_(TestHost::Options{.server = GetParam()}) {}
  asio::io_context io_;
  TestHost host_;
};

TEST_P(SessionTest, ConnectsAndReportsServerInfo) {
  auto o = RunCoro(io_, ConnectAndRun(host_.Spec(), "exit 0\n"));
  ASSERT_FALSE(o.connect) << ReasonName(o.connect);
  EXPECT_EQ(o.info.hostkey_type, "ssh-ed25519");
  EXPECT_TRUE(o.info.hostkey_fingerprint.starts_with("SHA256:"));
  EXPECT_FALSE(o.info.kex.empty());
  EXPECT_FALSE(o.info.cipher.empty());
  EXPECT_TRUE(o.info.banner.starts_with("SSH-2.0-"));
  EXPECT_NE(o.info.server_version.find(GetParam() == "sshd" ? "OpenSSH" : "dropbear"),
            std::string::npos)
      << o.info.server_version;
}

TEST_P(SessionTest, RunsScriptFromStdinAndCapturesBothStreams) {
  auto o = RunCoro(io_, ConnectAndRun(host_.Spec(), "echo out; echo err >&2; id -un; exit 3\n"));
  ASSERT_FALSE(o.connect) << ReasonName(o.connect);
  ASSERT_TRUE(o.run) << ReasonName(o.run.error());
  EXPECT_EQ(o.run->out, "out\n" + host_.Env("FLEETPS_TEST_USER") + "\n");
  EXPECT_EQ(o.run->err, "err\n");
  ASSERT_TRUE(o.run->exit_status.has_value());
  EXPECT_EQ(*o.run->exit_status, 3);
  EXPECT_EQ(o.run->bytes, o.run->out.size() + o.run->err.size());
}

TEST_P(SessionTest, ReadsTenMebibytesWithoutStalling) {
  const auto start = Clock::now();
  auto o = RunCoro(
      io_,
      ConnectAndRun(host_.Spec(), "head -c 10485760 /dev/zero; head -c 100000 /dev/zero >&2\n"));
  ASSERT_FALSE(o.connect) << ReasonName(o.connect);
  ASSERT_TRUE(o.run) << ReasonName(o.run.error());
  EXPECT_EQ(o.run->out.size(), 10u << 20);
  EXPECT_EQ(o.run->err.size(), 100000u);
  EXPECT_EQ(o.run->exit_status, 0);
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(15));
}

TEST_P(SessionTest, ReportsTheSignalThatKilledTheCommand) {
  // `exec` replaces the login shell, so the killed shell is the process the server reports on.
  // An exec channel: on the shell, $$ is the persistent shell (see shell_channel tests).
  auto o =
      RunCoro(io_, ConnectAndRun(host_.Spec(), "echo before; kill -KILL $$\n", 1 << 20,
                                 std::chrono::seconds(20), "exec /bin/sh -s", ChannelMode::kExec));
  ASSERT_FALSE(o.connect) << ReasonName(o.connect);
  ASSERT_TRUE(o.run) << ReasonName(o.run.error());
  EXPECT_EQ(o.run->out, "before\n");
  EXPECT_EQ(o.run->exit_signal, "KILL");
  EXPECT_FALSE(o.run->exit_status.has_value());
}

TEST_P(SessionTest, OutputBeyondTheCapEndsTheCommandAsTooLarge) {
  auto o = RunCoro(io_, ConnectAndRun(host_.Spec(), "head -c 1000000 /dev/zero\n", 100000));
  ASSERT_FALSE(o.connect) << ReasonName(o.connect);
  ASSERT_FALSE(o.run);
  EXPECT_EQ(o.run.error(), Errc::kTooLarge);
}

TEST_P(SessionTest, CommandThatOutlivesItsDeadlineTimesOut) {
  const auto start = Clock::now();
  auto o = RunCoro(io_, ConnectAndRun(host_.Spec(), "while :; do echo x; sleep 1; done\n", 1 << 20,
                                      std::chrono::seconds(2)));
  ASSERT_FALSE(o.connect) << ReasonName(o.connect);
  ASSERT_FALSE(o.run);
  EXPECT_EQ(o.run.error(), Errc::kTimeout);
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(6));
}

asio::awaitable<std::vector<boost::system::result<CommandOutput>>> ManyOnOneSession(
    config::HostSpec spec, int count) {
  SshSession session(co_await asio::this_coro::executor);
  std::vector<boost::system::result<CommandOutput>> results;
  if (auto ec = co_await session.Connect(spec, Clock::now() + spec.connect_timeout)) {
    results.emplace_back(ec);
    co_return results;
  }
  for (int i = 0; i < count; ++i) {
    RunOptions options;
    options.channel = testing::TestChannelMode();
    options.deadline = Clock::now() + std::chrono::seconds(10);
    const std::string script = "echo " + std::to_string(i) + "\n";
    results.push_back(co_await session.RunScript(script, options));
  }
  co_return results;
}

TEST_P(SessionTest, RunsManyCommandsOnOneWarmSession) {
  auto results = RunCoro(io_, ManyOnOneSession(host_.Spec(), 30));
  ASSERT_EQ(results.size(), 30u);
  for (int i = 0; i < 30; ++i) {
    ASSERT_TRUE(results[i]) << i << ": " << ReasonName(results[i].error());
    EXPECT_EQ(results[i]->out, std::to_string(i) + "\n");
  }
}

INSTANTIATE_TEST_SUITE_P(Servers, SessionTest, ::testing::Values("sshd", "dropbear"));

}  // namespace
}  // namespace fleetps::agent
