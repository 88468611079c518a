#include <gtest/gtest.h>

#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "fixture.hpp"
#include "fleetps/probes/parsers.hpp"

namespace fleetps::probes {
namespace {

TEST(PsDuration, AcceptsPsFormats) {
  EXPECT_EQ(ParseDuration("05"), 5.0);
  EXPECT_EQ(ParseDuration("01:05"), 65.0);
  EXPECT_EQ(ParseDuration("02:01:05"), 7265.0);
  EXPECT_EQ(ParseDuration("3-02:01:05"), 3 * 86400 + 7265.0);
  EXPECT_EQ(ParseDuration("125:07"), 125 * 60 + 7.0);      // BusyBox: unbounded minutes
  EXPECT_DOUBLE_EQ(*ParseDuration("0:00.25"), 0.25);       // BSD centiseconds
  EXPECT_DOUBLE_EQ(*ParseDuration("00:12:34,50"), 754.5);  // AIX decimal comma
  EXPECT_EQ(ParseDuration("1234567"), 1234567.0);          // etimes
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
  const auto rows =
      ParsePsTable(Dialect::kLinuxProcps, PsColumnsFor(Dialect::kLinuxProcps),
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
                                 "  1  0 root S 01:00 0:01 100 /sbin/init\n", std::nullopt, stats);
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
  EXPECT_TRUE(ParsePsWithHeader(Dialect::kBusybox, "USER COMMAND\nroot init\n", std::nullopt, stats)
                  .empty());
  EXPECT_TRUE(ParsePsWithHeader(Dialect::kBusybox, "", std::nullopt, stats).empty());
}

TEST(PsUcb, FullArguments) {
  ParseStats stats;
  const auto args = ParseUcbPs(
      "   PID TT       S  TIME COMMAND\n"
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

// ---- the single-pass fast paths against the straightforward readings they replaced ----------
// SplitSections jumps from marker to marker and ParseDuration reads ps's usual shapes in one
// pass; both must give exactly what a line-by-line reading gives, on any input.
namespace reference {

bool IsBlank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsBlank(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsBlank(s.back())) s.remove_suffix(1);
  return s;
}

std::string_view NextToken(std::string_view& rest) {
  while (!rest.empty() && IsBlank(rest.front())) rest.remove_prefix(1);
  std::size_t i = 0;
  while (i < rest.size() && !IsBlank(rest[i])) ++i;
  const std::string_view token = rest.substr(0, i);
  rest.remove_prefix(i);
  return token;
}

template <class Int>
std::optional<Int> ParseInt(std::string_view s) {
  if (s.empty()) return std::nullopt;
  if (s.front() == '+') s.remove_prefix(1);
  Int value{};
  const char* end = s.data() + s.size();
  auto [ptr, ec] = std::from_chars(s.data(), end, value);
  if (ec != std::errc{} || ptr != end) return std::nullopt;
  return value;
}

std::optional<double> ParseDecimal(std::string_view s) {
  if (s.empty()) return std::nullopt;
  double whole = 0;
  std::size_t i = 0;
  bool any = false;
  for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i) {
    whole = whole * 10 + (s[i] - '0');
    any = true;
  }
  if (i < s.size() && (s[i] == '.' || s[i] == ',')) {
    ++i;
    double scale = 0.1;
    for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i) {
      whole += (s[i] - '0') * scale;
      scale /= 10;
      any = true;
    }
  }
  if (!any || i != s.size()) return std::nullopt;
  return whole;
}

std::optional<double> Duration(std::string_view text) {
  text = Trim(text);
  if (text.empty()) return std::nullopt;
  double days = 0;
  const std::size_t dash = text.find('-');
  if (dash != std::string_view::npos) {
    auto d = ParseInt<std::uint64_t>(text.substr(0, dash));
    if (!d) return std::nullopt;
    days = static_cast<double>(*d);
    text.remove_prefix(dash + 1);
  }
  std::string_view parts[3];
  int count = 0;
  while (true) {
    const std::size_t colon = text.find(':');
    if (count == 3) return std::nullopt;
    parts[count++] = text.substr(0, colon);
    if (colon == std::string_view::npos) break;
    text.remove_prefix(colon + 1);
  }
  if (dash != std::string_view::npos && count < 2) return std::nullopt;
  double total = 0;
  for (int i = 0; i < count; ++i) {
    std::optional<double> v;
    if (i == count - 1) {
      v = ParseDecimal(parts[i]);
    } else if (auto n = ParseInt<std::uint64_t>(parts[i])) {
      v = static_cast<double>(*n);
    }
    if (!v) return std::nullopt;
    total = total * 60 + *v;
  }
  return days * 86400 + total;
}

// Every line read in turn (the first SplitSections).
std::vector<Section> Split(std::string_view output, std::string_view nonce, ParseStats& stats) {
  std::vector<Section> sections;
  if (nonce.empty()) return sections;
  const std::string prefix = "@@FLEETPS " + std::string(nonce) + " ";
  std::optional<Section> open;
  std::size_t body_begin = 0;
  auto add = [&](Section s) {
    ++stats.sections_seen;
    if (!s.terminated) ++stats.sections_unterminated;
    if (s.rc.has_value() && *s.rc != 0) ++stats.sections_failed;
    for (const Section& existing : sections) {
      if (existing.name == s.name) return;
    }
    sections.push_back(s);
  };
  std::size_t pos = 0;
  while (pos < output.size()) {
    const std::size_t line_begin = pos;
    const std::size_t nl = output.find('\n', pos);
    const bool complete = nl != std::string_view::npos;
    std::string_view line = output.substr(pos, (complete ? nl : output.size()) - pos);
    pos = complete ? nl + 1 : output.size();
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!line.starts_with(prefix)) {
      if (!open && !Trim(line).empty()) ++stats.lines_outside;
      if (open && !complete) {
        stats.truncated_last_line = true;
        open->body = output.substr(body_begin, line_begin - body_begin);
        add(*open);
        open.reset();
      }
      continue;
    }
    std::string_view rest = line.substr(prefix.size());
    const std::string_view verb = NextToken(rest);
    const std::string_view name = NextToken(rest);
    if (name.empty()) continue;
    if (verb == "BEGIN") {
      if (open) {
        open->body = output.substr(body_begin, line_begin - body_begin);
        add(*open);
      }
      open = Section{name, {}, std::nullopt, false};
      body_begin = pos;
    } else if (verb == "END" && open && open->name == name) {
      open->body = output.substr(body_begin, line_begin - body_begin);
      open->terminated = true;
      const std::string_view rc = NextToken(rest);
      if (rc.starts_with("rc=")) {
        if (auto v = ParseInt<int>(rc.substr(3))) open->rc = *v;
      }
      add(*open);
      open.reset();
    }
  }
  if (open) {
    open->body = output.substr(body_begin);
    add(*open);
  }
  return sections;
}

}  // namespace reference

