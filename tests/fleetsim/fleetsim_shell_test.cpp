// fleetsim's persistent shell channel (issue 18) against a raw libssh client that writes the
// shared framing itself: several runs on one `/bin/sh -s` channel, runs split across writes or
// two in one write, misframed input, the shell faults and the command faults on shell runs, and
// a client that closes the channel in the middle of an answer.
#include <gtest/gtest.h>
#include <libssh/libssh.h>

#include <boost/json.hpp>

#include <chrono>
#include <string>
#include <string_view>
#include <thread>

#include "fleetps/probes/dialect.hpp"
#include "libssh_client.hpp"
#include "responder.hpp"
#include "test_support.hpp"

namespace fleetps::fleetsim::testing {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr std::uint32_t kHealthy = 1;
constexpr std::uint32_t kShellEof = 2;
constexpr std::uint32_t kShellExit = 3;
constexpr std::uint32_t kDelay = 4;
constexpr std::uint32_t kGarbage = 5;
constexpr std::uint32_t kStallOutput = 6;
constexpr std::uint32_t kDisconnectAfter2 = 7;
constexpr std::uint32_t kEndless = 8;

// A fleetps-style script with stable sections (no self pid, no clock): its answer is the same
// on every run, so shell and exec answers can be compared byte for byte.
constexpr std::string_view kStableScript =
    "fp_n=5eed5eed5eed5eed\nfp_b uname-s\nfp_b uname-r\nfp_b uname-m\nfp_b tools\n";

std::string Token(int n) {
  std::string token = "0123456789abcdef0123456789abcdef";
  token.replace(0, 4, std::to_string(1000 + n));
  return token;
}

// One `/bin/sh -s` channel kept open: what fleetps' SshSession holds in shell mode.
class ShellChannel {
 public:
  struct Output {
    std::string out;
    std::string err;
    bool eof = false;      // the server ended the channel (EOF or close)
    int exit_status = -1;  // when eof and the server sent one
  };

  explicit ShellChannel(ssh_session session) : channel_(ssh_channel_new(session)) {
    ok_ = channel_ != nullptr && ssh_channel_open_session(channel_) == SSH_OK &&
          ssh_channel_request_exec(channel_, "/bin/sh -s") == SSH_OK;
  }
  ~ShellChannel() { Close(); }
  ShellChannel(const ShellChannel&) = delete;
  ShellChannel& operator=(const ShellChannel&) = delete;

  [[nodiscard]] bool Ok() const { return ok_; }

  bool Write(std::string_view bytes) {
    return ssh_channel_write(channel_, bytes.data(), static_cast<std::uint32_t>(bytes.size())) ==
           static_cast<int>(bytes.size());
  }
  bool SendEof() { return ssh_channel_send_eof(channel_) == SSH_OK; }

  /// Reads until `done(output)`, the channel's end, or `limit`.
  template <class Done>
  Output ReadUntil(Done done, milliseconds limit) {
    Output o;
    const auto end = Clock::now() + limit;
    char buf[16384];
    while (!done(o) && Clock::now() < end) {
      const int n = ssh_channel_read_timeout(channel_, buf, sizeof buf, 0, 20);
      if (n > 0) o.out.append(buf, static_cast<std::size_t>(n));
      const int m = ssh_channel_read_nonblocking(channel_, buf, sizeof buf, 1);
      if (m > 0) o.err.append(buf, static_cast<std::size_t>(m));
      if (n == SSH_ERROR || m == SSH_ERROR) break;
      if (n <= 0 && m <= 0 &&
          (ssh_channel_is_eof(channel_) != 0 || !ssh_channel_is_open(channel_))) {
        o.eof = true;
        o.exit_status = ssh_channel_get_exit_status(channel_);
        break;
      }
    }
    return o;
  }

