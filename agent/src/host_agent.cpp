#include "fleetps/agent/host_agent.hpp"

#include <algorithm>
#include <cstdint>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/multiple_exceptions.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include "fleetps/agent/schedule.hpp"
#include "fleetps/probes/process.hpp"
#include "random_token.hpp"
#include "shell_counting.hpp"

// GCC 12 reports a false -Wmismatched-new-delete on coroutine frames (GCC PR 104578).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace fleetps::agent {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;
using SysClock = std::chrono::system_clock;

namespace {

SysClock::time_point ToSystem(Clock::time_point t) {
  return SysClock::now() + std::chrono::duration_cast<SysClock::duration>(t - Clock::now());
}

// Returns operation_aborted when cancelled, without throwing: SkipTicks is cancelled at the end
// of every probe, and an exception there cost the unwinder on the hot path.
asio::awaitable<error_code> SleepUntil(Clock::time_point t) {
  asio::steady_timer timer(co_await asio::this_coro::executor, t);
  auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  co_return ec;
}

[[noreturn]] void ThrowCancelled() {
  throw boost::system::system_error(asio::error::operation_aborted);
}

}  // namespace

std::string_view StateName(HostState state) noexcept {
  switch (state) {
    case HostState::kConnecting:
      return "connecting";
    case HostState::kFingerprinting:
      return "fingerprinting";
    case HostState::kReady:
      return "ready";
    case HostState::kBackoff:
      return "backoff";
    case HostState::kCircuitOpen:
      return "circuit_open";
  }
  return "connecting";
}

std::string_view ProbeKindName(ProbeKind) noexcept { return "processes"; }

std::string_view ProbeStatusName(ProbeStatus status) noexcept {
  switch (status) {
    case ProbeStatus::kOk:
      return "ok";
    case ProbeStatus::kError:
      return "error";
    case ProbeStatus::kTimeout:
      return "timeout";
    case ProbeStatus::kSkipped:
      return "skipped";
    case ProbeStatus::kTooLarge:
      return "too_large";
    case ProbeStatus::kParseError:
      return "parse_error";
  }
  return "error";
}

HostAgent::HostAgent(asio::any_io_executor strand, config::HostSpec spec, AgentSink sink,
                     AgentOptions options)
    : strand_(strand),
      spec_(std::move(spec)),
      sink_(std::move(sink)),
      options_(std::move(options)),
      session_(strand),
      backoff_(options_.timings.backoff_base, options_.timings.backoff_cap),
      circuit_(options_.timings.circuit_first, options_.timings.circuit_cap),
      rng_(std::random_device{}()) {
  status_.host = spec_.name;
  if (spec_.probe_channel == config::ProbeChannel::kExec) channel_ = ChannelMode::kExec;
  status_.channel = channel_;
  if (!options_.known_hosts && !spec_.known_hosts.empty()) {
    options_.known_hosts = std::make_shared<KnownHostsFile>(spec_.known_hosts);
  }
  if (!options_.uniform) {
    options_.uniform = [this] { return std::uniform_real_distribution<double>(0.0, 1.0)(rng_); };
  }
}

HostAgent::~HostAgent() = default;

void HostAgent::SetState(HostState state, std::chrono::milliseconds retry_in) {
  status_.state = state;
  status_.epoch = session_.Epoch();
  status_.since = SysClock::now();
  status_.retry_in = retry_in;
  status_.dialect = dialect_;
  status_.channel = channel_;
  if (state == HostState::kReady) {
    status_.fingerprint = fingerprint_;
    status_.server = session_.Info();
    status_.weak_algorithms = status_.server.weak;
    status_.detail.clear();
  }
  if (sink_.on_status) sink_.on_status(status_);
}

void HostAgent::Publish(const ProbeResult& result) {
  if (sink_.on_result) sink_.on_result(result);
}

// Not the jitter engine: a remote process must not predict markers.
std::string HostAgent::Nonce() { return detail::RandomHexToken(); }

void HostAgent::FallBackToExec(ShellFallbackReason reason) {
  detail::CountShellFallback(reason);
  channel_ = ChannelMode::kExec;
  shell_retry_at_ = Clock::now() + options_.timings.shell_retry;
  shell_failures_ = 0;
  status_.channel = channel_;
  switch (reason) {
    case ShellFallbackReason::kFirstRunFailed:
      status_.channel_fallback = "the shell ended before the fingerprint finished";
      break;
    case ShellFallbackReason::kFirstRunTimeout:
      status_.channel_fallback = "the shell sent no end marker within probe_timeout";
      break;
    case ShellFallbackReason::kFailedTwice:
      status_.channel_fallback = "the shell ended during 2 probes in a row";
      break;
  }
  if (sink_.on_status) sink_.on_status(status_);
}

