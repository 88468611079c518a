#include "fleetps/collector/query/selector.hpp"

#include <string>

#include <gtest/gtest.h>

#include "fleetps/collector/query/query.hpp"
#include "rows.hpp"

namespace fleetps::collector {
namespace {

using testing::Process;
using testing::RowStore;

Selector Parse(std::string_view text) {
  auto s = ParseSelector(text);
  EXPECT_TRUE(s.has_value()) << text << ": " << (s ? "" : s.error().ToString());
  return s ? *s : Selector{};
}

SelectorError Fail(std::string_view text) {
  auto s = ParseSelector(text);
  EXPECT_FALSE(s.has_value()) << text << " parsed as " << (s ? s->ToString() : "");
  return s ? SelectorError{} : s.error();
}

double Operand(std::string_view text) {
  const Selector s = Parse(text);
  EXPECT_EQ(s.matchers().size(), 1u);
  return s.matchers().empty() ? -1 : s.matchers()[0].number;
}

TEST(SelectorGrammar, EmptyTextAndEmptyBracesSelectEverything) {
  for (const char* text : {"", "   ", "{}", "{ }", " {\n} "}) {
    EXPECT_TRUE(Parse(text).empty()) << text;
  }
}

TEST(SelectorGrammar, ParsesTheDesignExample) {
  const Selector s = Parse(R"({host=~"web.*", user="oracle", comm=~"ora_.*", rss>1GiB, cpu>0.5})");
  ASSERT_EQ(s.matchers().size(), 5u);
  EXPECT_EQ(s.matchers()[0].field.field, Field::kHost);
  EXPECT_EQ(s.matchers()[0].op, MatchOp::kRegexMatch);
  EXPECT_EQ(s.matchers()[0].text, "web.*");
  EXPECT_EQ(s.matchers()[1].op, MatchOp::kEqual);
  EXPECT_EQ(s.matchers()[3].field.field, Field::kRss);
  EXPECT_EQ(s.matchers()[3].op, MatchOp::kGreater);
  EXPECT_EQ(s.matchers()[3].number, 1073741824.0);
  EXPECT_EQ(s.matchers()[4].number, 0.5);
  EXPECT_EQ(s.ToString(), R"({host=~"web.*", user="oracle", comm=~"ora_.*", rss>1GiB, cpu>0.5})");
}

TEST(SelectorGrammar, BracesAreOptionalAndTrailingCommaAllowed) {
  EXPECT_EQ(Parse("rss>1GiB, user=\"x\"").ToString(), "{rss>1GiB, user=\"x\"}");
  EXPECT_EQ(Parse("{rss>1GiB,}").matchers().size(), 1u);
  EXPECT_EQ(Parse("\t{ rss >\n1GiB ,user= \"x\" }\n").matchers().size(), 2u);
}

TEST(SelectorGrammar, EveryOperator) {
  const Selector s = Parse(
      R"({user="a", user!="b", user=~"c", user!~"d", pid>1, pid>=2, pid<3, pid<=4, pid=5, pid!=6})");
  const MatchOp expected[] = {MatchOp::kEqual,        MatchOp::kNotEqual,  MatchOp::kRegexMatch,
                              MatchOp::kRegexNoMatch, MatchOp::kGreater,   MatchOp::kGreaterEqual,
                              MatchOp::kLess,         MatchOp::kLessEqual, MatchOp::kEqual,
                              MatchOp::kNotEqual};
  ASSERT_EQ(s.matchers().size(), std::size(expected));
  for (std::size_t i = 0; i < std::size(expected); ++i)
    EXPECT_EQ(s.matchers()[i].op, expected[i]) << i;
}

TEST(SelectorGrammar, EveryField) {
  const Selector s = Parse(
      R"({host="a", user="a", comm="a", exe="a", args="a", group="a", state="S", label.env="prod",)"
      R"( pid=1, ppid=1, rss=1, vsz=1, cpu=1, threads=1, fds=1, age=1})");
  ASSERT_EQ(s.matchers().size(), 16u);
  EXPECT_EQ(s.matchers()[7].field.field, Field::kLabel);
  EXPECT_EQ(s.matchers()[7].field.label, "env");
  EXPECT_EQ(s.matchers()[7].field.Name(), "label.env");
  EXPECT_EQ(s.matchers()[15].field.field, Field::kAge);
}

TEST(SelectorGrammar, StringEscapes) {
  const Selector s = Parse(R"({args="say \"hi\" \\ there\n\t"})");
  EXPECT_EQ(s.matchers()[0].text, "say \"hi\" \\ there\n\t");
  EXPECT_EQ(s.ToString(), R"({args="say \"hi\" \\ there\n\t"})");
  EXPECT_EQ(Parse(s.ToString()).matchers()[0].text, s.matchers()[0].text);
}

