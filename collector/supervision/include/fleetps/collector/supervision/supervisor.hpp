#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include "fleetps/collector/supervision/backoff.hpp"
#include "fleetps/collector/supervision/clock.hpp"
#include "fleetps/collector/supervision/task_group.hpp"

namespace fleetps::collector {

/// OTP restart types.
enum class RestartType {
  kPermanent,  ///< always restarted, whether it crashed or returned
  kTransient,  ///< restarted only after a crash (an exception escaping the child)
  kTemporary,  ///< never restarted
};

/// What a child is doing now; exported as `fleetps_host_state{state}` style gauges.
enum class ChildState {
  kRunning,      ///< its coroutine is running
  kBackoff,      ///< crashed (or returned, if permanent); waiting for the restart delay
  kQuarantined,  ///< exceeded its restart intensity; waiting for the cool-down
  kStopping,     ///< termination requested, waiting for its coroutine to finish
  kStopped,      ///< finished for good (only seen in observer events and shutdown reports)
};

[[nodiscard]] std::string_view ToString(RestartType type) noexcept;
[[nodiscard]] std::string_view ToString(ChildState state) noexcept;

/// How to run one child. `start` builds a fresh coroutine for every (re)start.
struct ChildSpec {
  std::string id;
  std::function<boost::asio::awaitable<void>()> start;
  RestartType restart = RestartType::kPermanent;
};

/// What a supervisor does when a child restarts more than `max_restarts` times in `period`.
enum class IntensityAction {
  kQuarantine,  ///< park that child for `quarantine_cooldown`, then retry it; siblings unaffected
  kEscalate,    ///< stop that child and report escalation (the top-level supervisor exits)
};

struct SupervisorOptions {
  /// Restart delay: full jitter over `min(cap, base * 2^n)`, n = restarts since the last reset.
  BackoffPolicy backoff{};
  /// Intensity: more than `max_restarts` restarts within `period` trips `on_intensity`.
  std::size_t max_restarts = 5;
  Duration period = std::chrono::seconds(300);
  IntensityAction on_intensity = IntensityAction::kQuarantine;
  Duration quarantine_cooldown = std::chrono::minutes(10);
  /// A run lasting at least this long resets the backoff exponent.
  Duration backoff_reset_after = std::chrono::seconds(60);
  /// Fleet-size limit; 0 means unlimited.
  std::size_t max_children = 0;
};

/// A snapshot of one child.
struct ChildInfo {
  std::string id;
  RestartType restart = RestartType::kPermanent;
  ChildState state = ChildState::kRunning;
  std::uint64_t restarts = 0;     ///< restarts so far (after crashes, exits and cool-downs)
  std::uint64_t crashes = 0;      ///< exceptions that escaped the child
  std::uint64_t quarantines = 0;  ///< times the child was quarantined
  std::string last_crash;         ///< `what()` of the last crash (empty if none)
  std::optional<TimePoint> next_start_at;  ///< when in backoff or quarantine
};

/// A supervision event, for logs and tests. Delivered on the child's strand, outside any lock;
/// observers must be quick and must not block.
struct SupervisorEvent {
  enum class Kind {
    kStarted,           ///< the child's coroutine (re)started
    kExited,            ///< returned normally
    kCrashed,           ///< an exception escaped; `detail` is its message
    kRestartScheduled,  ///< restart after `delay`
    kQuarantined,       ///< intensity exceeded; retry after `delay`
    kEscalated,         ///< intensity exceeded under IntensityAction::kEscalate
    kStopped,           ///< the child is gone for good
  };
  Kind kind;
  std::string id;
  std::string detail;
  Duration delay{};
};
using SupervisorObserver = std::function<void(const SupervisorEvent&)>;

/// Result of `Shutdown`: the children that did not finish before the deadline.
struct ShutdownReport {
  std::vector<std::string> unfinished;
  [[nodiscard]] bool Clean() const noexcept { return unfinished.empty(); }
};

/// Errors of DynamicSupervisor (category "fleetps.supervisor").
enum class SupervisorErrc {
  kAlreadyStarted = 1,  ///< a live child has this id
  kNotFound,            ///< no child has this id
  kShuttingDown,        ///< Shutdown has begun
  kMaxChildren,         ///< `max_children` reached
  kInvalidSpec,         ///< empty id or no start function
};
[[nodiscard]] const boost::system::error_category& SupervisorCategory() noexcept;
[[nodiscard]] inline boost::system::error_code make_error_code(SupervisorErrc e) noexcept {
  return {static_cast<int>(e), SupervisorCategory()};
}

/// An Elixir-style DynamicSupervisor (one_for_one) for coroutine children on Asio.
///
/// Children are started and stopped at runtime by id. Each child runs on its own strand of the
/// supervisor's executor. A crash is an exception escaping the child's coroutine; it is counted
/// and the child restarted after an exponential backoff with full jitter (clock and random source
/// injected). Intensity is per child: more than `max_restarts` restarts within `period`
/// quarantines only that child (or escalates, see IntensityAction); its siblings never notice.
///
/// Cancellation: `TerminateChild` and `Shutdown` cancel the child's coroutine through the
/// cancellation slot bound to its `co_spawn` (terminal cancellation: pending Asio operations
/// complete with `operation_aborted`, and the next `co_await` throws). A child that was asked to
/// stop is never restarted, whatever it returns or throws.
///
/// Thread-safety: every member function may be called from any thread. The supervisor must
/// outlive the coroutines awaiting `TerminateChild`/`Shutdown`; the clock and random source must
/// outlive the supervisor's children (they are used until each child's coroutine ends). Destroying
/// the supervisor requests cancellation of every child without waiting.
///
/// Example:
/// \code
///   DynamicSupervisor hosts(io.get_executor(), {}, clock, random);
///   hosts.StartChild({"web01", [=] { return RunAgent(spec); }, RestartType::kPermanent});
///   co_await hosts.TerminateChild("web01");   // host removed from the config
/// \endcode
class DynamicSupervisor {
 public:
  DynamicSupervisor(boost::asio::any_io_executor executor, SupervisorOptions options, Clock& clock,
                    RandomSource& random, SupervisorObserver observer = {});
  DynamicSupervisor(const DynamicSupervisor&) = delete;
  DynamicSupervisor& operator=(const DynamicSupervisor&) = delete;
  ~DynamicSupervisor();

