// privilege: sudo against a real sshd: a process of another user (root, the test's own sleep)
// whose descriptors the login user may not read. Without privilege its fd count is absent and
// the probe reports fds as not permitted; with the sudoers rule `fleetps sudoers` prints,
// installed under /etc/sudoers.d (checked with visudo -cf first, removed at the end even on
// failure), the count is there and nothing is partial; with sudo but no rule the probe still
// succeeds, partial. Needs root (users, sudoers) and sudo.
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "agent_runner.hpp"
#include "fleetps/agent/host_agent.hpp"
#include "test_host.hpp"

extern char** environ;

namespace fleetps::agent {
namespace {

using namespace std::chrono_literals;
using testing::AgentRunner;
using testing::Recorder;
using testing::TestHost;

constexpr const char* kUser = "fleetps-priv";

// A process of root's, which the login user may see in ps but whose /proc/PID/fd it may not
// list; killed on destruction.
class OtherUsersProcess {
 public:
  OtherUsersProcess() {
    char sleep_path[] = "/bin/sleep";
    char seconds[] = "600";
    char* argv[] = {sleep_path, seconds, nullptr};
    if (::posix_spawn(&pid_, sleep_path, nullptr, nullptr, argv, environ) != 0) pid_ = 0;
  }
  ~OtherUsersProcess() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  OtherUsersProcess(const OtherUsersProcess&) = delete;
  OtherUsersProcess& operator=(const OtherUsersProcess&) = delete;
  [[nodiscard]] pid_t Pid() const { return pid_; }

 private:
  pid_t pid_ = 0;
};

// Standard output of `command` (run by /bin/sh), and its exit status.
std::pair<std::string, int> Capture(const std::string& command) {
  std::string out;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return {out, -1};
  char buffer[4096];
  for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;) out.append(buffer, n);
  const int status = ::pclose(pipe);
  return {out, WIFEXITED(status) ? WEXITSTATUS(status) : -1};
}

// A sudoers file under /etc/sudoers.d holding `text`, accepted by `visudo -cf` before it is
// installed; removed on destruction, so a failing test leaves no rule behind.
class InstalledSudoers {
 public:
  explicit InstalledSudoers(const std::string& text)
      : path_("/etc/sudoers.d/fleetps-it-privilege-" + std::to_string(::getpid())) {
    const std::filesystem::path candidate =
        std::filesystem::temp_directory_path() / ("fleetps-sudoers-" + std::to_string(::getpid()));
    std::ofstream(candidate) << text;
    const auto [check, check_status] = Capture("visudo -cf " + candidate.string() + " 2>&1");
    visudo_output_ = check;
    if (check_status == 0) {
      std::filesystem::copy_file(candidate, path_,
                                 std::filesystem::copy_options::overwrite_existing);
      std::filesystem::permissions(
          path_, std::filesystem::perms::owner_read | std::filesystem::perms::group_read);
      installed_ = true;
    }
    std::filesystem::remove(candidate);
  }
  ~InstalledSudoers() {
    std::error_code ec;
    std::filesystem::remove(path_, ec);
  }
  InstalledSudoers(const InstalledSudoers&) = delete;
  InstalledSudoers& operator=(const InstalledSudoers&) = delete;
  [[nodiscard]] bool Installed() const { return installed_; }
  [[nodiscard]] const std::string& VisudoOutput() const { return visudo_output_; }

