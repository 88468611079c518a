// A collector::Clock that moves only when a test tells it to.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>

#include <boost/asio/awaitable.hpp>
#include <boost/system/error_code.hpp>

#include "fleetps/collector/supervision/clock.hpp"
#include "fleetps/registry/wait_queue.hpp"

namespace fleetps::test_support {

using collector::Duration;
using collector::TimePoint;

/// Time moves only on `Advance`, for deterministic tests of supervision logic: sleepers whose
/// deadline is reached are resumed (posted to their executors, in deadline order). A sleep whose
/// deadline has already passed completes at once. Thread-safe.
class ManualClock final : public collector::Clock {
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

}  // namespace fleetps::test_support
