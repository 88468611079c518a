#pragma once

#include <chrono>
#include <functional>
#include <mutex>
#include <random>

#include "fleetps/collector/supervision/clock.hpp"

namespace fleetps::collector {

/// Exponential backoff bounds: the n-th retry (n from 0) waits up to `min(cap, base * 2^n)`.
struct BackoffPolicy {
  Duration base = std::chrono::seconds(1);
  Duration cap = std::chrono::seconds(60);
};

/// A source of uniform numbers in [0, 1), injectable for deterministic tests.
/// Implementations must be thread-safe.
class RandomSource {
 public:
  virtual ~RandomSource() = default;
  [[nodiscard]] virtual double Uniform01() = 0;
};

/// `std::mt19937_64` seeded from `std::random_device`, behind a mutex.
class DefaultRandomSource final : public RandomSource {
 public:
  DefaultRandomSource() : engine_(std::random_device{}()) {}
  [[nodiscard]] double Uniform01() override;

 private:
  std::mutex mu_;
  std::mt19937_64 engine_;  // guarded by mu_
};

/// Adapts a function (e.g. a scripted sequence in a test). The function must be thread-safe if
/// the source is shared across threads.
class FunctionRandomSource final : public RandomSource {
 public:
  explicit FunctionRandomSource(std::function<double()> fn) : fn_(std::move(fn)) {}
  [[nodiscard]] double Uniform01() override { return fn_(); }

 private:
  std::function<double()> fn_;
};

/// `min(cap, base * 2^attempt)`, without overflow for any attempt.
[[nodiscard]] Duration BackoffCeiling(const BackoffPolicy& policy, unsigned attempt) noexcept;

/// Full jitter (AWS "Exponential Backoff and Jitter"): `u * BackoffCeiling(policy, attempt)`
/// for `u` in [0, 1), truncated to the clock's resolution. `u` is clamped into [0, 1].
[[nodiscard]] Duration FullJitterDelay(const BackoffPolicy& policy, unsigned attempt,
                                       double u) noexcept;

/// Stateful full-jitter exponential backoff: each `Next()` returns the delay for the next retry
/// and doubles the ceiling up to the cap; `Reset()` after a healthy period starts over.
/// Not thread-safe (one owner, e.g. a supervised child's loop).
class Backoff {
 public:
  Backoff(BackoffPolicy policy, RandomSource& random) : policy_(policy), random_(&random) {}

  [[nodiscard]] Duration Next() { return FullJitterDelay(policy_, attempt_++, random_->Uniform01()); }
  void Reset() noexcept { attempt_ = 0; }
  [[nodiscard]] unsigned Attempt() const noexcept { return attempt_; }

 private:
  BackoffPolicy policy_;
  RandomSource* random_;
  unsigned attempt_ = 0;
};

}  // namespace fleetps::collector
