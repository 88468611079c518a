// Dialects: which platform's tools a host speaks, how to detect it in one round trip, and the
// probe scripts sent to it. Everything here is pure: no I/O, no global state.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace fleetps::probes {

/// The ps/proc flavours fleetps knows (DESIGN.md section 5). Each has its own probe script and
/// column table; `ParseProcessProbe` must be given the dialect whose script produced the output.
enum class Dialect {
  kLinuxProcps,  ///< procps 3.x/4.x `ps` plus batched /proc reads.
  kBusybox,      ///< BusyBox ps (header-driven, `-o` optional) plus batched /proc reads.
  kAix,          ///< AIX `ps -e -o`, `lsof -F` when installed, `netstat -an`.
  kSolaris,      ///< Solaris/illumos, scoped to the current zone, `/usr/ucb/ps` for full args.
  kHpux,         ///< HP-UX `UNIX95=1 ps -e -o`: no resident size.
  kFreebsd,      ///< FreeBSD `ps -ax -o` (split user/system CPU), `procstat`, `sockstat`.
  kDarwin,       ///< macOS `ps -ax -o`, `lsof -F`.
};

/// Every dialect, in declaration order (for tables and parameterised tests).
inline constexpr Dialect kAllDialects[] = {
    Dialect::kLinuxProcps, Dialect::kBusybox, Dialect::kAix,   Dialect::kSolaris,
    Dialect::kHpux,        Dialect::kFreebsd, Dialect::kDarwin};

/// The configuration spelling: "linux-procps", "busybox", "aix", "solaris", "hpux", "freebsd",
/// "darwin".
[[nodiscard]] std::string_view DialectName(Dialect dialect) noexcept;

/// Inverse of DialectName (exact, case-sensitive); nullopt for anything else.
[[nodiscard]] std::optional<Dialect> ParseDialectName(std::string_view name) noexcept;

/// What the fingerprint script learnt about a host. Absent optionals mean the host did not say.
struct Fingerprint {
  std::string os;          ///< `uname -s`: "Linux", "AIX", "SunOS", "HP-UX", "FreeBSD", "Darwin".
  std::string os_release;  ///< `uname -r`.
  std::string arch;        ///< `uname -m`.
  std::string kernel_version;   ///< `uname -v` as printed ("#1 SMP PREEMPT_DYNAMIC ...", AIX "7").
  std::string nodename;         ///< `uname -n`: the host's own name for itself.
  bool proc_readable = false;   ///< /proc/<pid>/stat is a readable text file (Linux-style /proc).
  std::optional<long> clk_tck;  ///< `getconf CLK_TCK`.
  std::optional<long> page_size;  ///< `getconf PAGESIZE`.
  std::optional<long> uid;        ///< Effective uid of the probe user.
  std::string zonename;           ///< Solaris zone, empty elsewhere.
  /// Solaris `kstat -p unix:0:var:v_proc` (max_nprocs, the system-wide process limit, set at
  /// boot); ParseProcessProbe copies it into each snapshot's max_processes. Absent elsewhere.
  std::optional<std::int64_t> max_processes;
  /// "procps-ng 4.0.2", "procps 3.2.8", "busybox", "posix" (ps -o works, not identified) or
  /// "unknown".
  std::string ps_flavour;
  bool ps_has_o = false;  ///< `ps -o pid=` produced a pid.
  bool has_lsof = false;
  bool has_ss = false;
  bool has_netstat = false;
  bool has_sockstat = false;
  bool has_procstat = false;
  bool has_ucb_ps = false;  ///< Solaris /usr/ucb/ps (full argument lists).
};

/// Fingerprint parse outcome: `fingerprint` is meaningful only when `error` is empty.
struct FingerprintResult {
  Fingerprint fingerprint;
  std::string error;  ///< Short reason, e.g. "missing section uname-s".
  [[nodiscard]] bool ok() const noexcept { return error.empty(); }
};

/// The section marker of the fingerprint script. The fingerprint output holds no process
/// arguments, so a fixed marker is enough there (process probes take a random nonce instead).
inline constexpr std::string_view kFingerprintNonce = "fp0fingerprint";

/// A POSIX sh script for stdin of `/bin/sh -s` that prints, in one round trip and in framed
/// sections (`@@FLEETPS <nonce> BEGIN <name>` ... `@@FLEETPS <nonce> END <name> rc=<code>`):
/// uname -s/-r/-m/-v/-p/-n, ps flavour and `-o` support, /proc readability, CLK_TCK, PAGESIZE, uid,
/// zonename, the kstat process limit (where `kstat` exists) and which helper tools exist. Works in
/// dash, bash, ksh, busybox sh and Bourne sh (functions, backquotes, `type`; no `$(...)`, no
/// `local`, no `command -v`).
[[nodiscard]] std::string_view FingerprintScript() noexcept;

/// Parses FingerprintScript() output. Text before the first marker (MOTD, banners) and CRLF line
/// ends are tolerated. Fails only when `uname -s` is missing.
[[nodiscard]] FingerprintResult ParseFingerprint(std::string_view output);

