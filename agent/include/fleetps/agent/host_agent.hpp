#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/error_code.hpp>

#include "fleetps/agent/async_semaphore.hpp"
#include "fleetps/agent/backoff.hpp"
#include "fleetps/agent/errors.hpp"
#include "fleetps/agent/known_hosts.hpp"
#include "fleetps/agent/shell_totals.hpp"
#include "fleetps/agent/ssh_session.hpp"
#include "fleetps/config/inventory.hpp"
#include "fleetps/probes/dialect.hpp"
#include "fleetps/probes/open_files.hpp"
#include "fleetps/probes/process.hpp"

namespace fleetps::agent {

/// Lifecycle states of a host (published as `fleetps_host_state{state}`).
enum class HostState {
  kConnecting,      ///< TCP + SSH handshake + auth in progress.
  kFingerprinting,  ///< Connected; running the one-round-trip fingerprint script.
  kReady,           ///< Probes run on schedule.
  kBackoff,         ///< Connection failed or broke; retrying after a jittered delay.
  kCircuitOpen,     ///< Auth or host-key failure; retrying only after a long cool-down.
};

/// "connecting", "fingerprinting", "ready", "backoff", "circuit_open".
[[nodiscard]] std::string_view StateName(HostState state) noexcept;

/// Published on every state change.
struct HostStatus {
  std::string host;
  HostState state = HostState::kConnecting;
  std::uint64_t epoch = 0;                ///< Successful connects so far (0 = never connected).
  boost::system::error_code last_reason;  ///< Last failure (an `Errc`), empty if none yet.
  /// Human detail of `last_reason` (what the server offered, the setting that would match),
  /// "" when there is none. Free text: never a metric label.
  std::string detail;
  /// Weak algorithms the host needs: those its session uses when connected, or the match a
  /// negotiation failure names.
  std::vector<WeakAlgorithm> weak_algorithms;
  std::optional<probes::Dialect> dialect;
  std::optional<probes::Fingerprint> fingerprint;
  ServerInfo server;
  std::chrono::system_clock::time_point since;  ///< When this state was entered.
  std::chrono::milliseconds retry_in{0};        ///< In backoff/circuit_open: the chosen delay.
  /// The channel probes use on this host now (`probe_channel`: auto picks shell until the
  /// host's shell misbehaves).
  ChannelMode channel = ChannelMode::kShell;
  /// Why `probe_channel: auto` uses exec on this host, e.g. "the shell ended before the probe
  /// finished"; "" while it uses the shell or the mode is forced. Free text: never a label.
  std::string channel_fallback;
};

/// Probe templates the agent can run. Only these fixed, allowlisted scripts ever run remotely.
enum class ProbeKind {
  kProcesses,  ///< probes::ProcessProbeScript for the host's dialect.
};
[[nodiscard]] std::string_view ProbeKindName(ProbeKind kind) noexcept;  ///< "processes"

/// Outcome of one probe.
enum class ProbeStatus { kOk, kError, kTimeout, kSkipped, kTooLarge, kParseError };
/// "ok", "error", "timeout", "skipped", "too_large", "parse_error".
[[nodiscard]] std::string_view ProbeStatusName(ProbeStatus status) noexcept;

/// Exactly one per scheduled tick (and one per `RunAdhoc`). Per host, scheduled results carry a
/// gap-free, duplicate-free `seq` starting at 0 for each `Run()`.
struct ProbeResult {
  std::string host;
  ProbeKind kind = ProbeKind::kProcesses;
  std::uint64_t session_epoch = 0;  ///< Epoch of the session the probe ran on (0 = none).
  std::uint64_t seq = 0;            ///< Tick number; ad hoc results have `adhoc` set instead.
  bool adhoc = false;
  std::chrono::system_clock::time_point scheduled_at;
  std::chrono::system_clock::time_point started;
  std::chrono::system_clock::time_point finished;
  ProbeStatus status = ProbeStatus::kError;
  boost::system::error_code reason;  ///< An `Errc` unless status is ok (skipped: empty).
  std::shared_ptr<const probes::HostSnapshot> snapshot;  ///< Set when status is ok.
  std::uint64_t raw_bytes = 0;                           ///< Bytes of output received.
};

/// Output cap of the open-files template (below any sane `output_limit`).
inline constexpr std::uint64_t kOpenFilesOutputLimit = 1u << 20;

/// Outcome of `HostAgent::RunOpenFiles`.
struct OpenFilesOutcome {
  /// `ok` when the template ran (or was not needed: an unsupported dialect) and its output
  /// parsed; otherwise error/timeout/too_large/parse_error with `reason`.
  ProbeStatus status = ProbeStatus::kError;
  boost::system::error_code reason;
  probes::OpenFilesResult result;  ///< Meaningful when status is ok.
  std::uint64_t session_epoch = 0;
  std::uint64_t raw_bytes = 0;
  std::chrono::system_clock::time_point started;
  std::chrono::system_clock::time_point finished;
};

/// Where an agent publishes. Callbacks run on the agent's strand and must not block; the
/// collector binds them to its bus (whose publish never blocks). Empty callbacks are skipped.
struct AgentSink {
  std::function<void(const HostStatus&)> on_status;
  std::function<void(const ProbeResult&)> on_result;
};

/// Timings, all overridable for tests.
struct AgentTimings {
  std::chrono::milliseconds backoff_base{1'000};  ///< Full-jitter backoff after connect failures.
  std::chrono::milliseconds backoff_cap{60'000};
  std::chrono::milliseconds circuit_first{30'000};  ///< Cool-down after auth/host-key failures...
  std::chrono::milliseconds circuit_cap{600'000};   ///< ...doubling up to this.
  std::chrono::milliseconds healthy_reset{60'000};  ///< A session up this long resets backoff.
  /// Least wait after `fd_limit` (the collector out of descriptors), jittered up to twice this:
  /// a quick retry would only take a descriptor another host's reconnect needs.
  std::chrono::milliseconds fd_limit_retry{10'000};
  /// `probe_channel: auto` after a fallback to exec: the shell is tried again on the first
  /// session that starts this long after the fallback (not on every reconnect).
  std::chrono::milliseconds shell_retry{3'600'000};
};

struct AgentOptions {
  AgentTimings timings;
  /// Caps concurrent handshakes across agents (collector's `max_concurrent_handshakes`).
  std::shared_ptr<AsyncSemaphore> handshake_limiter;
  /// Shared known_hosts cache; default: one per agent for `spec.known_hosts`.
  std::shared_ptr<KnownHostsFile> known_hosts;
  /// Uniform [0,1) source for jitter; default: a per-agent seeded engine.
  std::function<double()> uniform;
  /// Asked on the strand right before the script of a probe (scheduled or ad hoc) or of an
  /// open-files run is sent; empty = always allowed. A null answer skips the run: the probe's
  /// result is `skipped` with no reason (not a failure of the host: no state change, no
  /// backoff), an open-files run gives `skipped`. A non-null answer is held until that run has
  /// ended, so the caller can tell which runs are in flight (a cluster member fences itself and
  /// hands hosts over with it; the agent knows nothing of that).
  std::function<std::shared_ptr<void>()> probe_gate;
  /// The first time the session is ready, run a scheduled probe at once instead of waiting for
  /// the host's phase (a cluster member that just received the host; later ticks keep the
  /// phase).
  bool probe_when_ready = false;
};

/// One host's worker: keeps one supervised SSH session, fingerprints the host, runs the process
/// probe on a phase-spread schedule and publishes `HostStatus` and `ProbeResult`.
///
/// Threading: construct it and call every member on `strand` (an Asio strand); all timers,
/// socket waits and libssh calls of this host happen there. Not thread-safe otherwise.
///
/// Failures are values, never exceptions: connection failures go to `backoff` (full jitter),
/// auth and host-key failures to `circuit_open`. A probe that times out costs its channel, not
/// the session (see `SshSession`); one that times out in the middle of a libssh request poisons
/// the session, which is closed and replaced (new epoch) after backoff. At most one probe's
/// processes run on a host: after a timeout, the next run on the host (probe, ad hoc, open
/// files, or the next session's fingerprint) starts only once the host-side watchdog
/// (probes::WithWatchdog) has surely killed the timed-out one, or fails as `timeout` when its
/// own deadline comes first.
///
/// Channel (`spec.probe_channel`): `exec` opens a channel per run; `shell` runs everything on
/// the session's persistent shell; `auto` does too, but the first shell failure of a session's
/// fingerprint (`shell_failed`, or a timeout of that first shell run), or two shell failures in
/// a row later, switch the host to exec, with the reason in `HostStatus::channel_fallback`,
/// until a session starts `AgentTimings::shell_retry` after the switch. An exception escaping
/// `Run()` is a bug.
///
/// Usage (collector):
/// ```
///   auto agent = std::make_shared<HostAgent>(strand, spec, sink, options);
///   co_spawn(strand, [agent] { return agent->Run(); }, bind_cancellation_slot(slot, detached));
/// ```
class HostAgent {
 public:
  HostAgent(boost::asio::any_io_executor strand, config::HostSpec spec, AgentSink sink,
            AgentOptions options = {});
  ~HostAgent();
  HostAgent(const HostAgent&) = delete;
  HostAgent& operator=(const HostAgent&) = delete;

  /// Runs the lifecycle loop and the tick loop until cancelled (per-operation terminal
  /// cancellation of the awaiting coroutine), then closes the session and returns normally.
  [[nodiscard]] boost::asio::awaitable<void> Run();

  /// Runs one fresh probe of `kind` now, over the warm session, with the host's probe deadline.
  /// Does not consume a tick `seq`; may overlap a scheduled probe (within the channel bound).
  /// When the host is not ready the result is `error` with the last failure reason.
  [[nodiscard]] boost::asio::awaitable<ProbeResult> RunAdhoc(ProbeKind kind);

  /// Lists the open files of process `pid` (1..probes::kMaxOpenFilesPid) with the fixed
  /// open-files template (probes::OpenFilesScript), over the warm session, within the host's
  /// probe deadline and kOpenFilesOutputLimit. Publishes nothing. Same channel bound and
  /// poisoning rules as a probe; a host that is not ready gives `error` with the last failure
  /// reason; a pid out of range gives `error`/`internal` without any remote work.
  [[nodiscard]] boost::asio::awaitable<OpenFilesOutcome> RunOpenFiles(std::int64_t pid);

  /// Runs a scheduled probe now (its own tick `seq`), the schedule keeping its phase: at once
  /// when the tick loop is waiting, right after the probe in flight otherwise, and the moment
  /// the session is ready when it is not (connecting, fingerprinting, backoff). Requests before
  /// that probe starts are one. On the strand. (A cluster member calls it when a host it kept
  /// warm becomes its own.)
  void ProbeSoon();

  [[nodiscard]] HostState State() const noexcept { return status_.state; }
  [[nodiscard]] const HostStatus& Status() const noexcept { return status_; }
  [[nodiscard]] const config::HostSpec& Spec() const noexcept { return spec_; }

 private:
  boost::asio::awaitable<void> Lifecycle();
  boost::asio::awaitable<void> Ticker();
  boost::asio::awaitable<void> SkipTicks();
  boost::asio::awaitable<boost::system::error_code> Fingerprint();
  boost::asio::awaitable<boost::system::error_code> Watch();
  boost::asio::awaitable<ProbeResult> Probe(ProbeKind kind);
  boost::asio::awaitable<void> ScheduledProbe(std::uint64_t seq,
                                              std::chrono::steady_clock::time_point at);
  void SetState(HostState state, std::chrono::milliseconds retry_in = {});
  void Publish(const ProbeResult& result);
  [[nodiscard]] std::string Nonce();
  [[nodiscard]] boost::system::error_code DownReason() const;
  /// Runs `script` on the session with the host's channel, after the quiet time a timed-out run
  /// left (within `options.deadline`), and keeps the channel bookkeeping.
  boost::asio::awaitable<boost::system::result<CommandOutput>> RunOnHost(std::string_view script,
                                                                         RunOptions options);
  /// `probe_channel: auto` gives up the shell on this host for `shell_retry` (counted in
  /// ShellTotalsNow(), said in words in HostStatus::channel_fallback).
  void FallBackToExec(ShellFallbackReason reason);
  /// Status of a script run that failed with `ec`; replaces a poisoned session (the lifecycle
  /// loop reconnects) and throws operation_aborted when the run was cancelled.
  ProbeStatus OnRunFailed(const boost::system::error_code& ec);

  boost::asio::any_io_executor strand_;
  config::HostSpec spec_;
  AgentSink sink_;
  AgentOptions options_;
  SshSession session_;
  std::shared_ptr<const Identity> identity_;
  Backoff backoff_;
  CircuitBreaker circuit_;
  HostStatus status_;
  std::optional<probes::Dialect> dialect_;
  probes::Fingerprint fingerprint_;
  boost::system::error_code session_failure_;  // why a probe gave up on the session
  std::uint64_t next_seq_ = 0;
  std::chrono::steady_clock::time_point next_tick_{};
  // The tick loop's wait; ProbeSoon cancels it with probe_soon_ set.
  std::optional<boost::asio::steady_timer> tick_timer_;
  bool probe_soon_ = false;
  bool ticker_waiting_ = false;
  bool probed_when_ready_ = false;
  bool probe_on_ready_ = false;  // ProbeSoon came before the session was ready
  std::mt19937_64 rng_;
  // Channel choice (see the class comment).
  ChannelMode channel_ = ChannelMode::kShell;
  std::chrono::steady_clock::time_point shell_retry_at_{};  // auto: exec until then
  bool shell_proven_ = false;                               // a shell run completed on this session
  int shell_failures_ = 0;                                  // consecutive shell_failed runs
  // A run that timed out may leave processes on the host until its watchdog fires.
  std::chrono::steady_clock::time_point quiet_until_{};
};

}  // namespace fleetps::agent
