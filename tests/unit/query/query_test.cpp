#include "fleetps/collector/query/query.hpp"

#include <string>
#include <vector>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "rows.hpp"

namespace fleetps::collector {
namespace {

using testing::Process;
using testing::RowStore;

std::vector<std::string> Hosts(const QueryResult& r) {
  std::vector<std::string> out;
  for (const QueryRow& row : r.rows)
    out.push_back(row.host + ":" + std::to_string(row.process->pid));
  return out;
}

TEST(QuerySort, ParsesKeys) {
  auto s = ParseSort("-rss");
  ASSERT_TRUE(s.has_value());
  ASSERT_EQ(s->size(), 1u);
  EXPECT_EQ((*s)[0].field.field, Field::kRss);
  EXPECT_TRUE((*s)[0].descending);

  s = ParseSort("user,-cpu,+pid,label.env");
  ASSERT_TRUE(s.has_value());
  ASSERT_EQ(s->size(), 4u);
  EXPECT_FALSE((*s)[0].descending);
  EXPECT_EQ((*s)[1].field.field, Field::kCpu);
  EXPECT_TRUE((*s)[1].descending);
  EXPECT_FALSE((*s)[2].descending);
  EXPECT_EQ((*s)[3].field.label, "env");

  s = ParseSort("");
  ASSERT_TRUE(s.has_value());
  EXPECT_TRUE(s->empty());
}

TEST(QuerySort, Errors) {
  auto s = ParseSort("-rsz");
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().position, 1u);
  EXPECT_EQ(s.error().message, R"(unknown field "rsz" (did you mean "rss"?))");
  s = ParseSort("-");
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().position, 1u);
  EXPECT_EQ(s.error().message, "expected a field name");
  s = ParseSort("rss,");
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().position, 4u);
  s = ParseSort("pid,pid,pid,pid,pid,pid,pid,pid,pid");
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().position, 32u);
  EXPECT_EQ(s.error().message, "too many sort keys (at most 8)");
}

TEST(QueryLimit, DefaultsAndBounds) {
  EXPECT_EQ(ParseLimit("").value(), kDefaultLimit);
  EXPECT_EQ(ParseLimit("1").value(), 1u);
  EXPECT_EQ(ParseLimit("100000").value(), 100000u);
  auto r = ParseLimit("0");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().message, "limit must be between 1 and 100000");
  EXPECT_FALSE(ParseLimit("100001").has_value());
  EXPECT_FALSE(ParseLimit("99999999999999999999999").has_value());
  r = ParseLimit("12x");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().position, 2u);
  EXPECT_EQ(r.error().message, "expected a positive integer");
  EXPECT_EQ(ParseLimit("-5").error().position, 0u);
}

class QueryRun : public ::testing::Test {
 protected:
  void SetUp() override {
    store_.Add("web02", Process(10, "www", "nginx", "nginx: worker", 100));
    store_.Add("web01", Process(11, "www", "nginx", "nginx: worker", 100));
    store_.Add("web01", Process(5, "www", "nginx", "nginx: master", 300));
    store_.Add("db1", Process(7, "oracle", "ora_pmon", "ora_pmon_X", 200));
    store_.Add("hpux", Process(3, "root", "init", "init", std::nullopt));
  }

  QueryResult Run(std::string_view selector, std::string_view sort, std::size_t limit = 50) {
    auto s = ParseSelector(selector);
    EXPECT_TRUE(s.has_value());
    auto k = ParseSort(sort);
    EXPECT_TRUE(k.has_value());
    auto r = RunQuery(store_.rows(), *s, *k, limit);
    EXPECT_TRUE(r.has_value());
    return r ? *r : QueryResult{};
  }

  RowStore store_;
};

TEST_F(QueryRun, DefaultOrderIsHostThenPid) {
  const QueryResult r = Run("", "");
  EXPECT_EQ(r.total, 5u);
  EXPECT_EQ(Hosts(r),
            (std::vector<std::string>{"db1:7", "hpux:3", "web01:5", "web01:11", "web02:10"}));
}

TEST_F(QueryRun, DescendingWithMissingValuesLast) {
  EXPECT_EQ(Hosts(Run("", "-rss")),
            (std::vector<std::string>{"web01:5", "db1:7", "web01:11", "web02:10", "hpux:3"}));
  EXPECT_EQ(Hosts(Run("", "rss")),
            (std::vector<std::string>{"web01:11", "web02:10", "db1:7", "web01:5", "hpux:3"}));
}

