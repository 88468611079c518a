#include "fleetps/collector/exposition/exposition.hpp"
#include "fleetps/collector/telemetry/build_info.hpp"

#include <array>
#include <charconv>
#include <cmath>
#include <map>
#include <stdexcept>


#include "fleetps/agent/algorithms.hpp"
#include "fleetps/collector/fleet/metric_catalog.hpp"

namespace fleetps::collector {
namespace {

// How many hosts need each weak algorithm: the plan for a fleet's crypto upgrade.
std::map<std::pair<std::string, std::string>, std::size_t> WeakAlgorithmHosts(
    const std::vector<std::shared_ptr<const HostView>>& hosts) {
  std::map<std::pair<std::string, std::string>, std::size_t> counts;
  for (const auto& view : hosts) {
    if (!view->status) continue;
    for (const auto& weak : view->status->weak_algorithms) {
      ++counts[{std::string(agent::AlgorithmKindKey(weak.kind)), weak.name}];
    }
  }
  return counts;
}

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using Labels = std::vector<ClientMetric::Label>;

constexpr std::string_view kProbeName = "processes";
constexpr std::array kHostStates = {"connecting", "fingerprinting", "ready",
                                    "backoff",    "circuit_open",   "quarantined"};
constexpr std::array kStateBuckets = {probes::StateBucket::kRunning, probes::StateBucket::kSleeping,
                                      probes::StateBucket::kWaiting, probes::StateBucket::kZombie,
                                      probes::StateBucket::kOther};

const MetricDescriptor& Describe(std::string_view name) {
  for (const MetricDescriptor& d : kMetricCatalog) {
    if (d.name == name) return d;
  }
  throw std::logic_error("metric not in catalogue");  // unreachable for the names below
}

// Collects families by name in catalogue order so the output is stable and grouped.
class Families {
 public:
  void Add(std::string_view name, Labels labels, double value) {
    MetricFamily& family = Family(name);
    ClientMetric metric;
    metric.label = std::move(labels);
    if (family.type == prometheus::MetricType::Counter) {
      metric.counter.value = value;
    } else {
      metric.gauge.value = value;
    }
    family.metric.push_back(std::move(metric));
  }

  void AddHistogram(std::string_view name, const HistogramSnapshot& h) {
    ClientMetric metric;
    for (std::size_t i = 0; i < h.cumulative.size(); ++i) {
      metric.histogram.bucket.push_back(
          {h.cumulative[i], i < h.upper_bounds.size() ? h.upper_bounds[i]
                                                      : std::numeric_limits<double>::infinity()});
    }
    metric.histogram.sample_count = h.Count();
    metric.histogram.sample_sum = h.sum;
    Family(name).metric.push_back(std::move(metric));
  }

  std::vector<MetricFamily> Take() {
    std::vector<MetricFamily> out;
    for (const MetricDescriptor& d : kMetricCatalog) {
      auto it = families_.find(d.name);
      if (it != families_.end()) out.push_back(std::move(it->second));
    }
    return out;
  }

