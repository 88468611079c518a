// The static membership: the view every member builds from the same list, self resolution from
// flags, owned hosts and counts.
#include "fleetps/collector/cluster/static_membership.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace fleetps::collector::cluster {
namespace {

using ::testing::HasSubstr;

config::ClusterSettings Static(std::vector<std::string> names) {
  config::ClusterSettings c;
  c.name = "prod";
  c.membership = config::ClusterMembership::kStatic;
  c.buckets = 4096;
  for (std::size_t i = 0; i < names.size(); ++i) {
    c.static_members.push_back({names[i], "http://127.0.0.1:" + std::to_string(9000 + i), 1, ""});
  }
  return c;
}

std::vector<config::HostSpec> Hosts(std::size_t n) {
  std::vector<config::HostSpec> hosts(n);
  for (std::size_t i = 0; i < n; ++i) hosts[i].name = "web" + std::to_string(i);
  return hosts;
}

TEST(StaticMembershipTest, EveryMemberBuildsTheSameOwnership) {
  const auto a = BuildStaticView(Static({"c", "a", "b"}), {}, "a", "1.0");
  const auto b = BuildStaticView(Static({"b", "c", "a"}), {}, "b", "1.0");
  EXPECT_EQ(a->bucket_owner, b->bucket_owner);
  ASSERT_EQ(a->members.size(), 3u);
  EXPECT_EQ(a->members[0].spec.name, "a");  // sorted by name
  EXPECT_TRUE(a->members[0].self);
  EXPECT_EQ(a->members[0].version, "1.0");
  EXPECT_EQ(a->Self()->spec.name, "a");
  EXPECT_EQ(a->membership, "static");
  EXPECT_EQ(a->bucket_owner.size(), 4096u);
}

TEST(StaticMembershipTest, OwnedHostsPartitionTheInventory) {
  const auto hosts = Hosts(3000);
  std::set<std::string> seen;
  std::size_t total = 0;
  for (const std::string self : {"a", "b", "c"}) {
    const auto view = BuildStaticView(Static({"a", "b", "c"}), {}, self, "");
    const auto owned = OwnedHosts(*view, hosts);
    EXPECT_GT(owned.size(), 800u);
    EXPECT_LT(owned.size(), 1200u);
    for (const auto& h : owned) EXPECT_TRUE(seen.insert(h.name).second) << h.name;
    total += owned.size();
    const OwnershipCounts counts = CountOwnership(*view, hosts);
    EXPECT_EQ(counts.hosts[static_cast<std::size_t>(view->Self() - view->members.data())],
              owned.size());
    EXPECT_EQ(counts.orphaned_hosts, 0u);
    EXPECT_EQ(counts.buckets[0] + counts.buckets[1] + counts.buckets[2], 4096u);
  }
  EXPECT_EQ(total, hosts.size());
}

TEST(StaticMembershipTest, NotInTheListOwnsNothing) {
  const auto view = BuildStaticView(Static({"a", "b"}), {}, "z", "");
  EXPECT_EQ(view->Self(), nullptr);
  EXPECT_TRUE(OwnedHosts(*view, Hosts(100)).empty());
}

TEST(StaticMembershipTest, ResolvesSelfFromFlagsOrHostname) {
  const auto c = Static({"a", "b"});
  EXPECT_EQ(ResolveStaticSelf(c, {}, "b").name, "b");
  EXPECT_TRUE(ResolveStaticSelf(c, {}, "b").error.empty());
  EXPECT_EQ(ResolveStaticSelf(c, {"a", "", {}, {}}, "b").name, "a");
  EXPECT_THAT(ResolveStaticSelf(c, {}, "box").error,
              HasSubstr("cluster member \"box\" (the host name) is not in cluster.static.members "
                        "(a, b)"));
  EXPECT_THAT(
      ResolveStaticSelf(c, {"a", "http://127.0.0.1:1", {}, {}}, "").error,
      HasSubstr("--cluster-advertise http://127.0.0.1:1 differs from http://127.0.0.1:9000"));
  EXPECT_THAT(ResolveStaticSelf(c, {"a", "", 3, {}}, "").error, HasSubstr("--cluster-weight 3"));
  EXPECT_THAT(ResolveStaticSelf(c, {"a", "", {}, "dc1"}, "").error, HasSubstr("--cluster-zone"));
}

// Zones (scale-out.md §6.3): members a (no zone), b, c, f (dc1), d, e (dc2); hosts without a
// zone, of dc1, of dc2, and of dc3, which no member serves.
config::ClusterSettings Zoned(std::string zone_label, std::vector<std::string> skip = {}) {
  config::ClusterSettings c;
  c.name = "prod";
  c.membership = config::ClusterMembership::kStatic;
  c.buckets = 4096;
  c.zone_label = std::move(zone_label);
  const std::vector<std::pair<std::string, std::string>> members{
      {"a", ""}, {"b", "dc1"}, {"c", "dc1"}, {"d", "dc2"}, {"e", "dc2"}, {"f", "dc1"}};
  int port = 9000;
  for (const auto& [name, zone] : members) {
    ++port;
    if (std::find(skip.begin(), skip.end(), name) != skip.end()) continue;
    c.static_members.push_back({name, "http://127.0.0.1:" + std::to_string(port), 1, zone});
  }
  return c;
}

std::vector<config::HostSpec> ZonedHosts() {
  std::vector<config::HostSpec> hosts;
  for (const std::string zone : {"", "dc1", "dc2", "dc3"}) {
    for (int i = 0; i < 600; ++i) {
      config::HostSpec host;
      host.name = (zone.empty() ? "plain" : zone) + "-" + std::to_string(i);
      if (!zone.empty()) host.labels["dc"] = zone;
      host.labels["team"] = "ops";
      hosts.push_back(std::move(host));
    }
  }
  return hosts;
}

std::string ZoneOf(const config::HostSpec& host) {
  const auto it = host.labels.find("dc");
  return it == host.labels.end() ? "" : it->second;
}

TEST(StaticMembershipTest, ZonedMembersOwnExactlyTheirZonesHosts) {
  const auto hosts = ZonedHosts();
  std::map<std::string, std::string> owner_of;  // host → member, from each member's own view
  for (const std::string self : {"a", "b", "c", "d", "e", "f"}) {
    const auto view = BuildStaticView(Zoned("dc"), hosts, self, "");
    const std::string zone = view->Self()->spec.zone;
    const auto owned = OwnedHosts(*view, hosts);
    EXPECT_GT(owned.size(), 100u) << self;
    for (const auto& host : owned) {
      EXPECT_EQ(ZoneOf(host), zone) << self << " owns " << host.name;
      EXPECT_TRUE(owner_of.emplace(host.name, self).second) << host.name << " owned twice";
    }
  }
  // Every host of a served zone (and every zone-less one) has exactly one owner; dc3's none.
  for (const auto& host : hosts) {
    EXPECT_EQ(owner_of.contains(host.name), ZoneOf(host) != "dc3") << host.name;
  }
  // Zone-less hosts go to the only zone-less member.
  EXPECT_EQ(owner_of.at("plain-0"), "a");
  EXPECT_EQ(owner_of.at("plain-599"), "a");
}

TEST(StaticMembershipTest, AHostOfAZoneNobodyServesIsOrphanedAndCounted) {
  const auto hosts = ZonedHosts();
  const auto view = BuildStaticView(Zoned("dc"), hosts, "b", "");
  EXPECT_EQ(view->OwnerOf("dc3-7"), nullptr);
  EXPECT_EQ(view->OwnerIndexOf("dc3-7"), -1);
  ASSERT_NE(view->OwnerOf("dc1-7"), nullptr);
  EXPECT_EQ(view->OwnerOf("dc1-7")->spec.zone, "dc1");
  const OwnershipCounts counts = CountOwnership(*view, hosts);
  EXPECT_EQ(counts.orphaned_hosts, 600u);
  std::size_t owned = 0;
  for (const std::size_t n : counts.hosts) owned += n;
  EXPECT_EQ(owned, 1800u);
  // Buckets: a holds the whole zone-less table; each zone's table is split within the zone.
  EXPECT_EQ(counts.buckets[0], 4096u);                                          // a
  EXPECT_EQ(counts.buckets[1] + counts.buckets[2] + counts.buckets[5], 4096u);  // b, c, f
  EXPECT_EQ(counts.buckets[3] + counts.buckets[4], 4096u);                      // d, e
  ASSERT_EQ(view->zone_owners.size(), 2u);
  EXPECT_EQ(view->zone_owners[0].zone, "dc1");
}

TEST(StaticMembershipTest, ZoneLessHostsAreOrphanedWithoutAZoneLessMember) {
  const auto hosts = ZonedHosts();
  const auto view = BuildStaticView(Zoned("dc", {"a"}), hosts, "b", "");
  EXPECT_EQ(view->OwnerOf("plain-3"), nullptr);
  EXPECT_EQ(CountOwnership(*view, hosts).orphaned_hosts, 1200u);  // zone-less and dc3
}

TEST(StaticMembershipTest, WithoutZoneLabelMemberZonesAreIgnored) {
  const auto hosts = ZonedHosts();
  const auto view = BuildStaticView(Zoned(""), hosts, "b", "");
  EXPECT_TRUE(view->zone_owners.empty());
  EXPECT_TRUE(view->host_zone.empty());
  const OwnershipCounts counts = CountOwnership(*view, hosts);
  EXPECT_EQ(counts.orphaned_hosts, 0u);
  for (std::size_t i = 0; i < view->members.size(); ++i) {
    // A member with a zone owns its share too (it owned nothing before zones were applied).
    EXPECT_GT(counts.hosts[i], 250u) << view->members[i].spec.name;
  }
  // The same assignment as the same members without zones.
  auto plain = Zoned("");
  for (auto& member : plain.static_members) member.zone.clear();
  EXPECT_EQ(BuildStaticView(plain, hosts, "b", "")->bucket_owner, view->bucket_owner);
  // b (dc1) owns hosts of every zone and without one.
  std::set<std::string> zones;
  for (const auto& host : OwnedHosts(*view, hosts)) zones.insert(ZoneOf(host));
  EXPECT_EQ(zones, (std::set<std::string>{"", "dc1", "dc2", "dc3"}));
}

TEST(StaticMembershipTest, RemovingAZonedMemberMovesOnlyItsHostsWithinItsZone) {
  const auto hosts = ZonedHosts();
  const auto before = BuildStaticView(Zoned("dc"), hosts, "a", "");
  const auto after = BuildStaticView(Zoned("dc", {"c"}), hosts, "a", "");
  std::size_t moved = 0;
  for (const auto& host : hosts) {
    const MemberView* old_owner = before->OwnerOf(host.name);
    const MemberView* new_owner = after->OwnerOf(host.name);
    const std::string old_name = old_owner ? old_owner->spec.name : "-";
    const std::string new_name = new_owner ? new_owner->spec.name : "-";
    if (old_name == "c") {
      ++moved;
      EXPECT_TRUE(new_name == "b" || new_name == "f") << host.name << " moved to " << new_name;
    } else {
      EXPECT_EQ(new_name, old_name) << host.name << " moved though its owner stayed";
    }
  }
  EXPECT_GT(moved, 100u);
}

TEST(StaticMembershipTest, MemberChanges) {
  const auto before = BuildStaticView(Static({"a", "b", "c"}), {}, "a", "");
  const auto after = BuildStaticView(Static({"a", "c", "d"}), {}, "a", "");
  const MemberChanges changes = CompareMembers(*before, *after);
  EXPECT_EQ(changes.joined, std::vector<std::string>{"d"});
  EXPECT_EQ(changes.left, std::vector<std::string>{"b"});
}

}  // namespace
}  // namespace fleetps::collector::cluster
