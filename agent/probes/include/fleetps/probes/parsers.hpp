// The individual pure parsers ParseProcessProbe is built from, exposed for tests, fuzzing and
// ad hoc probes. All take views into the caller's buffer, copy what they keep, never throw on
// bad input, and skip (and count in `stats`) lines they cannot read.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fleetps/probes/dialect.hpp"
#include "fleetps/probes/process.hpp"

namespace fleetps::probes {

/// Values keyed by pid, in ascending pid order: one sorted vector rather than a tree node per
/// process, because tools list pids in order and a probe merges its sections by pid.
template <class T>
class PidMap {
 public:
  using value_type = std::pair<std::int64_t, T>;
  using const_iterator = typename std::vector<value_type>::const_iterator;

  PidMap() = default;
  /// Takes entries in any order; for a repeated pid, `merge(kept, later)` folds the later value
  /// into the first one. Already-sorted input (the usual case) costs one pass.
  template <class Merge>
  PidMap(std::vector<value_type> entries, Merge merge) : entries_(std::move(entries)) {
    auto by_pid = [](const value_type& a, const value_type& b) { return a.first < b.first; };
    if (!std::is_sorted(entries_.begin(), entries_.end(), by_pid)) {
      std::stable_sort(entries_.begin(), entries_.end(), by_pid);
    }
    auto kept = entries_.begin();
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      if (it == kept) continue;
      if (it->first == kept->first) {
        merge(kept->second, std::move(it->second));
      } else if (++kept != it) {
        *kept = std::move(*it);
      }
    }
    if (!entries_.empty()) entries_.erase(std::next(kept), entries_.end());
  }

  /// The value for `pid`, or null.
  [[nodiscard]] const T* Find(std::int64_t pid) const {
    auto it = std::lower_bound(entries_.begin(), entries_.end(), pid,
                               [](const value_type& e, std::int64_t p) { return e.first < p; });
    return it != entries_.end() && it->first == pid ? &it->second : nullptr;
  }
  [[nodiscard]] T* Find(std::int64_t pid) {
    return const_cast<T*>(static_cast<const PidMap&>(*this).Find(pid));
  }
  [[nodiscard]] bool contains(std::int64_t pid) const { return Find(pid) != nullptr; }
  /// Throws std::out_of_range when absent (tests; product code uses Find).
  [[nodiscard]] const T& at(std::int64_t pid) const {
    const T* value = Find(pid);
    if (value == nullptr) throw std::out_of_range("pid not in PidMap");
    return *value;
  }
  [[nodiscard]] std::size_t size() const noexcept { return entries_.size(); }
  [[nodiscard]] bool empty() const noexcept { return entries_.empty(); }
  [[nodiscard]] const_iterator begin() const noexcept { return entries_.begin(); }
  [[nodiscard]] const_iterator end() const noexcept { return entries_.end(); }
  /// Mutable walks may change values, never pids.
  [[nodiscard]] auto begin() noexcept { return entries_.begin(); }
  [[nodiscard]] auto end() noexcept { return entries_.end(); }

 private:
  std::vector<value_type> entries_;
};

// ---- framing ---------------------------------------------------------------------------------

/// One `@@FLEETPS <nonce> BEGIN <name>` ... `END <name> rc=<n>` section.
struct Section {
  std::string_view name;
  std::string_view body;  ///< Raw bytes between the marker lines (may contain CR).
  std::optional<int> rc;  ///< Absent when the END marker never came.
  bool terminated = false;
};

/// Splits framed output. Lines outside sections are counted in stats.lines_outside. A final
/// line without a newline inside an unterminated section is dropped (truncated_last_line).
/// Repeated names keep the first occurrence.
[[nodiscard]] std::vector<Section> SplitSections(std::string_view output, std::string_view nonce,
                                                 ParseStats& stats);

// ---- field parsers ---------------------------------------------------------------------------

/// `[[dd-]hh:]mm:ss[.frac]` (also `,` as the decimal mark, as some AIX locales print) or plain
/// seconds; minutes may exceed 59 (BusyBox). Returns seconds.
[[nodiscard]] std::optional<double> ParseDuration(std::string_view text) noexcept;

