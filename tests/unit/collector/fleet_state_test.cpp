#include "fleetps/collector/fleet/fleet_state.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <string>
#include <vector>

namespace fleetps::collector {
namespace {

// The group of `pid` on `view`, or "<ungrouped>".
std::string GroupOf(const HostView& view, std::int64_t pid) {
  const std::string* group = view.groups->members.Find(pid);
  return group != nullptr ? *group : "<ungrouped>";
}

using agent::HostState;

config::HostSpec Spec(std::string name) {
  config::HostSpec spec;
  spec.name = name;
  spec.address = "127.0.0.1";
  spec.user = "monitor";
  return spec;
}

agent::HostStatus Status(std::string host, HostState state, std::uint64_t epoch,
                         agent::Errc reason = {}) {
  agent::HostStatus status;
  status.host = std::move(host);
  status.state = state;
  status.epoch = epoch;
  if (reason != agent::Errc{}) status.last_reason = reason;
  return status;
}

probes::ProcessRow Row(std::int64_t pid, std::string comm, double start, double cpu) {
  probes::ProcessRow row;
  row.pid = pid;
  row.ppid = 1;
  row.user = "root";
  row.comm = comm;
  row.args = comm;
  row.start_time_unix = start;
  row.cpu_user_seconds = cpu;
  row.cpu_system_seconds = 0;
  row.rss_bytes = 1024;
  return row;
}

agent::ProbeResult Ok(std::string host, std::vector<probes::ProcessRow> rows) {
  agent::ProbeResult result;
  result.host = std::move(host);
  result.status = agent::ProbeStatus::kOk;
  result.started = std::chrono::system_clock::now();
  result.finished = result.started + std::chrono::milliseconds(20);
  auto snapshot = std::make_shared<probes::HostSnapshot>();
  snapshot->processes = std::move(rows);
  result.snapshot = std::move(snapshot);
  return result;
}

std::unique_ptr<FleetState> MakeStatePtr(const std::vector<config::HostSpec>& hosts) {
  auto compiled = probes::Grouper::Compile({probes::MatcherSpec{"db", {"oracle"}, {}, {}}});
  auto state = std::make_unique<FleetState>(GroupingRules(*compiled.grouper, {"db"}));
  state->SetHosts(hosts);
  return state;
}

TEST(FleetStateTest, KeepsInventoryOrderAndDropsRemovedHosts) {
  auto owned = MakeStatePtr(std::vector<config::HostSpec>{Spec("b"), Spec("a"), Spec("c")});
  FleetState& state = *owned;
  ASSERT_EQ(state.Hosts().size(), 3u);
  EXPECT_EQ(state.Hosts()[0]->spec.name, "b");
  state.SetHosts({Spec("c"), Spec("a")});
  ASSERT_EQ(state.Hosts().size(), 2u);
  EXPECT_EQ(state.Host("b"), nullptr);
  state.OnStatus(Status("b", HostState::kReady, 1));  // a removed host's late event
  EXPECT_EQ(state.Host("b"), nullptr);
}

TEST(FleetStateTest, CountsConnectsAndDisconnectsByReason) {
  auto owned = MakeStatePtr(std::vector<config::HostSpec>{Spec("h")});
  FleetState& state = *owned;
  state.OnStatus(Status("h", HostState::kConnecting, 0));
  state.OnStatus(Status("h", HostState::kReady, 1));
  state.OnStatus(Status("h", HostState::kBackoff, 1, agent::Errc::kDisconnected));
  state.OnStatus(Status("h", HostState::kReady, 2));
  const auto view = state.Host("h");
  EXPECT_EQ(view->connects_total, 2u);
  EXPECT_EQ(view->disconnects_total.at("disconnected"), 1u);
}

TEST(FleetStateTest, ANewAgentGenerationKeepsTheSessionCountGrowing) {
  auto owned = MakeStatePtr(std::vector<config::HostSpec>{Spec("h")});
  FleetState& state = *owned;
  state.OnStatus(Status("h", HostState::kReady, 3), /*agent_generation=*/1);
  state.OnStatus(Status("h", HostState::kReady, 1), /*agent_generation=*/2);
  EXPECT_EQ(state.Host("h")->connects_total, 4u);
  // The replaced agent's last words change nothing.
  state.OnStatus(Status("h", HostState::kBackoff, 3, agent::Errc::kDisconnected), 1);
  EXPECT_EQ(state.Host("h")->status->state, HostState::kReady);
  EXPECT_EQ(state.Host("h")->connects_total, 4u);
}

TEST(FleetStateTest, AChangedHostKeepsItsCountersAndLosesItsSnapshot) {
  auto owned = MakeStatePtr(std::vector<config::HostSpec>{Spec("h")});
  FleetState& state = *owned;
  state.OnStatus(Status("h", HostState::kReady, 2));
  state.OnResult(Ok("h", {Row(10, "oracle", 100, 1)}));
  config::HostSpec changed = Spec("h");
  changed.labels["env"] = "prod";
  state.SetHosts({changed});
  const auto view = state.Host("h");
  EXPECT_EQ(view->connects_total, 2u);
  EXPECT_EQ(view->probes_total, 1u);
  EXPECT_EQ(view->snapshot, nullptr);
  EXPECT_EQ(view->spec.labels.at("env"), "prod");
}

TEST(FleetStateTest, GroupCountersNeverGoBackwardsWhenAProcessExits) {
  auto owned = MakeStatePtr(std::vector<config::HostSpec>{Spec("h")});
  FleetState& state = *owned;
  state.OnStatus(Status("h", HostState::kReady, 1));
  state.OnResult(Ok("h", {Row(10, "oracle", 100, 5), Row(11, "oracle", 100, 7)}));
  state.OnResult(Ok("h", {Row(10, "oracle", 100, 6), Row(11, "oracle", 100, 9)}));
  const double before = state.Host("h")->groups->groups.at("db").cpu_user_seconds;
  state.OnResult(Ok("h", {Row(10, "oracle", 100, 6.5)}));  // pid 11 exited
  const double after = state.Host("h")->groups->groups.at("db").cpu_user_seconds;
  EXPECT_GE(after, before);
  EXPECT_EQ(state.Host("h")->groups->groups.at("db").num_procs, 1u);
}

TEST(FleetStateTest, AReloadRegroupsProcessesTheHostsMemoKnew) {
  auto owned = MakeStatePtr(std::vector<config::HostSpec>{Spec("h")});
  FleetState& state = *owned;
  state.OnStatus(Status("h", HostState::kReady, 1));
  state.OnResult(Ok("h", {Row(10, "oracle", 100, 5)}));
  state.OnResult(Ok("h", {Row(10, "oracle", 100, 6)}));  // answered from the host's memo
  EXPECT_EQ(GroupOf(*state.Host("h"), 10), "db");
  auto renamed = probes::Grouper::Compile({probes::MatcherSpec{"ora", {"oracle"}, {}, {}}});
  state.SetGrouping(GroupingRules(*renamed.grouper, {"ora"}));
  state.OnResult(Ok("h", {Row(10, "oracle", 100, 7)}));
  EXPECT_EQ(GroupOf(*state.Host("h"), 10), "ora");
  EXPECT_FALSE(state.Host("h")->groups->groups.contains("db"));
}

TEST(FleetStateTest, FailedProbeKeepsTheLastSnapshotAndRecordsTheReason) {
  auto owned = MakeStatePtr(std::vector<config::HostSpec>{Spec("h")});
  FleetState& state = *owned;
  state.OnStatus(Status("h", HostState::kReady, 1));
  state.OnResult(Ok("h", {Row(10, "oracle", 100, 1)}));
  agent::ProbeResult failed;
  failed.host = "h";
  failed.session_epoch = 1;
  failed.status = agent::ProbeStatus::kTimeout;
  failed.reason = agent::Errc::kTimeout;
  state.OnResult(failed);
  const auto view = state.Host("h");
  EXPECT_NE(view->snapshot, nullptr);
  EXPECT_EQ(view->last_probe_failure, "timeout");
  EXPECT_FALSE(view->Up());
}

// Ticks on a host that is not ready carry no session (epoch 0) and the agent's last failure,
// or `disconnected` when there was none yet: only a real failure is kept as the reason.
TEST(FleetStateTest, TicksBeforeTheFirstSessionOrFailureRecordNoFailure) {
  auto owned = MakeStatePtr(std::vector<config::HostSpec>{Spec("h")});
  FleetState& state = *owned;
  state.OnStatus(Status("h", HostState::kFingerprinting, 1));
  agent::ProbeResult tick;
  tick.host = "h";
  tick.status = agent::ProbeStatus::kError;
  tick.reason = agent::Errc::kDisconnected;
  state.OnResult(tick);
  EXPECT_EQ(state.Host("h")->last_probe_status, agent::ProbeStatus::kError);
  EXPECT_EQ(state.Host("h")->last_probe_failure, "");

  state.OnStatus(Status("h", HostState::kBackoff, 1, agent::Errc::kTimeout));
  tick.reason = agent::Errc::kTimeout;  // the agent now answers with its failure
  state.OnResult(tick);
  EXPECT_EQ(state.Host("h")->last_probe_failure, "timeout");
}

TEST(FleetStateTest, SkippedTicksAreCountedNotTreatedAsProbes) {
  auto owned = MakeStatePtr(std::vector<config::HostSpec>{Spec("h")});
  FleetState& state = *owned;
  agent::ProbeResult skipped;
  skipped.host = "h";
  skipped.status = agent::ProbeStatus::kSkipped;
  state.OnResult(skipped);
  EXPECT_EQ(state.Host("h")->skipped_total, 1u);
  EXPECT_EQ(state.Host("h")->probes_total, 0u);
}

config::ProcessNameMatcher NameMatcher(std::string name, std::vector<std::string> comm,
                                       std::string expect = {}) {
  config::ProcessNameMatcher m;
  m.name_template = std::move(name);
  m.comm = std::move(comm);
  m.expect = std::move(expect);
  return m;
}

config::HostSpec LabelledSpec(std::string name, std::string role) {
  config::HostSpec spec = Spec(std::move(name));
  spec.labels["role"] = std::move(role);
  return spec;
}

TEST(FleetStateTest, GroupingRulesKnowFixedNamesExpectationsAndBounds) {
  config::Inventory inventory;
  inventory.collector.group_retention = std::chrono::minutes(5);
  inventory.collector.max_groups_per_host = 7;
  inventory.process_names = {NameMatcher("oracle", {"ora_pmon"}, R"({label.role="db"})"),
                             NameMatcher("{{.Comm}}", {"sshd"})};
  auto rules = MakeGroupingRules(inventory);
  ASSERT_TRUE(rules) << rules.error().front();
  EXPECT_EQ(*rules->fixed_names, probes::GroupNameSet{"oracle"});
  ASSERT_EQ(rules->expectations.size(), 1u);
  EXPECT_EQ(rules->expectations[0].group, "oracle");
  const probes::GroupLifecycle db = rules->LifecycleFor(LabelledSpec("db1", "db"));
  const probes::GroupLifecycle web = rules->LifecycleFor(LabelledSpec("web1", "web"));
  EXPECT_EQ(db.expected, probes::GroupNameSet{"oracle"});
  EXPECT_TRUE(web.expected.empty());
  EXPECT_EQ(db.retention, std::chrono::minutes(5));
  EXPECT_EQ(db.max_groups, 7u);
}

TEST(FleetStateTest, GroupingRulesReportAnExpectSelectorOverProcessFields) {
  config::Inventory inventory;
  inventory.process_names = {NameMatcher("oracle", {"ora_pmon"}, R"({user="oracle"})")};
  auto rules = MakeGroupingRules(inventory);
  ASSERT_FALSE(rules);
  ASSERT_EQ(rules.error().size(), 1u);
  EXPECT_EQ(rules.error()[0],
            R"(process_names[0]: expect: 1:2: field "user" is not a host field; a host )"
            R"(selector takes host and label.NAME only)");
}

// DESIGN §6: an expected group reads 0 from the first probe on the hosts its selector matches,
// and nowhere else; elsewhere a group appears once seen and then stays.
TEST(FleetStateTest, ExpectedGroupsAreZeroOnlyWhereExpectedOthersAppearOnceSeen) {
  config::Inventory inventory;
  inventory.process_names = {NameMatcher("oracle", {"ora_pmon"}, R"({label.role="db"})"),
                             NameMatcher("nginx", {"nginx"})};
  auto rules = MakeGroupingRules(inventory);
  ASSERT_TRUE(rules);
  FleetState state(std::move(*rules));
  state.SetHosts({LabelledSpec("db1", "db"), LabelledSpec("web1", "web")});
  EXPECT_TRUE(state.Host("db1")->groups->groups.empty()) << "nothing before the first probe";
  EXPECT_EQ(state.Host("db1")->expected_groups, std::vector<std::string>{"oracle"});

  state.OnResult(Ok("db1", {Row(10, "bash", 100, 1)}));
  state.OnResult(Ok("web1", {Row(20, "bash", 100, 1)}));
  const auto& db_groups = state.Host("db1")->groups->groups;
  ASSERT_EQ(db_groups.size(), 1u);
  EXPECT_EQ(db_groups.at("oracle").num_procs, 0u);
  EXPECT_TRUE(state.Host("web1")->groups->groups.empty()) << "oracle is not expected on web1";

  state.OnResult(Ok("web1", {Row(21, "nginx", 100, 1)}));
  EXPECT_EQ(state.Host("web1")->groups->groups.at("nginx").num_procs, 1u);
  state.OnResult(Ok("web1", {Row(20, "bash", 100, 1)}));
  EXPECT_EQ(state.Host("web1")->groups->groups.at("nginx").num_procs, 0u) << "seen once: stays";
  EXPECT_FALSE(state.Host("db1")->groups->groups.contains("nginx"));
}

TEST(FleetStateTest, GroupsBeyondTheLimitAreRefusedAndCounted) {
  config::Inventory inventory;
  inventory.collector.max_groups_per_host = 2;
  inventory.process_names = {NameMatcher("{{.Comm}}", {"a", "b", "c"})};
  auto rules = MakeGroupingRules(inventory);
  ASSERT_TRUE(rules);
  FleetState state(std::move(*rules));
  state.SetHosts({Spec("h")});
  state.OnResult(Ok("h", {Row(1, "a", 100, 1), Row(2, "b", 100, 1), Row(3, "c", 100, 1)}));
  auto view = state.Host("h");
  EXPECT_EQ(view->groups->groups.size(), 2u);
  EXPECT_FALSE(view->groups->groups.contains("c")) << "new groups are admitted in name order";
  EXPECT_EQ(view->groups_refused_total, 1u);
  state.OnResult(Ok("h", {Row(1, "a", 100, 1), Row(2, "b", 100, 1), Row(3, "c", 100, 1)}));
  EXPECT_EQ(state.Host("h")->groups_refused_total, 2u) << "counted per probe";
}

// A probe listing more processes than collector.max_processes_per_host keeps the lowest pids,
// whatever order the rows came in, and counts the others; they are in no group.
TEST(FleetStateTest, RowsBeyondTheLimitKeepTheLowestPidsAndAreCounted) {
  config::Inventory inventory;
  inventory.collector.max_processes_per_host = 100;
  inventory.process_names = {NameMatcher("{{.Comm}}", {"low", "high"})};
  auto rules = MakeGroupingRules(inventory);
  ASSERT_TRUE(rules);
  FleetState state(std::move(*rules));
  state.SetHosts({Spec("h")});
  std::vector<probes::ProcessRow> rows;
  for (int pid = 1000; pid > 900; --pid) rows.push_back(Row(pid, "high", 100, 1));
  for (int pid = 1; pid <= 30; ++pid) rows.push_back(Row(pid, "low", 100, 1));
  state.OnResult(Ok("h", rows));
  auto view = state.Host("h");
  ASSERT_EQ(view->snapshot->processes.size(), 100u);
  EXPECT_EQ(view->snapshot->processes.front().pid, 1);
  EXPECT_EQ(view->snapshot->processes.back().pid, 970);
  EXPECT_EQ(view->processes_dropped_total, 30u);
  EXPECT_EQ(view->groups->groups.at("low").num_procs, 30u);
  EXPECT_EQ(view->groups->groups.at("high").num_procs, 70u);
  state.OnResult(Ok("h", rows));
  EXPECT_EQ(state.Host("h")->processes_dropped_total, 60u) << "summed over probes";
  state.OnResult(Ok("h", {Row(1, "low", 100, 1)}));
  EXPECT_EQ(state.Host("h")->processes_dropped_total, 60u);
}

// A group name longer than collector.max_label_value_bytes as a label value (after \xNN
// escaping) is counted once per probe, and the view carries the bound the exposition cuts at.
TEST(FleetStateTest, LongGroupNamesAreCountedPerProbe) {
  config::Inventory inventory;
  inventory.collector.max_label_value_bytes = 32;
  inventory.process_names = {NameMatcher(
      "{{.Comm}}", {std::string(32, 'x'), "short", "\x1b\x1b\x1b\x1b\x1b\x1b\x1b\x1b\x1b"})};
  auto rules = MakeGroupingRules(inventory);
  ASSERT_TRUE(rules);
  FleetState state(std::move(*rules));
  state.SetHosts({Spec("h")});
  EXPECT_EQ(state.Host("h")->label_value_bytes, 32u);
  // 32 bytes fit; 9 ESC bytes are 36 bytes as \x1b escapes and do not.
  state.OnResult(Ok("h", {Row(1, std::string(32, 'x'), 100, 1), Row(2, "short", 100, 1),
                          Row(3, "\x1b\x1b\x1b\x1b\x1b\x1b\x1b\x1b\x1b", 100, 1)}));
  EXPECT_EQ(state.Host("h")->label_values_truncated_total, 1u);
  state.OnResult(Ok("h", {Row(3, "\x1b\x1b\x1b\x1b\x1b\x1b\x1b\x1b\x1b", 100, 1)}));
  EXPECT_EQ(state.Host("h")->label_values_truncated_total, 2u);
}

// The reasons of `view`'s recorded state changes, oldest first.
std::vector<std::string> ChangeReasons(const HostView& view) {
  std::vector<std::string> reasons;
  for (const StateChange& change : *view.state_changes) {
    reasons.emplace_back(agent::ReasonName(change.reason));
  }
  return reasons;
}

TEST(FleetStateTest, StateChangesAreRecordedInOrderWithFromToReasonAndSession) {
  auto owned = MakeStatePtr(std::vector<config::HostSpec>{Spec("h")});
  FleetState& state = *owned;
  EXPECT_TRUE(state.Host("h")->state_changes->empty());
  const auto t0 = std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000));
  auto ready = Status("h", HostState::kReady, 1);
  ready.since = t0;
  state.OnStatus(ready);
  auto lost = Status("h", HostState::kBackoff, 1, agent::Errc::kConnectRefused);
  lost.since = t0 + std::chrono::seconds(5);
  lost.detail = "connect to 127.0.0.1:22: refused";
  state.OnStatus(lost);
  auto changed_key = Status("h", HostState::kCircuitOpen, 1, agent::Errc::kHostkeyMismatch);
  changed_key.since = t0 + std::chrono::seconds(9);
  state.OnStatus(changed_key);

