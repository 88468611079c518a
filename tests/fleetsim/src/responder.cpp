#include "responder.hpp"

#include <algorithm>
#include <array>
#include <cstdarg>
#include <cstdio>

namespace fleetps::fleetsim {
namespace {

void Appendf(std::string& out, const char* format, ...) __attribute__((format(printf, 2, 3)));
void Appendf(std::string& out, const char* format, ...) {
  char buf[1024];
  va_list args;
  va_start(args, format);
  const int n = std::vsnprintf(buf, sizeof buf, format, args);
  va_end(args);
  if (n > 0) {
    out.append(buf, std::min<std::size_t>(static_cast<std::size_t>(n), sizeof buf - 1));
  }
}

// ps etime: [[dd-]hh:]mm:ss
std::string Etime(std::int64_t seconds) {
  seconds = std::max<std::int64_t>(0, seconds);
  const auto d = seconds / 86400;
  const auto h = seconds / 3600 % 24;
  const auto m = seconds / 60 % 60;
  const auto s = seconds % 60;
  char buf[48];
  if (d > 0) {
    std::snprintf(buf, sizeof buf, "%lld-%02lld:%02lld:%02lld", static_cast<long long>(d),
                  static_cast<long long>(h), static_cast<long long>(m), static_cast<long long>(s));
  } else if (h > 0) {
    std::snprintf(buf, sizeof buf, "%02lld:%02lld:%02lld", static_cast<long long>(h),
                  static_cast<long long>(m), static_cast<long long>(s));
  } else {
    std::snprintf(buf, sizeof buf, "%02lld:%02lld", static_cast<long long>(m),
                  static_cast<long long>(s));
  }
  return buf;
}

// ps time: [dd-]hh:mm:ss
std::string CpuTime(std::uint64_t ticks) {
  const auto seconds = static_cast<long long>(ticks / kClockTicks);
  const auto d = seconds / 86400;
  char buf[48];
  if (d > 0) {
    std::snprintf(buf, sizeof buf, "%lld-%02lld:%02lld:%02lld", d, seconds / 3600 % 24,
                  seconds / 60 % 60, seconds % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%02lld:%02lld:%02lld", seconds / 3600, seconds / 60 % 60,
                  seconds % 60);
  }
  return buf;
}

std::string LinuxStat(const SimProcess& p) {
  std::string stat(1, p.state);
  if (p.state == 'Z') {
    return stat;
  }
  if (p.kernel_thread) {
    return p.state == 'I' ? "I<" : stat;
  }
  if (p.ppid <= 1) {
    stat += 's';
  }
  if (p.threads > 1) {
    stat += 'l';
  }
  return stat;
}

std::string_view LinuxRelease(std::uint32_t number) {
  static constexpr std::array<std::string_view, 5> kReleases{
      "5.10.0-28-amd64", "4.18.0-513.el8.x86_64", "3.10.0-1160.el7.x86_64", "6.1.0-18-amd64",
      "2.6.32-754.el6.x86_64"};
  return kReleases[number % kReleases.size()];
}

// ---- fingerprint ------------------------------------------------------------------------------

bool HasTool(SimDialect dialect, std::string_view tool) {
  switch (dialect) {
    case SimDialect::kLinuxProcps:
      return tool == "ss" || tool == "perl";
    case SimDialect::kBusybox:
      return tool == "netstat";
    case SimDialect::kAix:
      return tool == "netstat" || tool == "perl";
    case SimDialect::kSolaris:
      return tool == "netstat" || tool == "perl" || tool == "nawk" || tool == "ucb-ps";
  }
  return false;
}

std::string FingerprintSection(std::string_view name, const HostSnapshot& host,
                               std::uint32_t self_pid, int& rc) {
  const SimDialect d = host.dialect;
  std::string out;
  if (name == "uname-s") {
    out = d == SimDialect::kAix ? "AIX" : d == SimDialect::kSolaris ? "SunOS" : "Linux";
  } else if (name == "uname-r") {
    out = d == SimDialect::kAix       ? "2"
          : d == SimDialect::kSolaris ? "5.11"
          : d == SimDialect::kBusybox ? "4.14.98"
                                      : std::string(LinuxRelease(host.number));
  } else if (name == "uname-m") {
    out = d == SimDialect::kAix       ? "00C8B1234C00"
          : d == SimDialect::kSolaris ? "sun4v"
          : d == SimDialect::kBusybox ? "armv7l"
                                      : "x86_64";
  } else if (name == "uname-v") {
    out = d == SimDialect::kAix ? "7" : d == SimDialect::kSolaris ? "11.4.0.15.0" : "#1 SMP";
  } else if (name == "uname-n") {
    out = host.hostname;
  } else if (name == "uname-p") {
    out = d == SimDialect::kAix       ? "powerpc"
          : d == SimDialect::kSolaris ? "sparc"
          : d == SimDialect::kBusybox ? "unknown"
                                      : "x86_64";
  } else if (name == "ps-version") {
    switch (d) {
      case SimDialect::kLinuxProcps:
        out = LinuxRelease(host.number).starts_with("2.6") ? "procps version 3.2.8"
                                                           : "ps from procps-ng 3.3.17";
        break;
      case SimDialect::kBusybox:
        out =
            "ps: unrecognized option '--version'\n"
            "BusyBox v1.35.0 (2023-01-03 00:00:00 UTC) multi-call binary.\n\n"
            "Usage: ps [-o COL1,COL2=HEADER] [-T]\n";
        break;
      case SimDialect::kAix:
        out = "ps: Not a recognized flag: -\nUsage: ps [-ANPaedfklmMZ] [-n namelist] [-F Format]";
        break;
      case SimDialect::kSolaris:
        out = "ps: illegal option -- -\nusage: ps [ -aAdefHlcjLPyZ ] [ -o format ] [ -t termlist ]";
        break;
    }
  } else if (name == "ps-o") {
    out = d == SimDialect::kBusybox ? "PID\n" + std::to_string(self_pid) : std::to_string(self_pid);
  } else if (name == "proc") {
    out = d == SimDialect::kLinuxProcps || d == SimDialect::kBusybox ? "yes" : "no";
  } else if (name == "clk-tck" || name == "page-size") {
    if (d == SimDialect::kBusybox) {
      rc = 1;  // No getconf applet.
      return {};
    }
    out = std::to_string(name == "clk-tck" ? kClockTicks : kPageSize);
  } else if (name == "uid") {
    out = "1000";
  } else if (name == "zonename") {
    if (d == SimDialect::kSolaris) {
      out = "global";
    }
  } else if (name == "kstat-var") {
    // The script guards kstat with fp_have: elsewhere the section is empty, rc 0.
    if (d == SimDialect::kSolaris) {
      out = "unix:0:var:v_proc\t" + std::to_string(LimitsOf(host).max_processes);
    }
  } else if (name == "tools") {
    for (std::string_view tool :
         {"lsof", "ss", "netstat", "sockstat", "procstat", "perl", "nawk", "ucb-ps"}) {
      if (HasTool(d, tool)) {
        out.append(tool).push_back('\n');
      }
    }
    if (!out.empty()) {
      out.pop_back();
    }
  } else {
    rc = 127;
    return {};
  }
  rc = 0;
  if (!out.empty()) {
    out.push_back('\n');
  }
  return out;
}

// ---- ps tables --------------------------------------------------------------------------------

void LinuxPsRow(std::string& out, const SimProcess& p, std::int64_t now) {
  Appendf(out, "%7u %7u %-32.*s %-4s %11s %8s %5llu %6llu %4u %s\n", p.pid, p.ppid,
          static_cast<int>(p.user.size()), p.user.data(), LinuxStat(p).c_str(),
          Etime(now - p.start_epoch).c_str(), CpuTime(p.utime_ticks + p.stime_ticks).c_str(),
          static_cast<unsigned long long>(p.rss_kib), static_cast<unsigned long long>(p.vsz_kib),
          p.threads, p.args.c_str());
}

std::string BusyboxSize(std::uint64_t kib) {
  // BusyBox prints sizes of 100000 KiB and more scaled, like "123m".
  if (kib >= 100000) {
    return std::to_string(kib / 1024) + "m";
  }
  return std::to_string(kib);
}

// BusyBox's STAT: the state letter, W for a process without resident pages (kernel threads),
// then < (high priority) or N (niced), in a column of four where a flag can follow a blank
// ("S <", "S N", as real devices print: tests/data/real/busybox).
std::string BusyboxStat(const SimProcess& p) {
  std::string stat(1, p.state);
  if (p.kernel_thread) stat += 'W';
  if (p.pid % 17 == 5)
    stat += stat.size() == 1 ? " <" : "<";
  else if (p.pid % 13 == 7)
    stat += stat.size() == 1 ? " N" : "N";
  return stat;
}

void BusyboxPsRow(std::string& out, const SimProcess& p) {
  const std::string args = p.kernel_thread ? "[" + p.comm + "]" : p.args;
  Appendf(out, "%5u %5u %-8.8s %-4s %5s %5s %s\n", p.pid, p.ppid, std::string(p.user).c_str(),
          BusyboxStat(p).c_str(), BusyboxSize(p.rss_kib).c_str(), BusyboxSize(p.vsz_kib).c_str(),
          args.empty() ? p.comm.c_str() : args.c_str());
}

// AIX prints every process as A (active) with its wait channel, blank while it runs; zombies
// leave user, elapsed time, sizes, threads and wait channel blank (tests/data/real/aix).
void AixPsRow(std::string& out, const SimProcess& p, std::int64_t now) {
  if (p.state == 'Z') {
    Appendf(out, "%8u %8u %8s %c %14s %10s %6s %6s %5s %16s %s\n", p.pid, p.ppid, "", 'Z', "",
            CpuTime(p.utime_ticks + p.stime_ticks).c_str(), "", "", "", "", "<defunct>");
    return;
  }
  const char* wchan = p.state == 'R' ? "" : p.threads > 1 ? "*" : "f1000f0a00013c40";
  Appendf(out, "%8u %8u %8.*s %c %14s %10s %6llu %6llu %5u %16s %s\n", p.pid, p.ppid,
          static_cast<int>(p.user.size()), p.user.data(), 'A', Etime(now - p.start_epoch).c_str(),
          CpuTime(p.utime_ticks + p.stime_ticks).c_str(),
          static_cast<unsigned long long>(p.rss_kib), static_cast<unsigned long long>(p.vsz_kib),
          p.threads, wchan, p.args.c_str());
}

void SolarisPsRow(std::string& out, const SimProcess& p, std::int64_t now) {
  const char state = p.state == 'R' ? 'O' : p.state;
  // ps -o args stops at 80 characters on Solaris; /usr/ucb/ps has the rest.
  const std::string args = p.state == 'Z' ? "<defunct>" : p.args.substr(0, 80);
  Appendf(out, "%6u %6u %8.*s %c %14s %10s %6llu %6llu %4u %8s %s\n", p.pid, p.ppid,
          static_cast<int>(p.user.size()), p.user.data(), state, Etime(now - p.start_epoch).c_str(),
          CpuTime(p.utime_ticks + p.stime_ticks).c_str(),
          static_cast<unsigned long long>(p.rss_kib), static_cast<unsigned long long>(p.vsz_kib),
          p.threads, "global", args.c_str());
}

std::string PsTable(const HostSnapshot& host) {
  std::string out;
  out.reserve(host.processes.size() * 120);
  switch (host.dialect) {
    case SimDialect::kLinuxProcps:
      for (const auto& p : host.processes) {
        LinuxPsRow(out, p, host.now_epoch);
      }
      break;
    case SimDialect::kBusybox:
      out = "  PID  PPID USER     STAT   RSS   VSZ COMMAND\n";
      for (const auto& p : host.processes) {
        BusyboxPsRow(out, p);
      }
      break;
    case SimDialect::kAix:
      for (const auto& p : host.processes) {
        AixPsRow(out, p, host.now_epoch);
      }
      break;
    case SimDialect::kSolaris:
      for (const auto& p : host.processes) {
        SolarisPsRow(out, p, host.now_epoch);
      }
      break;
  }
  return out;
}

std::string CommTable(const HostSnapshot& host) {
  std::string out;
  for (const auto& p : host.processes) {
    std::string comm = p.comm;
    if (p.state == 'Z') {
      comm = "<defunct>";
    } else if (host.dialect == SimDialect::kAix && comm.starts_with("ora_")) {
      comm = "oracle";  // Oracle's background processes rewrite argv[0] only.
    } else if (host.dialect == SimDialect::kSolaris && p.args.starts_with('/')) {
      comm = p.args.substr(0, p.args.find(' '));  // Solaris prints the exec'd path.
    }
    Appendf(out, "%8u %s\n", p.pid, comm.c_str());
  }
  return out;
}

std::string UcbPs(const HostSnapshot& host) {
  std::string out = "   PID TT       S  TIME COMMAND\n";
  for (const auto& p : host.processes) {
    const auto secs = (p.utime_ticks + p.stime_ticks) / kClockTicks;
    Appendf(out, "%6u %-8s %c %3llu:%02llu %s\n", p.pid, "?", p.state == 'R' ? 'O' : p.state,
            static_cast<unsigned long long>(secs / 60), static_cast<unsigned long long>(secs % 60),
            p.args.c_str());
  }
  return out;
}

// ---- Linux /proc batch ------------------------------------------------------------------------

std::string ProcStat(const HostSnapshot& host) {
  std::string out;
  out.reserve(host.processes.size() * 300);
  for (const auto& p : host.processes) {
    const unsigned flags = p.kernel_thread ? 0x00208040u : 0x00400100u;
    const std::uint64_t vsize = p.vsz_kib * 1024;
    const std::uint64_t rss_pages = p.rss_kib * 1024 / kPageSize;
    Appendf(out,
            "/proc/%u/stat:%u (%s) %c %u %u %u 0 -1 %u %llu 0 %llu 0 %llu %llu 0 0 20 %d %u 0 "
            "%llu %llu %llu 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 17 %u 0 0 0 0 0 0 0 0 0 0 "
            "0 0 0\n",
            p.pid, p.pid, p.comm.c_str(), p.state, p.ppid, p.pid, p.pid, flags,
            static_cast<unsigned long long>(p.minflt), static_cast<unsigned long long>(p.majflt),
            static_cast<unsigned long long>(p.utime_ticks),
            static_cast<unsigned long long>(p.stime_ticks), p.nice, p.threads,
            static_cast<unsigned long long>(p.start_ticks), static_cast<unsigned long long>(vsize),
            static_cast<unsigned long long>(rss_pages), p.pid % 2);
  }
  return out;
}

std::string ProcStatus(const HostSnapshot& host) {
  std::string out;
  for (const auto& p : host.processes) {
    Appendf(out, "/proc/%u/status:Uid:\t%u\t%u\t%u\t%u\n", p.pid, p.uid, p.uid, p.uid, p.uid);
    if (!p.kernel_thread && p.state != 'Z') {
      Appendf(out, "/proc/%u/status:VmSwap:\t%8u kB\n", p.pid, 0u);
    }
    Appendf(out, "/proc/%u/status:Threads:\t%u\n", p.pid, p.threads);
    Appendf(out, "/proc/%u/status:voluntary_ctxt_switches:\t%llu\n", p.pid,
            static_cast<unsigned long long>(p.voluntary_ctxt));
    Appendf(out, "/proc/%u/status:nonvoluntary_ctxt_switches:\t%llu\n", p.pid,
            static_cast<unsigned long long>(p.nonvoluntary_ctxt));
  }
  return out;
}

std::string ProcIo(const HostSnapshot& host) {
  std::string out;
  for (const auto& p : host.processes) {
    Appendf(out, "/proc/%u/io:read_bytes: %llu\n/proc/%u/io:write_bytes: %llu\n", p.pid,
            static_cast<unsigned long long>(p.read_bytes), p.pid,
            static_cast<unsigned long long>(p.write_bytes));
  }
  return out;
}

std::string ProcLimits(const HostSnapshot& host) {
  std::string out;
  for (const auto& p : host.processes) {
    Appendf(out, "/proc/%u/limits:Max open files            %-20u %-20u files     \n", p.pid,
            p.fd_limit, std::max(p.fd_limit, 4096u));
  }
  return out;
}

// grep's own /proc/self/stat, as the probe's one /proc grep reads it: started now, so its
// start time plus btime is the host's clock.
std::string ProcSelfStat(const HostSnapshot& host, std::uint32_t self_pid) {
  std::string out;
  Appendf(out,
          "/proc/self/stat:%u (grep) R %u %u %u 0 -1 4194304 90 0 0 0 0 0 0 0 20 0 1 0 %llu "
          "3608576 417 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n",
          self_pid + 2, self_pid, self_pid, self_pid,
          static_cast<unsigned long long>((host.now_epoch - host.boot_epoch) * kClockTicks));
  return out;
}

std::string ProcSysLimits(const HostSnapshot& host) {
  const SimLimits limits = LimitsOf(host);
  return "/proc/sys/kernel/pid_max:" + std::to_string(limits.max_processes) +
         "\n/proc/sys/kernel/threads-max:" + std::to_string(limits.max_threads) + "\n";
}

// The probe's one `grep -sH` over /proc: its operands in order (/proc/stat, /proc/self/stat,
// /proc/sys/kernel/{pid_max,threads-max}, then every stat, status, io and limits file). With
// sudo the io counters are a section of their own.
std::string ProcFiles(const HostSnapshot& host, std::uint32_t self_pid, bool with_io) {
  std::string out = "/proc/stat:btime " + std::to_string(host.boot_epoch) + "\n";
  out += ProcSelfStat(host, self_pid);
  out += ProcSysLimits(host);
  out += ProcStat(host);
  out += ProcStatus(host);
  if (with_io) out += ProcIo(host);
  out += ProcLimits(host);
  return out;
}

std::string ProcFd(const HostSnapshot& host, std::uint32_t self_pid) {
  // `ls -a dir...` lists operands in C-locale order: /proc/1/fd, /proc/10/fd, ..., /proc/self/fd.
  std::vector<const SimProcess*> order;
  order.reserve(host.processes.size());
  for (const auto& p : host.processes) {
    order.push_back(&p);
  }
  std::sort(order.begin(), order.end(), [](const SimProcess* a, const SimProcess* b) {
    return std::to_string(a->pid) < std::to_string(b->pid);
  });
  std::string out;
  auto list = [&](const std::string& dir, std::uint32_t fds) {
    if (!out.empty()) {
      out.push_back('\n');
    }
    out.append(dir).append(":\n.\n..\n");
    std::vector<std::string> names;
    for (std::uint32_t fd = 0; fd < fds; ++fd) {
      names.push_back(std::to_string(fd));
    }
    std::sort(names.begin(), names.end());
    for (const auto& n : names) {
      out.append(n).push_back('\n');
    }
  };
  for (const SimProcess* p : order) {
    list("/proc/" + std::to_string(p->pid) + "/fd", p->kernel_thread ? 0 : p->fds);
  }
  (void)self_pid;
  list("/proc/self/fd", 4);
  return out;
}

// ---- sockets ----------------------------------------------------------------------------------

std::string ListenSs(const HostSnapshot& host) {
  std::string out = "Netid State  Recv-Q Send-Q Local Address:Port  Peer Address:PortProcess\n";
  for (const auto& p : host.processes) {
    if (p.listen_port == 0) {
      continue;
    }
    Appendf(out,
            "tcp   LISTEN 0      128          0.0.0.0:%-5u      0.0.0.0:*    "
            "users:((\"%s\",pid=%u,fd=3))\n",
            p.listen_port, p.comm.c_str(), p.pid);
  }
  Appendf(out, "udp   UNCONN 0      0          127.0.0.1:323        0.0.0.0:*\n");
  return out;
}

std::string ListenNetstat(const HostSnapshot& host) {
  std::string out;
  switch (host.dialect) {
    case SimDialect::kLinuxProcps:
    case SimDialect::kBusybox:
      out =
          "Active Internet connections (only servers)\n"
          "Proto Recv-Q Send-Q Local Address           Foreign Address         State       "
          "PID/Program name\n";
      for (const auto& p : host.processes) {
        if (p.listen_port != 0) {
          const std::string local = "0.0.0.0:" + std::to_string(p.listen_port);
          Appendf(out, "tcp        0      0 %-23s 0.0.0.0:*               LISTEN      %u/%s\n",
                  local.c_str(), p.pid, p.comm.c_str());
        }
      }
      break;
    case SimDialect::kAix:
      out =
          "Active Internet connections (including servers)\n"
          "Proto Recv-Q Send-Q  Local Address          Foreign Address        (state)\n";
      for (const auto& p : host.processes) {
        if (p.listen_port != 0) {
          const std::string local = "*." + std::to_string(p.listen_port);
          Appendf(out, "tcp4       0      0  %-22s *.*                    LISTEN\n", local.c_str());
        }
      }
      out += "udp4       0      0  *.514                  *.*\n";
      break;
    case SimDialect::kSolaris:
      out =
          "\nUDP: IPv4\n"
          "   Local Address        Remote Address      State\n"
          "-------------------- -------------------- ----------\n"
          "      *.514                                 Idle\n"
          "\nTCP: IPv4\n"
          "   Local Address        Remote Address    Swind Send-Q Rwind Recv-Q    State\n"
          "-------------------- -------------------- ----- ------ ----- ------ -----------\n";
      for (const auto& p : host.processes) {
        if (p.listen_port != 0) {
          const std::string local = "*." + std::to_string(p.listen_port);
          Appendf(out, "      %-14s       *.*                0      0 128000      0 LISTEN\n",
                  local.c_str());
        }
      }
      break;
  }
  return out;
}

// ---- dispatch ---------------------------------------------------------------------------------

// Whether the host prints a section at all: the scripts guard tool-specific ones with fp_have.
bool SectionPrinted(std::string_view name, SimDialect dialect) {
  if (name == "listen-ss") return HasTool(dialect, "ss");
  if (name == "listen-netstat") return HasTool(dialect, "netstat") && !HasTool(dialect, "ss");
  if (name == "listen-lsof" || name == "lsof-fd") return HasTool(dialect, "lsof");
  if (name == "ucb-ps") return HasTool(dialect, "ucb-ps");
  if (name == "procstat-fd" || name == "listen-sockstat") return false;
  return true;
}

// `separate_io`: the script reads the io counters in a section of their own (sudo).
std::string ProbeSection(std::string_view name, const HostSnapshot& host, std::uint32_t self_pid,
                         bool separate_io, int& rc) {
  rc = 0;
  const bool linux_proc =
      host.dialect == SimDialect::kLinuxProcps || host.dialect == SimDialect::kBusybox;
  if (name == "self") return std::to_string(self_pid) + "\n";
  if (name == "clock") return std::to_string(host.now_epoch) + "\n";
  if (name == "ps" || name == "ps-header") return PsTable(host);
  if (name == "comm") return CommTable(host);
  if (name == "ucb-ps") return UcbPs(host);
  if (name == "listen-ss") return ListenSs(host);
  if (name == "listen-netstat") return ListenNetstat(host);
  if (linux_proc) {
    if (name == "proc-files") return ProcFiles(host, self_pid, !separate_io);
    if (name == "proc-io") return ProcIo(host);
    if (name == "proc-fd") return ProcFd(host, self_pid);
  } else if (name.starts_with("proc-")) {
    rc = name == "proc-fd" ? 1 : 2;  // grep/ls on a missing /proc layout
    return {};
  }
  return FingerprintSection(name, host, self_pid, rc);
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\n')) {
    s.remove_prefix(1);
  }
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.';
}

Answer PlainCommand(std::string_view command, const HostSnapshot& host) {
  command = Trim(command);
  Answer answer;
  if (command.empty() || command == "true" || command == ":") {
    return answer;
  }
  if (command.starts_with("exit")) {
    answer.exit_status = std::atoi(std::string(command.substr(4)).c_str());
    return answer;
  }
  if (command.starts_with("echo")) {
    std::string_view text = Trim(command.substr(4));
    if (text.size() >= 2 && (text.front() == '\'' || text.front() == '"') &&
        text.back() == text.front()) {
      text = text.substr(1, text.size() - 2);
    }
    answer.output = std::string(text) + "\n";
    return answer;
  }
  if (command.starts_with("uname")) {
    int rc = 0;
    answer.output = FingerprintSection("uname-s", host, 0, rc);
    return answer;
  }
  if (command == "hostname") {
    answer.output = host.hostname + "\n";
    return answer;
  }
  answer.exit_status = 127;
  return answer;
}

}  // namespace