asio::awaitable<boost::system::result<CommandOutput>> HostAgent::RunOnHost(std::string_view script,
                                                                           RunOptions options) {
  if (Clock::now() < quiet_until_) {
    // A timed-out run's processes may still be on the host: never run beside them.
    if (quiet_until_ >= options.deadline) co_return make_error_code(Errc::kTimeout);
    if (co_await SleepUntil(quiet_until_)) ThrowCancelled();
  }
  options.channel = channel_;
  auto out = co_await session_.RunScript(script, options);
  if (!out && out.error() == Errc::kTimeout) {
    // The host kills a timed-out script at its own deadline (whole seconds, armed a little
    // after ours started); the same margin as the reconnect delay in Lifecycle.
    const auto host_deadline =
        std::chrono::milliseconds(probes::WatchdogSeconds(spec_.probe_timeout) * 1000);
    quiet_until_ = std::max(quiet_until_, Clock::now() + (host_deadline - spec_.probe_timeout) +
                                              std::chrono::seconds(1));
  }
  if (options.channel == ChannelMode::kShell) {
    if (out) {
      shell_proven_ = true;
      shell_failures_ = 0;
    } else if (out.error() == Errc::kShellFailed &&
               spec_.probe_channel == config::ProbeChannel::kAuto && shell_proven_ &&
               ++shell_failures_ >= 2) {
      FallBackToExec(ShellFallbackReason::kFailedTwice);
    }
  }
  co_return out;
}

error_code HostAgent::DownReason() const {
  return status_.last_reason ? status_.last_reason : make_error_code(Errc::kDisconnected);
}

asio::awaitable<void> HostAgent::Run() {
  next_seq_ = 0;
  std::exception_ptr failure;
  try {
    co_await (Lifecycle() && Ticker());
  } catch (const asio::multiple_exceptions& e) {
    failure = e.first_exception();  // both loops were cancelled
  } catch (...) {
    failure = std::current_exception();
  }
  session_.Close();
  if (!failure) co_return;
  try {
    std::rethrow_exception(failure);
  } catch (const boost::system::system_error& e) {
    if (e.code() != asio::error::operation_aborted) throw;
  }
}

asio::awaitable<void> HostAgent::Lifecycle() {
  if (!identity_) {
    if (auto loaded = Identity::Load(spec_)) identity_ = *loaded;
  }
  for (;;) {
    dialect_.reset();
    session_failure_ = {};
    shell_proven_ = false;
    shell_failures_ = 0;
    switch (spec_.probe_channel) {
      case config::ProbeChannel::kExec:
        channel_ = ChannelMode::kExec;
        break;
      case config::ProbeChannel::kShell:
        channel_ = ChannelMode::kShell;
        break;
      case config::ProbeChannel::kAuto:
        if (Clock::now() >= shell_retry_at_) {
          channel_ = ChannelMode::kShell;
          status_.channel_fallback.clear();
        }
        break;
    }
    SetState(HostState::kConnecting);
    error_code ec;
    if (!identity_) {
      ec = make_error_code(Errc::kInternal);  // unreadable key: retried, but with backoff
      if (auto loaded = Identity::Load(spec_)) {
        identity_ = *loaded;
        ec = {};
      }
    }
    if (!ec) {
      AsyncSemaphore::Permit permit;
      if (options_.handshake_limiter) {
        ec = co_await options_.handshake_limiter->Acquire(permit, Clock::time_point::max());
        if (ec == asio::error::operation_aborted) ThrowCancelled();
      }
      ConnectOptions connect_options;
      connect_options.known_hosts = options_.known_hosts;
      connect_options.identity = identity_;
      ec = co_await session_.Connect(spec_, Clock::now() + spec_.connect_timeout,
                                     std::move(connect_options));
    }
    Clock::time_point ready_at{};
    if (!ec) {
      SetState(HostState::kFingerprinting);
      ec = co_await Fingerprint();
    }
    if (!ec) {
      circuit_.Reset();
      ready_at = Clock::now();
      SetState(HostState::kReady);
      const bool first_ready =
          options_.probe_when_ready && !std::exchange(probed_when_ready_, true);
      if (first_ready || std::exchange(probe_on_ready_, false)) ProbeSoon();
      ec = co_await Watch();
    }
    const FailureDetail failure = session_.LastFailure();
    session_.Close();
    if (ec == asio::error::operation_aborted) ThrowCancelled();
    status_.last_reason = ec;
    status_.detail = failure.text;
    if (!failure.needs.empty()) status_.weak_algorithms = failure.needs;
    if (ready_at != Clock::time_point{} &&
        Clock::now() - ready_at >= options_.timings.healthy_reset) {
      backoff_.Reset();
    }
    // A negotiation failure is as deterministic as a refused key: retrying soon cannot help.
    const bool circuit = OpensCircuit(ec) || failure.deterministic;
    auto delay = circuit ? circuit_.Next(options_.uniform()) : backoff_.Next(options_.uniform());
    if (ec == Errc::kFdLimit) {
      const auto floor = options_.timings.fd_limit_retry;
      delay =
          std::max(delay, floor + std::chrono::milliseconds(static_cast<std::int64_t>(
                                      options_.uniform() * static_cast<double>(floor.count()))));
    }
    if (ec == Errc::kTimeout) {
      // The host kills a timed-out script at its own deadline (whole seconds, armed a little
      // after ours started): reconnect only after that, so that the next fingerprint never
      // runs beside the dying probe (at most one probe's processes on a host).
      const auto host_deadline =
          std::chrono::milliseconds(probes::WatchdogSeconds(spec_.probe_timeout) * 1000);
      delay = std::max(delay, std::chrono::duration_cast<std::chrono::milliseconds>(
                                  host_deadline - spec_.probe_timeout + std::chrono::seconds(1)));
    }
    SetState(circuit ? HostState::kCircuitOpen : HostState::kBackoff, delay);
    if (co_await SleepUntil(Clock::now() + delay)) ThrowCancelled();
  }
}

