// WithWatchdog under real shells, the way sshd runs a probe: the shell leads a new session and
// process group (setsid), reads the script from a pipe on stdin, and everything it starts stays
// in its group. Checked through /proc: no process of the group may be alive after the script
// ended (zombies waiting for init to reap them are not alive). No sshd, no root.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "fleetps/probes/dialect.hpp"
#include "fleetps/probes/parsers.hpp"
#include "fleetps/probes/process.hpp"

namespace fleetps::probes {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

struct Shell {
  const char* name;
  std::vector<std::string> argv;  ///< argv[0] is looked up in /usr/bin and /bin.
};

void PrintTo(const Shell& shell, std::ostream* os) { *os << shell.name; }

std::string Find(const std::string& program) {
  for (const char* dir : {"/usr/bin/", "/bin/", "/usr/local/bin/"}) {
    const std::string path = dir + program;
    if (::access(path.c_str(), X_OK) == 0) return path;
  }
  return {};
}

// Live (not zombie) processes whose process group is `pgid`, as "pid state comm" lines.
std::vector<std::string> LiveMembers(pid_t pgid) {
  std::vector<std::string> live;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(entry.path() / "stat");
    std::string stat;
    std::getline(in, stat);
    const auto close = stat.rfind(')');
    if (close == std::string::npos) continue;  // gone meanwhile
    std::istringstream rest(stat.substr(close + 2));
    char state = 0;
    long ppid = 0, pgrp = 0;
    rest >> state >> ppid >> pgrp;
    if (pgrp == pgid && state != 'Z' && state != 'X')
      live.push_back(name + " " + stat.substr(0, close + 1) + " " + state);
  }
  return live;
}

std::string Join(const std::vector<std::string>& lines) {
  std::string s;
  for (const auto& l : lines) s += l + "\n";
  return s;
}

struct ShellRun {
  pid_t pgid = -1;
  int status = 0;  ///< waitpid status
  bool finished = false;
  std::string out, err;
  Clock::duration took{};
};

std::string Slurp(int fd) {
  std::string s;
  ::lseek(fd, 0, SEEK_SET);
  char buf[4096];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;)
    s.append(buf, static_cast<std::size_t>(n));
  return s;
}

