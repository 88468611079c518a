#pragma once

#include <array>
#include <cstddef>
#include <string_view>

namespace fleetps::collector {

enum class MetricType { kGauge, kCounter, kInfo, kHistogram };

/// One metric family fleetps exposes (DESIGN.md section 7). The exposition emits only names from
/// this list, and the dashboard lint checks every PromQL reference against it.
struct MetricDescriptor {
  std::string_view name;
  MetricType type;
  std::string_view help;
};

inline constexpr std::array kMetricCatalog = {
    // Process groups, process-exporter's names verbatim.
    MetricDescriptor{"namedprocess_namegroup_num_procs", MetricType::kGauge,
                     "Number of processes in this group"},
    MetricDescriptor{"namedprocess_namegroup_cpu_seconds_total", MetricType::kCounter,
                     "CPU time consumed by the group, by mode"},
    MetricDescriptor{"namedprocess_namegroup_memory_bytes", MetricType::kGauge,
                     "Memory of the group, by memtype"},
    MetricDescriptor{"namedprocess_namegroup_open_filedesc", MetricType::kGauge,
                     "Open file descriptors of the group"},
    MetricDescriptor{"namedprocess_namegroup_worst_fd_ratio", MetricType::kGauge,
                     "Highest open-fds / fd-limit ratio in the group"},
    MetricDescriptor{"namedprocess_namegroup_num_threads", MetricType::kGauge,
                     "Threads in the group"},
    MetricDescriptor{"namedprocess_namegroup_states", MetricType::kGauge,
                     "Processes of the group by state"},
    MetricDescriptor{"namedprocess_namegroup_oldest_start_time_seconds", MetricType::kGauge,
                     "Start time of the oldest process of the group"},
    MetricDescriptor{"namedprocess_namegroup_read_bytes_total", MetricType::kCounter,
                     "Bytes read by the group"},
    MetricDescriptor{"namedprocess_namegroup_write_bytes_total", MetricType::kCounter,
                     "Bytes written by the group"},
    MetricDescriptor{"namedprocess_namegroup_major_page_faults_total", MetricType::kCounter,
                     "Major page faults of the group"},
    MetricDescriptor{"namedprocess_namegroup_minor_page_faults_total", MetricType::kCounter,
                     "Minor page faults of the group"},
    MetricDescriptor{"namedprocess_namegroup_context_switches_total", MetricType::kCounter,
                     "Context switches of the group, by ctxswitchtype"},
    MetricDescriptor{"namedprocess_scrape_errors", MetricType::kCounter,
                     "general scrape errors: no proc metrics collected during a cycle"},
    MetricDescriptor{"namedprocess_scrape_procread_errors", MetricType::kCounter,
                     "incremented each time a proc's metrics collection fails"},
    MetricDescriptor{"namedprocess_scrape_partial_errors", MetricType::kCounter,
                     "incremented each time a tracked proc's metrics collection fails partially, "
                     "e.g. unreadable I/O stats"},
    // Host totals, node_exporter's names.
    MetricDescriptor{"node_processes_pids", MetricType::kGauge, "Number of processes on the host"},
    MetricDescriptor{"node_processes_threads", MetricType::kGauge, "Number of threads on the host"},
    MetricDescriptor{"node_processes_max_processes", MetricType::kGauge,
                     "Number of max PIDs limit"},
    MetricDescriptor{"node_processes_max_threads", MetricType::kGauge,
                     "Limit of threads in the system"},
    MetricDescriptor{"node_processes_state", MetricType::kGauge, "Processes on the host by state"},
    MetricDescriptor{"node_uname_info", MetricType::kGauge,
                     "Labeled system information as provided by the uname system call"},
    // fleetps' own.
    MetricDescriptor{"fleetps_up", MetricType::kGauge,
                     "1 when the last probe of the host succeeded"},
    MetricDescriptor{"fleetps_probe_success", MetricType::kGauge,
                     "1 when the last probe of this kind succeeded"},
    MetricDescriptor{"fleetps_probe_duration_seconds", MetricType::kGauge,
                     "Duration of the last probe"},
    MetricDescriptor{"fleetps_probe_failure", MetricType::kGauge,
                     "1 on the reason of the last failed probe, 0 on every other reason"},
    MetricDescriptor{"fleetps_probe_last_success_timestamp_seconds", MetricType::kGauge,
                     "Time of the last successful probe"},
    MetricDescriptor{"fleetps_probe_partial", MetricType::kGauge,
                     "1 when the last good probe was not permitted to read this for some "
                     "processes (privilege: none, or sudo refused)"},
    MetricDescriptor{"fleetps_session_up", MetricType::kGauge,
                     "1 when the SSH session to the host is established"},
    MetricDescriptor{"fleetps_session_connects_total", MetricType::kCounter,
                     "SSH sessions established to the host"},
    MetricDescriptor{"fleetps_session_disconnects_total", MetricType::kCounter,
                     "SSH sessions lost, by reason"},
    MetricDescriptor{"fleetps_host_state", MetricType::kGauge,
                     "1 on the host agent's current state"},
    MetricDescriptor{"fleetps_host_info", MetricType::kInfo,
                     "Operating system and dialect of the host"},
    MetricDescriptor{"fleetps_ssh_session_info", MetricType::kInfo, "Negotiated SSH parameters"},
    MetricDescriptor{"fleetps_ssh_hostkey_mismatch", MetricType::kGauge,
                     "1 when the host presented a key different from the recorded one"},
    MetricDescriptor{"fleetps_namegroup_starts_total", MetricType::kCounter,
                     "Processes that started in the group"},
    MetricDescriptor{"fleetps_namegroup_listen_sockets", MetricType::kGauge,
                     "Listening sockets of the group, by protocol"},
    MetricDescriptor{"fleetps_namegroup_expected", MetricType::kGauge,
                     "1 for each group an expect: selector requires on the host"},
    MetricDescriptor{"fleetps_namegroups", MetricType::kGauge,
                     "Process groups the host shows (seen, expected or retained)"},
    MetricDescriptor{"fleetps_namegroups_refused_total", MetricType::kCounter,
                     "Groups with processes left out because the host had max_groups_per_host, "
                     "counted per probe"},
    MetricDescriptor{"fleetps_processes_dropped_total", MetricType::kCounter,
                     "Process rows of good probes left out because the host listed more than "
                     "max_processes_per_host (the highest pids go)"},
    MetricDescriptor{"fleetps_label_values_truncated_total", MetricType::kCounter,
                     "Group names longer than max_label_value_bytes as label values, cut where "
                     "the exposition writes them, counted per probe"},
    MetricDescriptor{"fleetps_host_events_coalesced_total", MetricType::kCounter,
                     "Status events of the host not published because it was over "
                     "max_host_events_per_minute (a later status replaced them)"},
    MetricDescriptor{"fleetps_probe_skipped_total", MetricType::kCounter,
                     "Ticks skipped because the previous probe was still running"},
    MetricDescriptor{"fleetps_probe_lines_skipped_total", MetricType::kCounter,
                     "Lines of probe output that became no process or socket, by reason (a format "
                     "the parsers do not know)"},
    // The collector itself (/metrics only): everything from here to the end.
    MetricDescriptor{"fleetps_supervisor_restarts_total", MetricType::kCounter,
                     "Host agents restarted after a crash"},
    MetricDescriptor{"fleetps_bus_dropped_total", MetricType::kCounter,
                     "Bus messages dropped because a subscriber's queue was full"},
    MetricDescriptor{"fleetps_internal_errors_total", MetricType::kCounter,
                     "Errors the collector caught and could hand to no caller (logged as "
                     "event=internal_error), by where they happened"},
    MetricDescriptor{"fleetps_http_auth_failures_total", MetricType::kCounter,
                     "Requests refused by basic auth and failed TLS handshakes on the HTTP port, "
                     "by reason"},
    MetricDescriptor{"fleetps_config_last_reload_successful", MetricType::kGauge,
                     "1 when the last configuration load succeeded"},
    MetricDescriptor{"fleetps_build_info", MetricType::kInfo, "Version and revision of this build"},
    MetricDescriptor{"fleetps_hosts", MetricType::kGauge, "Hosts in the loaded inventory"},
    MetricDescriptor{"fleetps_ssh_weak_algorithm_hosts", MetricType::kGauge,
                     "Hosts that need a weak SSH algorithm (in use, or the only match a failed "
                     "negotiation found), by list and algorithm"},
    MetricDescriptor{"fleetps_handshakes_in_flight", MetricType::kGauge,
                     "SSH handshakes holding a slot of the collector-wide limit"},
    MetricDescriptor{
        "fleetps_handshake_limit", MetricType::kGauge,
        "Collector-wide limit on concurrent SSH handshakes (max_concurrent_handshakes)"},
    MetricDescriptor{"fleetps_probe_shells_opened_total", MetricType::kCounter,
                     "Persistent probe shells opened, by kind: the first of an SSH session, or "
                     "a replacement for one that ended or was closed"},
    MetricDescriptor{"fleetps_probe_shell_fallbacks_total", MetricType::kCounter,
                     "Hosts that probe_channel auto switched from the persistent shell to exec "
                     "channels, by reason"},
    MetricDescriptor{"fleetps_probe_shell_stray_bytes_total", MetricType::kCounter,
                     "Bytes found on persistent probe shells outside any run, dropped"},
    MetricDescriptor{"fleetps_event_loop_lag_seconds", MetricType::kHistogram,
                     "How late a 100 ms timer on the collector's event loop fired"},
    MetricDescriptor{"fleetps_probe_schedule_delay_seconds", MetricType::kHistogram,
                     "Actual minus planned start of scheduled probes"},
    MetricDescriptor{"fleetps_scrape_duration_seconds", MetricType::kGauge,
                     "Time spent rendering the previous /metrics response"},
    MetricDescriptor{"fleetps_http_connections", MetricType::kGauge,
                     "HTTP connections the collector holds"},
    MetricDescriptor{"fleetps_http_max_connections", MetricType::kGauge,
                     "Limit on HTTP connections held at once (collector.http.max_connections)"},
    MetricDescriptor{"fleetps_http_connections_refused_total", MetricType::kCounter,
                     "New HTTP connections answered 503 and closed, by reason"},
    MetricDescriptor{"fleetps_http_connections_evicted_total", MetricType::kCounter,
                     "HTTP connections closed to admit a new one at max_connections, by what "
                     "they were doing"},
    MetricDescriptor{"fleetps_http_connections_timed_out_total", MetricType::kCounter,
                     "HTTP connections closed at a deadline, by deadline"},
    MetricDescriptor{"fleetps_api_refused_total", MetricType::kCounter,
                     "API requests refused before any work: 429 over an ad hoc budget (per "
                     "client or collector-wide), 503 with too many requests in progress"},
    // Cluster self-metrics (scale-out.md section 7.4), `cluster` label; absent when not clustered.
    MetricDescriptor{"fleetps_cluster_members", MetricType::kGauge,
                     "Members this member sees, by state"},
    MetricDescriptor{"fleetps_cluster_member_info", MetricType::kGauge,
                     "One series per visible member, value 1"},
    MetricDescriptor{"fleetps_cluster_owned_hosts", MetricType::kGauge,
                     "Inventory hosts this member owns and probes"},
    MetricDescriptor{"fleetps_cluster_owned_buckets", MetricType::kGauge,
                     "Buckets this member owns"},
    MetricDescriptor{"fleetps_cluster_standby_hosts", MetricType::kGauge,
                     "Hosts this member keeps warm sessions to as standby"},
    MetricDescriptor{"fleetps_cluster_desired_hosts", MetricType::kGauge,
                     "Hosts the assignment says this member should own"},
    MetricDescriptor{"fleetps_cluster_orphaned_hosts", MetricType::kGauge,
                     "Inventory hosts in buckets no member claims, as seen here"},
    MetricDescriptor{"fleetps_cluster_lease_ttl_seconds", MetricType::kGauge,
                     "TTL of this member's etcd lease"},
    MetricDescriptor{"fleetps_cluster_lease_remaining_seconds", MetricType::kGauge,
                     "Time left on this member's etcd lease since its last renewal"},
    MetricDescriptor{"fleetps_cluster_fenced", MetricType::kGauge,
                     "1 while this member has fenced itself off (lease not renewed in time)"},
    MetricDescriptor{"fleetps_cluster_failsafe", MetricType::kGauge,
                     "1 while etcd is down for every member and this one keeps its buckets"},
    MetricDescriptor{"fleetps_cluster_inventory_mismatch", MetricType::kGauge,
                     "1 while this member's inventory differs from the majority's (viewer)"},
    MetricDescriptor{"fleetps_cluster_handovers_total", MetricType::kCounter,
                     "Buckets moved to or from this member, by direction and reason"},
    MetricDescriptor{"fleetps_cluster_handover_seconds", MetricType::kHistogram,
                     "From claiming a bucket to the first successful probe of its hosts"},
    MetricDescriptor{"fleetps_cluster_coordination_requests_total", MetricType::kCounter,
                     "Requests to the coordination store, by operation and result"},
    MetricDescriptor{"fleetps_cluster_revision", MetricType::kGauge,
                     "Last etcd revision this member applied"},
    MetricDescriptor{"fleetps_cluster_expected_members", MetricType::kGauge,
                     "cluster.min_members, for alerting"},
    MetricDescriptor{"fleetps_cluster_probes_fenced_total", MetricType::kCounter,
                     "Probes not sent because this member was fenced (not a failure of the host)"},
    MetricDescriptor{"fleetps_cluster_peer_errors_total", MetricType::kCounter,
                     "Failed failsafe questions to a peer, by reason (auth = 401/403)"},
    // The collector process, the standard Prometheus process collector's names (/proc/self).
    MetricDescriptor{"process_cpu_seconds_total", MetricType::kCounter,
                     "Total user and system CPU time spent in seconds"},
    MetricDescriptor{"process_resident_memory_bytes", MetricType::kGauge,
                     "Resident memory size in bytes"},
    MetricDescriptor{"process_virtual_memory_bytes", MetricType::kGauge,
                     "Virtual memory size in bytes"},
    MetricDescriptor{"process_open_fds", MetricType::kGauge, "Number of open file descriptors"},
    MetricDescriptor{"process_max_fds", MetricType::kGauge,
                     "Maximum number of open file descriptors"},
    MetricDescriptor{"process_start_time_seconds", MetricType::kGauge,
                     "Start time of the process since unix epoch in seconds"},
};

/// Index of `name` in kMetricCatalog; a compile error for a name not in it.
consteval std::size_t CatalogIndex(std::string_view name) {
  for (std::size_t i = 0; i < kMetricCatalog.size(); ++i) {
    if (kMetricCatalog[i].name == name) return i;
  }
  throw "metric not in kMetricCatalog";
}

/// Families before this index are per host (they carry `host` on /metrics and make up
/// /probe); from it on they describe the collector itself.
inline constexpr std::size_t kFirstCollectorFamily =
    CatalogIndex("fleetps_supervisor_restarts_total");

}  // namespace fleetps::collector