/// Picks the dialect for a fingerprint. Linux with a BusyBox ps → kBusybox, other Linux →
/// kLinuxProcps; AIX, SunOS, HP-UX, Darwin map to their dialect; the BSDs map to kFreebsd.
/// An unknown system with a Linux-style /proc gets kBusybox (its /proc-only path needs no ps
/// options); otherwise kFreebsd's POSIX-keyword ps is the least demanding guess.
[[nodiscard]] Dialect ChooseDialect(const Fingerprint& fingerprint) noexcept;

/// True when `nonce` is 8 to 64 hex digits, the only nonces the probe scripts accept.
[[nodiscard]] bool IsValidNonce(std::string_view nonce) noexcept;

/// How the process probe reads what only root may read: other users' descriptors and I/O
/// counters, and the owners of their sockets (`privilege:` in the inventory).
enum class ProbePrivilege {
  kLoginUser,  ///< Every read as the login user.
  kSudo,       ///< The reads of SudoCommands() through `sudo -n`; as the login user if refused.
};

/// One read the probe runs through `sudo -n` under ProbePrivilege::kSudo. The argument list is
/// fixed (no host, config or user text in it), so a sudoers rule can allow exactly it.
struct SudoCommand {
  std::string_view section;  ///< The probe section it fills: "proc-fd", "lsof-fd"...
  std::string_view program;  ///< Absolute path the sudoers rule names; the probe runs its base
                             ///< name and sudo resolves it (secure_path), matching by inode.
  std::span<const std::string_view> args;  ///< Arguments after the program, verbatim.
  std::string_view reads;                  ///< What it reads, for the sudoers comment.
};

/// Every command the process probe may run through sudo, over all dialects.
[[nodiscard]] std::span<const SudoCommand> SudoCommands() noexcept;

/// The process probe script for `dialect`, for stdin of `/bin/sh -s`. One round trip prints the
/// framed sections `self` ($$, so the probe's own processes can be excluded), `clock` (epoch
/// seconds, with perl/awk fallbacks where `date +%s` is missing), the process table and, per
/// dialect, /proc batches, descriptor counts and listening sockets. `nonce` must be fresh random
/// hex (IsValidNonce) so that no process argument can forge a marker; the result is empty when
/// it is not. Uses the fingerprint for zone scoping, ps `-o` support and tool availability.
/// Under ProbePrivilege::kSudo each read of SudoCommands() the dialect makes first asks
/// `sudo -n -l` whether that exact command is allowed, runs it through `sudo -n` if so, and
/// otherwise runs the login user's read; the section `sudo` names the sections sudo filled.
[[nodiscard]] std::string ProcessProbeScript(Dialect dialect, const Fingerprint& fingerprint,
                                             std::string_view nonce,
                                             ProbePrivilege privilege = ProbePrivilege::kLoginUser);

/// The largest host-side deadline WithWatchdog arms (2^31 - 1 s: fits a 32-bit `sleep` argument).
inline constexpr std::int64_t kMaxWatchdogSeconds = 2'147'483'647;

/// `deadline` in whole seconds for the host: rounded up, at least 1, at most kMaxWatchdogSeconds.
[[nodiscard]] std::int64_t WatchdogSeconds(std::chrono::milliseconds deadline) noexcept;

/// Wraps a probe script (FingerprintScript, ProcessProbeScript, OpenFilesScript) so that nothing
/// it starts on the host outlives `deadline` (DESIGN.md section 3): the host kills the script's
/// own process group (`kill -9 0`) when WatchdogSeconds(deadline) have passed, and the script
/// leaves no process behind when it finishes first. Pure; the deadline is the only thing added
/// and it is a number, so the result is as injection-safe as `script`.
///
/// Contract:
///  - The first line of `script` stays the first line (the nonce assignment `fp_n=...`, where
///    tests/fleetsim looks for it); it must be a plain assignment. The watchdog is armed on the
///    second line, before anything else runs; the rest of `script` follows unchanged, then one
///    line disarms the watchdog and returns the script's own exit status. Standard output,
///    standard error and the framing are those of `script`: the watchdog's processes read and
///    write /dev/null only (they never hold the SSH channel open) and the wrapper contains no
///    `fp_b` and no section marker.
///  - `script` must end by running to its last line (no `exit`), must not use `$!`, `wait`, or
///    the variables `fp_wh`, `fp_wd`, `fp_wr` and the function `fp_wx`.
///  - `kill -9 0` stops the whole process group of the shell running it. Under OpenSSH's sshd
///    that is exactly the probe: sshd calls setsid for each channel, so the group is the login
///    shell's (with csh or tcsh, which run `/bin/sh -s` as a child, the login shell dies too).
///    dropbear (2022.83) calls no setsid for a command without a pty: all channels of one
///    connection share the group of dropbear's per-connection process, so the kill also ends
///    the connection's other channels (and that process itself when the probe user is root).
///    The host's deadline passes after the agent's, which by then has given that connection up
///    (unless the probe ended as too_large, which keeps it).
///  - Portable Bourne/POSIX sh: `&`, `$!`, `wait PID`, `trap ... 15`, `kill`, `sleep`; no
///    `timeout(1)`, no `$(...)`, no `local`.
/// An empty `script` stays empty (the builders return "" for invalid input).
[[nodiscard]] std::string WithWatchdog(std::string_view script, std::chrono::milliseconds deadline);

}  // namespace fleetps::probes