TEST(SelectorGrammar, RecordsPositions) {
  const Selector s = Parse(R"({user="x", rss > 1GiB})");
  EXPECT_EQ(s.matchers()[0].position, 1u);
  EXPECT_EQ(s.matchers()[0].value_position, 6u);
  EXPECT_EQ(s.matchers()[1].position, 11u);
  EXPECT_EQ(s.matchers()[1].value_position, 17u);
}

TEST(SelectorUnits, Sizes) {
  EXPECT_EQ(Operand("rss>10"), 10);
  EXPECT_EQ(Operand("rss>10B"), 10);
  EXPECT_EQ(Operand("rss>1.5KiB"), 1536);
  EXPECT_EQ(Operand("vsz>2MiB"), 2 * 1048576);
  EXPECT_EQ(Operand("rss>1GiB"), 1073741824.0);
  EXPECT_EQ(Operand("rss>1TiB"), 1099511627776.0);
  EXPECT_EQ(Operand("rss>1kB"), 1000);
  EXPECT_EQ(Operand("rss>1KB"), 1000);
  EXPECT_EQ(Operand("rss>2MB"), 2e6);
  EXPECT_EQ(Operand("rss>3GB"), 3e9);
  EXPECT_EQ(Operand("rss>1TB"), 1e12);
}

TEST(SelectorUnits, Durations) {
  EXPECT_EQ(Operand("age>90"), 90);
  EXPECT_EQ(Operand("age>90s"), 90);
  EXPECT_EQ(Operand("age>500ms"), 0.5);
  EXPECT_EQ(Operand("age>5m"), 300);
  EXPECT_EQ(Operand("age>1h30m"), 5400);
  EXPECT_EQ(Operand("age>1.5h"), 5400);
  EXPECT_EQ(Operand("age>2d"), 172800);
  EXPECT_EQ(Operand("age>1w"), 604800);
}

TEST(SelectorUnits, CpuInCoresOrPercent) {
  EXPECT_EQ(Operand("cpu>0.5"), 0.5);
  EXPECT_EQ(Operand("cpu>2"), 2);
  EXPECT_EQ(Operand("cpu>50%"), 0.5);
  EXPECT_EQ(Operand("cpu>250%"), 2.5);
}

TEST(SelectorUnits, CountsAreIntegers) {
  EXPECT_EQ(Operand("pid=4312"), 4312);
  EXPECT_EQ(Operand("threads>=100"), 100);
  EXPECT_EQ(Operand("fds>1000"), 1000);
}

struct ErrorCase {
  const char* text;
  std::size_t position;
  const char* message;
};

