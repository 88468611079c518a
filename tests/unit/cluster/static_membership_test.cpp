// The static membership: the view every member builds from the same list, self resolution from
// flags, owned hosts and counts.
#include "fleetps/collector/cluster/static_membership.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

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
  const auto a = BuildStaticView(Static({"c", "a", "b"}), "a", "1.0");
  const auto b = BuildStaticView(Static({"b", "c", "a"}), "b", "1.0");
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
    const auto view = BuildStaticView(Static({"a", "b", "c"}), self, "");
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
  const auto view = BuildStaticView(Static({"a", "b"}), "z", "");
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

TEST(StaticMembershipTest, MemberChanges) {
  const auto before = BuildStaticView(Static({"a", "b", "c"}), "a", "");
  const auto after = BuildStaticView(Static({"a", "c", "d"}), "a", "");
  const MemberChanges changes = CompareMembers(*before, *after);
  EXPECT_EQ(changes.joined, std::vector<std::string>{"d"});
  EXPECT_EQ(changes.left, std::vector<std::string>{"b"});
}

}  // namespace
}  // namespace fleetps::collector::cluster
