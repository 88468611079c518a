#include "fleetps/collector/exposition/exposition.hpp"
#include "fleetps/collector/http/gzip.hpp"
#include "fleetps/collector/query/text.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <set>
#include <sstream>

#include <prometheus/text_serializer.h>

#include "fleetps/collector/api/web_ui.hpp"
#include "fleetps/collector/fleet/metric_catalog.hpp"
#include "fleetps/collector/telemetry/http_connections.hpp"
#include "fleetps/collector/telemetry/internal_errors.hpp"

namespace fleetps::collector {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

config::HostSpec Spec(std::string name) {
  config::HostSpec spec;
  spec.name = std::move(name);
  spec.address = "127.0.0.1";
  spec.user = "monitor";
  return spec;
}

// Sample lines as "name{labels}" -> value; headers collected separately.
struct Parsed {
  std::map<std::string, double> samples;
  std::vector<std::string> sample_families;  // family of each sample line, in order
  std::vector<std::string> help_families;
  std::vector<std::string> type_families;
};

std::string FamilyOf(std::string name) {
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    const std::string_view s(suffix);
    if (name.size() > s.size() && name.ends_with(s)) {
      const std::string base = name.substr(0, name.size() - s.size());
      for (const auto& d : kMetricCatalog) {
        if (d.name == base && d.type == MetricType::kHistogram) return base;
      }
    }
  }
  return name;
}

Parsed Parse(const std::string& text) {
  Parsed out;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.starts_with("# HELP ")) {
      out.help_families.push_back(line.substr(7, line.find(' ', 7) - 7));
      continue;
    }
    if (line.starts_with("# TYPE ")) {
      out.type_families.push_back(line.substr(7, line.find(' ', 7) - 7));
      continue;
    }
    if (line.empty()) continue;
    const std::size_t space = line.rfind(' ');
    const std::string key = line.substr(0, space);
    const std::string value = line.substr(space + 1);
    out.samples[key] = value == "+Inf" ? HUGE_VAL : std::strtod(value.c_str(), nullptr);
    out.sample_families.push_back(FamilyOf(key.substr(0, key.find('{'))));
  }
  return out;
}

agent::ProbeResult Answered(std::string host,
                            std::shared_ptr<const probes::HostSnapshot> snapshot) {
  agent::ProbeResult ok;
  ok.host = std::move(host);
  ok.status = agent::ProbeStatus::kOk;
  ok.snapshot = std::move(snapshot);
  return ok;
}

class ExpositionTest : public ::testing::Test {
 protected:
  ExpositionTest()
      // Both groups expected on every host (an empty selector matches all): 0 when absent.
      : state_(
            GroupingRules(*probes::Grouper::Compile({probes::MatcherSpec{"db", {"oracle"}, {}, {}},
                                                     probes::MatcherSpec{"web", {"nginx"}, {}, {}}})
                               .grouper,
                          {"db", "web"}, {{"db", {}}, {"web", {}}})) {
    state_.SetHosts({Spec("up1"), Spec("down1")});
    agent::HostStatus ready;
    ready.host = "up1";
    ready.state = agent::HostState::kReady;
    ready.epoch = 1;
    ready.dialect = probes::Dialect::kAix;
    ready.fingerprint = probes::Fingerprint{};
    ready.fingerprint->os = "AIX";
    ready.server.server_version = "OpenSSH_9.2p1";
    ready.weak_algorithms = {{agent::AlgorithmKind::kKex, "diffie-hellman-group14-sha1", "SHA-1"},
                             {agent::AlgorithmKind::kCipher, "aes128-cbc", "CBC mode"}};
    state_.OnStatus(ready);
    auto snapshot = std::make_shared<probes::HostSnapshot>();
    probes::ProcessRow row;
    row.pid = 42;
    row.comm = "oracle";
    row.cpu_user_seconds = 3;
    row.rss_bytes = 4096;
    snapshot->processes.push_back(row);
    snapshot->stats.Skip(probes::SkipReason::kBadNumber);
    snapshot->stats.Skip(probes::SkipReason::kBadNumber);
    state_.OnResult(Answered("up1", snapshot));
    agent::HostStatus refused;
    refused.host = "down1";
    refused.state = agent::HostState::kBackoff;
    refused.last_reason = agent::Errc::kKexFailed;
    refused.detail = "no common key exchange: the server offers [<group1>]";
    refused.weak_algorithms = {
        {agent::AlgorithmKind::kKex, "diffie-hellman-group14-sha1", "SHA-1"}};
    state_.OnStatus(refused);
  }

  // Adds a host "full" whose views fill every per-host family: every process field, a listening
  // socket, and a session lost once.
  void AddFullHost() {
    state_.SetHosts({Spec("up1"), Spec("down1"), Spec("full")});
    agent::HostStatus ready;
    ready.host = "full";
    ready.state = agent::HostState::kReady;
    ready.epoch = 1;
    state_.OnStatus(ready);
    agent::HostStatus lost = ready;
    lost.state = agent::HostState::kBackoff;
    lost.last_reason = agent::Errc::kTimeout;
    state_.OnStatus(lost);
    ready.epoch = 2;
    state_.OnStatus(ready);
    auto snapshot = std::make_shared<probes::HostSnapshot>();
    probes::ProcessRow row;
    row.pid = 7;
    row.comm = "nginx";
    row.start_time_unix = 1.6e9;
    row.cpu_user_seconds = 1.5;
    row.cpu_system_seconds = 0.25;
    row.rss_bytes = 4096;
    row.vsz_bytes = 8192;
    row.swap_bytes = 0;
    row.threads = 3;
    row.fds = 7;
    row.fd_limit = 1024;
    row.read_bytes = 11;
    row.write_bytes = 12;
    row.major_faults = 1;
    row.minor_faults = 2;
    row.ctx_voluntary = 3;
    row.ctx_involuntary = 4;
    snapshot->processes.push_back(row);
    snapshot->listening.push_back({"tcp", "0.0.0.0", 80, 7, "nginx"});
    snapshot->max_processes = 4194304;
    snapshot->max_threads = 127633;
    state_.OnResult(Answered("full", snapshot));
  }