TEST_F(QueryRun, SecondaryKeysAndTies) {
  EXPECT_EQ(Hosts(Run("", "user,-pid")),
            (std::vector<std::string>{"db1:7", "hpux:3", "web01:11", "web02:10", "web01:5"}));
}

TEST_F(QueryRun, FilterAndLimitKeepTheTotal) {
  const QueryResult r = Run(R"({comm="nginx"})", "-rss", 2);
  EXPECT_EQ(r.total, 3u);
  EXPECT_EQ(Hosts(r), (std::vector<std::string>{"web01:5", "web01:11"}));
  EXPECT_EQ(Run(R"({comm="nothing"})", "").total, 0u);
}

TEST_F(QueryRun, SortByLabelPutsUnlabelledHostsLast) {
  store_.labels("web02")["env"] = "prod";
  store_.labels("db1")["env"] = "dev";
  const QueryResult r = Run("", "label.env", 3);
  EXPECT_EQ(Hosts(r), (std::vector<std::string>{"db1:7", "web02:10", "hpux:3"}));
}

TEST_F(QueryRun, BacktrackingRegexFailsTheQuery) {
  probes::ProcessRow p = Process(99, "x", "x", std::string(64, 'a'), 1);
  store_.Add("web03", p);
  auto s = ParseSelector(R"({args=~"(a*)*b"})");
  ASSERT_TRUE(s.has_value());
  auto r = RunQuery(store_.rows(), *s, {}, 10);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().position, 7u);
}

TEST(QueryRows, CpuFromDeltasAgeAndGroups) {
  probes::HostSnapshot before;
  before.processes.push_back(Process(10, "a", "a", "a", 1));
  before.processes.back().cpu_user_seconds = 100;
  before.processes.back().cpu_system_seconds = 20;
  before.processes.push_back(Process(20, "b", "b", "b", 1));  // pid reused below
  before.processes.back().cpu_total_seconds = 50;
  before.processes.push_back(Process(30, "c", "c", "c", 1));
  before.processes.back().cpu_total_seconds = 50;

  probes::HostSnapshot now = before;
  now.processes[0].cpu_user_seconds = 110;
  now.processes[0].cpu_system_seconds = 25;          // +15 s over 30 s
  now.processes[1].start_time_unix = 1'700'000'500;  // another process with pid 20
  now.processes[1].cpu_total_seconds = 60;
  now.processes[2].cpu_total_seconds = 40;                 // went backwards: no rate
  now.processes.push_back(Process(40, "d", "d", "d", 1));  // new
  now.processes.back().cpu_total_seconds = 1;

  probes::GroupSnapshot groups;
  groups.members = {{10, "alpha"}};
  HostLabels labels{{"env", "prod"}};
  std::vector<QueryRow> rows;
  const CpuSamples before_cpu = SampleCpu(before);
  ASSERT_EQ(before_cpu.size(), 3u);
  EXPECT_EQ(before_cpu[0].cpu_seconds, 120.0);  // user + system
  EXPECT_EQ(before_cpu[1].cpu_seconds, 50.0);   // the total where that is all there is
  AppendQueryRows({"h1", &labels, &now, &before_cpu, 30.0, &groups, 1'700'000'060.0}, rows);
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0].host, "h1");
  EXPECT_EQ(rows[0].labels, &labels);
  EXPECT_EQ(rows[0].process, &now.processes[0]);
  EXPECT_EQ(rows[0].group, "alpha");
  EXPECT_EQ(rows[0].cpu_cores, 0.5);
  EXPECT_EQ(rows[0].age_seconds, 60);
  EXPECT_FALSE(rows[1].group.has_value());
  EXPECT_FALSE(rows[1].cpu_cores.has_value());
  EXPECT_EQ(rows[1].age_seconds, 0);  // started after "now": clamped
  EXPECT_FALSE(rows[2].cpu_cores.has_value());
  EXPECT_FALSE(rows[3].cpu_cores.has_value());

  rows.clear();
  AppendQueryRows({"h1", nullptr, &now, nullptr, std::nullopt, nullptr, std::nullopt}, rows);
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_FALSE(rows[0].cpu_cores.has_value());
  EXPECT_FALSE(rows[0].age_seconds.has_value());
  AppendQueryRows({"h2", nullptr, nullptr, nullptr, std::nullopt, nullptr, std::nullopt}, rows);
  EXPECT_EQ(rows.size(), 4u);
}

}  // namespace
}  // namespace fleetps::collector