  const auto& changes = *state.Host("h")->state_changes;
  ASSERT_EQ(changes.size(), 3u);
  EXPECT_FALSE(changes[0].from.has_value());  // the first status: it was connecting
  EXPECT_EQ(changes[0].to, HostState::kReady);
  EXPECT_EQ(changes[0].at, t0);
  EXPECT_EQ(changes[0].epoch, 1u);
  EXPECT_EQ(changes[1].from, HostState::kReady);
  EXPECT_EQ(changes[1].to, HostState::kBackoff);
  EXPECT_EQ(changes[1].reason, agent::Errc::kConnectRefused);
  EXPECT_EQ(changes[1].detail, "connect to 127.0.0.1:22: refused");
  EXPECT_EQ(changes[1].at, t0 + std::chrono::seconds(5));
  EXPECT_EQ(changes[2].from, HostState::kBackoff);
  EXPECT_FALSE(changes[2].from_hostkey_changed);
  EXPECT_EQ(changes[2].to, HostState::kCircuitOpen);
  EXPECT_TRUE(changes[2].to_hostkey_changed);
  auto back = Status("h", HostState::kReady, 2, agent::Errc::kHostkeyMismatch);
  back.detail = "the last failure";
  state.OnStatus(back);
  const StateChange& ready_again = state.Host("h")->state_changes->back();
  EXPECT_TRUE(ready_again.from_hostkey_changed);
  EXPECT_FALSE(ready_again.to_hostkey_changed);
  EXPECT_FALSE(ready_again.reason);  // a ready host's last failure is past
  EXPECT_EQ(ready_again.detail, "");
  EXPECT_EQ(ready_again.epoch, 2u);
}

