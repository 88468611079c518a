// The one implementation of the backoff arithmetic: the agent's reconnect loop and the
// collector's supervisor (collector/supervision, which includes this header and nothing else
// from the agent) both use it. Header-only, std only, pure: callers supply the uniform random
// number, so tests are deterministic.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>

namespace fleetps::agent {

/// Exponential backoff bounds: the n-th retry (n from 0) waits up to `min(cap, base * 2^n)`.
struct BackoffPolicy {
  std::chrono::milliseconds base{1'000};
  std::chrono::milliseconds cap{60'000};
};

/// `min(cap, base * 2^attempt)`, without overflow for any attempt; zero when base or cap is not
/// positive.
[[nodiscard]] constexpr std::chrono::milliseconds BackoffCeiling(const BackoffPolicy& policy,
                                                                 unsigned attempt) noexcept {
  if (policy.base <= std::chrono::milliseconds::zero() ||
      policy.cap <= std::chrono::milliseconds::zero()) {
    return std::chrono::milliseconds::zero();
  }
  std::chrono::milliseconds ceiling = policy.base;
  for (unsigned i = 0; i < attempt && ceiling < policy.cap; ++i) {
    ceiling = ceiling > policy.cap / 2 ? policy.cap : ceiling * 2;  // no overflow past the cap
  }
  return std::min(ceiling, policy.cap);
}

/// Full jitter (AWS "Exponential Backoff and Jitter"): `u * BackoffCeiling(policy, attempt)`,
/// truncated to milliseconds, for `u` in [0, 1); `u` is clamped into [0, 1].
[[nodiscard]] constexpr std::chrono::milliseconds FullJitterDelay(const BackoffPolicy& policy,
                                                                  unsigned attempt,
                                                                  double u) noexcept {
  const double clamped = std::clamp(u, 0.0, 1.0);
  const auto ceiling = BackoffCeiling(policy, attempt);
  return std::chrono::milliseconds(
      static_cast<std::int64_t>(clamped * static_cast<double>(ceiling.count())));
}

/// Exponential backoff with full jitter, counting attempts: attempt n waits FullJitterDelay(n).
/// Used after connection failures (state `backoff`) and by the collector's supervisor between
/// restarts. Not thread-safe (one owner, e.g. a reconnect loop).
class Backoff {
 public:
  using Duration = std::chrono::milliseconds;
  explicit Backoff(BackoffPolicy policy) : policy_(policy) {}
  Backoff(Duration base, Duration cap) : Backoff(BackoffPolicy{.base = base, .cap = cap}) {}

  /// The ceiling of the next delay, before jitter.
  [[nodiscard]] Duration Ceiling() const noexcept { return BackoffCeiling(policy_, attempts_); }

  /// The next delay for `uniform` in [0, 1), and counts the attempt.
  [[nodiscard]] Duration Next(double uniform) noexcept {
    return FullJitterDelay(policy_, attempts_++, uniform);
  }

  /// Back to the first attempt (after a session stayed healthy long enough).
  void Reset() noexcept { attempts_ = 0; }
  [[nodiscard]] unsigned Attempts() const noexcept { return attempts_; }

 private:
  BackoffPolicy policy_;
  unsigned attempts_ = 0;
};

/// Cool-down of an open circuit (auth and host-key failures): attempt n waits
/// min(cap, first * 2^n) * (1 + jitter * U(0,1)), so the delay never drops below the nominal
/// value (first retry >= `first`, growing to >= `cap`; a cap below `first` counts as `first`).
/// Pure and not thread-safe, like Backoff.
class CircuitBreaker {
 public:
  using Duration = std::chrono::milliseconds;
  CircuitBreaker(Duration first, Duration cap, double jitter = 0.2)
      : nominal_{.base = first, .cap = std::max(first, cap)}, jitter_(jitter) {}

  [[nodiscard]] Duration Next(double uniform) noexcept {
    const Duration nominal = BackoffCeiling(nominal_, attempts_++);
    const double factor = 1.0 + jitter_ * std::clamp(uniform, 0.0, 1.0);
    return Duration(static_cast<std::int64_t>(static_cast<double>(nominal.count()) * factor));
  }
  void Reset() noexcept { attempts_ = 0; }
  [[nodiscard]] unsigned Attempts() const noexcept { return attempts_; }

 private:
  BackoffPolicy nominal_;
  double jitter_;
  unsigned attempts_ = 0;
};

}  // namespace fleetps::agent
