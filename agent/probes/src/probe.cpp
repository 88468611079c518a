#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "fleetps/probes/parsers.hpp"
#include "text.hpp"

namespace fleetps::probes {
namespace {

const Section* Find(const std::vector<Section>& sections, std::string_view name) {
  for (const Section& s : sections) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

std::optional<std::int64_t> FirstInteger(const Section* section) {
  if (section == nullptr) return std::nullopt;
  detail::LineReader reader(section->body);
  std::string_view line;
  while (reader.Next(line)) {
    line = detail::Trim(line);
    if (!line.empty()) return detail::ParseI64(line);
  }
  return std::nullopt;
}

bool IsLinux(Dialect d) { return d == Dialect::kLinuxProcps || d == Dialect::kBusybox; }
bool IsBsd(Dialect d) { return d == Dialect::kFreebsd || d == Dialect::kDarwin; }

// A name in brackets or parentheses standing for a command line ps could not read: procps and
// BusyBox print kernel threads (and zombies) as "[comm]" / "[comm] <defunct>"; BSD ps prints
// kernel processes as "[idle]" and, when it cannot read the arguments of a process (swapped
// out, exiting), its name in parentheses, "(postgres)".
bool IsWrappedName(std::string_view args, char open, char close) {
  if (args.ends_with(" <defunct>")) args.remove_suffix(10);
  // The name may hold blanks: BusyBox "[RGN BUF WQ]", macOS "(Meeting Manager)".
  return args.size() >= 2 && args.front() == open && args.back() == close;
}

// Fills what a dialect leaves implicit: comm from argv[0] when no column gave it, and the
// CPU total or split that can be derived exactly.
void Finish(Dialect dialect, ProcessRow& row) {
  if (dialect == Dialect::kBusybox && row.args.starts_with('{')) {
    // BusyBox prints "{comm} argv..." when argv[0]'s base name differs from comm.
    const std::size_t close = row.args.find("} ");
    if (close != std::string::npos) {
      if (row.comm.empty()) row.comm = row.args.substr(1, close - 1);
      row.args.erase(0, close + 2);
    }
  }
  if ((IsLinux(dialect) || IsBsd(dialect)) && IsWrappedName(row.args, '[', ']')) {
    // "[sh] <defunct>" is a zombie, not a kernel thread: it has no command line either.
    row.kernel = !row.args.ends_with(" <defunct>");
    if (row.comm.empty()) row.comm = row.args.substr(1, row.args.rfind(']') - 1);
    row.args.clear();
  } else if (IsBsd(dialect) && IsWrappedName(row.args, '(', ')')) {
    if (row.comm.empty()) row.comm = row.args.substr(1, row.args.rfind(')') - 1);
    row.args.clear();
  }
  if (row.comm.empty()) {
    row.comm.assign(detail::BaseName(row.exe()));
    if (IsLinux(dialect) && row.comm.size() > 15) row.comm.resize(15);
  } else if (!IsLinux(dialect) && row.comm.starts_with('/')) {
    // Solaris and macOS print the executed path as comm; the name is its last part, as
    // Linux's comm is, so that {{.Comm}} groups and comm= selectors see one fleet.
    row.comm.assign(detail::BaseName(row.comm));
  }
  if (!row.cpu_total_seconds && row.cpu_user_seconds && row.cpu_system_seconds) {
    row.cpu_total_seconds = *row.cpu_user_seconds + *row.cpu_system_seconds;
  }
  if (row.cpu_total_seconds && row.cpu_user_seconds && !row.cpu_system_seconds) {
    row.cpu_system_seconds = std::max(0.0, *row.cpu_total_seconds - *row.cpu_user_seconds);
  }
}

// Copies the /proc-derived fields over a ps row (same pid).
void Enrich(ProcessRow& row, ProcessRow&& proc) {
  if (!proc.comm.empty()) row.comm = std::move(proc.comm);
  row.ppid = proc.ppid;  // /proc is authoritative (BusyBox plain ps has no PPID column)
  if (row.state.empty()) {
    row.state = std::move(proc.state);
    row.state_bucket = proc.state_bucket;
  }
  auto take = [](auto& dst, auto& src) {
    if (src.has_value()) dst = src;
  };
  take(row.start_time_unix, proc.start_time_unix);
  take(row.cpu_user_seconds, proc.cpu_user_seconds);
  take(row.cpu_system_seconds, proc.cpu_system_seconds);
  take(row.cpu_total_seconds, proc.cpu_total_seconds);
  take(row.rss_bytes, proc.rss_bytes);
  take(row.vsz_bytes, proc.vsz_bytes);
  take(row.swap_bytes, proc.swap_bytes);
  take(row.threads, proc.threads);
  take(row.fds, proc.fds);
  take(row.fd_limit, proc.fd_limit);
  take(row.read_bytes, proc.read_bytes);
  take(row.write_bytes, proc.write_bytes);
  take(row.major_faults, proc.major_faults);
  take(row.minor_faults, proc.minor_faults);
  take(row.ctx_voluntary, proc.ctx_voluntary);
  take(row.ctx_involuntary, proc.ctx_involuntary);
  if (row.user.empty()) row.user = std::move(proc.user);
}

// Orders rows by pid and drops repeated pids (the first listed wins). ps lists processes in pid
// order almost everywhere: checking is one read pass, while sorting sorted 300-byte rows still
// moves them.
void SortByPid(std::vector<ProcessRow>& rows) {
  auto by_pid = [](const ProcessRow& a, const ProcessRow& b) { return a.pid < b.pid; };
  if (!std::is_sorted(rows.begin(), rows.end(), by_pid)) {
    std::stable_sort(rows.begin(), rows.end(), by_pid);
  }
  rows.erase(std::unique(rows.begin(), rows.end(),
                         [](const ProcessRow& a, const ProcessRow& b) { return a.pid == b.pid; }),
             rows.end());
}

// Calls `apply(row, value)` for every row whose pid `table` holds, walking both once: rows and
// table (std::map or PidMap) ascend by pid.
template <class Table, class Apply>
void JoinByPid(std::vector<ProcessRow>& rows, Table& table, Apply apply) {
  auto it = table.begin();
  for (ProcessRow& row : rows) {
    while (it != table.end() && it->first < row.pid) ++it;
    if (it == table.end()) return;
    if (it->first == row.pid) apply(row, it->second);
  }
}

// Pids descending from `root` (root included, in discovery order) over (ppid, pid) links.
// The probe's own tree is a handful of processes whose children mostly follow their parents
// in pid order, so a few linear passes with a small found-set find it without sorting 100,000
// links. A tree still growing after kMaxPasses (pid wrap-around) or larger than kMaxLinearSet
// (a hostile table) is walked again through the sorted links: a bounded cost whatever the
// tree looks like.
std::vector<std::int64_t> Descendants(std::vector<std::pair<std::int64_t, std::int64_t>>& links,
                                      std::int64_t root) {
  constexpr int kMaxPasses = 4;
  constexpr std::size_t kMaxLinearSet = 64;
  std::vector<std::int64_t> found{root};
  auto known = [&](std::int64_t pid) {
    return std::find(found.begin(), found.end(), pid) != found.end();
  };
  bool grew = true;
  for (int pass = 0; grew && pass < kMaxPasses && found.size() <= kMaxLinearSet; ++pass) {
    grew = false;
    for (const auto& [ppid, pid] : links) {
      if (known(ppid) && !known(pid)) {
        found.push_back(pid);
        grew = true;
        if (found.size() > kMaxLinearSet) break;
      }
    }
  }
  if (!grew) return found;
  std::sort(links.begin(), links.end());
  found.assign(1, root);
  for (std::size_t next = 0; next < found.size(); ++next) {
    const std::int64_t pid = found[next];
    auto first = std::lower_bound(links.begin(), links.end(), std::pair{pid, INT64_MIN});
    // Pids are unique, so each link is someone's child once: only a cycle back to `root`
    // could add a pid twice.
    for (auto it = first; it != links.end() && it->first == pid; ++it) {
      if (it->second != root) found.push_back(it->second);
    }
  }
  return found;
}

// Fills snap.not_permitted. A reading made as root (login uid 0, or a section the `sudo`
// section names) is complete by definition: a process that exited between two reads lacks it
// without being refused. A reading made as another user is partial when something lacks it.
void MarkNotPermitted(const std::vector<Section>& sections, const Fingerprint& fingerprint,
                      HostSnapshot& snap) {
  const Section* sudo = Find(sections, "sudo");
  auto as_root = [&](std::string_view section) {
    if (fingerprint.uid == 0L) return true;
    if (sudo == nullptr) return false;
    detail::LineReader reader(sudo->body);
    std::string_view line;
    while (reader.Next(line)) {
      for (std::string_view word = detail::NextToken(line); !word.empty();
           word = detail::NextToken(line)) {
        if (word == section) return true;
      }
    }
    return false;
  };
  // The first of `names` the probe printed: the reading was attempted there.
  auto made_by = [&](std::initializer_list<std::string_view> names) -> const Section* {
    for (std::string_view name : names) {
      if (const Section* s = Find(sections, name)) return s;
    }
    return nullptr;
  };
  auto partial = [&](const Section* made, auto lacks, const auto& items) {
    return made != nullptr && !as_root(made->name) &&
           std::any_of(items.begin(), items.end(), lacks);
  };
  auto& out = snap.not_permitted;
  out[static_cast<std::size_t>(Reading::kFds)] = partial(
      made_by({"proc-fd", "lsof-fd", "procstat-fd"}),
      [](const ProcessRow& row) { return !row.fds; }, snap.processes);
  out[static_cast<std::size_t>(Reading::kIo)] = partial(
      made_by({"proc-io", "proc-files"}), [](const ProcessRow& row) { return !row.read_bytes; },
      snap.processes);
  // Elsewhere netstat -an never names owners, whoever runs it: only lsof can be refused them.
  const Section* owners =
      IsLinux(snap.dialect) ? made_by({"listen-ss", "listen-netstat"}) : made_by({"listen-lsof"});
  out[static_cast<std::size_t>(Reading::kSocketOwners)] = partial(
      owners, [](const ListenSocket& socket) { return !socket.pid; }, snap.listening);
}

// The runs of one `grep -sH` over every /proc file (the Linux "proc-files" section), by file: grep
// prints its operands in order, so each kind of file is one run of lines and a view of it is
// what the per-file parsers read. Lines of a kind that (unexpectedly) interleave with another
// run reach that run's parser, which skips them as unknown lines.
struct ProcFiles {
  std::string_view btime;      // "btime N" from /proc/stat
  std::string_view self_stat;  // grep's own /proc/self/stat content: the host's clock
  std::string_view sys_limits;
  std::string_view stat;
  std::string_view status;
  std::string_view io;
  std::string_view limits;
};

ProcFiles SplitProcFiles(std::string_view text) {
  ProcFiles files;
  enum Kind : std::uint8_t { kStat, kStatus, kIo, kLimits, kSys, kKinds };
  std::size_t begin[kKinds];
  std::size_t end[kKinds] = {};
  std::fill(std::begin(begin), std::end(begin), std::string_view::npos);
  std::size_t at = 0;
  while (at < text.size()) {
    const std::size_t newline = std::min(text.find('\n', at), text.size());
    const std::size_t next = newline == text.size() ? newline : newline + 1;
    const std::string_view line = text.substr(at, newline - at);
    int kind = -1;
    if (line.starts_with("/proc/stat:btime ")) {
      files.btime = detail::Trim(line.substr(11));
    } else if (line.starts_with("/proc/self/stat:")) {
      files.self_stat = detail::Trim(line.substr(16));
    } else if (line.starts_with("/proc/sys/")) {
      kind = kSys;
    } else if (line.starts_with("/proc/") && line.size() > 6 && detail::IsDigit(line[6])) {
      std::size_t i = 7;
      while (i < line.size() && detail::IsDigit(line[i])) ++i;
      const std::string_view file = line.substr(i);
      if (file.starts_with("/stat:")) kind = kStat;
      if (file.starts_with("/status:")) kind = kStatus;
      if (file.starts_with("/io:")) kind = kIo;
      if (file.starts_with("/limits:")) kind = kLimits;
    }
    if (kind >= 0) {
      if (begin[kind] == std::string_view::npos) begin[kind] = at;
      end[kind] = next;
    }
    at = next;
  }
  auto run = [&](int kind) {
    return begin[kind] == std::string_view::npos
               ? std::string_view{}
               : text.substr(begin[kind], end[kind] - begin[kind]);
  };
  files.stat = run(kStat);
  files.status = run(kStatus);
  files.io = run(kIo);
  files.limits = run(kLimits);
  files.sys_limits = run(kSys);
  return files;
}

// The host's clock from a /proc/PID/stat record of a process that just started (grep's own):
// btime ("btime N") plus its start time (field 22, the 20th after the comm's closing
// parenthesis). Both count from the same boot, also in a container or time namespace.
std::optional<std::int64_t> ClockFromStat(std::string_view stat, std::string_view btime_line,
                                          long clk_tck) {
  std::string_view btime_rest = btime_line;
  (void)detail::NextToken(btime_rest);
  const auto btime = detail::ParseI64(detail::NextToken(btime_rest));
  const std::size_t close = stat.rfind(')');
  if (!btime || close == std::string_view::npos || clk_tck <= 0) return std::nullopt;
  std::string_view rest = stat.substr(close + 1);
  std::string_view field;
  for (int n = 3; n <= 22; ++n) field = detail::NextToken(rest);
  const auto ticks = detail::ParseU64(field);
  if (!ticks) return std::nullopt;
  return *btime + static_cast<std::int64_t>(*ticks / static_cast<std::uint64_t>(clk_tck));
}

// Removes the probe shell, everything it started, and the login shell that ran `sh -s`.
// Rows ascend by pid.
void ExcludeSelf(HostSnapshot& snap) {
  if (!snap.self_pid) return;
  const std::int64_t self = *snap.self_pid;
  std::vector<std::pair<std::int64_t, std::int64_t>> links;  // (ppid, pid)
  links.reserve(snap.processes.size());
  std::optional<std::int64_t> parent;
  for (const ProcessRow& row : snap.processes) {
    links.emplace_back(row.ppid, row.pid);
    if (row.pid == self) parent = row.ppid;
  }
  std::vector<std::int64_t> excluded = Descendants(links, self);
  if (parent) {
    auto it =
        std::lower_bound(snap.processes.begin(), snap.processes.end(), *parent,
                         [](const ProcessRow& row, std::int64_t pid) { return row.pid < pid; });
    if (it != snap.processes.end() && it->pid == *parent &&
        it->args.find("sh -s") != std::string::npos) {
      excluded.push_back(it->pid);
    }
  }
  std::sort(excluded.begin(), excluded.end());
  const std::size_t before = snap.processes.size();
  std::erase_if(snap.processes, [&](const ProcessRow& row) {
    return std::binary_search(excluded.begin(), excluded.end(), row.pid);
  });
  snap.stats.self_excluded = before - snap.processes.size();
}

// Counts the processes lacking a per-process reading the host gives (stats.processes_partial):
// a reading is given when at least one process of the table has it.
void CountPartial(HostSnapshot& snap) {
  bool status = false;
  bool io = false;
  bool fds = false;
  for (const ProcessRow& row : snap.processes) {
    status = status || row.ctx_voluntary.has_value();
    io = io || row.read_bytes.has_value();
    fds = fds || row.fds.has_value();
  }
  for (const ProcessRow& row : snap.processes) {
    if ((status && !row.ctx_voluntary) || (io && !row.read_bytes) || (fds && !row.fds)) {
      ++snap.stats.processes_partial;
    }
  }
}

// Process rows a table parser skipped: every skip but a header it did not know.
std::uint64_t RowsSkipped(const ParseStats& stats) {
  return stats.lines_skipped - stats.skipped[static_cast<std::size_t>(SkipReason::kNoHeader)];
}

}  // namespace

std::string_view ReadingName(Reading reading) noexcept {
  switch (reading) {
    case Reading::kFds:
      return "fds";
    case Reading::kIo:
      return "io";
    case Reading::kSocketOwners:
      return "socket_owners";
  }
  return "fds";
}

std::string_view ProcessRow::exe() const noexcept {
  std::string_view rest = args;
  return detail::NextToken(rest);
}

ProbeParseResult ParseProcessProbe(Dialect dialect, const Fingerprint& fingerprint,
                                   std::string_view output, std::string_view nonce) {
  ProbeParseResult result;
  HostSnapshot& snap = result.snapshot;
  snap.dialect = dialect;
  ParseStats& stats = snap.stats;
  if (!IsValidNonce(nonce)) {
    result.error = "invalid nonce";
    return result;
  }
  const std::vector<Section> sections = SplitSections(output, nonce, stats);
  snap.self_pid = FirstInteger(Find(sections, "self"));
  // Linux: every /proc read is one section, and the clock comes from it (btime and grep's own
  // start), which the ps table's elapsed times need first.
  const Section* proc_section = IsLinux(dialect) ? Find(sections, "proc-files") : nullptr;
  const ProcFiles files =
      SplitProcFiles(proc_section == nullptr ? std::string_view{} : proc_section->body);
  const long clk_tck = fingerprint.clk_tck.value_or(100);
  snap.remote_clock_unix = IsLinux(dialect) ? ClockFromStat(files.self_stat, files.btime, clk_tck)
                                            : FirstInteger(Find(sections, "clock"));
  const std::optional<std::int64_t> clock = snap.remote_clock_unix;

  const Section* ps = Find(sections, dialect == Dialect::kBusybox ? "ps-header" : "ps");
  if (ps != nullptr && !ps->terminated) {
    result.error = "process table truncated";
    return result;
  }
  std::vector<ProcessRow> rows;
  if (ps != nullptr) {
    const std::uint64_t skipped_before = RowsSkipped(stats);
    rows = dialect == Dialect::kBusybox
               ? ParsePsWithHeader(dialect, ps->body, clock, stats)
               : ParsePsTable(dialect, PsColumnsFor(dialect), ps->body, clock, stats);
    SortByPid(rows);
    stats.processes_unreadable = RowsSkipped(stats) - skipped_before;
  }
  // With a ps table, a /proc stat line that does not parse leaves a row without /proc
  // readings (a partial reading), not an unreadable process.
  const std::uint64_t ps_unreadable = stats.processes_unreadable;

  if (IsLinux(dialect)) {
    ProcBatch batch;
    batch.btime = files.btime;
    batch.stat = files.stat;
    batch.status = files.status;
    // With sudo the io counters have their own section (root's read, or the user's).
    const Section* io = Find(sections, "proc-io");
    batch.io = io == nullptr ? files.io : io->body;
    batch.limits = files.limits;
    const Section* fd = Find(sections, "proc-fd");
    batch.fd = fd == nullptr ? std::string_view{} : fd->body;
    PidMap<ProcessRow> proc = ParseProcBatch(batch, clk_tck, fingerprint.page_size.value_or(4096),
                                             snap.boot_time_unix, stats);
    const HostLimits limits = ParseProcSysLimits(files.sys_limits, stats);
    snap.max_processes = limits.max_processes;
    snap.max_threads = limits.max_threads;
    if (rows.empty()) {
      // No usable ps: /proc alone is the table (BusyBox without ps, or ps failed).
      if (proc_section != nullptr && !proc_section->terminated) {
        result.error = "process table truncated";
        return result;
      }
      stats.processes_unreadable -= ps_unreadable;  // only the stat lines count now
      rows.reserve(proc.size());
      for (auto& [pid, row] : proc) rows.push_back(std::move(row));
    } else {
      stats.processes_unreadable = ps_unreadable;
      JoinByPid(rows, proc,
                [](ProcessRow& row, ProcessRow& from_proc) { Enrich(row, std::move(from_proc)); });
      // BusyBox ps may lack PPID: a row /proc no longer knows exited meanwhile, and without
      // its parent it could be the probe's own ps, so it goes.
      if (dialect == Dialect::kBusybox && !proc.empty() && proc_section != nullptr &&
          proc_section->terminated) {
        std::erase_if(rows, [&](const ProcessRow& row) { return !proc.contains(row.pid); });
      }
    }
  } else {
    if (const Section* comm = Find(sections, "comm")) {
      auto names = ParsePidText(comm->body, stats);
      JoinByPid(rows, names, [dialect](ProcessRow& row, std::string_view name) {
        // Darwin's comm is the executable path; the short name is its last component.
        row.comm.assign(dialect == Dialect::kDarwin ? detail::BaseName(name) : name);
      });
    }
    if (const Section* ucb = Find(sections, "ucb-ps")) {
      auto full = ParseUcbPs(ucb->body, stats);
      JoinByPid(rows, full, [](ProcessRow& row, std::string_view args) {
        if (args.size() > row.args.size()) row.args.assign(args);
      });
    }
    PidMap<std::int64_t> fds;
    if (const Section* s = Find(sections, "lsof-fd"); s != nullptr && s->terminated) {
      fds = ParseLsofFdCounts(s->body, stats);
    } else if (const Section* p = Find(sections, "procstat-fd"); p != nullptr && p->terminated) {
      fds = ParseProcstatFdCounts(p->body, stats);
    }
    JoinByPid(rows, fds, [](ProcessRow& row, std::int64_t count) { row.fds = count; });
    if (const Section* k = Find(sections, "kctune-limits")) {
      const HostLimits limits = ParseKctuneLimits(k->body, stats);
      snap.max_processes = limits.max_processes;
      snap.max_threads = limits.max_threads;
    }
  }
  if (!snap.max_processes) snap.max_processes = fingerprint.max_processes;

  if (rows.empty()) {
    const bool missing =
        ps == nullptr && (!IsLinux(dialect) || Find(sections, "proc-files") == nullptr);
    result.error = missing ? "missing process table" : "empty process table";
    return result;
  }
  for (ProcessRow& row : rows) Finish(dialect, row);
  snap.processes = std::move(rows);
  ExcludeSelf(snap);
  // The table lives until the host's next good probe, so a large spare (the parser reserves a
  // row per output line: skipped or joined lines, excluded rows) is shed. A few spare rows are
  // kept: moving every row again would cost more CPU per probe than the bytes are worth.
  if (snap.processes.capacity() - snap.processes.size() > snap.processes.size() / 8) {
    snap.processes.shrink_to_fit();
  }
  CountPartial(snap);

  const Section* netstat = Find(sections, "listen-netstat");
  const Section* lsof = Find(sections, "listen-lsof");
  if (const Section* s = Find(sections, "listen-ss")) {
    snap.listening = ParseSs(s->body, stats);
  } else if (netstat != nullptr && lsof != nullptr) {
    // netstat sees every socket, a non-root lsof only the probe user's, but with owners.
    snap.listening = MergeListenSockets(ParseNetstat(dialect, netstat->body, stats),
                                        ParseLsofListen(lsof->body, stats));
  } else if (netstat != nullptr) {
    snap.listening = ParseNetstat(dialect, netstat->body, stats);
  } else if (lsof != nullptr) {
    snap.listening = ParseLsofListen(lsof->body, stats);
  } else if (const Section* k = Find(sections, "listen-sockstat")) {
    snap.listening = ParseSockstat(k->body, stats);
  }
  MarkNotPermitted(sections, fingerprint, snap);
  return result;
}

}  // namespace fleetps::probes
