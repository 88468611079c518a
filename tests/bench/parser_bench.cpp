// Throughput of the probe parsers on one core (issue 4: >= 300 MB/s of ps output).
//
// Probe/<dialect>/<rows>: the whole ParseProcessProbe path (framing, ps table, the dialect's
// other sections: /proc batches on Linux, comm/ucb-ps/lsof/procstat elsewhere, listening
// sockets, merge, sort, self exclusion) on a synthetic output shaped like that dialect's fixture
// in tests/data/probes, at 1,000, 10,000 and 100,000 processes. MB = 10^6 bytes of the whole
// output per CPU second of the benchmark thread.
// PsTable/<rows>: ParsePsTable alone on the procps-shaped table of the first version of this
// benchmark (kept unchanged for comparison with earlier runs).
//
// Defaults: 5 repetitions, aggregates only (read the _median rows); any --benchmark_* flag
// overrides. `parser_bench --stats` prints what each output parses into.
// `parser_bench --instructions[=CASE]` parses each case (CASE: a full name, or a prefix that
// ends before a '/') once more after a warm-up parse and dumps one callgrind profile per case:
// stable instruction counts on a shared machine.
//   valgrind --tool=callgrind --callgrind-out-file=cg.%p parser_bench --instructions=Probe/aix
//   grep -a '^summary:' cg.*.*     (one dump per case, in the order printed)
// Built as a target only; it is never a CTest test, because it times things.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "fleetps/probes/parsers.hpp"

#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define FLEETPS_BENCH_CALLGRIND 1
#endif