SimLimits LimitsOf(const HostSnapshot& host) {
  switch (host.dialect) {
    case SimDialect::kLinuxProcps:
    case SimDialect::kBusybox: {
      const bool old_pid_space =
          host.dialect == SimDialect::kBusybox || LinuxRelease(host.number).starts_with("2.6");
      return {old_pid_space ? 32768U : 4194304U, host.mem_total_kib / 128};
    }
    case SimDialect::kSolaris:
      return {30000, 0};
    case SimDialect::kAix:
      break;
  }
  return {};
}

ScriptSections FindSections(std::string_view script) {
  ScriptSections found;
  if (const auto at = script.find("fp_n="); at != std::string_view::npos) {
    std::size_t end = at + 5;
    while (end < script.size() && IsNameChar(script[end])) {
      ++end;
    }
    found.nonce = std::string(script.substr(at + 5, end - at - 5));
  } else if (const auto marker = script.find("@@FLEETPS "); marker != std::string_view::npos) {
    std::size_t end = marker + 10;
    while (end < script.size() && IsNameChar(script[end])) {
      ++end;
    }
    found.nonce = std::string(script.substr(marker + 10, end - marker - 10));
  }
  if (found.nonce.empty()) {
    return found;
  }
  auto add = [&](std::string_view name) {
    if (!name.empty() && name.find('$') == std::string_view::npos &&
        std::find(found.names.begin(), found.names.end(), name) == found.names.end()) {
      found.names.emplace_back(name);
    }
  };
  for (std::string_view key : {std::string_view("fp_b "), std::string_view(" BEGIN ")}) {
    for (std::size_t at = script.find(key); at != std::string_view::npos;
         at = script.find(key, at + 1)) {
      std::size_t end = at + key.size();
      while (end < script.size() && IsNameChar(script[end])) {
        ++end;
      }
      add(script.substr(at + key.size(), end - at - key.size()));
    }
  }
  return found;
}

