// ClusterHandlers through the route table: /sd and its parameters, /probe forwarding refusals,
// /api/v1/cluster, clustered (a fake ClusterPort) and not.
#include <memory>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "api_fakes.hpp"
#include "fleetps/collector/api/http_api.hpp"
#include "fleetps/collector/cluster/static_membership.hpp"

namespace fleetps::collector {
namespace {

using ::testing::HasSubstr;
using testing::Request;
using testing::Spec;
namespace http = boost::beast::http;
namespace json = boost::json;

// Members a (this process), b, c; every bucket owned by `owner_of_all`.
class FakeCluster final : public ClusterPort {
 public:
  explicit FakeCluster(std::int32_t owner_of_all) {
    auto view = std::make_shared<cluster::ClusterView>();
    view->name = "prod";
    view->membership = "static";
    view->buckets = 64;
    for (const std::string name : {"a", "b", "c"}) {
      cluster::MemberView m;
      m.spec.name = name;
      m.advertise = "http://127.0.0.1:" + std::string(name == "a" ? "9001" : "1");
      m.self = name == "a";
      view->members.push_back(m);
    }
    view->bucket_owner.assign(64, owner_of_all);
    view_ = view;
    hosts_ = std::make_shared<std::vector<config::HostSpec>>(
        std::vector<config::HostSpec>{Spec("web01"), Spec("db01"), Spec("app01")});
  }
  std::shared_ptr<const cluster::ClusterView> View() const override { return view_; }
  std::shared_ptr<const std::vector<config::HostSpec>> InventoryHosts() const override {
    return hosts_;
  }

