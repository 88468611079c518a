#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

namespace fleetps::collector {

/// Cumulative bucket counts of a Histogram at one moment, as the text format wants them.
struct HistogramSnapshot {
  std::vector<double> upper_bounds;       ///< Finite bounds, ascending; `+Inf` is implied.
  std::vector<std::uint64_t> cumulative;  ///< One per bound, then the +Inf bucket (== count).
  double sum = 0;
  [[nodiscard]] std::uint64_t Count() const noexcept {
    return cumulative.empty() ? 0 : cumulative.back();
  }
};

/// A fixed-bucket histogram for the collector's own metrics. Observe is lock-free and safe from
/// any thread; Snapshot is not atomic across buckets (a concurrent Observe may show in one
/// bucket and not yet in `sum`), which the text format tolerates.
class Histogram {
 public:
  /// `upper_bounds` ascending and finite.
  explicit Histogram(std::vector<double> upper_bounds);

  void Observe(double value) noexcept;
  [[nodiscard]] HistogramSnapshot Snapshot() const;

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;  // per bucket, +Inf last
  std::atomic<double> sum_{0};
};

/// Buckets of fleetps_event_loop_lag_seconds: 100 µs to 1 s.
[[nodiscard]] std::vector<double> LoopLagBuckets();
/// Buckets of fleetps_probe_schedule_delay_seconds: 1 ms to 10 s.
[[nodiscard]] std::vector<double> ScheduleDelayBuckets();

}  // namespace fleetps::collector
