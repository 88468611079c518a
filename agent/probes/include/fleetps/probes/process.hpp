// The uniform process row every dialect is parsed into, and the whole-probe parser.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fleetps/probes/compact_optional.hpp"
#include "fleetps/probes/dialect.hpp"

namespace fleetps::probes {

/// process-exporter's five state buckets (`namedprocess_namegroup_states{state}`).
enum class StateBucket { kRunning, kSleeping, kWaiting, kZombie, kOther };

/// "Running", "Sleeping", "Waiting", "Zombie", "Other".
[[nodiscard]] std::string_view StateBucketName(StateBucket bucket) noexcept;

/// Maps a raw ps/proc state string (first letter decides; "Ss<l", "O", "SW") to its bucket using
/// the dialect's letters: Linux R/S/D/Z exactly like process-exporter, Solaris O = on CPU,
/// BSD I = idle sleep and D/L = waiting, AIX A = active.
[[nodiscard]] StateBucket BucketForState(Dialect dialect, std::string_view state) noexcept;

/// node_exporter's letter for a process state (`node_processes_state{state}`). Linux and BusyBox
/// keep the kernel's letter (R S D Z T t X I W P K). Elsewhere the dialect's bucket decides for
/// the four that mean the same everywhere: running R (Solaris O, AIX A on a CPU), sleeping S
/// (BSD I idle, AIX A waiting), uninterruptible D (BSD L/U, Solaris and HP-UX W) and zombie Z;
/// any other state keeps the platform's own letter (T stopped, AIX/HP-UX I being created,
/// HP-UX X growing). "?" when the tool printed no letter.
[[nodiscard]] char NodeStateLetter(Dialect dialect, std::string_view state,
                                   StateBucket bucket) noexcept;

/// etime-derived start times can jitter by a second or two between probes.
inline constexpr double kStartTimeToleranceSeconds = 2.0;

/// The process-identity rule: two rows with the same pid are the same process when both lack a
/// start time or both start times agree within `tolerance` seconds (a reused pid is another
/// process, whose counters must never be subtracted from or added to the old one's).
[[nodiscard]] inline bool SameStartTime(std::optional<double> a, std::optional<double> b,
                                        double tolerance = kStartTimeToleranceSeconds) noexcept {
  if (a.has_value() != b.has_value()) return false;
  return !a || (*a - *b <= tolerance && *b - *a <= tolerance);
}

/// One process. An absent optional means the dialect (or the probe user's permissions) cannot
/// give the value; it is never replaced by zero. The optional numbers are CompactOptional (8
/// bytes, no flag), because a host's table is one ProcessRow per process.
struct ProcessRow {
  std::int64_t pid = 0;
  std::int64_t ppid = 0;
  std::string user;   ///< Login name, or the numeric uid when the tool printed one.
  std::string state;  ///< Raw state as the tool printed it ("Ss", "O", "R").
  StateBucket state_bucket = StateBucket::kOther;
  /// A kernel process or thread (Linux `[kthreadd]`, BSD `[idle]`): no command line, no exe.
  bool kernel = false;
  /// Start time, Unix seconds: from /proc (boot time + start ticks) or from etime and the
  /// remote clock (then it may jitter by a second between probes).
  CompactOptional<double> start_time_unix;
  CompactOptional<double> cpu_user_seconds;    ///< Cumulative user CPU.
  CompactOptional<double> cpu_system_seconds;  ///< Cumulative system CPU.
  CompactOptional<double> cpu_total_seconds;   ///< User + system (all some dialects give).
  CompactOptional<std::uint64_t> rss_bytes;
  CompactOptional<std::uint64_t> vsz_bytes;
  CompactOptional<std::uint64_t> swap_bytes;  ///< Linux VmSwap.
  CompactOptional<std::int64_t> threads;
  CompactOptional<std::int64_t> fds;       ///< Open descriptors.
  CompactOptional<std::int64_t> fd_limit;  ///< Soft RLIMIT_NOFILE; absent when unlimited.
  CompactOptional<std::uint64_t> read_bytes;
  CompactOptional<std::uint64_t> write_bytes;
  CompactOptional<std::uint64_t> major_faults;
  CompactOptional<std::uint64_t> minor_faults;
  CompactOptional<std::uint64_t> ctx_voluntary;
  CompactOptional<std::uint64_t> ctx_involuntary;
  /// Short command name: the base name of the executable, as the platform truncates it (Linux
  /// 15 characters, HP-UX 14); never a path, so one process has one comm on every dialect.
  std::string comm;
  std::string args;  ///< Space-joined argument list; may be truncated by the platform.
  std::string zone;  ///< Solaris zone, empty elsewhere.