  /// Reads until the server ends the channel.
  Output ReadToEnd(milliseconds limit = milliseconds(5'000)) {
    return ReadUntil([](const Output&) { return false; }, limit);
  }

  /// Reads one framed run's answer: both trailers of `token`.
  Output ReadRun(std::string_view token, milliseconds limit = milliseconds(10'000)) {
    const std::string err_trailer = ShellStderrTrailer(token);
    const std::string out_marker = "\n@@FLEETPS " + std::string(token) + " EXIT rc=";
    return ReadUntil(
        [&](const Output& o) {
          const auto at = o.out.rfind(out_marker);
          return o.err.ends_with(err_trailer) && at != std::string::npos && o.out.ends_with('\n') &&
                 o.out.find('\n', at + 1) == o.out.size() - 1;
        },
        limit);
  }

  void Close() {
    if (channel_ != nullptr) {
      ssh_channel_close(channel_);
      ssh_channel_free(channel_);
      channel_ = nullptr;
    }
  }

 private:
  ssh_channel channel_;
  bool ok_ = false;
};

bool AnyOutput(const ShellChannel::Output& o) { return !o.out.empty() || !o.err.empty(); }

class FleetsimShellTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    ASSERT_TRUE(fleet_.Start(8,
                             {"--fault", "2=shell:eof", "--fault", "3=shell:exit", "--fault",
                              "4=delay:300", "--fault", "5=garbage", "--fault", "6=stall_output",
                              "--fault", "7=disconnect_after:2", "--fault", "8=endless"},
                             error))
        << error;
    ssh_init();
    ASSERT_EQ(ssh_pki_import_privkey_file(fleet_.Identity().c_str(), nullptr, nullptr, nullptr,
                                          &identity_),
              SSH_OK);
  }
  void TearDown() override {
    if (identity_ != nullptr) ssh_key_free(identity_);
  }

  SessionPtr Session(std::uint32_t host) {
    std::string error;
    auto session = Connect(fleet_.Port(host), fleet_, identity_, error);
    EXPECT_NE(session, nullptr) << error;
    return session;
  }

  std::uint64_t Stat(std::string_view name) {
    const auto r = Http(fleet_.ControlPort(), "GET", "/stats");
    EXPECT_EQ(r.status, 200);
    return boost::json::parse(r.body).as_object().at(name).to_number<std::uint64_t>();
  }

