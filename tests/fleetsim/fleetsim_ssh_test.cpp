// fleetsim against a real OpenSSH client: handshake, dialect answers, every fault, control API.
#include <cctype>
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <thread>

#include "fleetps/probes/dialect.hpp"
#include "fleetps/probes/process.hpp"
#include "test_support.hpp"

namespace fleetps::fleetsim::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// Host numbers and what they do (see the --fault and --host-dialect list below).
constexpr std::uint32_t kHealthy = 1;
constexpr std::uint32_t kRefuse = 2;
constexpr std::uint32_t kNoBanner = 3;
constexpr std::uint32_t kKexStall = 4;
constexpr std::uint32_t kStallOutput = 5;
constexpr std::uint32_t kDrip = 6;
constexpr std::uint32_t kEndless = 7;
constexpr std::uint32_t kGarbage = 8;
constexpr std::uint32_t kDisconnectAfter2 = 9;
constexpr std::uint32_t kChangeHostKey = 10;
constexpr std::uint32_t kRejectUserKey = 11;
constexpr std::uint32_t kDelay = 12;
constexpr std::uint32_t kRandomDelay = 13;
constexpr std::uint32_t kControlled = 14;
constexpr std::uint32_t kBusybox = 15;
constexpr std::uint32_t kAix = 16;
constexpr std::uint32_t kSolaris = 17;
constexpr std::uint32_t kRestart = 18;

class FleetsimSshTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    fleet_ = new Fleetsim;
    std::string error;
    const bool started = fleet_->Start(20, {"--fault",        "2=refuse",
                                            "--fault",        "3=no_banner",
                                            "--fault",        "4=kex_stall",
                                            "--fault",        "5=stall_output",
                                            "--fault",        "6=drip",
                                            "--fault",        "7=endless",
                                            "--fault",        "8=garbage",
                                            "--fault",        "9=disconnect_after:2",
                                            "--fault",        "10=change_host_key",
                                            "--fault",        "11=reject_user_key",
                                            "--fault",        "12=delay:1500",
                                            "--fault",        "13=random_delay:300",
                                            "--host-dialect", "15=busybox",
                                            "--host-dialect", "16=aix",
                                            "--host-dialect", "17=solaris"},
                                       error);
    ASSERT_TRUE(started) << error;
  }
  static void TearDownTestSuite() {
    delete fleet_;
    fleet_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(fleet_, nullptr); }

  static ProcessResult Ssh(std::uint32_t host, std::string_view command, std::string_view input,
                           milliseconds deadline = seconds(20),
                           const std::vector<std::string>& options = {},
                           std::size_t max_output = 64u << 20) {
    return RunProcess(fleet_->SshArgs(host, command, options), input, deadline, max_output);
  }

  static std::string ProcessScript(std::uint32_t host, probes::Dialect& dialect,
                                   probes::Fingerprint& fingerprint) {
    const auto fp = Ssh(host, "/bin/sh -s", probes::FingerprintScript());
    EXPECT_EQ(fp.exit_code, 0) << fp.err;
    const auto parsed = probes::ParseFingerprint(fp.out);
    EXPECT_TRUE(parsed.ok()) << parsed.error;
    fingerprint = parsed.fingerprint;
    dialect = probes::ChooseDialect(fingerprint);
    return probes::ProcessProbeScript(dialect, fingerprint, kNonce);
  }

  static constexpr std::string_view kNonce = "5f3a9c1be07d4e62";
  static Fleetsim* fleet_;
};

Fleetsim* FleetsimSshTest::fleet_ = nullptr;

TEST_F(FleetsimSshTest, HandshakeWithStrictHostKeyChecking) {
  const auto r = Ssh(kHealthy, "echo hello", {});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "hello\n");
}

TEST_F(FleetsimSshTest, UnknownHostKeyIsRefusedUnderStrictChecking) {
  const auto empty = fleet_->Dir() / "empty_known_hosts";
  { std::ofstream touch(empty); }
  const auto r =
      Ssh(kHealthy, "echo hello", {}, seconds(20), {"-o", "UserKnownHostsFile=" + empty.string()});
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_NE(r.err.find("Host key verification failed"), std::string::npos) << r.err;
}