  /// Starts a child now. Errors: kAlreadyStarted, kShuttingDown, kMaxChildren, kInvalidSpec.
  [[nodiscard]] boost::system::result<void> StartChild(ChildSpec spec);

  /// Cancels the child and waits until its coroutine has finished (no deadline: race it with a
  /// timer if needed). Errors: kNotFound.
  [[nodiscard]] boost::asio::awaitable<boost::system::result<void>> TerminateChild(std::string id);

  /// Refuses new children, cancels all children and waits for them until `deadline` has passed
  /// on the supervisor's clock; reports those that did not finish (they keep their strand).
  [[nodiscard]] boost::asio::awaitable<ShutdownReport> Shutdown(Duration deadline);

  /// Snapshot of the live children, sorted by id.
  [[nodiscard]] std::vector<ChildInfo> Children() const;
  [[nodiscard]] std::optional<ChildInfo> Child(std::string_view id) const;
  [[nodiscard]] std::size_t CountInState(ChildState state) const;

  /// Monotonic counters for the exposition (`fleetps_supervisor_restarts_total`, ...).
  [[nodiscard]] std::uint64_t RestartsTotal() const noexcept;
  [[nodiscard]] std::uint64_t CrashesTotal() const noexcept;
  [[nodiscard]] std::uint64_t QuarantinesTotal() const noexcept;
  /// True once a child exceeded its intensity under IntensityAction::kEscalate.
  [[nodiscard]] bool Escalated() const noexcept;

  class Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

/// Exit code of TopSupervisor::Run when its restart budget is exhausted (EX_SOFTWARE).
inline constexpr int kEscalationExitCode = 70;

struct TopSupervisorOptions {
  /// A small budget (OTP advice: about 3 restarts for the top level) that escalates.
  SupervisorOptions supervisor{.backoff = {},
                               .max_restarts = 3,
                               .period = std::chrono::seconds(60),
                               .on_intensity = IntensityAction::kEscalate,
                               .quarantine_cooldown = {},
                               .backoff_reset_after = std::chrono::seconds(60),
                               .max_children = 0};
  /// How long an orderly shutdown waits for the services.
  Duration shutdown_deadline = std::chrono::seconds(10);
};

/// The root of the supervision tree: supervises the long-lived services (host supervisor, HTTP
/// server, config watcher) with its own small budget. `Run()` completes after an orderly stop
/// (`RequestStop`, SIGINT/SIGTERM) with 0, or, when a service exceeds the budget, stops everything
/// and completes with `kEscalationExitCode`, which `main` returns so that systemd, the outermost
/// supervisor, sees a failure.
///
/// Thread-safe. Usage:
/// \code
///   TopSupervisor top(io.get_executor(), {}, clock, random);
///   top.StartService({"http", [&] { return http.Serve(); }});
///   co_spawn(io, RunWithStopSignals(top, signals),
///            [&](std::exception_ptr, int code) { exit_code = code; });
///   io.run();
/// \endcode
class TopSupervisor {
 public:
  TopSupervisor(boost::asio::any_io_executor executor, TopSupervisorOptions options, Clock& clock,
                RandomSource& random, SupervisorObserver observer = {});
  TopSupervisor(const TopSupervisor&) = delete;
  TopSupervisor& operator=(const TopSupervisor&) = delete;

  /// Starts a service (a permanent child unless `spec.restart` says otherwise).
  [[nodiscard]] boost::system::result<void> StartService(ChildSpec spec);

  /// Waits for a stop request or an escalation, shuts the services down (with the deadline) and
  /// returns the process exit code: 0 after an orderly stop, kEscalationExitCode after an
  /// escalation. Call once.
  [[nodiscard]] boost::asio::awaitable<int> Run();

  /// Asks `Run` to shut down in order. Idempotent; any thread.
  void RequestStop();

  [[nodiscard]] DynamicSupervisor& Services() noexcept { return services_; }
  [[nodiscard]] bool Escalated() const noexcept { return services_.Escalated(); }
  /// The report of the shutdown `Run` performed (empty before).
  [[nodiscard]] ShutdownReport LastShutdown() const;

 private:
  TopSupervisorOptions options_;
  std::shared_ptr<AsyncEvent> stop_;
  DynamicSupervisor services_;
  mutable std::mutex mu_;
  ShutdownReport last_shutdown_;  // guarded by mu_
};

/// Runs `top` until a signal of `stop_signals` arrives (an orderly stop) or an escalation;
/// returns its exit code. Create the set before the io_context runs on several threads: with
/// Boost 1.81, two threads creating an io_context's first signal_set at once can leave the
/// process's signal pipe unwatched, and then no signal is ever delivered.
[[nodiscard]] boost::asio::awaitable<int> RunWithStopSignals(TopSupervisor& top,
                                                             boost::asio::signal_set& stop_signals);

}  // namespace fleetps::collector

template <>
struct boost::system::is_error_code_enum<fleetps::collector::SupervisorErrc> : std::true_type {};
