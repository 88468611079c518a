// Process-wide counts of the persistent probe shells (`probe_channel`, issue 18), for the
// collector's fleet-wide metrics: how often `auto` gave up a host's shell and why, how many
// shells were opened, and the bytes found on shells outside any run. Fixed sets only (no host),
// so the series count does not grow with the fleet. Thread-safe.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace fleetps::agent {

/// Why `probe_channel: auto` switched a host to exec channels (HostStatus::channel_fallback
/// says the same in words).
enum class ShellFallbackReason : std::uint8_t {
  kFirstRunFailed,   ///< The session's first shell run (the fingerprint) ended with shell_failed.
  kFirstRunTimeout,  ///< The session's first shell run sent no end marker within probe_timeout.
  kFailedTwice,      ///< Two shell runs in a row ended with shell_failed later in a session.
};
inline constexpr std::size_t kShellFallbackReasonCount = 3;

/// "first_run_failed", "first_run_timeout", "failed_twice": the `reason` label values.
[[nodiscard]] std::string_view ShellFallbackReasonName(ShellFallbackReason reason) noexcept;

/// Counts since the process started, over every session and agent.
struct ShellTotals {
  std::uint64_t opened_first = 0;  ///< Shells opened as the first of their SSH session.
  /// Shells opened on a session that had one before: it ended (exit, a failed run) or was
  /// closed to free a channel slot for an exec run.
  std::uint64_t opened_replacement = 0;
  /// Bytes on a shell that belonged to no run (after a run's end marker, or waiting before the
  /// next run starts), dropped. SshSession::Shell().stray_bytes per connection.
  std::uint64_t stray_bytes = 0;
  /// Fallbacks to exec, indexed by ShellFallbackReason.
  std::array<std::uint64_t, kShellFallbackReasonCount> fallbacks{};
};

/// A snapshot of the counts (each read on its own: they may be a moment apart).
[[nodiscard]] ShellTotals ShellTotalsNow() noexcept;

}  // namespace fleetps::agent