Answer RunScript(std::string_view script, const HostSnapshot& host, std::uint32_t self_pid) {
  const ScriptSections sections = FindSections(script);
  if (sections.nonce.empty()) {
    return PlainCommand(script, host);
  }
  Answer answer;
  answer.output.reserve(host.processes.size() * 700);
  for (const auto& name : sections.names) {
    if (!SectionPrinted(name, host.dialect)) {
      continue;
    }
    int rc = 0;
    const bool separate_io =
        std::find(sections.names.begin(), sections.names.end(), "proc-io") != sections.names.end();
    const std::string body = ProbeSection(name, host, self_pid, separate_io, rc);
    // The scripts' fp_e prints an empty line first, so the END marker always starts a line.
    Appendf(answer.output, "@@FLEETPS %s BEGIN %s\n", sections.nonce.c_str(), name.c_str());
    answer.output += body;
    Appendf(answer.output, "\n@@FLEETPS %s END %s rc=%d\n", sections.nonce.c_str(), name.c_str(),
            rc);
  }
  return answer;
}

std::optional<ShellRun> FindShellRun(std::string_view input) {
  static constexpr std::string_view kOpen = "(\n";
  static constexpr std::string_view kClose = "\n) </dev/null\nfp_s=$?; echo; echo \"@@FLEETPS ";
  static constexpr std::string_view kMiddle = " EXIT rc=$fp_s\"; echo >&2; echo \"@@FLEETPS ";
  static constexpr std::string_view kEnd = " EXIT\" >&2\n";
  static constexpr std::size_t kTokenLength = 32;
  if (!input.starts_with(kOpen)) {
    return std::nullopt;
  }
  auto is_token = [](std::string_view t) {
    return t.size() == kTokenLength && std::all_of(t.begin(), t.end(), [](char c) {
             return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
           });
  };
  // The close may follow the opening newline at once (empty script); a script may hold the
  // close's text itself, so every occurrence is tried.
  for (std::size_t at = input.find(kClose, kOpen.size() - 1); at != std::string_view::npos;
       at = input.find(kClose, at + 1)) {
    std::string_view rest = input.substr(at + kClose.size());
    const std::string_view token = rest.substr(0, kTokenLength);
    if (!is_token(token) || !rest.substr(kTokenLength).starts_with(kMiddle)) {
      continue;
    }
    rest.remove_prefix(kTokenLength + kMiddle.size());
    if (!rest.starts_with(token) || !rest.substr(kTokenLength).starts_with(kEnd)) {
      continue;
    }
    const std::size_t length = input.size() - rest.size() + kTokenLength + kEnd.size();
    return ShellRun{input.substr(kOpen.size(), at + 1 - kOpen.size()), token, length};
  }
  return std::nullopt;
}

