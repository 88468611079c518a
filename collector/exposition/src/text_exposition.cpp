// The text exposition format (0.0.4) of the series walks: fleetps' own /metrics and /probe.
//
// Why not prometheus-cpp here: its Collect builds a ClientMetric with a vector of string label
// pairs per series and its TextSerializer formats through an ostream, ~2 µs per series
// (0.47 s for a 74 k-series scrape). fleetps writes the lines with std::to_chars straight into
// the scrape's buffer, family by family across the fleet; nothing rendered is kept per host
// between scrapes (that cost ~16 kB per host, and a render per probe).

#include "fleetps/collector/exposition/exposition.hpp"

#include <charconv>
#include <cmath>

#include "fleetps/collector/fleet/metric_catalog.hpp"
#include "fleetps/collector/query/text.hpp"
#include "series_walk.hpp"

namespace fleetps::collector {
namespace {

// Made label-safe (valid UTF-8, no controls: DESIGN §7) and bounded, then escaped as the text
// format wants (\\, \"; a newline cannot be left after LabelSafe).
void AppendLabelValue(std::string& out, std::string_view value,
                      std::size_t max_bytes = kDefaultLabelValueBytes) {
  std::string safe;
  if (value.size() > max_bytes || !IsLabelSafe(value))
    value = safe = BoundedLabelSafe(value, max_bytes);
  if (value.find_first_of("\\\"") == std::string_view::npos) {
    out += value;
    return;
  }
  for (char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      default:
        out += c;
    }
  }
}

void AppendValue(std::string& out, double value) {
  if (std::isnan(value)) {
    out += "NaN";
    return;
  }
  if (std::isinf(value)) {
    out += value > 0 ? "+Inf" : "-Inf";
    return;
  }
  char buffer[32];
  std::to_chars_result r;
  // Integral values (counts, bytes, timestamps in whole seconds) as plain integers: faster than
  // the shortest-round-trip double path and never in exponent form.
  if (std::fabs(value) < 1e15 && value == std::trunc(value)) {
    r = std::to_chars(buffer, buffer + sizeof buffer, static_cast<long long>(value));
  } else {
    // Shortest round-trip digits, %g-style: "0.0001" rather than "1e-04".
    r = std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::general);
  }
  out.append(buffer, r.ptr);
}

void AppendHeader(std::string& out, const MetricDescriptor& d) {
  out += "# HELP ";
  out += d.name;
  out += ' ';
  out += d.help;  // catalogue text: no backslash, no newline
  out += "\n# TYPE ";
  out += d.name;
  switch (d.type) {
    case MetricType::kCounter:
      out += " counter\n";
      break;
    case MetricType::kHistogram:
      out += " histogram\n";
      break;
    default:
      out += " gauge\n";
      break;
  }
}

std::string HostLabel(std::string_view host) {
  std::string label = "host=\"";
  AppendLabelValue(label, host);
  label += '"';
  return label;
}

// Writes a walk's series as sample lines into `out`. `base` is the pre-escaped host label
// (`host="x"`) or empty. Optionally writes each family's HELP and TYPE before its first series
// (a family without series gets none).
class TextSink final : public SeriesSink {
 public:
  enum class Headers { kNone, kPerFamily };

  TextSink(std::string& out, std::string_view base, Headers headers)
      : out_(out), base_(base), headers_(headers) {}

  // The host whose series come next (RenderMetrics walks family by family across hosts).
  void SetBase(std::string_view base) noexcept { base_ = base; }

  void Sample(std::size_t family, std::initializer_list<Label> labels, double value) override {
    Enter(family);
    out_ += kMetricCatalog[family].name;
    if (!base_.empty() || labels.size() != 0) {
      out_ += '{';
      out_ += base_;
      bool first = base_.empty();
      for (const Label& label : labels) {
        if (!first) out_ += ',';
        first = false;
        out_ += label.name;
        out_ += "=\"";
        AppendLabelValue(out_, label.value, label_value_bytes);
        out_ += '"';
      }
      out_ += '}';
    }
    out_ += ' ';
    AppendValue(out_, value);
    out_ += '\n';
  }

  // Collector families only, which carry no host label.
  void Histogram(std::size_t family, const HistogramSnapshot& h) override {
    Enter(family);
    const std::string_view name = kMetricCatalog[family].name;
    for (std::size_t i = 0; i < h.cumulative.size(); ++i) {
      out_ += name;
      out_ += "_bucket{le=\"";
      if (i < h.upper_bounds.size()) {
        AppendValue(out_, h.upper_bounds[i]);
      } else {
        out_ += "+Inf";
      }
      out_ += "\"} ";
      AppendValue(out_, static_cast<double>(h.cumulative[i]));
      out_ += '\n';
    }
    out_ += name;
    out_ += "_sum ";
    AppendValue(out_, h.sum);
    out_ += '\n';
    out_ += name;
    out_ += "_count ";
    AppendValue(out_, static_cast<double>(h.Count()));
    out_ += '\n';
  }

 private:
  void Enter(std::size_t family) {
    if (family == current_) return;
    current_ = family;
    if (headers_ == Headers::kPerFamily) AppendHeader(out_, kMetricCatalog[family]);
  }

  std::string& out_;
  std::string_view base_;
  Headers headers_;
  std::size_t current_ = kMetricCatalog.size();  // none yet
};

}  // namespace

std::string RenderMetrics(const FleetState& state, const SelfMetrics& self) {
  const auto hosts = state.Hosts();
  std::vector<std::string> host_labels;
  host_labels.reserve(hosts.size());
  std::vector<bool> quarantined(hosts.size(), false);
  std::size_t groups = 0;
  for (std::size_t i = 0; i < hosts.size(); ++i) {
    host_labels.push_back(HostLabel(hosts[i]->spec.name));
    quarantined[i] = self.quarantined_hosts.contains(hosts[i]->spec.name);
    groups += hosts[i]->groups.groups.size();
  }
  std::string out;
  // exposition_bench: ~98 B a series, 22 series a host plus 27 a group. Too much costs pages
  // never touched; too little, a copy of the answer so far.
  out.reserve(16 * 1024 + 4096 * hosts.size() + 3072 * groups);
  TextSink sink(out, {}, TextSink::Headers::kNone);
  std::vector<std::optional<RowSummary>> rows(hosts.size());
  for (std::size_t family = 0; family < kFirstCollectorFamily; ++family) {
    // The header first, taken back when no host has a series of the family.
    const std::size_t mark = out.size();
    AppendHeader(out, kMetricCatalog[family]);
    const std::size_t content = out.size();
    for (std::size_t i = 0; i < hosts.size(); ++i) {
      sink.SetBase(host_labels[i]);
      WalkHostFamilies(sink, *hosts[i], quarantined[i], family, family + 1, rows[i]);
    }
    if (out.size() == content) out.resize(mark);
  }
  TextSink collector(out, {}, TextSink::Headers::kPerFamily);
  WalkCollectorSeries(collector, self, state, hosts);
  return out;
}

std::optional<std::string> RenderHostMetrics(const FleetState& state, std::string_view host,
                                             const SelfMetrics& self) {
  const auto view = state.Host(host);
  if (!view) return std::nullopt;
  std::string out;
  out.reserve(8192 + 2560 * view->groups.groups.size());
  TextSink sink(out, {}, TextSink::Headers::kPerFamily);
  WalkHostSeries(sink, *view, self.quarantined_hosts.contains(host));
  return out;
}

std::string BoundedLabelValue(std::string_view value, std::size_t max_bytes) {
  return BoundedLabelSafe(value, max_bytes);
}

}  // namespace fleetps::collector
