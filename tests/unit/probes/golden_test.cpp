// Golden tests: whole-probe fixtures per dialect (tests/data/probes/<dialect>/), parsed with the
// fingerprint the matching host would have produced.
#include <gtest/gtest.h>

#include <algorithm>

#include "fixture.hpp"
#include "fleetps/probes/parsers.hpp"

namespace fleetps::probes {
namespace {

using testing::FindPid;
using testing::kNonce;
using testing::ReadFixture;

Fingerprint LinuxFingerprint() {
  Fingerprint fp;
  fp.os = "Linux";
  fp.clk_tck = 100;
  fp.page_size = 4096;
  fp.ps_has_o = true;
  return fp;
}

ProbeParseResult Parse(Dialect dialect, std::string_view file, Fingerprint fp = {}) {
  return ParseProcessProbe(dialect, fp, ReadFixture(file), kNonce);
}

bool HasSocket(const HostSnapshot& snap, std::string_view proto, std::uint32_t port,
               std::optional<std::int64_t> pid) {
  return std::any_of(snap.listening.begin(), snap.listening.end(), [&](const ListenSocket& s) {
    return s.proto == proto && s.port == port && s.pid == pid;
  });
}

TEST(ProbesGoldenLinux, ParsesWholeProbe) {
  const ProbeParseResult r =
      Parse(Dialect::kLinuxProcps, "linux-procps/probe.txt", LinuxFingerprint());
  ASSERT_TRUE(r.ok()) << r.error;
  const HostSnapshot& snap = r.snapshot;
  EXPECT_EQ(snap.remote_clock_unix, 1700086400);
  EXPECT_EQ(snap.self_pid, 4242);
  EXPECT_EQ(snap.boot_time_unix, 1700000000.0);
  EXPECT_EQ(snap.stats.lines_outside, 4u);  // comment, MOTD lines
  EXPECT_EQ(snap.stats.lines_skipped, 0u);
  // 14 ps rows minus the probe shell, its ps child and the `bash -c /bin/sh -s` parent.
  EXPECT_EQ(snap.processes.size(), 11u);
  EXPECT_EQ(snap.stats.self_excluded, 3u);
  EXPECT_EQ(FindPid(snap, 4242), nullptr);
  EXPECT_EQ(FindPid(snap, 4243), nullptr);
  EXPECT_EQ(FindPid(snap, 4200), nullptr);
  EXPECT_NE(FindPid(snap, 4190), nullptr);  // sshd session process stays
  EXPECT_EQ(FindPid(snap, 4250), nullptr);  // /proc-only pid not in ps

  const ProcessRow* pg = FindPid(snap, 1500);
  ASSERT_NE(pg, nullptr);
  EXPECT_EQ(pg->user, "postgres");
  EXPECT_EQ(pg->comm, "postgres");
  EXPECT_EQ(pg->exe(), "/usr/lib/postgresql/15/bin/postgres");
  EXPECT_EQ(pg->state, "Ss");
  EXPECT_EQ(pg->state_bucket, StateBucket::kSleeping);
  EXPECT_DOUBLE_EQ(*pg->cpu_user_seconds, 50.0);
  EXPECT_DOUBLE_EQ(*pg->cpu_system_seconds, 20.0);
  EXPECT_DOUBLE_EQ(*pg->cpu_total_seconds, 70.0);
  EXPECT_DOUBLE_EQ(*pg->start_time_unix, 1700000000.0 + 3600.0);
  EXPECT_EQ(pg->rss_bytes, 7500u * 4096u);  // /proc pages win over ps KiB
  EXPECT_EQ(pg->vsz_bytes, 220000u * 1024u);
  EXPECT_EQ(pg->swap_bytes, 16u * 1024u);
  EXPECT_EQ(pg->fds, 12);
  EXPECT_EQ(pg->fd_limit, 4096);
  EXPECT_EQ(pg->read_bytes, 1500u * 4096u);
  EXPECT_EQ(pg->write_bytes, 1500u * 512u);
  EXPECT_EQ(pg->minor_faults, 10000u);
  EXPECT_EQ(pg->major_faults, 40u);
  EXPECT_EQ(pg->ctx_voluntary, 15000u);
  EXPECT_EQ(pg->ctx_involuntary, 1500u);

  // 15-character comm truncation, numeric user, unlimited fd limit, no io permission.
  const ProcessRow* kube = FindPid(snap, 2000);
  ASSERT_NE(kube, nullptr);
  EXPECT_EQ(kube->comm, "kube-controller");
  EXPECT_EQ(kube->user, "1000010");
  EXPECT_EQ(kube->threads, 42);
  EXPECT_FALSE(kube->fd_limit.has_value());
  EXPECT_FALSE(kube->read_bytes.has_value());
  EXPECT_EQ(kube->exe(), "/usr/local/bin/kube-controller-manager");

  // Kernel threads and zombies have no command line; comm with parentheses and spaces.
  const ProcessRow* kthreadd = FindPid(snap, 2);
  ASSERT_NE(kthreadd, nullptr);
  EXPECT_EQ(kthreadd->comm, "kthreadd");
  EXPECT_TRUE(kthreadd->args.empty());
  EXPECT_TRUE(kthreadd->exe().empty());
  EXPECT_TRUE(kthreadd->kernel);
  const ProcessRow* zombie = FindPid(snap, 3000);
  ASSERT_NE(zombie, nullptr);
  EXPECT_EQ(zombie->state_bucket, StateBucket::kZombie);
  EXPECT_TRUE(zombie->args.empty());
  EXPECT_FALSE(zombie->kernel) << "[sh] <defunct> is a zombie, not a kernel thread";
  EXPECT_EQ(FindPid(snap, 2100)->comm, "(sd-pam)");
  EXPECT_EQ(FindPid(snap, 3100)->comm, "Web Content");
  EXPECT_EQ(FindPid(snap, 3100)->state_bucket, StateBucket::kRunning);
  EXPECT_FALSE(FindPid(snap, 3100)->fds.has_value());  // fd dir unreadable: absent, not 0

  EXPECT_EQ(snap.listening.size(), 5u);
  EXPECT_TRUE(HasSocket(snap, "tcp", 22, 812));
  EXPECT_TRUE(HasSocket(snap, "tcp6", 22, 812));
  EXPECT_TRUE(HasSocket(snap, "tcp", 5432, 1500));
  EXPECT_TRUE(HasSocket(snap, "udp", 53, std::nullopt));
  EXPECT_TRUE(HasSocket(snap, "tcp", 10257, 2000));
}

TEST(ProbesGoldenLinux, CrlfGivesTheSameSnapshot) {
  std::string text = ReadFixture("linux-procps/probe.txt");
  std::string crlf;
  for (char c : text) {
    if (c == '\n') crlf.push_back('\r');
    crlf.push_back(c);
  }
  const ProbeParseResult a =
      ParseProcessProbe(Dialect::kLinuxProcps, LinuxFingerprint(), text, kNonce);
  const ProbeParseResult b =
      ParseProcessProbe(Dialect::kLinuxProcps, LinuxFingerprint(), crlf, kNonce);
  ASSERT_TRUE(b.ok()) << b.error;
  ASSERT_EQ(a.snapshot.processes.size(), b.snapshot.processes.size());
  for (std::size_t i = 0; i < a.snapshot.processes.size(); ++i) {
    EXPECT_EQ(a.snapshot.processes[i].args, b.snapshot.processes[i].args);
    EXPECT_EQ(a.snapshot.processes[i].comm, b.snapshot.processes[i].comm);
    EXPECT_EQ(a.snapshot.processes[i].fds, b.snapshot.processes[i].fds);
  }
  EXPECT_EQ(a.snapshot.listening.size(), b.snapshot.listening.size());
}

TEST(ProbesGoldenLinux, HugeArgumentList) {
  const ProbeParseResult r =
      Parse(Dialect::kLinuxProcps, "linux-procps/probe-huge-args.txt", LinuxFingerprint());
  ASSERT_TRUE(r.ok()) << r.error;
  const ProcessRow* runner = FindPid(r.snapshot, 5000);
  ASSERT_NE(runner, nullptr);
  EXPECT_GT(runner->args.size(), 100000u);
  EXPECT_EQ(runner->exe(), "/opt/batch/bin/runner");
  EXPECT_TRUE(runner->args.ends_with("part-004199.csv"));
}

TEST(ProbesGoldenLinux, TruncatedOptionalSectionKeepsTheTable) {
  const ProbeParseResult r =
      Parse(Dialect::kLinuxProcps, "linux-procps/probe-truncated-fd.txt", LinuxFingerprint());
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_TRUE(r.snapshot.stats.truncated_last_line);
  EXPECT_EQ(r.snapshot.stats.sections_unterminated, 1u);
  EXPECT_EQ(FindPid(r.snapshot, 1500)->fds, 12);
  EXPECT_TRUE(r.snapshot.listening.empty());
}

TEST(ProbesGoldenLinux, TruncatedProcessTableIsAnError) {
  const ProbeParseResult r =
      Parse(Dialect::kLinuxProcps, "linux-procps/probe-truncated-ps.txt", LinuxFingerprint());
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.error, "process table truncated");
}

TEST(ProbesGoldenBusybox, HeaderDrivenPsWithScaledSizes) {
  const ProbeParseResult r = Parse(Dialect::kBusybox, "busybox/probe-o.txt", LinuxFingerprint());
  ASSERT_TRUE(r.ok()) << r.error;
  const HostSnapshot& snap = r.snapshot;
  EXPECT_EQ(snap.processes.size(), 5u);  // 900 (probe) and 901 (its ps) excluded
  const ProcessRow* httpd = FindPid(snap, 200);
  ASSERT_NE(httpd, nullptr);
  EXPECT_EQ(httpd->user, "www-data");
  EXPECT_EQ(httpd->comm, "httpd");  // from /proc stat; "{httpd}" prefix stripped from args
  EXPECT_EQ(httpd->args, "/usr/sbin/lighttpd -D -f /etc/lighttpd/lighttpd.conf");
  EXPECT_EQ(httpd->exe(), "/usr/sbin/lighttpd");
  EXPECT_EQ(httpd->fds, 8);
  EXPECT_EQ(httpd->fd_limit, 1024);
  EXPECT_EQ(httpd->rss_bytes, 150u * 4096u);
  EXPECT_DOUBLE_EQ(*httpd->cpu_user_seconds, 0.5);
  EXPECT_DOUBLE_EQ(*httpd->start_time_unix, 1710000005.0);
  EXPECT_EQ(FindPid(snap, 201)->comm, "lighttpd-angel");
  EXPECT_TRUE(HasSocket(snap, "tcp", 80, 200));
  EXPECT_TRUE(HasSocket(snap, "tcp6", 22, 350));
  EXPECT_TRUE(HasSocket(snap, "udp", 514, 120));
}

TEST(ProbesGoldenBusybox, PlainPsWithCrlf) {
  const ProbeParseResult r =
      Parse(Dialect::kBusybox, "busybox/probe-noo-crlf.txt", LinuxFingerprint());
  ASSERT_TRUE(r.ok()) << r.error;
  const HostSnapshot& snap = r.snapshot;
  // 1 and 200; 900 is the probe; 2 has no /proc line (exited) and no known parent.
  ASSERT_EQ(snap.processes.size(), 2u);
  EXPECT_EQ(FindPid(snap, 200)->user, "33");
  EXPECT_EQ(FindPid(snap, 200)->ppid, 1);  // from /proc: plain ps has no PPID
  EXPECT_EQ(FindPid(snap, 200)->comm, "httpd");
  EXPECT_EQ(FindPid(snap, 2), nullptr);
  EXPECT_EQ(FindPid(snap, 1)->args, "init");
}

// process-exporter's per-process error counts, read off the fixture: no row unreadable; the
// rows without /proc/PID/io (1, 2, 812, 2000, 2100, 3100, 4190) and the zombie 3000 without an
// fd listing lack a reading others have.
TEST(ProbesGoldenLinux, CountsProcessesWithAReadingMissing) {
  const ProbeParseResult r =
      Parse(Dialect::kLinuxProcps, "linux-procps/probe.txt", LinuxFingerprint());
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.snapshot.stats.processes_unreadable, 0u);
  EXPECT_EQ(r.snapshot.stats.processes_partial, 8u);
}

