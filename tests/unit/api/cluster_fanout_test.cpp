// Fleet-wide answers over real sockets (label cluster): three HttpServer+HttpApi members on
// 127.0.0.1, each over its own FleetState holding the whole inventory and a ClusterPort naming
// all three at their bound URLs. Through any member, processes, listening and hosts equal what
// one unclustered collector answers for the whole fleet; a member that accepts but never
// answers, or is gone, makes the answer incomplete within the deadline, naming it and its
// hosts; the CLI warns and exits 3.
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/json.hpp>

#include "api_fakes.hpp"
#include "fleetps/collector/api/cluster_query.hpp"
#include "fleetps/collector/cli/cli.hpp"
#include "fleetps/collector/http/http_client.hpp"
#include "fleetps/collector/query/nodeset_fold.hpp"

namespace fleetps::collector {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;

std::string Text(const json::value& v) { return v.is_string() ? std::string(v.as_string()) : ""; }
using ::testing::HasSubstr;
using namespace std::chrono_literals;

class SwitchableCluster final : public ClusterPort {
 public:
  std::shared_ptr<const cluster::ClusterView> View() const override {
    std::lock_guard lock(mu_);
    return view_;
  }
  void Set(cluster::ClusterView view) {
    std::lock_guard lock(mu_);
    view_ = std::make_shared<const cluster::ClusterView>(std::move(view));
  }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const cluster::ClusterView> view_;
};

constexpr int kHosts = 30;

std::string HostName(int i) { return (i < 10 ? "web0" : "web") + std::to_string(i); }

// The same 30 hosts in every member's FleetState: ready, two processes and one socket each,
// with rss spread so that the order interleaves members.
void FillFleet(FleetState& state) {
  std::vector<config::HostSpec> specs;
  for (int i = 1; i <= kHosts; ++i) specs.push_back(testing::Spec(HostName(i)));
  state.SetHosts(specs);
  for (int i = 1; i <= kHosts; ++i) {
    const std::string host = HostName(i);
    state.OnStatus(testing::Status(host, agent::HostState::kReady));
    auto oracle = testing::Row(100 + i, "oracle");
    oracle.rss_bytes = (i * 7919 % 101) * 1024;
    auto sshd = testing::Row(7, "sshd");
    sshd.rss_bytes = (i * 104729 % 97) * 1024;
    state.OnResult(testing::Probe(host, {oracle, sshd},
                                  {probes::ListenSocket{"tcp", "0.0.0.0", 1521, 100 + i, "oracle"},
                                   probes::ListenSocket{"tcp", "0.0.0.0", 22, 7, "sshd"}}));
  }
}

// One member: its fleet, API and server on its own io thread.
struct Member {
  explicit Member(const ClusterPort* cluster) {
    FillFleet(fleet.state);
    HttpApiOptions options;
    options.cluster = cluster;
    api = std::make_unique<HttpApi>(fleet, fleet, bus, options);
    auto bound = HttpServer::Bind(io.get_executor(), "127.0.0.1:0",
                                  [this](HttpRequest request, HttpPeer peer) {
                                    return api->Handle(std::move(request), peer);
                                  });
    EXPECT_TRUE(bound.has_value());
    server.emplace(std::move(*bound));
    url = "http://127.0.0.1:" + std::to_string(server->LocalEndpoint().port());
    asio::co_spawn(io, server->Run(), asio::detached);
  }
  void Start() {
    thread = std::thread([this] { io.run(); });
  }
  void Stop() {
    io.stop();
    if (thread.joinable()) thread.join();
  }
  ~Member() { Stop(); }

  asio::io_context io;
  testing::FakeFleet fleet;
  FleetBus bus;
  std::unique_ptr<HttpApi> api;
  std::optional<HttpServer> server;
  std::string url;
  std::thread thread;
};

// Members a, b and c at `urls`, `self` marked, 64 buckets as rendezvous hashing assigns them.
cluster::ClusterView ViewOf(const std::vector<std::string>& urls, std::size_t self) {
  cluster::ClusterView view;
  view.name = "test";
  view.membership = "static";
  view.buckets = 64;
  const char* names[] = {"a", "b", "c"};
  std::vector<cluster::MemberSpec> specs;
  for (std::size_t i = 0; i < urls.size(); ++i) {
    cluster::MemberView member;
    member.spec.name = names[i];
    member.advertise = urls[i];
    member.self = i == self;
    specs.push_back(member.spec);
    view.members.push_back(std::move(member));
  }
  for (std::uint32_t b = 0; b < view.buckets; ++b) {
    view.bucket_owner.push_back(static_cast<std::int32_t>(*cluster::DesiredOwner(specs, b)));
  }
  return view;
}

class ClusterFanOutTest : public ::testing::Test {
 protected:
  ClusterFanOutTest() {
    for (int i = 0; i < 3; ++i) members_.push_back(std::make_unique<Member>(&ports_[i]));
    urls_ = {members_[0]->url, members_[1]->url, members_[2]->url};
    for (std::size_t i = 0; i < 3; ++i) ports_[i].Set(ViewOf(urls_, i));
    for (auto& m : members_) m->Start();
    FillFleet(reference_.state);
  }

