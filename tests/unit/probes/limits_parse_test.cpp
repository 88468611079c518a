// node_exporter's process and thread limits, per platform, and how the probe carries them.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>

#include "fixture.hpp"
#include "fleetps/probes/parsers.hpp"

namespace fleetps::probes {
namespace {

using testing::kNonce;

std::optional<std::int64_t> ReadNumber(const std::string& path) {
  std::ifstream in(path);
  std::int64_t value = 0;
  if (in >> value) return value;
  return std::nullopt;
}

std::string RunUnderSh(std::string_view script, const std::string& name) {
  const std::string dir = ::testing::TempDir();
  const std::string path = dir + "/" + name + ".sh";
  const std::string output = dir + "/" + name + ".out";
  {
    std::ofstream out(path);
    out << script;
  }
  EXPECT_EQ(std::system(("/bin/sh " + path + " > " + output + " 2>/dev/null").c_str()), 0);
  std::ifstream in(output);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The real Linux probe under this machine's /bin/sh gives what node_exporter reads:
// /proc/sys/kernel/pid_max and threads-max.
TEST(ProbesLimits, LinuxProbeReadsPidMaxAndThreadsMaxOfThisMachine) {
  const auto pid_max = ReadNumber("/proc/sys/kernel/pid_max");
  const auto threads_max = ReadNumber("/proc/sys/kernel/threads-max");
  ASSERT_TRUE(pid_max && threads_max) << "this test needs a Linux /proc";
  const FingerprintResult fp = ParseFingerprint(RunUnderSh(FingerprintScript(), "fingerprint"));
  ASSERT_TRUE(fp.ok()) << fp.error;
  for (Dialect dialect : {Dialect::kLinuxProcps, Dialect::kBusybox}) {
    const std::string output =
        RunUnderSh(ProcessProbeScript(dialect, fp.fingerprint, kNonce), "probe");
    const ProbeParseResult r = ParseProcessProbe(dialect, fp.fingerprint, output, kNonce);
    ASSERT_TRUE(r.ok()) << r.error;
    EXPECT_EQ(r.snapshot.max_processes, pid_max) << DialectName(dialect);
    EXPECT_EQ(r.snapshot.max_threads, threads_max) << DialectName(dialect);
    EXPECT_EQ(r.snapshot.stats.processes_unreadable, 0u) << DialectName(dialect);
  }
}

TEST(ProbesLimits, ProcSysLinesOutOfShapeAreSkippedAndCounted) {
  ParseStats stats;
  const HostLimits limits = ParseProcSysLimits(
      "/proc/sys/kernel/pid_max:4194304\n/proc/sys/kernel/threads-max:lots\n"
      "/proc/sys/kernel/ostype:Linux\n",
      stats);
  EXPECT_EQ(limits.max_processes, 4194304);
  EXPECT_FALSE(limits.max_threads.has_value());
  EXPECT_EQ(stats.lines_skipped, 2u);
  EXPECT_EQ(stats.skipped[static_cast<std::size_t>(SkipReason::kBadNumber)], 2u);
}

// kconfig(5)'s -P format with the tab and the empty line between tunables, as specified.
TEST(ProbesLimits, KctuneGivesNprocAndNkthread) {
  ParseStats stats;
  const HostLimits limits =
      ParseKctuneLimits("name\tnproc\ncurrent\t4200\n\nname\tnkthread\ncurrent\t8416\n\n", stats);
  EXPECT_EQ(limits.max_processes, 4200);
  EXPECT_EQ(limits.max_threads, 8416);
  ParseStats bad;
  EXPECT_FALSE(ParseKctuneLimits("name\tnproc\ncurrent\t0x1068\n", bad).max_processes);
  EXPECT_EQ(bad.lines_skipped, 1u);
}

// Solaris's limit comes once per session from the fingerprint (max_nprocs is fixed at boot)
// and reaches every snapshot; HP-UX's comes from each probe.
TEST(ProbesLimits, SolarisTakesTheFingerprintsLimitHpuxItsProbes) {
  const FingerprintResult fp = ParseFingerprint(
      "@@FLEETPS fp0fingerprint BEGIN uname-s\nSunOS\n@@FLEETPS fp0fingerprint END uname-s rc=0\n"
      "@@FLEETPS fp0fingerprint BEGIN kstat-var\nunix:0:var:v_proc\t30000\n"
      "@@FLEETPS fp0fingerprint END kstat-var rc=0\n");
  ASSERT_TRUE(fp.ok()) << fp.error;
  EXPECT_EQ(fp.fingerprint.max_processes, 30000);
  const std::string frame = "@@FLEETPS " + std::string(kNonce);
  const std::string ps = frame +
                         " BEGIN ps\n    1     0 root S 10:00 0:01 100 200 1 - /sbin/init\n" +
                         frame + " END ps rc=0\n";
  const ProbeParseResult sol = ParseProcessProbe(Dialect::kSolaris, fp.fingerprint, ps, kNonce);
  ASSERT_TRUE(sol.ok()) << sol.error;
  EXPECT_EQ(sol.snapshot.max_processes, 30000);
  EXPECT_FALSE(sol.snapshot.max_threads.has_value());
  const std::string hpux_ps = frame + " BEGIN ps\n    1     0 root S 10:00 0:01 200 /sbin/init\n" +
                              frame + " END ps rc=0\n" + frame + " BEGIN kctune-limits\n" +
                              "name\tnproc\ncurrent\t4200\n\nname\tnkthread\ncurrent\t8416\n" +
                              frame + " END kctune-limits rc=0\n";
  const ProbeParseResult hpux = ParseProcessProbe(Dialect::kHpux, {}, hpux_ps, kNonce);
  ASSERT_TRUE(hpux.ok()) << hpux.error;
  EXPECT_EQ(hpux.snapshot.max_processes, 4200);
  EXPECT_EQ(hpux.snapshot.max_threads, 8416);
}

TEST(ProbesLimits, ScriptsAskWhereThePlatformTells) {
  Fingerprint fp;
  EXPECT_NE(ProcessProbeScript(Dialect::kLinuxProcps, fp, kNonce).find("/proc/sys/kernel/pid_max"),
            std::string::npos);
  EXPECT_NE(ProcessProbeScript(Dialect::kHpux, fp, kNonce).find("kctune -P name,current nproc"),
            std::string::npos);
  EXPECT_NE(FingerprintScript().find("kstat -p unix:0:var:v_proc"), std::string::npos);
  for (Dialect d : {Dialect::kAix, Dialect::kSolaris, Dialect::kFreebsd, Dialect::kDarwin}) {
    const std::string script = ProcessProbeScript(d, fp, kNonce);
    EXPECT_EQ(script.find("pid_max"), std::string::npos) << DialectName(d);
    EXPECT_EQ(script.find("kctune"), std::string::npos) << DialectName(d);
  }
}

}  // namespace
}  // namespace fleetps::probes
