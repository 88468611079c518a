#pragma once

#include <chrono>

#include <boost/asio/awaitable.hpp>
#include <boost/system/error_code.hpp>

namespace fleetps::collector {

using Duration = std::chrono::steady_clock::duration;
using TimePoint = std::chrono::steady_clock::time_point;

/// Monotonic time and cancellable sleeps, injectable so that supervision logic can be driven by
/// a manual clock in tests (tests/support/manual_clock.hpp). Implementations are thread-safe.
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

}  // namespace fleetps::collector
