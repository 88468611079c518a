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
#include <limits>
#include <utility>

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

// Writes a walk's series as sample lines into `out`, each family's HELP and TYPE before its
// first series (a family without series gets none). `base` is the pre-escaped host label
// (`host="x"`) or empty.
class TextSink final : public SeriesSink {
 public:
  explicit TextSink(std::string& out) : out_(&out) {}

  // Where the next lines go (a streamed scrape writes piece after piece).
  void SetOut(std::string& out) noexcept { out_ = &out; }
  // The host whose series come next (a scrape walks family by family across the hosts).
  void SetBase(std::string_view base) noexcept { base_ = base; }

  void Sample(std::size_t family, std::initializer_list<Label> labels, double value) override {
    Enter(family);
    std::string& out = *out_;
    out += kMetricCatalog[family].name;
    if (!base_.empty() || labels.size() != 0) {
      out += '{';
      out += base_;
      bool first = base_.empty();
      for (const Label& label : labels) {
        if (!first) out += ',';
        first = false;
        out += label.name;
        out += "=\"";
        AppendLabelValue(out, label.value, label_value_bytes);
        out += '"';
      }
      out += '}';
    }
    out += ' ';
    AppendValue(out, value);
    out += '\n';
  }

  // Collector families only, which carry no host label.
  void Histogram(std::size_t family, const HistogramSnapshot& h,
                 std::initializer_list<Label> labels) override {
    Enter(family);
    std::string& out = *out_;
    const std::string_view name = kMetricCatalog[family].name;
    std::string written;  // `k="v",` for each label
    for (const Label& label : labels) {
      written += label.name;
      written += "=\"";
      AppendLabelValue(written, label.value, label_value_bytes);
      written += "\",";
    }
    const std::string braced =
        written.empty() ? std::string() : "{" + written.substr(0, written.size() - 1) + "}";
    for (std::size_t i = 0; i < h.cumulative.size(); ++i) {
      out += name;
      out += "_bucket{";
      out += written;
      out += "le=\"";
      if (i < h.upper_bounds.size()) {
        AppendValue(out, h.upper_bounds[i]);
      } else {
        out += "+Inf";
      }
      out += "\"} ";
      AppendValue(out, static_cast<double>(h.cumulative[i]));
      out += '\n';
    }
    out += name;
    out += "_sum";
    out += braced;
    out += ' ';
    AppendValue(out, h.sum);
    out += '\n';
    out += name;
    out += "_count";
    out += braced;
    out += ' ';
    AppendValue(out, static_cast<double>(h.Count()));
    out += '\n';
  }

 private:
  void Enter(std::size_t family) {
    if (family == current_) return;
    current_ = family;
    AppendHeader(*out_, kMetricCatalog[family]);
  }

  std::string* out_;
  std::string_view base_;                        // no host label until SetBase
  std::size_t current_ = kMetricCatalog.size();  // none yet
};

// A scrape's walk: family by family, each family across every host, then the collector's.
struct ScrapeWriter {
  ScrapeWriter(const FleetState& fleet, SelfMetrics self_metrics)
      : state(fleet), self(std::move(self_metrics)), hosts(fleet.Hosts()), rows(hosts.size()) {
    host_labels.reserve(hosts.size());
    quarantined.reserve(hosts.size());
    for (const auto& view : hosts) {
      host_labels.push_back(HostLabel(view->spec.name));
      quarantined.push_back(self.quarantined_hosts.contains(view->spec.name));
    }
  }

  // Appends to `out` until it holds `min_bytes` (whole host slices: a host's series of one
  // family) or the exposition ends; false once it has ended.
  bool Fill(std::string& out, std::size_t min_bytes) {
    sink.SetOut(out);
    for (; family < kFirstCollectorFamily; ++family, host = 0) {
      while (host < hosts.size()) {
        sink.SetBase(host_labels[host]);
        WalkHostFamilies(sink, *hosts[host], quarantined[host], family, family + 1, rows[host]);
        ++host;
        if (out.size() >= min_bytes) return true;
      }
    }
    if (family == kFirstCollectorFamily) {
      sink.SetBase({});
      WalkCollectorSeries(sink, self, state, hosts);
      ++family;
    }
    return false;
  }

  const FleetState& state;
  const SelfMetrics self;
  // The fleet as of the scrape's start: each view is held until the scrape ends.
  const std::vector<std::shared_ptr<const HostView>> hosts;
  std::vector<std::string> host_labels;
  std::vector<bool> quarantined;
  std::vector<std::optional<RowSummary>> rows;  // each host's, once a family needed it
  std::string unused;
  TextSink sink{unused};
  std::size_t family = 0;  // kFirstCollectorFamily: the collector's; past it: done
  std::size_t host = 0;
};

}  // namespace

struct MetricsRenderer::Impl {
  Impl(const FleetState& state, SelfMetrics self) : writer(state, std::move(self)) {}
  ScrapeWriter writer;
  std::string piece;
};

MetricsRenderer::MetricsRenderer(const FleetState& state, SelfMetrics self)
    : impl_(std::make_unique<Impl>(state, std::move(self))) {}

MetricsRenderer::~MetricsRenderer() = default;

std::string_view MetricsRenderer::Next(std::size_t min_bytes) {
  impl_->piece.clear();
  if (impl_->writer.family <= kFirstCollectorFamily) impl_->writer.Fill(impl_->piece, min_bytes);
  return impl_->piece;
}

std::string RenderMetrics(const FleetState& state, const SelfMetrics& self) {
  ScrapeWriter renderer(state, self);
  std::size_t groups = 0;
  for (const auto& view : renderer.hosts) groups += view->groups->groups.size();
  std::string out;
  // exposition_bench: ~98 B a series, 22 series a host plus 27 a group. Too much costs pages
  // never touched; too little, a copy of the answer so far.
  out.reserve(16 * 1024 + 4096 * renderer.hosts.size() + 3072 * groups);
  renderer.Fill(out, std::numeric_limits<std::size_t>::max());
  return out;
}

std::optional<std::string> RenderHostMetrics(const FleetState& state, std::string_view host,
                                             const SelfMetrics& self) {
  const auto view = state.Host(host);
  if (!view) return std::nullopt;
  std::string out;
  out.reserve(8192 + 2560 * view->groups->groups.size());
  TextSink sink(out);
  WalkHostSeries(sink, *view, self.quarantined_hosts.contains(host));
  return out;
}

std::string BoundedLabelValue(std::string_view value, std::size_t max_bytes) {
  return BoundedLabelSafe(value, max_bytes);
}

}  // namespace fleetps::collector