  /// argv[0] (process-exporter's ExeFull): the first word of `args`, so empty for kernel threads.
  /// Derived, not stored: a copy per process was a heap allocation per process per parse.
  [[nodiscard]] std::string_view exe() const noexcept;
};

/// A listening TCP socket or a bound UDP socket.
struct ListenSocket {
  std::string proto;    ///< "tcp", "tcp6", "udp", "udp6".
  std::string address;  ///< Local address as printed, "*" or "0.0.0.0" for any.
  std::uint32_t port = 0;
  std::optional<std::int64_t> pid;  ///< Owning process, when the tool (and privilege) says.
  std::string process;              ///< Owning command name, when given.
};

/// Why a line inside a section did not become a row, a socket or a count (a bounded set: the
/// names are a metric label, `fleetps_probe_lines_skipped_total{reason}`).
enum class SkipReason {
  kShortLine,    ///< Fewer fields than the table has columns.
  kBadNumber,    ///< A numeric field (pid, port, count) did not parse.
  kNoPid,        ///< A process row without a pid.
  kNoHeader,     ///< A table whose header the parser does not know (no PID column).
  kUnknownLine,  ///< A line of a shape the parser does not know.
};
inline constexpr std::size_t kSkipReasonCount = 5;

/// "short_line", "bad_number", "no_pid", "no_header", "unknown_line".
[[nodiscard]] std::string_view SkipReasonName(SkipReason reason) noexcept;

/// Counters describing how clean an output was. Never affects success on its own.
struct ParseStats {
  std::uint64_t lines_seen = 0;                           ///< Lines inside sections.
  std::uint64_t lines_skipped = 0;                        ///< Lines ignored: the sum of `skipped`.
  std::array<std::uint64_t, kSkipReasonCount> skipped{};  ///< By SkipReason.
  std::uint64_t values_split = 0;  ///< Tokens split where two columns ran together.

  /// Counts one line ignored for `reason`.
  void Skip(SkipReason reason) noexcept {
    ++lines_skipped;
    ++skipped[static_cast<std::size_t>(reason)];
  }
  std::uint64_t lines_outside = 0;  ///< Banner/MOTD lines outside any section.
  std::uint64_t sections_seen = 0;
  std::uint64_t sections_failed = 0;        ///< Sections ending with rc != 0.
  std::uint64_t sections_unterminated = 0;  ///< A BEGIN without END (output cut short).
  bool truncated_last_line = false;         ///< The final line had no newline and was dropped.
  std::uint64_t self_excluded = 0;          ///< Probe processes removed from the table.
  /// Processes the table listed but whose row could not be read (a ps row skipped as
  /// short_line, bad_number or no_pid; with /proc as the table, a stat line that did not
  /// parse): process-exporter's procread errors. A process that exited before it was read is
  /// not one (it is simply not listed).
  std::uint64_t processes_unreadable = 0;
  /// Processes read whose other per-process readings the host gives were missing (Linux
  /// /proc/PID/status, io or fd; elsewhere the lsof descriptor count): unreadable for the
  /// probe user, or the process exited mid-read. A reading counts as given when the probe got
  /// it for at least one process, so a platform or kernel without it adds nothing. Once per
  /// process, however many readings it lacks: process-exporter's partial errors.
  std::uint64_t processes_partial = 0;
};

/// Readings of other users' processes that only root may make (`fleetps_probe_partial{what}`).
enum class Reading {
  kFds,           ///< Descriptor counts: /proc/PID/fd, lsof, procstat.
  kIo,            ///< I/O byte counters: /proc/PID/io (Linux, BusyBox).
  kSocketOwners,  ///< The process owning a listening socket: ss/netstat -p, lsof.
};
inline constexpr std::size_t kReadingCount = 3;

/// "fds", "io", "socket_owners".
[[nodiscard]] std::string_view ReadingName(Reading reading) noexcept;

/// One probe's worth of host state.
struct HostSnapshot {
  Dialect dialect = Dialect::kLinuxProcps;
  std::vector<ProcessRow> processes;  ///< Sorted by pid.
  std::vector<ListenSocket> listening;
  std::optional<std::int64_t> remote_clock_unix;
  std::optional<double> boot_time_unix;  ///< Linux btime.
  std::optional<std::int64_t> self_pid;  ///< The probe shell's $$.
  /// System-wide limits, node_exporter's node_processes_max_processes and _max_threads: Linux
  /// /proc/sys/kernel/pid_max and threads-max (read every probe: sysctl changes them at run
  /// time), HP-UX kctune nproc and nkthread, Solaris v_proc (max_nprocs, fixed at boot: from
  /// the fingerprint). Absent where the platform has no such limit or did not say.
  std::optional<std::int64_t> max_processes;
  std::optional<std::int64_t> max_threads;
  ParseStats stats;
  /// By Reading: true when the probe read it as a user other than root (no sudo, or sudo
  /// refused) and some process or socket lacks it. A reading the dialect never makes is false.
  std::array<bool, kReadingCount> not_permitted{};
};

/// Outcome of ParseProcessProbe: `snapshot` is meaningful only when `error` is empty.
struct ProbeParseResult {
  HostSnapshot snapshot;
  std::string error;  ///< Short fixed reason ("missing process table"), never host text.
  [[nodiscard]] bool ok() const noexcept { return error.empty(); }
};

/// Parses the whole output of ProcessProbeScript(dialect, fingerprint, nonce). Lenient per line
/// (malformed lines are skipped and counted), strict per section: a missing, failed or
/// unterminated process table is an error. Uses fingerprint.clk_tck and page_size (defaults
/// 100 and 4096) for /proc units. The probe's own processes ($$, its descendants, and the
/// parent shell that ran `sh -s`) are removed. Pure and thread-compatible.
[[nodiscard]] ProbeParseResult ParseProcessProbe(Dialect dialect, const Fingerprint& fingerprint,
                                                 std::string_view output, std::string_view nonce);

}  // namespace fleetps::probes