 private:
  MetricFamily& Family(std::string_view name) {
    auto it = families_.find(name);
    if (it != families_.end()) return it->second;
    const MetricDescriptor& d = Describe(name);
    MetricFamily family;
    family.name = std::string(d.name);
    family.help = std::string(d.help);
    family.type = d.type == MetricType::kCounter     ? prometheus::MetricType::Counter
                  : d.type == MetricType::kHistogram ? prometheus::MetricType::Histogram
                                                     : prometheus::MetricType::Gauge;
    return families_.emplace(std::string(name), std::move(family)).first->second;
  }
  std::map<std::string, MetricFamily, std::less<>> families_;
};

// Appends the series of one host; `base` holds its host label (or nothing for /probe).
void AddHost(Families& out, const HostView& view, const Labels& base,
             const std::vector<std::string>& static_groups, bool quarantined) {
  auto with = [&base](std::initializer_list<std::pair<const char*, std::string_view>> extra) {
    Labels labels = base;
    for (const auto& [name, value] : extra) {
      labels.push_back({name, BoundedLabelValue(value)});
    }
    return labels;
  };
  static const agent::HostStatus kNoStatus;
  const agent::HostStatus& status = view.status ? *view.status : kNoStatus;
  const bool has_status = view.status.has_value();
  const bool up = view.Up();
  const bool session_up = has_status && (status.state == agent::HostState::kReady ||
                                         status.state == agent::HostState::kFingerprinting);

  out.Add("fleetps_up", base, up ? 1 : 0);
  out.Add("fleetps_session_up", base, session_up ? 1 : 0);
  out.Add("fleetps_session_connects_total", base, static_cast<double>(view.connects_total));
  for (const auto& [reason, count] : view.disconnects_total) {
    out.Add("fleetps_session_disconnects_total", with({{"reason", reason}}),
            static_cast<double>(count));
  }
  const std::string_view current_state = DisplayState(view.status, quarantined);
  for (const char* state : kHostStates) {
    out.Add("fleetps_host_state", with({{"state", state}}), current_state == state ? 1 : 0);
  }
  out.Add("fleetps_ssh_hostkey_mismatch", base, view.hostkey_mismatch ? 1 : 0);
  if (status.fingerprint) {
    out.Add("fleetps_host_info",
            with({{"os", status.fingerprint->os},
                  {"os_release", status.fingerprint->os_release},
                  {"arch", status.fingerprint->arch},
                  {"dialect", status.dialect ? probes::DialectName(*status.dialect) : ""}}),
            1);
  }
  if (!status.server.server_version.empty()) {
    out.Add("fleetps_ssh_session_info",
            with({{"server_version", status.server.server_version},
                  {"kex", status.server.kex},
                  {"cipher", status.server.cipher},
                  {"hostkey_type", status.server.hostkey_type}}),
            1);
  }

  // Probe health: failure carries every reason of the bounded set, 1 on the active one.
  const Labels probe = with({{"probe", kProbeName}});
  out.Add("fleetps_probe_success", probe, view.last_probe_status == agent::ProbeStatus::kOk ? 1 : 0);
  out.Add("fleetps_probe_duration_seconds", probe, view.last_probe_duration_seconds);
  const std::string_view active_failure =
      !up && view.last_probe_failure.empty() && has_status && status.last_reason
          ? agent::ReasonName(status.last_reason)
          : std::string_view(view.last_probe_failure);
  for (agent::Errc reason : agent::AllReasons()) {
    const std::string_view name = agent::ReasonName(reason);
    out.Add("fleetps_probe_failure", with({{"probe", kProbeName}, {"reason", name}}),
            !up && name == active_failure ? 1 : 0);
  }
  if (view.last_success_unix) {
    out.Add("fleetps_probe_last_success_timestamp_seconds", probe, *view.last_success_unix);
  }
  out.Add("fleetps_probe_skipped_total", base, static_cast<double>(view.skipped_total));
  for (std::size_t i = 0; i < probes::kSkipReasonCount; ++i) {
    out.Add("fleetps_probe_lines_skipped_total",
            with({{"probe", kProbeName},
                  {"reason", probes::SkipReasonName(static_cast<probes::SkipReason>(i))}}),
            static_cast<double>(view.lines_skipped_total[i]));
  }

  // Process data only while the host answers: down is not the same as "no processes".
  if (!up || !view.snapshot) return;
  const probes::HostSnapshot& snapshot = *view.snapshot;
  std::array<std::uint64_t, 5> host_states{};
  double host_threads = 0;
  for (const probes::ProcessRow& row : snapshot.processes) {
    ++host_states[static_cast<std::size_t>(row.state_bucket)];
    host_threads += static_cast<double>(row.threads.value_or(1));
  }
  out.Add("node_processes_pids", base, static_cast<double>(snapshot.processes.size()));
  out.Add("node_processes_threads", base, host_threads);
  for (probes::StateBucket bucket : kStateBuckets) {
    out.Add("node_processes_state", with({{"state", probes::StateBucketName(bucket)}}),
            static_cast<double>(host_states[static_cast<std::size_t>(bucket)]));
  }

  auto add_group = [&](const std::string& name, const probes::GroupStats& g) {
    const Labels group = with({{"groupname", name}});
    auto group_with = [&](const char* label, std::string_view value) {
      Labels labels = group;
      labels.push_back({label, std::string(value)});
      return labels;
    };
    out.Add("namedprocess_namegroup_num_procs", group, static_cast<double>(g.num_procs));
    out.Add("namedprocess_namegroup_cpu_seconds_total", group_with("mode", "user"),
            g.cpu_user_seconds);
    if (g.cpu_system_seconds) {
      out.Add("namedprocess_namegroup_cpu_seconds_total", group_with("mode", "system"),
              *g.cpu_system_seconds);
    }
    auto add_optional = [&](std::string_view metric, const Labels& labels, const auto& value) {
      if (value) out.Add(metric, labels, static_cast<double>(*value));
    };
    add_optional("namedprocess_namegroup_memory_bytes", group_with("memtype", "resident"),
                 g.memory_resident_bytes);
    add_optional("namedprocess_namegroup_memory_bytes", group_with("memtype", "virtual"),
                 g.memory_virtual_bytes);
    add_optional("namedprocess_namegroup_memory_bytes", group_with("memtype", "swapped"),
                 g.memory_swapped_bytes);
    add_optional("namedprocess_namegroup_open_filedesc", group, g.open_filedesc);
    add_optional("namedprocess_namegroup_worst_fd_ratio", group, g.worst_fd_ratio);
    add_optional("namedprocess_namegroup_num_threads", group, g.num_threads);
    for (probes::StateBucket bucket : kStateBuckets) {
      out.Add("namedprocess_namegroup_states", group_with("state", probes::StateBucketName(bucket)),
              static_cast<double>(g.states[static_cast<std::size_t>(bucket)]));
    }
    add_optional("namedprocess_namegroup_oldest_start_time_seconds", group,
                 g.oldest_start_time_unix);
    add_optional("namedprocess_namegroup_read_bytes_total", group, g.read_bytes);
    add_optional("namedprocess_namegroup_write_bytes_total", group, g.write_bytes);
    add_optional("namedprocess_namegroup_major_page_faults_total", group, g.major_faults);
    add_optional("namedprocess_namegroup_minor_page_faults_total", group, g.minor_faults);
    add_optional("namedprocess_namegroup_context_switches_total",
                 group_with("ctxswitchtype", "voluntary"), g.ctx_voluntary);
    add_optional("namedprocess_namegroup_context_switches_total",
                 group_with("ctxswitchtype", "nonvoluntary"), g.ctx_involuntary);
    out.Add("fleetps_namegroup_starts_total", group, static_cast<double>(g.starts_total));
    for (const auto& [proto, count] : g.listen_sockets) {
      out.Add("fleetps_namegroup_listen_sockets", group_with("proto", proto),
              static_cast<double>(count));
    }
  };
  for (const auto& [name, stats] : view.groups.groups) add_group(name, stats);
  const probes::GroupStats absent;
  for (const std::string& name : static_groups) {
    if (!view.groups.groups.contains(name)) add_group(name, absent);
  }
}

}  // namespace

FleetCollectable::FleetCollectable(const FleetState& state, std::function<SelfMetrics()> self,
                                   std::optional<std::string> only_host)
    : state_(state), self_(std::move(self)), only_host_(std::move(only_host)) {}

std::vector<MetricFamily> FleetCollectable::Collect() const {
  const SelfMetrics self = self_ ? self_() : SelfMetrics{};
  const std::vector<std::string> static_groups = state_.StaticGroups();
  Families out;
  if (only_host_) {
    if (auto view = state_.Host(*only_host_)) {
      AddHost(out, *view, {}, static_groups, self.quarantined_hosts.contains(*only_host_));
    }
    return out.Take();
  }
  out.Add("fleetps_build_info", {{"version", std::string(BuildVersion())}, {"revision", std::string(BuildRevision())}}, 1);
  out.Add("fleetps_supervisor_restarts_total", {}, static_cast<double>(self.supervisor_restarts));
  out.Add("fleetps_bus_dropped_total", {}, static_cast<double>(self.bus_dropped));
  out.Add("fleetps_config_last_reload_successful", {}, self.config_last_reload_successful ? 1 : 0);
  const auto hosts = state_.Hosts();
  out.Add("fleetps_hosts", {}, static_cast<double>(hosts.size()));
  for (const auto& [key, count] : WeakAlgorithmHosts(hosts)) {
    out.Add("fleetps_ssh_weak_algorithm_hosts", {{"list", key.first}, {"algorithm", key.second}},
            static_cast<double>(count));
  }
  if (self.handshakes_in_flight) {
    out.Add("fleetps_handshakes_in_flight", {}, static_cast<double>(*self.handshakes_in_flight));
  }
  if (self.handshake_limit) {
    out.Add("fleetps_handshake_limit", {}, static_cast<double>(*self.handshake_limit));
  }
  if (self.event_loop_lag) out.AddHistogram("fleetps_event_loop_lag_seconds", *self.event_loop_lag);
  out.AddHistogram("fleetps_probe_schedule_delay_seconds", state_.ScheduleDelay().Snapshot());
  if (self.last_scrape_duration_seconds) {
    out.Add("fleetps_scrape_duration_seconds", {}, *self.last_scrape_duration_seconds);
  }
  if (const auto& p = self.process) {
    out.Add("process_cpu_seconds_total", {}, p->cpu_seconds);
    out.Add("process_resident_memory_bytes", {}, p->resident_bytes);
    out.Add("process_virtual_memory_bytes", {}, p->virtual_bytes);
    out.Add("process_open_fds", {}, p->open_fds);
    out.Add("process_max_fds", {}, p->max_fds);
    out.Add("process_start_time_seconds", {}, p->start_time_seconds);
  }
  for (const auto& view : hosts) {
    AddHost(out, *view, {{"host", view->spec.name}}, static_groups,
            self.quarantined_hosts.contains(view->spec.name));
  }
  return out.Take();
}

// ---- The fast text renderer ------------------------------------------------------------------
//
// Why not prometheus-cpp here: its Collect builds a ClientMetric with a vector of string label
// pairs per series and its TextSerializer formats through an ostream, ~2 µs per series
// (0.47 s for a 74 k-series scrape). fleetps renders each host's lines once per published
// HostView, with std::to_chars and pre-escaped label values, and a scrape concatenates the
// cached slices family by family into one reserved buffer.

namespace {

constexpr std::size_t kMaxLabelBytes = 256;

std::string_view BoundedView(std::string_view value) {
  if (value.size() <= kMaxLabelBytes) return value;
  std::size_t cut = kMaxLabelBytes;
  while (cut > 0 && (static_cast<unsigned char>(value[cut]) & 0xC0) == 0x80) --cut;
  return value.substr(0, cut);
}

// Bounded, then escaped as the text format wants (\\, \", \n).
void AppendLabelValue(std::string& out, std::string_view value) {
  value = BoundedView(value);
  if (value.find_first_of("\\\"\n") == std::string_view::npos) {
    out += value;
    return;
  }
  for (char c : value) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      default: out += c;
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
    case MetricType::kCounter: out += " counter\n"; break;
    case MetricType::kHistogram: out += " histogram\n"; break;
    default: out += " gauge\n"; break;
  }
}

struct Label {
  std::string_view name;
  std::string_view value;
};

// Writes sample lines; `base` is the pre-escaped host label (`host="x"`) or empty.
class Lines {
 public:
  Lines(std::string& out, std::string_view base) : out_(out), base_(base) {}

