// EtcdCoordinator against real etcd clusters started by the test (tests/support/etcd_cluster):
// the Coordinator conformance suite on a shared 3-member cluster, and what only a real cluster
// shows: failover to another member when the leader dies, failing in time when none answers, a
// dead first endpoint, etcd auth.
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "coordinator_conformance.hpp"
#include "etcd_cluster.hpp"
#include "fleetps/collector/cluster/etcd_coordinator.hpp"

// GCC 12 reports a false -Wmismatched-new-delete on coroutine frames (GCC PR 104578).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace fleetps::test_support {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using collector::cluster::CoordinationOp;
using collector::cluster::CoordinationResult;
using collector::cluster::CoordinatorErrc;
using collector::cluster::EtcdCoordinator;
using collector::cluster::EtcdOptions;
using collector::cluster::Revision;
using collector::cluster::WatchBatch;

std::unique_ptr<EtcdCoordinator> MakeCoordinator(asio::any_io_executor executor,
                                                 EtcdOptions options) {
  auto coordinator = EtcdCoordinator::Create(std::move(executor), std::move(options));
  if (!coordinator) ADD_FAILURE() << coordinator.error();
  return coordinator ? std::move(*coordinator) : nullptr;
}

std::unique_ptr<EtcdCoordinator> MakeCoordinator(asio::any_io_executor executor,
                                                 std::vector<std::string> endpoints,
                                                 std::chrono::milliseconds timeout = 2s) {
  EtcdOptions options;
  options.endpoints = std::move(endpoints);
  options.request_timeout = timeout;
  return MakeCoordinator(std::move(executor), std::move(options));
}

// One cluster for the whole conformance suite (each test has its own prefix).
EtcdCluster& SharedCluster() {
  static EtcdCluster cluster(3);
  return cluster;
}

class EtcdBackend final : public ConformanceBackend {
 public:
  std::unique_ptr<collector::cluster::Coordinator> Make(asio::any_io_executor executor) override {
    return MakeCoordinator(std::move(executor), SharedCluster().Endpoints());
  }
  asio::awaitable<void> Elapse(std::chrono::milliseconds duration) override {
    co_await SleepFor(duration);
  }
  asio::awaitable<boost::system::error_code> Compact(Revision revision) override {
    std::string body = R"({"physical":true,"revision":")";
    body += std::to_string(revision);
    body += "\"}";
    auto answer = SharedCluster().Post(0, "/v3/kv/compaction", body);
    co_return answer && answer->find("error") == std::string::npos
        ? boost::system::error_code{}
        : make_error_code(CoordinatorErrc::kRejected);
  }
};

INSTANTIATE_TEST_SUITE_P(Etcd, CoordinatorConformance,
                         ::testing::Values(ConformanceBackendFactory([] {
                           return std::make_unique<EtcdBackend>();
                         })));

// Runs `body` on a fresh io_context, bounded.
template <class Body>
void RunCoroutine(Body body, std::chrono::seconds bound = 20s) {
  asio::io_context io;
  RunBounded(io, body(io.get_executor()), bound);
}

TEST(EtcdCoordinatorOptions, RefusesWhatItCannotUse) {
  asio::io_context io;
  const auto error = [&](std::vector<std::string> endpoints) {
    EtcdOptions options;
    options.endpoints = std::move(endpoints);
    auto made = EtcdCoordinator::Create(io.get_executor(), options);
    return made ? std::string() : made.error();
  };
  EXPECT_EQ(error({}), "etcd: no endpoints");
  EXPECT_NE(error({"https://127.0.0.1:2379"}).find("TLS to etcd is not supported yet"),
            std::string::npos);
  EXPECT_NE(error({"http://127.0.0.1:2379", "127.0.0.1"}).find("got \"127.0.0.1\""),
            std::string::npos);
  EXPECT_NE(error({"http://127.0.0.1:2379/v3"}).find("http://HOST:PORT"), std::string::npos);
  EXPECT_EQ(error({"http://127.0.0.1:2379", "127.0.0.2:2379", "http://[::1]:2379"}), "");
}