TEST_F(FleetsimSshTest, PtyAndShellRequestsAreRefused) {
  const auto r = Ssh(kHealthy, "", {}, seconds(20), {"-tt"});
  EXPECT_NE(r.exit_code, 0);
}

class DialectProbe : public FleetsimSshTest,
                     public ::testing::WithParamInterface<std::pair<std::uint32_t, const char*>> {};

TEST_P(DialectProbe, ProbeOverSshParsesInTheHostsDialect) {
  const auto [host, name] = GetParam();
  probes::Dialect dialect{};
  probes::Fingerprint fingerprint;
  const std::string script = ProcessScript(host, dialect, fingerprint);
  EXPECT_EQ(probes::DialectName(dialect), name);
  const auto r = Ssh(host, "/bin/sh -s", script);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto parsed = probes::ParseProcessProbe(dialect, fingerprint, r.out, kNonce);
  ASSERT_TRUE(parsed.ok()) << parsed.error;
  EXPECT_GE(parsed.snapshot.processes.size(), 10u);
  EXPECT_EQ(parsed.snapshot.stats.lines_skipped, 0u);
  EXPECT_FALSE(parsed.snapshot.listening.empty());
  for (const auto& p : parsed.snapshot.processes) {
    // BusyBox's two-word states ("S <", "S N") stay states, never the start of a command.
    EXPECT_FALSE(p.args.starts_with("< ") || p.args.starts_with("N ")) << p.pid << " " << p.args;
    ASSERT_FALSE(p.state.empty()) << p.pid;
    EXPECT_TRUE(std::isalpha(static_cast<unsigned char>(p.state.front())))
        << p.pid << " " << p.state;
  }
}

INSTANTIATE_TEST_SUITE_P(Fleetsim, DialectProbe,
                         ::testing::Values(std::pair{kHealthy, "linux-procps"},
                                           std::pair{kBusybox, "busybox"}, std::pair{kAix, "aix"},
                                           std::pair{kSolaris, "solaris"}),
                         [](const auto& param) {
                           std::string n = param.param.second;
                           n.erase(std::remove(n.begin(), n.end(), '-'), n.end());
                           return n;
                         });

TEST_F(FleetsimSshTest, ProcessTableChangesBetweenProbes) {
  probes::Dialect dialect{};
  probes::Fingerprint fingerprint;
  const std::string script = ProcessScript(kHealthy, dialect, fingerprint);
  const auto first = Ssh(kHealthy, "/bin/sh -s", script);
  std::this_thread::sleep_for(milliseconds(2100));
  const auto second = Ssh(kHealthy, "/bin/sh -s", script);
  const auto a = probes::ParseProcessProbe(dialect, fingerprint, first.out, kNonce);
  const auto b = probes::ParseProcessProbe(dialect, fingerprint, second.out, kNonce);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_GT(*b.snapshot.remote_clock_unix, *a.snapshot.remote_clock_unix);
  double cpu_a = 0;
  double cpu_b = 0;
  for (const auto& p : a.snapshot.processes) cpu_a += p.cpu_total_seconds.value_or(0);
  for (const auto& p : b.snapshot.processes) cpu_b += p.cpu_total_seconds.value_or(0);
  EXPECT_GT(cpu_b, cpu_a);  // CPU time accumulates with wall time.
}

TEST_F(FleetsimSshTest, RefuseFaultRefusesConnections) {
  const auto r = Ssh(kRefuse, "echo hello", {});
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_NE(r.err.find("Connection refused"), std::string::npos) << r.err;
}

TEST_F(FleetsimSshTest, NoBannerFaultTimesOutInBannerExchange) {
  const auto r = Ssh(kNoBanner, "echo hello", {}, seconds(20), {"-o", "ConnectTimeout=2"});
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_NE(r.err.find("banner exchange"), std::string::npos) << r.err;
  EXPECT_GE(r.seconds, 1.9);
}

