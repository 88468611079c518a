#include <gtest/gtest.h>

#include "fleetps/probes/parsers.hpp"

namespace fleetps::probes {
namespace {

TEST(PsDuration, AcceptsPsFormats) {
  EXPECT_EQ(ParseDuration("05"), 5.0);
  EXPECT_EQ(ParseDuration("01:05"), 65.0);
  EXPECT_EQ(ParseDuration("02:01:05"), 7265.0);
  EXPECT_EQ(ParseDuration("3-02:01:05"), 3 * 86400 + 7265.0);
  EXPECT_EQ(ParseDuration("125:07"), 125 * 60 + 7.0);  // BusyBox: unbounded minutes
  EXPECT_DOUBLE_EQ(*ParseDuration("0:00.25"), 0.25);   // BSD centiseconds
  EXPECT_DOUBLE_EQ(*ParseDuration("00:12:34,50"), 754.5);  // AIX decimal comma
  EXPECT_EQ(ParseDuration("1234567"), 1234567.0);  // etimes
}

TEST(PsDuration, RejectsGarbage) {
  for (const char* bad : {"", "-", "1-", "a:b", "1:2:3:4", "1-5", ":", "1::2", "--1", "1:-2"}) {
    EXPECT_FALSE(ParseDuration(bad).has_value()) << bad;
  }
}

TEST(PsKibibytes, PlainAndBusyboxScaled) {
  EXPECT_EQ(ParseKibibytes("1024"), 1024u * 1024u);
  EXPECT_EQ(ParseKibibytes("15m"), 15u * 1024u * 1024u);
  EXPECT_EQ(ParseKibibytes("2g"), 2ull << 30);
  EXPECT_EQ(ParseKibibytes("1.5g"), 3ull << 29);
  EXPECT_FALSE(ParseKibibytes("").has_value());
  EXPECT_FALSE(ParseKibibytes("m").has_value());
  EXPECT_FALSE(ParseKibibytes("-5").has_value());
  EXPECT_FALSE(ParseKibibytes("99999999999999999999999").has_value());
}

TEST(PsTable, SkipsMalformedLinesAndKeepsArgsSpaces) {
  ParseStats stats;
  const auto rows = ParsePsTable(
      Dialect::kLinuxProcps, PsColumnsFor(Dialect::kLinuxProcps),
      "  10   1 root S 01:00 00:00:01 100 200 1 /usr/bin/python3  -m   http.server\n"
      "garbage line\n"
      "  11   1 root S 01:00\n"
      "\n"
      "  12   1 root S - 00:00:00 - - 1 \n",
      1000, stats);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].args, "/usr/bin/python3  -m   http.server");
  EXPECT_DOUBLE_EQ(*rows[0].start_time_unix, 940.0);
  EXPECT_EQ(rows[1].pid, 12);
  EXPECT_TRUE(rows[1].args.empty());
  EXPECT_FALSE(rows[1].rss_bytes.has_value());
  EXPECT_FALSE(rows[1].start_time_unix.has_value());
  EXPECT_EQ(stats.lines_seen, 4u);
  EXPECT_EQ(stats.lines_skipped, 2u);
}

TEST(PsTable, NoClockMeansNoStartTime) {
  ParseStats stats;
  const auto rows = ParsePsTable(Dialect::kHpux, PsColumnsFor(Dialect::kHpux),
                                 "  1  0 root S 01:00 0:01 100 /sbin/init\n", std::nullopt,
                                 stats);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_FALSE(rows[0].start_time_unix.has_value());
  EXPECT_FALSE(rows[0].rss_bytes.has_value());
}

TEST(PsHeader, MapsKnownColumns) {
  ParseStats stats;
  const auto rows = ParsePsWithHeader(Dialect::kBusybox,
                                      "  PID USER       VSZ STAT COMMAND\n"
                                      "    1 root      1368 S    init\n"
                                      "   77 nobody    2.1m R    /usr/bin/dnsmasq -k\n",
                                      std::nullopt, stats);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1].user, "nobody");
  EXPECT_NEAR(static_cast<double>(*rows[1].vsz_bytes), 2.1 * 1024 * 1024, 2.0);
  EXPECT_EQ(rows[1].state_bucket, StateBucket::kRunning);
  EXPECT_EQ(rows[1].args, "/usr/bin/dnsmasq -k");
}

TEST(PsHeader, WithoutPidColumnGivesNothing) {
  ParseStats stats;
  EXPECT_TRUE(ParsePsWithHeader(Dialect::kBusybox, "USER COMMAND\nroot init\n", std::nullopt,
                                stats)
                  .empty());
  EXPECT_TRUE(ParsePsWithHeader(Dialect::kBusybox, "", std::nullopt, stats).empty());
}

TEST(PsUcb, FullArguments) {
  ParseStats stats;
  const auto args = ParseUcbPs("   PID TT       S  TIME COMMAND\n"
                               "  7001 ?        O 754:56 /opt/java -Dx=1 Main\n"
                               "  bad\n",
                               stats);
  ASSERT_EQ(args.size(), 1u);
  EXPECT_EQ(args.at(7001), "/opt/java -Dx=1 Main");
  EXPECT_EQ(stats.lines_skipped, 1u);
}

TEST(PsFraming, SectionsAndBanner) {
  ParseStats stats;
  const auto sections = SplitSections(
      "motd\n@@FLEETPS abcdef01 BEGIN a\nx\n@@FLEETPS abcdef01 END a rc=3\n"
      "@@FLEETPS abcdef01 BEGIN b\ny\nz",
      "abcdef01", stats);
  ASSERT_EQ(sections.size(), 2u);
  EXPECT_EQ(sections[0].name, "a");
  EXPECT_EQ(sections[0].body, "x\n");
  EXPECT_EQ(sections[0].rc, 3);
  EXPECT_FALSE(sections[1].terminated);
  EXPECT_EQ(sections[1].body, "y\n");
  EXPECT_TRUE(stats.truncated_last_line);
  EXPECT_EQ(stats.lines_outside, 1u);
  EXPECT_EQ(stats.sections_failed, 1u);
}

}  // namespace
}  // namespace fleetps::probes
