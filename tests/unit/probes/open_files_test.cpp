#include "fleetps/probes/open_files.hpp"

#include <gtest/gtest.h>

#include "fixture.hpp"

namespace fleetps::probes {
namespace {

using testing::kNonce;
using testing::ReadFixture;

Fingerprint LinuxFingerprint() {
  Fingerprint fp;
  fp.os = "Linux";
  fp.proc_readable = true;
  return fp;
}

TEST(OpenFilesMethodTest, ProcOnLinuxLsofElsewhereOtherwiseUnsupported) {
  EXPECT_EQ(ChooseOpenFilesMethod(Dialect::kLinuxProcps, LinuxFingerprint()),
            OpenFilesMethod::kProc);
  EXPECT_EQ(ChooseOpenFilesMethod(Dialect::kBusybox, LinuxFingerprint()), OpenFilesMethod::kProc);
  Fingerprint aix;
  aix.has_lsof = true;
  EXPECT_EQ(ChooseOpenFilesMethod(Dialect::kAix, aix), OpenFilesMethod::kLsof);
  // A Linux host whose /proc the probe user cannot read still has lsof.
  Fingerprint locked;
  locked.has_lsof = true;
  EXPECT_EQ(ChooseOpenFilesMethod(Dialect::kLinuxProcps, locked), OpenFilesMethod::kLsof);
  EXPECT_EQ(ChooseOpenFilesMethod(Dialect::kHpux, Fingerprint{}), OpenFilesMethod::kUnsupported);
  // Solaris /proc is not Linux-style even when readable.
  Fingerprint solaris;
  solaris.proc_readable = true;
  EXPECT_EQ(ChooseOpenFilesMethod(Dialect::kSolaris, solaris), OpenFilesMethod::kUnsupported);
}

TEST(OpenFilesScriptTest, FormatsThePidItselfAndFramesWithTheNonce) {
  const std::string proc = OpenFilesScript(OpenFilesMethod::kProc, 812, kNonce);
  EXPECT_NE(proc.find("fp_p=812\n"), std::string::npos);
  EXPECT_NE(proc.find("fp_n=5f3a9c1be07d4e62\n"), std::string::npos);
  EXPECT_NE(proc.find("ls -l /proc/$fp_p/fd"), std::string::npos);
  EXPECT_NE(proc.find("LC_ALL=C"), std::string::npos);
  const std::string lsof = OpenFilesScript(OpenFilesMethod::kLsof, 2147483647, kNonce);
  EXPECT_NE(lsof.find("fp_p=2147483647\n"), std::string::npos);
  EXPECT_NE(lsof.find("lsof -n -P -l -w -b -p $fp_p -F ftn"), std::string::npos);
}

TEST(OpenFilesScriptTest, RefusesWhatItCannotRunSafely) {
  EXPECT_EQ(OpenFilesScript(OpenFilesMethod::kProc, 0, kNonce), "");
  EXPECT_EQ(OpenFilesScript(OpenFilesMethod::kProc, -1, kNonce), "");
  EXPECT_EQ(OpenFilesScript(OpenFilesMethod::kProc, kMaxOpenFilesPid + 1, kNonce), "");
  EXPECT_EQ(OpenFilesScript(OpenFilesMethod::kProc, 1, "not-hex;rm"), "");
  EXPECT_EQ(OpenFilesScript(OpenFilesMethod::kUnsupported, 1, kNonce), "");
}

TEST(ParseOpenFilesTest, ProcFixture) {
  const std::string text = ReadFixture("linux-procps/open-files.txt");
  const OpenFilesResult r = ParseOpenFiles(OpenFilesMethod::kProc, text, kNonce);
  ASSERT_EQ(r.state, OpenFilesState::kOk);
  EXPECT_EQ(r.method, OpenFilesMethod::kProc);
  EXPECT_FALSE(r.truncated);
  ASSERT_EQ(r.files.size(), 6u);
  EXPECT_EQ(r.files[0].fd, "0");
  EXPECT_EQ(r.files[0].type, "file");
  EXPECT_EQ(r.files[0].name, "/dev/null");
  EXPECT_EQ(r.files[0].pos, 0u);
  EXPECT_EQ(r.files[0].flags, "0100000");
  EXPECT_EQ(r.files[1].type, "socket");
  EXPECT_EQ(r.files[1].name, "socket:[30411]");
  EXPECT_FALSE(r.files[1].pos.has_value());  // no fdinfo line: absent, not 0
  EXPECT_EQ(r.files[2].type, "pipe");
  EXPECT_EQ(r.files[2].flags, "01");
  EXPECT_EQ(r.files[3].type, "anon_inode");
  EXPECT_EQ(r.files[4].name, "/var/log/with -> arrow.log");
  EXPECT_EQ(r.files[5].fd, "10");
  EXPECT_EQ(r.files[5].name, "/var/log/app.log (deleted)");
  EXPECT_EQ(r.files[5].pos, 4096u);
  EXPECT_EQ(r.stats.lines_outside, 2u);  // the banner
  EXPECT_EQ(r.stats.lines_skipped, 3u);  // non-ls line, fd "x", fdinfo of fd 99
}

TEST(ParseOpenFilesTest, LsofFixture) {
  const std::string text = ReadFixture("darwin/open-files-lsof.txt");
  const OpenFilesResult r = ParseOpenFiles(OpenFilesMethod::kLsof, text, kNonce);
  ASSERT_EQ(r.state, OpenFilesState::kOk);
  ASSERT_EQ(r.files.size(), 6u);
  EXPECT_EQ(r.files[0].fd, "cwd");
  EXPECT_EQ(r.files[0].type, "DIR");
  EXPECT_EQ(r.files[1].name, "/usr/sbin/httpd");
  EXPECT_EQ(r.files[3].type, "IPv4");
  EXPECT_EQ(r.files[3].name, "*:80");
  EXPECT_EQ(r.files[5].name, "/Library/Application Support/app.log");
  EXPECT_EQ(r.stats.lines_skipped, 1u);
}

TEST(ParseOpenFilesTest, DeniedFixture) {
  const OpenFilesResult r = ParseOpenFiles(
      OpenFilesMethod::kProc, ReadFixture("linux-procps/open-files-denied.txt"), kNonce);
  EXPECT_EQ(r.state, OpenFilesState::kPermissionDenied);
  EXPECT_TRUE(r.files.empty());
}

std::string Framed(std::string_view state, std::string_view list_name, std::string_view list) {
  std::string out = "@@FLEETPS 5f3a9c1be07d4e62 BEGIN state\n";
  out.append(state).append("\n@@FLEETPS 5f3a9c1be07d4e62 END state rc=0\n");
  if (!list_name.empty()) {
    out.append("@@FLEETPS 5f3a9c1be07d4e62 BEGIN ").append(list_name).append("\n").append(list);
    out.append("\n@@FLEETPS 5f3a9c1be07d4e62 END ").append(list_name).append(" rc=0\n");
  }
  return out;
}

TEST(ParseOpenFilesTest, StatesAndFailures) {
  EXPECT_EQ(ParseOpenFiles(OpenFilesMethod::kProc, Framed("nosuch", "", ""), kNonce).state,
            OpenFilesState::kNoSuchProcess);
  EXPECT_EQ(ParseOpenFiles(OpenFilesMethod::kProc, "", kNonce).state, OpenFilesState::kBadOutput);
  EXPECT_EQ(ParseOpenFiles(OpenFilesMethod::kProc, Framed("maybe", "", ""), kNonce).state,
            OpenFilesState::kBadOutput);
  // State ok but the list never came: bad output, not an empty list.
  EXPECT_EQ(ParseOpenFiles(OpenFilesMethod::kProc, Framed("ok", "", ""), kNonce).state,
            OpenFilesState::kBadOutput);
  // ls failed (the process is another user's despite -r, or it exited): denied.
  EXPECT_EQ(ParseOpenFiles(OpenFilesMethod::kProc,
                           Framed("ok", "fd", "@@FLEETPS 5f3a9c1be07d4e62 FAILED"), kNonce)
                .state,
            OpenFilesState::kPermissionDenied);
  // A marker with another nonce is just a bad line.
  const auto forged = ParseOpenFiles(
      OpenFilesMethod::kProc, Framed("ok", "fd", "@@FLEETPS 0000000000000000 FAILED"), kNonce);
  EXPECT_EQ(forged.state, OpenFilesState::kOk);
  EXPECT_EQ(ParseOpenFiles(OpenFilesMethod::kLsof, Framed("ok", "lsof", ""), kNonce).state,
            OpenFilesState::kPermissionDenied);
  EXPECT_EQ(ParseOpenFiles(OpenFilesMethod::kUnsupported, "anything", kNonce).state,
            OpenFilesState::kUnsupported);
  EXPECT_EQ(ParseOpenFiles(OpenFilesMethod::kProc, Framed("ok", "fd", ""), "zz").state,
            OpenFilesState::kBadOutput);
}

TEST(ParseOpenFilesTest, KeepsAtMostTheCapAndSaysSo) {
  std::string list = "total 0\n";
  for (std::size_t fd = 0; fd <= kMaxOpenFiles; ++fd) {
    list += "lrwx------ 1 u g 64 Nov 21 13:00 " + std::to_string(fd) + " -> /dev/null\n";
  }
  const auto r = ParseOpenFiles(OpenFilesMethod::kProc, Framed("ok", "fd", list), kNonce);
  EXPECT_EQ(r.state, OpenFilesState::kOk);
  EXPECT_EQ(r.files.size(), kMaxOpenFiles);
  EXPECT_TRUE(r.truncated);
}

TEST(ParseOpenFilesTest, OutputCutInsideTheListIsTruncated) {
  const std::string cut =
      "@@FLEETPS 5f3a9c1be07d4e62 BEGIN state\nok\n@@FLEETPS 5f3a9c1be07d4e62 END state rc=0\n"
      "@@FLEETPS 5f3a9c1be07d4e62 BEGIN fd\nlrwx------ 1 u g 64 Nov 21 13:00 0 -> /dev/null\n"
      "lrwx------ 1 u g 64 Nov 21 13:00 1 -> /dev/nu";
  const auto r = ParseOpenFiles(OpenFilesMethod::kProc, cut, kNonce);
  EXPECT_EQ(r.state, OpenFilesState::kOk);
  EXPECT_TRUE(r.truncated);
  ASSERT_EQ(r.files.size(), 1u);
}

}  // namespace
}  // namespace fleetps::probes