class SelectorErrors : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(SelectorErrors, PositionAndMessage) {
  const ErrorCase& c = GetParam();
  const SelectorError e = Fail(c.text);
  EXPECT_EQ(e.position, c.position) << c.text;
  EXPECT_EQ(e.message, c.message) << c.text;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, SelectorErrors,
    ::testing::Values(
        ErrorCase{R"({user="x", rsz>1GiB})", 11, R"(unknown field "rsz" (did you mean "rss"?))"},
        ErrorCase{R"({hsot="a"})", 1, R"(unknown field "hsot" (did you mean "host"?))"},
        ErrorCase{R"({RSS>1})", 1, R"(unknown field "RSS" (did you mean "rss"?))"},
        ErrorCase{R"({cmd=~"java"})", 1, R"(unknown field "cmd" (did you mean "args"?))"},
        ErrorCase{R"({labels.env="x"})", 1,
                  R"(unknown field "labels.env" (did you mean "label.env"?))"},
        ErrorCase{R"({label.="x"})", 1, "expected a label name: label.NAME"},
        ErrorCase{R"({label.9x="x"})", 7,
                  R"(invalid label name "9x" (label names match [a-zA-Z_][a-zA-Z0-9_]*))"},
        ErrorCase{"{rss>1GiB", 9, R"(expected "," or "}")"}, ErrorCase{"{", 1, R"(expected "}")"},
        ErrorCase{"{rss>1GiB,", 10, R"(expected "}")"},
        ErrorCase{"{rss>1 user=\"x\"}", 7, R"(expected "," or "}", got "u")"},
        ErrorCase{"rss>1 user=\"x\"", 6, R"(expected ",", got "u")"},
        ErrorCase{"rss>1}", 5, R"(unexpected "}" without "{")"},
        ErrorCase{R"({comm="a"} x)", 11, R"(unexpected "x" after the end of the selector)"},
        ErrorCase{R"({comm="a"}})", 10, R"(unexpected "}" after the end of the selector)"},
        ErrorCase{R"({comm="a",,})", 10, R"(expected a field name, got ",")"},
        ErrorCase{R"({rss>1Gb})", 6,
                  R"(unknown size unit "Gb" (use B, KiB, MiB, GiB, TiB, KB, MB, GB or TB))"},
        ErrorCase{R"({rss>1G})", 6,
                  R"(unknown size unit "G" (use B, KiB, MiB, GiB, TiB, KB, MB, GB or TB))"},
        ErrorCase{R"({age>1y})", 6, R"(unknown duration unit "y" (use ms, s, m, h, d or w))"},
        ErrorCase{R"({age>1h30})", 9, "expected a unit (ms, s, m, h, d, w)"},
        ErrorCase{
            R"({cpu>5x})", 6,
            R"(unknown cpu unit "x" (cpu is in cores, e.g. 0.5, or in percent of one core, e.g. 50%))"},
        ErrorCase{R"({pid=1.5})", 5, R"("pid" takes an integer)"},
        ErrorCase{R"({fds>5k})", 6, R"("fds" takes a plain integer, not a unit ("k"))"},
        ErrorCase{R"({rss>1.})", 7, R"(expected digits after ".")"},
        ErrorCase{R"({rss>-1})", 5, "negative numbers are not allowed"},
        ErrorCase{R"({rss>"1"})", 5, R"(expected a number for "rss", not a string)"},
        ErrorCase{R"({rss>})", 5, R"(expected a number for "rss", got "}")"},
        ErrorCase{R"({rss=~"1"})", 4, R"(operator "=~" needs a string field; "rss" is numeric)"},
        ErrorCase{R"({age!~"1"})", 4, R"(operator "!~" needs a string field; "age" is numeric)"},
        ErrorCase{R"({user>"a"})", 5, R"(operator ">" needs a numeric field; "user" is a string)"},
        ErrorCase{R"({rss==1})", 4, R"("==" is not an operator; use "=")"},
        ErrorCase{R"({rss 1})", 5, R"(expected an operator (= != =~ !~ > >= < <=), got "1")"},
        ErrorCase{R"({rss)", 4, "expected an operator (= != =~ !~ > >= < <=)"},
        ErrorCase{R"({user=oracle})", 6, R"(expected a double-quoted string, got "o")"},
        ErrorCase{R"({user='oracle'})", 6, "strings are written in double quotes"},
        ErrorCase{R"({user=})", 6, R"(expected a double-quoted string, got "}")"},
        ErrorCase{R"({comm="abc})", 6, "unterminated string"},
        ErrorCase{R"({comm="abc\)", 6, "unterminated string"},
        ErrorCase{
            R"({comm="a\qb"})", 8,
            R"(unknown escape "\q" in a string (use \" \\ \n or \t; regexes need \\ before their own escapes))"},
        ErrorCase{"{comm=\x01}", 6, "expected a double-quoted string, got byte 0x01"}));

TEST(SelectorErrors, UnknownFieldWithoutSuggestionListsTheFields) {
  const SelectorError e = Fail(R"({env="prod"})");
  EXPECT_EQ(e.position, 1u);
  EXPECT_EQ(e.message,
            "unknown field \"env\" (fields: host, user, comm, exe, args, group, state, label.NAME, "
            "pid, ppid, rss, vsz, cpu, threads, fds, age, port, proto)");
}

TEST(SelectorErrors, LineAndColumn) {
  const SelectorError e = Fail("{user=\"x\",\n  rsz>1GiB}");
  EXPECT_EQ(e.position, 13u);
  EXPECT_EQ(e.line, 2u);
  EXPECT_EQ(e.column, 3u);
  EXPECT_EQ(e.ToString(), R"(2:3: unknown field "rsz" (did you mean "rss"?))");
  EXPECT_EQ(Fail(R"({user="x", rsz>1GiB})").ToString(),
            R"(1:12: unknown field "rsz" (did you mean "rss"?))");
}

