#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include "fleetps/collector/fleet_state.hpp"

namespace fleetps::collector {

/// Collector-wide values sampled at scrape time.
struct SelfMetrics {
  std::uint64_t supervisor_restarts = 0;
  std::uint64_t bus_dropped = 0;
  bool config_last_reload_successful = true;
  std::set<std::string, std::less<>> quarantined_hosts;  ///< Shown as host_state "quarantined".
};

/// Builds the Prometheus families of DESIGN.md section 7 from the current FleetState at scrape
/// time, so a removed host leaves no series. Names come only from kMetricCatalog; no command
/// output or error text ever becomes a label; label values are capped at 256 bytes.
/// Thread-safe (reads FleetState snapshots).
class FleetCollectable final : public prometheus::Collectable {
 public:
  /// `only_host` set: that host's series without the `host` label and without collector
  /// self-metrics (the /probe multi-target view).
  FleetCollectable(const FleetState& state, std::function<SelfMetrics()> self,
                   std::optional<std::string> only_host = std::nullopt);

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const FleetState& state_;
  std::function<SelfMetrics()> self_;
  std::optional<std::string> only_host_;
};

/// Text exposition format 0.0.4 of everything (/metrics).
[[nodiscard]] std::string RenderMetrics(const FleetState& state, const SelfMetrics& self);

/// One host's series without the host label (/probe?target=); nullopt for an unknown host.
[[nodiscard]] std::optional<std::string> RenderHostMetrics(const FleetState& state,
                                                           std::string_view host,
                                                           const SelfMetrics& self);

/// Capped label value: at most 256 bytes, cut at a UTF-8 boundary.
[[nodiscard]] std::string BoundedLabelValue(std::string_view value);

}  // namespace fleetps::collector
