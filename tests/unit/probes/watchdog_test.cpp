// WithWatchdog's text: where the watchdog goes, what it may not contain, how the deadline is
// rounded. Running it under real shells is tests/integration/watchdog_shell_test.cpp.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "fleetps/probes/dialect.hpp"
#include "fleetps/probes/open_files.hpp"

namespace fleetps::probes {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view kNonce = "0123456789abcdef";

std::size_t Count(std::string_view text, std::string_view needle) {
  std::size_t n = 0;
  for (auto at = text.find(needle); at != std::string_view::npos; at = text.find(needle, at + 1))
    ++n;
  return n;
}

std::string_view FirstLine(std::string_view text) { return text.substr(0, text.find('\n')); }

// Everything the agent wraps, for the checks that must hold for each of them.
std::vector<std::string> AllScripts() {
  std::vector<std::string> scripts{std::string(FingerprintScript())};
  Fingerprint fp;
  fp.ps_has_o = true;
  fp.zonename = "global";
  for (Dialect d : kAllDialects) scripts.push_back(ProcessProbeScript(d, fp, kNonce));
  scripts.push_back(OpenFilesScript(OpenFilesMethod::kProc, 4242, kNonce));
  scripts.push_back(OpenFilesScript(OpenFilesMethod::kLsof, 4242, kNonce));
  return scripts;
}

TEST(ProbesWatchdog, DeadlineRoundsUpToWholeSecondsAtLeastOne) {
  EXPECT_EQ(WatchdogSeconds(0ms), 1);
  EXPECT_EQ(WatchdogSeconds(-5s), 1);
  EXPECT_EQ(WatchdogSeconds(1ms), 1);
  EXPECT_EQ(WatchdogSeconds(100ms), 1);  // the smallest probe_timeout config accepts
  EXPECT_EQ(WatchdogSeconds(999ms), 1);
  EXPECT_EQ(WatchdogSeconds(1000ms), 1);
  EXPECT_EQ(WatchdogSeconds(1001ms), 2);
  EXPECT_EQ(WatchdogSeconds(2500ms), 3);
  EXPECT_EQ(WatchdogSeconds(10s), 10);
  EXPECT_EQ(WatchdogSeconds(30min), 1800);  // the largest probe_timeout config accepts
  EXPECT_EQ(WatchdogSeconds(std::chrono::milliseconds::max()), kMaxWatchdogSeconds);
}

// The exact text, so that a change to it is a deliberate one (and reviewed against the reasons
// in watchdog.cpp).
TEST(ProbesWatchdog, WrapsTheBodyBetweenArmAndDisarmLines) {
  EXPECT_EQ(WithWatchdog("fp_n=0123456789abcdef\necho body\n", 2500ms),
            "fp_n=0123456789abcdef\n"
            "{ exec sleep 3; } </dev/null >/dev/null 2>&1 & fp_wh=$!; "
            "{ trap 'kill -9 $!; exit 0' 15; { kill -9 $fp_wh; exec sleep 3; } & "
            "wait $! && kill -9 0; :; } </dev/null >/dev/null 2>&1 & fp_wd=$!; "
            "wait $fp_wh 2>/dev/null; :\n"
            "echo body\n"
            "fp_wr=$?; kill $fp_wd 2>/dev/null; fp_wx() { return $1; }; fp_wx $fp_wr\n");
}

TEST(ProbesWatchdog, EdgeCasesOfTheInput) {
  EXPECT_EQ(WithWatchdog("", 10s), "") << "builders return \"\" for invalid input: keep it so";
  // A missing final newline must not glue the disarm line onto the script's last command.
  const std::string unterminated = WithWatchdog("fp_n=00000000\necho x", 10s);
  EXPECT_NE(unterminated.find("\necho x\nfp_wr=$?;"), std::string::npos) << unterminated;
  const std::string one_line = WithWatchdog("fp_n=00000000", 10s);
  EXPECT_EQ(FirstLine(one_line), "fp_n=00000000");
  EXPECT_EQ(Count(one_line, "\n"), 3u);
}

TEST(ProbesWatchdog, OnlyTheDeadlineDigitsDependOnTheDeadline) {
  const std::string script(FingerprintScript());
  std::string a = WithWatchdog(script, 7s);
  std::string b = WithWatchdog(script, 12345s);
  for (std::string* s : {&a, &b}) {
    for (std::string_view n : {"sleep 7;", "sleep 12345;"}) {
      for (auto at = s->find(n); at != std::string::npos; at = s->find(n))
        s->replace(at, n.size(), "sleep N;");
    }
  }
  EXPECT_EQ(a, b);
  EXPECT_EQ(Count(a, "sleep N;"), 2u);
}

TEST(ProbesWatchdog, EveryAgentScriptKeepsItsNonceLineSectionsAndBody) {
  for (const std::string& script : AllScripts()) {
    ASSERT_FALSE(script.empty());
    const std::string wrapped = WithWatchdog(script, 10s);
    SCOPED_TRACE(FirstLine(script));
    // tests/fleetsim takes the nonce from `fp_n=` and the sections from `fp_b <name>`.
    EXPECT_EQ(FirstLine(wrapped), FirstLine(script));
    EXPECT_EQ(FirstLine(wrapped).substr(0, 5), "fp_n=");
    EXPECT_EQ(Count(wrapped, "fp_b"), Count(script, "fp_b"));
    EXPECT_EQ(Count(wrapped, "@@FLEETPS"), Count(script, "@@FLEETPS"));
    EXPECT_EQ(Count(wrapped, " BEGIN "), Count(script, " BEGIN "));
    // The script's own lines follow the arm line unchanged.
    const std::string_view rest = std::string_view(script).substr(script.find('\n') + 1);
    const std::size_t second_line_end = wrapped.find('\n', wrapped.find('\n') + 1);
    EXPECT_EQ(std::string_view(wrapped).substr(second_line_end + 1, rest.size()), rest);
  }
}

// The wrapper's contract (dialect.hpp): the scripts it wraps leave `$!`, `wait`, `exit` and its
// variable names alone.
TEST(ProbesWatchdog, AgentScriptsLeaveTheWrapperItsNames) {
  for (const std::string& script : AllScripts()) {
    SCOPED_TRACE(FirstLine(script));
    for (std::string_view word : {"$!", "wait", "exit", "fp_w"}) {
      EXPECT_EQ(script.find(word), std::string::npos) << word;
    }
  }
}

}  // namespace
}  // namespace fleetps::probes