asio::awaitable<error_code> HostAgent::Fingerprint() {
  RunOptions options;
  options.output_limit = spec_.output_limit;
  options.deadline = Clock::now() + spec_.probe_timeout;
  const std::string script = probes::WithWatchdog(probes::FingerprintScript(), spec_.probe_timeout);
  auto out = co_await RunOnHost(script, options);
  if (!out && spec_.probe_channel == config::ProbeChannel::kAuto &&
      channel_ == ChannelMode::kShell && !shell_proven_ && session_.IsUsable() &&
      (out.error() == Errc::kShellFailed || out.error() == Errc::kTimeout)) {
    // The first shell run of the session failed: this host's shell misbehaves. Use exec.
    FallBackToExec(out.error() == Errc::kShellFailed ? ShellFallbackReason::kFirstRunFailed
                                                     : ShellFallbackReason::kFirstRunTimeout);
    options.deadline = std::max(Clock::now(), quiet_until_) + spec_.probe_timeout;
    out = co_await RunOnHost(script, options);
  }
  if (!out) co_return out.error();
  auto parsed = probes::ParseFingerprint(out->out);
  if (!parsed.ok()) co_return make_error_code(Errc::kParseError);
  fingerprint_ = std::move(parsed.fingerprint);
  std::optional<probes::Dialect> forced;
  if (!spec_.dialect.empty()) forced = probes::ParseDialectName(spec_.dialect);
  dialect_ = forced ? *forced : probes::ChooseDialect(fingerprint_);
  co_return error_code{};
}

asio::awaitable<error_code> HostAgent::Watch() {
  for (;;) {
    if (session_failure_) co_return session_failure_;
    // keepalive 0 turns keepalives off: only watch for the server closing the connection.
    auto ec = co_await session_.WatchIdle(Clock::now() + std::chrono::hours(1), spec_.keepalive);
    if (session_failure_) co_return session_failure_;
    if (ec) co_return ec;
  }
}

asio::awaitable<ProbeResult> HostAgent::Probe(ProbeKind kind) {
  ProbeResult r;
  r.host = spec_.name;
  r.kind = kind;
  r.started = SysClock::now();
  r.session_epoch = session_.Epoch();
  if (status_.state != HostState::kReady || !session_.IsUsable() || !dialect_) {
    r.status = ProbeStatus::kError;
    r.reason = DownReason();
    r.session_epoch = 0;
    r.finished = r.started;
    co_return r;
  }
  const std::shared_ptr<void> permit = options_.probe_gate ? options_.probe_gate() : nullptr;
  if (options_.probe_gate && !permit) {
    r.status = ProbeStatus::kSkipped;
    r.finished = r.started;
    co_return r;
  }
  const std::string nonce = Nonce();
  const probes::ProbePrivilege privilege = spec_.privilege == config::Privilege::kSudo
                                               ? probes::ProbePrivilege::kSudo
                                               : probes::ProbePrivilege::kLoginUser;
  const std::string script = probes::WithWatchdog(
      probes::ProcessProbeScript(*dialect_, fingerprint_, nonce, privilege), spec_.probe_timeout);
  RunOptions options;
  options.output_limit = spec_.output_limit;
  options.deadline = Clock::now() + spec_.probe_timeout;
  auto out = co_await RunOnHost(script, options);
  r.finished = SysClock::now();
  if (!out) {
    r.reason = out.error();
    r.status = OnRunFailed(out.error());
    co_return r;
  }
  r.raw_bytes = out->bytes;
  auto parsed = probes::ParseProcessProbe(*dialect_, fingerprint_, out->out, nonce);
  if (!parsed.ok()) {
    r.status =
        out->Succeeded() || !out->out.empty() ? ProbeStatus::kParseError : ProbeStatus::kError;
    r.reason = make_error_code(r.status == ProbeStatus::kParseError ? Errc::kParseError
                                                                    : Errc::kCommandFailed);
    co_return r;
  }
  r.status = ProbeStatus::kOk;
  r.snapshot = std::make_shared<const probes::HostSnapshot>(std::move(parsed.snapshot));
  co_return r;
}