 private:
  std::filesystem::path path_;
  bool installed_ = false;
  std::string visudo_output_;
};

// The first good probe's snapshot of `spec`.
std::shared_ptr<const probes::HostSnapshot> FirstGoodSnapshot(config::HostSpec spec) {
  spec.interval = 1s;
  Recorder rec;
  AgentRunner runner;
  runner.Start(std::move(spec), rec.Sink(), testing::FastAgentOptions());
  const bool ok = rec.WaitFor(
      [](Recorder& r) {
        return std::any_of(r.results.begin(), r.results.end(),
                           [](const ProbeResult& p) { return p.status == ProbeStatus::kOk; });
      },
      30s);
  runner.Stop();
  if (!ok) return nullptr;
  for (const ProbeResult& result : rec.results) {
    if (result.status == ProbeStatus::kOk) return result.snapshot;
  }
  return nullptr;
}

const probes::ProcessRow* Row(const probes::HostSnapshot& snapshot, pid_t pid) {
  for (const probes::ProcessRow& row : snapshot.processes) {
    if (row.pid == pid) return &row;
  }
  return nullptr;
}

bool NotPermitted(const probes::HostSnapshot& snapshot, probes::Reading reading) {
  return snapshot.not_permitted[static_cast<std::size_t>(reading)];
}

TestHost::Options PrivilegeHost() {
  TestHost::Options options;
  options.user = kUser;
  return options;
}

TEST(PrivilegeIntegration, WithoutPrivilegeAnotherUsersDescriptorsAreNotPermitted) {
  OtherUsersProcess other;
  ASSERT_GT(other.Pid(), 0);
  TestHost host(PrivilegeHost());
  const auto snapshot = FirstGoodSnapshot(host.Spec("privilege-none"));
  ASSERT_TRUE(snapshot);
  const probes::ProcessRow* row = Row(*snapshot, other.Pid());
  ASSERT_NE(row, nullptr) << "root's sleep is not in the process table";
  EXPECT_FALSE(row->fds.has_value());
  EXPECT_FALSE(row->read_bytes.has_value());
  EXPECT_TRUE(NotPermitted(*snapshot, probes::Reading::kFds));
  EXPECT_TRUE(NotPermitted(*snapshot, probes::Reading::kIo));
}

TEST(PrivilegeIntegration, SudoWithoutARuleStillProbesAndReportsPartial) {
  OtherUsersProcess other;
  ASSERT_GT(other.Pid(), 0);
  TestHost host(PrivilegeHost());
  auto spec = host.Spec("privilege-sudo-refused");
  spec.privilege = config::Privilege::kSudo;
  const auto snapshot = FirstGoodSnapshot(spec);
  ASSERT_TRUE(snapshot) << "a refused sudo must not fail the probe";
  const probes::ProcessRow* row = Row(*snapshot, other.Pid());
  ASSERT_NE(row, nullptr);
  EXPECT_FALSE(row->fds.has_value());
  EXPECT_TRUE(NotPermitted(*snapshot, probes::Reading::kFds));
  EXPECT_TRUE(NotPermitted(*snapshot, probes::Reading::kIo));
}

TEST(PrivilegeIntegration, SudoWithTheGeneratedRuleReadsEverything) {
  const auto [snippet, status] = Capture(std::string(FLEETPS_BINARY) + " sudoers --user " + kUser);
  ASSERT_EQ(status, 0) << snippet;
  InstalledSudoers rule(snippet);
  ASSERT_TRUE(rule.Installed()) << "visudo -cf rejected the snippet:\n"
                                << rule.VisudoOutput() << "\n"
                                << snippet;
  OtherUsersProcess other;
  ASSERT_GT(other.Pid(), 0);
  TestHost host(PrivilegeHost());

  // The rule allows the probe's exact command lines and nothing wider: the same find with
  // another directory to list is refused.
  const std::string as_user = std::string("su -s /bin/sh ") + kUser + " -c ";
  const std::string fd_find =
      "find /proc -maxdepth 2 -path \"/proc/*/*\" ! -path \"/proc/[0-9]*/fd\" -prune -o -path "
      "\"/proc/[0-9]*/fd\" -exec /bin/ls -a ";
  EXPECT_EQ(
      Capture(as_user + "'sudo -n -l " + fd_find + "/proc/self/fd {} + >/dev/null 2>&1'").second,
      0);
  EXPECT_NE(Capture(as_user + "'sudo -n -l " + fd_find + "/root {} + >/dev/null 2>&1'").second, 0);
  EXPECT_NE(Capture(as_user + "'sudo -n -l /bin/ls -a /root >/dev/null 2>&1'").second, 0);

  auto spec = host.Spec("privilege-sudo");
  spec.privilege = config::Privilege::kSudo;
  const auto snapshot = FirstGoodSnapshot(spec);
  ASSERT_TRUE(snapshot);
  const probes::ProcessRow* row = Row(*snapshot, other.Pid());
  ASSERT_NE(row, nullptr);
  ASSERT_TRUE(row->fds.has_value()) << "sudo find did not list root's /proc/PID/fd";
  EXPECT_GE(*row->fds, 3);  // stdin, stdout, stderr at least
  EXPECT_TRUE(row->read_bytes.has_value());
  EXPECT_FALSE(NotPermitted(*snapshot, probes::Reading::kFds));
  EXPECT_FALSE(NotPermitted(*snapshot, probes::Reading::kIo));
  EXPECT_FALSE(NotPermitted(*snapshot, probes::Reading::kSocketOwners));
}

}  // namespace
}  // namespace fleetps::agent