  FleetState state_;
};

std::uint64_t InternalErrorCount(std::string_view where) {
  for (const auto& [site, count] : InternalErrorCounts()) {
    if (site == where) return count;
  }
  ADD_FAILURE() << "no internal error site " << where;
  return 0;
}

TEST_F(ExpositionTest, HostProcessStatesUseNodeExporterLettersWithRSDZAlways) {
  auto snapshot = std::make_shared<probes::HostSnapshot>();
  snapshot->dialect = probes::Dialect::kLinuxProcps;
  std::int64_t pid = 100;
  for (const char* state : {"Ss", "Sl", "R+", "I<", "t"}) {
    probes::ProcessRow row;
    row.pid = pid++;
    row.comm = "x";
    row.state = state;
    row.state_bucket = probes::BucketForState(snapshot->dialect, state);
    snapshot->processes.push_back(row);
  }
  state_.OnResult(Answered("up1", snapshot));
  const Parsed text = Parse(RenderMetrics(state_, {}));
  EXPECT_EQ(text.samples.at(R"(node_processes_state{host="up1",state="S"})"), 2);
  EXPECT_EQ(text.samples.at(R"(node_processes_state{host="up1",state="R"})"), 1);
  EXPECT_EQ(text.samples.at(R"(node_processes_state{host="up1",state="I"})"), 1);
  EXPECT_EQ(text.samples.at(R"(node_processes_state{host="up1",state="t"})"), 1);
  // Absent states that rules name read 0, not a gap.
  EXPECT_EQ(text.samples.at(R"(node_processes_state{host="up1",state="D"})"), 0);
  EXPECT_EQ(text.samples.at(R"(node_processes_state{host="up1",state="Z"})"), 0);
  EXPECT_FALSE(text.samples.contains(R"(node_processes_state{host="up1",state="Running"})"));
}

TEST_F(ExpositionTest, UnameInfoCarriesNodeExporterLabelsFromTheFingerprint) {
  agent::HostStatus ready;
  ready.host = "up1";
  ready.state = agent::HostState::kReady;
  ready.epoch = 1;
  ready.fingerprint = probes::Fingerprint{};
  ready.fingerprint->os = "Linux";
  ready.fingerprint->os_release = "6.1.0-13-amd64";
  ready.fingerprint->kernel_version = "#1 SMP PREEMPT_DYNAMIC Debian 6.1.55-1";
  ready.fingerprint->arch = "x86_64";
  ready.fingerprint->nodename = "web01.example";
  state_.OnStatus(ready);
  const std::string text = RenderMetrics(state_, {});
  EXPECT_THAT(text, HasSubstr(R"(node_uname_info{host="up1",sysname="Linux",)"
                              R"(release="6.1.0-13-amd64",version="#1 SMP PREEMPT_DYNAMIC )"
                              R"(Debian 6.1.55-1",machine="x86_64",nodename="web01.example"} 1)"));
  // A host never fingerprinted has none.
  EXPECT_THAT(text, Not(HasSubstr(R"(node_uname_info{host="down1")")));
}

TEST_F(ExpositionTest, EveryDisconnectReasonIsThereFromTheStart) {
  const Parsed text = Parse(RenderMetrics(state_, {}));
  std::size_t reasons = 0;
  for (const agent::Errc reason : agent::AllReasons()) {
    const std::string key = "fleetps_session_disconnects_total{host=\"up1\",reason=\"" +
                            std::string(agent::ReasonName(reason)) + "\"}";
    ASSERT_TRUE(text.samples.contains(key)) << key;
    EXPECT_EQ(text.samples.at(key), 0);
    ++reasons;
  }
  EXPECT_EQ(reasons, std::size(agent::AllReasons()));
}

TEST_F(ExpositionTest, AnEmptyGroupReadsZeroForTheGaugesTheHostGives) {
  // up1's processes report RSS only: the absent static group "web" shows resident memory 0,
  // and no virtual memory, threads or descriptors, which the host never gives.
  const Parsed text = Parse(RenderMetrics(state_, {}));
  EXPECT_EQ(
      text.samples.at(
          R"(namedprocess_namegroup_memory_bytes{host="up1",groupname="web",memtype="resident"})"),
      0);
  EXPECT_FALSE(text.samples.contains(
      R"(namedprocess_namegroup_memory_bytes{host="up1",groupname="web",memtype="virtual"})"));
  EXPECT_FALSE(
      text.samples.contains(R"(namedprocess_namegroup_num_threads{host="up1",groupname="web"})"));

  // A group seen once and empty now keeps its counters and reads 0 for its gauges.
  auto snapshot = std::make_shared<probes::HostSnapshot>();
  probes::ProcessRow other;
  other.pid = 7;
  other.comm = "sshd";
  other.rss_bytes = 1024;
  other.threads = 1;
  snapshot->processes.push_back(other);
  state_.OnResult(Answered("up1", snapshot));
  const Parsed after = Parse(RenderMetrics(state_, {}));
  EXPECT_EQ(after.samples.at(R"(namedprocess_namegroup_num_procs{host="up1",groupname="db"})"), 0);
  EXPECT_EQ(
      after.samples.at(
          R"(namedprocess_namegroup_memory_bytes{host="up1",groupname="db",memtype="resident"})"),
      0);
  EXPECT_EQ(after.samples.at(R"(namedprocess_namegroup_num_threads{host="up1",groupname="db"})"),
            0);
  // The counter stays (at 0: the fixture's only db process was the host's baseline).
  EXPECT_EQ(
      after.samples.at(
          R"(namedprocess_namegroup_cpu_seconds_total{host="up1",groupname="db",mode="user"})"),
      0);
}