std::string FrameShellRun(std::string_view script, std::string_view token) {
  std::string out = "(\n";
  out += script;
  out += ") </dev/null\nfp_s=$?; echo; echo \"@@FLEETPS ";
  out += token;
  out += " EXIT rc=$fp_s\"; echo >&2; echo \"@@FLEETPS ";
  out += token;
  out += " EXIT\" >&2\n";
  return out;
}

std::string ShellStdoutTrailer(std::string_view token, int rc) {
  std::string out = "\n@@FLEETPS ";
  out += token;
  out += " EXIT rc=";
  out += std::to_string(rc);
  out += '\n';
  return out;
}

std::string ShellStderrTrailer(std::string_view token) {
  std::string out = "\n@@FLEETPS ";
  out += token;
  out += " EXIT\n";
  return out;
}

std::string EndlessPrefix(std::string_view script, const HostSnapshot& host) {
  const ScriptSections sections = FindSections(script);
  const std::string nonce = sections.nonce.empty() ? "0000000000000000" : sections.nonce;
  std::string out = "@@FLEETPS " + nonce + " BEGIN self\n4100000\n\n@@FLEETPS " + nonce +
                    " END self rc=0\n@@FLEETPS " + nonce + " BEGIN ";
  out += host.dialect == SimDialect::kBusybox ? "ps-header\n" : "ps\n";
  return out;
}

std::string EndlessChunk(const HostSnapshot& host, std::uint64_t& counter, std::size_t bytes) {
  std::string out;
  out.reserve(bytes + 256);
  while (out.size() < bytes && !host.processes.empty()) {
    SimProcess p = host.processes[counter % host.processes.size()];
    p.pid = static_cast<std::uint32_t>(100000 + counter % 3'000'000);
    ++counter;
    switch (host.dialect) {
      case SimDialect::kLinuxProcps:
        LinuxPsRow(out, p, host.now_epoch);
        break;
      case SimDialect::kBusybox:
        BusyboxPsRow(out, p);
        break;
      case SimDialect::kAix:
        AixPsRow(out, p, host.now_epoch);
        break;
      case SimDialect::kSolaris:
        SolarisPsRow(out, p, host.now_epoch);
        break;
    }
  }
  return out;
}

}  // namespace fleetps::fleetsim
