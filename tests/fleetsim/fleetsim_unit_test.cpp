#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "fault.hpp"
#include "fleet.hpp"
#include "fleetps/probes/dialect.hpp"
#include "fleetps/probes/process.hpp"
#include "host_set.hpp"
#include "process_model.hpp"
#include "responder.hpp"

namespace fleetps::fleetsim {
namespace {

constexpr std::int64_t kSimEpoch = 1'700'000'000;

// Attribution keeps the last kScriptHistory scripts per host, oldest dropped, the total intact.
TEST(AttributionTest, KeepsTheLastScriptsPerHostWithTheirPeers) {
  boost::asio::io_context io;
  KeyStore keys;
  FleetOptions options;
  options.hosts = 2;
  Fleet fleet(io, keys, options);
  constexpr std::size_t kRecorded = HostClients::kScriptHistory + 10;
  for (std::size_t i = 0; i < kRecorded; ++i) {
    fleet.RecordScript(1, i < 10 ? "127.0.0.11" : "127.0.0.12", i == 0);
  }
  fleet.RecordScript(2, "127.0.0.13", false);
  fleet.RecordScript(3, "127.0.0.14", false);  // no such host: ignored
  const HostClients& first = fleet.ClientsOf(1);
  EXPECT_EQ(first.scripts_total, kRecorded);
  ASSERT_EQ(first.scripts.size(), HostClients::kScriptHistory);
  EXPECT_TRUE(std::all_of(first.scripts.begin(), first.scripts.end(),
                          [](const ScriptRecord& r) { return r.peer == "127.0.0.12"; }));
  EXPECT_TRUE(std::is_sorted(
      first.scripts.begin(), first.scripts.end(),
      [](const ScriptRecord& a, const ScriptRecord& b) { return a.unix_ms < b.unix_ms; }));
  EXPECT_GT(first.scripts.front().unix_ms, kSimEpoch * 1000);
  const HostClients& second = fleet.ClientsOf(2);
  ASSERT_EQ(second.scripts.size(), 1u);
  EXPECT_EQ(second.scripts[0].peer, "127.0.0.13");
  EXPECT_TRUE(second.sessions.empty());
}

TEST(FaultTest, ParsesEveryFaultAndFormatsItBack) {
  for (std::string_view text :
       {"none", "refuse", "no_banner", "kex_stall", "stall_output", "drip", "endless", "garbage",
        "disconnect_after:3", "change_host_key", "reject_user_key", "delay:250",
        "random_delay:1000", "shell:eof", "shell:exit"}) {
    const auto fault = ParseFault(text);
    ASSERT_TRUE(fault.has_value()) << text;
    EXPECT_EQ(FormatFault(*fault), text);
  }
  EXPECT_EQ(ParseFault(" drip\n")->kind, FaultKind::kDrip);
}

TEST(FaultTest, RejectsMalformedFaults) {
  for (std::string_view text : {"", "dripp", "delay", "delay:", "delay:x", "drip:3", "delay:-1",
                                "shell", "shell:", "shell:foo", "shell:eof:1"}) {
    EXPECT_FALSE(ParseFault(text).has_value()) << text;
  }
}

TEST(FaultTest, ConnectionLevelFaultsAreMarked) {
  EXPECT_TRUE(ParseFault("refuse")->IsConnectionLevel());
  EXPECT_TRUE(ParseFault("change_host_key")->IsConnectionLevel());
  EXPECT_FALSE(ParseFault("drip")->IsConnectionLevel());
}

TEST(HostSetTest, ParsesNumbersRangesNamesAndLists) {
  EXPECT_EQ(*ParseHostSet("3", 10), (std::vector<std::uint32_t>{3}));
  EXPECT_EQ(*ParseHostSet("sim00004,2-3,3", 10), (std::vector<std::uint32_t>{2, 3, 4}));
  EXPECT_EQ(ParseHostSet("all", 4)->size(), 4u);
  EXPECT_FALSE(ParseHostSet("0", 10).has_value());
  EXPECT_FALSE(ParseHostSet("11", 10).has_value());
  EXPECT_FALSE(ParseHostSet("5-2", 10).has_value());
  EXPECT_FALSE(ParseHostSet("web01", 10).has_value());
  EXPECT_EQ(HostName(42), "sim00042");
}

TEST(DialectMixTest, SpreadsDialectsByWeight) {
  DialectMix mix;
  ASSERT_TRUE(ParseDialectMix("linux-procps=70,busybox=10,aix=10,solaris=10", mix));
  std::map<SimDialect, int> count;
  for (std::uint32_t n = 1; n <= 1000; ++n) {
    ++count[DialectFor(n, mix)];
  }
  EXPECT_NEAR(count[SimDialect::kLinuxProcps], 700, 30);
  EXPECT_NEAR(count[SimDialect::kAix], 100, 30);
  EXPECT_FALSE(ParseDialectMix("hurd=1", mix));
}

TEST(ProcessModelTest, IsDeterministic) {
  const auto a = SimulateHost(7, SimDialect::kLinuxProcps, kSimEpoch, kSimEpoch + 100);
  const auto b = SimulateHost(7, SimDialect::kLinuxProcps, kSimEpoch, kSimEpoch + 100);
  ASSERT_EQ(a.processes.size(), b.processes.size());
  for (std::size_t i = 0; i < a.processes.size(); ++i) {
    EXPECT_EQ(a.processes[i].pid, b.processes[i].pid);
    EXPECT_EQ(a.processes[i].args, b.processes[i].args);
    EXPECT_EQ(a.processes[i].utime_ticks, b.processes[i].utime_ticks);
  }
  EXPECT_GE(a.processes.size(), 30u);
  EXPECT_LE(a.processes.size(), 320u);
}

TEST(ProcessModelTest, CountersOfAProcessNeverGoBackwards) {
  const auto before = SimulateHost(3, SimDialect::kLinuxProcps, kSimEpoch, kSimEpoch + 60);
  const auto after = SimulateHost(3, SimDialect::kLinuxProcps, kSimEpoch, kSimEpoch + 660);
  int compared = 0;
  for (const auto& p : before.processes) {
    for (const auto& q : after.processes) {
      if (p.pid == q.pid && p.start_ticks == q.start_ticks) {
        EXPECT_GE(q.utime_ticks + q.stime_ticks, p.utime_ticks + p.stime_ticks) << p.args;
        EXPECT_GE(q.rss_kib, p.rss_kib) << p.args;
        ++compared;
      }
    }
  }
  EXPECT_GT(compared, 10);
}

TEST(ProcessModelTest, ProcessesStartAndExitOverTime) {
  auto pids = [](const HostSnapshot& s) {
    std::set<std::uint32_t> out;
    for (const auto& p : s.processes) out.insert(p.pid);
    return out;
  };
  const auto early = pids(SimulateHost(5, SimDialect::kLinuxProcps, kSimEpoch, kSimEpoch));
  const auto late = pids(SimulateHost(5, SimDialect::kLinuxProcps, kSimEpoch, kSimEpoch + 3600));
  std::vector<std::uint32_t> gone;
  std::set_difference(early.begin(), early.end(), late.begin(), late.end(),
                      std::back_inserter(gone));
  std::vector<std::uint32_t> born;
  std::set_difference(late.begin(), late.end(), early.begin(), early.end(),
                      std::back_inserter(born));
  EXPECT_FALSE(gone.empty());
  EXPECT_FALSE(born.empty());
  EXPECT_TRUE(late.contains(1));
}

TEST(ProcessModelTest, FleetHasTheProcessesGroupQueriesLookFor) {
  std::set<std::string> seen;
  for (std::uint32_t n = 1; n <= 30; ++n) {
    for (const auto& p :
         SimulateHost(n, SimDialect::kLinuxProcps, kSimEpoch, kSimEpoch).processes) {
      seen.insert(p.comm.starts_with("ora_pmon_") ? "ora_pmon" : p.comm);
    }
  }
  for (const char* comm : {"sshd", "cron", "java", "nginx", "ora_pmon", "systemd"}) {
    EXPECT_TRUE(seen.contains(comm)) << comm;
  }
}

// The probes library's own parsers judge whether fleetsim speaks each dialect correctly.
class ResponderDialectTest : public testing::TestWithParam<SimDialect> {};

probes::Dialect ProbesDialect(SimDialect d) { return *probes::ParseDialectName(SimDialectName(d)); }

TEST_P(ResponderDialectTest, FingerprintChoosesTheDialect) {
  const auto host = SimulateHost(11, GetParam(), kSimEpoch, kSimEpoch + 5);
  const Answer answer = RunScript(probes::FingerprintScript(), host, 4100001);
  EXPECT_EQ(answer.exit_status, 0);
  const auto fp = probes::ParseFingerprint(answer.output);
  ASSERT_TRUE(fp.ok()) << fp.error << "\n" << answer.output;
  EXPECT_EQ(probes::ChooseDialect(fp.fingerprint), ProbesDialect(GetParam())) << answer.output;
}

TEST_P(ResponderDialectTest, ProcessProbeParsesIntoTheSimulatedTable) {
  const auto host = SimulateHost(12, GetParam(), kSimEpoch, kSimEpoch + 5);
  const auto fp =
      probes::ParseFingerprint(RunScript(probes::FingerprintScript(), host, 4100001).output);
  ASSERT_TRUE(fp.ok());
  const std::string nonce = "0123456789abcdef";
  const auto dialect = ProbesDialect(GetParam());
  const std::string script = probes::ProcessProbeScript(dialect, fp.fingerprint, nonce);
  const Answer answer = RunScript(script, host, 4100002);
  const auto parsed = probes::ParseProcessProbe(dialect, fp.fingerprint, answer.output, nonce);
  ASSERT_TRUE(parsed.ok()) << parsed.error;
  const auto& rows = parsed.snapshot.processes;
  EXPECT_EQ(rows.size(), host.processes.size());
  EXPECT_EQ(parsed.snapshot.stats.lines_skipped, 0u);
  EXPECT_EQ(parsed.snapshot.stats.sections_unterminated, 0u);
  EXPECT_EQ(parsed.snapshot.remote_clock_unix, host.now_epoch);
  EXPECT_FALSE(parsed.snapshot.listening.empty());
  // The probe user sees every process's readings: no process-exporter read errors.
  EXPECT_EQ(parsed.snapshot.stats.processes_unreadable, 0u);
  EXPECT_EQ(parsed.snapshot.stats.processes_partial, 0u);
  const SimLimits limits = LimitsOf(host);
  const auto stated = [](std::uint64_t v) {
    return v == 0 ? std::nullopt : std::optional<std::int64_t>(static_cast<std::int64_t>(v));
  };
  EXPECT_EQ(parsed.snapshot.max_processes, stated(limits.max_processes));
  EXPECT_EQ(parsed.snapshot.max_threads, stated(limits.max_threads));
  // The biggest process must come through with its identity and size.
  const auto biggest = std::max_element(
      host.processes.begin(), host.processes.end(),
      [](const SimProcess& a, const SimProcess& b) { return a.rss_kib < b.rss_kib; });
  const auto row = std::find_if(rows.begin(), rows.end(),
                                [&](const probes::ProcessRow& r) { return r.pid == biggest->pid; });
  ASSERT_NE(row, rows.end());
  EXPECT_EQ(row->ppid, biggest->ppid);
  ASSERT_TRUE(row->rss_bytes.has_value());
  EXPECT_NEAR(static_cast<double>(*row->rss_bytes), static_cast<double>(biggest->rss_kib) * 1024,
              static_cast<double>(biggest->rss_kib) * 1024 * 0.02);
  EXPECT_NE(row->args.find(biggest->args.substr(0, 20)), std::string::npos) << row->args;
}

INSTANTIATE_TEST_SUITE_P(Dialects, ResponderDialectTest,
                         testing::Values(SimDialect::kLinuxProcps, SimDialect::kBusybox,
                                         SimDialect::kAix, SimDialect::kSolaris),
                         [](const testing::TestParamInfo<SimDialect>& param) {
                           std::string name(SimDialectName(param.param));
                           name.erase(std::remove(name.begin(), name.end(), '-'), name.end());
                           return name;
                         });

TEST(ResponderTest, FindsNonceAndSectionsOfAProbeScript) {
  const auto sections = FindSections(probes::FingerprintScript());
  EXPECT_EQ(sections.nonce, probes::kFingerprintNonce);
  EXPECT_NE(std::find(sections.names.begin(), sections.names.end(), "uname-s"),
            sections.names.end());
}

constexpr std::string_view kToken = "0123456789abcdef0123456789abcdef";

TEST(ShellRunTest, FindsTheRunAtTheStartOfStdin) {
  const std::string first = FrameShellRun("echo one\nexit 3\n", kToken);
  const std::string second = FrameShellRun("true\n", "ffffffffffffffffffffffffffffffff");
  const std::string both = first + second;
  const auto run = FindShellRun(both);
  ASSERT_TRUE(run.has_value());
  EXPECT_EQ(run->script, "echo one\nexit 3\n");
  EXPECT_EQ(run->token, kToken);
  EXPECT_EQ(run->length, first.size());
  const auto next = FindShellRun(std::string_view(both).substr(run->length));
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->script, "true\n");
  EXPECT_EQ(next->length, second.size());
  // An empty script, and a script that prints the close's own text, are runs too.
  EXPECT_EQ(FindShellRun(FrameShellRun("", kToken))->script, "");
  const std::string tricky = "echo ') </dev/null'\n\n) </dev/null\nfp_s=$?; echo; echo x\n";
  EXPECT_EQ(FindShellRun(FrameShellRun(tricky, kToken))->script, tricky);
}

TEST(ShellRunTest, IncompleteOrMisframedInputIsNoRun) {
  const std::string run = FrameShellRun("echo one\n", kToken);
  for (std::size_t cut = 0; cut < run.size(); ++cut) {
    EXPECT_FALSE(FindShellRun(std::string_view(run).substr(0, cut)).has_value()) << cut;
  }
  for (std::string_view token : {"0123456789abcdef0123456789abcde",    // 31 digits
                                 "0123456789abcdef0123456789abcdef0",  // 33 digits
                                 "0123456789ABCDEF0123456789ABCDEF",   // upper case
                                 "0123456789abcdef0123456789abcdeg"}) {
    EXPECT_FALSE(FindShellRun(FrameShellRun("echo one\n", token)).has_value()) << token;
  }
  // Two different tokens in one trailer line; text before the opening line.
  std::string mixed = run;
  mixed.replace(mixed.rfind(kToken), kToken.size(), "ffffffffffffffffffffffffffffffff");
  EXPECT_FALSE(FindShellRun(mixed).has_value());
  EXPECT_FALSE(FindShellRun(" " + run).has_value());
  EXPECT_FALSE(FindShellRun("echo one\n").has_value());
}

TEST(ShellRunTest, FramingAndTrailersAreTheSharedDesignsSpelling) {
  EXPECT_EQ(FrameShellRun("echo one\n", kToken),
            "(\necho one\n) </dev/null\nfp_s=$?; echo; echo \"@@FLEETPS "
            "0123456789abcdef0123456789abcdef EXIT rc=$fp_s\"; echo >&2; echo \"@@FLEETPS "
            "0123456789abcdef0123456789abcdef EXIT\" >&2\n");
  EXPECT_EQ(ShellStdoutTrailer(kToken, 3), "\n@@FLEETPS " + std::string(kToken) + " EXIT rc=3\n");
  EXPECT_EQ(ShellStderrTrailer(kToken), "\n@@FLEETPS " + std::string(kToken) + " EXIT\n");
}

TEST(ResponderTest, AnswersPlainCommands) {
  const auto host = SimulateHost(1, SimDialect::kLinuxProcps, kSimEpoch, kSimEpoch);
  EXPECT_EQ(RunScript("echo hello", host, 1).output, "hello\n");
  EXPECT_EQ(RunScript("exit 3", host, 1).exit_status, 3);
  EXPECT_EQ(RunScript("frobnicate", host, 1).exit_status, 127);
}

TEST(ResponderTest, EndlessOutputNeverTerminatesTheTable) {
  const auto host = SimulateHost(1, SimDialect::kLinuxProcps, kSimEpoch, kSimEpoch);
  std::uint64_t counter = 0;
  std::string out = EndlessPrefix("fp_n=0123456789abcdef\n", host);
  for (int i = 0; i < 10; ++i) {
    out += EndlessChunk(host, counter, 4096);
  }
  EXPECT_GE(out.size(), 40960u);
  EXPECT_EQ(out.find("END ps"), std::string::npos);
}

}  // namespace
}  // namespace fleetps::fleetsim
