#include "fleetps/probes/dialect.hpp"

#include <array>
#include <utility>

#include "fleetps/probes/parsers.hpp"
#include "fleetps/probes/process.hpp"
#include "text.hpp"

namespace fleetps::probes {
namespace {

constexpr std::array<std::pair<Dialect, std::string_view>, 7> kNames = {{
    {Dialect::kLinuxProcps, "linux-procps"},
    {Dialect::kBusybox, "busybox"},
    {Dialect::kAix, "aix"},
    {Dialect::kSolaris, "solaris"},
    {Dialect::kHpux, "hpux"},
    {Dialect::kFreebsd, "freebsd"},
    {Dialect::kDarwin, "darwin"},
}};

// Shared prologue: C locale, sbin dirs (lsof, ss and netstat often live there), section helpers.
// `fp_e` prints a newline first so that output without a final newline cannot hide the marker.
constexpr std::string_view kPrologue =
    "LC_ALL=C; export LC_ALL; LANG=C; export LANG\n"
    "PATH=$PATH:/usr/sbin:/sbin:/usr/bin:/bin:/usr/local/bin:/usr/local/sbin; export PATH\n"
    "fp_b() { echo \"@@FLEETPS $fp_n BEGIN $1\"; }\n"
    "fp_e() { echo; echo \"@@FLEETPS $fp_n END $1 rc=$2\"; }\n"
    "fp_have() { type \"$1\" >/dev/null 2>&1; }\n";

constexpr std::string_view kFingerprintBody =
    "fp_b uname-s; uname -s; fp_e uname-s $?\n"
    "fp_b uname-r; uname -r; fp_e uname-r $?\n"
    "fp_b uname-m; uname -m; fp_e uname-m $?\n"
    // AIX: -r is the minor release ("2"), -v the version ("7"), -m a machine serial, -p the
    // processor ("powerpc"): the labels are built from -v, -r and -p there.
    "fp_b uname-v; uname -v 2>/dev/null; fp_e uname-v $?\n"
    "fp_b uname-p; uname -p 2>/dev/null; fp_e uname-p $?\n"
    "fp_b uname-n; uname -n 2>/dev/null; fp_e uname-n $?\n"
    "fp_b self; echo $$; fp_e self 0\n"
    "fp_b ps-version; ps --version 2>&1 | head -n 5; fp_e ps-version $?\n"
    "fp_b ps-o; ps -o pid= -p $$ 2>/dev/null || ps -o pid 2>/dev/null | head -n 2; "
    "fp_e ps-o $?\n"
    "fp_b proc; if [ -r /proc/$$/stat ]; then echo yes; else echo no; fi; fp_e proc 0\n"
    "fp_b clk-tck; getconf CLK_TCK 2>/dev/null; fp_e clk-tck $?\n"
    "fp_b page-size; getconf PAGESIZE 2>/dev/null || getconf PAGE_SIZE 2>/dev/null; "
    "fp_e page-size $?\n"
    "fp_b uid; id -u 2>/dev/null || id | sed 's/^uid=\\([0-9]*\\).*/\\1/'; fp_e uid $?\n"
    "fp_b zonename; if fp_have zonename; then zonename 2>/dev/null; fi; fp_e zonename $?\n"
    // Solaris's process limit (max_nprocs) is set at boot, so once per session is enough; the
    // kstat command is a Perl script on Solaris 10, too slow to start on every probe.
    "fp_b kstat-var; if fp_have kstat; then kstat -p unix:0:var:v_proc 2>/dev/null; fi; "
    "fp_e kstat-var $?\n"
    "fp_b tools; for fp_t in lsof ss netstat sockstat procstat perl nawk; do "
    "if fp_have $fp_t; then echo $fp_t; fi; done; "
    "if [ -x /usr/ucb/ps ]; then echo ucb-ps; fi; fp_e tools 0\n";

std::string BuildFingerprintScript() {
  std::string script = "fp_n=";
  script.append(kFingerprintNonce);
  script.push_back('\n');
  script.append(kPrologue);
  script.append(kFingerprintBody);
  return script;
}

// Epoch seconds without relying on `date +%s` (old Solaris and HP-UX print "%s" or "s").
constexpr std::string_view kClock =
    "fp_b clock\n"
    "fp_c=`date +%s 2>/dev/null`\n"
    "case \"$fp_c\" in ''|*[!0-9]*) fp_c=`perl -e 'print time' 2>/dev/null`;; esac\n"
    "case \"$fp_c\" in ''|*[!0-9]*) fp_c=`nawk 'BEGIN{srand();print srand()}' 2>/dev/null`;; "
    "esac\n"
    "case \"$fp_c\" in ''|*[!0-9]*) fp_c=`awk 'BEGIN{srand();print srand()}' 2>/dev/null`;; "
    "esac\n"
    "echo \"$fp_c\"; case \"$fp_c\" in ''|*[!0-9]*) fp_e clock 1;; *) fp_e clock 0;; esac\n";

// Linux /proc reads: one grep over every file, so one exec for the whole table. grep prints
// the files in operand order, each line prefixed with its path, and the parser dispatches by
// that path. The patterns keep every line of a /proc/PID/stat file and only the wanted lines of
// the others: a stat record starts with its pid; a comm holding newlines (prctl(PR_SET_NAME)
// accepts any byte but NUL) splits it into a last line with ") STATE " and middle lines of at
// most 13 bytes, which no status, io or limits line is (theirs carry a colon or are long); a
// middle line that holds a colon itself is not printed, and that comm lacks it.
// /proc/self/stat is grep's own: its start time plus btime is the host's clock, without `date`.
// node_exporter's process and thread limits come from /proc/sys (sysctl changes them at run
// time). The tab in the middle-line pattern is literal.
constexpr std::string_view kProcPatterns =
    "-e '^[0-9]' -e ') [A-Za-z] ' -e '^[^\t:]\\{0,13\\}$' -e '^btime ' -e '^Uid:' "
    "-e '^Threads:' -e 'ctxt_switches:' -e '^VmSwap:' -e '^Max open files'";
constexpr std::string_view kProcIoPatterns = "-e '^read_bytes:' -e '^write_bytes:'";
constexpr std::string_view kProcFiles =
    "/proc/stat /proc/self/stat /proc/sys/kernel/pid_max /proc/sys/kernel/threads-max "
    "/proc/[0-9]*/stat /proc/[0-9]*/status";
// The extra /proc/self/fd operand forces per-directory headers even with one match.
constexpr std::string_view kProcFd = "ls -a /proc/self/fd /proc/[0-9]*/fd 2>/dev/null";

constexpr std::string_view kLsofFd =
    "if fp_have lsof; then fp_b lsof-fd; lsof -n -P -l -w -b -F f 2>/dev/null; "
    "fp_e lsof-fd $?; fi\n";

constexpr std::string_view kNetstatListen =
    "fp_b listen-netstat; netstat -an 2>/dev/null; fp_e listen-netstat $?\n";

// netstat lists every socket but no owners; lsof names owners but, run by a non-root probe user,
// only that user's own sockets. Both run where lsof exists; ParseProcessProbe merges the two
// (MergeListenSockets).
constexpr std::string_view kLsofListen =
    "if fp_have lsof; then fp_b listen-lsof; "
    "lsof -n -P -l -w -b -iTCP -sTCP:LISTEN -iUDP -F pctPn 2>/dev/null; fp_e listen-lsof $?; "
    "fi\n";

// Headerless -o columns per dialect. POSIX: `name=` makes the rest of the option-argument the
// header, so each column gets its own -o (procps alone also accepts the comma form).
// wchan tells a running process (blank) from a sleeping one: AIX's state A covers both.
constexpr std::string_view kAixPs =
    "ps -e -o pid= -o ppid= -o user= -o stat= -o etime= -o time= -o rssize= -o vsz= "
    "-o thcount= -o wchan= -o args=";
constexpr std::string_view kSolarisPsColumns =
    "-o pid= -o ppid= -o user= -o s= -o etime= -o time= -o rss= -o vsz= -o nlwp= -o zone= "
    "-o args=";
constexpr std::string_view kHpuxPs =
    "UNIX95=1 ps -e -o pid= -o ppid= -o user= -o state= -o etime= -o time= -o vsz= -o args=";
constexpr std::string_view kFreebsdPs =
    "ps -ax -ww -o pid= -o ppid= -o user= -o state= -o etime= -o usertime= -o systime= "
    "-o rss= -o vsz= -o nlwp= -o args=";
constexpr std::string_view kDarwinPs =
    "ps -ax -ww -o pid= -o ppid= -o user= -o state= -o etime= -o time= -o utime= -o rss= "
    "-o vsz= -o args=";

void AddSection(std::string& s, std::string_view name, std::string_view command) {
  s.append("fp_b ").append(name).append("; ").append(command).append("; fp_e ").append(name);
  s.append(" $?\n");
}

// The /proc sections of a Linux or BusyBox probe. With sudo, the io counters are a section of
// their own, which RunThroughSudo hands to root's fixed command; otherwise the one grep reads
// them too.
void AddProcSections(std::string& s, ProbePrivilege privilege) {
  std::string grep = "grep -sH ";
  grep.append(kProcPatterns);
  if (privilege == ProbePrivilege::kSudo) {
    grep.append(" ").append(kProcFiles).append(" /proc/[0-9]*/limits");
    AddSection(s, "proc-files", grep);
    AddSection(s, "proc-io", "grep -sH " + std::string(kProcIoPatterns) + " /proc/[0-9]*/io");
  } else {
    grep.append(" ").append(kProcIoPatterns).append(" ").append(kProcFiles);
    grep.append(" /proc/[0-9]*/io /proc/[0-9]*/limits");
    AddSection(s, "proc-files", grep);
  }
  AddSection(s, "proc-fd", kProcFd);
}

// What sudo runs for the root-only sections: the same output as the login user's commands,
// from argument lists that never vary. find expands /proc/[0-9]* itself (a shell glob would
// make the list differ per host and probe, and a sudoers wildcard would allow any path);
// -prune keeps it out of every other /proc directory, and -exec names absolute paths because
// sudo may keep the login user's PATH.
// One line per part of the find expression: start, prune everything else, act.
// clang-format off
constexpr std::string_view kSudoFindFdArgs[] = {
    "/proc", "-maxdepth", "2",
    "-path", "/proc/*/*", "!", "-path", "/proc/[0-9]*/fd", "-prune", "-o",
    "-path", "/proc/[0-9]*/fd", "-exec", "/bin/ls", "-a", "/proc/self/fd", "{}", "+"};
constexpr std::string_view kSudoFindIoArgs[] = {
    "/proc", "-maxdepth", "2",
    "-path", "/proc/*/*", "!", "-path", "/proc/[0-9]*/io", "-prune", "-o",
    "-path", "/proc/[0-9]*/io", "-exec", "/bin/grep", "-sH", "-e", "^read_bytes:", "-e",
    "^write_bytes:", "{}", "+"};
// clang-format on
constexpr std::string_view kSudoListenLinuxArgs[] = {"-ltunp"};
constexpr std::string_view kSudoLsofFdArgs[] = {"-n", "-P", "-l", "-w", "-b", "-F", "f"};
constexpr std::string_view kSudoLsofListenArgs[] = {
    "-n", "-P", "-l", "-w", "-b", "-iTCP", "-sTCP:LISTEN", "-iUDP", "-F", "pctPn"};

constexpr SudoCommand kSudoCommands[] = {
    {"proc-fd", "/usr/bin/find", kSudoFindFdArgs,
     "descriptor counts of every process (Linux, BusyBox: /proc/PID/fd)"},
    {"proc-io", "/usr/bin/find", kSudoFindIoArgs,
     "I/O byte counters of every process (Linux, BusyBox: /proc/PID/io)"},
    {"listen-ss", "/usr/bin/ss", kSudoListenLinuxArgs,
     "owners of listening sockets (Linux, BusyBox with ss)"},
    {"listen-netstat", "/usr/bin/netstat", kSudoListenLinuxArgs,
     "owners of listening sockets (Linux, BusyBox without ss)"},
    {"lsof-fd", "/usr/bin/lsof", kSudoLsofFdArgs,
     "descriptor counts of every process (AIX, Solaris, HP-UX, macOS, FreeBSD without procstat)"},
    {"listen-lsof", "/usr/bin/lsof", kSudoLsofListenArgs,
     "owners of listening sockets (AIX, Solaris, HP-UX, macOS)"},
};
// kSudoCommands by the dialects whose sections they replace. Elsewhere `listen-netstat` is
// `netstat -an`, which names no owners for anyone.
constexpr std::span<const SudoCommand> kSudoLinux(kSudoCommands, 4);
constexpr std::span<const SudoCommand> kSudoLsof(kSudoCommands + 4, 2);

// `fp_root SECTION PROGRAM ARGS...` runs the command through sudo when `sudo -n -l` says that
// exact command is allowed without a password (no prompt ever: -n), sets fp_rok=yes and adds
// SECTION to fp_ras; otherwise leaves fp_rok=no.
constexpr std::string_view kSudoPrologue =
    "fp_ras=\n"
    "fp_root() { fp_rs=$1; shift; fp_rok=no; if sudo -n -l \"$@\" >/dev/null 2>&1; then "
    "fp_rok=yes; fp_ras=\"$fp_ras $fp_rs\"; sudo -n \"$@\" 2>/dev/null; fi; }\n";

// Rewrites the section `root.section` of script `s` ("fp_b NAME; COMMAND; fp_e NAME $?") so
// that the fixed sudo command fills it when sudo allows it, and COMMAND, the login user's
// read, when it does not. A script without that section is left as it is.
void RunThroughSudo(std::string& s, const SudoCommand& root) {
  const std::string begin = "fp_b " + std::string(root.section) + "; ";
  const std::string end = "; fp_e " + std::string(root.section) + " $?";
  const std::size_t at = s.find(begin);
  if (at == std::string::npos) return;
  const std::size_t command_at = at + begin.size();
  const std::size_t end_at = s.find(end, command_at);
  if (end_at == std::string::npos) return;
  const std::string command = s.substr(command_at, end_at - command_at);
  std::string rooted = begin + "fp_root " + std::string(root.section) + " ";
  rooted.append(detail::BaseName(root.program));
  // Single quotes: the arguments hold globs and `!`, which must reach sudo verbatim.
  for (std::string_view arg : root.args) rooted.append(" '").append(arg).append("'");
  rooted.append("; fp_rc=$?; if [ $fp_rok = no ]; then ").append(command);
  rooted.append("; fp_rc=$?; fi; fp_e ").append(root.section).append(" $fp_rc");
  s.replace(at, end_at + end.size() - at, rooted);
}

}  // namespace

std::string_view DialectName(Dialect dialect) noexcept {
  for (const auto& [d, name] : kNames) {
    if (d == dialect) return name;
  }
  return "unknown";
}

std::optional<Dialect> ParseDialectName(std::string_view name) noexcept {
  for (const auto& [d, n] : kNames) {
    if (n == name) return d;
  }
  return std::nullopt;
}

std::string_view StateBucketName(StateBucket bucket) noexcept {
  switch (bucket) {
    case StateBucket::kRunning:
      return "Running";
    case StateBucket::kSleeping:
      return "Sleeping";
    case StateBucket::kWaiting:
      return "Waiting";
    case StateBucket::kZombie:
      return "Zombie";
    case StateBucket::kOther:
      return "Other";
  }
  return "Other";
}

// The first letter of a state as each platform's ps(1) documents it; later letters are flags
// (BSD "Ss+", BusyBox "SW<"), and BusyBox may print a flag as a second word ("S <").
StateBucket BucketForState(Dialect dialect, std::string_view state) noexcept {
  state = detail::Trim(state);
  if (state.empty()) return StateBucket::kOther;
  const char c = state.front();
  if (c == 'Z') return StateBucket::kZombie;
  switch (dialect) {
    case Dialect::kLinuxProcps:
    case Dialect::kBusybox:
      // R running, S sleeping, D uninterruptible; T/t stopped, I idle kernel thread, X dead
      // and W (2.4 paging) are Other, as in process-exporter.
      if (c == 'R') return StateBucket::kRunning;
      if (c == 'S') return StateBucket::kSleeping;
      if (c == 'D') return StateBucket::kWaiting;
      break;
    case Dialect::kFreebsd:
    case Dialect::kDarwin:
      // R runnable, S asleep < 20 s, I idle (asleep longer), D disk wait, L lock wait,
      // U uninterruptible (macOS), W idle interrupt thread (FreeBSD), T stopped.
      if (c == 'R') return StateBucket::kRunning;
      if (c == 'S' || c == 'I' || c == 'W') return StateBucket::kSleeping;
      if (c == 'D' || c == 'L' || c == 'U') return StateBucket::kWaiting;
      break;
    case Dialect::kSolaris:
      // O on a processor, R runnable, S sleeping, T stopped, W waiting for CPU cap.
      if (c == 'O' || c == 'R') return StateBucket::kRunning;
      if (c == 'S') return StateBucket::kSleeping;
      if (c == 'W') return StateBucket::kWaiting;
      break;
    case Dialect::kAix:
      // A active (running or asleep: the wait channel decides, see ParsePsTable), W swapped,
      // I intermediate (being created), T stopped, O nonexistent.
      if (c == 'R') return StateBucket::kRunning;  // thread views
      if (c == 'S') return StateBucket::kSleeping;
      if (c == 'W') return StateBucket::kWaiting;
      break;
    case Dialect::kHpux:
      // R runnable, S sleeping, W waiting, I intermediate, T stopped, X growing.
      if (c == 'R') return StateBucket::kRunning;
      if (c == 'S') return StateBucket::kSleeping;
      if (c == 'W') return StateBucket::kWaiting;
      break;
  }
  return StateBucket::kOther;
}

char NodeStateLetter(Dialect dialect, std::string_view state, StateBucket bucket) noexcept {
  state = detail::Trim(state);
  const char c = state.empty() ? '?' : state.front();
  const bool letter = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
  if (dialect == Dialect::kLinuxProcps || dialect == Dialect::kBusybox) return letter ? c : '?';
  switch (bucket) {
    case StateBucket::kRunning:
      return 'R';
    case StateBucket::kSleeping:
      return 'S';
    case StateBucket::kWaiting:
      return 'D';
    case StateBucket::kZombie:
      return 'Z';
    case StateBucket::kOther:
      break;
  }
  return letter ? c : '?';
}

Dialect ChooseDialect(const Fingerprint& fp) noexcept {
  const std::string_view os = fp.os;
  if (os == "Linux") {
    if (fp.ps_flavour == "busybox") return Dialect::kBusybox;
    if (detail::StartsWith(fp.ps_flavour, "procps")) return Dialect::kLinuxProcps;
    return fp.ps_has_o ? Dialect::kLinuxProcps : Dialect::kBusybox;
  }
  if (os == "AIX") return Dialect::kAix;
  if (os == "SunOS") return Dialect::kSolaris;
  if (os == "HP-UX") return Dialect::kHpux;
  if (os == "Darwin") return Dialect::kDarwin;
  if (os == "FreeBSD" || os == "OpenBSD" || os == "NetBSD" || os == "DragonFly") {
    return Dialect::kFreebsd;
  }
  return fp.proc_readable ? Dialect::kBusybox : Dialect::kFreebsd;
}

bool IsValidNonce(std::string_view nonce) noexcept {
  if (nonce.size() < 8 || nonce.size() > 64) return false;
  for (char c : nonce) {
    const bool hex = detail::IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    if (!hex) return false;
  }
  return true;
}

std::string_view FingerprintScript() noexcept {
  static const std::string script = BuildFingerprintScript();
  return script;
}

FingerprintResult ParseFingerprint(std::string_view output) {
  FingerprintResult result;
  ParseStats stats;
  const std::vector<Section> sections = SplitSections(output, kFingerprintNonce, stats);
  auto body = [&](std::string_view name) -> std::optional<std::string_view> {
    for (const Section& s : sections) {
      if (s.name == name) return s.body;
    }
    return std::nullopt;
  };
  auto first_line = [&](std::string_view name) -> std::string {
    auto b = body(name);
    if (!b) return {};
    detail::LineReader reader(*b);
    std::string_view line;
    while (reader.Next(line)) {
      line = detail::Trim(line);
      if (!line.empty()) return std::string(line);
    }
    return {};
  };
  auto number = [&](std::string_view name) -> std::optional<long> {
    const std::string line = first_line(name);
    if (auto v = detail::ParseInt<long>(line); v && *v >= 0) return v;
    return std::nullopt;
  };

  Fingerprint& fp = result.fingerprint;
  fp.os = first_line("uname-s");
  if (fp.os.empty()) {
    result.error = "missing section uname-s";
    return result;
  }
  fp.os_release = first_line("uname-r");
  fp.arch = first_line("uname-m");
  fp.kernel_version = first_line("uname-v");
  fp.nodename = first_line("uname-n");
  if (fp.os == "AIX") {
    // "7" and "2" make AIX 7.2; the machine serial says nothing about the architecture.
    const std::string version = first_line("uname-v");
    if (detail::ParseI64(version) && detail::ParseI64(fp.os_release)) {
      fp.os_release = version + "." + fp.os_release;
    }
    const std::string processor = first_line("uname-p");
    fp.arch = processor.empty() || processor == "unknown" ? "powerpc" : processor;
  }
  fp.proc_readable = first_line("proc") == "yes";
  fp.clk_tck = number("clk-tck");
  if (fp.clk_tck && *fp.clk_tck == 0) fp.clk_tck.reset();
  fp.page_size = number("page-size");
  if (fp.page_size && *fp.page_size == 0) fp.page_size.reset();
  fp.uid = number("uid");
  fp.zonename = first_line("zonename");
  if (auto b = body("kstat-var")) fp.max_processes = ParseKstatValue(*b, "unix:0:var:v_proc");

  if (auto b = body("ps-o")) {
    detail::LineReader reader(*b);
    std::string_view line;
    while (reader.Next(line)) {
      if (detail::ParseI64(detail::Trim(line))) fp.ps_has_o = true;
    }
  }
  fp.ps_flavour = fp.ps_has_o ? "posix" : "unknown";
  if (auto b = body("ps-version")) {
    detail::LineReader reader(*b);
    std::string_view line;
    while (reader.Next(line)) {
      if (line.find("BusyBox") != std::string_view::npos) {
        fp.ps_flavour = "busybox";
        break;
      }
      // "ps from procps-ng 4.0.2" (procps-ng) or "procps version 3.2.8" (RHEL 5/6).
      const std::size_t at = line.find("procps");
      if (at != std::string_view::npos) {
        std::string_view rest = line.substr(at);
        std::string_view name = detail::NextToken(rest);
        std::string_view version = detail::NextToken(rest);
        if (version == "version") version = detail::NextToken(rest);
        fp.ps_flavour = std::string(name);
        if (!version.empty()) fp.ps_flavour.append(" ").append(version);
        break;
      }
    }
  }
  if (auto b = body("tools")) {
    detail::LineReader reader(*b);
    std::string_view line;
    while (reader.Next(line)) {
      line = detail::Trim(line);
      if (line == "lsof") fp.has_lsof = true;
      if (line == "ss") fp.has_ss = true;
      if (line == "netstat") fp.has_netstat = true;
      if (line == "sockstat") fp.has_sockstat = true;
      if (line == "procstat") fp.has_procstat = true;
      if (line == "ucb-ps") fp.has_ucb_ps = true;
    }
  }
  return result;
}

std::span<const SudoCommand> SudoCommands() noexcept { return kSudoCommands; }

std::string ProcessProbeScript(Dialect dialect, const Fingerprint& fp, std::string_view nonce,
                               ProbePrivilege privilege) {
  if (!IsValidNonce(nonce)) return {};
  std::string s = "fp_n=";
  s.append(nonce);
  s.push_back('\n');
  s.append(kPrologue);
  s.append("fp_b self; echo $$; fp_e self 0\n");
  // Linux hosts give their clock through the /proc read (no `date` exec).
  if (dialect != Dialect::kLinuxProcps && dialect != Dialect::kBusybox) s.append(kClock);
  switch (dialect) {
    case Dialect::kLinuxProcps:
      // user:32 keeps long names readable instead of falling back to the uid.
      AddSection(s, "ps",
                 "ps -e -ww -o pid=,ppid=,user:32=,stat=,etime=,time=,rss=,vsz=,nlwp=,args= "
                 "2>/dev/null");
      AddProcSections(s, privilege);
      s.append(
          "if fp_have ss; then fp_b listen-ss; ss -ltunp 2>/dev/null; fp_e listen-ss $?\n"
          "elif fp_have netstat; then fp_b listen-netstat; netstat -ltunp 2>/dev/null; "
          "fp_e listen-netstat $?; fi\n");
      break;
    case Dialect::kBusybox:
      // Header-driven: BusyBox builds differ in which -o columns exist, and minimal builds
      // have no -o at all (then plain `ps` still gives PID, USER and COMMAND).
      AddSection(s, "ps-header",
                 fp.ps_has_o ? "ps -o pid,ppid,user,stat,rss,vsz,args 2>/dev/null || "
                               "ps -o pid,ppid,user,args 2>/dev/null || ps 2>/dev/null"
                             : "ps 2>/dev/null");
      AddProcSections(s, privilege);
      s.append(
          "if fp_have ss; then fp_b listen-ss; ss -ltunp 2>/dev/null; fp_e listen-ss $?\n"
          "elif fp_have netstat; then fp_b listen-netstat; netstat -ltunp 2>/dev/null; "
          "fp_e listen-netstat $?; fi\n");
      break;
    case Dialect::kAix:
      AddSection(s, "ps", std::string(kAixPs) + " 2>/dev/null");
      AddSection(s, "comm", "ps -e -o pid= -o comm= 2>/dev/null");
      s.append(kLsofFd);
      s.append(kNetstatListen).append(kLsofListen);
      break;
    case Dialect::kSolaris: {
      // Scope to the probe's own zone: a global zone's ps -e shows every zone.
      std::string scope = "-e";
      if (!fp.zonename.empty()) scope = "-z `zonename`";
      AddSection(s, "ps", "ps " + scope + " " + std::string(kSolarisPsColumns) + " 2>/dev/null");
      AddSection(s, "comm", "ps " + scope + " -o pid= -o comm= 2>/dev/null");
      // ps -o args stops at 80 characters; the UCB ps prints whole argument lists.
      s.append(
          "if [ -x /usr/ucb/ps ]; then fp_b ucb-ps; /usr/ucb/ps -agwwwx 2>/dev/null; "
          "fp_e ucb-ps $?; fi\n");
      s.append(kLsofFd);
      s.append(kNetstatListen).append(kLsofListen);
      break;
    }
    case Dialect::kHpux:
      AddSection(s, "ps", std::string(kHpuxPs) + " 2>/dev/null");
      AddSection(s, "comm", "UNIX95=1 ps -e -o pid= -o comm= 2>/dev/null");
      // nproc and nkthread are dynamic on 11.31, so every probe reads them. kctune exists
      // from 11.23 on; -P is the output format HP keeps stable for scripts.
      s.append(
          "if fp_have kctune; then fp_b kctune-limits; kctune -P name,current nproc nkthread "
          "2>/dev/null; fp_e kctune-limits $?; fi\n");
      s.append(kLsofFd);
      s.append(kNetstatListen).append(kLsofListen);
      break;
    case Dialect::kFreebsd:
      AddSection(s, "ps", std::string(kFreebsdPs) + " 2>/dev/null");
      AddSection(s, "comm", "ps -ax -o pid= -o comm= 2>/dev/null");
      s.append(
           "if fp_have procstat; then fp_b procstat-fd; procstat -fa 2>/dev/null; "
           "fp_e procstat-fd $?; else\n")
          .append(kLsofFd)
          .append("fi\n");
      s.append(
           "if fp_have sockstat; then fp_b listen-sockstat; sockstat -46l 2>/dev/null; "
           "fp_e listen-sockstat $?; else\n")
          .append(kNetstatListen)
          .append("fi\n");
      break;
    case Dialect::kDarwin:
      AddSection(s, "ps", std::string(kDarwinPs) + " 2>/dev/null");
      AddSection(s, "comm", "ps -ax -o pid= -o comm= 2>/dev/null");
      s.append(kLsofFd);
      s.append(kNetstatListen).append(kLsofListen);
      break;
  }
  if (privilege == ProbePrivilege::kSudo) {
    const bool linux_proc = dialect == Dialect::kLinuxProcps || dialect == Dialect::kBusybox;
    for (const SudoCommand& root : linux_proc ? kSudoLinux : kSudoLsof) RunThroughSudo(s, root);
    // After the prologue's functions, before the first section.
    s.insert(s.find("fp_b self;"), kSudoPrologue);
    s.append("fp_b sudo; echo \"$fp_ras\"; fp_e sudo 0\n");
  }
  return s;
}

}  // namespace fleetps::probes
