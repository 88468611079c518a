// The probe removes its own processes (the `sh -s` shell whose pid the `self` section names,
// everything below it, and the login shell that ran it) from the table, whatever order the
// pids of that tree come in. Built on a FreeBSD-shaped probe: ps columns pid, ppid, user,
// state, etime, usertime, systime, rss, vsz, nlwp, args.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "fixture.hpp"
#include "fleetps/probes/parsers.hpp"

namespace fleetps::probes {
namespace {

using testing::FindPid;
using testing::kNonce;

struct Proc {
  std::int64_t pid;
  std::int64_t ppid;
  std::string args;
};

std::string Section(std::string_view name, const std::string& body) {
  const std::string marker = "@@FLEETPS " + std::string(kNonce);
  return marker + " BEGIN " + std::string(name) + "\n" + body + marker + " END " +
         std::string(name) + " rc=0\n";
}

ProbeParseResult ParseTable(const std::vector<Proc>& procs, std::int64_t self) {
  std::string ps;
  for (const Proc& p : procs) {
    ps += std::to_string(p.pid) + " " + std::to_string(p.ppid) +
          " mon S 00:01 0:00.00 0:00.00 100 200 1 " + p.args + "\n";
  }
  const std::string out = Section("self", std::to_string(self) + "\n") +
                          Section("clock", "1700000000\n") + Section("ps", ps);
  return ParseProcessProbe(Dialect::kFreebsd, Fingerprint{}, out, kNonce);
}

// Unrelated processes around the probe tree, so that removing too much shows.
std::vector<Proc> Bystanders() {
  return {{1, 0, "/sbin/init"},
          {500, 1, "/usr/sbin/sshd"},
          {950, 1, "nginx: master"},
          {951, 950, "nginx: worker"},
          {9000, 1, "/usr/sbin/cron"}};
}

TEST(ProbesSelfExclusion, RemovesTheProbeTreeAndItsLoginShellOnly) {
  std::vector<Proc> procs = Bystanders();
  procs.push_back({7000, 500, "sshd: mon@notty"});
  procs.push_back({7001, 7000, "sh -c /bin/sh -s"});
  procs.push_back({7002, 7001, "/bin/sh -s"});
  procs.push_back({7003, 7002, "ps -ax"});
  const ProbeParseResult r = ParseTable(procs, 7002);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.snapshot.stats.self_excluded, 3u);
  EXPECT_EQ(r.snapshot.processes.size(), 6u);
  EXPECT_NE(FindPid(r.snapshot, 7000), nullptr) << "the sshd session process is not the probe's";
  EXPECT_EQ(FindPid(r.snapshot, 7003), nullptr);
}

// After pid wrap-around a child has a smaller pid than its parent. A chain whose pids fall at
// every level defeats the in-order passes and takes the sorted walk; the result is the same.
TEST(ProbesSelfExclusion, ChainWithFallingPidsIsRemovedWhole) {
  std::vector<Proc> procs = Bystanders();
  constexpr std::int64_t kSelf = 8000;
  procs.push_back({kSelf, 9000, "/bin/sh -s"});
  for (std::int64_t depth = 1; depth <= 12; ++depth) {
    procs.push_back({kSelf - 100 * depth, kSelf - 100 * (depth - 1), "sleep 1"});
  }
  const ProbeParseResult r = ParseTable(procs, kSelf);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.snapshot.stats.self_excluded, 13u);
  EXPECT_EQ(r.snapshot.processes.size(), Bystanders().size());
  EXPECT_NE(FindPid(r.snapshot, 9000), nullptr) << "cron ran the probe but is not a login shell";
}

// More descendants than the in-order passes track (64) go through the sorted walk too.
TEST(ProbesSelfExclusion, WideProbeTreeIsRemovedWhole) {
  std::vector<Proc> procs = Bystanders();
  constexpr std::int64_t kSelf = 20000;
  procs.push_back({kSelf, 1, "/bin/sh -s"});
  for (std::int64_t child = 1; child <= 100; ++child) {
    procs.push_back({kSelf + child, kSelf, "sleep 1"});
    procs.push_back({kSelf + 1000 + child, kSelf + child, "sleep 2"});
  }
  const ProbeParseResult r = ParseTable(procs, kSelf);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.snapshot.stats.self_excluded, 201u);
  EXPECT_EQ(r.snapshot.processes.size(), Bystanders().size());
}

// A table where a descendant claims the probe shell as its child (a cycle) still ends.
TEST(ProbesSelfExclusion, CycleBackToTheProbeShellEnds) {
  std::vector<Proc> procs = Bystanders();
  procs.push_back({7002, 7003, "/bin/sh -s"});
  procs.push_back({7003, 7002, "ps -ax"});
  const ProbeParseResult r = ParseTable(procs, 7002);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.snapshot.stats.self_excluded, 2u);
  EXPECT_EQ(r.snapshot.processes.size(), Bystanders().size());
}

}  // namespace
}  // namespace fleetps::probes

namespace fleetps::probes {
namespace {

// BSD ps prints what it cannot read as a name in brackets (kernel processes, as in
// tests/data/real/freebsd) or parentheses (arguments unreadable: swapped out, exiting; the
// macOS zombie "(Meeting Manager)" in tests/data/real/darwin).
TEST(ProbesBsdNames, KernelBracketsAndSwappedOutParentheses) {
  const ProbeParseResult r = ParseTable({{0, 0, "[kernel]"},
                                         {11, 0, "[idle]"},
                                         {812, 1, "(postgres)"},
                                         {900, 1, "/usr/sbin/cron -s"},
                                         {950, 1, "(Meeting Manager)"}},
                                        99999);
  ASSERT_TRUE(r.ok()) << r.error;
  const ProcessRow* idle = FindPid(r.snapshot, 11);
  ASSERT_NE(idle, nullptr);
  EXPECT_EQ(idle->comm, "idle");
  EXPECT_TRUE(idle->args.empty());
  EXPECT_TRUE(idle->exe().empty());
  EXPECT_TRUE(idle->kernel);
  const ProcessRow* postgres = FindPid(r.snapshot, 812);
  ASSERT_NE(postgres, nullptr);
  EXPECT_EQ(postgres->comm, "postgres");
  EXPECT_TRUE(postgres->exe().empty());
  EXPECT_FALSE(postgres->kernel);
  const ProcessRow* meeting = FindPid(r.snapshot, 950);
  ASSERT_NE(meeting, nullptr);
  EXPECT_EQ(meeting->comm, "Meeting Manager");
  EXPECT_TRUE(meeting->exe().empty());
  const ProcessRow* cron = FindPid(r.snapshot, 900);
  EXPECT_EQ(cron->comm, "cron");
  EXPECT_FALSE(cron->kernel);
}

}  // namespace
}  // namespace fleetps::probes
