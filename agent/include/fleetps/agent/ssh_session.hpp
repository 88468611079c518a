#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include "fleetps/agent/algorithms.hpp"
#include "fleetps/agent/async_semaphore.hpp"
#include "fleetps/agent/command.hpp"
#include "fleetps/agent/errors.hpp"
#include "fleetps/agent/known_hosts.hpp"
#include "fleetps/config/inventory.hpp"

namespace fleetps::agent {

/// What the server negotiated; exported as `fleetps_ssh_session_info`.
struct ServerInfo {
  std::string banner;               ///< Full banner, e.g. "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u7".
  std::string server_version;       ///< Software part of the banner, e.g. "OpenSSH_9.2p1".
  std::string kex;                  ///< e.g. "curve25519-sha256".
  std::string cipher;               ///< Client-to-server cipher.
  std::string mac;                  ///< Client-to-server MAC ("" for AEAD ciphers).
  std::string hostkey_type;         ///< e.g. "ssh-ed25519".
  std::string hostkey_fingerprint;  ///< "SHA256:...".
  std::string pubkey_type;          ///< Type of the user key that logged in, e.g. "ssh-rsa".
  bool pubkey_sha1 = false;  ///< The RSA user key logged in with an ssh-rsa (SHA-1) signature.
  /// Weak algorithms this session needs (negotiated kex, cipher, MAC; DSA or short RSA host
  /// key; SHA-1 RSA signatures where the server's banner says it knows no rsa-sha2).
  std::vector<WeakAlgorithm> weak;
};

/// Why the last `Connect` failed, beyond its reason code. Never contains secrets.
struct FailureDetail {
  std::string text;            ///< e.g. "no common key exchange: the server offers [...]; set ...".
  bool deterministic = false;  ///< Retrying cannot help (no common algorithm): open the circuit.
  /// Weak algorithms the host would need to connect (the match a negotiation failure names).
  std::vector<WeakAlgorithm> needs;
};

/// A loaded client private key (plus whether the ssh-agent may be used). Loading reads the key
/// file once, decrypting it with the passphrase from `passphrase_file` (first line) or the
/// environment variable `passphrase_env`; the passphrase is wiped from memory afterwards and
/// never logged. Immutable after loading; share it between reconnects of one host. Whether
/// libssh allows one key to sign on several threads at once is undocumented, so do not share an
/// Identity between hosts that run on different threads.
class Identity {
 public:
  /// Errors: `Errc::kInternal` when the key or passphrase file is unreadable or the key does not
  /// decrypt (the message never contains the passphrase).
  [[nodiscard]] static boost::system::result<std::shared_ptr<const Identity>> Load(
      const config::HostSpec& spec);
  ~Identity();
  Identity(const Identity&) = delete;
  Identity& operator=(const Identity&) = delete;

  struct Impl;
  [[nodiscard]] const Impl& impl() const noexcept { return *impl_; }

