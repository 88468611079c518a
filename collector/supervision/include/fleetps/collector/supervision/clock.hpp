#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>

#include <boost/asio/awaitable.hpp>
#include <boost/system/error_code.hpp>

#include "fleetps/registry/wait_queue.hpp"

namespace fleetps::collector {

using Duration = std::chrono::steady_clock::duration;
using TimePoint = std::chrono::steady_clock::time_point;

/// Monotonic time and cancellable sleeps, injectable so that supervision logic can be driven by a
/// ManualClock in tests. Implementations are thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;

  [[nodiscard]] virtual TimePoint Now() const = 0;

  /// Completes at `deadline` (success) or, with `boost::asio::error::operation_aborted`, when the
  /// awaiting coroutine is cancelled. Runs on the awaiting coroutine's executor.
  [[nodiscard]] virtual boost::asio::awaitable<boost::system::error_code> SleepUntil(
      TimePoint deadline) = 0;

  /// `SleepUntil(Now() + d)`.
  [[nodiscard]] boost::asio::awaitable<boost::system::error_code> SleepFor(Duration d) {
    return SleepUntil(Now() + d);
  }
};

/// The real clock: `std::chrono::steady_clock` and `boost::asio::steady_timer`.
class SteadyClock final : public Clock {
 public:
  [[nodiscard]] TimePoint Now() const override { return std::chrono::steady_clock::now(); }
  [[nodiscard]] boost::asio::awaitable<boost::system::error_code> SleepUntil(
      TimePoint deadline) override;
};

/// A clock that moves only when told to (`Advance`), for deterministic tests: sleepers whose
/// deadline is reached are resumed (posted to their executors, in deadline order). A sleep whose
/// deadline has already passed completes at once. Thread-safe.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(TimePoint start = TimePoint{} + std::chrono::hours(1))
      : now_(start), sleepers_(std::make_shared<registry::WaitQueue<void>>()) {}

  [[nodiscard]] TimePoint Now() const override;
  [[nodiscard]] boost::asio::awaitable<boost::system::error_code> SleepUntil(
      TimePoint deadline) override;

  /// Moves time forward by `d` and wakes every sleeper whose deadline is now reached.
  void Advance(Duration d);

  /// Number of pending sleeps.
  [[nodiscard]] std::size_t Sleepers() const { return sleepers_->Size(); }

  /// Earliest pending deadline.
  [[nodiscard]] std::optional<TimePoint> NextDeadline() const;

 private:
  mutable std::mutex mu_;
  TimePoint now_;  // guarded by mu_
  // Its lock nests inside mu_.
  std::shared_ptr<registry::WaitQueue<void>> sleepers_;
};

}  // namespace fleetps::collector