TEST(ProbesGoldenAix, DecimalCommasLsofAndNetstat) {
  Fingerprint fp;
  fp.os = "AIX";
  const ProbeParseResult r = Parse(Dialect::kAix, "aix/probe.txt", fp);
  ASSERT_TRUE(r.ok()) << r.error;
  const HostSnapshot& snap = r.snapshot;
  EXPECT_EQ(snap.stats.lines_skipped, 1u);         // " bad line with words"
  EXPECT_EQ(snap.stats.processes_unreadable, 1u);  // that line is a process ps listed
  EXPECT_EQ(snap.processes.size(), 9u);
  // Running (blank wait channel) with a command of several words: the first word is the
  // command's, not the wait channel's.
  const ProcessRow* rmcd = FindPid(snap, 4456100);
  ASSERT_NE(rmcd, nullptr);
  EXPECT_EQ(rmcd->args, "/usr/sbin/rsct/bin/rmcd -a IBM.LPCommands -r");
  EXPECT_EQ(rmcd->state_bucket, StateBucket::kRunning);
  const ProcessRow* init = FindPid(snap, 1);
  ASSERT_NE(init, nullptr);
  EXPECT_DOUBLE_EQ(*init->cpu_total_seconds, 12 * 60 + 34.5);
  EXPECT_FALSE(init->cpu_system_seconds.has_value());
  EXPECT_DOUBLE_EQ(*init->start_time_unix, 1700000000.0 - (95 * 86400 + 3723));
  EXPECT_EQ(init->fds, 3);
  const ProcessRow* pmon = FindPid(snap, 4325554);
  ASSERT_NE(pmon, nullptr);
  EXPECT_EQ(pmon->comm, "oracle");
  EXPECT_EQ(pmon->args, "ora_pmon_PROD");
  EXPECT_EQ(pmon->threads, 53);
  EXPECT_EQ(pmon->rss_bytes, 812345u * 1024u);
  EXPECT_EQ(pmon->fds, 25);
  // State A is "active": the wait channel tells asleep ("*": several sleeping threads, or an
  // address) from running (blank).
  EXPECT_EQ(pmon->state_bucket, StateBucket::kSleeping);
  EXPECT_EQ(FindPid(snap, 4325560)->state_bucket, StateBucket::kRunning);
  EXPECT_EQ(init->state_bucket, StateBucket::kSleeping);
  // Zombie and <exiting> rows leave columns blank; they are processes all the same.
  const ProcessRow* zombie = FindPid(snap, 6095244);
  ASSERT_NE(zombie, nullptr);
  EXPECT_EQ(zombie->state_bucket, StateBucket::kZombie);
  EXPECT_EQ(zombie->ppid, 4325554);
  EXPECT_TRUE(zombie->user.empty());
  EXPECT_FALSE(zombie->rss_bytes.has_value());
  EXPECT_EQ(zombie->args, "<defunct>");
  const ProcessRow* exiting = FindPid(snap, 7733720);
  ASSERT_NE(exiting, nullptr);
  EXPECT_EQ(exiting->ppid, 0);
  EXPECT_EQ(exiting->args, "<exiting>");
  EXPECT_EQ(exiting->state_bucket, StateBucket::kOther);
  EXPECT_EQ(FindPid(snap, 4456001)->user, "205");
  EXPECT_FALSE(FindPid(snap, 3932302)->fds.has_value());
  // netstat lists every socket; the non-root lsof only the monitor user's listener, whose pid
  // the merge attaches.
  EXPECT_EQ(snap.listening.size(), 3u);
  EXPECT_TRUE(HasSocket(snap, "tcp", 22, std::nullopt));
  EXPECT_TRUE(HasSocket(snap, "tcp", 1521, 4456001));
  EXPECT_TRUE(HasSocket(snap, "udp", 123, std::nullopt));
}

