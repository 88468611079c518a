#include <gtest/gtest.h>

#include "fixture.hpp"
#include "fleetps/probes/parsers.hpp"

namespace fleetps::probes {
namespace {

TEST(ProcBatch, CommWithParenthesesAndSpaces) {
  ProcBatch batch;
  batch.btime = "btime 1000\n";
  batch.stat =
      "/proc/7/stat:7 (a) b) c) R 1 7 7 0 -1 0 11 0 22 0 300 150 0 0 20 0 3 0 500 4096 10 "
      "0 0 0\n"
      "/proc/8/stat:8 (no-close S 1 2 3\n"
      "/proc/x/stat:junk\n"
      "not a proc line\n";
  batch.status =
      "/proc/7/status:Uid:\t42\t42\t42\t42\n/proc/7/status:Threads:\t3\n"
      "/proc/99/status:Uid:\t0\t0\t0\t0\n";
  batch.fd = "/proc/7/fd:\n.\n..\n0\n1\n\n/proc/99/fd:\n0\n";
  std::optional<double> btime;
  ParseStats stats;
  const auto rows = ParseProcBatch(batch, 100, 4096, btime, stats);
  ASSERT_EQ(rows.size(), 1u);
  const ProcessRow& row = rows.at(7);
  EXPECT_EQ(row.comm, "a) b) c");
  EXPECT_EQ(row.state, "R");
  EXPECT_EQ(row.ppid, 1);
  EXPECT_EQ(row.minor_faults, 11u);
  EXPECT_EQ(row.major_faults, 22u);
  EXPECT_DOUBLE_EQ(*row.cpu_user_seconds, 3.0);
  EXPECT_DOUBLE_EQ(*row.cpu_system_seconds, 1.5);
  EXPECT_DOUBLE_EQ(*row.start_time_unix, 1005.0);
  EXPECT_EQ(row.vsz_bytes, 4096u);
  EXPECT_EQ(row.rss_bytes, 40960u);
  EXPECT_EQ(row.user, "42");
  EXPECT_EQ(row.threads, 3);
  EXPECT_EQ(row.fds, 2);
  EXPECT_EQ(btime, 1000.0);
  EXPECT_EQ(stats.lines_skipped, 3u);
}

TEST(ProcBatch, NoBtimeMeansNoStartTime) {
  ProcBatch batch;
  batch.stat = "/proc/7/stat:7 (a) S 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 500 0 0\n";
  std::optional<double> btime;
  ParseStats stats;
  const auto rows = ParseProcBatch(batch, 0, 0, btime, stats);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_FALSE(rows.at(7).start_time_unix.has_value());
  EXPECT_FALSE(rows.at(7).fds.has_value());
}

TEST(ProcBatch, LimitsUnlimitedIsAbsent) {
  ProcBatch batch;
  batch.stat =
      "/proc/1/stat:1 (a) S 0 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0\n"
      "/proc/2/stat:2 (b) S 0 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0\n";
  batch.limits =
      "/proc/1/limits:Max open files            unlimited            unlimited            files\n"
      "/proc/2/limits:Max open files            65536                65536                files\n";
  std::optional<double> btime;
  ParseStats stats;
  const auto rows = ParseProcBatch(batch, 100, 4096, btime, stats);
  EXPECT_FALSE(rows.at(1).fd_limit.has_value());
  EXPECT_EQ(rows.at(2).fd_limit, 65536);
}

// BusyBox ls prints the header of another user's fd/ before failing to open it: without "."
// the directory was not listed, so the count is unknown (absent), not 0.
TEST(ProcBatch, UnlistedFdDirectoryIsAbsent) {
  ProcBatch batch;
  batch.stat =
      "/proc/1/stat:1 (a) S 0 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0\n"
      "/proc/2/stat:2 (b) S 0 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0\n";
  batch.fd = "/proc/1/fd:\n\n/proc/2/fd:\n.\n..\n\n";
  std::optional<double> btime;
  ParseStats stats;
  const auto rows = ParseProcBatch(batch, 100, 4096, btime, stats);
  EXPECT_FALSE(rows.at(1).fds.has_value());
  EXPECT_EQ(rows.at(2).fds, 0);
}

// Real output (tests/data/real/linux-procps/PROVENANCE.md): `grep -sH '' /proc/PID/stat` of two
// processes whose comm holds a newline. grep prefixes each line of a file with its name, so the
// lines of one file are joined back: the comm is whole, and the second one, which imitates the
// record of pid 1, stays a comm of its own process.
TEST(ProcBatch, CommWithNewlineIsParsedWhole) {
  ProcBatch batch;
  const std::string stat =
      testing::ReadFixture("../real/linux-procps/proc-stat-comm-newline-debian12.txt");
  batch.stat = stat;
  std::optional<double> btime = 1000.0;
  ParseStats stats;
  const auto rows = ParseProcBatch(batch, 100, 4096, btime, stats);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows.at(23454).comm, "a\nb) S 1 \"q\\\xff\x1b");
  EXPECT_EQ(rows.at(23454).ppid, 23449);
  EXPECT_EQ(rows.at(23454).state, "S");
  EXPECT_EQ(rows.at(23455).comm, "\n/proc/1/stat:(");
  EXPECT_EQ(rows.at(23455).ppid, 23449);
  EXPECT_FALSE(rows.contains(1));
  EXPECT_EQ(stats.lines_skipped, 0u);
  EXPECT_EQ(stats.processes_unreadable, 0u);
}

// Real output (tests/data/real/linux-procps/PROVENANCE.md) of the probe's one /proc grep for
// comms with two newlines: its patterns keep the first line (the pid), the last (") S ") and a
// middle line of up to 13 bytes without a colon or tab, so "12\nab\ncd" and "u\n\nv" are whole;
// "p\nq:r\ns" loses its middle part (docs/dialects.md). status's Name line, which matched
// ") S " in a comm, is not a field the parser reads.
TEST(ProcBatch, ProbeGrepKeepsCommsWithTwoNewlines) {
  const std::string text =
      testing::ReadFixture("../real/linux-procps/proc-files-comm-two-newlines-debian12.txt");
  const std::size_t status_at = text.rfind('\n', text.find("/status:")) + 1;
  ProcBatch batch;
  batch.stat = std::string_view(text).substr(0, status_at);
  batch.status = std::string_view(text).substr(status_at);
  std::optional<double> btime = 1000.0;
  ParseStats stats;
  const auto rows = ParseProcBatch(batch, 100, 4096, btime, stats);
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows.at(13583).comm, "a\nb) S 1 x");
  EXPECT_EQ(rows.at(13583).ppid, 13540);
  EXPECT_EQ(rows.at(13583).user, "0");
  EXPECT_EQ(rows.at(13584).comm, "p\ns");
  EXPECT_EQ(rows.at(13585).comm, "u\n\nv");
  EXPECT_EQ(rows.at(13586).comm, "12\nab\ncd");
  EXPECT_EQ(rows.at(13586).state, "S");
  EXPECT_EQ(rows.at(13586).ctx_voluntary, 1u);
  EXPECT_EQ(stats.lines_skipped, 0u);
}

// Only consecutive lines of the same file are one record: a stat line cut short is skipped
// and does not swallow the next process's line.
TEST(ProcBatch, StatLinesOfDifferentFilesStaySeparate) {
  ProcBatch batch;
  batch.stat =
      "/proc/5/stat:5 (cut\n"
      "/proc/6/stat:6 (b) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0\n"
      "/proc/6/other:x\n"
      "/proc/7/stat:7 (c\n"
      "/proc/7/stat:d) R 6 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0\n";
  std::optional<double> btime;
  ParseStats stats;
  const auto rows = ParseProcBatch(batch, 100, 4096, btime, stats);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows.at(6).comm, "b");
  EXPECT_EQ(rows.at(7).comm, "c\nd");
  EXPECT_EQ(rows.at(7).ppid, 6);
  EXPECT_EQ(stats.lines_skipped, 2u);
  EXPECT_EQ(stats.processes_unreadable, 1u);
}

}  // namespace
}  // namespace fleetps::probes
