// Grouping mirrors process-exporter: first match wins, named captures, child folding, and
// counters built from per-process deltas keyed by (pid, start time).
#include <gtest/gtest.h>

#include <chrono>

#include "fixture.hpp"
#include "fleetps/probes/grouping.hpp"

namespace fleetps::probes {
namespace {

// The group of `pid`, or "<ungrouped>".
std::string GroupOf(const GroupSnapshot& grouping, std::int64_t pid) {
  const std::string* group = grouping.members.Find(pid);
  return group != nullptr ? *group : "<ungrouped>";
}

ProcessRow Row(std::int64_t pid, std::int64_t ppid, std::string comm, std::string args,
               double start = 1000, double cpu_user = 0, double cpu_system = 0) {
  ProcessRow row;
  row.pid = pid;
  row.ppid = ppid;
  row.comm = std::move(comm);
  row.args = std::move(args);
  row.user = "app";
  row.start_time_unix = start;
  row.cpu_user_seconds = cpu_user;
  row.cpu_system_seconds = cpu_system;
  row.state_bucket = StateBucket::kSleeping;
  return row;
}

Grouper Compile(std::vector<MatcherSpec> specs, GroupOptions options = {}) {
  GrouperResult r = Grouper::Compile(specs, options);
  EXPECT_TRUE(r.errors.empty()) << (r.errors.empty() ? "" : r.errors.front());
  return *r.grouper;
}

HostSnapshot Snapshot(std::vector<ProcessRow> rows) {
  HostSnapshot snap;
  snap.processes = std::move(rows);
  return snap;
}

TEST(GroupMatch, FirstMatchWins) {
  const Grouper g = Compile({{"db", {"postgres"}, {}, {}}, {"{{.Comm}}", {}, {}, {".+"}}});
  const GroupSnapshot out = g.Group(Snapshot(
      {Row(10, 1, "postgres", "/usr/bin/postgres -D x"), Row(11, 1, "nginx", "nginx: master")}));
  EXPECT_EQ(GroupOf(out, 10), "db");
  EXPECT_EQ(GroupOf(out, 11), "nginx");
  EXPECT_EQ(out.groups.at("db").num_procs, 1u);
}

TEST(GroupMatch, NamedCapturesAndTemplates) {
  const Grouper g = Compile({{"java:{{.Matches.App}}@{{.Username}}",
                              {},
                              {},
                              {"^(?P<Jvm>\\S*java) .*-Dapp\\.name=(?<App>[a-z]+)"}},
                             {"{{.ExeBase}}|{{.ExeFull}}|{{.PID}}", {}, {"sleep"}, {}}});
  const GroupSnapshot out =
      g.Group(Snapshot({Row(20, 1, "java", "/opt/jdk/bin/java -Xmx1g -Dapp.name=billing Main"),
                        Row(21, 1, "sleep", "/bin/sleep 10")}));
  EXPECT_EQ(GroupOf(out, 20), "java:billing@app");
  EXPECT_EQ(GroupOf(out, 21), "sleep|/bin/sleep|21");
}

TEST(GroupMatch, ExeFullPathNeedsExactArgv0) {
  const Grouper g = Compile({{"x", {}, {"/usr/sbin/sshd"}, {}}});
  EXPECT_TRUE(g.Name(Row(1, 0, "sshd", "/usr/sbin/sshd -D")).has_value());
  EXPECT_FALSE(g.Name(Row(2, 0, "sshd", "/opt/sshd -D")).has_value());
  EXPECT_FALSE(g.Name(Row(3, 0, "sshd", "")).has_value());  // no cmdline: exe never matches
}

TEST(GroupMatch, AllKindsMustMatch) {
  const Grouper g = Compile({{"x", {"python3"}, {}, {"manage\\.py", "runserver"}}});
  EXPECT_TRUE(g.Name(Row(1, 0, "python3", "python3 manage.py runserver")).has_value());
  EXPECT_FALSE(g.Name(Row(2, 0, "python3", "python3 manage.py migrate")).has_value());
  EXPECT_FALSE(g.Name(Row(3, 0, "python", "python3 manage.py runserver")).has_value());
}

TEST(GroupMatch, CaseInsensitiveFlag) {
  const Grouper g = Compile({{"x", {}, {}, {"(?i)ORACLE"}}});
  EXPECT_TRUE(g.Name(Row(1, 0, "ora", "ora_pmon_oracle")).has_value());
}

TEST(GroupMatch, HugeCommandLineDoesNotExhaustTheStack) {
  const Grouper g = Compile({{"big", {}, {}, {"^/opt/runner .+"}}, {"tail", {}, {}, {"needle$"}}});
  const std::string args = "/opt/runner " + std::string(200000, 'x') + " needle";
  EXPECT_EQ(g.Name(Row(1, 0, "runner", args)), "big");
  // Matching stops after 4 KiB: a pattern that needs the tail does not match.
  const Grouper tail_only = Compile({{"tail", {}, {}, {"needle$"}}});
  EXPECT_FALSE(tail_only.Name(Row(1, 0, "runner", args)).has_value());
}

TEST(GroupCompile, ReportsEveryProblem) {
  const GrouperResult r = Grouper::Compile({{"{{.Nope}}", {"a"}, {}, {}},
                                            {"{{.Matches.X}}", {}, {}, {"(?P<Y>a)"}},
                                            {"x", {}, {}, {"(unclosed"}},
                                            {"x", {}, {}, {}},
                                            {"{{.Comm", {"a"}, {}, {}},
                                            {"x", {}, {}, {"(?s)a"}}});
  EXPECT_FALSE(r.grouper.has_value());
  ASSERT_EQ(r.errors.size(), 6u);
  EXPECT_NE(r.errors[0].find("process_names[0]"), std::string::npos);
  EXPECT_NE(r.errors[1].find(".Matches.X"), std::string::npos);
}

TEST(GroupFolding, ChildrenJoinNearestGroupedAncestor) {
  const Grouper g = Compile({{"web", {"nginx"}, {}, {}}, {"php", {"php-fpm"}, {}, {}}});
  const GroupSnapshot out = g.Group(Snapshot({
      Row(1, 0, "init", "/sbin/init"), Row(10, 1, "nginx", "nginx: master"),
      Row(11, 10, "nginx", "nginx: worker"),
      Row(12, 11, "sh", "sh -c logrotate"),     // grandchild folds into web
      Row(13, 12, "php-fpm", "php-fpm: pool"),  // own match wins over ancestry
      Row(14, 13, "cat", "cat"),                // nearest grouped ancestor is php
      Row(15, 1, "cron", "cron"),               // ungrouped: ignored
  }));
  EXPECT_EQ(out.groups.at("web").num_procs, 3u);
  EXPECT_EQ(out.groups.at("php").num_procs, 2u);
  EXPECT_FALSE(out.members.contains(15));
  EXPECT_FALSE(out.members.contains(1));
}

TEST(GroupFolding, CanBeTurnedOffAndSurvivesCycles) {
  const Grouper g = Compile({{"web", {"nginx"}, {}, {}}}, GroupOptions{false});
  const GroupSnapshot out = g.Group(Snapshot({Row(10, 1, "nginx", "nginx"), Row(11, 10, "sh", "sh"),
                                              Row(20, 21, "a", "a"), Row(21, 20, "b", "b")}));
  EXPECT_EQ(out.groups.at("web").num_procs, 1u);
  const Grouper folding = Compile({{"web", {"nginx"}, {}, {}}});
  EXPECT_EQ(folding.Group(Snapshot({Row(20, 21, "a", "a"), Row(21, 20, "b", "b")})).groups.size(),
            0u);
}

TEST(GroupAggregates, SumsAndAbsentValues) {
  const Grouper g = Compile({{"db", {"postgres"}, {}, {}}});
  ProcessRow a = Row(10, 1, "postgres", "postgres", 500, 3, 1);
  a.rss_bytes = 100;
  a.fds = 50;
  a.fd_limit = 100;
  a.threads = 2;
  a.state_bucket = StateBucket::kRunning;
  ProcessRow b = Row(11, 1, "postgres", "postgres", 400, 2, 1);
  b.rss_bytes = 50;
  b.fds = 10;
  b.fd_limit = 1000;
  b.threads = 1;
  HostSnapshot snap = Snapshot({a, b});
  snap.listening.push_back({"tcp", "*", 5432, 10, "postgres"});
  snap.listening.push_back({"tcp6", "::", 5432, 11, "postgres"});
  snap.listening.push_back({"tcp", "*", 22, 99, "sshd"});
  const GroupStats s = g.Group(snap).groups.at("db");
  EXPECT_EQ(s.num_procs, 2u);
  EXPECT_DOUBLE_EQ(s.cpu_user_seconds, 5);
  EXPECT_DOUBLE_EQ(*s.cpu_system_seconds, 2);
  EXPECT_EQ(s.memory_resident_bytes, 150u);
  EXPECT_FALSE(s.memory_virtual_bytes.has_value());  // nobody had it: absent, not 0
  EXPECT_FALSE(s.read_bytes.has_value());
  EXPECT_EQ(s.open_filedesc, 60);
  EXPECT_DOUBLE_EQ(*s.worst_fd_ratio, 0.5);
  EXPECT_EQ(s.num_threads, 3);
  EXPECT_EQ(s.states[static_cast<std::size_t>(StateBucket::kRunning)], 1u);
  EXPECT_EQ(s.states[static_cast<std::size_t>(StateBucket::kSleeping)], 1u);
  EXPECT_DOUBLE_EQ(*s.oldest_start_time_unix, 400);
  EXPECT_EQ(s.listen_sockets.at("tcp"), 1u);
  EXPECT_EQ(s.listen_sockets.at("tcp6"), 1u);
}

TEST(GroupAggregates, TotalOnlyDialectsCountAsUser) {
  const Grouper g = Compile({{"x", {"ase"}, {}, {}}});
  ProcessRow row = Row(1, 0, "ase", "ase");
  row.cpu_user_seconds.reset();
  row.cpu_system_seconds.reset();
  row.cpu_total_seconds = 42;
  const GroupStats s = g.Group(Snapshot({row})).groups.at("x");
  EXPECT_DOUBLE_EQ(s.cpu_user_seconds, 42);
  EXPECT_FALSE(s.cpu_system_seconds.has_value());
}

TEST(GroupTracker, TheFirstSnapshotIsTheBaselineSoARestartIsAnOrdinaryReset) {
  const Grouper g = Compile({{"w", {"worker"}, {}, {}}});
  GroupTracker tracker;
  // Long-running processes: 5,000 s of CPU before the collector first saw the host.
  ProcessRow row = Row(10, 1, "worker", "w", 100, 5000, 700);
  row.read_bytes = 1 << 20;
  GroupSnapshot s1 = tracker.Update(Snapshot({row}), g);
  const GroupStats& first = s1.groups.at("w");
  EXPECT_DOUBLE_EQ(first.cpu_user_seconds, 0);  // not counted: used before the collector came
  EXPECT_DOUBLE_EQ(*first.cpu_system_seconds, 0);
  EXPECT_EQ(first.read_bytes, 0u);  // present (the host gives it), at 0
  EXPECT_FALSE(first.write_bytes.has_value());
  EXPECT_EQ(first.starts_total, 0u);
  row.cpu_user_seconds = 5003;
  row.cpu_system_seconds = 701;
  row.read_bytes = (1 << 20) + 10;
  const GroupSnapshot s2 = tracker.Update(Snapshot({row}), g);
  EXPECT_DOUBLE_EQ(s2.groups.at("w").cpu_user_seconds, 3);  // only what was used since
  EXPECT_DOUBLE_EQ(*s2.groups.at("w").cpu_system_seconds, 1);
  EXPECT_EQ(s2.groups.at("w").read_bytes, 10u);
  // A collector restart is a new tracker: back to 0, a reset Prometheus handles, not a spike.
  GroupTracker restarted;
  EXPECT_DOUBLE_EQ(restarted.Update(Snapshot({row}), g).groups.at("w").cpu_user_seconds, 0);
}

TEST(GroupTracker, CountersNeverGoBackwardsWhenAProcessExits) {
  const Grouper g = Compile({{"w", {"worker"}, {}, {}}});
  GroupTracker tracker;
  GroupSnapshot s1 = tracker.Update(
      Snapshot({Row(10, 1, "worker", "w", 100, 10, 1), Row(11, 1, "worker", "w", 100, 20, 2)}), g);
  EXPECT_DOUBLE_EQ(s1.groups.at("w").cpu_user_seconds, 0);  // the first snapshot is the baseline
  EXPECT_EQ(s1.groups.at("w").starts_total, 0u);
  GroupSnapshot s2 = tracker.Update(
      Snapshot({Row(10, 1, "worker", "w", 100, 15, 1), Row(11, 1, "worker", "w", 100, 24, 3)}), g);
  EXPECT_DOUBLE_EQ(s2.groups.at("w").cpu_user_seconds, 9);
  GroupSnapshot s3 = tracker.Update(Snapshot({Row(10, 1, "worker", "w", 100, 16, 3)}), g);
  EXPECT_DOUBLE_EQ(s3.groups.at("w").cpu_user_seconds, 10);  // 11 exited: its 4 s stay
  EXPECT_DOUBLE_EQ(*s3.groups.at("w").cpu_system_seconds, 3);
  EXPECT_EQ(s3.groups.at("w").num_procs, 1u);
  GroupSnapshot s4 = tracker.Update(Snapshot({}), g);
  ASSERT_EQ(s4.groups.count("w"), 1u);  // group stays, empty
  EXPECT_EQ(s4.groups.at("w").num_procs, 0u);
  EXPECT_DOUBLE_EQ(s4.groups.at("w").cpu_user_seconds, 10);
}

// DESIGN §6 group lifecycle: templated groups go after `retention` empty (with their counters);
// fixed-name groups stay once seen; expected groups are there from the first update.
TEST(GroupTracker, TemplatedGroupsAreDroppedAfterRetentionFixedAndExpectedStay) {
  const Grouper g = Compile({{"db", {"oracle"}, {}, {}}, {"{{.Comm}}", {}, {}, {".+"}}});
  GroupLifecycle lifecycle;
  lifecycle.fixed = std::make_shared<const GroupNameSet>(GroupNameSet{"db", "web"});
  lifecycle.expected = {"web"};
  lifecycle.retention = std::chrono::minutes(10);
  const auto t0 = std::chrono::system_clock::time_point(std::chrono::hours(1000));
  GroupTracker tracker;
  GroupSnapshot s =
      tracker.Update(Snapshot({Row(10, 1, "oracle", "ora"), Row(11, 1, "cron", "cron", 1000, 7)}),
                     g, lifecycle, t0);
  EXPECT_EQ(s.groups.size(), 3u);  // db, cron, and web expected though absent
  EXPECT_EQ(s.groups.at("web").num_procs, 0u);
  // cron busy for a while, then gone: kept as 0 within the retention, with its counters.
  s = tracker.Update(Snapshot({Row(10, 1, "oracle", "ora"), Row(11, 1, "cron", "cron", 1000, 9)}),
                     g, lifecycle, t0 + std::chrono::minutes(1));
  EXPECT_DOUBLE_EQ(s.groups.at("cron").cpu_user_seconds, 2);
  s = tracker.Update(Snapshot({}), g, lifecycle, t0 + std::chrono::minutes(10));
  ASSERT_TRUE(s.groups.contains("cron"));
  EXPECT_EQ(s.groups.at("cron").num_procs, 0u);
  EXPECT_DOUBLE_EQ(s.groups.at("cron").cpu_user_seconds, 2);
  // Ten minutes after it was last seen it is dropped; db (fixed) and web (expected) stay.
  s = tracker.Update(Snapshot({}), g, lifecycle, t0 + std::chrono::minutes(11));
  EXPECT_FALSE(s.groups.contains("cron"));
  EXPECT_TRUE(s.groups.contains("db"));
  EXPECT_TRUE(s.groups.contains("web"));
  // If it returns it is a new series from 0: its earlier counters are gone.
  s = tracker.Update(Snapshot({Row(12, 1, "cron", "cron", 5000, 3)}), g, lifecycle,
                     t0 + std::chrono::minutes(12));
  EXPECT_DOUBLE_EQ(s.groups.at("cron").cpu_user_seconds, 3);
}

TEST(GroupTracker, NewGroupsBeyondTheLimitAreRefusedUntilOneIsDropped) {
  const Grouper g = Compile({{"{{.Comm}}", {}, {}, {".+"}}});
  GroupLifecycle lifecycle;
  lifecycle.expected = {"always"};  // not counted against the limit
  lifecycle.max_groups = 2;
  lifecycle.retention = std::chrono::minutes(1);
  const auto t0 = std::chrono::system_clock::time_point(std::chrono::hours(1000));
  GroupTracker tracker;
  GroupSnapshot s = tracker.Update(
      Snapshot({Row(1, 0, "b", "b"), Row(2, 0, "c", "c"), Row(3, 0, "a", "a", 1000, 5)}), g,
      lifecycle, t0);
  EXPECT_EQ(s.refused, 1u);
  EXPECT_TRUE(s.groups.contains("a"));
  EXPECT_TRUE(s.groups.contains("b"));
  EXPECT_FALSE(s.groups.contains("c"));  // name order decides among new groups
  EXPECT_FALSE(s.members.contains(2));
  EXPECT_TRUE(s.groups.contains("always"));
  // a exits and ages out: c gets its place; existing groups keep theirs before new ones.
  s = tracker.Update(Snapshot({Row(1, 0, "b", "b"), Row(2, 0, "c", "c", 1000, 4)}), g, lifecycle,
                     t0 + std::chrono::seconds(30));
  EXPECT_EQ(s.refused, 1u);
  s = tracker.Update(Snapshot({Row(1, 0, "b", "b"), Row(2, 0, "c", "c", 1000, 6)}), g, lifecycle,
                     t0 + std::chrono::minutes(2));
  EXPECT_EQ(s.refused, 0u);
  EXPECT_FALSE(s.groups.contains("a"));
  ASSERT_TRUE(s.groups.contains("c"));
  // Its process was known while refused: it counts from the probe before admission (4 → 6),
  // not its whole lifetime (6).
  EXPECT_DOUBLE_EQ(s.groups.at("c").cpu_user_seconds, 2);
  s = tracker.Update(Snapshot({Row(1, 0, "b", "b"), Row(2, 0, "c", "c", 1000, 7)}), g, lifecycle,
                     t0 + std::chrono::minutes(3));
  EXPECT_DOUBLE_EQ(s.groups.at("c").cpu_user_seconds, 3);
}

TEST(GroupTracker, PidReuseWithNewStartTimeIsANewProcess) {
  const Grouper g = Compile({{"w", {"worker"}, {}, {}}});
  GroupTracker tracker;
  (void)tracker.Update(Snapshot({Row(10, 1, "worker", "w", 100, 50)}), g);
  // Same pid, later start, lower CPU: a restart, not a counter reset; all its CPU is new.
  GroupSnapshot s = tracker.Update(Snapshot({Row(10, 1, "worker", "w", 900, 2)}), g);
  EXPECT_DOUBLE_EQ(s.groups.at("w").cpu_user_seconds, 2);
  EXPECT_EQ(s.groups.at("w").starts_total, 1u);
  // etime-derived start times jitter by a second: still the same process.
  s = tracker.Update(Snapshot({Row(10, 1, "worker", "w", 901, 3)}), g);
  EXPECT_DOUBLE_EQ(s.groups.at("w").cpu_user_seconds, 3);
  EXPECT_EQ(s.groups.at("w").starts_total, 1u);
  // A brand-new pid is a start too.
  s = tracker.Update(
      Snapshot({Row(10, 1, "worker", "w", 901, 3), Row(12, 1, "worker", "w", 950, 1)}), g);
  EXPECT_EQ(s.groups.at("w").starts_total, 2u);
  EXPECT_DOUBLE_EQ(s.groups.at("w").cpu_user_seconds, 4);
}

TEST(GroupTracker, ShrinkingValueContributesNothing) {
  const Grouper g = Compile({{"w", {"worker"}, {}, {}}});
  GroupTracker tracker;
  ProcessRow row = Row(10, 1, "worker", "w", 100, 5);
  row.read_bytes = 1000;
  (void)tracker.Update(Snapshot({row}), g);
  row.cpu_user_seconds = 7;
  row.read_bytes = 1100;
  (void)tracker.Update(Snapshot({row}), g);
  row.cpu_user_seconds = 4;  // a sampling glitch must not lower the counter
  row.read_bytes = 900;
  const GroupSnapshot s = tracker.Update(Snapshot({row}), g);
  EXPECT_DOUBLE_EQ(s.groups.at("w").cpu_user_seconds, 2);
  EXPECT_EQ(s.groups.at("w").read_bytes, 100u);
}

std::shared_ptr<const HostSnapshot> Shared(std::vector<ProcessRow> rows) {
  return std::make_shared<const HostSnapshot>(Snapshot(std::move(rows)));
}

// The memoised grouping must give exactly what matching every row gives.
void ExpectSameGrouping(const GroupSnapshot& memoised, const GroupSnapshot& direct) {
  EXPECT_EQ(memoised.members, direct.members);
  ASSERT_EQ(memoised.groups.size(), direct.groups.size());
  for (const auto& [name, stats] : direct.groups) {
    ASSERT_TRUE(memoised.groups.contains(name)) << name;
    EXPECT_EQ(memoised.groups.at(name).num_procs, stats.num_procs) << name;
  }
}

TEST(GroupMemo, UnchangedRowsAreAnsweredFromTheMemo) {
  const Grouper g = Compile({{"db", {"postgres"}, {}, {}}, {"{{.Comm}}", {}, {}, {"^nginx: "}}});
  GroupMemo memo;
  const std::vector<ProcessRow> rows = {
      Row(1, 0, "init", "/sbin/init"), Row(10, 1, "postgres", "/usr/bin/postgres -D x"),
      Row(11, 1, "nginx", "nginx: master"), Row(12, 11, "nginx", "nginx: worker"),
      Row(13, 11, "nginx", "nginx: worker")};
  GroupSnapshot first = g.Group(Shared(rows), memo);
  ExpectSameGrouping(first, g.Group(Snapshot(rows)));
  EXPECT_EQ(memo.last_misses(), 4u);  // the two workers share a key
  EXPECT_EQ(memo.last_hits(), 1u);
  EXPECT_EQ(memo.size(), 4u);
  // The next probe's table is a new object with the same rows: no matcher runs.
  GroupSnapshot second = g.Group(Shared(rows), memo);
  ExpectSameGrouping(second, first);
  EXPECT_EQ(memo.last_misses(), 0u);
  EXPECT_EQ(memo.last_hits(), rows.size());
  // A process gone is forgotten: the memo holds the keys of the last table only.
  (void)g.Group(Shared({rows[0], rows[1]}), memo);
  EXPECT_EQ(memo.size(), 2u);
}

TEST(GroupMemo, AProcessWhoseArgsChangeChangesGroup) {
  const Grouper g = Compile({{"{{.Matches.Role}}", {}, {}, {"^postgres: (?P<Role>\\w+)"}}});
  GroupTracker tracker;
  GroupSnapshot s = tracker.Update(Shared({Row(10, 1, "postgres", "postgres: walwriter")}), g);
  EXPECT_EQ(GroupOf(s, 10), "walwriter");
  // Same pid, same start time (the same process), new title (setproctitle).
  s = tracker.Update(Shared({Row(10, 1, "postgres", "postgres: checkpointer")}), g);
  EXPECT_EQ(GroupOf(s, 10), "checkpointer");
  EXPECT_EQ(tracker.memo().last_misses(), 1u);
  // Its comm changing (prctl) changes its key too.
  const Grouper by_comm = Compile({{"{{.Comm}}", {}, {}, {".*"}}});
  GroupTracker comm_tracker;
  (void)comm_tracker.Update(Shared({Row(10, 1, "a", "x")}), by_comm);
  s = comm_tracker.Update(Shared({Row(10, 1, "b", "x")}), by_comm);
  EXPECT_EQ(GroupOf(s, 10), "b");
}

TEST(GroupMemo, AnotherGrouperStartsAfresh) {
  const Grouper before = Compile({{"old", {"worker"}, {}, {}}});
  const Grouper after = Compile({{"new", {"worker"}, {}, {}}});
  const std::vector<ProcessRow> rows = {Row(10, 1, "worker", "w"), Row(11, 1, "worker", "w")};
  GroupTracker tracker;
  (void)tracker.Update(Shared(rows), before);
  GroupSnapshot s = tracker.Update(Shared(rows), before);
  EXPECT_EQ(GroupOf(s, 10), "old");
  EXPECT_EQ(tracker.memo().last_misses(), 0u);
  // A reload compiles new rules: nothing remembered under the old ones may answer.
  s = tracker.Update(Shared(rows), after);
  EXPECT_EQ(GroupOf(s, 10), "new");
  EXPECT_EQ(GroupOf(s, 11), "new");
  EXPECT_EQ(tracker.memo().last_misses(), 1u);
}

TEST(GroupMemo, SizeIsBoundedAndRowsBeyondItAreStillGrouped) {
  const Grouper g = Compile({{"{{.Comm}}", {}, {}, {".+"}}});
  GroupTracker tracker(kStartTimeToleranceSeconds, /*memo_entries=*/2);
  std::vector<ProcessRow> rows;
  for (int pid = 1; pid <= 6; ++pid) {
    rows.push_back(Row(pid, 0, "p" + std::to_string(pid), "cmd " + std::to_string(pid)));
  }
  for (int probe = 0; probe < 2; ++probe) {
    const GroupSnapshot s = tracker.Update(Shared(rows), g);
    EXPECT_LE(tracker.memo().size(), 2u);
    EXPECT_EQ(tracker.memo().last_misses(), probe == 0 ? 6u : 4u);
    ExpectSameGrouping(s, g.Group(Snapshot(rows)));
  }
}

TEST(GroupMemo, PerProcessTemplateFieldsAreInTheKey) {
  const Grouper g = Compile({{"{{.Comm}}-{{.PID}}-{{.Username}}", {"sleep"}, {}, {}}});
  GroupMemo memo;
  std::vector<ProcessRow> rows = {Row(20, 1, "sleep", "sleep 9"), Row(21, 1, "sleep", "sleep 9")};
  rows[1].user = "ops";
  for (int probe = 0; probe < 2; ++probe) {
    const GroupSnapshot s = g.Group(Shared(rows), memo);
    EXPECT_EQ(GroupOf(s, 20), "sleep-20-app");
    EXPECT_EQ(GroupOf(s, 21), "sleep-21-ops");
  }
  EXPECT_EQ(memo.size(), 2u);
  // The same pid as another user (a new identity after pid reuse) is a new key.
  rows[0].user = "ops";
  EXPECT_EQ(GroupOf(g.Group(Shared(rows), memo), 20), "sleep-20-ops");
}

TEST(GroupGolden, LinuxFixtureGroups) {
  Fingerprint fp;
  fp.clk_tck = 100;
  fp.page_size = 4096;
  const ProbeParseResult r = ParseProcessProbe(
      Dialect::kLinuxProcps, fp, testing::ReadFixture("linux-procps/probe.txt"), testing::kNonce);
  ASSERT_TRUE(r.ok()) << r.error;
  const Grouper g = Compile({{"postgres", {"postgres"}, {}, {}},
                             {"{{.Comm}}", {}, {}, {"kube-(?P<Part>\\w+)"}},
                             {"sshd", {"sshd"}, {}, {}}});
  const GroupSnapshot out = g.Group(r.snapshot);
  const GroupStats& pg = out.groups.at("postgres");
  EXPECT_EQ(pg.num_procs, 4u);  // 1500, 1501, 1502 and the zombie child 3000
  EXPECT_EQ(pg.states[static_cast<std::size_t>(StateBucket::kZombie)], 1u);
  EXPECT_EQ(pg.listen_sockets.at("tcp"), 1u);
  EXPECT_EQ(out.groups.at("kube-controller").num_procs, 1u);
  EXPECT_EQ(out.groups.at("sshd").num_procs, 3u);  // 812, 4190 and firefox 3100 (child of 812)
}

}  // namespace
}  // namespace fleetps::probes