TEST(ProbesGoldenSolaris, ZoneAndFullArguments) {
  Fingerprint fp;
  fp.os = "SunOS";
  fp.zonename = "appzone";
  const ProbeParseResult r = Parse(Dialect::kSolaris, "solaris/probe.txt", fp);
  ASSERT_TRUE(r.ok()) << r.error;
  const HostSnapshot& snap = r.snapshot;
  EXPECT_EQ(snap.processes.size(), 6u);  // 28001 and its `-sh -c /bin/sh -s` parent excluded
  const ProcessRow* java = FindPid(snap, 7001);
  ASSERT_NE(java, nullptr);
  EXPECT_EQ(java->zone, "appzone");
  EXPECT_EQ(java->state_bucket, StateBucket::kRunning);  // "O" = on a processor
  EXPECT_TRUE(java->args.ends_with("com.example.billing.Main")) << java->args;
  EXPECT_GT(java->args.size(), 80u);
  EXPECT_EQ(java->comm, "java");  // Solaris prints the executed path; comm is its base name
  EXPECT_EQ(java->exe(), "/opt/app/jdk1.8.0/bin/java");
  EXPECT_DOUBLE_EQ(*java->cpu_total_seconds, 12 * 3600 + 34 * 60 + 56);
  EXPECT_EQ(java->threads, 57);
  EXPECT_EQ(FindPid(snap, 7002)->args, "/usr/bin/sleep 3600");
  // lsof run by monitor: its own processes only; other users' descriptors stay unknown.
  EXPECT_FALSE(java->fds.has_value());
  EXPECT_EQ(FindPid(snap, 7100)->fds, 5);
  EXPECT_EQ(snap.listening.size(), 5u);
  EXPECT_TRUE(HasSocket(snap, "udp", 111, std::nullopt));
  EXPECT_TRUE(HasSocket(snap, "tcp", 8080, std::nullopt));
  EXPECT_TRUE(HasSocket(snap, "tcp", 22, std::nullopt));
  EXPECT_TRUE(HasSocket(snap, "tcp6", 22, std::nullopt));
  EXPECT_TRUE(HasSocket(snap, "tcp6", 9100, 7100));  // netstat's "*.9100", lsof's "*:9100"
}

