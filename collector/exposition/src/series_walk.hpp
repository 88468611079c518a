// The one place that knows which series fleetps exposes and with which labels and values. The
// walks below hand every series to a SeriesSink; the sinks only format: text_exposition.cpp
// writes the text format (rendered at scrape time) and fleet_collectable.cpp
// builds prometheus-cpp families. A new series is written here once and both outputs have it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fleetps/collector/exposition/exposition.hpp"
#include "fleetps/collector/fleet/fleet_state.hpp"
#include "fleetps/collector/fleet/metric_catalog.hpp"
#include "fleetps/collector/telemetry/histogram.hpp"

namespace fleetps::collector {

/// One label of a series. The value is raw: sinks bound it (BoundedLabelValue) and escape it.
struct Label {
  std::string_view name;
  std::string_view value;
};

/// Receives series. `family` is an index into kMetricCatalog; a walk hands over the series of
/// one family after another in catalogue order (never back to an earlier family), so a sink can
/// tell where a family starts. Label values and names stay valid only during the call.
class SeriesSink {
 public:
  virtual void Sample(std::size_t family, std::initializer_list<Label> labels, double value) = 0;
  /// A histogram family's `_bucket{le}`, `_sum` and `_count` series, with `labels` (collector
  /// families only: no host label).
  virtual void Histogram(std::size_t family, const HistogramSnapshot& histogram,
                         std::initializer_list<Label> labels) = 0;

  /// Bytes a label value may take (BoundedLabelValue); the walks set it: the view's bound for a
  /// host's series, the default for the collector's.
  std::size_t label_value_bytes = kDefaultLabelValueBytes;

 protected:
  SeriesSink() = default;
  SeriesSink(const SeriesSink&) = default;
  SeriesSink& operator=(const SeriesSink&) = default;
  ~SeriesSink() = default;
};

/// Every per-host series of `view` (families before kFirstCollectorFamily), without a host
/// label: the sink adds it where it belongs. Groups are the view's (its GroupLifecycle's), shown
/// while the host is up; `quarantined` shows as the host state.
void WalkHostSeries(SeriesSink& sink, const HostView& view, bool quarantined);

/// What a host's series need from its process rows: one pass over them.
struct RowSummary {
  /// node_exporter's letters; R, S, D and Z always, so `state="D"` rules see a 0, not a gap.
  std::map<char, std::uint64_t> states{{'D', 0}, {'R', 0}, {'S', 0}, {'Z', 0}};
  double threads = 0;
  /// The gauges an empty group shows as 0: those the host's platform gives for its processes.
  probes::GroupStats empty;
};
[[nodiscard]] RowSummary SummarizeRows(const probes::HostSnapshot& snapshot);

/// The part of WalkHostSeries from family `first_family` up to (not including) `end_family`.
/// A scrape walks each host one family at a time (family after family across the fleet), and
/// keeps `rows` per host: the first family that needs the host's RowSummary fills it, the
/// others reuse it. Empty `rows` to start with.
void WalkHostFamilies(SeriesSink& sink, const HostView& view, bool quarantined,
                      std::size_t first_family, std::size_t end_family,
                      std::optional<RowSummary>& rows);

/// Every collector series (families from kFirstCollectorFamily on) for a scrape of `hosts`,
/// the fleet as of the scrape: `self`, `state`'s schedule delay and the internal error counts.
void WalkCollectorSeries(SeriesSink& sink, const SelfMetrics& self, const FleetState& state,
                         const std::vector<std::shared_ptr<const HostView>>& hosts);

}  // namespace fleetps::collector