// Runs `script` on stdin (a pipe, like an SSH channel) of `argv` in a new session. Gives up
// after `limit` (then kills the group, and `finished` is false).
ShellRun RunInNewSession(const std::vector<std::string>& argv, const std::string& script,
                         Clock::duration limit) {
  ShellRun r;
  int in[2];
  if (::pipe(in) != 0) return r;
  FILE* out = std::tmpfile();
  FILE* err = std::tmpfile();
  const auto start = Clock::now();
  const pid_t child = ::fork();
  if (child == 0) {
    ::setsid();
    ::dup2(in[0], 0);
    ::dup2(::fileno(out), 1);
    ::dup2(::fileno(err), 2);
    ::close(in[0]);
    ::close(in[1]);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(in[0]);
  // Scripts are far below a pipe's buffer, so this never waits for the shell to read.
  const ssize_t written = ::write(in[1], script.data(), script.size());
  ::close(in[1]);
  r.pgid = child;
  while (Clock::now() - start < limit) {
    if (::waitpid(child, &r.status, WNOHANG) == child) {
      r.finished = true;
      break;
    }
    std::this_thread::sleep_for(5ms);
  }
  r.took = Clock::now() - start;
  if (!r.finished) {
    ::kill(-child, SIGKILL);
    ::waitpid(child, &r.status, 0);
  }
  r.out = Slurp(::fileno(out));
  r.err = Slurp(::fileno(err));
  std::fclose(out);
  std::fclose(err);
  if (written != static_cast<ssize_t>(script.size())) r.err += "[short write]";
  return r;
}

// Waits up to `limit` for the group to have no live process; returns what is still alive.
std::vector<std::string> AwaitEmptyGroup(pid_t pgid, Clock::duration limit) {
  const auto end = Clock::now() + limit;
  for (;;) {
    auto live = LiveMembers(pgid);
    if (live.empty() || Clock::now() >= end) return live;
    std::this_thread::sleep_for(20ms);
  }
}

class WatchdogShellTest : public ::testing::TestWithParam<Shell> {
 protected:
  void SetUp() override {
    argv_ = GetParam().argv;
    argv_[0] = Find(argv_[0]);
    // scripts/setup installs every shell of this list: a missing one is a broken setup.
    ASSERT_FALSE(argv_[0].empty()) << GetParam().name << " is not installed (scripts/setup)";
  }
  std::vector<std::string> argv_;
};

// A probe body stuck in `sleep 1000` (a ps hung on NFS): the whole group dies at the deadline.
TEST_P(WatchdogShellTest, HungScriptIsKilledWithItsWholeGroupAtTheDeadline) {
  const std::string script =
      WithWatchdog("fp_n=0123456789abcdef\necho start\nsleep 1000\necho never\n", 1s);
  const ShellRun r = RunInNewSession(argv_, script, 10s);
  ASSERT_TRUE(r.finished) << "still running after 10 s:\n" << Join(LiveMembers(r.pgid));
  EXPECT_TRUE(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGKILL) << "status " << r.status;
  EXPECT_GE(r.took, 900ms);
  EXPECT_LT(r.took, 3s);
  EXPECT_EQ(r.out, "start\n");
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(Join(AwaitEmptyGroup(r.pgid, 1s)), "")
      << "the sleep 1000 and the watchdog must be gone";
}

// A script that finishes first: same output, same exit status, no stray shell message, and a
// second later nothing of its group is alive (not the watchdog, not its sleep). Twenty times,
// since what goes wrong here are races between the script's end and the watchdog's start.
TEST_P(WatchdogShellTest, FinishedScriptKeepsOutputAndStatusAndLeavesNothing) {
  const std::string script = WithWatchdog(
      "fp_n=0123456789abcdef\necho out\nls / >/dev/null\necho err >&2\n(exit 7)\n", 5s);
  std::vector<pid_t> groups;
  for (int i = 0; i < 20; ++i) {
    const ShellRun r = RunInNewSession(argv_, script, 10s);
    ASSERT_TRUE(r.finished);
    EXPECT_TRUE(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 7) << "status " << r.status;
    EXPECT_LT(r.took, 2s) << "the watchdog must not hold the script until its deadline";
    EXPECT_EQ(r.out, "out\n");
    EXPECT_EQ(r.err, "err\n");
    groups.push_back(r.pgid);
  }
  std::this_thread::sleep_for(1s);
  for (pid_t g : groups) EXPECT_EQ(Join(LiveMembers(g)), "") << "group " << g;
}

// The real scripts, wrapped, still parse; the process probe's own processes (the watchdog and
// its sleeps among them) are excluded from the table it reports.
TEST_P(WatchdogShellTest, WrappedFingerprintAndProcessProbeParseAndExcludeTheWatchdog) {
  // A deadline of this shell's own (17 to 53 s from its name), so that the watchdog sleep of
  // another shell's test running at the same time (ctest -j) is not taken for this one's.
  int letters = 0;
  for (const char* c = GetParam().name; *c != '\0'; ++c) letters += static_cast<unsigned char>(*c);
  const std::chrono::seconds deadline(17 + letters % 37);
  const std::string own_sleep = "sleep " + std::to_string(deadline.count());
  const ShellRun fp_run = RunInNewSession(argv_, WithWatchdog(FingerprintScript(), deadline), 15s);
  ASSERT_TRUE(fp_run.finished);
  EXPECT_TRUE(WIFEXITED(fp_run.status) && WEXITSTATUS(fp_run.status) == 0)
      << "status " << fp_run.status;
  const FingerprintResult fp = ParseFingerprint(fp_run.out);
  ASSERT_TRUE(fp.ok()) << fp.error << "\n" << fp_run.out;
  EXPECT_EQ(fp.fingerprint.os, "Linux");

  // The fingerprint's watchdog is killed as its script ends, but under load its sleep can still
  // be alive a moment later, outside the probe's tree, and the probe run right after would list
  // it (seen with mksh under load). A real host's next probe comes an interval later; wait.
  EXPECT_EQ(Join(AwaitEmptyGroup(fp_run.pgid, 5s)), "") << "the fingerprint's watchdog lingers";
  const Dialect dialect = ChooseDialect(fp.fingerprint);
  constexpr std::string_view kNonce = "00112233445566778899aabb";
  const ShellRun probe = RunInNewSession(
      argv_, WithWatchdog(ProcessProbeScript(dialect, fp.fingerprint, kNonce), deadline), 15s);
  ASSERT_TRUE(probe.finished);
  EXPECT_TRUE(WIFEXITED(probe.status) && WEXITSTATUS(probe.status) == 0)
      << "status " << probe.status;
  const ProbeParseResult parsed = ParseProcessProbe(dialect, fp.fingerprint, probe.out, kNonce);
  ASSERT_TRUE(parsed.ok()) << parsed.error;
  EXPECT_FALSE(parsed.snapshot.processes.empty());
  EXPECT_GE(parsed.snapshot.stats.self_excluded, 3u) << "the shell, its ps and the watchdog";
  for (const ProcessRow& row : parsed.snapshot.processes) {
    EXPECT_NE(row.args, own_sleep) << "pid " << row.pid << ": a watchdog sleep in the table";
  }

  std::this_thread::sleep_for(1s);
  EXPECT_EQ(Join(LiveMembers(fp_run.pgid)), "");
  EXPECT_EQ(Join(LiveMembers(probe.pgid)), "");
}

// privilege: sudo's script (a function taking "$@", sudo -n -l gates) parses in every shell.
// Run as root with sudo installed, sudo allows root everything: the fixed find and ss lines
// really run and fill their sections (this process's fd/ and io among them); otherwise the
// login user's reads stand in.
TEST_P(WatchdogShellTest, SudoProcessProbeParses) {
  const ShellRun fp_run = RunInNewSession(argv_, WithWatchdog(FingerprintScript(), 30s), 15s);
  ASSERT_TRUE(fp_run.finished);
  const FingerprintResult fp = ParseFingerprint(fp_run.out);
  ASSERT_TRUE(fp.ok()) << fp.error << "\n" << fp_run.out;
  const Dialect dialect = ChooseDialect(fp.fingerprint);
  constexpr std::string_view kNonce = "00112233445566778899ccdd";
  const ShellRun probe = RunInNewSession(
      argv_,
      WithWatchdog(ProcessProbeScript(dialect, fp.fingerprint, kNonce, ProbePrivilege::kSudo), 30s),
      15s);
  ASSERT_TRUE(probe.finished);
  EXPECT_TRUE(WIFEXITED(probe.status) && WEXITSTATUS(probe.status) == 0)
      << "status " << probe.status;
  const ProbeParseResult parsed = ParseProcessProbe(dialect, fp.fingerprint, probe.out, kNonce);
  ASSERT_TRUE(parsed.ok()) << parsed.error;
  // This test process: readable by root (a container's pid 1 may not be, even for root).
  const auto self = std::find_if(parsed.snapshot.processes.begin(), parsed.snapshot.processes.end(),
                                 [](const ProcessRow& row) { return row.pid == ::getpid(); });
  ASSERT_NE(self, parsed.snapshot.processes.end());
  if (::getuid() == 0 && ::access("/usr/bin/sudo", X_OK) == 0) {
    EXPECT_NE(probe.out.find("BEGIN sudo\n proc-io proc-fd"), std::string::npos) << probe.out;
    EXPECT_TRUE(self->fds.has_value()) << "sudo find listed no /proc/PID/fd";
    EXPECT_TRUE(self->read_bytes.has_value()) << "sudo find read no /proc/PID/io";
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shells, WatchdogShellTest,
    ::testing::Values(Shell{"dash", {"dash", "-s"}}, Shell{"ksh93", {"ksh93", "-s"}},
                      Shell{"mksh", {"mksh", "-s"}}, Shell{"yash", {"yash", "-s"}},
                      Shell{"bash", {"bash", "-s"}}, Shell{"busybox_sh", {"busybox", "sh", "-s"}}),
    [](const auto& p) { return std::string(p.param.name); });

}  // namespace
}  // namespace fleetps::probes