TEST(ProbesGoldenHpux, NoResidentSizeAndCutOutput) {
  Fingerprint fp;
  fp.os = "HP-UX";
  const ProbeParseResult r = Parse(Dialect::kHpux, "hpux/probe.txt", fp);
  ASSERT_TRUE(r.ok()) << r.error;
  const HostSnapshot& snap = r.snapshot;
  EXPECT_EQ(snap.processes.size(), 4u);
  const ProcessRow* ase = FindPid(snap, 2345);
  ASSERT_NE(ase, nullptr);
  EXPECT_FALSE(ase->rss_bytes.has_value());
  EXPECT_EQ(ase->vsz_bytes, 812000u * 1024u);
  EXPECT_EQ(ase->comm, "dataserver");
  EXPECT_DOUBLE_EQ(*ase->cpu_total_seconds, 36000.0);
  EXPECT_FALSE(ase->threads.has_value());  // no thread count from HP-UX ps
  EXPECT_EQ(snap.max_processes, 4200);     // kctune nproc
  EXPECT_EQ(snap.max_threads, 8416);       // kctune nkthread
  EXPECT_TRUE(snap.stats.truncated_last_line);
  EXPECT_EQ(snap.listening.size(), 3u);  // the partial "*.49" line is dropped
  EXPECT_TRUE(HasSocket(snap, "tcp", 4100, std::nullopt));
}

