#include "fleetps/collector/fleet/fleet_state.hpp"

#include <algorithm>
#include <utility>

#include "fleetps/collector/query/text.hpp"

namespace fleetps::collector {
namespace {

double UnixSeconds(std::chrono::system_clock::time_point t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

bool SessionUp(agent::HostState state) {
  return state == agent::HostState::kReady || state == agent::HostState::kFingerprinting;
}

// `snapshot` with at most `max_rows` processes: the lowest pids. System services start early
// and keep low pids while a fork storm makes new high ones, and the same rule on every probe
// keeps the same processes (and so the same groups and counters) from one probe to the next.
std::shared_ptr<const probes::HostSnapshot> BoundRows(
    std::shared_ptr<const probes::HostSnapshot> snapshot, std::size_t max_rows,
    std::uint64_t& dropped) {
  if (snapshot->processes.size() <= max_rows) return snapshot;
  auto bounded = std::make_shared<probes::HostSnapshot>(*snapshot);
  auto& rows = bounded->processes;
  auto by_pid = [](const probes::ProcessRow& a, const probes::ProcessRow& b) {
    return a.pid < b.pid;
  };
  if (!std::is_sorted(rows.begin(), rows.end(), by_pid))
    std::sort(rows.begin(), rows.end(), by_pid);
  dropped += rows.size() - max_rows;
  rows.erase(rows.begin() + static_cast<std::ptrdiff_t>(max_rows), rows.end());
  return bounded;
}

// Whether `status` changes what a person sees of the host's state: its state, or the reason of
// a failure while in the same state (backoff after a timeout, then after a refusal). Before
// its first status a host shows as connecting, without a reason.
bool ChangesState(const HostView& before, const agent::HostStatus& status) {
  if (!before.status) {
    return status.state != agent::HostState::kConnecting || status.last_reason;
  }
  return before.status->state != status.state || before.status->last_reason != status.last_reason;
}

// `history` with `change` appended and the oldest dropped past kStateHistoryEntries.
std::shared_ptr<const StateHistory> Appended(const StateHistory& history, StateChange change) {
  auto next = std::make_shared<StateHistory>();
  const std::size_t kept = std::min(history.size(), kStateHistoryEntries - 1);
  next->reserve(kept + 1);
  next->assign(history.end() - static_cast<std::ptrdiff_t>(kept), history.end());
  next->push_back(std::move(change));
  return next;
}

}  // namespace

const std::shared_ptr<const StateHistory>& NoStateChanges() {
  static const auto none = std::make_shared<const StateHistory>();
  return none;
}

const std::shared_ptr<const probes::GroupSnapshot>& NoGroups() {
  static const auto none = std::make_shared<const probes::GroupSnapshot>();
  return none;
}

bool HostView::Up() const noexcept {
  return status && status->state == agent::HostState::kReady &&
         last_probe_status == agent::ProbeStatus::kOk;
}

std::string_view DisplayState(const std::optional<agent::HostStatus>& status,
                              bool quarantined) noexcept {
  if (quarantined) return "quarantined";
  return status ? agent::StateName(status->state) : "connecting";
}

std::string DownReason(const HostView& view) {
  if (!view.last_probe_failure.empty()) return view.last_probe_failure;
  if (!view.status) return "connecting";
  if (const auto reason = agent::ReasonName(view.status->last_reason); !reason.empty()) {
    return std::string(reason);
  }
  if (view.status->state == agent::HostState::kReady) return "no probe yet";
  return std::string(agent::StateName(view.status->state));
}

probes::GroupLifecycle GroupingRules::LifecycleFor(const config::HostSpec& spec) const {
  probes::GroupLifecycle lifecycle;
  lifecycle.fixed = fixed_names;
  lifecycle.retention = retention;
  lifecycle.max_groups = max_groups_per_host;
  QueryRow host;
  host.host = spec.name;
  host.labels = &spec.labels;
  for (const GroupExpectation& expectation : expectations) {
    if (expectation.hosts.Matches(host)) lifecycle.expected.insert(expectation.group);
  }
  return lifecycle;
}

boost::system::result<GroupingRules, std::vector<std::string>> MakeGroupingRules(
    const config::Inventory& inventory) {
  const auto& matchers = inventory.process_names;
  auto compiled = probes::Grouper::Compile(ToMatcherSpecs(matchers));
  std::vector<std::string> errors = std::move(compiled.errors);
  std::vector<std::string> fixed;
  std::vector<GroupExpectation> expectations;
  for (std::size_t i = 0; i < matchers.size(); ++i) {
    const config::ProcessNameMatcher& m = matchers[i];
    if (m.name_template.find("{{") != std::string::npos) continue;
    fixed.push_back(m.name_template);
    if (m.expect.empty()) continue;
    auto hosts = ParseHostSelector(m.expect);
    if (!hosts) {
      errors.push_back("process_names[" + std::to_string(i) +
                       "]: expect: " + hosts.error().ToString());
      continue;
    }
    expectations.push_back(GroupExpectation{m.name_template, std::move(*hosts)});
  }
  if (!errors.empty()) return errors;
  GroupingRules rules(std::move(*compiled.grouper), std::move(fixed), std::move(expectations));
  rules.retention = inventory.collector.group_retention;
  rules.max_groups_per_host = inventory.collector.max_groups_per_host;
  rules.max_processes_per_host = inventory.collector.max_processes_per_host;
  rules.max_label_value_bytes = inventory.collector.max_label_value_bytes;
  return rules;
}

FleetState::FleetState(GroupingRules rules) : rules_(std::move(rules)) {}

void FleetState::SetHosts(const std::vector<config::HostSpec>& hosts) {
  std::lock_guard lock(mu_);
  std::map<std::string, Entry, std::less<>> next;
  order_.clear();
  for (const config::HostSpec& spec : hosts) {
    order_.push_back(spec.name);
    auto it = hosts_.find(spec.name);
    if (it != hosts_.end() && it->second.view->spec == spec) {
      next.emplace(spec.name, std::move(it->second));
      continue;
    }
    auto view = std::make_shared<HostView>();
    view->spec = spec;
    if (it != hosts_.end()) {
      // A changed host gets a new agent; its counters carry on so they never go backwards.
      view->connects_total = it->second.view->connects_total;
      view->disconnects_total = it->second.view->disconnects_total;
      view->probes_total = it->second.view->probes_total;
      view->skipped_total = it->second.view->skipped_total;
      view->lines_skipped_total = it->second.view->lines_skipped_total;
      view->groups_refused_total = it->second.view->groups_refused_total;
      view->processes_dropped_total = it->second.view->processes_dropped_total;
      view->label_values_truncated_total = it->second.view->label_values_truncated_total;
      view->host_events_coalesced_total = it->second.view->host_events_coalesced_total;
      view->scrape_errors_total = it->second.view->scrape_errors_total;
      view->scrape_procread_errors_total = it->second.view->scrape_procread_errors_total;
      view->scrape_partial_errors_total = it->second.view->scrape_partial_errors_total;
      view->state_changes = it->second.view->state_changes;
    }
    Entry& entry =
        next.emplace(spec.name, Entry{nullptr, probes::GroupTracker{}, rules_.LifecycleFor(spec)})
            .first->second;
    view->expected_groups.assign(entry.lifecycle.expected.begin(), entry.lifecycle.expected.end());
    Publish(entry, std::move(view));
  }
  hosts_ = std::move(next);
}

void FleetState::SetGrouping(GroupingRules rules) {
  std::lock_guard lock(mu_);
  rules_ = std::move(rules);
  // Counters restart from the next probe: group membership changed meaning.
  for (auto& [name, entry] : hosts_) {
    entry.tracker = probes::GroupTracker{};
    entry.lifecycle = rules_.LifecycleFor(entry.view->spec);
    auto view = std::make_shared<HostView>(*entry.view);
    view->groups = NoGroups();
    view->expected_groups.assign(entry.lifecycle.expected.begin(), entry.lifecycle.expected.end());
    Publish(entry, std::move(view));
  }
}

void FleetState::OnStatus(const agent::HostStatus& status, std::uint64_t agent_generation,
                          std::uint64_t coalesced) {
  std::lock_guard lock(mu_);
  auto it = hosts_.find(status.host);
  if (it == hosts_.end()) return;  // a removed host's last words
  const HostView& before = *it->second.view;
  if (agent_generation < before.agent_generation) return;  // a replaced agent's last words
  auto view = std::make_shared<HostView>(before);
  const std::uint64_t previous_epoch =
      agent_generation > before.agent_generation || !before.status ? 0 : before.status->epoch;
  view->agent_generation = agent_generation;
  view->host_events_coalesced_total += coalesced;
  const bool was_up = before.status && SessionUp(before.status->state);
  // Agent epochs restart at 0 when an agent is replaced (reload, crash restart); the host's
  // session count keeps growing across agents.
  if (status.epoch > previous_epoch) view->connects_total += status.epoch - previous_epoch;
  if (was_up && !SessionUp(status.state)) {
    const auto reason = agent::ReasonName(status.last_reason);
    ++view->disconnects_total[std::string(reason.empty() ? "disconnected" : reason)];
  }
  if (status.state == agent::HostState::kReady) {
    view->hostkey_mismatch = false;
  } else if (status.last_reason == agent::Errc::kHostkeyMismatch) {
    view->hostkey_mismatch = true;
  }
  if (ChangesState(before, status)) {
    StateChange change;
    change.at = status.since == std::chrono::system_clock::time_point{}
                    ? std::chrono::system_clock::now()
                    : status.since;
    if (before.status) change.from = before.status->state;
    change.from_hostkey_changed = before.hostkey_mismatch;
    change.to = status.state;
    change.to_hostkey_changed = view->hostkey_mismatch;
    if (status.state != agent::HostState::kReady) {  // a ready host's last failure is past
      change.reason = status.last_reason;
      change.detail = BoundedLabelSafe(status.detail, kStateChangeDetailBytes);
    }
    change.epoch = view->connects_total;
    view->state_changes = Appended(*before.state_changes, std::move(change));
  }
  view->status = status;
  Publish(it->second, std::move(view));
}

void FleetState::OnResult(const agent::ProbeResult& result, std::uint64_t agent_generation) {
  std::lock_guard lock(mu_);
  auto it = hosts_.find(result.host);
  if (it == hosts_.end()) return;
  Entry& entry = it->second;
  if (agent_generation < entry.view->agent_generation) return;
  auto view = std::make_shared<HostView>(*entry.view);
  if (result.status == agent::ProbeStatus::kSkipped) {
    ++view->skipped_total;
    Publish(entry, std::move(view));
    return;
  }
  if (!result.adhoc) {
    schedule_delay_.Observe(
        std::chrono::duration<double>(result.started - result.scheduled_at).count());
  }
  ++view->probes_total;
  view->last_probe_status = result.status;
  view->last_probe_finished = result.finished;
  view->last_probe_duration_seconds =
      std::chrono::duration<double>(result.finished - result.started).count();
  if (result.status == agent::ProbeStatus::kOk && result.snapshot) {
    view->last_probe_failure.clear();
    view->last_success_unix = UnixSeconds(result.finished);
    if (view->snapshot)
      view->previous_cpu = std::make_shared<const CpuSamples>(SampleCpu(*view->snapshot));
    view->previous_snapshot_time = view->snapshot_time;
    view->snapshot =
        BoundRows(result.snapshot, rules_.max_processes_per_host, view->processes_dropped_total);
    view->snapshot_time = result.finished;
    view->groups = std::make_shared<const probes::GroupSnapshot>(
        entry.tracker.Update(view->snapshot, rules_.grouper, entry.lifecycle, result.finished));
    view->groups_refused_total += view->groups->refused;
    for (const auto& [name, group] : view->groups->groups) {
      if (LabelSafeExceeds(name, rules_.max_label_value_bytes))
        ++view->label_values_truncated_total;
    }
    for (std::size_t i = 0; i < probes::kSkipReasonCount; ++i) {
      view->lines_skipped_total[i] += result.snapshot->stats.skipped[i];
    }
    view->scrape_procread_errors_total += result.snapshot->stats.processes_unreadable;
    view->scrape_partial_errors_total += result.snapshot->stats.processes_partial;
  } else if (result.session_epoch == 0 && !(view->status && view->status->last_reason)) {
    // A tick on a host that has been neither ready nor failed yet (connecting, fingerprinting):
    // the agent's `disconnected` is a placeholder there, and the host's state says more.
    view->last_probe_failure.clear();
  } else {
    if (result.session_epoch != 0) ++view->scrape_errors_total;  // it ran, and gave no table
    const auto reason = agent::ReasonName(result.reason);
    view->last_probe_failure =
        reason.empty() ? std::string(agent::ProbeStatusName(result.status)) : std::string(reason);
  }
  Publish(entry, std::move(view));
}

void FleetState::Publish(Entry& entry, std::shared_ptr<HostView> view) {
  view->label_value_bytes = rules_.max_label_value_bytes;
  entry.view = std::move(view);
}

std::vector<std::shared_ptr<const HostView>> FleetState::Hosts() const {
  std::lock_guard lock(mu_);
  std::vector<std::shared_ptr<const HostView>> out;
  out.reserve(order_.size());
  for (const std::string& name : order_) out.push_back(hosts_.find(name)->second.view);
  return out;
}

std::shared_ptr<const HostView> FleetState::Host(std::string_view name) const {
  std::lock_guard lock(mu_);
  auto it = hosts_.find(name);
  return it == hosts_.end() ? nullptr : it->second.view;
}

probes::GroupSnapshot FleetState::GroupOnce(const probes::HostSnapshot& snapshot) const {
  probes::Grouper grouper = [this] {
    std::lock_guard lock(mu_);
    return rules_.grouper;
  }();
  return grouper.Group(snapshot);
}

std::vector<probes::MatcherSpec> ToMatcherSpecs(
    const std::vector<config::ProcessNameMatcher>& matchers) {
  std::vector<probes::MatcherSpec> specs;
  specs.reserve(matchers.size());
  for (const auto& m : matchers) {
    specs.push_back(probes::MatcherSpec{m.name_template, m.comm, m.exe, m.cmdline});
  }
  return specs;
}

}  // namespace fleetps::collector