TEST(FleetStateTest, AStatusThatChangesNeitherStateNorReasonIsNotAStateChange) {
  auto owned = MakeStatePtr(std::vector<config::HostSpec>{Spec("h")});
  FleetState& state = *owned;
  // A host shows as connecting before its first status: the agent's first one changes nothing.
  state.OnStatus(Status("h", HostState::kConnecting, 0));
  EXPECT_EQ(state.Host("h")->state_changes, NoStateChanges());
  state.OnStatus(Status("h", HostState::kBackoff, 0, agent::Errc::kConnectTimeout));
  const auto first = state.Host("h")->state_changes;
  state.OnStatus(Status("h", HostState::kBackoff, 0, agent::Errc::kConnectTimeout));
  EXPECT_EQ(state.Host("h")->state_changes, first);  // the same history, not a copy
  // The same state for another reason is a change a person needs to see.
  state.OnStatus(Status("h", HostState::kBackoff, 0, agent::Errc::kConnectRefused));
  EXPECT_EQ(ChangeReasons(*state.Host("h")),
            (std::vector<std::string>{"connect_timeout", "connect_refused"}));
}

TEST(FleetStateTest, StateHistoryKeepsTheNewestAndDropsTheOldest) {
  auto owned = MakeStatePtr(std::vector<config::HostSpec>{Spec("h")});
  FleetState& state = *owned;
  const std::size_t flaps = kStateHistoryEntries + 7;
  for (std::size_t i = 0; i < flaps; ++i) {
    auto status = Status("h", i % 2 == 0 ? HostState::kConnecting : HostState::kBackoff, 0,
                         agent::Errc::kConnectTimeout);
    status.detail = "flap " + std::to_string(i);
    state.OnStatus(status);
  }
  const auto& changes = *state.Host("h")->state_changes;
  ASSERT_EQ(changes.size(), kStateHistoryEntries);
  EXPECT_EQ(changes.front().detail, "flap " + std::to_string(flaps - kStateHistoryEntries));
  EXPECT_EQ(changes.back().detail, "flap " + std::to_string(flaps - 1));
}

