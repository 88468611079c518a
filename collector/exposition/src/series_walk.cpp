#include "series_walk.hpp"

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <utility>

#include "fleetps/agent/algorithms.hpp"
#include "fleetps/collector/telemetry/build_info.hpp"
#include "fleetps/collector/telemetry/http_connections.hpp"
#include "fleetps/collector/telemetry/internal_errors.hpp"

namespace fleetps::collector {
namespace {

constexpr std::string_view kProbeName = "processes";
constexpr std::array kHostStates = {"connecting", "fingerprinting", "ready",
                                    "backoff",    "circuit_open",   "quarantined"};
constexpr std::array kStateBuckets = {probes::StateBucket::kRunning, probes::StateBucket::kSleeping,
                                      probes::StateBucket::kWaiting, probes::StateBucket::kZombie,
                                      probes::StateBucket::kOther};

// A series whose value may be unknown (a dialect without it): absent rather than 0.
template <typename Optional>
void SampleIfKnown(SeriesSink& sink, std::size_t family, std::initializer_list<Label> labels,
                   const Optional& value) {
  if (value) sink.Sample(family, labels, static_cast<double>(*value));
}

// One series per (label value, count): a counter family whose label set is fixed, every value
// present from the start.
void SampleCounts(SeriesSink& sink, std::size_t family, std::string_view label,
                  const std::vector<std::pair<std::string_view, std::uint64_t>>& counts) {
  for (const auto& [value, count] : counts) {
    sink.Sample(family, {{label, value}}, static_cast<double>(count));
  }
}

// `stats` of a group that has no process now, with every gauge the host gives (set in `empty`)
// read as 0 instead of absent.
probes::GroupStats WithEmptyGauges(probes::GroupStats stats, const probes::GroupStats& empty) {
  stats.memory_resident_bytes = empty.memory_resident_bytes;
  stats.memory_virtual_bytes = empty.memory_virtual_bytes;
  stats.memory_swapped_bytes = empty.memory_swapped_bytes;
  stats.open_filedesc = empty.open_filedesc;
  stats.worst_fd_ratio = empty.worst_fd_ratio;
  stats.num_threads = empty.num_threads;
  return stats;
}

// How many hosts need each weak algorithm: the plan for a fleet's crypto upgrade.
std::map<std::pair<std::string_view, std::string_view>, std::size_t> WeakAlgorithmHosts(
    const std::vector<std::shared_ptr<const HostView>>& hosts) {
  std::map<std::pair<std::string_view, std::string_view>, std::size_t> counts;
  for (const auto& view : hosts) {
    if (!view->status) continue;
    for (const auto& weak : view->status->weak_algorithms) {
      ++counts[{agent::AlgorithmKindKey(weak.kind), weak.name}];
    }
  }
  return counts;
}

// fleetps_host_state's series with `current` as the state that is 1.
void WalkHostState(SeriesSink& sink, std::string_view current) {
  constexpr std::size_t kFamily = CatalogIndex("fleetps_host_state");
  for (const char* state : kHostStates) {
    sink.Sample(kFamily, {{"state", state}}, current == state ? 1 : 0);
  }
}

}  // namespace

RowSummary SummarizeRows(const probes::HostSnapshot& snapshot) {
  RowSummary summary;
  for (const probes::ProcessRow& row : snapshot.processes) {
    ++summary.states[probes::NodeStateLetter(snapshot.dialect, row.state, row.state_bucket)];
    summary.threads += static_cast<double>(row.threads.value_or(1));
    if (row.rss_bytes) summary.empty.memory_resident_bytes = 0;
    if (row.vsz_bytes) summary.empty.memory_virtual_bytes = 0;
    if (row.swap_bytes) summary.empty.memory_swapped_bytes = 0;
    if (row.fds) summary.empty.open_filedesc = 0;
    if (row.fds && row.fd_limit) summary.empty.worst_fd_ratio = 0;
    if (row.threads) summary.empty.num_threads = 0;
  }
  return summary;
}

void WalkHostSeries(SeriesSink& sink, const HostView& view, bool quarantined) {
  std::optional<RowSummary> rows;
  WalkHostFamilies(sink, view, quarantined, 0, kFirstCollectorFamily, rows);
}

void WalkHostFamilies(SeriesSink& sink, const HostView& view, bool quarantined,
                      std::size_t first_family, std::size_t end_family,
                      std::optional<RowSummary>& summary) {
  sink.label_value_bytes = view.label_value_bytes;
  static const agent::HostStatus kNoStatus;
  const agent::HostStatus& status = view.status ? *view.status : kNoStatus;
  const bool has_status = view.status.has_value();
  const bool up = view.Up();
  const bool session_up = has_status && (status.state == agent::HostState::kReady ||
                                         status.state == agent::HostState::kFingerprinting);
  // Failure carries every reason of the bounded set, 1 on the active one.
  const std::string_view active_failure =
      !up && view.last_probe_failure.empty() && has_status && status.last_reason
          ? agent::ReasonName(status.last_reason)
          : std::string_view(view.last_probe_failure);

  // Process data only while the host answers: down is not the same as "no processes".
  const bool processes = up && view.snapshot;
  // The pass over the rows only when a family needs it, once per host and scrape.
  auto rows = [&]() -> const RowSummary& {
    if (!summary) summary = SummarizeRows(*view.snapshot);
    return *summary;
  };
  static const std::map<std::string, probes::GroupStats> kNoGroups;
  const auto& groups = processes ? view.groups->groups : kNoGroups;
  using Group = const probes::GroupStats&;
  using Name = std::string_view;
  auto each_group = [&](auto&& emit) {
    for (const auto& [name, stats] : groups) {
      if (stats.num_procs != 0) {
        emit(name, stats);
        continue;
      }
      // A group seen before (or expected) and empty now keeps its counters; its gauges read 0,
      // as for process-exporter, rather than vanishing.
      emit(name, WithEmptyGauges(stats, rows().empty));
    }
  };
  // The many families that are one optional field of each group, labelled by its name alone.
  auto each_group_field = [&](std::size_t family, auto probes::GroupStats::*field) {
    each_group([&](Name n, Group g) { SampleIfKnown(sink, family, {{"groupname", n}}, g.*field); });
  };

  // Family by family in catalogue order (sinks rely on it): a switch inside the loop over the
  // catalogue rather than a sequence of blocks, so the order cannot drift from the catalogue's.
  for (std::size_t family = first_family; family < end_family; ++family) {
    switch (family) {
      case CatalogIndex("namedprocess_namegroup_num_procs"):
        each_group([&](Name n, Group g) {
          sink.Sample(family, {{"groupname", n}}, static_cast<double>(g.num_procs));
        });
        break;
      case CatalogIndex("namedprocess_namegroup_cpu_seconds_total"):
        each_group([&](Name n, Group g) {
          sink.Sample(family, {{"groupname", n}, {"mode", "user"}}, g.cpu_user_seconds);
          SampleIfKnown(sink, family, {{"groupname", n}, {"mode", "system"}}, g.cpu_system_seconds);
        });
        break;
      case CatalogIndex("namedprocess_namegroup_memory_bytes"):
        each_group([&](Name n, Group g) {
          SampleIfKnown(sink, family, {{"groupname", n}, {"memtype", "resident"}},
                        g.memory_resident_bytes);
          SampleIfKnown(sink, family, {{"groupname", n}, {"memtype", "virtual"}},
                        g.memory_virtual_bytes);
          SampleIfKnown(sink, family, {{"groupname", n}, {"memtype", "swapped"}},
                        g.memory_swapped_bytes);
        });
        break;
      case CatalogIndex("namedprocess_namegroup_open_filedesc"):
        each_group_field(family, &probes::GroupStats::open_filedesc);
        break;
      case CatalogIndex("namedprocess_namegroup_worst_fd_ratio"):
        each_group_field(family, &probes::GroupStats::worst_fd_ratio);
        break;
      case CatalogIndex("namedprocess_namegroup_num_threads"):
        each_group_field(family, &probes::GroupStats::num_threads);
        break;
      case CatalogIndex("namedprocess_namegroup_states"):
        each_group([&](Name n, Group g) {
          for (probes::StateBucket bucket : kStateBuckets) {
            sink.Sample(family, {{"groupname", n}, {"state", probes::StateBucketName(bucket)}},
                        static_cast<double>(g.states[static_cast<std::size_t>(bucket)]));
          }
        });
        break;
      case CatalogIndex("namedprocess_namegroup_oldest_start_time_seconds"):
        each_group_field(family, &probes::GroupStats::oldest_start_time_unix);
        break;
      case CatalogIndex("namedprocess_namegroup_read_bytes_total"):
        each_group_field(family, &probes::GroupStats::read_bytes);
        break;
      case CatalogIndex("namedprocess_namegroup_write_bytes_total"):
        each_group_field(family, &probes::GroupStats::write_bytes);
        break;
      case CatalogIndex("namedprocess_namegroup_major_page_faults_total"):
        each_group_field(family, &probes::GroupStats::major_faults);
        break;
      case CatalogIndex("namedprocess_namegroup_minor_page_faults_total"):
        each_group_field(family, &probes::GroupStats::minor_faults);
        break;
      case CatalogIndex("namedprocess_namegroup_context_switches_total"):
        each_group([&](Name n, Group g) {
          SampleIfKnown(sink, family, {{"groupname", n}, {"ctxswitchtype", "voluntary"}},
                        g.ctx_voluntary);
          SampleIfKnown(sink, family, {{"groupname", n}, {"ctxswitchtype", "nonvoluntary"}},
                        g.ctx_involuntary);
        });
        break;
      case CatalogIndex("namedprocess_scrape_errors"):
        sink.Sample(family, {}, static_cast<double>(view.scrape_errors_total));
        break;
      case CatalogIndex("namedprocess_scrape_procread_errors"):
        sink.Sample(family, {}, static_cast<double>(view.scrape_procread_errors_total));
        break;
      case CatalogIndex("namedprocess_scrape_partial_errors"):
        sink.Sample(family, {}, static_cast<double>(view.scrape_partial_errors_total));
        break;
      case CatalogIndex("node_processes_pids"):
        if (processes)
          sink.Sample(family, {}, static_cast<double>(view.snapshot->processes.size()));
        break;
      case CatalogIndex("node_processes_threads"):
        if (processes) sink.Sample(family, {}, rows().threads);
        break;
      case CatalogIndex("node_processes_max_processes"):
        if (processes) SampleIfKnown(sink, family, {}, view.snapshot->max_processes);
        break;
      case CatalogIndex("node_processes_max_threads"):
        if (processes) SampleIfKnown(sink, family, {}, view.snapshot->max_threads);
        break;
      case CatalogIndex("node_processes_state"):
        if (!processes) break;
        for (const auto& [letter, count] : rows().states) {
          const char state[2] = {letter, '\0'};
          sink.Sample(family, {{"state", state}}, static_cast<double>(count));
        }
        break;
      case CatalogIndex("fleetps_up"):
        sink.Sample(family, {}, up ? 1 : 0);
        break;
      case CatalogIndex("fleetps_probe_success"):
        sink.Sample(family, {{"probe", kProbeName}},
                    view.last_probe_status == agent::ProbeStatus::kOk ? 1 : 0);
        break;
      case CatalogIndex("fleetps_probe_duration_seconds"):
        sink.Sample(family, {{"probe", kProbeName}}, view.last_probe_duration_seconds);
        break;
      case CatalogIndex("fleetps_probe_failure"):
        for (agent::Errc reason : agent::AllReasons()) {
          const std::string_view name = agent::ReasonName(reason);
          sink.Sample(family, {{"probe", kProbeName}, {"reason", name}},
                      !up && name == active_failure ? 1 : 0);
        }
        break;
      case CatalogIndex("fleetps_probe_last_success_timestamp_seconds"):
        SampleIfKnown(sink, family, {{"probe", kProbeName}}, view.last_success_unix);
        break;
      case CatalogIndex("fleetps_probe_partial"):
        // Every reading of the bounded set, from the first good probe on.
        if (!view.snapshot) break;
        for (std::size_t i = 0; i < probes::kReadingCount; ++i) {
          sink.Sample(family,
                      {{"probe", kProbeName},
                       {"what", probes::ReadingName(static_cast<probes::Reading>(i))}},
                      view.snapshot->not_permitted[i] ? 1 : 0);
        }
        break;
      case CatalogIndex("fleetps_session_up"):
        sink.Sample(family, {}, session_up ? 1 : 0);
        break;
      case CatalogIndex("fleetps_session_connects_total"):
        sink.Sample(family, {}, static_cast<double>(view.connects_total));
        break;
      case CatalogIndex("fleetps_session_disconnects_total"):
        // Every reason of the bounded set from the start, so increase() sees the first one.
        for (agent::Errc reason : agent::AllReasons()) {
          const std::string_view name = agent::ReasonName(reason);
          const auto it = view.disconnects_total.find(name);
          sink.Sample(family, {{"reason", name}},
                      it == view.disconnects_total.end() ? 0 : static_cast<double>(it->second));
        }
        break;
      case CatalogIndex("fleetps_host_state"):
        WalkHostState(sink, DisplayState(view.status, quarantined));
        break;
      case CatalogIndex("node_uname_info"):
        // node_exporter's labels, from the fingerprint: dashboards key their host pickers on
        // `nodename`. release and machine are the fingerprint's (AIX: "7.2", "powerpc").
        if (!status.fingerprint) break;
        sink.Sample(family,
                    {{"sysname", status.fingerprint->os},
                     {"release", status.fingerprint->os_release},
                     {"version", status.fingerprint->kernel_version},
                     {"machine", status.fingerprint->arch},
                     {"nodename", status.fingerprint->nodename}},
                    1);
        break;
      case CatalogIndex("fleetps_host_info"):
        if (!status.fingerprint) break;
        sink.Sample(family,
                    {{"os", status.fingerprint->os},
                     {"os_release", status.fingerprint->os_release},
                     {"arch", status.fingerprint->arch},
                     {"dialect", status.dialect ? probes::DialectName(*status.dialect) : ""}},
                    1);
        break;
      case CatalogIndex("fleetps_ssh_session_info"):
        if (status.server.server_version.empty()) break;
        sink.Sample(family,
                    {{"server_version", status.server.server_version},
                     {"kex", status.server.kex},
                     {"cipher", status.server.cipher},
                     {"hostkey_type", status.server.hostkey_type},
                     {"channel", agent::ChannelModeName(status.channel)}},
                    1);
        break;
      case CatalogIndex("fleetps_ssh_hostkey_mismatch"):
        sink.Sample(family, {}, view.hostkey_mismatch ? 1 : 0);
        break;
      case CatalogIndex("fleetps_namegroup_starts_total"):
        each_group([&](Name n, Group g) {
          sink.Sample(family, {{"groupname", n}}, static_cast<double>(g.starts_total));
        });
        break;
      case CatalogIndex("fleetps_namegroup_listen_sockets"):
        each_group([&](Name n, Group g) {
          for (const auto& [proto, count] : g.listen_sockets) {
            sink.Sample(family, {{"groupname", n}, {"proto", proto}}, static_cast<double>(count));
          }
        });
        break;
      case CatalogIndex("fleetps_namegroup_expected"):
        if (!processes) break;
        for (const std::string& name : view.expected_groups) {
          sink.Sample(family, {{"groupname", name}}, 1);
        }
        break;
      case CatalogIndex("fleetps_namegroups"):
        if (processes) sink.Sample(family, {}, static_cast<double>(groups.size()));
        break;
      case CatalogIndex("fleetps_namegroups_refused_total"):
        sink.Sample(family, {}, static_cast<double>(view.groups_refused_total));
        break;
      case CatalogIndex("fleetps_processes_dropped_total"):
        sink.Sample(family, {}, static_cast<double>(view.processes_dropped_total));
        break;
      case CatalogIndex("fleetps_label_values_truncated_total"):
        sink.Sample(family, {}, static_cast<double>(view.label_values_truncated_total));
        break;
      case CatalogIndex("fleetps_host_events_coalesced_total"):
        sink.Sample(family, {}, static_cast<double>(view.host_events_coalesced_total));
        break;
      case CatalogIndex("fleetps_probe_skipped_total"):
        sink.Sample(family, {}, static_cast<double>(view.skipped_total));
        break;
      case CatalogIndex("fleetps_probe_lines_skipped_total"):
        for (std::size_t i = 0; i < probes::kSkipReasonCount; ++i) {
          sink.Sample(family,
                      {{"probe", kProbeName},
                       {"reason", probes::SkipReasonName(static_cast<probes::SkipReason>(i))}},
                      static_cast<double>(view.lines_skipped_total[i]));
        }
        break;
      default:
        break;  // a family without a case here is never emitted: the unit tests list them all
    }
  }
}

void WalkCollectorSeries(SeriesSink& sink, const SelfMetrics& self, const FleetState& state,
                         const std::vector<std::shared_ptr<const HostView>>& hosts) {
  sink.label_value_bytes = kDefaultLabelValueBytes;
  const HttpConnectionCounts http = HttpConnectionCountsNow();
  for (std::size_t family = kFirstCollectorFamily; family < kMetricCatalog.size(); ++family) {
    switch (family) {
      case CatalogIndex("fleetps_supervisor_restarts_total"):
        sink.Sample(family, {}, static_cast<double>(self.supervisor_restarts));
        break;
      case CatalogIndex("fleetps_bus_dropped_total"):
        sink.Sample(family, {}, static_cast<double>(self.bus_dropped));
        break;
      case CatalogIndex("fleetps_internal_errors_total"):
        // Every site from the start, 0 until it records an error: rate() sees the first one.
        SampleCounts(sink, family, "where", InternalErrorCounts());
        break;
      case CatalogIndex("fleetps_http_auth_failures_total"):
        for (const auto& [reason, count] : self.http_auth_failures) {
          sink.Sample(family, {{"reason", reason}}, static_cast<double>(count));
        }
        break;
      case CatalogIndex("fleetps_config_last_reload_successful"):
        sink.Sample(family, {}, self.config_last_reload_successful ? 1 : 0);
        break;
      case CatalogIndex("fleetps_build_info"):
        sink.Sample(family, {{"version", BuildVersion()}, {"revision", BuildRevision()}}, 1);
        break;
      case CatalogIndex("fleetps_hosts"):
        sink.Sample(family, {}, static_cast<double>(hosts.size()));
        break;
      case CatalogIndex("fleetps_ssh_weak_algorithm_hosts"):
        for (const auto& [key, count] : WeakAlgorithmHosts(hosts)) {
          sink.Sample(family, {{"list", key.first}, {"algorithm", key.second}},
                      static_cast<double>(count));
        }
        break;
      case CatalogIndex("fleetps_handshakes_in_flight"):
        SampleIfKnown(sink, family, {}, self.handshakes_in_flight);
        break;
      case CatalogIndex("fleetps_handshake_limit"):
        SampleIfKnown(sink, family, {}, self.handshake_limit);
        break;
      case CatalogIndex("fleetps_probe_shells_opened_total"):
        SampleCounts(
            sink, family, "kind",
            {{"first", self.shells.opened_first}, {"replacement", self.shells.opened_replacement}});
        break;
      case CatalogIndex("fleetps_probe_shell_fallbacks_total"):
        for (std::size_t i = 0; i < agent::kShellFallbackReasonCount; ++i) {
          sink.Sample(family,
                      {{"reason", agent::ShellFallbackReasonName(
                                      static_cast<agent::ShellFallbackReason>(i))}},
                      static_cast<double>(self.shells.fallbacks[i]));
        }
        break;
      case CatalogIndex("fleetps_probe_shell_stray_bytes_total"):
        sink.Sample(family, {}, static_cast<double>(self.shells.stray_bytes));
        break;
      case CatalogIndex("fleetps_event_loop_lag_seconds"):
        if (self.event_loop_lag) sink.Histogram(family, *self.event_loop_lag, {});
        break;
      case CatalogIndex("fleetps_probe_schedule_delay_seconds"):
        sink.Histogram(family, state.ScheduleDelay().Snapshot(), {});
        break;
      case CatalogIndex("fleetps_scrape_duration_seconds"):
        SampleIfKnown(sink, family, {}, self.last_scrape_duration_seconds);
        break;
      case CatalogIndex("fleetps_http_connections"):
        sink.Sample(family, {}, static_cast<double>(http.open));
        break;
      case CatalogIndex("fleetps_http_max_connections"):
        sink.Sample(family, {}, static_cast<double>(http.limit));
        break;
      case CatalogIndex("fleetps_http_connections_refused_total"):
        SampleCounts(sink, family, "reason", http.refused);
        break;
      case CatalogIndex("fleetps_http_connections_evicted_total"):
        SampleCounts(sink, family, "reason", http.evicted);
        break;
      case CatalogIndex("fleetps_http_connections_timed_out_total"):
        SampleCounts(sink, family, "deadline", http.timed_out);
        break;
      case CatalogIndex("fleetps_api_refused_total"):
        // Every reason from the start, so rate() sees the first refusal.
        for (const auto& [reason, count] :
             {std::pair{"rate_limited_client", self.api_refused.rate_limited_client},
              std::pair{"rate_limited_collector", self.api_refused.rate_limited_collector},
              std::pair{"overloaded", self.api_refused.overloaded}}) {
          sink.Sample(family, {{"reason", reason}}, static_cast<double>(count));
        }
        break;
      case CatalogIndex("fleetps_cluster_members"):
        if (self.cluster) {
          for (const auto& [member_state, count] : self.cluster->members_by_state) {
            sink.Sample(family, {{"cluster", self.cluster->name}, {"state", member_state}},
                        static_cast<double>(count));
          }
        }
        break;
      case CatalogIndex("fleetps_cluster_member_info"):
        if (self.cluster) {
          for (const auto& m : self.cluster->members) {
            sink.Sample(family,
                        {{"cluster", self.cluster->name},
                         {"member", m.name},
                         {"advertise", m.advertise},
                         {"zone", m.zone},
                         {"version", m.version}},
                        1);
          }
        }
        break;
      case CatalogIndex("fleetps_cluster_lease_ttl_seconds"):
      case CatalogIndex("fleetps_cluster_lease_remaining_seconds"):
      case CatalogIndex("fleetps_cluster_fenced"):
      case CatalogIndex("fleetps_cluster_failsafe"):
      case CatalogIndex("fleetps_cluster_inventory_mismatch"):
      case CatalogIndex("fleetps_cluster_revision"):
      case CatalogIndex("fleetps_cluster_expected_members"):
      case CatalogIndex("fleetps_cluster_standby_hosts"):
      case CatalogIndex("fleetps_cluster_probes_fenced_total"):
        if (self.cluster && self.cluster->dynamic) {
          const ClusterSelfMetrics::Dynamic& d = *self.cluster->dynamic;
          const double value =
              family == CatalogIndex("fleetps_cluster_lease_ttl_seconds") ? d.lease_ttl_seconds
              : family == CatalogIndex("fleetps_cluster_lease_remaining_seconds")
                  ? d.lease_remaining_seconds
              : family == CatalogIndex("fleetps_cluster_fenced")   ? (d.fenced ? 1 : 0)
              : family == CatalogIndex("fleetps_cluster_failsafe") ? (d.failsafe ? 1 : 0)
              : family == CatalogIndex("fleetps_cluster_inventory_mismatch")
                  ? (d.inventory_mismatch ? 1 : 0)
              : family == CatalogIndex("fleetps_cluster_revision") ? static_cast<double>(d.revision)
              : family == CatalogIndex("fleetps_cluster_expected_members")
                  ? static_cast<double>(d.expected_members)
              : family == CatalogIndex("fleetps_cluster_standby_hosts")
                  ? static_cast<double>(d.standby_hosts)
                  : static_cast<double>(d.probes_fenced);
          sink.Sample(family, {{"cluster", self.cluster->name}}, value);
        }
        break;
      case CatalogIndex("fleetps_cluster_peer_errors_total"):
        if (self.cluster && self.cluster->dynamic) {
          for (const auto& [reason, count] : self.cluster->dynamic->peer_errors) {
            sink.Sample(family, {{"cluster", self.cluster->name}, {"reason", reason}},
                        static_cast<double>(count));
          }
        }
        break;
      case CatalogIndex("fleetps_cluster_handovers_total"):
        if (self.cluster && self.cluster->dynamic) {
          for (const auto& h : self.cluster->dynamic->handovers) {
            sink.Sample(
                family,
                {{"cluster", self.cluster->name}, {"direction", h.direction}, {"reason", h.reason}},
                static_cast<double>(h.count));
          }
        }
        break;
      case CatalogIndex("fleetps_cluster_handover_seconds"):
        if (self.cluster && self.cluster->dynamic) {
          for (const auto& [reason, histogram] : self.cluster->dynamic->handover_seconds) {
            sink.Histogram(family, histogram,
                           {{"cluster", self.cluster->name}, {"reason", reason}});
          }
        }
        break;
      case CatalogIndex("fleetps_cluster_coordination_requests_total"):
        if (self.cluster && self.cluster->dynamic) {
          for (const auto& r : self.cluster->dynamic->coordination_requests) {
            sink.Sample(family,
                        {{"cluster", self.cluster->name}, {"op", r.op}, {"result", r.result}},
                        static_cast<double>(r.count));
          }
        }
        break;
      case CatalogIndex("fleetps_cluster_owned_hosts"):
      case CatalogIndex("fleetps_cluster_owned_buckets"):
      case CatalogIndex("fleetps_cluster_desired_hosts"):
      case CatalogIndex("fleetps_cluster_orphaned_hosts"):
        if (self.cluster) {
          const ClusterSelfMetrics& c = *self.cluster;
          const std::uint64_t value =
              family == CatalogIndex("fleetps_cluster_owned_hosts")     ? c.owned_hosts
              : family == CatalogIndex("fleetps_cluster_owned_buckets") ? c.owned_buckets
              : family == CatalogIndex("fleetps_cluster_desired_hosts") ? c.desired_hosts
                                                                        : c.orphaned_hosts;
          sink.Sample(family, {{"cluster", c.name}}, static_cast<double>(value));
        }
        break;
      default:
        if (!self.process) break;
        const ProcessStats& p = *self.process;
        switch (family) {
          case CatalogIndex("process_cpu_seconds_total"):
            sink.Sample(family, {}, p.cpu_seconds);
            break;
          case CatalogIndex("process_resident_memory_bytes"):
            sink.Sample(family, {}, p.resident_bytes);
            break;
          case CatalogIndex("process_virtual_memory_bytes"):
            sink.Sample(family, {}, p.virtual_bytes);
            break;
          case CatalogIndex("process_open_fds"):
            sink.Sample(family, {}, p.open_fds);
            break;
          case CatalogIndex("process_max_fds"):
            sink.Sample(family, {}, p.max_fds);
            break;
          case CatalogIndex("process_start_time_seconds"):
            sink.Sample(family, {}, p.start_time_seconds);
            break;
          default:
            break;
        }
    }
  }
}

}  // namespace fleetps::collector
