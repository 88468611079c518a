#include "fleetps/collector/exposition.hpp"

#include <array>
#include <map>
#include <stdexcept>

#include <prometheus/text_serializer.h>

#include "fleetps/collector/metric_catalog.hpp"

namespace fleetps::collector {
namespace {

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
    family.type = d.type == MetricType::kCounter ? prometheus::MetricType::Counter
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
  const agent::HostStatus& status = view.status;
  const bool has_status = !status.host.empty();
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
  const std::string_view current_state =
      quarantined ? "quarantined" : (has_status ? agent::StateName(status.state) : "connecting");
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

std::string BoundedLabelValue(std::string_view value) {
  constexpr std::size_t kMax = 256;
  if (value.size() <= kMax) return std::string(value);
  std::size_t cut = kMax;
  while (cut > 0 && (static_cast<unsigned char>(value[cut]) & 0xC0) == 0x80) --cut;
  return std::string(value.substr(0, cut));
}

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
  out.Add("fleetps_build_info", {{"version", FLEETPS_VERSION}, {"revision", FLEETPS_REVISION}}, 1);
  out.Add("fleetps_supervisor_restarts_total", {}, static_cast<double>(self.supervisor_restarts));
  out.Add("fleetps_bus_dropped_total", {}, static_cast<double>(self.bus_dropped));
  out.Add("fleetps_config_last_reload_successful", {}, self.config_last_reload_successful ? 1 : 0);
  for (const auto& view : state_.Hosts()) {
    AddHost(out, *view, {{"host", view->spec.name}}, static_groups,
            self.quarantined_hosts.contains(view->spec.name));
  }
  return out.Take();
}

std::string RenderMetrics(const FleetState& state, const SelfMetrics& self) {
  FleetCollectable collectable(state, [&self] { return self; });
  return prometheus::TextSerializer().Serialize(collectable.Collect());
}

std::optional<std::string> RenderHostMetrics(const FleetState& state, std::string_view host,
                                             const SelfMetrics& self) {
  if (!state.Host(host)) return std::nullopt;
  FleetCollectable collectable(state, [&self] { return self; }, std::string(host));
  return prometheus::TextSerializer().Serialize(collectable.Collect());
}

}  // namespace fleetps::collector