  void Add(std::string_view name, double value) { Add(name, {}, value); }

  void Add(std::string_view name, std::initializer_list<Label> labels, double value) {
    out_ += name;
    if (!base_.empty() || labels.size() != 0) {
      out_ += '{';
      out_ += base_;
      bool first = base_.empty();
      for (const Label& label : labels) {
        if (!first) out_ += ',';
        first = false;
        out_ += label.name;
        out_ += "=\"";
        AppendLabelValue(out_, label.value);
        out_ += '"';
      }
      out_ += '}';
    }
    out_ += ' ';
    AppendValue(out_, value);
    out_ += '\n';
  }

 private:
  std::string& out_;
  std::string_view base_;
};

void AddHistogram(std::string& out, std::string_view name, const HistogramSnapshot& h) {
  for (std::size_t i = 0; i < h.cumulative.size(); ++i) {
    out += name;
    out += "_bucket{le=\"";
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
  out += "_sum ";
  AppendValue(out, h.sum);
  out += '\n';
  out += name;
  out += "_count ";
  AppendValue(out, static_cast<double>(h.Count()));
  out += '\n';
}

void HostStateLines(Lines& lines, std::string_view current) {
  for (const char* state : kHostStates) {
    lines.Add("fleetps_host_state", {{"state", state}}, current == state ? 1 : 0);
  }
}

// Renders every per-host family of `view` in catalogue order into `out`, recording where each
// family starts in `offsets`. Mirrors AddHost above (the reference; a unit test compares them).
void RenderHostFamilies(std::string& out, std::array<std::uint32_t, kMetricCatalog.size() + 1>& offsets,
                        const HostView& view, std::string_view base,
                        const std::vector<std::string>& static_groups, bool quarantined) {
  Lines lines(out, base);
  static const agent::HostStatus kNoStatus;
  const agent::HostStatus& status = view.status ? *view.status : kNoStatus;
  const bool has_status = view.status.has_value();
  const bool up = view.Up();
  const bool session_up = has_status && (status.state == agent::HostState::kReady ||
                                         status.state == agent::HostState::kFingerprinting);
  const std::string_view current_state = DisplayState(view.status, quarantined);
  const std::string_view active_failure =
      !up && view.last_probe_failure.empty() && has_status && status.last_reason
          ? agent::ReasonName(status.last_reason)
          : std::string_view(view.last_probe_failure);

  // Process data only while the host answers: down is not the same as "no processes".
  const bool processes = up && view.snapshot;
  std::array<std::uint64_t, 5> host_states{};
  double host_threads = 0;
  std::vector<std::pair<std::string_view, const probes::GroupStats*>> groups;
  const probes::GroupStats absent;
  if (processes) {
    for (const probes::ProcessRow& row : view.snapshot->processes) {
      ++host_states[static_cast<std::size_t>(row.state_bucket)];
      host_threads += static_cast<double>(row.threads.value_or(1));
    }
    groups.reserve(view.groups.groups.size() + static_groups.size());
    for (const auto& [name, stats] : view.groups.groups) groups.emplace_back(name, &stats);
    for (const std::string& name : static_groups) {
      if (!view.groups.groups.contains(name)) groups.emplace_back(name, &absent);
    }
  }
  auto each_group = [&](auto&& emit) {
    for (const auto& [name, stats] : groups) emit(name, *stats);
  };
  auto optional = [&](std::string_view metric, std::initializer_list<Label> labels,
                      const auto& value) {
    if (value) lines.Add(metric, labels, static_cast<double>(*value));
  };
  using G = const probes::GroupStats&;
  using N = std::string_view;

  for (std::size_t family = 0; family < kFirstCollectorFamily; ++family) {
    offsets[family] = static_cast<std::uint32_t>(out.size());
    switch (family) {
      case CatalogIndex("namedprocess_namegroup_num_procs"):
        each_group([&](N n, G g) {
          lines.Add(kMetricCatalog[family].name, {{"groupname", n}}, static_cast<double>(g.num_procs));
        });
        break;
      case CatalogIndex("namedprocess_namegroup_cpu_seconds_total"):
        each_group([&](N n, G g) {
          lines.Add(kMetricCatalog[family].name, {{"groupname", n}, {"mode", "user"}}, g.cpu_user_seconds);
          optional(kMetricCatalog[family].name, {{"groupname", n}, {"mode", "system"}}, g.cpu_system_seconds);
        });
        break;
      case CatalogIndex("namedprocess_namegroup_memory_bytes"):
        each_group([&](N n, G g) {
          const auto name = kMetricCatalog[family].name;
          optional(name, {{"groupname", n}, {"memtype", "resident"}}, g.memory_resident_bytes);
          optional(name, {{"groupname", n}, {"memtype", "virtual"}}, g.memory_virtual_bytes);
          optional(name, {{"groupname", n}, {"memtype", "swapped"}}, g.memory_swapped_bytes);
        });
        break;
      case CatalogIndex("namedprocess_namegroup_open_filedesc"):
        each_group([&](N n, G g) { optional(kMetricCatalog[family].name, {{"groupname", n}}, g.open_filedesc); });
        break;
      case CatalogIndex("namedprocess_namegroup_worst_fd_ratio"):
        each_group([&](N n, G g) { optional(kMetricCatalog[family].name, {{"groupname", n}}, g.worst_fd_ratio); });
        break;
      case CatalogIndex("namedprocess_namegroup_num_threads"):
        each_group([&](N n, G g) { optional(kMetricCatalog[family].name, {{"groupname", n}}, g.num_threads); });
        break;
      case CatalogIndex("namedprocess_namegroup_states"):
        each_group([&](N n, G g) {
          for (probes::StateBucket bucket : kStateBuckets) {
            lines.Add(kMetricCatalog[family].name,
                      {{"groupname", n}, {"state", probes::StateBucketName(bucket)}},
                      static_cast<double>(g.states[static_cast<std::size_t>(bucket)]));
          }
        });
        break;
      case CatalogIndex("namedprocess_namegroup_oldest_start_time_seconds"):
        each_group([&](N n, G g) { optional(kMetricCatalog[family].name, {{"groupname", n}}, g.oldest_start_time_unix); });
        break;
      case CatalogIndex("namedprocess_namegroup_read_bytes_total"):
        each_group([&](N n, G g) { optional(kMetricCatalog[family].name, {{"groupname", n}}, g.read_bytes); });
        break;
      case CatalogIndex("namedprocess_namegroup_write_bytes_total"):
        each_group([&](N n, G g) { optional(kMetricCatalog[family].name, {{"groupname", n}}, g.write_bytes); });
        break;
      case CatalogIndex("namedprocess_namegroup_major_page_faults_total"):
        each_group([&](N n, G g) { optional(kMetricCatalog[family].name, {{"groupname", n}}, g.major_faults); });
        break;
      case CatalogIndex("namedprocess_namegroup_minor_page_faults_total"):
        each_group([&](N n, G g) { optional(kMetricCatalog[family].name, {{"groupname", n}}, g.minor_faults); });
        break;
      case CatalogIndex("namedprocess_namegroup_context_switches_total"):
        each_group([&](N n, G g) {
          const auto name = kMetricCatalog[family].name;
          optional(name, {{"groupname", n}, {"ctxswitchtype", "voluntary"}}, g.ctx_voluntary);
          optional(name, {{"groupname", n}, {"ctxswitchtype", "nonvoluntary"}}, g.ctx_involuntary);
        });
        break;
      case CatalogIndex("node_processes_pids"):
        if (processes) {
          lines.Add(kMetricCatalog[family].name, static_cast<double>(view.snapshot->processes.size()));
        }
        break;
      case CatalogIndex("node_processes_threads"):
        if (processes) lines.Add(kMetricCatalog[family].name, host_threads);
        break;
      case CatalogIndex("node_processes_state"):
        if (processes) {
          for (probes::StateBucket bucket : kStateBuckets) {
            lines.Add(kMetricCatalog[family].name, {{"state", probes::StateBucketName(bucket)}},
                      static_cast<double>(host_states[static_cast<std::size_t>(bucket)]));
          }
        }
        break;
      case CatalogIndex("fleetps_up"):
        lines.Add(kMetricCatalog[family].name, up ? 1 : 0);
        break;
      case CatalogIndex("fleetps_probe_success"):
        lines.Add(kMetricCatalog[family].name, {{"probe", kProbeName}},
                  view.last_probe_status == agent::ProbeStatus::kOk ? 1 : 0);
        break;
      case CatalogIndex("fleetps_probe_duration_seconds"):
        lines.Add(kMetricCatalog[family].name, {{"probe", kProbeName}}, view.last_probe_duration_seconds);
        break;
      case CatalogIndex("fleetps_probe_failure"):
        for (agent::Errc reason : agent::AllReasons()) {
          const std::string_view name = agent::ReasonName(reason);
          lines.Add(kMetricCatalog[family].name, {{"probe", kProbeName}, {"reason", name}},
                    !up && name == active_failure ? 1 : 0);
        }
        break;
      case CatalogIndex("fleetps_probe_last_success_timestamp_seconds"):
        optional(kMetricCatalog[family].name, {{"probe", kProbeName}}, view.last_success_unix);
        break;
      case CatalogIndex("fleetps_session_up"):
        lines.Add(kMetricCatalog[family].name, session_up ? 1 : 0);
        break;
      case CatalogIndex("fleetps_session_connects_total"):
        lines.Add(kMetricCatalog[family].name, static_cast<double>(view.connects_total));
        break;
      case CatalogIndex("fleetps_session_disconnects_total"):
        for (const auto& [reason, count] : view.disconnects_total) {
          lines.Add(kMetricCatalog[family].name, {{"reason", reason}}, static_cast<double>(count));
        }
        break;
      case CatalogIndex("fleetps_host_state"):
        HostStateLines(lines, current_state);
        break;
      case CatalogIndex("fleetps_host_info"):
        if (status.fingerprint) {
          lines.Add(kMetricCatalog[family].name,
                    {{"os", status.fingerprint->os},
                     {"os_release", status.fingerprint->os_release},
                     {"arch", status.fingerprint->arch},
                     {"dialect", status.dialect ? probes::DialectName(*status.dialect) : ""}},
                    1);
        }
        break;
      case CatalogIndex("fleetps_ssh_session_info"):
        if (!status.server.server_version.empty()) {
          lines.Add(kMetricCatalog[family].name,
                    {{"server_version", status.server.server_version},
                     {"kex", status.server.kex},
                     {"cipher", status.server.cipher},
                     {"hostkey_type", status.server.hostkey_type}},
                    1);
        }
        break;
      case CatalogIndex("fleetps_ssh_hostkey_mismatch"):
        lines.Add(kMetricCatalog[family].name, view.hostkey_mismatch ? 1 : 0);
        break;
      case CatalogIndex("fleetps_namegroup_starts_total"):
        each_group([&](N n, G g) {
          lines.Add(kMetricCatalog[family].name, {{"groupname", n}}, static_cast<double>(g.starts_total));
        });
        break;
      case CatalogIndex("fleetps_namegroup_listen_sockets"):
        each_group([&](N n, G g) {
          for (const auto& [proto, count] : g.listen_sockets) {
            lines.Add(kMetricCatalog[family].name, {{"groupname", n}, {"proto", proto}},
                      static_cast<double>(count));
          }
        });
        break;
      case CatalogIndex("fleetps_probe_skipped_total"):
        lines.Add(kMetricCatalog[family].name, static_cast<double>(view.skipped_total));
        break;
      case CatalogIndex("fleetps_probe_lines_skipped_total"):
        for (std::size_t i = 0; i < probes::kSkipReasonCount; ++i) {
          lines.Add(kMetricCatalog[family].name,
                    {{"probe", kProbeName},
                     {"reason", probes::SkipReasonName(static_cast<probes::SkipReason>(i))}},
                    static_cast<double>(view.lines_skipped_total[i]));
        }
        break;
      default:
        break;  // a per-host family without a renderer would show up in the reference test
    }
  }
  for (std::size_t family = kFirstCollectorFamily; family <= kMetricCatalog.size(); ++family) {
    offsets[family] = static_cast<std::uint32_t>(out.size());
  }
}

std::string HostLabel(std::string_view host) {
  std::string label = "host=\"";
  AppendLabelValue(label, host);
  label += '"';
  return label;
}

void AppendCollectorFamily(std::string& out, std::size_t family, const SelfMetrics& self,
                           const FleetState& state, std::size_t hosts) {
  Lines lines(out, {});
  const std::string_view name = kMetricCatalog[family].name;
  switch (family) {
    case CatalogIndex("fleetps_supervisor_restarts_total"):
      lines.Add(name, static_cast<double>(self.supervisor_restarts));
      break;
    case CatalogIndex("fleetps_bus_dropped_total"):
      lines.Add(name, static_cast<double>(self.bus_dropped));
      break;
    case CatalogIndex("fleetps_config_last_reload_successful"):
      lines.Add(name, self.config_last_reload_successful ? 1 : 0);
      break;
    case CatalogIndex("fleetps_build_info"):
      lines.Add(name, {{"version", std::string(BuildVersion())}, {"revision", std::string(BuildRevision())}}, 1);
      break;
    case CatalogIndex("fleetps_hosts"):
      lines.Add(name, static_cast<double>(hosts));
      break;
    case CatalogIndex("fleetps_ssh_weak_algorithm_hosts"):
      for (const auto& [key, count] : WeakAlgorithmHosts(state.Hosts())) {
        lines.Add(name, {{"list", key.first}, {"algorithm", key.second}}, static_cast<double>(count));
      }
      break;
    case CatalogIndex("fleetps_handshakes_in_flight"):
      if (self.handshakes_in_flight) lines.Add(name, static_cast<double>(*self.handshakes_in_flight));
      break;
    case CatalogIndex("fleetps_handshake_limit"):
      if (self.handshake_limit) lines.Add(name, static_cast<double>(*self.handshake_limit));
      break;
    case CatalogIndex("fleetps_event_loop_lag_seconds"):
      if (self.event_loop_lag) AddHistogram(out, name, *self.event_loop_lag);
      break;
    case CatalogIndex("fleetps_probe_schedule_delay_seconds"):
      AddHistogram(out, name, state.ScheduleDelay().Snapshot());
      break;
    case CatalogIndex("fleetps_scrape_duration_seconds"):
      if (self.last_scrape_duration_seconds) lines.Add(name, *self.last_scrape_duration_seconds);
      break;
    default:
      if (!self.process) break;
      const ProcessStats& p = *self.process;
      switch (family) {
        case CatalogIndex("process_cpu_seconds_total"): lines.Add(name, p.cpu_seconds); break;
        case CatalogIndex("process_resident_memory_bytes"): lines.Add(name, p.resident_bytes); break;
        case CatalogIndex("process_virtual_memory_bytes"): lines.Add(name, p.virtual_bytes); break;
        case CatalogIndex("process_open_fds"): lines.Add(name, p.open_fds); break;
        case CatalogIndex("process_max_fds"): lines.Add(name, p.max_fds); break;
        case CatalogIndex("process_start_time_seconds"): lines.Add(name, p.start_time_seconds); break;
        default: break;
      }
  }
}

// Appends one family: HELP/TYPE and whatever `body` writes, or nothing when it writes nothing.
template <typename Body>
void AppendFamily(std::string& out, std::size_t family, Body&& body) {
  const std::size_t mark = out.size();
  AppendHeader(out, kMetricCatalog[family]);
  const std::size_t content = out.size();
  body();
  if (out.size() == content) out.resize(mark);
}

}  // namespace

std::shared_ptr<const HostText> RenderHostText(const HostView& view,
                                               const std::vector<std::string>& static_groups) {
  auto text = std::make_shared<HostText>();
  const std::string base = HostLabel(view.spec.name);
  // ~90 bytes a line, ~40 lines plus ~25 per group: one allocation for most hosts.
  text->body.reserve(4096 + 2560 * (view.groups.groups.size() + static_groups.size()));
  RenderHostFamilies(text->body, text->offsets, view, base, static_groups, false);
  text->body.shrink_to_fit();
  Lines quarantined(text->quarantined_host_state, base);
  HostStateLines(quarantined, "quarantined");
  return text;
}

std::string RenderMetrics(const FleetState& state, const SelfMetrics& self) {
  const auto hosts = state.Hosts();
  // Views built outside FleetState carry no text: render those here.
  std::vector<std::shared_ptr<const HostText>> texts;
  texts.reserve(hosts.size());
  std::vector<std::string> static_groups;
  bool have_static_groups = false;
  std::size_t bytes = 16 * 1024;
  for (const auto& view : hosts) {
    if (!view->text && !std::exchange(have_static_groups, true)) static_groups = state.StaticGroups();
    texts.push_back(view->text ? view->text : RenderHostText(*view, static_groups));
    bytes += texts.back()->body.size();
  }
  std::vector<bool> quarantined(hosts.size(), false);
  if (!self.quarantined_hosts.empty()) {
    for (std::size_t i = 0; i < hosts.size(); ++i) {
      quarantined[i] = self.quarantined_hosts.contains(hosts[i]->spec.name);
    }
  }
  std::string out;
  out.reserve(bytes);
  constexpr std::size_t kHostState = CatalogIndex("fleetps_host_state");
  for (std::size_t family = 0; family < kMetricCatalog.size(); ++family) {
    AppendFamily(out, family, [&] {
      if (family >= kFirstCollectorFamily) {
        AppendCollectorFamily(out, family, self, state, hosts.size());
        return;
      }
      for (std::size_t i = 0; i < texts.size(); ++i) {
        out += family == kHostState && quarantined[i] ? std::string_view(texts[i]->quarantined_host_state)
                                                      : texts[i]->Family(family);
      }
    });
  }
  return out;
}

std::optional<std::string> RenderHostMetrics(const FleetState& state, std::string_view host,
                                             const SelfMetrics& self) {
  const auto view = state.Host(host);
  if (!view) return std::nullopt;
  std::string body;
  std::array<std::uint32_t, kMetricCatalog.size() + 1> offsets{};
  RenderHostFamilies(body, offsets, *view, {}, state.StaticGroups(),
                     self.quarantined_hosts.contains(host));
  std::string out;
  out.reserve(body.size() + 8192);
  for (std::size_t family = 0; family < kFirstCollectorFamily; ++family) {
    AppendFamily(out, family,
                 [&] { out.append(body, offsets[family], offsets[family + 1] - offsets[family]); });
  }
  return out;
}

std::string BoundedLabelValue(std::string_view value) { return std::string(BoundedView(value)); }

}  // namespace fleetps::collector