/// A KiB count as ps prints it, including BusyBox's scaled forms ("15m", "1.2g"). Returns bytes.
[[nodiscard]] std::optional<std::uint64_t> ParseKibibytes(std::string_view text) noexcept;

// ---- ps --------------------------------------------------------------------------------------

/// Column meanings of a headerless `ps -o` table; kArgs must be last and takes the rest.
enum class PsColumn {
  kPid,
  kPpid,
  kUser,
  kState,
  kEtime,
  kTime,
  kUserTime,
  kSysTime,
  kRssKib,
  kVszKib,
  kThreads,
  kZone,
  kComm,
  kArgs,
  kWchan,  ///< What the process waits on; AIX tells running from sleeping by it (blank: running).
};

/// The headerless `-o` column list the dialect's probe script asks ps for (empty for BusyBox,
/// whose table is header-driven).
[[nodiscard]] std::vector<PsColumn> PsColumnsFor(Dialect dialect);

/// Parses a headerless `ps -o` table with the given columns. `clock` (remote epoch seconds)
/// turns etime into a start time. Lines whose numeric columns do not parse are skipped.
[[nodiscard]] std::vector<ProcessRow> ParsePsTable(Dialect dialect,
                                                   const std::vector<PsColumn>& columns,
                                                   std::string_view text,
                                                   std::optional<std::int64_t> clock,
                                                   ParseStats& stats);

/// Parses ps output whose first non-empty line is a header (BusyBox plain `ps`, `ps -o pid,...`,
/// and POSIX ps in general): PID PPID USER/UID/RUSER STAT/S/ST PID RSS VSZ TIME ELAPSED NLWP
/// COMMAND/CMD/ARGS. COMMAND must be last.
[[nodiscard]] std::vector<ProcessRow> ParsePsWithHeader(Dialect dialect, std::string_view text,
                                                        std::optional<std::int64_t> clock,
                                                        ParseStats& stats);

/// `pid comm` pairs (comm is the rest of the line, spaces allowed); a repeated pid keeps its
/// first line. The values are views into `text`: no copy per process (most are joined into
/// rows that already hold the same text), valid as long as `text` is.
[[nodiscard]] PidMap<std::string_view> ParsePidText(std::string_view text, ParseStats& stats);

/// Solaris `/usr/ucb/ps -agwwwx` (PID TT S TIME COMMAND): pid → full argument list; a repeated
/// pid keeps its first line. Views into `text`, as ParsePidText.
[[nodiscard]] PidMap<std::string_view> ParseUcbPs(std::string_view text, ParseStats& stats);

// ---- Linux /proc batches ---------------------------------------------------------------------

/// The /proc sections of a Linux probe, as raw text (each produced by `grep -sH` or `ls -a`).
struct ProcBatch {
  std::string_view btime;   ///< `grep ^btime /proc/stat`.
  std::string_view stat;    ///< `grep -sH '' /proc/[0-9]*/stat`.
  std::string_view status;  ///< `grep -sH -e ^Uid: ... /proc/[0-9]*/status`.
  std::string_view io;      ///< `grep -sH -e ^read_bytes: ... /proc/[0-9]*/io`.
  std::string_view limits;  ///< `grep -sH '^Max open files' /proc/[0-9]*/limits`.
  std::string_view fd;      ///< `ls -a /proc/self/fd /proc/[0-9]*/fd`.
};

/// Parses the /proc batch into rows by pid (only /proc-derived fields filled: ppid,
/// state, comm, cpu, faults, threads, start time, rss/vsz, swap, ctx switches, io, fds,
/// fd_limit; `user` is the numeric real uid). Also yields btime when present. A stat line that
/// does not parse is counted in stats.processes_unreadable as well as skipped.
[[nodiscard]] PidMap<ProcessRow> ParseProcBatch(const ProcBatch& batch, long clk_tck,
                                                long page_size, std::optional<double>& btime,
                                                ParseStats& stats);

