// The series walks as prometheus-cpp MetricFamily objects (FleetCollectable).

#include <array>
#include <limits>
#include <optional>
#include <string>
#include <utility>

#include "fleetps/collector/exposition/exposition.hpp"
#include "fleetps/collector/fleet/metric_catalog.hpp"
#include "series_walk.hpp"

namespace fleetps::collector {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;

// Collects the series of any number of walks into one MetricFamily per catalogue entry.
class MetricFamilySink final : public SeriesSink {
 public:
  /// The `host` label the following series carry first; nullopt for none.
  void SetHost(std::optional<std::string_view> host) {
    host_ = host ? std::optional<std::string>(BoundedLabelValue(*host)) : std::nullopt;
  }

  void Sample(std::size_t family, std::initializer_list<Label> labels, double value) override {
    ClientMetric metric;
    metric.label.reserve(labels.size() + (host_ ? 1 : 0));
    if (host_) metric.label.push_back({"host", *host_});
    for (const Label& label : labels) {
      metric.label.push_back(
          {std::string(label.name), BoundedLabelValue(label.value, label_value_bytes)});
    }
    MetricFamily& target = Family(family);
    if (target.type == prometheus::MetricType::Counter) {
      metric.counter.value = value;
    } else {
      metric.gauge.value = value;
    }
    target.metric.push_back(std::move(metric));
  }

  void Histogram(std::size_t family, const HistogramSnapshot& h,
                 std::initializer_list<Label> labels) override {
    ClientMetric metric;
    for (const Label& label : labels) {
      metric.label.push_back(
          {std::string(label.name), BoundedLabelValue(label.value, label_value_bytes)});
    }
    for (std::size_t i = 0; i < h.cumulative.size(); ++i) {
      metric.histogram.bucket.push_back(
          {h.cumulative[i], i < h.upper_bounds.size() ? h.upper_bounds[i]
                                                      : std::numeric_limits<double>::infinity()});
    }
    metric.histogram.sample_count = h.Count();
    metric.histogram.sample_sum = h.sum;
    Family(family).metric.push_back(std::move(metric));
  }

  /// The families that received a series, in catalogue order.
  std::vector<MetricFamily> Take() && {
    std::vector<MetricFamily> out;
    for (auto& family : families_) {
      if (family) out.push_back(std::move(*family));
    }
    return out;
  }

 private:
  MetricFamily& Family(std::size_t index) {
    std::optional<MetricFamily>& family = families_[index];
    if (family) return *family;
    const MetricDescriptor& d = kMetricCatalog[index];
    family.emplace();
    family->name = std::string(d.name);
    family->help = std::string(d.help);
    family->type = d.type == MetricType::kCounter     ? prometheus::MetricType::Counter
                   : d.type == MetricType::kHistogram ? prometheus::MetricType::Histogram
                                                      : prometheus::MetricType::Gauge;
    return *family;
  }

  std::optional<std::string> host_;
  std::array<std::optional<MetricFamily>, kMetricCatalog.size()> families_;
};

}  // namespace

FleetCollectable::FleetCollectable(const FleetState& state, std::function<SelfMetrics()> self,
                                   std::optional<std::string> only_host)
    : state_(state), self_(std::move(self)), only_host_(std::move(only_host)) {}

std::vector<MetricFamily> FleetCollectable::Collect() const {
  const SelfMetrics self = self_ ? self_() : SelfMetrics{};
  MetricFamilySink sink;
  if (only_host_) {
    if (auto view = state_.Host(*only_host_)) {
      WalkHostSeries(sink, *view, self.quarantined_hosts.contains(*only_host_));
    }
    return std::move(sink).Take();
  }
  const auto hosts = state_.Hosts();
  for (const auto& view : hosts) {
    sink.SetHost(view->spec.name);
    WalkHostSeries(sink, *view, self.quarantined_hosts.contains(view->spec.name));
  }
  sink.SetHost(std::nullopt);
  WalkCollectorSeries(sink, self, state_, hosts);
  return std::move(sink).Take();
}

}  // namespace fleetps::collector