ProbeStatus HostAgent::OnRunFailed(const error_code& ec) {
  if (ec == asio::error::operation_aborted) ThrowCancelled();
  if (!session_.IsUsable() && !session_failure_) {
    // Poisoned (timeout, cancellation, broken connection): replace it, never reuse it.
    session_failure_ = ec;
    session_.Close();
  }
  return ec == Errc::kTimeout    ? ProbeStatus::kTimeout
         : ec == Errc::kTooLarge ? ProbeStatus::kTooLarge
                                 : ProbeStatus::kError;
}

asio::awaitable<ProbeResult> HostAgent::RunAdhoc(ProbeKind kind) {
  ProbeResult r = co_await Probe(kind);
  r.adhoc = true;
  r.scheduled_at = r.started;
  co_return r;
}

asio::awaitable<void> HostAgent::Ticker() {
  TickSchedule<Clock::time_point> schedule(Clock::now(), spec_.interval,
                                           TickPhase(spec_.name, spec_.interval));
  if (!tick_timer_) tick_timer_.emplace(strand_);
  for (;;) {
    // ProbeSoon: an extra tick now, the schedule untouched. Asked while a probe ran, it is
    // served as soon as that probe has ended. Anything else that ends the wait cancels the loop.
    bool soon = std::exchange(probe_soon_, false);
    if (!soon) {
      tick_timer_->expires_at(schedule.Peek());
      ticker_waiting_ = true;
      auto [ec] = co_await tick_timer_->async_wait(asio::as_tuple(asio::use_awaitable));
      ticker_waiting_ = false;
      soon = std::exchange(probe_soon_, false);  // a request that lost the race with the tick
      if (ec && !soon) ThrowCancelled();
    }
    const auto at = soon ? Clock::now() : schedule.Next().at;
    const std::uint64_t seq = next_seq_++;
    next_tick_ = schedule.Peek();
    // Ticks that fall due while this probe runs are published as `skipped` by SkipTicks; the
    // `||` cancels that loop the moment the probe is done, so each tick gets exactly one result.
    co_await (ScheduledProbe(seq, at) || SkipTicks());
    // SkipTicks advanced next_tick_ past the ticks it consumed; keep the schedule in step.
    while (schedule.Peek() < next_tick_) (void)schedule.Next();
  }
}

void HostAgent::ProbeSoon() {
  // Not ready yet (a claim can come before a slow warm-up has connected): the probe comes the
  // moment the session is ready, not at the host's next tick after that.
  if (status_.state != HostState::kReady) {
    probe_on_ready_ = true;
    return;
  }
  if (std::exchange(probe_soon_, true)) return;
  if (ticker_waiting_ && tick_timer_) tick_timer_->cancel();
}

asio::awaitable<void> HostAgent::SkipTicks() {
  for (;;) {
    // The `||` in Ticker cancels this wait when the probe ends: end quietly, no exception.
    if (co_await SleepUntil(next_tick_)) co_return;
    ProbeResult r;
    r.host = spec_.name;
    r.seq = next_seq_++;
    r.session_epoch = session_.Epoch();
    r.scheduled_at = ToSystem(next_tick_);
    r.started = r.finished = SysClock::now();
    r.status = ProbeStatus::kSkipped;
    next_tick_ += spec_.interval;
    Publish(r);
  }
}

asio::awaitable<void> HostAgent::ScheduledProbe(std::uint64_t seq, Clock::time_point at) {
  ProbeResult r = co_await Probe(ProbeKind::kProcesses);
  r.seq = seq;
  r.scheduled_at = ToSystem(at);
  Publish(r);
}

}  // namespace fleetps::agent