// ---- system-wide limits ----------------------------------------------------------------------

/// node_exporter's node_processes_max_processes and _max_threads, as one host states them.
struct HostLimits {
  std::optional<std::int64_t> max_processes;
  std::optional<std::int64_t> max_threads;
};

/// Linux `grep -sH '' /proc/sys/kernel/pid_max /proc/sys/kernel/threads-max`: pid_max is
/// max_processes, threads-max is max_threads (what node_exporter's processes collector reads).
[[nodiscard]] HostLimits ParseProcSysLimits(std::string_view text, ParseStats& stats);

/// HP-UX `kctune -P name,current nproc nkthread` (kconfig(5)'s parse format: `field<TAB>value`
/// lines, a blank line between tunables): nproc is max_processes, nkthread max_threads.
[[nodiscard]] HostLimits ParseKctuneLimits(std::string_view text, ParseStats& stats);

/// The value of `statistic` (`module:instance:name:statistic`) in Solaris `kstat -p` output
/// (one `statistic<TAB>value` line each); nullopt when absent or not a non-negative integer.
[[nodiscard]] std::optional<std::int64_t> ParseKstatValue(std::string_view text,
                                                          std::string_view statistic);

// ---- descriptors and sockets -----------------------------------------------------------------

/// `lsof -F f` (or any -F set including f): pid → count of numeric descriptors (a pid listed
/// twice adds up). A pid whose block says `NOFD` (descriptors unreadable: another user's
/// process under a non-root lsof) and counts none is left out: unknown, not 0.
[[nodiscard]] PidMap<std::int64_t> ParseLsofFdCounts(std::string_view text, ParseStats& stats);

/// FreeBSD `procstat -fa` (PID COMM FD ...): pid → count of numeric descriptors (one line per
/// descriptor; lines of one pid add up wherever they are).
[[nodiscard]] PidMap<std::int64_t> ParseProcstatFdCounts(std::string_view text, ParseStats& stats);

/// `lsof -F pcPtn -iTCP -sTCP:LISTEN -iUDP`: one socket per n field.
[[nodiscard]] std::vector<ListenSocket> ParseLsofListen(std::string_view text, ParseStats& stats);

/// iproute2 `ss -ltunp` (with or without header and Netid column); pid from `users:((...))`.
[[nodiscard]] std::vector<ListenSocket> ParseSs(std::string_view text, ParseStats& stats);

/// `netstat` listening sockets in the dialect's format: Linux net-tools `-ltunp` (with
/// PID/Program), BSD/AIX/HP-UX `-an` (`*.22`, `tcp4`), Solaris `-an` (per-protocol blocks,
/// UDP "Idle").
[[nodiscard]] std::vector<ListenSocket> ParseNetstat(Dialect dialect, std::string_view text,
                                                     ParseStats& stats);

/// FreeBSD `sockstat -46l` (USER COMMAND PID FD PROTO LOCAL FOREIGN).
[[nodiscard]] std::vector<ListenSocket> ParseSockstat(std::string_view text, ParseStats& stats);

/// Joins `all`, a complete socket list without owners (`netstat -an` lists every user's sockets),
/// with `owned`, a list with owners that may be partial (a non-root lsof sees only the probe
/// user's own sockets). The result is `all` in its order, each socket taking `pid` and
/// `process` from an `owned` socket with the same proto, port and address; the any-addresses
/// "*", "0.0.0.0", "::", "[::]" and "" are one address (proto carries the family). Sockets pair
/// one to one, in list order, so a socket one tool lists once shows once; `owned` sockets left
/// unpaired (a socket shared by several processes, one netstat missed or printed differently)
/// follow in their order. Like the parsers, it drops no entry: n equal sockets in `all` and m in
/// `owned` give max(n, m). O((n + m) log(n + m)).
[[nodiscard]] std::vector<ListenSocket> MergeListenSockets(std::vector<ListenSocket> all,
                                                           std::vector<ListenSocket> owned);

}  // namespace fleetps::probes
