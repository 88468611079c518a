// Restart delays of supervised children: the agent's backoff arithmetic (the one
// implementation, fleetps/agent/backoff.hpp) driven by an injectable source of randomness.
#pragma once

#include <chrono>
#include <functional>
#include <mutex>
#include <random>

#include "fleetps/agent/backoff.hpp"
#include "fleetps/collector/supervision/clock.hpp"

namespace fleetps::collector {

/// Exponential backoff bounds, millisecond resolution: the n-th retry (n from 0) waits up to
/// `min(cap, base * 2^n)`.
using agent::BackoffCeiling;
using agent::BackoffPolicy;
using agent::FullJitterDelay;

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

/// Stateful full-jitter exponential backoff drawing from `random`: each `Next()` returns the
/// delay for the next retry and doubles the ceiling up to the cap; `Reset()` after a healthy
/// period starts over. Not thread-safe (one owner, e.g. a supervised child's loop); `random`
/// must outlive it.
class Backoff {
 public:
  Backoff(BackoffPolicy policy, RandomSource& random) : delays_(policy), random_(&random) {}

  [[nodiscard]] Duration Next() { return delays_.Next(random_->Uniform01()); }
  void Reset() noexcept { delays_.Reset(); }
  [[nodiscard]] unsigned Attempt() const noexcept { return delays_.Attempts(); }

 private:
  agent::Backoff delays_;
  RandomSource* random_;
};

}  // namespace fleetps::collector
