// `collector.source_address` (issue 20) end to end: fleetps' HostAgent against fleetsim, judged
// by fleetsim's attribution (`GET /hosts/N/clients`): unset, the server sees today's source
// (127.0.0.1); set, it sees the configured address for the session and for every script; an
// address that is not local fails the connect with `internal` and says why.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "agent_test_support.hpp"
#include "fleetps/agent/errors.hpp"

namespace fleetps::fleetsim::testing {
namespace {

using namespace std::chrono_literals;
using agent::Errc;
using agent::ProbeStatus;

agent::AgentOptions Options() {
  agent::AgentOptions o;
  o.timings.backoff_base = 100ms;
  o.timings.backoff_cap = 400ms;
  o.uniform = [] { return 0.5; };
  return o;
}

// What fleetsim attributes to host `number`: the peers of its scripts and of its open sessions.
struct Attribution {
  std::set<std::string> script_peers;
  std::set<std::string> session_peers;
  std::uint64_t scripts_total = 0;
};

Attribution Clients(const Fleetsim& fleet, std::uint32_t number) {
  Attribution out;
  const HttpResult reply =
      HttpWithin(fleet.ControlPort(), "GET", "/hosts/" + std::to_string(number) + "/clients", 5s);
  EXPECT_EQ(reply.status, 200) << reply.body;
  if (reply.status != 200) return out;
  const auto hosts = boost::json::parse(reply.body).as_array();
  EXPECT_EQ(hosts.size(), 1u);
  if (hosts.empty()) return out;
  const auto& host = hosts[0].as_object();
  for (const auto& script : host.at("scripts").as_array()) {
    out.script_peers.insert(std::string(script.as_object().at("peer").as_string()));
  }
  for (const auto& [peer, count] : host.at("sessions_by_peer").as_object()) {
    if (count.as_int64() > 0) out.session_peers.insert(std::string(peer));
  }
  out.scripts_total = static_cast<std::uint64_t>(host.at("scripts_total").as_int64());
  return out;
}

// Polls `pred` every 50 ms until it holds or `limit` passes.
template <class Pred>
bool Eventually(Pred pred, std::chrono::milliseconds limit) {
  const auto end = Clock::now() + limit;
  while (!pred()) {
    if (Clock::now() >= end) return false;
    std::this_thread::sleep_for(50ms);
  }
  return true;
}

class AgentSourceAddressTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    ASSERT_TRUE(fleet_.Start(3, {}, error)) << error;
    hosts_ = EmittedHosts(fleet_, error);
    ASSERT_EQ(hosts_.size(), 3u) << error;
    for (auto& h : hosts_) {
      h.connect_timeout = 5s;
      h.probe_timeout = 5s;
      h.interval = 300ms;
    }
  }

  // Runs one agent on host `index` until it has `probes` successful probes; then stops it.
  void ProbeWith(std::size_t index, std::size_t probes) {
    AgentRunner runner;
    Recorder rec;
    runner.Start(hosts_.at(index), rec.Sink(), Options());
    EXPECT_TRUE(rec.WaitFor(
        [&](const Recorder& r) { return r.CountResults(ProbeStatus::kOk) >= probes; }, 20s));
    // Still connected: the open session is attributed too.
    attribution_ = Clients(fleet_, static_cast<std::uint32_t>(index + 1));
    runner.Stop();
    EXPECT_EQ(runner.Crashes(), 0);
  }

  Fleetsim fleet_;
  std::vector<config::HostSpec> hosts_;
  Attribution attribution_;
};

TEST_F(AgentSourceAddressTest, UnsetKeepsTheKernelsChoice) {
  ASSERT_TRUE(hosts_[0].source_address.empty());
  ProbeWith(0, 2);
  EXPECT_EQ(attribution_.script_peers, std::set<std::string>{"127.0.0.1"});
  EXPECT_EQ(attribution_.session_peers, std::set<std::string>{"127.0.0.1"});
}

TEST_F(AgentSourceAddressTest, EverySessionAndScriptComesFromTheConfiguredAddress) {
  // Through the loader, as `fleetps run` gets it: fleetsim's inventory with a collector section.
  std::ifstream file(fleet_.Dir() / "fleet.yaml");
  std::stringstream text;
  text << file.rdbuf() << "collector:\n  source_address: 127.0.0.12\n";
  const auto loaded = config::LoadInventoryFromString(text.str(), "fleet.yaml");
  ASSERT_TRUE(loaded.ok());
  ASSERT_EQ(loaded.inventory->hosts.size(), 3u);
  const std::string& configured = loaded.inventory->hosts[1].source_address;
  ASSERT_EQ(configured, "127.0.0.12");
  hosts_[1].source_address = configured;
  ProbeWith(1, 2);
  EXPECT_GE(attribution_.scripts_total, 2u);  // fingerprint and probes
  EXPECT_EQ(attribution_.script_peers, std::set<std::string>{"127.0.0.12"});
  EXPECT_EQ(attribution_.session_peers, std::set<std::string>{"127.0.0.12"});
  // The agent has gone: its session is no longer counted, its scripts still are.
  EXPECT_TRUE(Eventually([&] { return Clients(fleet_, 2).session_peers.empty(); }, 5s));
  EXPECT_EQ(Clients(fleet_, 2).script_peers, std::set<std::string>{"127.0.0.12"});
}

TEST_F(AgentSourceAddressTest, AnAddressThatIsNotLocalFailsTheConnectAndSaysWhy) {
  hosts_[2].source_address = "192.0.2.1";  // TEST-NET-1: never one of this machine's addresses
  AgentRunner runner;
  Recorder rec;
  runner.Start(hosts_[2], rec.Sink(), Options());
  ASSERT_TRUE(rec.WaitFor(
      [](const Recorder& r) {
        for (const auto& s : r.statuses) {
          if (s.last_reason == make_error_code(Errc::kInternal)) return true;
        }
        return false;
      },
      10s));
  runner.Stop();
  std::string detail;
  for (const auto& s : rec.statuses) {
    if (s.last_reason == make_error_code(Errc::kInternal)) detail = s.detail;
  }
  EXPECT_NE(detail.find("source address 192.0.2.1"), std::string::npos) << detail;
  EXPECT_EQ(rec.CountResults(ProbeStatus::kOk), 0u);
  EXPECT_EQ(Clients(fleet_, 3).scripts_total, 0u);
}

}  // namespace
}  // namespace fleetps::fleetsim::testing
