// Fault modes a simulated host can be put in, and their text form ("drip", "delay:500", ...).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace fleetps::fleetsim {

/// What a host does wrong. Connection-level faults (kRefuse ... kRejectUserKey) act on new
/// connections and drop the host's open sessions when set; command-level faults act on each
/// command answered from then on.
enum class FaultKind : std::uint8_t {
  kNone,
  kRefuse,           ///< No listener: connect gets RST (ECONNREFUSED).
  kNoBanner,         ///< TCP accepted, nothing ever written.
  kKexStall,         ///< SSH banner written, then silence (client KEXINIT never answered).
  kChangeHostKey,    ///< Serves the alternate host key: strict clients see a mismatch.
  kRejectUserKey,    ///< Every public key is refused (publickey auth fails).
  kStallOutput,      ///< Half of each answer is written, then the channel stalls forever.
  kDrip,             ///< Each answer is written one byte per second.
  kEndless,          ///< Each answer is a process table that never ends.
  kGarbage,          ///< Each answer is random binary bytes (no section markers), rc 0.
  kDisconnectAfter,  ///< The session is disconnected after `arg` commands.
  kDelay,            ///< Each answer waits `arg` ms first.
  kRandomDelay,      ///< Each answer waits a uniform 0..`arg` ms first.
  kShellEof,         ///< A shell that reads ahead: framed runs are answered only after stdin EOF.
  kShellExit,        ///< A shell that answers its first framed run without trailer, then exits.
};

struct Fault {
  FaultKind kind = FaultKind::kNone;
  std::uint32_t arg = 0;  ///< N for kDisconnectAfter, milliseconds for the delays.

  /// True for faults that change how connections are accepted or authenticated.
  [[nodiscard]] bool IsConnectionLevel() const noexcept {
    return kind == FaultKind::kRefuse || kind == FaultKind::kNoBanner ||
           kind == FaultKind::kKexStall || kind == FaultKind::kChangeHostKey ||
           kind == FaultKind::kRejectUserKey;
  }
  bool operator==(const Fault&) const = default;
};

/// Parses "none", "refuse", "no_banner", "kex_stall", "stall_output", "drip", "endless",
/// "garbage", "disconnect_after:N", "change_host_key", "reject_user_key", "delay:MS",
/// "random_delay:MS", "shell:eof", "shell:exit". Surrounding whitespace is ignored. nullopt when
/// malformed.
[[nodiscard]] std::optional<Fault> ParseFault(std::string_view text);

/// The text form ParseFault accepts, e.g. "delay:250".
[[nodiscard]] std::string FormatFault(const Fault& fault);

}  // namespace fleetps::fleetsim