TEST_F(FleetsimSshTest, KexStallFaultSendsBannerThenNothing) {
  const auto r = Ssh(kKexStall, "echo hello", {}, seconds(3), {"-v"});
  EXPECT_TRUE(r.timed_out);
  EXPECT_NE(r.err.find("remote software version libssh"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("Server host key"), std::string::npos) << r.err;
}

TEST_F(FleetsimSshTest, StallOutputFaultSendsPartOfTheAnswerThenStalls) {
  probes::Dialect dialect{};
  probes::Fingerprint fingerprint;
  const std::string script = ProcessScript(kHealthy, dialect, fingerprint);
  const auto r = Ssh(kStallOutput, "/bin/sh -s", script, seconds(3));
  EXPECT_TRUE(r.timed_out);
  EXPECT_GT(r.out.size(), 1000u);
  EXPECT_NE(r.out.find("BEGIN self"), std::string::npos);
  EXPECT_EQ(r.out.find("END listen-ss"), std::string::npos);
}

TEST_F(FleetsimSshTest, DripFaultSendsOneBytePerSecond) {
  const auto r = Ssh(kDrip, "echo abcdefghijklmnop", {}, milliseconds(3500));
  EXPECT_TRUE(r.timed_out);
  EXPECT_GE(r.out.size(), 2u) << r.out;
  EXPECT_LE(r.out.size(), 5u) << r.out;
  EXPECT_TRUE(std::string_view("abcdefghijklmnop").starts_with(r.out)) << r.out;
}

TEST_F(FleetsimSshTest, EndlessFaultNeverEndsTheProcessTable) {
  const auto r = Ssh(kEndless, "/bin/sh -s", "fp_n=5f3a9c1be07d4e62\nfp_b ps; ps; fp_e ps $?\n",
                     seconds(20), {}, 8u << 20);
  EXPECT_TRUE(r.capped);
  EXPECT_GE(r.out.size(), 8u << 20);
  EXPECT_NE(r.out.find("BEGIN ps"), std::string::npos);
  EXPECT_EQ(r.out.find("END ps"), std::string::npos);
}

TEST_F(FleetsimSshTest, GarbageFaultAnswersWithBinaryBytes) {
  probes::Dialect dialect{};
  probes::Fingerprint fingerprint;
  const std::string script = ProcessScript(kHealthy, dialect, fingerprint);
  const auto r = Ssh(kGarbage, "/bin/sh -s", script);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out.size(), 65536u);
  EXPECT_EQ(r.out.find("@@FLEETPS"), std::string::npos);
  EXPECT_FALSE(probes::ParseProcessProbe(dialect, fingerprint, r.out, kNonce).ok());
}

TEST_F(FleetsimSshTest, DisconnectAfterFaultDropsTheSessionAfterNCommands) {
  // One multiplexed OpenSSH session (ControlMaster): every command is a channel on it.
  const auto socket = fleet_->Dir() / "mux.sock";
  auto master_args =
      fleet_->SshArgs(kDisconnectAfter2, "",
                      {"-N", "-o", "ControlMaster=yes", "-o", "ControlPath=" + socket.string()});
  BackgroundProcess master;
  ASSERT_TRUE(master.Start(master_args, fleet_->Dir() / "master.log"));
  for (int i = 0; i < 100 && !std::filesystem::exists(socket); ++i) {
    std::this_thread::sleep_for(milliseconds(50));
  }
  ASSERT_TRUE(std::filesystem::exists(socket));
  const std::vector<std::string> mux = {"-o", "ControlPath=" + socket.string()};
  auto run = [&] {
    return RunProcess(fleet_->SshArgs(kDisconnectAfter2, "echo hi", mux), {}, seconds(20));
  };
  EXPECT_EQ(run().out, "hi\n");
  EXPECT_FALSE(master.WaitExit(milliseconds(500)));  // One command: still connected.
  EXPECT_EQ(run().out, "hi\n");
  EXPECT_TRUE(master.WaitExit(seconds(5)));  // The second one ended the session.
}