TEST_F(ExpositionTest, UpHostHasGroupsIncludingAbsentStaticOnesAsZero) {
  const std::string text = RenderMetrics(state_, {});
  EXPECT_THAT(text, HasSubstr("fleetps_up{host=\"up1\"} 1"));
  EXPECT_THAT(text, HasSubstr("namedprocess_namegroup_num_procs{host=\"up1\",groupname=\"db\"} 1"));
  EXPECT_THAT(text,
              HasSubstr("namedprocess_namegroup_num_procs{host=\"up1\",groupname=\"web\"} 0"));
  EXPECT_THAT(text, HasSubstr("fleetps_host_info{host=\"up1\",os=\"AIX\""));
  EXPECT_THAT(text, HasSubstr("dialect=\"aix\""));
  // The probe channel in use is a label of the session info (HostStatus's default: shell).
  EXPECT_THAT(text, HasSubstr("fleetps_ssh_session_info{host=\"up1\",server_version="
                              "\"OpenSSH_9.2p1\",kex=\"\",cipher=\"\",hostkey_type=\"\","
                              "channel=\"shell\"} 1"));
}

TEST_F(ExpositionTest, DownHostIsDistinctFromAbsentProcesses) {
  const std::string text = RenderMetrics(state_, {});
  EXPECT_THAT(text, HasSubstr("fleetps_up{host=\"down1\"} 0"));
  EXPECT_THAT(text, Not(HasSubstr("namedprocess_namegroup_num_procs{host=\"down1\"")));
  EXPECT_THAT(text, HasSubstr("fleetps_host_state{host=\"down1\",state=\"backoff\"} 1"));
  EXPECT_THAT(
      text,
      HasSubstr(
          "fleetps_probe_failure{host=\"down1\",probe=\"processes\",reason=\"kex_failed\"} 1"));
  EXPECT_THAT(
      text,
      HasSubstr("fleetps_probe_failure{host=\"down1\",probe=\"processes\",reason=\"timeout\"} 0"));
}

TEST_F(ExpositionTest, EveryReasonOfTheBoundedSetIsEmittedPerHost) {
  const std::string text = RenderMetrics(state_, {});
  for (agent::Errc reason : agent::AllReasons()) {
    EXPECT_THAT(text, HasSubstr("reason=\"" + std::string(agent::ReasonName(reason)) + "\""));
  }
}

// Every reading of the bounded set per host with a good probe, 1 where it was not permitted;
// none for a host that never answered (its readings are unknown, not complete).
TEST_F(ExpositionTest, ProbePartialSaysWhichReadingsWereNotPermitted) {
  auto snapshot = std::make_shared<probes::HostSnapshot>();
  probes::ProcessRow row;
  row.pid = 42;
  row.comm = "oracle";
  snapshot->processes.push_back(row);
  snapshot->not_permitted[static_cast<std::size_t>(probes::Reading::kFds)] = true;
  state_.OnResult(Answered("up1", snapshot));
  const std::string text = RenderMetrics(state_, {});
  EXPECT_THAT(text,
              HasSubstr("fleetps_probe_partial{host=\"up1\",probe=\"processes\",what=\"fds\"} 1"));
  EXPECT_THAT(text,
              HasSubstr("fleetps_probe_partial{host=\"up1\",probe=\"processes\",what=\"io\"} 0"));
  EXPECT_THAT(text, HasSubstr("fleetps_probe_partial{host=\"up1\",probe=\"processes\",what="
                              "\"socket_owners\"} 0"));
  EXPECT_THAT(text, Not(HasSubstr("fleetps_probe_partial{host=\"down1\"")));
}

TEST_F(ExpositionTest, SkippedLinesAreCountedByReason) {
  const std::string text = RenderMetrics(state_, {});
  EXPECT_THAT(text, HasSubstr("fleetps_probe_lines_skipped_total{host=\"up1\",probe=\"processes\","
                              "reason=\"bad_number\"} 2"));
  EXPECT_THAT(text, HasSubstr("fleetps_probe_lines_skipped_total{host=\"up1\",probe=\"processes\","
                              "reason=\"no_header\"} 0"));
}