 private:
  std::shared_ptr<const cluster::ClusterView> view_;
  std::shared_ptr<const std::vector<config::HostSpec>> hosts_;
};

struct ClusterHolder {
  FakeCluster cluster{1};  // b owns everything
};

HttpApiOptions WithCluster(const ClusterPort& cluster) {
  HttpApiOptions options;
  options.cluster = &cluster;
  return options;
}

class ClusteredTest : public ClusterHolder, public testing::ApiTest {
 protected:
  ClusteredTest() : ApiTest(WithCluster(cluster)) {}
};

using UnclusteredTest = testing::ApiTest;

json::array Targets(const std::string& body) { return json::parse(body).as_array(); }

TEST_F(UnclusteredTest, SdNamesThisCollectorAsTheRequestReachedIt) {
  HttpRequest request = Request(http::verb::get, "/sd");
  request.set(http::field::host, "collector.example:9732");
  const HttpResponse r = Complete(testing::Await(io_, api_.Handle(std::move(request))));
  ASSERT_EQ(r.result(), http::status::ok);
  for (const auto& group : Targets(r.body())) {
    EXPECT_EQ(group.at("labels").at("__meta_fleetps_collector"), "collector.example:9732");
  }
  HttpRequest hostile = Request(http::verb::get, "/sd");
  hostile.set(http::field::host, "x\"y z");
  const HttpResponse h = Complete(testing::Await(io_, api_.Handle(std::move(hostile))));
  EXPECT_THAT(h.body(), ::testing::Not(HasSubstr("__meta_fleetps_collector")));
}

TEST_F(UnclusteredTest, ClusterParametersNeedACluster) {
  EXPECT_EQ(Get("/sd?collector=a").result(), http::status::bad_request);
  EXPECT_EQ(Get("/sd?view=members").result(), http::status::bad_request);
  EXPECT_EQ(Get("/api/v1/cluster").result(), http::status::not_found);
  EXPECT_EQ(Targets(Get("/sd?shard=0&of=1").body()).size(), 2u);
}

TEST_F(ClusteredTest, SdListsTheWholeInventoryWithOwners) {
  const HttpResponse r = Get("/sd");
  ASSERT_EQ(r.result(), http::status::ok);
  const json::array groups = Targets(r.body());
  ASSERT_EQ(groups.size(), 3u);  // app01 too, though this member does not run it
  for (const auto& group : groups) {
    EXPECT_EQ(group.at("labels").at("__meta_fleetps_collector"), "127.0.0.1:1");
  }
  EXPECT_EQ(Targets(Get("/sd?collector=b").body()).size(), 3u);
  EXPECT_EQ(Targets(Get("/sd?collector=a").body()).size(), 0u);
  const json::array members = Targets(Get("/sd?view=members").body());
  ASSERT_EQ(members.size(), 3u);
  EXPECT_EQ(members[0].at("targets").at(0), "127.0.0.1:9001");
  EXPECT_EQ(members[0].at("labels").at("__meta_fleetps_member"), "a");
}

TEST_F(ClusteredTest, SdShardsPartitionTheHosts) {
  std::size_t total = 0;
  for (int i = 0; i < 3; ++i) {
    for (const auto& group : Targets(Get("/sd?shard=" + std::to_string(i) + "&of=3").body())) {
      const std::string host(group.at("targets").at(0).as_string());
      EXPECT_EQ(cluster::HashMod(host, 3), static_cast<std::uint64_t>(i)) << host;
      ++total;
    }
  }
  EXPECT_EQ(total, 3u);
}

TEST_F(ClusteredTest, SdRejectsBadParameters) {
  const std::pair<std::string, std::string> cases[] = {
      {"/sd?collector=z", "unknown collector \"z\"; members: a, b, c"},
      {"/sd?shard=1", "shard and of go together"},
      {"/sd?shard=2&of=2", "shard takes an integer in 0..1, got \"2\""},
      {"/sd?shard=0&of=0", "of takes an integer in 1..1000000"},
      {"/sd?shard=x&of=2", "shard takes an integer"},
      {"/sd?view=all", "view takes \"members\""},
      {"/sd?view=members&collector=a", "view=members takes no other parameter"},
      {"/sd?colector=a", "colector"},
      {"/sd?of=2&of=3", "of"},
  };
  for (const auto& [target, message] : cases) {
    const HttpResponse r = Get(target);
    EXPECT_EQ(r.result(), http::status::bad_request) << target;
    EXPECT_THAT(r.body(), HasSubstr(message)) << target;
  }
}

TEST_F(ClusteredTest, ForwardedProbeForAHostOwnedElsewhereIsRefused) {
  HttpRequest request = Request(http::verb::get, "/probe?target=app01");
  request.set("X-Fleetps-Forwarded", "1");
  const HttpResponse r = Complete(testing::Await(io_, api_.Handle(std::move(request))));
  EXPECT_EQ(r.result(), http::status::misdirected_request);
  EXPECT_THAT(r.body(), HasSubstr("host app01 is owned by b, not a; a forwarded request is not "
                                  "forwarded again"));
}

TEST_F(ClusteredTest, ProbeToAnOwnerThatDoesNotAnswerIs502) {
  const HttpResponse r = Get("/probe?target=app01");  // b advertises port 1: refused
  EXPECT_EQ(r.result(), http::status::bad_gateway);
  EXPECT_THAT(r.body(), HasSubstr("owner b did not answer"));
  EXPECT_EQ(Get("/probe?target=nosuch").result(), http::status::not_found);
  EXPECT_EQ(Get("/probe?target=web01").result(), http::status::ok);  // in this fleet state
}

TEST_F(ClusteredTest, ClusterJson) {
  const HttpResponse r = Get("/api/v1/cluster?hosts=app01,web01");
  ASSERT_EQ(r.result(), http::status::ok) << r.body();
  const json::object data = json::parse(r.body()).at("data").as_object();
  EXPECT_EQ(data.at("cluster"), "prod");
  EXPECT_EQ(data.at("self"), "a");
  EXPECT_EQ(data.at("hosts"), 3);
  EXPECT_EQ(data.at("orphaned_hosts"), 0);
  const json::array members = data.at("members").as_array();
  ASSERT_EQ(members.size(), 3u);
  EXPECT_EQ(members[1].at("name"), "b");
  EXPECT_EQ(members[1].at("owned_hosts"), 3);
  EXPECT_EQ(members[1].at("owned_buckets"), 64);
  EXPECT_EQ(members[1].at("state"), "participant");
  const json::array owners = data.at("owners").as_array();
  ASSERT_EQ(owners.size(), 2u);
  EXPECT_EQ(owners[0].at("host"), "app01");
  EXPECT_EQ(owners[0].at("owner"), "b");
  EXPECT_EQ(owners[0].at("advertise"), "http://127.0.0.1:1");
  const HttpResponse unknown = Get("/api/v1/cluster?hosts=nosuch");
  EXPECT_EQ(unknown.result(), http::status::not_found);
  EXPECT_THAT(unknown.body(), HasSubstr("unknown host \\\"nosuch\\\""));
}

TEST_F(ClusteredTest, WebUiShowsTheClusterTableEscaped) {
  const HttpResponse r = Get("/");
  ASSERT_EQ(r.result(), http::status::ok);
  EXPECT_THAT(r.body(), HasSubstr("<h2>Cluster prod</h2>"));
  EXPECT_THAT(r.body(), HasSubstr("<td>a (this collector)</td>"));
  EXPECT_THAT(r.body(), HasSubstr("<a href=\"http://127.0.0.1:1\">http://127.0.0.1:1</a>"));
}

}  // namespace
}  // namespace fleetps::collector