// Deterministic pseudo-random text from a small alphabet of meaningful pieces.
class Pieces {
 public:
  explicit Pieces(std::uint64_t seed) : state_(seed) {}
  std::string Make(const std::vector<std::string_view>& alphabet, int max_pieces) {
    std::string out;
    const int n = static_cast<int>(Next() % static_cast<std::uint64_t>(max_pieces + 1));
    for (int i = 0; i < n; ++i) out += alphabet[Next() % alphabet.size()];
    return out;
  }

 private:
  std::uint64_t Next() {
    state_ = state_ * 6364136223846793005ULL + 1442695040888963407ULL;
    return state_ >> 33;
  }
  std::uint64_t state_;
};

TEST(PsFastPaths, DurationMatchesTheGeneralReadingBitForBit) {
  for (const char* text :
       {"2-03:04:05", "00:12:34,50", "+1-00:00:01", "1-+2:03", "0:00.25", "1234567890123456:07",
        "12345678901234567890", "9999999999999999", "1.", ".5", "1:2.5", "1.5:2",
        "59:59.999999999999", " 3-00:00:00\r", "1-2-3:4", "1-2", "00:00:00:00", "07.", "1,2,3"}) {
    EXPECT_EQ(ParseDuration(text), reference::Duration(text)) << text;
  }
  Pieces pieces(7);
  const std::vector<std::string_view> alphabet = {"0", "1", "9", "12", "59", "123456789", ":",
                                                  ":", "-", ".", ",",  "+",  " ",         "x"};
  for (int i = 0; i < 20000; ++i) {
    const std::string text = pieces.Make(alphabet, 9);
    EXPECT_EQ(ParseDuration(text), reference::Duration(text)) << '"' << text << '"';
  }
}

TEST(PsFastPaths, SectionsMatchALineByLineReading) {
  const std::string marker = "@@FLEETPS 5f3a9c1be07d4e62 ";
  const std::vector<std::string_view> alphabet = {
      marker, marker, "BEGIN ", "END ", "ps", "ps", "self",    " rc=0",      " rc=1", " rc=x",
      "\n",   "\n",   "\n",     "\r\n", " ",  "\t", "row 1 2", "@@FLEETPS ", "@",     "\r"};
  Pieces pieces(11);
  for (int i = 0; i < 20000; ++i) {
    const std::string text = pieces.Make(alphabet, 40);
    ParseStats got_stats;
    ParseStats want_stats;
    const auto got = SplitSections(text, "5f3a9c1be07d4e62", got_stats);
    const auto want = reference::Split(text, "5f3a9c1be07d4e62", want_stats);
    ASSERT_EQ(got.size(), want.size()) << text;
    for (std::size_t k = 0; k < got.size(); ++k) {
      EXPECT_EQ(got[k].name, want[k].name) << text;
      EXPECT_EQ(got[k].body.data(), want[k].body.data()) << text;
      EXPECT_EQ(got[k].body.size(), want[k].body.size()) << text;
      EXPECT_EQ(got[k].rc, want[k].rc) << text;
      EXPECT_EQ(got[k].terminated, want[k].terminated) << text;
    }
    EXPECT_EQ(got_stats.lines_outside, want_stats.lines_outside) << text;
    EXPECT_EQ(got_stats.sections_seen, want_stats.sections_seen) << text;
    EXPECT_EQ(got_stats.sections_failed, want_stats.sections_failed) << text;
    EXPECT_EQ(got_stats.sections_unterminated, want_stats.sections_unterminated) << text;
    EXPECT_EQ(got_stats.truncated_last_line, want_stats.truncated_last_line) << text;
  }
}