TEST(EtcdCoordinator, ADeadFirstEndpointIsSkipped) {
  auto endpoints = SharedCluster().Endpoints();
  endpoints.insert(endpoints.begin(), "http://127.0.0.1:" + std::to_string(FreeLoopbackPort()));
  RunCoroutine([&](asio::any_io_executor executor) -> asio::awaitable<void> {
    auto etcd = MakeCoordinator(executor, endpoints);
    if (!etcd) co_return;
    auto put = co_await etcd->Put("/fleetps-etcd-test/dead-first", "v", 0);
    EXPECT_TRUE(put.has_value()) << etcd->LastError();
    auto range = co_await etcd->Range("/fleetps-etcd-test/dead-first");
    EXPECT_TRUE(range.has_value() && range->kvs.size() == 1u);
    EXPECT_EQ(etcd->Counters().Count(CoordinationOp::kPut, CoordinationResult::kOk), 1u);
    EXPECT_EQ(etcd->Counters().Count(CoordinationOp::kRange, CoordinationResult::kOk), 1u);
  });
}

TEST(EtcdCoordinator, LeaseSurvivesTheLeadersDeathThroughAnotherEndpoint) {
  EtcdCluster cluster(3);
  const auto leader = cluster.WaitForLeader(5s);
  ASSERT_TRUE(leader.has_value());
  // The leader first: the client is on it when it dies and must move on.
  auto endpoints = cluster.Endpoints();
  std::swap(endpoints[0], endpoints[*leader]);
  RunCoroutine([&](asio::any_io_executor executor) -> asio::awaitable<void> {
    auto etcd = MakeCoordinator(executor, endpoints);
    if (!etcd) co_return;
    auto lease = co_await etcd->GrantLease(10s);  // TTL ≫ election (1 s)
    if (!lease) {
      ADD_FAILURE() << etcd->LastError();
      co_return;
    }
    EXPECT_TRUE((co_await etcd->Put("/fleetps-etcd-test/member", "m", lease->first)).has_value());
    EXPECT_TRUE((co_await etcd->KeepAlive(lease->first)).has_value());
    // A watch on the leader (the endpoint that answered last) ends when it dies.
    std::optional<boost::system::error_code> watch_end;
    asio::co_spawn(
        executor, etcd->Watch("/fleetps-etcd-test/", 0, [](const WatchBatch&) {}),
        [&watch_end](std::exception_ptr, boost::system::error_code ec) { watch_end = ec; });
    co_await SleepFor(200ms);
    EXPECT_FALSE(watch_end.has_value());
    cluster.Kill(*leader);
    // Keepalives every 500 ms, as a member would (faster than TTL/3): the first after the kill
    // may need the election; one must succeed well within the TTL.
    bool renewed = false;
    for (int i = 0; i < 12 && !renewed; ++i) {
      auto ttl = co_await etcd->KeepAlive(lease->first);
      renewed = ttl.has_value() && *ttl > 5s;
      if (!renewed) co_await SleepFor(500ms);
    }
    EXPECT_TRUE(renewed) << etcd->LastError();
    EXPECT_EQ(watch_end.value_or(boost::system::error_code{}), CoordinatorErrc::kUnavailable);
    auto range = co_await etcd->Range("/fleetps-etcd-test/member");
    EXPECT_TRUE(range.has_value() && range->kvs.size() == 1u && range->kvs[0].lease == lease->first)
        << etcd->LastError();
  });
}

TEST(EtcdCoordinator, NoMemberAnsweringFailsWithUnavailableWithinTheRequestTimeout) {
  EtcdCluster cluster(3);
  RunCoroutine([&](asio::any_io_executor executor) -> asio::awaitable<void> {
    constexpr auto kTimeout = 1000ms;
    auto etcd = MakeCoordinator(executor, cluster.Endpoints(), kTimeout);
    if (!etcd) co_return;
    EXPECT_TRUE((co_await etcd->Put("/fleetps-etcd-test/k", "v", 0)).has_value());
    // Frozen members: connections are accepted, nothing answers.
    for (std::size_t i = 0; i < cluster.Size(); ++i) cluster.Stop(i);
    auto start = std::chrono::steady_clock::now();
    auto grant = co_await etcd->GrantLease(10s);
    auto took = std::chrono::steady_clock::now() - start;
    EXPECT_EQ(grant.error(), CoordinatorErrc::kUnavailable);
    EXPECT_LT(took, kTimeout + 500ms);
    EXPECT_NE(etcd->LastError().find("no etcd endpoint answered"), std::string::npos)
        << etcd->LastError();
    // Dead members: connections are refused; still kUnavailable, still in time. (Not Range:
    // a full read has a longer deadline of its own, max(4 x request_timeout, 8 s).)
    cluster.StopAll();
    start = std::chrono::steady_clock::now();
    auto put = co_await etcd->Put("/fleetps-etcd-test/k", "w", 0);
    took = std::chrono::steady_clock::now() - start;
    EXPECT_EQ(put.error(), CoordinatorErrc::kUnavailable);
    EXPECT_LT(took, kTimeout + 500ms);
    EXPECT_EQ(etcd->Counters().Count(CoordinationOp::kGrant, CoordinationResult::kUnavailable), 1u);
  });
}