 private:
  explicit Identity(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// Reads what a server offers without logging in: connects, exchanges banners and parses the
/// server's SSH_MSG_KEXINIT, then closes (a separate connection from any session; the server
/// logs it as a client that disconnected before key exchange). Errors: dns, connect_refused,
/// connect_timeout, banner_timeout, timeout, disconnected (not an SSH-2 server, or a malformed
/// packet); `operation_aborted` when cancelled.
[[nodiscard]] boost::asio::awaitable<boost::system::result<ServerOffer>> ScanServerOffer(
    const config::HostSpec& spec, std::chrono::steady_clock::time_point deadline);

/// Optional collaborators for `SshSession::Connect`.
struct ConnectOptions {
  /// Shared known_hosts cache; when null, `spec.known_hosts` is opened for this connect.
  std::shared_ptr<KnownHostsFile> known_hosts;
  /// Preloaded key; when null, `Identity::Load(spec)` runs on every connect.
  std::shared_ptr<const Identity> identity;
};

/// The persistent shell of a connection (`ChannelMode::kShell`), for tests and metrics.
struct ShellStats {
  bool open = false;              ///< A shell channel is open now.
  std::uint64_t opened = 0;       ///< Shell channels opened on this connection so far.
  std::uint64_t stray_bytes = 0;  ///< Bytes found on the shell between runs, dropped.
};

/// One SSH connection to one host, driven by Asio: Asio resolves and connects the socket, libssh
/// runs non-blocking on it, and every wait is an `async_wait` on that socket. Reusable: after
/// `Close()` (or a failed `Connect`) the next `Connect` starts a fresh connection and bumps
/// `Epoch()`.
///
/// Threading: every member must be called from the executor given to the constructor, which must
/// be a strand (or a single-threaded io_context): libssh forbids concurrent use of a session. Up
/// to `max_channels_per_host` channels may be open at once on that executor (the persistent
/// shell, while open, holds one of them); more runs wait for a channel slot (within their
/// deadline).
///
/// Deadlines and poisoning: every operation has a deadline. A timeout costs the probe, not the
/// session: a deadline that passes while a run sends its script or reads its output closes that
/// run's channel (for the shell: the shell; the next shell run opens a new one) and returns
/// `timeout`, the session staying usable (whether the connection itself is dead is for
/// `WatchIdle`'s keepalive to tell). A deadline that passes in the middle of a libssh request
/// (key exchange, auth, channel open, exec request) or any cancellation leaves libssh in an
/// unknown state, so the session becomes *poisoned*: later calls fail with `Errc::kDisconnected`
/// until it is closed and reconnected. `too_large`, `channel_failed` and `shell_failed` close the
/// channel, never the session. A `too_large` run first sends EOF and reads on, dropping the rest,
/// to the server's EOF (at most 1 MiB more, within its deadline) before it closes the channel:
/// closing mid-stream can make libssh send a window adjust after its close, and dropbear ends the
/// whole connection on that. The remote processes of a run whose channel was closed may live
/// on until the host-side watchdog (probes::WithWatchdog) kills them.
///
/// Security: host keys are checked before any authentication request is sent; `~/.ssh/config`,
/// `~/.ssh/known_hosts` and the global known_hosts are never read; no pty, env, X11 or agent
/// forwarding is ever requested.
///
/// Example:
/// ```
///   SshSession s(strand);
///   if (auto ec = co_await s.Connect(spec, now + spec.connect_timeout)) { /* ReasonName(ec) */ }
///   auto out = co_await s.RunScript("uname -a\n", {.deadline = now + spec.probe_timeout});
/// ```
class SshSession {
 public:
  explicit SshSession(boost::asio::any_io_executor executor);
  ~SshSession();  ///< Closes the connection (see `Close`).
  SshSession(const SshSession&) = delete;
  SshSession& operator=(const SshSession&) = delete;

  /// Resolves, connects, exchanges keys, verifies the host key per `spec.host_key_policy` and
  /// `spec.known_hosts`, and authenticates with `spec.identity_file` (then the ssh-agent when
  /// `spec.use_ssh_agent`). Closes any previous connection first. Returns an empty code on
  /// success. Errors (`Errc`): dns, connect_refused, connect_timeout, banner_timeout, kex_failed,
  /// hostkey_unknown, hostkey_mismatch, auth_denied, timeout, disconnected, internal,
  /// fd_limit (no descriptor for the connection), known_hosts_write (accept-new could not record
  /// the key: `LastFailure()` names the file and the error); and `operation_aborted` when
  /// cancelled. On any error the session is closed. A session holds one descriptor, its socket.
  [[nodiscard]] boost::asio::awaitable<boost::system::error_code> Connect(
      const config::HostSpec& spec, std::chrono::steady_clock::time_point deadline,
      ConnectOptions options = {});

  /// Runs `script` under `options.interpreter` and returns its stdout, stderr and exit status. A
  /// non-zero exit is not an error (see `CommandOutput`).
  ///
  /// `ChannelMode::kExec`: opens a channel, execs the interpreter, writes `script` to its stdin,
  /// closes stdin and reads stdout and stderr to EOF, then waits for the exit status or signal.
  ///
  /// `ChannelMode::kShell`: uses the connection's one persistent interpreter channel, opened on
  /// the first shell run and kept open between runs (its stdin is never closed). Each run writes
  /// these lines, with a fresh random 32-hex-digit token T:
  /// ```
  ///   (
  ///   <script, ending with a newline>
  ///   ) </dev/null
  ///   fp_s=$?; echo; echo "@@FLEETPS <T> EXIT rc=$fp_s"; echo >&2; echo "@@FLEETPS <T> EXIT" >&2
  /// ```
  /// The run is complete when stdout and stderr each carry their trailer; the trailers (with the
  /// newline `echo` puts before them) are stripped, so `out` and `err` are byte-exact, and
  /// `exit_status` is the rc (`exit_signal` stays empty). A trailer with another token is output
  /// like any other. Bytes the shell printed between runs, or after a run's trailers, are dropped
  /// (`Shell()` counts them). One run at a time uses the shell: a run that finds it busy takes an
  /// exec channel when a channel slot is free, else waits for the shell within its deadline. A
  /// shell that ended between runs is reopened silently; one that ends during a run (EOF, close,
  /// exit) gives `shell_failed`, and the next shell run opens a new one. An exec run that finds no
  /// free slot while the shell idles on the last one closes the shell.
  ///
  /// Errors: channel_failed, shell_failed, timeout, too_large, disconnected, internal;
  /// `operation_aborted` when cancelled.
  [[nodiscard]] boost::asio::awaitable<boost::system::result<CommandOutput>> RunScript(
      std::string_view script, RunOptions options);

  /// Watches the session until `until`: returns an empty code at `until`, `Errc::kDisconnected`
  /// as soon as the server closes the connection, or `Errc::kTimeout` when the server has sent
  /// nothing for `keepalive` x 3 (then `LastFailure()` says so). With a non-zero `keepalive` it
  /// sends `keepalive@openssh.com` with want-reply every `keepalive`, so a live server always
  /// answers; probes running meanwhile count as answers too. Call it in a loop while the
  /// session is up; the silence clock runs across calls.
  [[nodiscard]] boost::asio::awaitable<boost::system::error_code> WatchIdle(
      std::chrono::steady_clock::time_point until, std::chrono::milliseconds keepalive);

  /// Detail of the last failed `Connect` or `WatchIdle` (empty text when there is none).
  [[nodiscard]] const FailureDetail& LastFailure() const noexcept { return failure_; }

  /// Drops the connection: sends SSH_MSG_DISCONNECT when possible, wakes every in-flight
  /// operation (they fail with `disconnected`) and frees libssh state once they have returned.
  /// Idempotent, never throws.
  void Close() noexcept;

  /// True between a successful `Connect` and `Close` or poisoning.
  [[nodiscard]] bool IsUsable() const noexcept;

  /// The current connection's shell (all zero when not connected).
  [[nodiscard]] ShellStats Shell() const noexcept;

  /// Negotiated parameters of the current (or last) connection.
  [[nodiscard]] const ServerInfo& Info() const noexcept { return info_; }

  /// Number of successful connects so far; identifies the current connection.
  [[nodiscard]] std::uint64_t Epoch() const noexcept { return epoch_; }

 private:
  class Core;
  boost::asio::any_io_executor executor_;
  std::shared_ptr<Core> core_;
  std::unique_ptr<AsyncSemaphore> channels_;
  ServerInfo info_;
  FailureDetail failure_;
  std::uint64_t epoch_ = 0;
  friend boost::asio::awaitable<boost::system::result<ScannedKey>> KeyScan(
      const config::HostSpec&, std::chrono::steady_clock::time_point, FailureDetail*);
};

}  // namespace fleetps::agent