  Fleetsim fleet_;
  ssh_key identity_ = nullptr;
};

TEST_F(FleetsimShellTest, ManyRunsShareOneChannelAndAnswerAsExecDoes) {
  auto session = Session(kHealthy);
  ASSERT_NE(session, nullptr);
  const std::string exec_answer = Exec(session.get(), kStableScript);
  ASSERT_NE(exec_answer.find("@@FLEETPS 5eed5eed5eed5eed END tools rc=0"), std::string::npos)
      << exec_answer;
  const auto channels_before = Stat("channels_opened");

  ShellChannel shell(session.get());
  ASSERT_TRUE(shell.Ok());
  for (int run = 0; run < 5; ++run) {
    const std::string token = Token(run);
    ASSERT_TRUE(shell.Write(FrameShellRun(kStableScript, token)));
    const auto answer = shell.ReadRun(token);
    EXPECT_EQ(answer.out, exec_answer + ShellStdoutTrailer(token, 0)) << "run " << run;
    EXPECT_EQ(answer.err, ShellStderrTrailer(token)) << "run " << run;
    EXPECT_FALSE(answer.eof);
  }
  // The exit status of the script is the trailer's rc; a real probe script parses.
  ASSERT_TRUE(shell.Write(FrameShellRun("exit 3\n", Token(5))));
  EXPECT_EQ(shell.ReadRun(Token(5)).out, ShellStdoutTrailer(Token(5), 3));
  ASSERT_TRUE(
      shell.Write(FrameShellRun(std::string(probes::FingerprintScript()) + "\n", Token(6))));
  auto fingerprint = shell.ReadRun(Token(6));
  const std::string trailer = ShellStdoutTrailer(Token(6), 0);
  ASSERT_TRUE(fingerprint.out.ends_with(trailer)) << fingerprint.out;
  fingerprint.out.resize(fingerprint.out.size() - trailer.size());
  const auto parsed = probes::ParseFingerprint(fingerprint.out);
  ASSERT_TRUE(parsed.ok()) << parsed.error;
  EXPECT_EQ(probes::ChooseDialect(parsed.fingerprint), probes::Dialect::kLinuxProcps);

  EXPECT_EQ(Stat("channels_opened"), channels_before + 1);
  EXPECT_EQ(Stat("shell_runs_served"), 7u);
  EXPECT_EQ(Stat("commands_served"), 8u);  // the exec answer too

  // EOF after the runs: the shell exits with the last command's status, nothing more printed.
  ASSERT_TRUE(shell.SendEof());
  const auto end = shell.ReadToEnd();
  EXPECT_TRUE(end.eof);
  EXPECT_EQ(end.exit_status, 0);
  EXPECT_EQ(end.out, "");
  EXPECT_EQ(Stat("commands_served"), 8u);
}

TEST_F(FleetsimShellTest, RunsArriveTwoInOneWriteOrSplitAcrossWrites) {
  auto session = Session(kHealthy);
  ASSERT_NE(session, nullptr);
  ShellChannel shell(session.get());
  ASSERT_TRUE(shell.Ok());
  ASSERT_TRUE(
      shell.Write(FrameShellRun("echo one\n", Token(1)) + FrameShellRun("exit 4\n", Token(2))));
  const auto both = shell.ReadRun(Token(2));
  EXPECT_EQ(both.out, "one\n" + ShellStdoutTrailer(Token(1), 0) + ShellStdoutTrailer(Token(2), 4));
  EXPECT_EQ(both.err, ShellStderrTrailer(Token(1)) + ShellStderrTrailer(Token(2)));

  // A run split in three writes is answered once its last byte is there, not before.
  const std::string run = FrameShellRun("echo three\n", Token(3));
  const std::size_t third = run.size() / 3;
  ASSERT_TRUE(shell.Write(run.substr(0, third)));
  EXPECT_EQ(shell.ReadUntil(AnyOutput, milliseconds(200)).out, "");
  ASSERT_TRUE(shell.Write(run.substr(third, third)));
  EXPECT_EQ(shell.ReadUntil(AnyOutput, milliseconds(200)).out, "");
  ASSERT_TRUE(shell.Write(run.substr(2 * third)));
  EXPECT_EQ(shell.ReadRun(Token(3)).out, "three\n" + ShellStdoutTrailer(Token(3), 0));
  EXPECT_EQ(Stat("shell_runs_served"), 3u);
}

TEST_F(FleetsimShellTest, MisframedInputIsAnExecScriptAnsweredAtEof) {
  auto session = Session(kHealthy);
  ASSERT_NE(session, nullptr);
  ShellChannel shell(session.get());
  ASSERT_TRUE(shell.Ok());
  // Upper-case hex is not a token: no run, nothing answered while stdin stays open.
  ASSERT_TRUE(shell.Write(FrameShellRun("echo one\n", "0123456789ABCDEF0123456789ABCDEF")));
  const auto before_eof = shell.ReadUntil(AnyOutput, milliseconds(300));
  EXPECT_EQ(before_eof.out, "");
  EXPECT_FALSE(before_eof.eof);
  ASSERT_TRUE(shell.SendEof());
  const auto after = shell.ReadToEnd();
  EXPECT_TRUE(after.eof);
  EXPECT_EQ(after.out.find(" EXIT rc="), std::string::npos) << after.out;
  EXPECT_EQ(Stat("shell_runs_served"), 0u);
  EXPECT_EQ(Stat("commands_served"), 1u);
}

TEST_F(FleetsimShellTest, ShellEofFaultRunsNothingBeforeStdinEnds) {
  auto session = Session(kShellEof);
  ASSERT_NE(session, nullptr);
  ShellChannel shell(session.get());
  ASSERT_TRUE(shell.Ok());
  ASSERT_TRUE(shell.Write(FrameShellRun(kStableScript, Token(1))));
  EXPECT_EQ(shell.ReadUntil(AnyOutput, milliseconds(500)).out, "");
  ASSERT_TRUE(shell.SendEof());
  const auto after = shell.ReadToEnd();
  EXPECT_TRUE(after.eof);
  EXPECT_TRUE(after.out.ends_with(ShellStdoutTrailer(Token(1), 0))) << after.out;
  EXPECT_EQ(after.err, ShellStderrTrailer(Token(1)));
  EXPECT_EQ(after.exit_status, 0);
}

TEST_F(FleetsimShellTest, ShellExitFaultAnswersTheFirstRunWithoutTrailerAndEnds) {
  auto session = Session(kShellExit);
  ASSERT_NE(session, nullptr);
  const std::string exec_answer = Exec(session.get(), kStableScript);
  ShellChannel shell(session.get());
  ASSERT_TRUE(shell.Ok());
  ASSERT_TRUE(shell.Write(FrameShellRun(kStableScript, Token(1))));
  const auto answer = shell.ReadToEnd();
  EXPECT_TRUE(answer.eof);
  EXPECT_EQ(answer.out, exec_answer);
  EXPECT_EQ(answer.err, "");
  EXPECT_EQ(Stat("shell_runs_served"), 1u);
}

TEST_F(FleetsimShellTest, CommandFaultsActOnShellRuns) {
  {  // delay: the answer comes, trailers included, after the delay.
    auto session = Session(kDelay);
    ASSERT_NE(session, nullptr);
    ShellChannel shell(session.get());
    ASSERT_TRUE(shell.Write(FrameShellRun("echo late\n", Token(1))));
    EXPECT_EQ(shell.ReadRun(Token(1)).out, "late\n" + ShellStdoutTrailer(Token(1), 0));
  }
  {  // garbage: random bytes, then the trailers the shell prints after any command.
    auto session = Session(kGarbage);
    ASSERT_NE(session, nullptr);
    ShellChannel shell(session.get());
    ASSERT_TRUE(shell.Write(FrameShellRun(kStableScript, Token(2))));
    const auto answer = shell.ReadRun(Token(2));
    EXPECT_EQ(answer.out.size(), 64u * 1024 + ShellStdoutTrailer(Token(2), 0).size());
    EXPECT_EQ(answer.err, ShellStderrTrailer(Token(2)));
  }
  {  // stall_output: half an answer, never a trailer.
    auto session = Session(kStallOutput);
    ASSERT_NE(session, nullptr);
    ShellChannel shell(session.get());
    ASSERT_TRUE(shell.Write(FrameShellRun(kStableScript, Token(3))));
    const auto answer = shell.ReadRun(Token(3), milliseconds(500));
    EXPECT_FALSE(answer.out.empty());
    EXPECT_EQ(answer.out.find(" EXIT rc="), std::string::npos);
    EXPECT_EQ(answer.err, "");
    EXPECT_FALSE(answer.eof);
  }
  {  // disconnect_after:2 counts shell runs: the session goes after the second.
    auto session = Session(kDisconnectAfter2);
    ASSERT_NE(session, nullptr);
    ShellChannel shell(session.get());
    for (int run = 4; run < 6; ++run) {
      ASSERT_TRUE(shell.Write(FrameShellRun("true\n", Token(run))));
      EXPECT_EQ(shell.ReadRun(Token(run)).out, ShellStdoutTrailer(Token(run), 0));
    }
    const auto end = shell.ReadToEnd();
    EXPECT_TRUE(end.eof || ssh_is_connected(session.get()) == 0);
    EXPECT_EQ(Stat("sessions_dropped"), 1u);
  }
}

TEST_F(FleetsimShellTest, ClientClosingTheShellMidAnswerLeavesTheSessionServing) {
  auto session = Session(kEndless);
  ASSERT_NE(session, nullptr);
  {
    ShellChannel shell(session.get());
    ASSERT_TRUE(shell.Write(FrameShellRun(kStableScript, Token(1))));
    const auto some = shell.ReadUntil(
        [](const ShellChannel::Output& o) { return o.out.size() > 100'000; }, milliseconds(5'000));
    ASSERT_GT(some.out.size(), 100'000u);
  }  // closes the channel in the middle of the endless answer
  ASSERT_EQ(Http(fleet_.ControlPort(), "PUT", "/hosts/8/fault", "none").status, 200);
  ShellChannel shell(session.get());
  ASSERT_TRUE(shell.Ok());
  ASSERT_TRUE(shell.Write(FrameShellRun("echo again\n", Token(2))));
  EXPECT_EQ(shell.ReadRun(Token(2)).out, "again\n" + ShellStdoutTrailer(Token(2), 0));
  EXPECT_EQ(Stat("sessions_open"), 1u);
  EXPECT_EQ(Stat("shell_runs_served"), 1u);
  EXPECT_EQ(Stat("commands_served"), 1u);
}

}  // namespace
}  // namespace fleetps::fleetsim::testing