TEST(ProbesGoldenFreebsd, SplitCpuProcstatSockstat) {
  Fingerprint fp;
  fp.os = "FreeBSD";
  const ProbeParseResult r = Parse(Dialect::kFreebsd, "freebsd/probe.txt", fp);
  ASSERT_TRUE(r.ok()) << r.error;
  const HostSnapshot& snap = r.snapshot;
  EXPECT_EQ(snap.processes.size(), 4u);
  const ProcessRow* nginx = FindPid(snap, 950);
  ASSERT_NE(nginx, nullptr);
  EXPECT_DOUBLE_EQ(*nginx->cpu_user_seconds, 754.56);
  EXPECT_DOUBLE_EQ(*nginx->cpu_system_seconds, 62.03);
  EXPECT_NEAR(*nginx->cpu_total_seconds, 816.59, 1e-9);
  EXPECT_EQ(nginx->fds, 3);
  EXPECT_EQ(nginx->threads, 12);
  EXPECT_EQ(FindPid(snap, 1)->fds, 1);
  EXPECT_EQ(FindPid(snap, 1)->state_bucket, StateBucket::kSleeping);  // I = idle
  EXPECT_TRUE(HasSocket(snap, "tcp", 80, 950));
  EXPECT_TRUE(HasSocket(snap, "tcp6", 22, 812));
  EXPECT_TRUE(HasSocket(snap, "udp", 514, 600));
}