namespace {

using fleetps::probes::Dialect;

constexpr std::string_view kNonce = "5f3a9c1be07d4e62";
constexpr std::int64_t kClock = 1700000000;
constexpr std::int64_t kBoot = 1690000000;
constexpr int kSizes[] = {1000, 10000, 100000};

// ---- a deterministic process population ------------------------------------------------------

std::uint64_t Mix(std::uint64_t x) {  // splitmix64
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

struct Command {
  const char* comm;
  const char* args;
};

// Shapes seen in the fixtures and on real hosts: short daemons, long JVM and database command
// lines, worker titles that rewrite argv.
constexpr Command kCommands[] = {
    {"systemd", "/sbin/init splash"},
    {"sshd", "sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups"},
    {"postgres", "postgres: 15/main: checkpointer "},
    {"postgres",
     "/usr/lib/postgresql/15/bin/postgres -D /var/lib/postgresql/15/main -c "
     "config_file=/etc/postgresql/15/main/postgresql.conf"},
    {"java",
     "/usr/lib/jvm/java-17-openjdk-amd64/bin/java -Xms512m -Xmx2g -XX:+UseG1GC "
     "-Dapp.name=billing -Dlog4j.configurationFile=/opt/billing/conf/log4j2.xml -classpath "
     "/opt/billing/lib/billing.jar:/opt/billing/lib/deps/* com.example.billing.Main "
     "--spring.profiles.active=prod"},
    {"nginx", "nginx: worker process"},
    {"bash", "-bash"},
    {"python3", "/usr/bin/python3 /opt/app/manage.py runserver 0.0.0.0:8000"},
    {"cron", "/usr/sbin/cron -f"},
    {"rsyslogd", "/usr/sbin/rsyslogd -n -iNONE"},
    {"kube-controller",
     "/usr/local/bin/kube-controller-manager --leader-elect=true "
     "--kubeconfig=/etc/kubernetes/controller-manager.conf"},
    {"ora_pmon_PROD", "ora_pmon_PROD"},
    {"sleep", "sleep 3600"},
    {"httpd", "/usr/sbin/httpd -DFOREGROUND"},
};
constexpr const char* kKernelThreads[] = {
    "kworker/3:1-events",     "ksoftirqd/1", "rcu_sched", "migration/0",
    "kworker/u8:2-flush-8:0", "jbd2/sda1-8"};
constexpr const char* kUsers[] = {"root",   "root",       "postgres", "www-data",
                                  "oracle", "monitoring", "nobody",   "1000010"};

struct Proc {
  std::int64_t pid = 0;
  std::int64_t ppid = 0;
  std::string user;
  int uid = 0;
  bool kernel = false;
  std::string comm;
  std::string args;
  char state = 'S';
  std::int64_t etime = 0;   // seconds
  std::uint64_t utime = 0;  // ticks
  std::uint64_t stime = 0;  // ticks
  std::uint64_t rss_kib = 0;
  std::uint64_t vsz_kib = 0;
  int threads = 1;
  int fds = 0;
  bool readable = false;  // /proc/<pid>/{io,fd} (or lsof) readable by the probe user
};

// `rows` processes; the last two are the probe's own shell and its ps (self exclusion runs as
// it does on a real host). Linux gets kernel threads.
std::vector<Proc> Population(int rows, bool linux_like) {
  std::vector<Proc> procs;
  procs.reserve(static_cast<std::size_t>(rows));
  std::int64_t pid = 1;
  for (int i = 0; i < rows; ++i) {
    const std::uint64_t h = Mix(static_cast<std::uint64_t>(i));
    Proc p;
    p.pid = pid;
    pid += 1 + static_cast<std::int64_t>(h % 4);
    p.ppid = i == 0 ? 0 : (h >> 8) % 3 == 0 ? 1 : procs[(h >> 12) % procs.size()].pid;
    p.kernel = linux_like && i > 0 && (h >> 16) % 4 == 0;
    const std::size_t user = p.kernel ? 0 : (h >> 20) % std::size(kUsers);
    p.user = kUsers[user];
    p.uid = static_cast<int>(user * 1000);
    if (p.kernel) {
      p.comm = kKernelThreads[(h >> 24) % std::size(kKernelThreads)];
      p.args = "[" + p.comm + "]";
      p.ppid = 2;
    } else {
      const Command& c = kCommands[(h >> 24) % std::size(kCommands)];
      p.comm = c.comm;
      p.args = c.args;
    }
    static constexpr char kStates[] = "SSSSSSSRDZ";
    p.state = kStates[(h >> 28) % 10];
    p.etime = static_cast<std::int64_t>((h >> 32) % (90 * 86400));
    p.utime = (h >> 20) % 500000;
    p.stime = (h >> 30) % 100000;
    p.rss_kib = p.kernel ? 0 : 1000 + (h >> 36) % 900000;
    p.vsz_kib = p.kernel ? 0 : p.rss_kib * 3 + (h >> 40) % 100000;
    p.threads = 1 + static_cast<int>((h >> 44) % 8 == 0 ? (h >> 48) % 60 : 0);
    p.readable = !p.kernel && (h >> 52) % 3 == 0;
    p.fds = 3 + static_cast<int>((h >> 56) % 24);
    procs.push_back(std::move(p));
  }
  if (rows >= 2) {
    Proc& sh = procs[procs.size() - 2];
    sh.user = "monitor";
    sh.kernel = false;
    sh.comm = "sh";
    sh.args = "/bin/sh -s";
    Proc& ps = procs.back();
    ps.user = "monitor";
    ps.kernel = false;
    ps.ppid = sh.pid;
    ps.comm = "ps";
    ps.args = "ps -e -o pid= -o ppid= -o user= -o stat= -o etime= -o time= -o args=";
    ps.state = 'R';
  }
  return procs;
}

// ---- formatting helpers ----------------------------------------------------------------------

void Appendf(std::string& out, const char* format, ...) __attribute__((format(printf, 2, 3)));
void Appendf(std::string& out, const char* format, ...) {
  char buffer[1024];
  va_list args;
  va_start(args, format);
  const int n = std::vsnprintf(buffer, sizeof buffer, format, args);
  va_end(args);
  if (n > 0) out.append(buffer, std::min(static_cast<std::size_t>(n), sizeof buffer - 1));
}

// [[dd-]hh:]mm:ss as POSIX etime/time print it.
std::string Clock(std::int64_t seconds, bool always_hours) {
  char buffer[48];
  const std::int64_t d = seconds / 86400, h = seconds / 3600 % 24, m = seconds / 60 % 60,
                     s = seconds % 60;
  if (d > 0) {
    std::snprintf(buffer, sizeof buffer, "%lld-%02lld:%02lld:%02lld", static_cast<long long>(d),
                  static_cast<long long>(h), static_cast<long long>(m), static_cast<long long>(s));
  } else if (h > 0 || always_hours) {
    std::snprintf(buffer, sizeof buffer, "%02lld:%02lld:%02lld", static_cast<long long>(h),
                  static_cast<long long>(m), static_cast<long long>(s));
  } else {
    std::snprintf(buffer, sizeof buffer, "%02lld:%02lld", static_cast<long long>(m),
                  static_cast<long long>(s));
  }
  return buffer;
}

// BSD/macOS cputime: minutes:seconds.hundredths.
std::string BsdTime(std::uint64_t ticks) {
  char buffer[48];
  std::snprintf(buffer, sizeof buffer, "%llu:%02llu.%02llu",
                static_cast<unsigned long long>(ticks / 6000),
                static_cast<unsigned long long>(ticks / 100 % 60),
                static_cast<unsigned long long>(ticks % 100));
  return buffer;
}

std::string BusyboxSize(std::uint64_t kib) {
  char buffer[32];
  if (kib >= 1024 * 1024) {
    std::snprintf(buffer, sizeof buffer, "%.1fg", static_cast<double>(kib) / (1024.0 * 1024));
  } else if (kib >= 100000) {
    std::snprintf(buffer, sizeof buffer, "%llum", static_cast<unsigned long long>(kib / 1024));
  } else {
    std::snprintf(buffer, sizeof buffer, "%llu", static_cast<unsigned long long>(kib));
  }
  return buffer;
}

std::string_view Argv0(std::string_view args) { return args.substr(0, args.find(' ')); }

class Output {
 public:
  std::string text;

  void Begin(std::string_view name) {
    Appendf(text, "@@FLEETPS %.*s BEGIN %.*s\n", static_cast<int>(kNonce.size()), kNonce.data(),
            static_cast<int>(name.size()), name.data());
  }
  void End(std::string_view name, int rc = 0) {
    // The probe script's fp_e prints an empty line first, so a body without a final newline
    // still ends before the marker.
    Appendf(text, "\n@@FLEETPS %.*s END %.*s rc=%d\n", static_cast<int>(kNonce.size()),
            kNonce.data(), static_cast<int>(name.size()), name.data(), rc);
  }
  // Linux and BusyBox probes have no clock section: their clock comes from /proc.
  void Prologue(const std::vector<Proc>& procs, const char* motd, bool clock = true) {
    text += motd;
    Begin("self");
    Appendf(text, "%lld\n", static_cast<long long>(procs[procs.size() - 2].pid));
    End("self");
    if (!clock) return;
    Begin("clock");
    Appendf(text, "%lld\n", static_cast<long long>(kClock));
    End("clock");
  }
  void Comm(const std::vector<Proc>& procs, int width, bool full_path) {
    Begin("comm");
    for (const Proc& p : procs) {
      const std::string_view name = full_path ? Argv0(p.args) : std::string_view(p.comm);
      Appendf(text, "%*lld %.*s\n", width, static_cast<long long>(p.pid),
              static_cast<int>(name.size()), name.data());
    }
    End("comm");
  }
  void LsofFd(const std::vector<Proc>& procs) {
    Begin("lsof-fd");
    for (const Proc& p : procs) {
      if (!p.readable) continue;
      Appendf(text, "p%lld\nfcwd\nfrtd\nftxt\n", static_cast<long long>(p.pid));
      for (int fd = 0; fd < p.fds; ++fd) Appendf(text, "f%d\n", fd);
    }
    End("lsof-fd");
  }
  void NetstatAn() {
    Begin("listen-netstat");
    text +=
        "\nActive Internet connections (including servers)\n"
        "Proto Recv-Q Send-Q  Local Address          Foreign Address        (state)\n"
        "tcp4       0      0  *.22                   *.*                    LISTEN\n"
        "tcp        0      0  *.1521                 *.*                    LISTEN\n"
        "tcp4       0      0  10.1.2.3.22            10.9.8.7.51234         ESTABLISHED\n"
        "udp4       0      0  *.123                  *.*\n";
    End("listen-netstat");
  }
};

// /proc reads of the Linux and BusyBox probes (proc(5) layouts): the one `grep -sH` over every
// file, in its operand order, then `ls -a` of the fd directories.
void ProcBatch(Output& o, const std::vector<Proc>& procs) {
  std::string& t = o.text;
  o.Begin("proc-files");
  Appendf(t, "/proc/stat:ctxt 46063317\n/proc/stat:btime %lld\n", static_cast<long long>(kBoot));
  Appendf(t,
          "/proc/self/stat:4299 (grep) R 4242 4242 4190 0 -1 4194304 90 0 0 0 0 0 0 0 20 0 1 0 "
          "%llu 3608576 417 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n",
          static_cast<unsigned long long>(kClock - kBoot) * 100);
  t += "/proc/sys/kernel/pid_max:4194304\n/proc/sys/kernel/threads-max:192735\n";
  for (const Proc& p : procs) {
    const auto pid = static_cast<long long>(p.pid);
    const std::uint64_t start = static_cast<std::uint64_t>(kClock - kBoot - p.etime) * 100;
    Appendf(t,
            "/proc/%lld/stat:%lld (%s) %c %lld %lld %lld 0 -1 4194560 %llu 0 %llu 0 %llu %llu 0 "
            "0 20 0 %d 0 %llu %llu %llu 18446744073709551615 94000000000000 94000000100000 "
            "140700000000000 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 94000000200000 94000000300000 "
            "94000000400000 140700000001000 140700000002000 140700000002000 140700000003000 0\n",
            pid, pid, p.comm.c_str(), p.state, static_cast<long long>(p.ppid), pid, pid,
            static_cast<unsigned long long>(p.utime * 7),
            static_cast<unsigned long long>(p.stime / 9), static_cast<unsigned long long>(p.utime),
            static_cast<unsigned long long>(p.stime), p.threads,
            static_cast<unsigned long long>(start),
            static_cast<unsigned long long>(p.vsz_kib * 1024),
            static_cast<unsigned long long>(p.rss_kib / 4));
  }
  for (const Proc& p : procs) {
    const auto pid = static_cast<long long>(p.pid);
    Appendf(t, "/proc/%lld/status:Uid:\t%d\t%d\t%d\t%d\n", pid, p.uid, p.uid, p.uid, p.uid);
    if (!p.kernel) Appendf(t, "/proc/%lld/status:VmSwap:\t%d kB\n", pid, p.threads * 4 % 64);
    Appendf(t, "/proc/%lld/status:Threads:\t%d\n", pid, p.threads);
    Appendf(t, "/proc/%lld/status:voluntary_ctxt_switches:\t%llu\n", pid,
            static_cast<unsigned long long>(p.utime * 3));
    Appendf(t, "/proc/%lld/status:nonvoluntary_ctxt_switches:\t%llu\n", pid,
            static_cast<unsigned long long>(p.stime));
  }
  for (const Proc& p : procs) {
    if (!p.readable) continue;
    const auto pid = static_cast<long long>(p.pid);
    Appendf(t, "/proc/%lld/io:read_bytes: %llu\n/proc/%lld/io:write_bytes: %llu\n", pid,
            static_cast<unsigned long long>(p.utime * 4096), pid,
            static_cast<unsigned long long>(p.stime * 512));
  }
  for (const Proc& p : procs) {
    Appendf(t,
            "/proc/%lld/limits:Max open files            %-20s 524288               files     \n",
            static_cast<long long>(p.pid), p.threads > 30 ? "unlimited" : "1024");
  }
  o.End("proc-files", 2);  // unreadable io files make grep return 2
  o.Begin("proc-fd");
  t += "/proc/self/fd:\n.\n..\n0\n1\n2\n3\n";
  for (const Proc& p : procs) {
    if (!p.readable) continue;
    Appendf(t, "\n/proc/%lld/fd:\n.\n..\n", static_cast<long long>(p.pid));
    for (int fd = 0; fd < p.fds; ++fd) Appendf(t, "%d\n", fd);
  }
  o.End("proc-fd");
}

std::string LinuxProcps(const std::vector<Proc>& procs) {
  Output o;
  o.Prologue(procs, "Welcome to Ubuntu 22.04.3 LTS (GNU/Linux 5.15.0-88-generic x86_64)\n", false);
  o.Begin("ps");
  for (const Proc& p : procs) {
    const char* suffix = p.state == 'S' && p.threads > 1 ? "l" : p.ppid == 1 ? "s" : "";
    Appendf(o.text, "%5lld %5lld %-32s %c%-4s %11s %8s %5llu %6llu %4d %s\n",
            static_cast<long long>(p.pid), static_cast<long long>(p.ppid), p.user.c_str(), p.state,
            suffix, Clock(p.etime, false).c_str(),
            Clock(static_cast<std::int64_t>((p.utime + p.stime) / 100), true).c_str(),
            static_cast<unsigned long long>(p.rss_kib), static_cast<unsigned long long>(p.vsz_kib),
            p.threads, p.args.c_str());
  }
  o.End("ps");
  ProcBatch(o, procs);
  o.Begin("listen-ss");
  o.text +=
      "Netid State  Recv-Q Send-Q Local Address:Port  Peer Address:PortProcess\n"
      "udp   UNCONN 0      0          127.0.0.53%lo:53         0.0.0.0:*\n"
      "tcp   LISTEN 0      128              0.0.0.0:22         0.0.0.0:*    "
      "users:((\"sshd\",pid=812,fd=3))\n"
      "tcp   LISTEN 0      244            127.0.0.1:5432       0.0.0.0:*    "
      "users:((\"postgres\",pid=1500,fd=6))\n";
  o.End("listen-ss");
  return o.text;
}

std::string Busybox(const std::vector<Proc>& procs) {
  Output o;
  o.Prologue(procs, "BusyBox v1.35.0 (2023-01-03 10:00:00 UTC) built-in shell (ash)\n\n", false);
  o.Begin("ps-header");
  o.text += "PID   PPID  USER     STAT   RSS  VSZ COMMAND\n";
  for (const Proc& p : procs) {
    // BusyBox prints "{comm} argv..." when argv[0]'s base name differs from comm.
    std::string args = p.args;
    const std::string_view argv0 = Argv0(p.args);
    const std::string_view base = argv0.substr(argv0.rfind('/') + 1);
    if (!p.kernel && base != p.comm) args = "{" + p.comm + "} " + args;
    Appendf(o.text, "%5lld %5lld %-8s %-4c %6s %4s %s\n", static_cast<long long>(p.pid),
            static_cast<long long>(p.ppid), p.user.c_str(), p.state, BusyboxSize(p.rss_kib).c_str(),
            BusyboxSize(p.vsz_kib).c_str(), args.c_str());
  }
  o.End("ps-header");
  ProcBatch(o, procs);
  o.Begin("listen-netstat");
  o.text +=
      "Active Internet connections (only servers)\n"
      "Proto Recv-Q Send-Q Local Address           Foreign Address         State       "
      "PID/Program name\n"
      "tcp        0      0 0.0.0.0:80              0.0.0.0:*               LISTEN      "
      "200/lighttpd\n"
      "tcp        0      0 :::22                   :::*                    LISTEN      "
      "350/dropbear\n";
  o.End("listen-netstat");
  return o.text;
}

std::string Aix(const std::vector<Proc>& procs) {
  Output o;
  o.Prologue(procs, "*  Welcome to AIX Version 7.2!  *\n");
  o.Begin("ps");
  for (const Proc& p : procs) {
    // Some AIX locales print the CPU time with a decimal comma.
    std::string time = Clock(static_cast<std::int64_t>((p.utime + p.stime) / 100), true);
    if (p.pid % 10 == 0) time += ",50";
    // The wait channel: an address, "*" for several sleeping threads, blank while running.
    const char* wchan = p.pid % 10 == 3 ? "" : p.threads > 1 ? "*" : "f1000f0a00013c40";
    Appendf(o.text, "%8lld %7lld %8s A %18s %12s %6llu %6llu %6d %16s %s\n",
            static_cast<long long>(p.pid), static_cast<long long>(p.ppid), p.user.c_str(),
            Clock(p.etime, false).c_str(), time.c_str(), static_cast<unsigned long long>(p.rss_kib),
            static_cast<unsigned long long>(p.vsz_kib), p.threads, wchan, p.args.c_str());
  }
  o.End("ps");
  o.Comm(procs, 8, false);
  o.LsofFd(procs);
  o.NetstatAn();
  return o.text;
}

std::string Solaris(const std::vector<Proc>& procs) {
  Output o;
  o.Prologue(procs, "Oracle Corporation      SunOS 5.10      Generic Patch   January 2005\n");
  o.Begin("ps");
  for (const Proc& p : procs) {
    // ps -o args stops at 80 characters; ucb-ps below has the whole list.
    Appendf(o.text, "%5lld %5lld %8s %c %12s %11s %5llu %6llu %4d appzone %.80s\n",
            static_cast<long long>(p.pid), static_cast<long long>(p.ppid), p.user.c_str(),
            p.state == 'R' ? 'O' : p.state, Clock(p.etime, false).c_str(),
            Clock(static_cast<std::int64_t>((p.utime + p.stime) / 100), false).c_str(),
            static_cast<unsigned long long>(p.rss_kib), static_cast<unsigned long long>(p.vsz_kib),
            p.threads, p.args.c_str());
  }
  o.End("ps");
  o.Comm(procs, 5, true);
  o.Begin("ucb-ps");
  o.text += "   PID TT       S  TIME COMMAND\n";
  for (const Proc& p : procs) {
    Appendf(o.text, "%6lld ?        %c %s %s\n", static_cast<long long>(p.pid), p.state,
            BsdTime(p.utime + p.stime).c_str(), p.args.c_str());
  }
  o.End("ucb-ps");
  o.Begin("listen-netstat");  // Solaris: per-protocol blocks
  o.text +=
      "\nUDP: IPv4\n   Local Address        Remote Address      State\n"
      "-------------------- -------------------- ----------\n"
      "      *.111                                Idle\n\n"
      "TCP: IPv4\n   Local Address        Remote Address    Swind Send-Q Rwind Recv-Q    State\n"
      "-------------------- -------------------- ----- ------ ----- ------ -----------\n"
      "      *.22                 *.*                0      0 128000      0 LISTEN\n"
      "      *.8080               *.*                0      0 128000      0 LISTEN\n";
  o.End("listen-netstat");
  return o.text;
}

std::string Hpux(const std::vector<Proc>& procs) {
  Output o;
  o.Prologue(procs, "(c)Copyright 1983-2006 Hewlett-Packard Development Company, L.P.\n");
  o.Begin("ps");
  for (const Proc& p : procs) {
    Appendf(o.text, "%6lld %6lld %9s %c %14s %9s %6llu %s\n", static_cast<long long>(p.pid),
            static_cast<long long>(p.ppid), p.user.c_str(), p.state, Clock(p.etime, false).c_str(),
            Clock(static_cast<std::int64_t>((p.utime + p.stime) / 100), false).c_str(),
            static_cast<unsigned long long>(p.vsz_kib), p.args.c_str());
  }
  o.End("ps");
  o.Comm(procs, 6, false);
  o.NetstatAn();
  return o.text;
}

std::string Freebsd(const std::vector<Proc>& procs) {
  Output o;
  o.Prologue(procs, "FreeBSD 13.2-RELEASE (GENERIC) releng/13.2-n254617-525ecfdad597\n");
  o.Begin("ps");
  for (const Proc& p : procs) {
    Appendf(o.text, "%5lld %5lld %-8s %c%-3s %11s %9s %9s %6llu %6llu %4d %s\n",
            static_cast<long long>(p.pid), static_cast<long long>(p.ppid), p.user.c_str(), p.state,
            p.ppid == 1 ? "s" : "", Clock(p.etime, false).c_str(), BsdTime(p.utime).c_str(),
            BsdTime(p.stime).c_str(), static_cast<unsigned long long>(p.rss_kib),
            static_cast<unsigned long long>(p.vsz_kib), p.threads, p.args.c_str());
  }
  o.End("ps");
  o.Comm(procs, 5, false);
  o.Begin("procstat-fd");
  o.text += "  PID COMM                FD T V FLAGS    REF  OFFSET PRO NAME\n";
  for (const Proc& p : procs) {
    if (!p.readable) continue;
    const auto pid = static_cast<long long>(p.pid);
    const char* comm = p.comm.c_str();
    Appendf(o.text, "%5lld %-16s text v r r-------   -       - -   %s\n", pid, comm,
            std::string(Argv0(p.args)).c_str());
    Appendf(o.text, "%5lld %-16s  cwd v d r-------   -       - -   /\n", pid, comm);
    for (int fd = 0; fd < p.fds; ++fd) {
      Appendf(o.text, "%5lld %-16s %4d v c rw------   6       0 -   /dev/null\n", pid, comm, fd);
    }
  }
  o.End("procstat-fd");
  o.Begin("listen-sockstat");
  o.text +=
      "USER     COMMAND    PID   FD PROTO  LOCAL ADDRESS         FOREIGN ADDRESS\n"
      "www      nginx      950   6  tcp4   *:80                  *:*\n"
      "root     sshd       812   4  tcp6   *:22                  *:*\n";
  o.End("listen-sockstat");
  return o.text;
}

std::string Darwin(const std::vector<Proc>& procs) {
  Output o;
  o.Prologue(procs, "");
  o.Begin("ps");
  for (const Proc& p : procs) {
    Appendf(o.text, "%5lld %5lld %-8s %c%-3s %11s %10s %9s %6llu %9llu %s\n",
            static_cast<long long>(p.pid), static_cast<long long>(p.ppid), p.user.c_str(), p.state,
            p.ppid == 1 ? "s" : "", Clock(p.etime, false).c_str(),
            BsdTime(p.utime + p.stime).c_str(), BsdTime(p.utime).c_str(),
            static_cast<unsigned long long>(p.rss_kib), static_cast<unsigned long long>(p.vsz_kib),
            p.args.c_str());
  }
  o.End("ps");
  o.Comm(procs, 5, true);
  o.LsofFd(procs);
  o.Begin("listen-lsof");
  o.text += "p620\nc_postgres\nf5\ntIPv6\nPTCP\nn[::1]:5432\nf6\ntIPv4\nPTCP\nn127.0.0.1:5432\n";
  o.End("listen-lsof");
  return o.text;
}

std::string ProbeOutput(Dialect dialect, int rows) {
  const bool linux_like = dialect == Dialect::kLinuxProcps || dialect == Dialect::kBusybox;
  const std::vector<Proc> procs = Population(rows, linux_like);
  switch (dialect) {
    case Dialect::kLinuxProcps:
      return LinuxProcps(procs);
    case Dialect::kBusybox:
      return Busybox(procs);
    case Dialect::kAix:
      return Aix(procs);
    case Dialect::kSolaris:
      return Solaris(procs);
    case Dialect::kHpux:
      return Hpux(procs);
    case Dialect::kFreebsd:
      return Freebsd(procs);
    case Dialect::kDarwin:
      return Darwin(procs);
  }
  return {};
}

fleetps::probes::Fingerprint FingerprintFor() {
  fleetps::probes::Fingerprint fp;
  fp.clk_tck = 100;
  fp.page_size = 4096;
  return fp;
}

// The first version's table (procps-shaped, no framing).
std::string SyntheticPs(int rows) {
  static const char* const kArgs[] = {
      "/usr/sbin/nginx -g daemon off;",
      "postgres: 15/main: checkpointer ",
      "/usr/lib/jvm/java-17/bin/java -Xms512m -Xmx2g -Dapp.name=billing -jar /opt/billing.jar",
      "[kworker/3:1-events]",
      "/usr/bin/python3 /opt/app/manage.py runserver 0.0.0.0:8000",
  };
  std::string out;
  out.reserve(static_cast<std::size_t>(rows) * 110);
  for (int i = 0; i < rows; ++i) {
    Appendf(out, "%6d %6d %-10s %-4s %11s %s %7d %8d %4d %s\n", 1000 + i, 1 + i / 7,
            i % 3 ? "postgres" : "root", i % 5 ? "Ss" : "R", "2-03:04:05", "00:01:10", 1000 + i * 3,
            200000 + i * 11, 1 + i % 16, kArgs[i % 5]);
  }
  return out;
}

// ---- cases -----------------------------------------------------------------------------------

struct Case {
  std::string name;
  std::function<std::string()> make;
  std::function<void(const std::string&)> parse;  // one parse, result destroyed inside
  std::string text;                               // made on first use, kept for repetitions

  const std::string& Text() {
    if (text.empty()) text = make();
    return text;
  }
};

std::vector<Case> Cases() {
  std::vector<Case> cases;
  for (const Dialect dialect : fleetps::probes::kAllDialects) {
    for (const int rows : kSizes) {
      cases.push_back({"Probe/" + std::string(fleetps::probes::DialectName(dialect)) + "/" +
                           std::to_string(rows),
                       [dialect, rows] { return ProbeOutput(dialect, rows); },
                       [dialect](const std::string& text) {
                         static const fleetps::probes::Fingerprint fp = FingerprintFor();
                         auto result =
                             fleetps::probes::ParseProcessProbe(dialect, fp, text, kNonce);
                         if (!result.ok()) std::abort();  // a generator bug, not a measurement
                         benchmark::DoNotOptimize(result.snapshot.processes.data());
                       },
                       {}});
    }
  }
  for (const int rows : {1000, 100000}) {
    cases.push_back({"PsTable/" + std::to_string(rows),
                     [rows] { return SyntheticPs(rows); },
                     [](const std::string& text) {
                       static const auto columns =
                           fleetps::probes::PsColumnsFor(Dialect::kLinuxProcps);
                       fleetps::probes::ParseStats stats;
                       auto rows_out = fleetps::probes::ParsePsTable(Dialect::kLinuxProcps, columns,
                                                                     text, kClock, stats);
                       benchmark::DoNotOptimize(rows_out.data());
                     },
                     {}});
  }
  return cases;
}

void Run(benchmark::State& state, Case& c) {
  const std::string& text = c.Text();
  for (auto _ : state) c.parse(text);
  state.counters["MB"] = benchmark::Counter(
      static_cast<double>(text.size()) * static_cast<double>(state.iterations()) / 1e6,
      benchmark::Counter::kIsRate);
  state.counters["bytes/row"] = benchmark::Counter(static_cast<double>(text.size()) /
                                                   std::stod(c.name.substr(c.name.rfind('/') + 1)));
}

int Instructions(std::string_view filter) {
#ifndef FLEETPS_BENCH_CALLGRIND
  std::fprintf(stderr, "built without valgrind/callgrind.h\n");
  return 1;
#else
  if (RUNNING_ON_VALGRIND == 0) {
    std::fprintf(stderr, "run under valgrind --tool=callgrind (see the file comment)\n");
  }
  for (Case& c : Cases()) {
    const bool selected = filter.empty() || c.name == filter ||
                          (c.name.starts_with(filter) && c.name[filter.size()] == '/');
    if (!selected) continue;
    const std::string& text = c.Text();
    c.parse(text);  // warm: the heap has grown to its working size, as in the timed loop
    // Named before the request: the macro reads the pointer after the full expression ends.
    const std::string label = c.name + " bytes=" + std::to_string(text.size());
    CALLGRIND_ZERO_STATS;
    c.parse(text);
    CALLGRIND_DUMP_STATS_AT(label.c_str());
    std::printf("%s bytes=%zu\n", c.name.c_str(), text.size());
  }
  return 0;
#endif
}

// What each synthetic output parses into: every process but the probe's own two, no skipped
// lines (a generator that drifted from the parsers would measure the error path).
int Stats() {
  for (const Dialect dialect : fleetps::probes::kAllDialects) {
    for (const int rows : kSizes) {
      const std::string text = ProbeOutput(dialect, rows);
      const auto r = fleetps::probes::ParseProcessProbe(dialect, FingerprintFor(), text, kNonce);
      const auto& st = r.snapshot.stats;
      std::printf(
          "%-13s %6d rows: %9zu bytes, %6zu processes, %zu fds, %7llu lines, %llu skipped, "
          "%llu self, %zu listening %s\n",
          std::string(fleetps::probes::DialectName(dialect)).c_str(), rows, text.size(),
          r.snapshot.processes.size(),
          static_cast<std::size_t>(std::count_if(
              r.snapshot.processes.begin(), r.snapshot.processes.end(),
              [](const fleetps::probes::ProcessRow& row) { return row.fds.has_value(); })),
          static_cast<unsigned long long>(st.lines_seen),
          static_cast<unsigned long long>(st.lines_skipped),
          static_cast<unsigned long long>(st.self_excluded), r.snapshot.listening.size(),
          r.error.c_str());
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--stats") return Stats();
    if (arg == "--instructions") return Instructions("");
    if (arg.starts_with("--instructions=")) return Instructions(arg.substr(15));
  }
  // Defaults first so that the caller's flags (parsed later) win.
  std::vector<char*> args{argv[0]};
  std::string reps = "--benchmark_repetitions=5";
  std::string aggregates = "--benchmark_report_aggregates_only=true";
  args.push_back(reps.data());
  args.push_back(aggregates.data());
  for (int i = 1; i < argc; ++i) args.push_back(argv[i]);
  int count = static_cast<int>(args.size());
  std::vector<Case> cases = Cases();
  for (Case& c : cases) {
    benchmark::RegisterBenchmark(c.name.c_str(), [&c](benchmark::State& state) { Run(state, c); });
  }
  benchmark::Initialize(&count, args.data());
  if (benchmark::ReportUnrecognizedArguments(count, args.data())) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