TEST(EtcdCoordinator, AuthenticatesWithATokenAndRejectsABadPassword) {
  EtcdCluster cluster(1);
  for (const char* step :
       {"/v3/auth/user/add|{\"name\":\"root\",\"password\":\"s3cret-pw\"}",
        "/v3/auth/role/add|{\"name\":\"root\"}",
        "/v3/auth/user/grant|{\"user\":\"root\",\"role\":\"root\"}", "/v3/auth/enable|{}"}) {
    const std::string text(step);
    const auto bar = text.find('|');
    auto answer = cluster.Post(0, text.substr(0, bar), text.substr(bar + 1));
    ASSERT_TRUE(answer && answer->find("error") == std::string::npos)
        << text << ": " << answer.value_or("no answer");
  }
  RunCoroutine([&](asio::any_io_executor executor) -> asio::awaitable<void> {
    EtcdOptions options;
    options.endpoints = cluster.Endpoints();
    options.username = "root";
    options.password = "wrong-pw";
    auto wrong = MakeCoordinator(executor, options);
    if (!wrong) co_return;
    auto denied = co_await wrong->Put("/fleetps-etcd-test/k", "v", 0);
    EXPECT_EQ(denied.error(), CoordinatorErrc::kRejected);
    EXPECT_NE(wrong->LastError().find("authenticate as root"), std::string::npos)
        << wrong->LastError();
    EXPECT_EQ(wrong->LastError().find("wrong-pw"), std::string::npos);

    options.password = "s3cret-pw";
    auto right = MakeCoordinator(executor, options);
    if (!right) co_return;
    auto put = co_await right->Put("/fleetps-etcd-test/k", "v", 0);
    EXPECT_TRUE(put.has_value()) << right->LastError();
    auto range = co_await right->Range("/fleetps-etcd-test/");
    EXPECT_TRUE(range.has_value() && range->kvs.size() == 1u) << right->LastError();

    // etcd forgets every token when auth is switched off and on: the coordinator's next call
    // meets "invalid auth token", authenticates again and goes through.
    const auto root_token = [&cluster]() -> std::string {
      auto answer =
          cluster.Post(0, "/v3/auth/authenticate", R"({"name":"root","password":"s3cret-pw"})");
      boost::system::error_code ec;
      auto value = boost::json::parse(answer.value_or(""), ec);
      if (ec || !value.is_object() || !value.as_object().contains("token")) return {};
      return std::string(value.as_object().at("token").as_string());
    };
    const std::string old_token = root_token();
    EXPECT_FALSE(old_token.empty());
    EXPECT_TRUE(cluster.Post(0, "/v3/auth/disable", "{}", old_token).has_value());
    EXPECT_TRUE(cluster.Post(0, "/v3/auth/enable", "{}").has_value());
    EXPECT_NE(cluster.Post(0, "/v3/kv/range", R"({"key":"YQ=="})", old_token)
                  .value_or("")
                  .find("invalid auth token"),
              std::string::npos);
    auto after_reset = co_await right->Put("/fleetps-etcd-test/k", "v2", 0);
    EXPECT_TRUE(after_reset.has_value()) << right->LastError();

    // Without credentials etcd refuses: kRejected, not a retry loop.
    auto anonymous = MakeCoordinator(executor, cluster.Endpoints());
    if (!anonymous) co_return;
    auto refused = co_await anonymous->Range("/fleetps-etcd-test/");
    EXPECT_EQ(refused.error(), CoordinatorErrc::kRejected) << anonymous->LastError();
  });
}

}  // namespace
}  // namespace fleetps::test_support