  // What one unclustered collector over the whole fleet answers.
  json::object Reference(std::string_view target) {
    HttpApi api(reference_, reference_, reference_bus_);
    const HttpAnswer answer =
        testing::Await(io_, api.Handle(testing::Request(boost::beast::http::verb::get, target)));
    EXPECT_EQ(answer.response.result_int(), 200u) << answer.response.body();
    return json::parse(answer.response.body()).as_object();
  }

  json::object Fetch(const std::string& url, const std::string& target) {
    const auto reply = HttpGet(url, target, 10s);
    EXPECT_TRUE(reply.has_value()) << (reply ? "" : reply.error().message);
    if (!reply) return {};
    EXPECT_EQ(reply->status, 200u) << reply->body;
    return json::parse(reply->body).as_object();
  }

  std::vector<std::string> HostsOf(const std::string& member) const {
    const auto view = ports_[0].View();
    std::vector<std::string> hosts;
    for (int i = 1; i <= kHosts; ++i) {
      if (view->OwnerOf(HostName(i))->spec.name == member) hosts.push_back(HostName(i));
    }
    return hosts;
  }

  SwitchableCluster ports_[3];
  std::vector<std::unique_ptr<Member>> members_;
  std::vector<std::string> urls_;
  asio::io_context io_;
  testing::FakeFleet reference_;
  FleetBus reference_bus_;
};

// host/pid (host/port for sockets) of each row, in order.
std::vector<std::string> RowKeys(const json::object& doc) {
  std::vector<std::string> keys;
  for (const auto& row : doc.at("data").at("rows").as_array()) {
    const auto& o = row.as_object();
    std::string key(o.at("host").as_string());
    key += "/" + json::serialize(o.contains("port") ? o.at("port") : o.at("pid"));
    keys.push_back(std::move(key));
  }
  return keys;
}

TEST_F(ClusterFanOutTest, EveryMemberAnswersForTheWholeClusterAsOneCollectorWould) {
  for (const auto& member : {"a", "b", "c"}) ASSERT_FALSE(HostsOf(member).empty()) << member;
  const std::string processes = "/api/v1/processes?q=%7B%7D&sort=-rss&limit=25";
  const std::string listening = "/api/v1/listening?sort=-port&limit=40";
  const json::object want_processes = Reference(processes);
  const json::object want_listening = Reference(listening);
  const json::object want_hosts = Reference("/api/v1/hosts?sort=host");
  for (const std::string& url : urls_) {
    SCOPED_TRACE(url);
    const json::object got = Fetch(url, processes);
    EXPECT_EQ(RowKeys(got), RowKeys(want_processes));
    EXPECT_EQ(got.at("data").at("total"), want_processes.at("data").at("total"));
    EXPECT_EQ(got.at("data").at("total"), 2 * kHosts);
    EXPECT_EQ(got.at("data").at("hosts").as_array().size(), std::size_t{kHosts});
    EXPECT_EQ(got.at("data").at("incomplete"), false);

    const json::object sockets = Fetch(url, listening);
    EXPECT_EQ(RowKeys(sockets), RowKeys(want_listening));
    EXPECT_EQ(sockets.at("data").at("total"), want_listening.at("data").at("total"));

    const json::object hosts = Fetch(url, "/api/v1/hosts?sort=host");
    const json::array& got_hosts = hosts.at("data").at("hosts").as_array();
    const json::array& want = want_hosts.at("data").at("hosts").as_array();
    ASSERT_EQ(got_hosts.size(), want.size());
    for (std::size_t i = 0; i < want.size(); ++i) {
      EXPECT_EQ(got_hosts[i].at("host"), want[i].at("host"));
      EXPECT_EQ(Text(got_hosts[i].at("collector")),
                ports_[0].View()->OwnerOf(want[i].at("host").as_string())->spec.name);
    }
    EXPECT_EQ(hosts.at("data").at("counts"), want_hosts.at("data").at("counts"));
  }
}

TEST_F(ClusterFanOutTest, ScopeLocalAnswersForTheMembersOwnHostsOnlyAndOtherScopesAre400) {
  const json::object local = Fetch(urls_[1], "/api/v1/processes?limit=1000&scope=local");
  std::set<std::string> hosts;
  for (const auto& row : local.at("data").at("rows").as_array()) {
    hosts.insert(std::string(row.at("host").as_string()));
  }
  const auto mine = HostsOf("b");
  EXPECT_EQ(hosts, std::set<std::string>(mine.begin(), mine.end()));
  EXPECT_EQ(local.at("data").at("total"), 2 * mine.size());
  const auto bad = HttpGet(urls_[1], "/api/v1/processes?scope=cluster", 5s);
  ASSERT_TRUE(bad.has_value());
  EXPECT_EQ(bad->status, 400u);
  EXPECT_THAT(bad->body, HasSubstr("scope"));
  const auto bad_hosts = HttpGet(urls_[1], "/api/v1/hosts?scope=", 5s);
  ASSERT_TRUE(bad_hosts.has_value());
  EXPECT_EQ(bad_hosts->status, 400u);
}

TEST_F(ClusterFanOutTest, AMemberThatNeverAnswersMakesTheAnswerIncompleteWithinTheDeadline) {
  // c's URL now leads to a socket that accepts connections (the kernel's backlog) and never
  // answers; a's view says so.
  asio::io_context silent_io;
  asio::ip::tcp::acceptor silent(silent_io, {asio::ip::make_address("127.0.0.1"), 0});
  const std::string silent_url =
      "http://127.0.0.1:" + std::to_string(silent.local_endpoint().port());
  ports_[0].Set(ViewOf({urls_[0], urls_[1], silent_url}, 0));
  const auto lost = HostsOf("c");

  const auto started = std::chrono::steady_clock::now();
  const json::object doc = Fetch(urls_[0], "/api/v1/processes?sort=-rss&limit=100");
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_LT(took, 2500ms) << "the 2 s deadline plus 0.5 s";
  EXPECT_GE(took, 1900ms) << "c was waited for";
  const json::object& data = doc.at("data").as_object();
  EXPECT_EQ(data.at("incomplete"), true);
  const json::array& missing = data.at("missing_members").as_array();
  ASSERT_EQ(missing.size(), 1u);
  EXPECT_EQ(missing[0].at("member"), "c");
  EXPECT_EQ(Text(missing[0].at("advertise")), silent_url);
  EXPECT_EQ(missing[0].at("error"), "did not answer within 2s");
  EXPECT_EQ(missing[0].at("hosts"), lost.size());
  EXPECT_EQ(Text(missing[0].at("hosts_folded")), FoldHostNames(lost));
  EXPECT_EQ(data.at("total"), 2 * (kHosts - lost.size()));
  for (const auto& row : data.at("rows").as_array()) {
    EXPECT_EQ(std::count(lost.begin(), lost.end(), row.at("host").as_string()), 0);
  }

  // The CLI prints what came and names what did not, with its own exit status.
  std::ostringstream out, err;
  const std::string_view args[] = {"query", "{}", "--server", urls_[0]};
  EXPECT_EQ(RunCli(args, out, err), kExitIncomplete);
  EXPECT_THAT(out.str(), HasSubstr("oracle"));
  EXPECT_THAT(err.str(),
              HasSubstr("warning: c did not answer within 2s: " + std::to_string(lost.size()) +
                        " hosts unknown (" + FoldHostNames(lost) + ")\n"));
}

TEST_F(ClusterFanOutTest, AStoppedMemberIsNamedWithWhyAndTheCliExitsIncomplete) {
  // Its io_context too: the accept loop's frame holds the listening socket until it is gone.
  // Connections to c are refused from then on.
  members_[2].reset();
  const auto lost = HostsOf("c");
  const json::object doc = Fetch(urls_[1], "/api/v1/hosts");
  const json::object& data = doc.at("data").as_object();
  EXPECT_EQ(data.at("incomplete"), true);
  ASSERT_EQ(data.at("missing_members").as_array().size(), 1u);
  const auto& missing = data.at("missing_members").at(0);
  EXPECT_EQ(missing.at("member"), "c");
  EXPECT_THAT(std::string(missing.at("error").as_string()), HasSubstr("cannot reach " + urls_[2]));
  EXPECT_EQ(data.at("hosts").as_array().size(), kHosts - lost.size());
  EXPECT_EQ(data.at("total"), kHosts - lost.size());

  std::ostringstream out, err;
  const std::string_view args[] = {"hosts", "-o", "wide", "--server", urls_[1]};
  EXPECT_EQ(RunCli(args, out, err), kExitIncomplete);
  EXPECT_THAT(out.str(), HasSubstr("COLLECTOR"));
  EXPECT_THAT(err.str(), HasSubstr("warning: c failed (cannot reach " + urls_[2]));
  EXPECT_THAT(err.str(), HasSubstr(std::to_string(lost.size()) + " hosts unknown"));

  std::ostringstream json_out, json_err;
  const std::string_view json_args[] = {"listening", "-o", "json", "--server", urls_[1]};
  EXPECT_EQ(RunCli(json_args, json_out, json_err), kExitIncomplete);
  EXPECT_THAT(json_out.str(), HasSubstr("\"missing_members\""));
  EXPECT_THAT(json_err.str(), HasSubstr("warning: c failed"));
}

}  // namespace
}  // namespace fleetps::collector