// process-exporter's three scrape counters, per host: failed probes that ran, unreadable and
// partially read processes of good ones; all at 0 from the start.
TEST_F(ExpositionTest, ScrapeErrorCountersAddUpPerHost) {
  std::string text = RenderMetrics(state_, {});
  EXPECT_THAT(text, HasSubstr("namedprocess_scrape_errors{host=\"down1\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("namedprocess_scrape_procread_errors{host=\"up1\"} 0\n"));
  auto snapshot = std::make_shared<probes::HostSnapshot>();
  snapshot->processes.emplace_back().pid = 1;
  snapshot->stats.processes_unreadable = 2;
  snapshot->stats.processes_partial = 3;
  state_.OnResult(Answered("up1", snapshot));
  state_.OnResult(Answered("up1", snapshot));
  agent::ProbeResult timed_out;
  timed_out.host = "up1";
  timed_out.status = agent::ProbeStatus::kTimeout;
  timed_out.reason = make_error_code(agent::Errc::kTimeout);
  timed_out.session_epoch = 1;
  state_.OnResult(timed_out);
  agent::ProbeResult not_ready = timed_out;  // a tick while the host was down: it never ran
  not_ready.session_epoch = 0;
  state_.OnResult(not_ready);
  text = RenderMetrics(state_, {});
  EXPECT_THAT(text, HasSubstr("namedprocess_scrape_errors{host=\"up1\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("namedprocess_scrape_procread_errors{host=\"up1\"} 4\n"));
  EXPECT_THAT(text, HasSubstr("namedprocess_scrape_partial_errors{host=\"up1\"} 6\n"));
  // Counters, typed as process-exporter types them (names without _total).
  EXPECT_THAT(text, HasSubstr("# TYPE namedprocess_scrape_partial_errors counter\n"));
}

// node_exporter's limits appear where the platform states them, and only while the host is up.
TEST_F(ExpositionTest, ProcessLimitsAppearWhereTheHostStatesThem) {
  std::string text = RenderMetrics(state_, {});
  EXPECT_THAT(text, Not(HasSubstr("node_processes_max_processes{")));  // AIX states none
  auto snapshot = std::make_shared<probes::HostSnapshot>();
  snapshot->processes.emplace_back().pid = 1;
  snapshot->max_processes = 30000;
  state_.OnResult(Answered("up1", snapshot));
  text = RenderMetrics(state_, {});
  EXPECT_THAT(text, HasSubstr("node_processes_max_processes{host=\"up1\"} 30000\n"));
  EXPECT_THAT(text, Not(HasSubstr("node_processes_max_threads{")));  // Solaris has none
  agent::HostStatus lost;
  lost.host = "up1";
  lost.state = agent::HostState::kBackoff;
  lost.last_reason = agent::Errc::kTimeout;
  state_.OnStatus(lost);
  EXPECT_THAT(RenderMetrics(state_, {}), Not(HasSubstr("node_processes_max_processes{")));
}

TEST_F(ExpositionTest, WeakAlgorithmHostsCountsEveryHostThatNeedsOne) {
  const std::string text = RenderMetrics(state_, {});
  EXPECT_THAT(text, HasSubstr("fleetps_ssh_weak_algorithm_hosts{list=\"kex\",algorithm=\"diffie-"
                              "hellman-group14-sha1\"} 2"));
  EXPECT_THAT(
      text,
      HasSubstr("fleetps_ssh_weak_algorithm_hosts{list=\"ciphers\",algorithm=\"aes128-cbc\"} 1"));
  EXPECT_THAT(*RenderHostMetrics(state_, "up1", {}), Not(HasSubstr("weak_algorithm")))
      << "a collector family, not per host";
  state_.SetHosts({Spec("up1")});
  EXPECT_THAT(RenderMetrics(state_, {}), HasSubstr("fleetps_ssh_weak_algorithm_hosts{list=\"kex\","
                                                   "algorithm=\"diffie-hellman-group14-sha1\"} 1"));
}

TEST_F(ExpositionTest, WebUiShowsTheFailureDetailEscapedAndTheWeakAlgorithms) {
  const auto now = std::chrono::system_clock::now();
  const auto down = state_.Host("down1");
  const std::string host_page = RenderHostPage("down1", down.get(), false, "", now, "n").html;
  EXPECT_THAT(host_page, HasSubstr("the server offers [&lt;group1&gt;]"));
  EXPECT_THAT(host_page, HasSubstr("algorithms refused"));
  const std::string fleet_page = RenderFleetPage(state_.Hosts(), {}, "", now, "n").html;
  EXPECT_THAT(fleet_page, HasSubstr("kex:diffie-hellman-group14-sha1,ciphers:aes128-cbc"));
}

TEST_F(ExpositionTest, RemovedHostLeavesNoSeries) {
  state_.SetHosts({Spec("up1")});
  EXPECT_THAT(RenderMetrics(state_, {}), Not(HasSubstr("down1")));
}

TEST_F(ExpositionTest, ProbeViewHasNoHostLabelAndNoCollectorFamilies) {
  const auto text = RenderHostMetrics(state_, "up1", {});
  ASSERT_TRUE(text.has_value());
  EXPECT_THAT(*text, HasSubstr("fleetps_up 1"));
  EXPECT_THAT(*text, Not(HasSubstr("host=")));
  EXPECT_THAT(*text, Not(HasSubstr("fleetps_build_info")));
  EXPECT_FALSE(RenderHostMetrics(state_, "nope", {}).has_value());
}

TEST_F(ExpositionTest, QuarantineShowsAsTheHostState) {
  SelfMetrics self;
  self.quarantined_hosts.insert("up1");
  EXPECT_THAT(RenderMetrics(state_, self),
              HasSubstr("fleetps_host_state{host=\"up1\",state=\"quarantined\"} 1"));
}

TEST_F(ExpositionTest, OnlyCatalogueNamesAreEmitted) {
  const Parsed parsed = Parse(RenderMetrics(state_, {}));
  for (const std::string& name : parsed.sample_families) {
    bool known = false;
    for (const auto& d : kMetricCatalog) known = known || d.name == name;
    EXPECT_TRUE(known) << name;
  }
}

SelfMetrics FullSelf() {
  SelfMetrics self;
  self.supervisor_restarts = 3;
  self.bus_dropped = 7;
  self.config_last_reload_successful = false;
  self.handshakes_in_flight = 2;
  self.handshake_limit = 64;
  Histogram lag(LoopLagBuckets());
  lag.Observe(0.0003);
  lag.Observe(2);
  self.event_loop_lag = lag.Snapshot();
  self.last_scrape_duration_seconds = 0.0125;
  self.process = ProcessStats{1.5, 4096, 8192, 12, 1024, 1.7e9};
  self.http_auth_failures = {{"no_credentials", 3}, {"bad_credentials", 2}, {"busy", 0}};
  self.shells.opened_first = 40;
  self.shells.opened_replacement = 5;
  self.shells.stray_bytes = 123;
  self.shells.fallbacks = {1, 2, 3};
  ClusterSelfMetrics cluster;
  cluster.name = "prod";
  cluster.members_by_state = {{"participant", 2}, {"draining", 0}};
  cluster.members = {{"a", "http://h:1", "", "1.0"}, {"b", "http://h:2", "dc1", ""}};
  cluster.owned_hosts = 10;
  cluster.owned_buckets = 8000;
  cluster.desired_hosts = 10;
  cluster.orphaned_hosts = 0;
  ClusterSelfMetrics::Dynamic dynamic;  // an etcd member's figures
  dynamic.lease_ttl_seconds = 10;
  dynamic.lease_remaining_seconds = 7.5;
  dynamic.fenced = true;
  dynamic.inventory_mismatch = true;
  dynamic.revision = 4242;
  dynamic.expected_members = 3;
  dynamic.probes_fenced = 17;
  dynamic.handovers = {{"in", "join", 5}, {"out", "drain", 2}};
  Histogram handover({0.5, 1, 2, 5});
  handover.Observe(0.7);
  handover.Observe(3);
  dynamic.handover_seconds = {{"join", handover.Snapshot()},
                              {"failover", Histogram({1}).Snapshot()}};
  dynamic.coordination_requests = {{"keepalive", "ok", 99}, {"claim", "unavailable", 1}};
  dynamic.peer_errors = {{"auth", 2}, {"unreachable", 0}, {"bad_answer", 1}};
  cluster.dynamic = std::move(dynamic);
  self.cluster = std::move(cluster);
  return self;
}

// Both renderings come from one walk of the series; this checks that the two sinks write the
// same series alike (values, label escaping and bounding, histograms, family order), against
// prometheus-cpp's own TextSerializer.
TEST_F(ExpositionTest, TextRendererAndPrometheusCppCollectableAgree) {
  AddFullHost();
  SelfMetrics self = FullSelf();
  self.quarantined_hosts.insert("down1");
  FleetCollectable reference(state_, [&self] { return self; });
  const Parsed want = Parse(prometheus::TextSerializer().Serialize(reference.Collect()));
  const Parsed got = Parse(RenderMetrics(state_, self));
  EXPECT_EQ(got.samples, want.samples);
  EXPECT_EQ(got.help_families, want.help_families);
  EXPECT_GT(got.samples.size(), 60u);

  FleetCollectable probe_reference(
      state_, [&self] { return self; }, "down1");
  const Parsed want_probe =
      Parse(prometheus::TextSerializer().Serialize(probe_reference.Collect()));
  const auto probe = RenderHostMetrics(state_, "down1", self);
  ASSERT_TRUE(probe.has_value());
  EXPECT_EQ(Parse(*probe).samples, want_probe.samples);
}

// The walks have a case per family; one without would silently never be emitted.
TEST_F(ExpositionTest, EveryCatalogueFamilyIsEmitted) {
  AddFullHost();
  const Parsed parsed = Parse(RenderMetrics(state_, FullSelf()));
  const std::set<std::string> emitted(parsed.help_families.begin(), parsed.help_families.end());
  for (const auto& d : kMetricCatalog) EXPECT_TRUE(emitted.contains(std::string(d.name))) << d.name;
}

TEST_F(ExpositionTest, HttpConnectionCountersHaveEveryReasonInBothRenderings) {
  const auto key = [](std::string_view family, std::string_view label, std::string_view value) {
    return std::string(family) + "{" + std::string(label) + "=\"" + std::string(value) + "\"}";
  };
  const std::string evicted = key("fleetps_http_connections_evicted_total", "reason", "idle");
  const Parsed before = Parse(RenderMetrics(state_, {}));
  ASSERT_TRUE(before.samples.contains(evicted));
  RecordHttpEviction(HttpEviction::kIdle);
  const Parsed text = Parse(RenderMetrics(state_, {}));
  EXPECT_EQ(text.samples.at(evicted), before.samples.at(evicted) + 1);
  FleetCollectable collectable(state_, {});
  const Parsed reference = Parse(prometheus::TextSerializer().Serialize(collectable.Collect()));
  EXPECT_EQ(reference.samples.at(evicted), text.samples.at(evicted));
  // Every reason from the start, so the first refusal is a change from 0, not a new series.
  for (std::string_view reason : kHttpRefusalReasons) {
    EXPECT_TRUE(
        text.samples.contains(key("fleetps_http_connections_refused_total", "reason", reason)))
        << reason;
  }
  for (std::string_view reason : kHttpEvictionReasons) {
    EXPECT_TRUE(
        text.samples.contains(key("fleetps_http_connections_evicted_total", "reason", reason)))
        << reason;
  }
  for (std::string_view deadline : kHttpDeadlines) {
    EXPECT_TRUE(text.samples.contains(
        key("fleetps_http_connections_timed_out_total", "deadline", deadline)))
        << deadline;
  }
  EXPECT_TRUE(text.samples.contains("fleetps_http_connections"));
  EXPECT_TRUE(text.samples.contains("fleetps_http_max_connections"));
}

TEST_F(ExpositionTest, InternalErrorsAreCountedBySiteInBothRenderings) {
  const std::uint64_t before = InternalErrorCount("reload");
  RecordInternalError("reload", "planted by exposition_test");
  const std::string key = "fleetps_internal_errors_total{where=\"reload\"}";
  const Parsed text = Parse(RenderMetrics(state_, {}));
  ASSERT_TRUE(text.samples.contains(key));
  EXPECT_EQ(text.samples.at(key), static_cast<double>(before + 1));
  FleetCollectable collectable(state_, {});
  const Parsed reference = Parse(prometheus::TextSerializer().Serialize(collectable.Collect()));
  ASSERT_TRUE(reference.samples.contains(key));
  EXPECT_EQ(reference.samples.at(key), static_cast<double>(before + 1));
  // Every site from the start, so a first error is a change from 0, not a new series.
  for (std::string_view site : kInternalErrorSites) {
    EXPECT_TRUE(
        text.samples.contains("fleetps_internal_errors_total{where=\"" + std::string(site) + "\"}"))
        << site;
  }
  EXPECT_TRUE(text.samples.contains("fleetps_internal_errors_total{where=\"other\"}"));
  EXPECT_THAT(*RenderHostMetrics(state_, "up1", {}),
              Not(HasSubstr("fleetps_internal_errors_total")))
      << "a collector family, not per host";
}

// /metrics is written piece by piece as it is rendered: the pieces make the same text, each
// ends with a whole line, and a piece is cut once it holds the bytes asked for.
TEST_F(ExpositionTest, AStreamedScrapeIsTheWholeTextInPieces) {
  AddFullHost();
  SelfMetrics self = FullSelf();
  self.quarantined_hosts.insert("full");
  const std::string whole = RenderMetrics(state_, self);
  for (std::size_t min_bytes : {std::size_t{1}, std::size_t{700}, whole.size() + 1}) {
    MetricsRenderer renderer(state_, self);
    std::string joined;
    std::vector<std::size_t> sizes;
    for (std::string_view piece = renderer.Next(min_bytes); !piece.empty();
         piece = renderer.Next(min_bytes)) {
      EXPECT_EQ(piece.back(), '\n') << min_bytes;
      joined += piece;
      sizes.push_back(piece.size());
    }
    EXPECT_EQ(joined, whole) << min_bytes;
    ASSERT_FALSE(sizes.empty());
    sizes.pop_back();  // the last piece is whatever is left
    for (std::size_t size : sizes) EXPECT_GE(size, min_bytes);
    EXPECT_TRUE(renderer.Next(min_bytes).empty()) << "ended";
  }
}

TEST_F(ExpositionTest, FamiliesAreGroupedWithOneHelpAndTypeEach) {
  const Parsed parsed = Parse(RenderMetrics(state_, FullSelf()));
  std::vector<std::string> runs;  // family of each run of consecutive samples
  for (const std::string& family : parsed.sample_families) {
    if (runs.empty() || runs.back() != family) runs.push_back(family);
  }
  EXPECT_EQ(runs, parsed.help_families);
  EXPECT_EQ(runs, parsed.type_families);
  std::set<std::string> unique(runs.begin(), runs.end());
  EXPECT_EQ(unique.size(), runs.size()) << "a family appears in two places";
}

// The group lifecycle's own series: expected groups and the group count while the host is up,
// refusals always (a counter from the start).
TEST_F(ExpositionTest, GroupLifecycleSeries) {
  const std::string text = RenderMetrics(state_, {});
  EXPECT_THAT(text, HasSubstr("fleetps_namegroup_expected{host=\"up1\",groupname=\"db\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("fleetps_namegroup_expected{host=\"up1\",groupname=\"web\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("fleetps_namegroups{host=\"up1\"} 2\n"));
  EXPECT_THAT(text,
              HasSubstr("namedprocess_namegroup_num_procs{host=\"up1\",groupname=\"web\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("fleetps_namegroups_refused_total{host=\"up1\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("fleetps_namegroups_refused_total{host=\"down1\"} 0\n"));
  EXPECT_THAT(text, Not(HasSubstr("fleetps_namegroups{host=\"down1\"}")));
  EXPECT_THAT(text, Not(HasSubstr("fleetps_namegroup_expected{host=\"down1\"")));
}

// The per-host bounds' counters (issue 17) are there for every host from the start, at 0, up
// or down, and follow the view.
TEST_F(ExpositionTest, HostBoundCountersFromTheStart) {
  std::string text = RenderMetrics(state_, {});
  for (const char* host : {"up1", "down1"}) {
    for (const char* family :
         {"fleetps_processes_dropped_total", "fleetps_label_values_truncated_total",
          "fleetps_host_events_coalesced_total"}) {
      EXPECT_THAT(text, HasSubstr(std::string(family) + "{host=\"" + host + "\"} 0\n"));
    }
  }
  agent::HostStatus status = *state_.Host("down1")->status;
  state_.OnStatus(status, 0, 3);
  text = RenderMetrics(state_, {});
  EXPECT_THAT(text, HasSubstr("fleetps_host_events_coalesced_total{host=\"down1\"} 3\n"));
}

TEST_F(ExpositionTest, SeriesFollowTheCurrentSnapshot) {
  EXPECT_THAT(RenderMetrics(state_, {}),
              HasSubstr("fleetps_probe_skipped_total{host=\"up1\"} 0\n"));
  agent::ProbeResult skipped;
  skipped.host = "up1";
  skipped.status = agent::ProbeStatus::kSkipped;
  state_.OnResult(skipped);
  EXPECT_THAT(RenderMetrics(state_, {}),
              HasSubstr("fleetps_probe_skipped_total{host=\"up1\"} 1\n"));
}

TEST_F(ExpositionTest, LabelValuesAreEscapedAndBounded) {
  config::HostSpec odd = Spec("we\"ird\\host\nname");
  state_.SetHosts({odd});
  const std::string text = RenderMetrics(state_, {});
  // The newline is a control character: \x0a in the value (then \ escaped by the format).
  EXPECT_THAT(text, HasSubstr("fleetps_up{host=\"we\\\"ird\\\\host\\\\x0aname\"} 0\n"));
  state_.SetHosts({Spec(std::string(300, 'h'))});
  // 245 bytes of the value, then the marker: `…` and 8 hex digits, 256 bytes in all.
  const std::string cut = BoundedLabelValue(std::string(300, 'h'));
  EXPECT_EQ(cut.size(), 256u);
  EXPECT_TRUE(cut.starts_with(std::string(245, 'h') + "\xe2\x80\xa6")) << cut;
  const std::string bounded = "fleetps_up{host=\"" + cut + "\"} 0\n";
  EXPECT_THAT(RenderMetrics(state_, {}), HasSubstr(bounded));
  FleetCollectable collectable(state_, {});
  EXPECT_THAT(prometheus::TextSerializer().Serialize(collectable.Collect()), HasSubstr(bounded));
}

// DESIGN §7: whatever a host prints, every label value is valid UTF-8 without control
// characters, so one bad string cannot make Prometheus reject the whole scrape.
TEST_F(ExpositionTest, HostileLabelValuesBecomeValidUtf8WithoutControls) {
  agent::HostStatus ready = *state_.Host("up1")->status;
  // Invalid UTF-8 (\xff, a lone continuation byte, a truncated sequence), ESC, a C1 CSI,
  // a tab, a quote and a valid non-ASCII character.
  ready.server.server_version = "SSH\xff\x80\xe2\x82 \x1b[31mred\xc2\x9bx\t\"q\" caf\xc3\xa9";
  state_.OnStatus(ready);
  const std::string want =
      R"(server_version="SSH\\xff\\x80\\xe2\\x82 \\x1b[31mred\\xc2\\x9bx\\x09\"q\" caf)"
      "\xc3\xa9\"";
  const std::string text = RenderMetrics(state_, {});
  EXPECT_THAT(text, HasSubstr(want));
  FleetCollectable collectable(state_, {});
  const std::string serialized = prometheus::TextSerializer().Serialize(collectable.Collect());
  EXPECT_THAT(serialized, HasSubstr(want));
  for (const std::string* out : {&text, &serialized}) {
    EXPECT_EQ(ValidUtf8(*out), *out);
    for (const char c : *out) {
      const auto byte = static_cast<unsigned char>(c);
      EXPECT_TRUE(byte >= 0x20 || c == '\n') << "control byte " << int{byte};
      EXPECT_NE(byte, 0x7f);
    }
    EXPECT_EQ(out->find("\xc2\x9b"), std::string::npos) << "raw C1 CSI";
  }
}

TEST_F(ExpositionTest, CollectorSelfMetrics) {
  const std::string text = RenderMetrics(state_, FullSelf());
  EXPECT_THAT(text, HasSubstr("\nfleetps_hosts 2\n"));
  EXPECT_THAT(text, HasSubstr("\nfleetps_handshakes_in_flight 2\n"));
  EXPECT_THAT(text, HasSubstr("\nfleetps_handshake_limit 64\n"));
  EXPECT_THAT(text, HasSubstr("\nfleetps_scrape_duration_seconds 0.0125\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE fleetps_event_loop_lag_seconds histogram\n"));
  EXPECT_THAT(text, HasSubstr("\nfleetps_event_loop_lag_seconds_bucket{le=\"0.0001\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("\nfleetps_event_loop_lag_seconds_bucket{le=\"0.0005\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("\nfleetps_event_loop_lag_seconds_bucket{le=\"1\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("\nfleetps_event_loop_lag_seconds_bucket{le=\"+Inf\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("\nfleetps_event_loop_lag_seconds_count 2\n"));
  EXPECT_THAT(text, HasSubstr("\nfleetps_event_loop_lag_seconds_sum 2.0003\n"));
  EXPECT_THAT(text, HasSubstr("\nfleetps_probe_schedule_delay_seconds_count 1\n"));
  EXPECT_THAT(text, HasSubstr("\nprocess_cpu_seconds_total 1.5\n"));
  EXPECT_THAT(text, HasSubstr("\nprocess_resident_memory_bytes 4096\n"));
  EXPECT_THAT(text, HasSubstr("\nprocess_virtual_memory_bytes 8192\n"));
  EXPECT_THAT(text, HasSubstr("\nprocess_open_fds 12\n"));
  EXPECT_THAT(text, HasSubstr("\nprocess_max_fds 1024\n"));
  EXPECT_THAT(text, HasSubstr("\nprocess_start_time_seconds 1700000000\n"));
  EXPECT_THAT(text, HasSubstr("\nfleetps_probe_shells_opened_total{kind=\"first\"} 40\n"));
  EXPECT_THAT(text, HasSubstr("\nfleetps_probe_shells_opened_total{kind=\"replacement\"} 5\n"));
  EXPECT_THAT(text, HasSubstr("\nfleetps_probe_shell_stray_bytes_total 123\n"));
  EXPECT_THAT(text,
              HasSubstr("\nfleetps_probe_shell_fallbacks_total{reason=\"first_run_failed\"} 1\n"));
  EXPECT_THAT(text,
              HasSubstr("\nfleetps_probe_shell_fallbacks_total{reason=\"first_run_timeout\"} 2\n"));
  EXPECT_THAT(text,
              HasSubstr("\nfleetps_probe_shell_fallbacks_total{reason=\"failed_twice\"} 3\n"));
  // Every shell series from the start, at 0: rate() sees the first event.
  EXPECT_THAT(RenderMetrics(state_, {}),
              HasSubstr("\nfleetps_probe_shell_fallbacks_total{reason=\"failed_twice\"} 0\n"));
  // Unset values are left out rather than shown as 0.
  const std::string bare = RenderMetrics(state_, {});
  EXPECT_THAT(bare, Not(HasSubstr("fleetps_handshake_limit")));
  EXPECT_THAT(bare, Not(HasSubstr("process_cpu_seconds_total")));
  EXPECT_THAT(bare, Not(HasSubstr("fleetps_event_loop_lag_seconds")));
  // Never on /probe.
  EXPECT_THAT(*RenderHostMetrics(state_, "up1", FullSelf()), Not(HasSubstr("\nprocess_")));
  EXPECT_THAT(*RenderHostMetrics(state_, "up1", FullSelf()), Not(HasSubstr("fleetps_hosts")));
}

TEST_F(ExpositionTest, ScheduleDelayCountsScheduledProbesOnly) {
  const auto planned = std::chrono::system_clock::time_point(std::chrono::seconds(1'000'000));
  agent::ProbeResult late;
  late.host = "up1";
  late.status = agent::ProbeStatus::kError;
  late.scheduled_at = planned;
  late.started = planned + std::chrono::milliseconds(30);
  late.finished = late.started;
  state_.OnResult(late);
  agent::ProbeResult adhoc = late;
  adhoc.adhoc = true;
  adhoc.started = planned + std::chrono::seconds(30);
  state_.OnResult(adhoc);
  agent::ProbeResult skipped = late;
  skipped.status = agent::ProbeStatus::kSkipped;
  state_.OnResult(skipped);
  const HistogramSnapshot delay = state_.ScheduleDelay().Snapshot();
  EXPECT_EQ(delay.Count(), 2u);  // the fixture's probe (planned = started) and `late`
  EXPECT_NEAR(delay.sum, 0.030, 1e-9);
  const std::string text = RenderMetrics(state_, {});
  EXPECT_THAT(text, HasSubstr("fleetps_probe_schedule_delay_seconds_bucket{le=\"0.025\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("fleetps_probe_schedule_delay_seconds_bucket{le=\"0.05\"} 2\n"));
}

TEST(ExpositionLabelTest, LongLabelValuesAreCutAtAUtf8Boundary) {
  std::string value(244, 'a');
  value += "\xc3\xa9";  // a two-byte character straddling the cut at byte 245
  const std::string bounded = BoundedLabelValue(value + std::string(20, 'b'));
  EXPECT_EQ(bounded.size(), 244u + 11u);
  EXPECT_TRUE(bounded.starts_with(std::string(244, 'a') + "\xe2\x80\xa6")) << bounded;
  // The same value cuts the same way (a stable series); another one sharing the start does not
  // become the same series.
  EXPECT_EQ(BoundedLabelValue(value + std::string(20, 'b')), bounded);
  EXPECT_NE(BoundedLabelValue(value + std::string(20, 'c')), bounded);
  // The bound is on the value as written: 100 ESC bytes are 400 bytes of \x1b.
  const std::string escapes = BoundedLabelValue(std::string(100, '\x1b'), 64);
  EXPECT_EQ(escapes.size(), 64u);
  EXPECT_TRUE(escapes.starts_with("\\x1b\\x1b")) << escapes;
  EXPECT_EQ(BoundedLabelValue(std::string(256, 'a')), std::string(256, 'a'));
}

TEST(ExpositionGzipTest, AcceptEncodingParsing) {
  EXPECT_TRUE(AcceptsGzip("gzip"));
  EXPECT_TRUE(AcceptsGzip("deflate, gzip;q=0.5"));
  EXPECT_TRUE(AcceptsGzip("*"));
  EXPECT_TRUE(AcceptsGzip(" identity , x-gzip "));
  EXPECT_FALSE(AcceptsGzip(""));
  EXPECT_FALSE(AcceptsGzip("identity"));
  EXPECT_FALSE(AcceptsGzip("gzip;q=0"));
  EXPECT_FALSE(AcceptsGzip("gzipped"));
}

TEST(StatusPageTest, EscapesHostText) {
  EXPECT_EQ(HtmlEscape("<b>\"x\" & 'y'</b>"), "&lt;b&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/b&gt;");
}

}  // namespace
}  // namespace fleetps::collector