TEST(SelectorErrors, InvalidRegexPointsIntoTheLiteral) {
  const SelectorError e = Fail(R"({comm=~"ora_(.*"})");
  EXPECT_EQ(e.message.rfind("invalid regex: ", 0), 0u) << e.message;
  EXPECT_GE(e.position, 8u);   // inside the literal
  EXPECT_LE(e.position, 16u);  // at most the closing quote
  // With escapes the literal's bytes are not the pattern's: point at the literal.
  const SelectorError escaped = Fail(R"({comm=~"\\d(", user="x"})");
  EXPECT_EQ(escaped.position, 7u);
  EXPECT_EQ(escaped.message.rfind("invalid regex: ", 0), 0u);
}

TEST(SelectorLimits, SelectorLength) {
  std::string text = "{args=\"" + std::string(kMaxSelectorBytes - 9, 'a') + "\"}";
  ASSERT_EQ(text.size(), kMaxSelectorBytes);
  EXPECT_TRUE(ParseSelector(text).has_value());
  text.insert(1, " ");
  const SelectorError e = Fail(text);
  EXPECT_EQ(e.position, kMaxSelectorBytes);
  EXPECT_EQ(e.message, "selector is longer than 4096 bytes");
}

TEST(SelectorLimits, MatcherCount) {
  std::string text = "{";
  for (std::size_t i = 0; i < kMaxMatchers; ++i) text += "pid>1,";
  EXPECT_TRUE(ParseSelector(text + "}").has_value());
  const std::size_t at = text.size();
  const SelectorError e = Fail(text + "pid>1}");
  EXPECT_EQ(e.position, at);
  EXPECT_EQ(e.message, "too many matchers (at most 32)");
}

TEST(SelectorLimits, RegexLength) {
  const std::string ok = "{args=~\"" + std::string(kMaxRegexBytes, 'a') + "\"}";
  EXPECT_TRUE(ParseSelector(ok).has_value());
  const std::string long_regex =
      "{user=\"x\", args=~\"" + std::string(kMaxRegexBytes + 1, 'a') + "\"}";
  const SelectorError e = Fail(long_regex);
  EXPECT_EQ(e.position, 17u);
  EXPECT_EQ(e.message, "regex longer than 512 bytes");
  // A long string for = is fine: only regexes have a compile cost.
  EXPECT_TRUE(ParseSelector("{args=\"" + std::string(1000, 'a') + "\"}").has_value());
}

class SelectorMatch : public ::testing::Test {
 protected:
  const QueryRow& Row() { return store_.rows().front(); }
  bool Holds(std::string_view text) { return Parse(text).Matches(Row()); }

  void SetUp() override {
    auto& labels = store_.labels("web01");
    labels["env"] = "prod";
    QueryRow& row =
        store_.Add("web01", Process(4312, "oracle", "ora_pmon_orcl", "ora_pmon_ORCL", 1ull << 30));
    row.cpu_cores = 0.25;
    row.age_seconds = 7200;
  }

  RowStore store_;
};

TEST_F(SelectorMatch, StringEquality) {
  EXPECT_TRUE(Holds(R"({user="oracle"})"));
  EXPECT_FALSE(Holds(R"({user="Oracle"})"));
  EXPECT_TRUE(Holds(R"({user!="root"})"));
  EXPECT_TRUE(Holds(R"({host="web01", state="S", exe="ora_pmon_ORCL"})"));
}

TEST_F(SelectorMatch, RegexesAreFullyAnchored) {
  EXPECT_FALSE(Holds(R"({comm=~"ora"})"));
  EXPECT_FALSE(Holds(R"({comm=~"pmon"})"));
  EXPECT_TRUE(Holds(R"({comm=~"ora_.*"})"));
  EXPECT_TRUE(Holds(R"({comm=~".*pmon.*"})"));
  EXPECT_TRUE(Holds(R"({comm=~"ora|ora_pmon_orcl"})"));  // alternation inside the anchors
  EXPECT_TRUE(Holds(R"({comm!~"ora"})"));
  EXPECT_FALSE(Holds(R"({comm!~"ora.*"})"));
  EXPECT_TRUE(Holds(R"({args=~"ora_\\w+_[A-Z]+"})"));
}

TEST_F(SelectorMatch, Labels) {
  EXPECT_TRUE(Holds(R"({label.env="prod"})"));
  EXPECT_FALSE(Holds(R"({label.env="dev"})"));
  EXPECT_TRUE(Holds(R"({label.env=~"pr.*"})"));
  // A missing label compares as the empty string, as in PromQL.
  EXPECT_TRUE(Holds(R"({label.role=""})"));
  EXPECT_FALSE(Holds(R"({label.role=~".+"})"));
  EXPECT_TRUE(Holds(R"({label.role!="web"})"));
}

TEST_F(SelectorMatch, GroupAbsentIsEmpty) {
  EXPECT_TRUE(Holds(R"({group=""})"));
  store_.rows().front().group = "oracle";
  EXPECT_TRUE(Holds(R"({group="oracle"})"));
}

TEST_F(SelectorMatch, NumbersWithUnits) {
  EXPECT_TRUE(Holds("{rss>=1GiB}"));
  EXPECT_FALSE(Holds("{rss>1GiB}"));
  EXPECT_TRUE(Holds("{rss=1GiB}"));
  EXPECT_TRUE(Holds("{rss<1.1GB}"));
  EXPECT_TRUE(Holds("{vsz<=4GiB, vsz>4GB}"));
  EXPECT_TRUE(Holds("{cpu>0.2, cpu<30%}"));
  EXPECT_TRUE(Holds("{age>1h59m, age<=2h}"));
  EXPECT_TRUE(Holds("{pid=4312, ppid=1, threads=4, fds>10}"));
  EXPECT_FALSE(Holds("{pid!=4312}"));
}

TEST_F(SelectorMatch, MissingNumbersFailEveryComparison) {
  QueryRow& row = store_.rows().front();
  row.cpu_cores.reset();
  row.age_seconds.reset();
  EXPECT_FALSE(Holds("{cpu>=0}"));
  EXPECT_FALSE(Holds("{cpu<1000}"));
  EXPECT_FALSE(Holds("{cpu!=1}"));
  EXPECT_FALSE(Holds("{age>0}"));
  store_.Add("hpux1", Process(7, "root", "init", "init", std::nullopt));
  const QueryRow& no_rss = store_.rows().back();
  EXPECT_FALSE(Parse("{rss>=0}").Matches(no_rss));
  EXPECT_FALSE(Parse("{rss!=0}").Matches(no_rss));
  EXPECT_TRUE(Parse("{vsz>0}").Matches(no_rss));
}

TEST_F(SelectorMatch, AllMatchersMustHold) {
  EXPECT_TRUE(Holds(R"({user="oracle", rss>1MiB, label.env="prod"})"));
  EXPECT_FALSE(Holds(R"({user="oracle", rss>1MiB, label.env="dev"})"));
  EXPECT_TRUE(Holds("{}"));
}

TEST_F(SelectorMatch, CatastrophicBacktrackingIsAnErrorNotAHang) {
  QueryRow& row = store_.rows().front();
  probes::ProcessRow p = *row.process;
  p.args = std::string(64, 'a');
  store_.Add("web02", p);
  const Selector s = Parse(R"({user="oracle", args=~"(a*)*b"})");
  auto r = s.Evaluate(store_.rows().back());
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().position, 22u);
  EXPECT_EQ(r.error().message.rfind("regex too expensive to evaluate on host \"web02\"", 0), 0u)
      << r.error().message;
  EXPECT_FALSE(s.Matches(store_.rows().back()));
}

TEST_F(SelectorMatch, LongCommandLinesDoNotExhaustTheStack) {
  // libstdc++'s std::regex recurses per character and crashes on `(x|y)*` at about 20 000.
  probes::ProcessRow p = *store_.rows().front().process;
  p.args = std::string(20'000, 'x');
  store_.Add("web02", p);
  EXPECT_TRUE(Parse(R"({args=~"(x|y)*"})").Matches(store_.rows().back()));
  // Longer still, the usual shapes match; a state-hungry one is an error, never a crash.
  p.args = std::string(1'000'000, 'x') + " -Dname=foo";
  store_.Add("web03", p);
  const QueryRow& row = store_.rows().back();
  EXPECT_TRUE(Parse(R"({args=~".*-Dname=foo.*"})").Matches(row));
  EXPECT_TRUE(Parse(R"re({args=~"[x]* (-D\\w+=\\w+)"})re").Matches(row));
  EXPECT_FALSE(Parse(R"({args=~"(x|y)* -Dname=foo"})").Evaluate(row).has_value());
}

}  // namespace
}  // namespace fleetps::collector
