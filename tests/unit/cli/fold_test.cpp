#include "fleetps/collector/query/nodeset_fold.hpp"

#include <algorithm>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "fleetps/config/nodeset.hpp"

namespace fleetps::collector {
namespace {

std::vector<std::string> Range(const std::string& prefix, int from, int to, int width,
                               const std::string& suffix = "") {
  std::vector<std::string> out;
  for (int i = from; i <= to; ++i) {
    std::string n = std::to_string(i);
    if (static_cast<int>(n.size()) < width)
      n.insert(0, static_cast<std::size_t>(width) - n.size(), '0');
    out.push_back(prefix + n + suffix);
  }
  return out;
}

// Every pattern expands (config::ExpandNodeset) to names of the input, each exactly once.
void ExpectRoundTrip(const std::vector<std::string>& names) {
  const std::set<std::string> want(names.begin(), names.end());
  std::multiset<std::string> got;
  for (const std::string& pattern : FoldHostNameList(names)) {
    const config::NodesetResult r = config::ExpandNodeset(pattern);
    ASSERT_TRUE(r.ok()) << pattern << ": " << r.error;
    got.insert(r.names.begin(), r.names.end());
  }
  EXPECT_EQ(std::set<std::string>(got.begin(), got.end()), want);
  EXPECT_EQ(got.size(), want.size()) << "a name appears in two patterns";
}

TEST(FoldHostNames, ContiguousPaddedRange) {
  EXPECT_EQ(FoldHostNames(Range("web", 1, 40, 2)), "web[01-40]");
}

TEST(FoldHostNames, GapsBecomeLists) {
  EXPECT_EQ(FoldHostNames({"web01", "web02", "web03", "web07"}), "web[01-03,07]");
  EXPECT_EQ(FoldHostNames({"db7.dc1", "db2.dc1", "db1.dc1", "db3.dc1"}), "db[1-3,7].dc1");
}

TEST(FoldHostNames, InputOrderAndDuplicatesDoNotMatter) {
  EXPECT_EQ(FoldHostNames({"web03", "web01", "web02", "web01"}), "web[01-03]");
}

TEST(FoldHostNames, SingleNamesStayPlain) {
  EXPECT_EQ(FoldHostNames({"web01"}), "web01");
  EXPECT_EQ(FoldHostNames({}), "");
}

TEST(FoldHostNames, Padding) {
  EXPECT_EQ(FoldHostNames({"web9", "web10", "web11"}), "web[9-11]");
  EXPECT_EQ(FoldHostNames({"web08", "web09", "web10"}), "web[08-10]");
  EXPECT_EQ(FoldHostNames({"web098", "web099", "web100"}), "web[098-100]");
  // web1 and web01 are different hosts.
  EXPECT_EQ(FoldHostNames({"web1", "web01", "web2", "web02"}), "web[1-2,01-02]");
}

TEST(FoldHostNames, PicksTheVaryingField) {
  EXPECT_EQ(FoldHostNames({"rack1-node5", "rack2-node5", "rack3-node5"}), "rack[1-3]-node5");
  EXPECT_EQ(FoldHostNames({"r1n01", "r1n02", "r1n03", "r2n01"}), "r1n[01-03],r2n01");
  // Both fields fold equally well: the rightmost varies.
  EXPECT_EQ(FoldHostNames({"r1n1", "r1n2", "r2n1", "r2n2"}), "r1n[1-2],r2n[1-2]");
  EXPECT_EQ(FoldHostNames({"db01.dc1", "db02.dc1", "db01.dc2", "db02.dc2", "db03.dc2"}),
            "db[01-02].dc1,db[01-03].dc2");
}

TEST(FoldHostNames, UnfoldableNamesAsACommaList) {
  EXPECT_EQ(FoldHostNames({"beta", "alpha", "gamma"}), "alpha,beta,gamma");
  EXPECT_EQ(FoldHostNames({"n1234567890", "n1234567891"}), "n1234567890,n1234567891");
  EXPECT_EQ(FoldHostNames({"mail", "web02", "db1", "web01", "web10", "web2"}),
            "db1,mail,web[01-02,2,10]");
}

TEST(FoldHostNames, NaturalOrderOfPatterns) {
  EXPECT_EQ(FoldHostNames({"web10.b", "web2.a", "web3.a"}), "web[2-3].a,web10.b");
}

TEST(FoldHostNames, RoundTripsThroughExpandNodeset) {
  ExpectRoundTrip(Range("web", 1, 40, 2));
  ExpectRoundTrip({"web1", "web01", "web2", "web02", "web10", "web010"});
  ExpectRoundTrip({"a0", "a00", "a000", "a1", "a01", "a9", "a10", "a099", "a100"});
  std::mt19937 rng(20240531);  // fixed seed: the same sets every run
  const std::vector<std::string> stems{"web", "db", "r", "node-", "x"};
  for (int round = 0; round < 200; ++round) {
    std::vector<std::string> names;
    const int count = 1 + static_cast<int>(rng() % 30);
    for (int i = 0; i < count; ++i) {
      const std::string& stem = stems[rng() % stems.size()];
      const int width = 1 + static_cast<int>(rng() % 3);
      std::string n = std::to_string(rng() % 120);
      if (static_cast<int>(n.size()) < width)
        n.insert(0, static_cast<std::size_t>(width) - n.size(), '0');
      std::string name = stem + n;
      if (rng() % 3 == 0) name += "n" + std::to_string(rng() % 4);
      if (rng() % 4 == 0) name += ".dc" + std::to_string(rng() % 2);
      names.push_back(name);
    }
    ExpectRoundTrip(names);
    if (::testing::Test::HasFailure()) {
      std::string all;
      for (const auto& n : names) all += n + " ";
      FAIL() << "round " << round << ": " << all;
    }
  }
}

}  // namespace
}  // namespace fleetps::collector