TEST(FleetStateTest, ProbeResultsShareTheStateHistoryInsteadOfCopyingIt) {
  auto owned = MakeStatePtr(std::vector<config::HostSpec>{Spec("h")});
  FleetState& state = *owned;
  state.OnStatus(Status("h", HostState::kBackoff, 0, agent::Errc::kConnectTimeout));
  state.OnStatus(Status("h", HostState::kReady, 1));
  const auto before = state.Host("h");
  state.OnResult(Ok("h", {Row(10, "oracle", 100, 1)}));
  agent::ProbeResult failed;
  failed.host = "h";
  failed.status = agent::ProbeStatus::kTimeout;
  failed.session_epoch = 1;
  failed.reason = agent::Errc::kTimeout;
  state.OnResult(failed);
  const auto after = state.Host("h");
  EXPECT_NE(after, before);                                // new views were published
  EXPECT_EQ(after->state_changes, before->state_changes);  // with the same history
  EXPECT_EQ(after->state_changes->size(), 2u);
}

TEST(FleetStateTest, AChangedHostKeepsItsStateHistory) {
  auto owned = MakeStatePtr(std::vector<config::HostSpec>{Spec("h")});
  FleetState& state = *owned;
  state.OnStatus(Status("h", HostState::kBackoff, 0, agent::Errc::kConnectRefused));
  config::HostSpec changed = Spec("h");
  changed.port = 2222;
  state.SetHosts({changed});
  EXPECT_EQ(ChangeReasons(*state.Host("h")), std::vector<std::string>{"connect_refused"});
}

TEST(FleetStateTest, AStateChangeDetailIsBoundedAndControlFree) {
  auto owned = MakeStatePtr(std::vector<config::HostSpec>{Spec("h")});
  FleetState& state = *owned;
  auto status = Status("h", HostState::kCircuitOpen, 0, agent::Errc::kKexFailed);
  status.detail = "server offered \x1b[2J<b>" + std::string(4096, 'k');
  state.OnStatus(status);
  const std::string& detail = state.Host("h")->state_changes->back().detail;
  EXPECT_LE(detail.size(), kStateChangeDetailBytes);
  EXPECT_TRUE(detail.starts_with("server offered \\x1b[2J<b>kkk")) << detail;
}

}  // namespace
}  // namespace fleetps::collector
