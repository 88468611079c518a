#include "fleetps/config/diff.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "fleetps/config/load.hpp"

namespace fleetps::config {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

Inventory Load(std::string_view yaml) {
  LoadResult result = LoadInventoryFromString(yaml, "test.yaml");
  for (const Diagnostic& d : result.diagnostics) ADD_FAILURE() << d.ToString();
  return result.inventory.value_or(Inventory{});
}

constexpr std::string_view kBefore = R"(
defaults: {user: monitor, identity_file: /k}
hosts:
  - name: keep
  - name: edit
  - name: gone
process_names:
  - comm: [sshd]
)";

// kBefore with a `collector:` section.
std::string WithCollector(std::string_view section) {
  return "collector: " + std::string(section) + "\n" + std::string(kBefore);
}

TEST(InventoryDiffTest, IdenticalInventoriesDiffEmpty) {
  const InventoryDiff diff = DiffInventories(Load(kBefore), Load(kBefore));
  EXPECT_TRUE(diff.empty());
  EXPECT_THAT(diff.unchanged, ElementsAre("keep", "edit", "gone"));
}

TEST(InventoryDiffTest, ClassifiesEveryHost) {
  const InventoryDiff diff = DiffInventories(Load(kBefore), Load(R"(
defaults: {user: monitor, identity_file: /k}
hosts:
  - name: new
  - name: edit
    port: 2222
  - name: keep
process_names:
  - comm: [sshd]
)"));
  EXPECT_THAT(diff.added, ElementsAre("new"));
  EXPECT_THAT(diff.removed, ElementsAre("gone"));
  EXPECT_THAT(diff.changed, ElementsAre("edit"));
  EXPECT_THAT(diff.unchanged, ElementsAre("keep"));
  EXPECT_FALSE(diff.process_names_changed);
  EXPECT_FALSE(diff.collector_changed);
  EXPECT_FALSE(diff.empty());
}

TEST(InventoryDiffTest, InheritedChangeChangesEveryHost) {
  const InventoryDiff diff = DiffInventories(Load(kBefore), Load(R"(
defaults: {user: monitor, identity_file: /k, labels: {env: prod}}
hosts:
  - name: keep
  - name: edit
  - name: gone
process_names:
  - comm: [sshd]
)"));
  EXPECT_THAT(diff.changed, ElementsAre("keep", "edit", "gone"));
  EXPECT_THAT(diff.unchanged, IsEmpty());
}

TEST(InventoryDiffTest, DetectsProcessNamesAndCollectorChanges) {
  const InventoryDiff diff = DiffInventories(Load(kBefore), Load(R"(
defaults: {user: monitor, identity_file: /k}
collector: {threads: 4}
hosts:
  - name: keep
  - name: edit
  - name: gone
process_names:
  - comm: [sshd, cron]
)"));
  EXPECT_TRUE(diff.process_names_changed);
  EXPECT_TRUE(diff.collector_changed);
  EXPECT_THAT(diff.unchanged, ElementsAre("keep", "edit", "gone"));
}

// The group bounds sit in `collector:` but are grouping rules, which a reload applies.
TEST(InventoryDiffTest, GroupBoundsAreGroupingChangesNotCollectorChanges) {
  const InventoryDiff diff = DiffInventories(
      Load(kBefore), Load(WithCollector("{group_retention: 10m, max_groups_per_host: 50}")));
  EXPECT_TRUE(diff.process_names_changed);
  EXPECT_FALSE(diff.collector_changed);
}

TEST(InventoryDiffTest, HttpLimitsAreAReloadableChangeNotACollectorChange) {
  const InventoryDiff diff = DiffInventories(
      Load(kBefore), Load(WithCollector("{http: {max_connections: 100, idle_timeout: 30s}}")));
  EXPECT_TRUE(diff.http_changed);
  EXPECT_FALSE(diff.collector_changed);
  EXPECT_FALSE(diff.process_names_changed);
  EXPECT_FALSE(diff.empty());
}

// So are the row and label bounds; the event budget is a collector change (a restarted agent
// takes it).
TEST(InventoryDiffTest, RowAndLabelBoundsAreGroupingChanges) {
  const InventoryDiff bounds = DiffInventories(
      Load(kBefore),
      Load(WithCollector("{max_processes_per_host: 500, max_label_value_bytes: 64}")));
  EXPECT_TRUE(bounds.process_names_changed);
  EXPECT_FALSE(bounds.collector_changed);
  const InventoryDiff events =
      DiffInventories(Load(kBefore), Load(WithCollector("{max_host_events_per_minute: 600}")));
  EXPECT_FALSE(events.process_names_changed);
  EXPECT_TRUE(events.collector_changed);
}

// The source address travels in every HostSpec: a reload reconnects the hosts with it.
TEST(InventoryDiffTest, SourceAddressChangesEveryHostNotTheCollector) {
  const InventoryDiff diff =
      DiffInventories(Load(kBefore), Load(WithCollector("{source_address: 127.0.0.11}")));
  EXPECT_THAT(diff.changed, ElementsAre("keep", "edit", "gone"));
  EXPECT_FALSE(diff.collector_changed);
}

TEST(InventoryDiffTest, RangeGrowthAddsOnlyNewHosts) {
  const InventoryDiff diff = DiffInventories(
      Load("defaults: {user: u, use_ssh_agent: true}\nhosts: [{name: 'n[1-2]'}]\n"),
      Load("defaults: {user: u, use_ssh_agent: true}\nhosts: [{name: 'n[2-3]'}]\n"));
  EXPECT_THAT(diff.added, ElementsAre("n3"));
  EXPECT_THAT(diff.removed, ElementsAre("n1"));
  EXPECT_THAT(diff.unchanged, ElementsAre("n2"));
}

}  // namespace
}  // namespace fleetps::config