TEST(ProbesGoldenDarwin, CommPathsWithSpacesAndLsof) {
  Fingerprint fp;
  fp.os = "Darwin";
  const ProbeParseResult r = Parse(Dialect::kDarwin, "darwin/probe.txt", fp);
  ASSERT_TRUE(r.ok()) << r.error;
  const HostSnapshot& snap = r.snapshot;
  EXPECT_EQ(snap.processes.size(), 3u);
  const ProcessRow* chrome = FindPid(snap, 500);
  ASSERT_NE(chrome, nullptr);
  EXPECT_EQ(chrome->comm, "Google Chrome");
  EXPECT_EQ(chrome->fds, 40);
  EXPECT_DOUBLE_EQ(*chrome->cpu_user_seconds, 40.25);
  EXPECT_DOUBLE_EQ(*chrome->cpu_system_seconds, 60.5 - 40.25);
  EXPECT_EQ(FindPid(snap, 620)->user, "_postgres");
  EXPECT_EQ(snap.listening.size(), 3u);  // connected UDP skipped
  EXPECT_TRUE(HasSocket(snap, "tcp6", 5432, 620));
  EXPECT_TRUE(HasSocket(snap, "tcp", 5432, 620));
  EXPECT_TRUE(HasSocket(snap, "udp", 5353, 500));
}

TEST(ProbesGoldenErrors, MissingProcessTable) {
  const std::string out =
      "@@FLEETPS 5f3a9c1be07d4e62 BEGIN clock\n1\n"
      "@@FLEETPS 5f3a9c1be07d4e62 END clock rc=0\n";
  for (Dialect d : kAllDialects) {
    const ProbeParseResult r = ParseProcessProbe(d, {}, out, kNonce);
    EXPECT_EQ(r.error, "missing process table") << DialectName(d);
  }
}

TEST(ProbesGoldenErrors, WrongNonceSeesNoSections) {
  const ProbeParseResult r =
      ParseProcessProbe(Dialect::kLinuxProcps, LinuxFingerprint(),
                        ReadFixture("linux-procps/probe.txt"), "0123456789abcdef");
  EXPECT_FALSE(r.ok());
  EXPECT_GT(r.snapshot.stats.lines_outside, 100u);
}

TEST(ProbesGoldenErrors, ForgedMarkerInArgumentsDoesNotSplit) {
  // A process whose arguments print a marker with a different nonce stays a plain row.
  const std::string out =
      "@@FLEETPS 5f3a9c1be07d4e62 BEGIN ps\n"
      "   10     1 eve S 00:10 00:00:00 100 200 1 echo @@FLEETPS 5f3a9c1be07d4e62 END ps rc=0\n"
      "   11     1 eve S 00:10 00:00:00 100 200 1 /bin/true\n"
      "@@FLEETPS 5f3a9c1be07d4e62 END ps rc=0\n";
  const ProbeParseResult r = ParseProcessProbe(Dialect::kLinuxProcps, {}, out, kNonce);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.snapshot.processes.size(), 2u);
}

}  // namespace
}  // namespace fleetps::probes
