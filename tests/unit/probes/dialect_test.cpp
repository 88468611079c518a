#include <sys/utsname.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>

#include <gtest/gtest.h>

#include "fixture.hpp"
#include "fleetps/probes/dialect.hpp"

namespace fleetps::probes {
namespace {

using testing::ReadFixture;

TEST(ProbesDialect, NamesRoundTrip) {
  for (Dialect d : kAllDialects) {
    EXPECT_EQ(ParseDialectName(DialectName(d)), d);
  }
  EXPECT_EQ(DialectName(Dialect::kLinuxProcps), "linux-procps");
  EXPECT_EQ(DialectName(Dialect::kHpux), "hpux");
  EXPECT_FALSE(ParseDialectName("Linux").has_value());
  EXPECT_FALSE(ParseDialectName("").has_value());
}

struct FingerprintCase {
  const char* file;
  const char* os;
  Dialect dialect;
};

class ProbesFingerprint : public ::testing::TestWithParam<FingerprintCase> {};

TEST_P(ProbesFingerprint, ChoosesDialect) {
  const FingerprintResult r = ParseFingerprint(ReadFixture(GetParam().file));
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.fingerprint.os, GetParam().os);
  EXPECT_EQ(ChooseDialect(r.fingerprint), GetParam().dialect);
}

INSTANTIATE_TEST_SUITE_P(
    Probes, ProbesFingerprint,
    ::testing::Values(
        FingerprintCase{"fingerprint/linux-procps4.txt", "Linux", Dialect::kLinuxProcps},
        FingerprintCase{"fingerprint/linux-rhel6.txt", "Linux", Dialect::kLinuxProcps},
        FingerprintCase{"fingerprint/busybox.txt", "Linux", Dialect::kBusybox},
        FingerprintCase{"fingerprint/aix.txt", "AIX", Dialect::kAix},
        FingerprintCase{"fingerprint/solaris.txt", "SunOS", Dialect::kSolaris},
        FingerprintCase{"fingerprint/hpux.txt", "HP-UX", Dialect::kHpux},
        FingerprintCase{"fingerprint/freebsd.txt", "FreeBSD", Dialect::kFreebsd},
        FingerprintCase{"fingerprint/darwin.txt", "Darwin", Dialect::kDarwin}));

TEST(ProbesFingerprintFields, TheScriptRunByThisMachinesShellNamesItsUname) {
  // The real script under the real /bin/sh, against uname(2) of this machine.
  const std::string dir = ::testing::TempDir();
  const std::string script = dir + "/fingerprint.sh";
  const std::string output = dir + "/fingerprint.out";
  {
    std::ofstream out(script);
    out << FingerprintScript();
  }
  ASSERT_EQ(std::system(("/bin/sh " + script + " > " + output + " 2>/dev/null").c_str()), 0);
  std::ifstream in(output);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const FingerprintResult r = ParseFingerprint(text);
  ASSERT_TRUE(r.ok()) << r.error;
  utsname names{};
  ASSERT_EQ(uname(&names), 0);
  EXPECT_EQ(r.fingerprint.os, names.sysname);
  EXPECT_EQ(r.fingerprint.os_release, names.release);
  EXPECT_EQ(r.fingerprint.kernel_version, names.version);
  EXPECT_EQ(r.fingerprint.arch, names.machine);
  EXPECT_EQ(r.fingerprint.nodename, names.nodename);
}

TEST(ProbesFingerprintFields, LinuxDetails) {
  const FingerprintResult r = ParseFingerprint(ReadFixture("fingerprint/linux-procps4.txt"));
  ASSERT_TRUE(r.ok());
  const Fingerprint& fp = r.fingerprint;
  EXPECT_EQ(fp.os_release, "6.1.0-13-amd64");
  EXPECT_EQ(fp.arch, "x86_64");
  EXPECT_TRUE(fp.proc_readable);
  EXPECT_EQ(fp.clk_tck, 100);
  EXPECT_EQ(fp.page_size, 4096);
  EXPECT_EQ(fp.uid, 1002);
  EXPECT_EQ(fp.ps_flavour, "procps-ng 4.0.2");
  EXPECT_TRUE(fp.ps_has_o);
  EXPECT_TRUE(fp.has_ss);
  EXPECT_TRUE(fp.has_lsof);
  EXPECT_TRUE(fp.zonename.empty());
}

TEST(ProbesFingerprintFields, OldProcpsBusyboxSolaris) {
  EXPECT_EQ(ParseFingerprint(ReadFixture("fingerprint/linux-rhel6.txt")).fingerprint.ps_flavour,
            "procps 3.2.8");
  const Fingerprint bb = ParseFingerprint(ReadFixture("fingerprint/busybox.txt")).fingerprint;
  EXPECT_EQ(bb.ps_flavour, "busybox");
  EXPECT_TRUE(bb.ps_has_o);
  EXPECT_FALSE(bb.clk_tck.has_value());  // no getconf applet: absent, not zero
  const Fingerprint sol = ParseFingerprint(ReadFixture("fingerprint/solaris.txt")).fingerprint;
  EXPECT_EQ(sol.zonename, "appzone");
  EXPECT_TRUE(sol.has_ucb_ps);
  EXPECT_FALSE(sol.proc_readable);
  EXPECT_EQ(sol.page_size, 8192);
  EXPECT_EQ(sol.max_processes, 30000);         // kstat unix:0:var:v_proc
  EXPECT_FALSE(bb.max_processes.has_value());  // no kstat on Linux: read by each probe there
  const Fingerprint hp = ParseFingerprint(ReadFixture("fingerprint/hpux.txt")).fingerprint;
  EXPECT_FALSE(hp.ps_has_o);
}

TEST(ProbesFingerprintFields, MissingUnameIsAnError) {
  EXPECT_FALSE(ParseFingerprint("").ok());
  EXPECT_FALSE(ParseFingerprint("Welcome\n@@FLEETPS fp0fingerprint BEGIN uid\n0\n").ok());
}

TEST(ProbesDialect, UnknownSystemsFallBack) {
  Fingerprint fp;
  fp.os = "Plan9";
  fp.proc_readable = true;
  EXPECT_EQ(ChooseDialect(fp), Dialect::kBusybox);
  fp.proc_readable = false;
  EXPECT_EQ(ChooseDialect(fp), Dialect::kFreebsd);
  fp.os = "OpenBSD";
  EXPECT_EQ(ChooseDialect(fp), Dialect::kFreebsd);
}

TEST(ProbesScript, FingerprintScriptIsPortable) {
  const std::string_view s = FingerprintScript();
  EXPECT_NE(s.find("LC_ALL=C; export LC_ALL"), std::string_view::npos);
  EXPECT_EQ(s.find("$("), std::string_view::npos);
  EXPECT_EQ(s.find("command -v"), std::string_view::npos);
  EXPECT_EQ(s.find("local "), std::string_view::npos);
  EXPECT_EQ(s.find("[["), std::string_view::npos);
}

TEST(ProbesScript, ProcessScriptsCarryNonceAndExcludeNothingRemotely) {
  Fingerprint fp;
  fp.zonename = "appzone";
  for (Dialect d : kAllDialects) {
    const std::string s = ProcessProbeScript(d, fp, "00ff00ff00ff00ff");
    ASSERT_FALSE(s.empty()) << DialectName(d);
    EXPECT_NE(s.find("fp_n=00ff00ff00ff00ff\n"), std::string::npos);
    EXPECT_NE(s.find("fp_b self; echo $$"), std::string::npos);
    // Linux reads its clock from /proc in the one grep; elsewhere date, perl or awk give it.
    const bool linux_proc = d == Dialect::kLinuxProcps || d == Dialect::kBusybox;
    EXPECT_EQ(s.find("fp_b clock") != std::string::npos, !linux_proc) << DialectName(d);
    EXPECT_EQ(s.find("perl -e 'print time'") != std::string::npos, !linux_proc);
    EXPECT_EQ(s.find("/proc/self/stat /proc/sys/kernel/pid_max") != std::string::npos, linux_proc);
    EXPECT_EQ(s.find("$("), std::string::npos) << DialectName(d);
    EXPECT_EQ(s.find("[["), std::string::npos) << DialectName(d);
  }
  EXPECT_NE(ProcessProbeScript(Dialect::kHpux, fp, "00ff00ff00ff00ff").find("UNIX95=1 ps -e"),
            std::string::npos);
  EXPECT_NE(ProcessProbeScript(Dialect::kSolaris, fp, "00ff00ff00ff00ff").find("-z `zonename`"),
            std::string::npos);
  EXPECT_NE(
      ProcessProbeScript(Dialect::kLinuxProcps, fp, "00ff00ff00ff00ff").find("/proc/[0-9]*/stat"),
      std::string::npos);
}

// A non-root lsof sees only the probe user's sockets: netstat always runs for the complete list,
// lsof besides it where present (never instead of it).
TEST(ProbesScript, ListenersFromNetstatAndLsof) {
  for (Dialect d : {Dialect::kAix, Dialect::kSolaris, Dialect::kHpux, Dialect::kDarwin}) {
    const std::string s = ProcessProbeScript(d, {}, "00ff00ff00ff00ff");
    EXPECT_NE(s.find("\nfp_b listen-netstat; netstat -an 2>/dev/null; fp_e listen-netstat $?\n"
                     "if fp_have lsof; then fp_b listen-lsof; lsof -n -P -l -w -b -iTCP "
                     "-sTCP:LISTEN -iUDP -F pctPn 2>/dev/null; fp_e listen-lsof $?; fi\n"),
              std::string::npos)
        << DialectName(d) << ":\n"
        << s;
  }
}

TEST(ProbesScript, RejectsBadNonces) {
  EXPECT_TRUE(ProcessProbeScript(Dialect::kLinuxProcps, {}, "").empty());
  EXPECT_TRUE(ProcessProbeScript(Dialect::kLinuxProcps, {}, "short").empty());
  EXPECT_TRUE(ProcessProbeScript(Dialect::kLinuxProcps, {}, "0123456789abcdeg").empty());
  EXPECT_TRUE(ProcessProbeScript(Dialect::kLinuxProcps, {}, "01234567; rm -rf /").empty());
  EXPECT_TRUE(IsValidNonce("0123456789ABCDEF"));
}

TEST(ProbesStates, BucketsFollowProcessExporter) {
  EXPECT_EQ(BucketForState(Dialect::kLinuxProcps, "R+"), StateBucket::kRunning);
  EXPECT_EQ(BucketForState(Dialect::kLinuxProcps, "Ssl"), StateBucket::kSleeping);
  EXPECT_EQ(BucketForState(Dialect::kLinuxProcps, "D"), StateBucket::kWaiting);
  EXPECT_EQ(BucketForState(Dialect::kLinuxProcps, "Z"), StateBucket::kZombie);
  EXPECT_EQ(BucketForState(Dialect::kLinuxProcps, "I<"), StateBucket::kOther);
  EXPECT_EQ(BucketForState(Dialect::kLinuxProcps, "T"), StateBucket::kOther);
  EXPECT_EQ(BucketForState(Dialect::kSolaris, "O"), StateBucket::kRunning);
  EXPECT_EQ(BucketForState(Dialect::kFreebsd, "Is"), StateBucket::kSleeping);
  // AIX "A" is active, running or not: only the wait channel decides (ParsePsTable).
  EXPECT_EQ(BucketForState(Dialect::kAix, "A"), StateBucket::kOther);
  EXPECT_EQ(BucketForState(Dialect::kAix, "W"), StateBucket::kWaiting);
  EXPECT_EQ(BucketForState(Dialect::kFreebsd, "DL"), StateBucket::kWaiting);
  EXPECT_EQ(BucketForState(Dialect::kFreebsd, "WL"), StateBucket::kSleeping);
  EXPECT_EQ(BucketForState(Dialect::kBusybox, "S <"), StateBucket::kSleeping);
  EXPECT_EQ(BucketForState(Dialect::kDarwin, "U"), StateBucket::kWaiting);
  EXPECT_EQ(BucketForState(Dialect::kSolaris, "W"), StateBucket::kWaiting);
  EXPECT_EQ(BucketForState(Dialect::kHpux, "I"), StateBucket::kOther);
  EXPECT_EQ(BucketForState(Dialect::kAix, ""), StateBucket::kOther);
  EXPECT_EQ(StateBucketName(StateBucket::kWaiting), "Waiting");
}

}  // namespace
}  // namespace fleetps::probes

