#include "fleetps/collector/fleet/fleet_state.hpp"

#include <utility>

namespace fleetps::collector {
namespace {

double UnixSeconds(std::chrono::system_clock::time_point t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

bool SessionUp(agent::HostState state) {
  return state == agent::HostState::kReady || state == agent::HostState::kFingerprinting;
}

}  // namespace

bool HostView::Up() const noexcept {
  return status && status->state == agent::HostState::kReady &&
         last_probe_status == agent::ProbeStatus::kOk;
}

std::string_view DisplayState(const std::optional<agent::HostStatus>& status,
                              bool quarantined) noexcept {
  if (quarantined) return "quarantined";
  return status ? agent::StateName(status->state) : "connecting";
}

FleetState::FleetState(probes::Grouper grouper, std::vector<std::string> static_groups,
                       HostTextRenderer render)
    : grouper_(std::move(grouper)),
      static_groups_(std::move(static_groups)),
      render_(std::move(render)) {}

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
      view->scrape_errors_total = it->second.view->scrape_errors_total;
      view->scrape_procread_errors_total = it->second.view->scrape_procread_errors_total;
      view->scrape_partial_errors_total = it->second.view->scrape_partial_errors_total;
    }
    Entry& entry = next.emplace(spec.name, Entry{nullptr, probes::GroupTracker{}}).first->second;
    Publish(entry, std::move(view));
  }
  hosts_ = std::move(next);
}

void FleetState::SetGrouping(probes::Grouper grouper, std::vector<std::string> static_groups) {
  std::lock_guard lock(mu_);
  grouper_ = std::move(grouper);
  static_groups_ = std::move(static_groups);
  // Counters restart from the next probe: group membership changed meaning.
  for (auto& [name, entry] : hosts_) {
    entry.tracker = probes::GroupTracker{};
    auto view = std::make_shared<HostView>(*entry.view);
    view->groups = {};
    Publish(entry, std::move(view));
  }
}

void FleetState::OnStatus(const agent::HostStatus& status, std::uint64_t agent_generation) {
  std::lock_guard lock(mu_);
  auto it = hosts_.find(status.host);
  if (it == hosts_.end()) return;  // a removed host's last words
  const HostView& before = *it->second.view;
  if (agent_generation < before.agent_generation) return;  // a replaced agent's last words
  auto view = std::make_shared<HostView>(before);
  const std::uint64_t previous_epoch =
      agent_generation > before.agent_generation || !before.status ? 0 : before.status->epoch;
  view->agent_generation = agent_generation;
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
    view->snapshot = result.snapshot;
    view->snapshot_time = result.finished;
    view->groups = entry.tracker.Update(*result.snapshot, grouper_);
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
  // Rendering here, under mu_, costs ~100 ns per series once per probe; scrapes then only copy.
  if (render_) view->text = render_(*view, static_groups_);
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

std::vector<std::string> FleetState::StaticGroups() const {
  std::lock_guard lock(mu_);
  return static_groups_;
}

probes::GroupSnapshot FleetState::GroupOnce(const probes::HostSnapshot& snapshot) const {
  probes::Grouper grouper = [this] {
    std::lock_guard lock(mu_);
    return grouper_;
  }();
  return grouper.Group(snapshot);
}

std::vector<std::string> StaticGroupNames(const std::vector<config::ProcessNameMatcher>& matchers) {
  std::vector<std::string> names;
  for (const auto& m : matchers) {
    if (m.name_template.find("{{") == std::string::npos) names.push_back(m.name_template);
  }
  return names;
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
