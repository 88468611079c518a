#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/system/result.hpp>

#include "fleetps/agent/host_agent.hpp"
#include "fleetps/collector/fleet/metric_catalog.hpp"
#include "fleetps/collector/query/query.hpp"
#include "fleetps/collector/query/selector.hpp"
#include "fleetps/collector/telemetry/histogram.hpp"
#include "fleetps/config/inventory.hpp"
#include "fleetps/probes/grouping.hpp"

namespace fleetps::collector {

/// Bytes of a label value in the exposition unless `collector.max_label_value_bytes` says
/// otherwise (BoundedLabelSafe).
inline constexpr std::size_t kDefaultLabelValueBytes = 256;
/// Process rows kept per probe unless `collector.max_processes_per_host` says otherwise.
inline constexpr std::size_t kDefaultMaxProcessesPerHost = 50'000;

/// A fixed-name group that must exist on the hosts a host selector matches (`expect:`).
struct GroupExpectation {
  std::string group;
  Selector hosts;  ///< Over `host` and `label.NAME` only (ParseHostSelector).
};

/// How processes become groups on every host (DESIGN.md §6): the compiled `process_names`,
/// which fixed-name groups are expected where, and the bounds on the others.
struct GroupingRules {
  explicit GroupingRules(probes::Grouper compiled, std::vector<std::string> fixed = {},
                         std::vector<GroupExpectation> expected = {})
      : grouper(std::move(compiled)),
        fixed_names(std::make_shared<const probes::GroupNameSet>(fixed.begin(), fixed.end())),
        expectations(std::move(expected)) {}

  probes::Grouper grouper;
  /// Name templates without `{{`; one set shared by every host's lifecycle.
  std::shared_ptr<const probes::GroupNameSet> fixed_names;
  std::vector<GroupExpectation> expectations;
  std::chrono::milliseconds retention{std::chrono::hours(1)};
  std::size_t max_groups_per_host = 1000;
  /// Rows of one probe kept: the lowest pids (ApplyRowBound).
  std::size_t max_processes_per_host = kDefaultMaxProcessesPerHost;
  /// Bytes of a label value in this fleet's host series (BoundedLabelSafe).
  std::size_t max_label_value_bytes = kDefaultLabelValueBytes;

  /// The lifecycle of one host's groups: `expected` from the expectations that match it.
  [[nodiscard]] probes::GroupLifecycle LifecycleFor(const config::HostSpec& spec) const;
};

/// GroupingRules from a valid inventory; the errors of the process_names patterns or `expect:`
/// selectors that do not compile ("process_names[2]: ...").
[[nodiscard]] boost::system::result<GroupingRules, std::vector<std::string>> MakeGroupingRules(
    const config::Inventory& inventory);

/// The one shared empty grouping: a HostView's groups before its first good probe.
[[nodiscard]] const std::shared_ptr<const probes::GroupSnapshot>& NoGroups();

/// One state change of a host as FleetState saw it (after StatusThrottle's coalescing).
struct StateChange {
  std::chrono::system_clock::time_point at;  ///< When the new state was entered (`since`).
  /// The state before; absent for the host's first status (it was "connecting").
  std::optional<agent::HostState> from;
  bool from_hostkey_changed = false;  ///< HostView::hostkey_mismatch before the change.
  agent::HostState to = agent::HostState::kConnecting;
  bool to_hostkey_changed = false;  ///< HostView::hostkey_mismatch after the change.
  /// The agent's last failure then (agent::ReasonName); empty for a change to ready.
  boost::system::error_code reason;
  /// The agent's detail then, LabelSafe and at most kStateChangeDetailBytes (it can hold
  /// server text); empty for a change to ready.
  std::string detail;
  std::uint64_t epoch = 0;  ///< HostView::connects_total after the change.
};

/// State changes kept per host: the newest; the oldest is dropped.
inline constexpr std::size_t kStateHistoryEntries = 20;
/// Bytes of a StateChange's detail (BoundedLabelSafe).
inline constexpr std::size_t kStateChangeDetailBytes = 512;

/// A host's recent state changes, oldest first, at most kStateHistoryEntries. Memory per host:
/// at most 20 × (sizeof(StateChange) + 512 bytes of detail), about 12 KiB, and nothing for a
/// host whose state never changed. A new one is made only on a state change, never per probe.
using StateHistory = std::vector<StateChange>;

/// The one shared empty history: a HostView's before its first status.
[[nodiscard]] const std::shared_ptr<const StateHistory>& NoStateChanges();

/// Everything the exposition and the API know about one host, as of the last event. Immutable
/// once published: readers hold a shared_ptr while they render, writers replace it.
struct HostView {
  config::HostSpec spec;
  std::optional<agent::HostStatus> status;  ///< Absent until the agent's first status.
  /// Sessions established to this host since the collector started, across agent restarts and
  /// reloads: the host's session epoch as users see it (API, web UI, metrics).
  std::uint64_t connects_total = 0;
  std::map<std::string, std::uint64_t, std::less<>> disconnects_total;  ///< By reason name.
  bool hostkey_mismatch = false;
  std::uint64_t agent_generation = 0;  ///< Of the agent whose events this view reflects.

