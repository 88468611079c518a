#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>

namespace fleetps::agent {

/// Exponential backoff with full jitter (AWS "Exponential Backoff and Jitter"): attempt n waits
/// U(0, min(cap, base * 2^n)). Used after connection failures (state `backoff`). Pure: the
/// caller supplies the uniform random number, so tests are deterministic. Not thread-safe.
class Backoff {
 public:
  using Duration = std::chrono::milliseconds;
  Backoff(Duration base, Duration cap) : base_(base), cap_(std::max(base, cap)) {}

  /// The ceiling of the next delay, before jitter: min(cap, base * 2^attempts).
  [[nodiscard]] Duration Ceiling() const noexcept {
    Duration d = base_;
    for (unsigned i = 0; i < attempts_ && d < cap_; ++i) d *= 2;
    return std::min(d, cap_);
  }

  /// The next delay for `uniform` in [0, 1), and counts the attempt.
  [[nodiscard]] Duration Next(double uniform) noexcept {
    const Duration ceiling = Ceiling();
    ++attempts_;
    const double u = std::clamp(uniform, 0.0, 1.0);
    return Duration(static_cast<std::int64_t>(static_cast<double>(ceiling.count()) * u));
  }

  /// Back to the first attempt (after a session stayed healthy long enough).
  void Reset() noexcept { attempts_ = 0; }
  [[nodiscard]] unsigned Attempts() const noexcept { return attempts_; }

 private:
  Duration base_;
  Duration cap_;
  unsigned attempts_ = 0;
};

/// Cool-down of an open circuit (auth and host-key failures): attempt n waits
/// min(cap, first * 2^n) * (1 + jitter * U(0,1)), so the delay never drops below the nominal
/// value (first retry >= `first`, growing to >= `cap`). Pure and not thread-safe, like Backoff.
class CircuitBreaker {
 public:
  using Duration = std::chrono::milliseconds;
  CircuitBreaker(Duration first, Duration cap, double jitter = 0.2)
      : nominal_(first, cap), jitter_(jitter) {}

  [[nodiscard]] Duration Next(double uniform) noexcept {
    const Duration nominal = nominal_.Ceiling();
    (void)nominal_.Next(0.0);
    const double factor = 1.0 + jitter_ * std::clamp(uniform, 0.0, 1.0);
    return Duration(static_cast<std::int64_t>(static_cast<double>(nominal.count()) * factor));
  }
  void Reset() noexcept { nominal_.Reset(); }
  [[nodiscard]] unsigned Attempts() const noexcept { return nominal_.Attempts(); }

 private:
  Backoff nominal_;
  double jitter_;
};

}  // namespace fleetps::agent
