#pragma once

#include <string_view>
#include <system_error>
#include <type_traits>

#include <boost/system/error_code.hpp>

namespace fleetps::agent {

/// The bounded set of reasons a connection or a probe fails. These names are what the collector
/// puts in `fleetps_probe_failure{reason}` and `fleetps_session_disconnects_total{reason}`, so the
/// set is closed: adding a value is a contract change (DESIGN.md section 7).
///
/// Cancellation is not a reason: a cancelled operation reports
/// `boost::asio::error::operation_aborted`, which callers never publish.
enum class Errc {
  kConnectRefused = 1,  ///< TCP connect failed (refused, unreachable, reset during connect).
  kConnectTimeout,      ///< TCP connect did not finish before the deadline.
  kDns,                 ///< The address did not resolve (or resolution timed out).
  kBannerTimeout,       ///< TCP up, but no SSH banner before the deadline.
  kKexFailed,        ///< Key exchange failed: no common algorithm, bad signature, protocol error.
  kHostkeyUnknown,   ///< The server's host key is not in known_hosts (strict policy).
  kHostkeyMismatch,  ///< known_hosts holds a different key for this host (or the key is revoked).
  kAuthDenied,       ///< Every configured credential was refused.
  kChannelFailed,    ///< The server refused to open a channel or to exec the interpreter.
  kTimeout,          ///< An operation after the banner (KEX, auth, command) missed its deadline.
  kTooLarge,         ///< Command output exceeded `output_limit`.
  kParseError,       ///< The probe output could not be parsed.
  kDisconnected,     ///< The session broke (EOF, reset, protocol error) or was closed.
  kCommandFailed,  ///< The remote script failed (non-zero exit or a signal) without usable output.
  kInternal,       ///< A local failure: bad key file, out of memory, unexpected libssh state.
  kFdLimit,        ///< The collector ran out of file descriptors (EMFILE/ENFILE) while connecting.
  kKnownHostsWrite,  ///< accept-new could not record a new host key (read-only or full file
                     ///< system, permissions): retrying soon cannot help.
  kShellFailed,  ///< The persistent shell ended (EOF, close, exit) or printed an end marker with
                 ///< another run's token before the run's own: the host's shell misbehaves.
};

/// The wire name of `e`, e.g. "hostkey_mismatch". Never empty; unknown values give "internal".
[[nodiscard]] std::string_view ReasonName(Errc e) noexcept;

/// The reason name for any error code: fleetps::agent codes map through `ReasonName(Errc)`,
/// an empty code (no failure) is "", everything else is "internal".
[[nodiscard]] std::string_view ReasonName(const boost::system::error_code& ec) noexcept;

/// Every reason, in enum order, so metrics can emit the whole bounded set.
[[nodiscard]] const Errc (&AllReasons() noexcept)[18];

/// The reason for a local call that failed with `errno_value`: `Errc::kFdLimit` for EMFILE and
/// ENFILE (the collector is out of descriptors, not the host at fault), else `Errc::kInternal`.
[[nodiscard]] Errc LocalFailure(int errno_value) noexcept;

/// True when `ec` is EMFILE or ENFILE in the system or generic category (as Asio reports a
/// socket() that found no free descriptor).
[[nodiscard]] bool IsOutOfDescriptors(const boost::system::error_code& ec) noexcept;

/// The category of `Errc`; its name is "fleetps.agent". Thread-safe (a function-local static).
[[nodiscard]] const boost::system::error_category& AgentCategory() noexcept;

/// ADL hook so `Errc` converts implicitly to `boost::system::error_code`.
[[nodiscard]] inline boost::system::error_code make_error_code(Errc e) noexcept {
  return {static_cast<int>(e), AgentCategory()};
}

/// True for failures that open the circuit (long cool-down) instead of ordinary backoff: retrying
/// them quickly cannot help and would trip the server's MaxAuthTries or PerSourcePenalties (or,
/// for `kKnownHostsWrite`, run a full handshake only to fail at the same write again).
[[nodiscard]] bool OpensCircuit(const boost::system::error_code& ec) noexcept;

}  // namespace fleetps::agent

template <>
struct boost::system::is_error_code_enum<fleetps::agent::Errc> : std::true_type {};