namespace fleetps::probes {
namespace {

// AIX's uname -r is the minor release and -m a machine serial (IBM's uname documentation; the
// synthetic fixture follows it): the labels come from -v.-r and -p.
TEST(ProbesFingerprint, AixLabelsFromVersionAndProcessor) {
  const FingerprintResult r = ParseFingerprint(testing::ReadFixture("fingerprint/aix.txt"));
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.fingerprint.os_release, "7.2");
  EXPECT_EQ(r.fingerprint.arch, "powerpc");
}

TEST(ProbesStates, NodeExporterLettersPerDialect) {
  const auto letter = [](Dialect d, std::string_view state) {
    return NodeStateLetter(d, state, BucketForState(d, state));
  };
  // Linux and BusyBox: the kernel's letter, whatever follows it.
  EXPECT_EQ(letter(Dialect::kLinuxProcps, "Ssl"), 'S');
  EXPECT_EQ(letter(Dialect::kLinuxProcps, "D"), 'D');
  EXPECT_EQ(letter(Dialect::kLinuxProcps, "I<"), 'I');
  EXPECT_EQ(letter(Dialect::kLinuxProcps, "t"), 't');
  EXPECT_EQ(letter(Dialect::kBusybox, "SW"), 'S');
  EXPECT_EQ(letter(Dialect::kBusybox, ""), '?');
  // Elsewhere the four shared meanings map to node_exporter's letters...
  EXPECT_EQ(letter(Dialect::kSolaris, "O"), 'R');
  EXPECT_EQ(letter(Dialect::kSolaris, "W"), 'D');
  EXPECT_EQ(letter(Dialect::kFreebsd, "Is"), 'S');
  EXPECT_EQ(letter(Dialect::kFreebsd, "L"), 'D');
  EXPECT_EQ(letter(Dialect::kDarwin, "U"), 'D');
  EXPECT_EQ(letter(Dialect::kHpux, "Z"), 'Z');
  // ...AIX's A is decided by the wait channel (the parser's bucket), not by the letter...
  EXPECT_EQ(NodeStateLetter(Dialect::kAix, "A", StateBucket::kRunning), 'R');
  EXPECT_EQ(NodeStateLetter(Dialect::kAix, "A", StateBucket::kSleeping), 'S');
  // ...and any other state keeps the platform's letter.
  EXPECT_EQ(letter(Dialect::kFreebsd, "T"), 'T');
  EXPECT_EQ(letter(Dialect::kHpux, "X"), 'X');
  EXPECT_EQ(letter(Dialect::kAix, "I"), 'I');
}

}  // namespace
}  // namespace fleetps::probes