TEST_F(FleetsimSshTest, ChangedHostKeyIsRefusedByStrictClient) {
  const auto r = Ssh(kChangeHostKey, "echo hello", {});
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_NE(r.err.find("REMOTE HOST IDENTIFICATION HAS CHANGED"), std::string::npos) << r.err;
}

TEST_F(FleetsimSshTest, RejectedUserKeyIsPermissionDenied) {
  const auto r = Ssh(kRejectUserKey, "echo hello", {});
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_NE(r.err.find("Permission denied (publickey)"), std::string::npos) << r.err;
}

TEST_F(FleetsimSshTest, DelayFaultAnswersLate) {
  const auto healthy = Ssh(kHealthy, "echo hi", {});
  const auto r = Ssh(kDelay, "echo hi", {});
  EXPECT_EQ(r.out, "hi\n");
  EXPECT_GE(r.seconds, 1.5);
  EXPECT_LT(healthy.seconds, 1.0);
}

TEST_F(FleetsimSshTest, RandomDelayFaultStillAnswers) {
  const auto r = Ssh(kRandomDelay, "echo hi", {});
  EXPECT_EQ(r.out, "hi\n");
  EXPECT_LT(r.seconds, 5.0);
}

TEST_F(FleetsimSshTest, ControlApiChangesFaultsAtRunTime) {
  const auto port = fleet_->ControlPort();
  EXPECT_EQ(Ssh(kControlled, "echo hi", {}).exit_code, 0);

  auto put = Http(port, "PUT", "/hosts/sim00014/fault", "reject_user_key");
  EXPECT_EQ(put.status, 200) << put.body;
  EXPECT_NE(put.body.find("\"fault\":\"reject_user_key\""), std::string::npos) << put.body;
  const auto denied = Ssh(kControlled, "echo hi", {});
  EXPECT_NE(denied.err.find("Permission denied"), std::string::npos) << denied.err;

  EXPECT_EQ(Http(port, "PUT", "/hosts/14/fault", "refuse").status, 200);
  EXPECT_NE(Ssh(kControlled, "echo hi", {}).err.find("Connection refused"), std::string::npos);

  EXPECT_EQ(Http(port, "PUT", "/hosts/14/fault", "none").status, 200);
  EXPECT_EQ(Ssh(kControlled, "echo hi", {}).out, "hi\n");

  EXPECT_EQ(Http(port, "PUT", "/hosts/14/fault", "nonsense").status, 400);
  EXPECT_EQ(Http(port, "PUT", "/hosts/999/fault", "drip").status, 404);
  const auto host = Http(port, "GET", "/hosts/14");
  EXPECT_NE(host.body.find("\"fault\":\"none\""), std::string::npos) << host.body;
  const auto stats = Http(port, "GET", "/stats");
  EXPECT_EQ(stats.status, 200);
  EXPECT_NE(stats.body.find("\"commands_served\":"), std::string::npos) << stats.body;
  EXPECT_EQ(Http(port, "GET", "/hosts").body.find("sim00020") != std::string::npos, true);
}

TEST_F(FleetsimSshTest, RestartDropsEverySession) {
  const auto socket = fleet_->Dir() / "restart.sock";
  BackgroundProcess master;
  ASSERT_TRUE(master.Start(
      fleet_->SshArgs(kRestart, "",
                      {"-N", "-o", "ControlMaster=yes", "-o", "ControlPath=" + socket.string()}),
      fleet_->Dir() / "restart.log"));
  for (int i = 0; i < 100 && !std::filesystem::exists(socket); ++i) {
    std::this_thread::sleep_for(milliseconds(50));
  }
  ASSERT_TRUE(std::filesystem::exists(socket));
  EXPECT_FALSE(master.WaitExit(milliseconds(300)));
  const auto restart = Http(fleet_->ControlPort(), "POST", "/restart");
  EXPECT_EQ(restart.status, 200);
  EXPECT_NE(restart.body.find("\"dropped\":"), std::string::npos);
  EXPECT_TRUE(master.WaitExit(seconds(5)));
}

}  // namespace
}  // namespace fleetps::fleetsim::testing
