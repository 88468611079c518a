// Properties of the bucket assignment: deterministic in any member order, minimal movement on
// join and leave, balance, weights, zones; and hashmod against MD5 values computed elsewhere.
#include "fleetps/collector/cluster/assignment.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace fleetps::collector::cluster {
namespace {

std::vector<MemberSpec> Members(std::size_t n, std::string_view prefix = "collector-") {
  std::vector<MemberSpec> members;
  for (std::size_t i = 0; i < n; ++i) {
    members.push_back({std::string(prefix) + std::to_string(i), 1, ""});
  }
  return members;
}

// The owner's name of every bucket.
std::vector<std::string> Owners(const std::vector<MemberSpec>& members, std::uint32_t buckets,
                                std::string_view zone = {}) {
  std::vector<std::string> owners(buckets);
  for (std::uint32_t b = 0; b < buckets; ++b) {
    const auto owner = DesiredOwner(members, b, zone);
    owners[b] = owner ? members[*owner].name : std::string();
  }
  return owners;
}

std::map<std::string, std::size_t> Shares(const std::vector<std::string>& owners) {
  std::map<std::string, std::size_t> shares;
  for (const auto& owner : owners) ++shares[owner];
  return shares;
}

TEST(AssignmentTest, SameOwnersInEveryMemberOrder) {
  std::vector<MemberSpec> members = Members(7);
  members[2].weight = 3;
  const auto reference = Owners(members, 2048);
  std::mt19937 random(20);
  for (int round = 0; round < 5; ++round) {
    std::shuffle(members.begin(), members.end(), random);
    EXPECT_EQ(Owners(members, 2048), reference);
  }
}

TEST(AssignmentTest, BalancedWithinBoundsForTheDefaultBucketCount) {
  // Per-member bucket counts of a fair split are binomial; +-6 standard deviations and the
  // documented "most loaded of 50 within ~+13 %" both hold with margin.
  for (const std::size_t n : {3u, 10u, 50u}) {
    const auto shares = Shares(Owners(Members(n), kDefaultBuckets));
    ASSERT_EQ(shares.size(), n);
    const double mean = static_cast<double>(kDefaultBuckets) / static_cast<double>(n);
    const double sd = std::sqrt(mean * (1 - 1.0 / static_cast<double>(n)));
    for (const auto& [member, count] : shares) {
      EXPECT_LT(std::abs(static_cast<double>(count) - mean), 6 * sd) << n << " " << member;
      EXPECT_LT(static_cast<double>(count), mean * 1.15) << n << " " << member;
    }
  }
}

TEST(AssignmentTest, JoinMovesOnlyToTheJoinerAboutOneInNPlusOne) {
  for (const std::size_t n : {3u, 10u, 50u}) {
    auto members = Members(n);
    const auto before = Owners(members, kDefaultBuckets);
    members.push_back({"joiner", 1, ""});
    const auto after = Owners(members, kDefaultBuckets);
    std::size_t moved = 0;
    for (std::uint32_t b = 0; b < kDefaultBuckets; ++b) {
      if (before[b] == after[b]) continue;
      ++moved;
      EXPECT_EQ(after[b], "joiner") << "bucket " << b << " moved between two old members";
    }
    const double fraction = static_cast<double>(moved) / kDefaultBuckets;
    EXPECT_NEAR(fraction, 1.0 / static_cast<double>(n + 1), 0.25 / static_cast<double>(n + 1)) << n;
  }
}

TEST(AssignmentTest, LeaveMovesOnlyTheLeaversBucketsAboutOneInN) {
  for (const std::size_t n : {3u, 10u, 50u}) {
    auto members = Members(n);
    const auto before = Owners(members, kDefaultBuckets);
    const std::string leaver = members[1].name;
    members.erase(members.begin() + 1);
    const auto after = Owners(members, kDefaultBuckets);
    std::size_t moved = 0;
    for (std::uint32_t b = 0; b < kDefaultBuckets; ++b) {
      if (before[b] == after[b]) continue;
      ++moved;
      EXPECT_EQ(before[b], leaver) << "bucket " << b << " moved off a member that stayed";
    }
    const double fraction = static_cast<double>(moved) / kDefaultBuckets;
    EXPECT_NEAR(fraction, 1.0 / static_cast<double>(n), 0.25 / static_cast<double>(n)) << n;
  }
}

TEST(AssignmentTest, WeightsScaleShares) {
  std::vector<MemberSpec> members = {{"a", 1, ""}, {"b", 2, ""}, {"c", 1, ""}, {"idle", 0, ""}};
  const auto shares = Shares(Owners(members, kDefaultBuckets));
  EXPECT_FALSE(shares.contains("idle"));
  const double b_share = static_cast<double>(shares.at("b")) / kDefaultBuckets;
  EXPECT_NEAR(b_share, 0.5, 0.03);
  EXPECT_NEAR(static_cast<double>(shares.at("a")) / kDefaultBuckets, 0.25, 0.03);
}

TEST(AssignmentTest, ZoneLimitsOwnersToThatZone) {
  std::vector<MemberSpec> members = {
      {"a", 1, "dc1"}, {"b", 1, "dc1"}, {"c", 1, "dc2"}, {"d", 1, ""}};
  const auto dc1 = Shares(Owners(members, 1024, "dc1"));
  EXPECT_EQ(dc1.size(), 2u);
  EXPECT_TRUE(dc1.contains("a") && dc1.contains("b"));
  EXPECT_EQ(Shares(Owners(members, 1024, "dc2")),
            (std::map<std::string, std::size_t>{{"c", 1024}}));
  EXPECT_EQ(Shares(Owners(members, 1024, "")), (std::map<std::string, std::size_t>{{"d", 1024}}));
  EXPECT_EQ(Shares(Owners(members, 16, "dc9")), (std::map<std::string, std::size_t>{{"", 16}}));
}

TEST(AssignmentTest, RankedOwnersStartWithTheDesiredOwner) {
  const auto members = Members(5);
  for (std::uint32_t b = 0; b < 200; ++b) {
    const auto ranked = RankedOwners(members, b, 3);
    ASSERT_EQ(ranked.size(), 3u);
    EXPECT_EQ(ranked[0], *DesiredOwner(members, b));
    EXPECT_GT(RendezvousScore(members[ranked[0]], b), RendezvousScore(members[ranked[1]], b));
  }
}

TEST(AssignmentTest, BucketOfIsStableAndInRange) {
  EXPECT_EQ(BucketOf("web01", kDefaultBuckets), BucketOf("web01", kDefaultBuckets));
  EXPECT_NE(StableHash("web01"), StableHash("web02"));
  for (int i = 0; i < 1000; ++i) EXPECT_LT(BucketOf("h" + std::to_string(i), 97), 97u);
}

// Expected values from Python's hashlib: int.from_bytes(md5(s).digest()[8:], "big") % n.
TEST(AssignmentTest, HashModMatchesMd5Reference) {
  ASSERT_TRUE(HashMod("web01", 7).has_value());
  EXPECT_EQ(HashMod("web01", 7), 0u);
  EXPECT_EQ(HashMod("db07.dc1", 1000), 451u);
  EXPECT_EQ(HashMod("", 3), 1u);
  EXPECT_EQ(HashMod("127.0.0.1:9100", 9223372036854775808ull), 2676120102455581150ull);
  EXPECT_EQ(HashMod("host-0001", 16), 5u);
}

}  // namespace
}  // namespace fleetps::collector::cluster