  std::uint64_t probes_total = 0;
  std::uint64_t skipped_total = 0;
  /// Output lines of good probes that became no row or socket, by probes::SkipReason.
  std::array<std::uint64_t, probes::kSkipReasonCount> lines_skipped_total{};
  /// process-exporter's namedprocess_scrape_* counters, for this host: probes that ran on a
  /// ready session and gave no table; processes a good probe listed but could not read;
  /// processes it read with a reading missing (probes::ParseStats).
  std::uint64_t scrape_errors_total = 0;
  std::uint64_t scrape_procread_errors_total = 0;
  std::uint64_t scrape_partial_errors_total = 0;
  std::optional<agent::ProbeStatus> last_probe_status;  ///< Of the last probe that ran.
  std::string last_probe_failure;                       ///< Reason name; empty after success.
  std::chrono::system_clock::time_point last_probe_finished{};
  double last_probe_duration_seconds = 0;
  std::optional<double> last_success_unix;
  /// Groups refused on this host by collector.max_groups_per_host, summed over probes.
  std::uint64_t groups_refused_total = 0;
  /// Process rows of good probes left out by collector.max_processes_per_host, summed.
  std::uint64_t processes_dropped_total = 0;
  /// Group names of good probes longer than collector.max_label_value_bytes as label values
  /// (cut where the exposition writes them), counted per probe.
  std::uint64_t label_values_truncated_total = 0;
  /// Status events of this host coalesced by collector.max_host_events_per_minute, summed.
  std::uint64_t host_events_coalesced_total = 0;
  /// The label value bound in force when this view was made (the sinks cut with it).
  std::size_t label_value_bytes = kDefaultLabelValueBytes;

  std::shared_ptr<const probes::HostSnapshot> snapshot;   ///< Last good process table.
  std::chrono::system_clock::time_point snapshot_time{};  ///< When `snapshot` finished.
  /// The CPU of each process of the good table before `snapshot`, for rates (not the table).
  std::shared_ptr<const CpuSamples> previous_cpu;
  std::chrono::system_clock::time_point previous_snapshot_time{};
  /// The host's groups (GroupLifecycle: seen, expected, retained) with counters that never go
  /// backwards. Empty until the first good probe; never null. Shared and immutable, so the view
  /// copy every status or result event makes does not copy them.
  std::shared_ptr<const probes::GroupSnapshot> groups = NoGroups();
  /// The host's recent state changes (StateHistory), kept across reloads. Shared and immutable,
  /// so the view copy every event makes does not copy it; never null.
  std::shared_ptr<const StateHistory> state_changes = NoStateChanges();
  /// The `expect:` groups of this host, in name order (fleetps_namegroup_expected).
  std::vector<std::string> expected_groups;

  /// The last probe succeeded and the session is up.
  [[nodiscard]] bool Up() const noexcept;
};

/// The collector's view of the fleet: one HostView per configured host, updated from agent
/// events and read at scrape and query time. Thread-safe; readers never block writers for
/// longer than a map copy of pointers.
class FleetState {
 public:
  explicit FleetState(GroupingRules rules);

  /// Makes the host set equal to `hosts`: adds new ones, drops removed ones (their series
  /// vanish), replaces specs of changed ones.
  void SetHosts(const std::vector<config::HostSpec>& hosts);
  /// Swaps the grouping rules; every host's group counters restart from its next probe.
  void SetGrouping(GroupingRules rules);

  /// Applies an agent event. `agent_generation` grows with every agent the collector starts
  /// (a reload or a crash restart replaces the agent): events of an older agent than the last
  /// one seen for the host are ignored, and a newer agent's epoch counts from 0.
  /// `coalesced`: earlier statuses this one replaced (StatusThrottle), counted in the view.
  void OnStatus(const agent::HostStatus& status, std::uint64_t agent_generation = 0,
                std::uint64_t coalesced = 0);
  void OnResult(const agent::ProbeResult& result, std::uint64_t agent_generation = 0);

  /// In inventory order.
  [[nodiscard]] std::vector<std::shared_ptr<const HostView>> Hosts() const;
  [[nodiscard]] std::shared_ptr<const HostView> Host(std::string_view name) const;

  /// Groups a snapshot that did not come through OnResult (a fresh ad hoc probe).
  [[nodiscard]] probes::GroupSnapshot GroupOnce(const probes::HostSnapshot& snapshot) const;

  /// Actual minus planned start of every scheduled probe result applied (ad hoc results and
  /// skipped ticks excluded): fleetps_probe_schedule_delay_seconds. Thread-safe.
  [[nodiscard]] const Histogram& ScheduleDelay() const noexcept { return schedule_delay_; }

 private:
  struct Entry {
    std::shared_ptr<const HostView> view;
    probes::GroupTracker tracker;
    probes::GroupLifecycle lifecycle;
  };
  mutable std::mutex mu_;
  GroupingRules rules_;                              // guarded by mu_
  std::vector<std::string> order_;                   // guarded by mu_
  std::map<std::string, Entry, std::less<>> hosts_;  // guarded by mu_
  Histogram schedule_delay_{ScheduleDelayBuckets()};

  // Makes `view` the host's current view. Caller holds mu_.
  void Publish(Entry& entry, std::shared_ptr<HostView> view);
};

/// The state a person sees for a host, in metrics, the API, the web UI and the CLI:
/// "quarantined" while the supervisor holds its agent back, else the agent's state, or
/// "connecting" before the agent's first status.
[[nodiscard]] std::string_view DisplayState(const std::optional<agent::HostStatus>& status,
                                            bool quarantined) noexcept;

/// Why a host is not up (HostView::Up() false), as the word the API, /probe and the CLI show:
/// the last probe's failure, else the agent's last failure, else "no probe yet" on a ready
/// session, else the agent's state ("connecting" before its first status).
[[nodiscard]] std::string DownReason(const HostView& view);

/// config → probes conversion (probes must not depend on config).
[[nodiscard]] std::vector<probes::MatcherSpec> ToMatcherSpecs(
    const std::vector<config::ProcessNameMatcher>& matchers);

}  // namespace fleetps::collector
