// privilege: sudo in the probe scripts (fixed argument lists, nothing from the host or the
// config in them) and the readings a probe reports as not permitted.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "fixture.hpp"
#include "fleetps/probes/process.hpp"

namespace fleetps::probes {
namespace {

using testing::kNonce;
using testing::ReadFixture;

constexpr std::string_view kOtherNonce = "00ff00ff00ff00ff";

// The lines of `script` that involve sudo.
std::vector<std::string> SudoLines(const std::string& script) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < script.size()) {
    std::size_t end = script.find('\n', start);
    if (end == std::string::npos) end = script.size();
    const std::string line = script.substr(start, end - start);
    if (line.find("sudo") != std::string::npos || line.find("fp_root") != std::string::npos) {
      lines.push_back(line);
    }
    start = end + 1;
  }
  return lines;
}

TEST(ProbesPrivilege, SudoRunsTheseExactCommandLines) {
  const std::string linux_script =
      ProcessProbeScript(Dialect::kLinuxProcps, {}, kNonce, ProbePrivilege::kSudo);
  for (std::string_view expected :
       {"fp_b proc-io; fp_root proc-io find '/proc' '-maxdepth' '2' '-path' '/proc/*/*' '!' "
        "'-path' '/proc/[0-9]*/io' '-prune' '-o' '-path' '/proc/[0-9]*/io' '-exec' "
        "'/bin/grep' '-sH' '-e' '^read_bytes:' '-e' '^write_bytes:' '{}' '+'; fp_rc=$?; "
        "if [ $fp_rok = no ]; then grep -sH -e '^read_bytes:' -e '^write_bytes:' "
        "/proc/[0-9]*/io; fp_rc=$?; fi; fp_e proc-io $fp_rc\n",
        "fp_b proc-fd; fp_root proc-fd find '/proc' '-maxdepth' '2' '-path' '/proc/*/*' '!' "
        "'-path' '/proc/[0-9]*/fd' '-prune' '-o' '-path' '/proc/[0-9]*/fd' '-exec' '/bin/ls' "
        "'-a' '/proc/self/fd' '{}' '+'; fp_rc=$?; if [ $fp_rok = no ]; then ls -a "
        "/proc/self/fd /proc/[0-9]*/fd 2>/dev/null; fp_rc=$?; fi; fp_e proc-fd $fp_rc\n",
        "if fp_have ss; then fp_b listen-ss; fp_root listen-ss ss '-ltunp'; fp_rc=$?; if [ "
        "$fp_rok = no ]; then ss -ltunp 2>/dev/null; fp_rc=$?; fi; fp_e listen-ss $fp_rc\n",
        "fp_root() { fp_rs=$1; shift; fp_rok=no; if sudo -n -l \"$@\" >/dev/null 2>&1; then "
        "fp_rok=yes; fp_ras=\"$fp_ras $fp_rs\"; sudo -n \"$@\" 2>/dev/null; fi; }\n",
        "fp_b sudo; echo \"$fp_ras\"; fp_e sudo 0\n"}) {
    EXPECT_NE(linux_script.find(expected), std::string::npos) << expected << "\nin:\n"
                                                              << linux_script;
  }
  const std::string aix_script =
      ProcessProbeScript(Dialect::kAix, {}, kNonce, ProbePrivilege::kSudo);
  EXPECT_NE(
      aix_script.find("if fp_have lsof; then fp_b lsof-fd; fp_root lsof-fd lsof '-n' '-P' "
                      "'-l' '-w' '-b' '-F' 'f'; fp_rc=$?; if [ $fp_rok = no ]; then lsof -n "
                      "-P -l -w -b -F f 2>/dev/null; fp_rc=$?; fi; fp_e lsof-fd $fp_rc; fi\n"),
      std::string::npos)
      << aix_script;
}

// No host, config or nonce text reaches a sudo command line: the same lines whatever the
// fingerprint says (a hostile zone name) and whatever the nonce.
TEST(ProbesPrivilege, SudoLinesAreTheSameForEveryHost) {
  Fingerprint hostile;
  hostile.zonename = "z';rm -rf / #`id`$(id)";
  hostile.has_lsof = true;
  hostile.ps_has_o = true;
  for (Dialect d : kAllDialects) {
    const std::string plain = ProcessProbeScript(d, {}, kNonce, ProbePrivilege::kSudo);
    const std::string other = ProcessProbeScript(d, hostile, kOtherNonce, ProbePrivilege::kSudo);
    EXPECT_EQ(SudoLines(plain), SudoLines(other)) << DialectName(d);
    EXPECT_FALSE(SudoLines(plain).empty()) << DialectName(d);
    EXPECT_TRUE(SudoLines(ProcessProbeScript(d, {}, kNonce)).empty()) << DialectName(d);
  }
}

