#include "fleetps/collector/exposition.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>

#include "fleetps/collector/metric_catalog.hpp"
#include "fleetps/collector/status_page.hpp"

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

class ExpositionTest : public ::testing::Test {
 protected:
  ExpositionTest()
      : state_(*probes::Grouper::Compile({probes::MatcherSpec{"db", {"oracle"}, {}, {}},
                                          probes::MatcherSpec{"web", {"nginx"}, {}, {}}})
                    .grouper,
               {"db", "web"}) {
    state_.SetHosts({Spec("up1"), Spec("down1")});
    agent::HostStatus ready;
    ready.host = "up1";
    ready.state = agent::HostState::kReady;
    ready.epoch = 1;
    ready.dialect = probes::Dialect::kAix;
    ready.fingerprint = probes::Fingerprint{};
    ready.fingerprint->os = "AIX";
    ready.server.server_version = "OpenSSH_9.2p1";
    state_.OnStatus(ready);
    agent::ProbeResult ok;
    ok.host = "up1";
    ok.status = agent::ProbeStatus::kOk;
    auto snapshot = std::make_shared<probes::HostSnapshot>();
    probes::ProcessRow row;
    row.pid = 42;
    row.comm = "oracle";
    row.cpu_user_seconds = 3;
    row.rss_bytes = 4096;
    snapshot->processes.push_back(row);
    ok.snapshot = snapshot;
    state_.OnResult(ok);
    agent::HostStatus refused;
    refused.host = "down1";
    refused.state = agent::HostState::kBackoff;
    refused.last_reason = agent::Errc::kConnectRefused;
    state_.OnStatus(refused);
  }
  FleetState state_;
};

TEST_F(ExpositionTest, UpHostHasGroupsIncludingAbsentStaticOnesAsZero) {
  const std::string text = RenderMetrics(state_, {});
  EXPECT_THAT(text, HasSubstr("fleetps_up{host=\"up1\"} 1"));
  EXPECT_THAT(text, HasSubstr("namedprocess_namegroup_num_procs{host=\"up1\",groupname=\"db\"} 1"));
  EXPECT_THAT(text, HasSubstr("namedprocess_namegroup_num_procs{host=\"up1\",groupname=\"web\"} 0"));
  EXPECT_THAT(text, HasSubstr("fleetps_host_info{host=\"up1\",os=\"AIX\""));
  EXPECT_THAT(text, HasSubstr("dialect=\"aix\""));
}

TEST_F(ExpositionTest, DownHostIsDistinctFromAbsentProcesses) {
  const std::string text = RenderMetrics(state_, {});
  EXPECT_THAT(text, HasSubstr("fleetps_up{host=\"down1\"} 0"));
  EXPECT_THAT(text, Not(HasSubstr("namedprocess_namegroup_num_procs{host=\"down1\"")));
  EXPECT_THAT(text, HasSubstr("fleetps_host_state{host=\"down1\",state=\"backoff\"} 1"));
  EXPECT_THAT(text, HasSubstr(
      "fleetps_probe_failure{host=\"down1\",probe=\"processes\",reason=\"connect_refused\"} 1"));
  EXPECT_THAT(text, HasSubstr(
      "fleetps_probe_failure{host=\"down1\",probe=\"processes\",reason=\"timeout\"} 0"));
}

TEST_F(ExpositionTest, EveryReasonOfTheBoundedSetIsEmittedPerHost) {
  const std::string text = RenderMetrics(state_, {});
  for (agent::Errc reason : agent::AllReasons()) {
    EXPECT_THAT(text, HasSubstr("reason=\"" + std::string(agent::ReasonName(reason)) + "\""));
  }
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
  std::istringstream lines(RenderMetrics(state_, {}));
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] == '#') continue;
    const std::string name = line.substr(0, line.find_first_of("{ "));
    bool known = false;
    for (const auto& d : kMetricCatalog) known = known || d.name == name;
    EXPECT_TRUE(known) << name;
  }
}

TEST(ExpositionLabelTest, LongLabelValuesAreCutAtAUtf8Boundary) {
  std::string value(255, 'a');
  value += "\xc3\xa9";  // a two-byte character straddling byte 256
  const std::string bounded = BoundedLabelValue(value);
  EXPECT_EQ(bounded.size(), 255u);
}

TEST(StatusPageTest, EscapesHostText) {
  EXPECT_EQ(HtmlEscape("<b>\"x\" & 'y'</b>"), "&lt;b&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/b&gt;");
}

}  // namespace
}  // namespace fleetps::collector