TEST(PsFastPaths, MarkerTextInsideALineIsBody) {
  // A process argument may contain the marker (the nonce guards against forging whole lines,
  // not against echoing): only a marker at the start of a line ends a section.
  const std::string text =
      "@@FLEETPS 5f3a9c1be07d4e62 BEGIN ps\n"
      "1 0 root S 00:01 00:00 1 1 1 echo @@FLEETPS 5f3a9c1be07d4e62 END ps rc=0\n"
      "@@FLEETPS 5f3a9c1be07d4e62 END ps rc=0\n";
  ParseStats stats;
  const auto sections = SplitSections(text, "5f3a9c1be07d4e62", stats);
  ASSERT_EQ(sections.size(), 1u);
  EXPECT_EQ(sections[0].body,
            "1 0 root S 00:01 00:00 1 1 1 echo @@FLEETPS 5f3a9c1be07d4e62 END ps rc=0\n");
  EXPECT_TRUE(sections[0].terminated);
}

TEST(PsFastPaths, PsTableTokensWithControlBytesAndPadding) {
  // Columns are split on blanks only; other control bytes belong to the token (the word-wise
  // scan must not stop at them), and long runs of padding are skipped.
  ParseStats stats;
  const std::string text = std::string("      42        1 ro\x01ot ") +
                           "                                  S 00:05 00:00 8 16 1 /bin/x\ty\n";
  const auto rows = ParsePsTable(Dialect::kLinuxProcps, PsColumnsFor(Dialect::kLinuxProcps), text,
                                 std::nullopt, stats);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].pid, 42);
  EXPECT_EQ(rows[0].user, "ro\x01ot");
  EXPECT_EQ(rows[0].state, "S");
  EXPECT_EQ(rows[0].args, "/bin/x\ty");
  EXPECT_EQ(rows[0].rss_bytes, 8u * 1024);
}

// procps ps prints control characters of a command line as `?` (and `.`, ` `): the probe's
// own ps columns for the two processes of proc-stat-comm-newline-debian12.txt (captured with
// it) are one line per process.
TEST(PsTable, ControlBytesInArgsStayOnOneRow) {
  const std::string text =
      testing::ReadFixture("../real/linux-procps/probe-ps-control-args-debian12.txt");
  ParseStats stats;
  const auto rows = ParsePsTable(Dialect::kLinuxProcps, PsColumnsFor(Dialect::kLinuxProcps), text,
                                 std::nullopt, stats);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].pid, 23454);
  EXPECT_EQ(rows[0].args, "/opt/x label=\"} fake_metric 1.[2J?? 60");
  EXPECT_EQ(rows[1].pid, 23455);
  EXPECT_EQ(stats.lines_skipped, 0u);
}

// Real BusyBox 1.35 output (tests/data/real/busybox/PROVENANCE.md): BusyBox prints the comm raw
// in "{comm} argv", so the comm's newline splits the row; the two lines are one process again.
TEST(PsTable, BusyboxCommWithNewlineIsOneRow) {
  const std::string text =
      testing::ReadFixture("../real/busybox/probe-ps-o-comm-newline-busybox135.txt");
  ParseStats stats;
  const auto rows = ParsePsWithHeader(Dialect::kBusybox, text, std::nullopt, stats);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].pid, 1490);
  EXPECT_EQ(rows[0].args,
            "{a\nb) S 1 \"q\\\xff\x1b} /opt/x label=\"} fake_metric 1 [2J\xc2\x9b 30");
  EXPECT_EQ(stats.lines_skipped, 0u);
}

// A row whose command only starts with `{` keeps the next row: its `}` is beyond a comm's
// 15 bytes.
TEST(PsTable, BusyboxBraceWithoutCloseKeepsTheNextRow) {
  ParseStats stats;
  const auto rows = ParsePsWithHeader(Dialect::kBusybox,
                                      "PID   PPID  USER     STAT RSS  VSZ  COMMAND\n"
                                      "   10     1 root     S    1412 2500 {odd\n"
                                      "   11     1 root     S    1412 2500 {sh} bash -c x\n",
                                      std::nullopt, stats);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].args, "{odd");
  EXPECT_EQ(rows[1].args, "{sh} bash -c x");
}

}  // namespace
}  // namespace fleetps::probes