// Each argument is single-quoted in the script, so it must hold no quote; sudoers matches the
// space-joined list, so none may hold a blank either.
TEST(ProbesPrivilege, SudoArgumentsAreSingleWordsWithoutQuotes) {
  for (const SudoCommand& command : SudoCommands()) {
    EXPECT_TRUE(command.program.starts_with('/')) << command.program;
    EXPECT_FALSE(command.args.empty());
    for (std::string_view arg : command.args) {
      EXPECT_EQ(arg.find_first_of("'\"\\ \t\n"), std::string_view::npos) << arg;
    }
  }
}

std::string SudoSection(std::string_view sections) {
  return "@@FLEETPS " + std::string(kNonce) + " BEGIN sudo\n" + std::string(sections) +
         "\n\n@@FLEETPS " + std::string(kNonce) + " END sudo rc=0\n";
}

// The /proc/PID/io lines of a probe output, as the section a sudo probe gives them.
std::string IoSection(std::string_view output) {
  std::string body;
  std::size_t at = 0;
  while (at < output.size()) {
    const std::size_t end = std::min(output.find('\n', at), output.size());
    const std::string_view line = output.substr(at, end - at);
    if (line.starts_with("/proc/") && line.find("/io:") != std::string_view::npos) {
      body.append(line).push_back('\n');
    }
    at = end + 1;
  }
  return "@@FLEETPS " + std::string(kNonce) + " BEGIN proc-io\n" + body + "\n@@FLEETPS " +
         std::string(kNonce) + " END proc-io rc=0\n";
}

bool NotPermitted(const HostSnapshot& snap, Reading reading) {
  return snap.not_permitted[static_cast<std::size_t>(reading)];
}

Fingerprint LinuxAs(long uid) {
  Fingerprint fp;
  fp.os = "Linux";
  fp.uid = uid;
  return fp;
}

// The fixture's kube-controller-manager (another user's) has no io and no descriptors, and a
// listening socket has no owner: as uid 1000 all three are partial.
TEST(ProbesPrivilege, ReadingsMissingAsAnotherUserAreNotPermitted) {
  const std::string output = ReadFixture("linux-procps/probe.txt");
  const ProbeParseResult user =
      ParseProcessProbe(Dialect::kLinuxProcps, LinuxAs(1000), output, kNonce);
  ASSERT_TRUE(user.ok()) << user.error;
  EXPECT_TRUE(NotPermitted(user.snapshot, Reading::kFds));
  EXPECT_TRUE(NotPermitted(user.snapshot, Reading::kIo));
  EXPECT_TRUE(NotPermitted(user.snapshot, Reading::kSocketOwners));

  // Read by root, the same gaps are processes that exited between two reads.
  const ProbeParseResult root =
      ParseProcessProbe(Dialect::kLinuxProcps, LinuxAs(0), output, kNonce);
  ASSERT_TRUE(root.ok()) << root.error;
  EXPECT_EQ(root.snapshot.not_permitted, (std::array<bool, kReadingCount>{}));

  // Through sudo, per section: what sudo did not fill stays partial. A sudo probe reads the io
  // counters in a section of their own (here the fixture's, as if root had read them).
  const ProbeParseResult sudo =
      ParseProcessProbe(Dialect::kLinuxProcps, LinuxAs(1000),
                        output + IoSection(output) + SudoSection(" proc-io proc-fd"), kNonce);
  ASSERT_TRUE(sudo.ok()) << sudo.error;
  EXPECT_FALSE(NotPermitted(sudo.snapshot, Reading::kFds));
  EXPECT_FALSE(NotPermitted(sudo.snapshot, Reading::kIo));
  EXPECT_TRUE(NotPermitted(sudo.snapshot, Reading::kSocketOwners));

  // sudo refused everything: an empty list.
  const ProbeParseResult refused =
      ParseProcessProbe(Dialect::kLinuxProcps, LinuxAs(1000), output + SudoSection(""), kNonce);
  EXPECT_TRUE(NotPermitted(refused.snapshot, Reading::kFds));
}

// A reading the dialect never makes is not "not permitted": HP-UX's netstat -an names no
// owners for anyone, and no dialect but Linux reads I/O counters.
TEST(ProbesPrivilege, ReadingsTheDialectNeverMakesAreNotPartial) {
  Fingerprint fp;
  fp.os = "HP-UX";
  fp.uid = 1000;
  const ProbeParseResult r =
      ParseProcessProbe(Dialect::kHpux, fp, ReadFixture("hpux/probe.txt"), kNonce);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_FALSE(NotPermitted(r.snapshot, Reading::kIo));
  EXPECT_FALSE(NotPermitted(r.snapshot, Reading::kSocketOwners));
}

TEST(ProbesPrivilege, ReadingNames) {
  EXPECT_EQ(ReadingName(Reading::kFds), "fds");
  EXPECT_EQ(ReadingName(Reading::kIo), "io");
  EXPECT_EQ(ReadingName(Reading::kSocketOwners), "socket_owners");
}

}  // namespace
}  // namespace fleetps::probes
