#pragma once

#include <chrono>
#include <cstdint>
#include <string_view>

namespace fleetps::agent {

/// A host's phase within the probe interval: FNV-1a of its name modulo the interval, so ticks of
/// a fleet spread evenly instead of firing together, and a host keeps its phase across restarts.
[[nodiscard]] inline std::chrono::milliseconds TickPhase(std::string_view host,
                                                         std::chrono::milliseconds interval) {
  if (interval.count() <= 0) return std::chrono::milliseconds(0);
  std::uint64_t h = 1469598103934665603ull;
  for (const char c : host) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return std::chrono::milliseconds(h % static_cast<std::uint64_t>(interval.count()));
}

/// The tick sequence of one host: times t = phase + k * interval (on the clock's epoch), from
/// the first one at or after `start`. Each `Next()` returns the following tick and its sequence
/// number, 0, 1, 2, ... without gaps or repeats, whether or not the caller was late. Pure and
/// clock-agnostic (templated on the time point), so tests drive it with fake times.
template <class TimePoint>
class TickSchedule {
 public:
  using Duration = typename TimePoint::duration;

  TickSchedule(TimePoint start, std::chrono::milliseconds interval, std::chrono::milliseconds phase)
      : interval_(std::chrono::duration_cast<Duration>(interval)) {
    if (interval_ <= Duration::zero())
      interval_ = std::chrono::duration_cast<Duration>(std::chrono::seconds(1));
    const Duration offset = std::chrono::duration_cast<Duration>(phase) % interval_;
    const Duration since_epoch = start.time_since_epoch();
    Duration base = since_epoch - (since_epoch % interval_) + offset;
    if (base < since_epoch) base += interval_;
    next_ = TimePoint(base);
  }

  struct Tick {
    std::uint64_t seq;
    TimePoint at;
  };

  /// The next tick (consumes it).
  [[nodiscard]] Tick Next() noexcept {
    Tick t{seq_++, next_};
    next_ += interval_;
    return t;
  }
  /// When the next tick is due, without consuming it.
  [[nodiscard]] TimePoint Peek() const noexcept { return next_; }

 private:
  Duration interval_;
  TimePoint next_;
  std::uint64_t seq_ = 0;
};

}  // namespace fleetps::agent
