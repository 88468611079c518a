#include "fleetps/config/nodeset.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace fleetps::config {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(NodesetTest, PlainNameIsItself) {
  const NodesetResult result = ExpandNodeset("web01.example");
  ASSERT_TRUE(result.ok()) << result.error;
  EXPECT_THAT(result.names, ElementsAre("web01.example"));
  EXPECT_FALSE(IsNodesetPattern("web01.example"));
  EXPECT_TRUE(IsNodesetPattern("web[1-2]"));
}

TEST(NodesetTest, KeepsZeroPaddingOfFirstBound) {
  const NodesetResult result = ExpandNodeset("db[08-11].dc1");
  ASSERT_TRUE(result.ok()) << result.error;
  EXPECT_THAT(result.names, ElementsAre("db08.dc1", "db09.dc1", "db10.dc1", "db11.dc1"));
}

TEST(NodesetTest, ExpandsTwelveHostsInOrder) {
  const NodesetResult result = ExpandNodeset("db[01-12].dc1");
  ASSERT_TRUE(result.ok()) << result.error;
  ASSERT_EQ(result.names.size(), 12u);
  EXPECT_EQ(result.names.front(), "db01.dc1");
  EXPECT_EQ(result.names.back(), "db12.dc1");
}

TEST(NodesetTest, UnpaddedRangeGrowsNaturally) {
  const NodesetResult result = ExpandNodeset("n[9-11]");
  ASSERT_TRUE(result.ok()) << result.error;
  EXPECT_THAT(result.names, ElementsAre("n9", "n10", "n11"));
}

TEST(NodesetTest, ListsAndRangesMix) {
  const NodesetResult result = ExpandNodeset("web[1-3,7].x");
  ASSERT_TRUE(result.ok()) << result.error;
  EXPECT_THAT(result.names, ElementsAre("web1.x", "web2.x", "web3.x", "web7.x"));
}

TEST(NodesetTest, SeveralBracketsFormCartesianProductLastFastest) {
  const NodesetResult result = ExpandNodeset("r[1-2]n[01-02]");
  ASSERT_TRUE(result.ok()) << result.error;
  EXPECT_THAT(result.names, ElementsAre("r1n01", "r1n02", "r2n01", "r2n02"));
}

TEST(NodesetTest, SingleNumberInBrackets) {
  const NodesetResult result = ExpandNodeset("[007]");
  ASSERT_TRUE(result.ok()) << result.error;
  EXPECT_THAT(result.names, ElementsAre("007"));
}

struct NodesetErrorCase {
  const char* pattern;
  const char* error;
  std::size_t offset;
};

void PrintTo(const NodesetErrorCase& c, std::ostream* os) { *os << c.pattern; }

class NodesetErrorTest : public ::testing::TestWithParam<NodesetErrorCase> {};

TEST_P(NodesetErrorTest, ReportsMessageAndOffset) {
  const NodesetErrorCase& c = GetParam();
  const NodesetResult result = ExpandNodeset(c.pattern);
  EXPECT_FALSE(result.ok());
  EXPECT_THAT(result.names, IsEmpty());
  EXPECT_EQ(result.error, c.error);
  EXPECT_EQ(result.error_offset, c.offset);
}

INSTANTIATE_TEST_SUITE_P(
    Nodeset, NodesetErrorTest,
    ::testing::Values(
        NodesetErrorCase{"db[12-01]", "reversed range \"12-01\" in nodeset", 3},
        NodesetErrorCase{"db[1-2,9-3]", "reversed range \"9-3\" in nodeset", 7},
        NodesetErrorCase{"db[01-12", "unbalanced \"[\" in nodeset", 2},
        NodesetErrorCase{"db[1-[2]]", "unbalanced \"[\" in nodeset", 2},
        NodesetErrorCase{"db01]", "unbalanced \"]\" in nodeset", 4},
        NodesetErrorCase{"db[]", "empty brackets in nodeset", 2},
        NodesetErrorCase{"db[1,,2]", "empty item in nodeset brackets", 5},
        NodesetErrorCase{"db[1-]", "expected a number in nodeset range", 5},
        NodesetErrorCase{"db[-3]", "expected a number in nodeset range", 3},
        NodesetErrorCase{"db[1-a]", "unexpected \"a\" in nodeset brackets", 5},
        NodesetErrorCase{"db[1 -2]", "unexpected \" \" in nodeset brackets", 4},
        NodesetErrorCase{"db[1234567890]", "number in nodeset brackets has more than 9 digits", 3},
        NodesetErrorCase{"n[1-100001]", "nodeset expands to more than 100000 names", 2},
        NodesetErrorCase{"a[1-1000]b[1-1000]", "nodeset expands to more than 100000 names", 10}));

TEST(NodesetTest, CapIsConfigurable) {
  EXPECT_TRUE(ExpandNodeset("n[1-4]", 4).ok());
  const NodesetResult result = ExpandNodeset("n[1-2]m[1-3]", 5);
  EXPECT_EQ(result.error, "nodeset expands to more than 5 names");
}

TEST(NodesetFoldTest, FoldsPaddedRunsBackToThePattern) {
  const NodesetResult expanded = ExpandNodeset("web[08-12]");
  ASSERT_TRUE(expanded.ok());
  EXPECT_THAT(FoldNodeset(expanded.names), ElementsAre("web[08-12]"));
}

TEST(NodesetFoldTest, KeepsGapsAndStrangers) {
  EXPECT_THAT(FoldNodeset({"web3", "web1", "web2", "web7", "db1", "gateway", "web1"}),
              ElementsAre("db1", "gateway", "web[1-3,7]"));
}

TEST(NodesetFoldTest, DoesNotMixPaddings) {
  EXPECT_THAT(FoldNodeset({"n01", "n02", "n3", "n4"}), ElementsAre("n[01-02]", "n[3-4]"));
}

TEST(NodesetFoldTest, FoldsLastDigitRunOnly) {
  EXPECT_THAT(FoldNodeset({"r1n1.x", "r1n2.x", "r2n1.x"}), ElementsAre("r1n[1-2].x", "r2n1.x"));
}

}  // namespace
}  // namespace fleetps::config
