// Admission of API work: the fresh=1 token buckets (per client, collector-wide, refill, expiry,
// Retry-After) on a clock the test sets, and the 429 and 503 answers through the API handlers.
#include "fleetps/collector/api/admission.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <future>
#include <thread>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json.hpp>

#include "api_fakes.hpp"
#include "fleetps/collector/api/http_api.hpp"

namespace fleetps::collector {
namespace {

using testing::Await;
using ::testing::HasSubstr;
using testing::Request;
namespace asio = boost::asio;
namespace http = boost::beast::http;
namespace json = boost::json;
using namespace std::chrono_literals;
using Clock = FreshLimiter::Clock;

const asio::ip::address kA = asio::ip::make_address("127.0.0.2");
const asio::ip::address kB = asio::ip::make_address("127.0.0.3");
const Clock::time_point kStart = Clock::time_point{} + 1h;

FreshLimits Limits(FreshRate per_client, FreshRate total, std::size_t max_clients = 100) {
  return FreshLimits{per_client, total, max_clients};
}

TEST(FreshLimiterTest, EachClientHasItsOwnBudgetInHosts) {
  FreshLimiter limiter(Limits({1, 10}, {1000, 1000}));
  EXPECT_FALSE(limiter.Admit(kA, 4, kStart));
  EXPECT_FALSE(limiter.Admit(kA, 4, kStart));
  const auto refused = limiter.Admit(kA, 4, kStart);  // 2 left, 4 needed, 1 per second
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->scope, FreshScope::kClient);
  EXPECT_EQ(refused->retry_after, 2s);
  EXPECT_EQ(refused->needed, 4);
  EXPECT_FALSE(limiter.Admit(kB, 10, kStart)) << "another client is not held back";
  EXPECT_FALSE(limiter.Admit(kA, 2, kStart)) << "a refusal charges nothing";
  EXPECT_EQ(limiter.Refused(FreshScope::kClient), 1u);
  EXPECT_EQ(limiter.Refused(FreshScope::kCollector), 0u);
}

TEST(FreshLimiterTest, TheCollectorWideBudgetHoldsBackEveryClient) {
  FreshLimiter limiter(Limits({1000, 1000}, {2, 10}));
  EXPECT_FALSE(limiter.Admit(kA, 6, kStart));
  const auto refused = limiter.Admit(kB, 6, kStart);  // 4 left, 6 needed, 2 per second
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->scope, FreshScope::kCollector);
  EXPECT_EQ(refused->retry_after, 1s);
  EXPECT_EQ(refused->burst, 10);
  EXPECT_TRUE(limiter.Admit(kB, 6, kStart + 999ms));
  EXPECT_FALSE(limiter.Admit(kB, 6, kStart + 1s));
  EXPECT_EQ(limiter.Refused(FreshScope::kCollector), 2u);
}

TEST(FreshLimiterTest, BudgetsRefillAtTheirRateUpToTheBurst) {
  FreshLimiter limiter(Limits({2, 4}, {1000, 1000}));
  EXPECT_FALSE(limiter.Admit(kA, 4, kStart));
  EXPECT_TRUE(limiter.Admit(kA, 1, kStart + 400ms));  // 0.8 tokens
  EXPECT_FALSE(limiter.Admit(kA, 1, kStart + 500ms));
  // An hour idle refills to the burst, not beyond: 4 pass, the fifth does not.
  EXPECT_FALSE(limiter.Admit(kA, 4, kStart + 1h));
  EXPECT_TRUE(limiter.Admit(kA, 1, kStart + 1h));
}

TEST(FreshLimiterTest, RetryAfterIsRoundedUpToWholeSecondsAndAtLeastOne) {
  FreshLimiter limiter(Limits({3, 6}, {1000, 1000}));
  EXPECT_FALSE(limiter.Admit(kA, 6, kStart));
  auto refused = limiter.Admit(kA, 4, kStart);  // 4 missing at 3/s: 1.33 s
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->retry_after, 2s);
  refused = limiter.Admit(kA, 1, kStart + 300ms);  // 0.1 missing: 0.03 s
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->retry_after, 1s);
}

TEST(FreshLimiterTest, AQueryOverMoreHostsThanTheBurstRunsWhenFullAndLeavesADebt) {
  FreshLimiter limiter(Limits({10, 100}, {1000, 10'000}));
  EXPECT_FALSE(limiter.Admit(kA, 500, kStart)) << "needs the full burst, not 500";
  const auto refused = limiter.Admit(kA, 1, kStart);  // -400 now: 401 missing at 10/s
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->retry_after, 41s);
  EXPECT_FALSE(limiter.Admit(kA, 1, kStart + 41s));
}

TEST(FreshLimiterTest, RefilledClientsExpireAndTheTableIsBounded) {
  FreshLimiter limiter(Limits({1, 2}, {1000, 1000}, 2));
  EXPECT_FALSE(limiter.Admit(kA, 2, kStart));
  EXPECT_FALSE(limiter.Admit(kB, 1, kStart));
  EXPECT_EQ(limiter.TrackedClients(), 2u);
  const auto c = asio::ip::make_address("127.0.0.4");
  const auto full = limiter.Admit(c, 1, kStart);
  ASSERT_TRUE(full) << "a third client does not fit while both entries are refilling";
  EXPECT_EQ(full->scope, FreshScope::kCollector);
  EXPECT_EQ(full->retry_after, 1s);  // B's entry is full again in 1 s
  // B's bucket is full after 1 s (A's after 2 s): B's entry goes, C gets its place.
  EXPECT_FALSE(limiter.Admit(c, 1, kStart + 1s));
  EXPECT_EQ(limiter.TrackedClients(), 2u);
  // Once every bucket has refilled, the periodic sweep empties the table.
  EXPECT_FALSE(limiter.Admit(kA, 0, kStart + 10s));
  EXPECT_EQ(limiter.TrackedClients(), 0u);
}

TEST(FreshLimiterTest, IPv6ClientsAreTrackedPerSlash64) {
  EXPECT_EQ(FreshLimiter::ClientKey(asio::ip::make_address("2001:db8:1:2:aaaa::1")),
            asio::ip::make_address("2001:db8:1:2::"));
  EXPECT_EQ(FreshLimiter::ClientKey(asio::ip::make_address("::ffff:127.0.0.2")), kA);
  EXPECT_EQ(FreshLimiter::ClientKey(kA), kA);
  FreshLimiter limiter(Limits({1, 2}, {1000, 1000}));
  EXPECT_FALSE(limiter.Admit(asio::ip::make_address("2001:db8::1"), 2, kStart));
  EXPECT_TRUE(limiter.Admit(asio::ip::make_address("2001:db8::2"), 1, kStart));
  EXPECT_FALSE(limiter.Admit(asio::ip::make_address("2001:db8:0:1::1"), 1, kStart));
}

// The API with two hosts (web01 with a running fake agent, db01 without) and tiny budgets.
class AdmissionApiTest : public testing::ApiTest {
 protected:
  static HttpApiOptions Options() {
    HttpApiOptions options;
    options.adhoc = AdhocLimits{100ms, 60s};
    // One host probe per client, refilling in 100 s; two over all clients.
    options.fresh = Limits({0.01, 1}, {0.01, 2});
    return options;
  }
  AdmissionApiTest() : ApiTest(Options()) {
    web_ = std::make_shared<testing::FakeAgent>(io_);
    fleet_.agents["web01"] = web_;
  }
  HttpResponse GetFrom(const asio::ip::address& client, std::string_view target) {
    return Await(io_, api_.Handle(Request(http::verb::get, target), HttpPeer{client, 40000}))
        .response;
  }
  static void ExpectRefusal(const HttpResponse& r, http::status status, std::string_view says) {
    EXPECT_EQ(r.result(), status) << r.body();
    EXPECT_EQ(r[http::field::content_type], "application/json");
    const json::object doc = json::parse(r.body()).as_object();
    EXPECT_EQ(doc.at("status"), "error");
    EXPECT_THAT(std::string(doc.at("error").at("message").as_string()), HasSubstr(says));
  }
  std::shared_ptr<testing::FakeAgent> web_;
};

constexpr std::string_view kFresh = "/api/v1/processes?fresh=1";

TEST_F(AdmissionApiTest, FreshBeyondTheBudgetIs429WithRetryAfterBeforeAnyAgentRuns) {
  EXPECT_EQ(GetFrom(kA, kFresh).result(), http::status::ok);
  EXPECT_EQ(web_->calls, 1);

  const HttpResponse limited = GetFrom(kA, kFresh);
  ExpectRefusal(limited, http::status::too_many_requests, "this client's budget");
  // 1 host probe missing at 0.01/s: 100 s, 99 if the first answer took over a second.
  const int retry_after = std::stoi(std::string(limited[http::field::retry_after]));
  EXPECT_GE(retry_after, 99);
  EXPECT_LE(retry_after, 100);
  const HttpResponse open_files =
      GetFrom(kA, "/api/v1/hosts/web01/processes/42/open-files");  // costs one too
  ExpectRefusal(open_files, http::status::too_many_requests, "this client's budget");
  EXPECT_EQ(web_->calls, 1) << "refused before the agent was asked";

  EXPECT_EQ(GetFrom(kA, "/api/v1/processes").result(), http::status::ok) << "snapshots are free";
  EXPECT_EQ(GetFrom(kB, kFresh).result(), http::status::ok) << "the other client is served";
  EXPECT_EQ(web_->calls, 2);

  // Both host probes of the collector-wide budget are spent: a third client is refused too.
  const HttpResponse collector = GetFrom(asio::ip::make_address("127.0.0.4"), kFresh);
  ExpectRefusal(collector, http::status::too_many_requests, "the collector-wide budget");
  EXPECT_FALSE(collector[http::field::retry_after].empty());
  EXPECT_EQ(web_->calls, 2);

  const ApiRefusals refusals = api_.Refusals();
  EXPECT_EQ(refusals.rate_limited_client, 2u);
  EXPECT_EQ(refusals.rate_limited_collector, 1u);
  EXPECT_EQ(refusals.overloaded, 0u);
}

TEST_F(AdmissionApiTest, BadParametersAre400EvenWithoutBudget) {
  EXPECT_EQ(GetFrom(kA, kFresh).result(), http::status::ok);
  EXPECT_EQ(GetFrom(kA, "/api/v1/processes?fresh=1&q=%7Brsz%3E1%7D").result(),
            http::status::bad_request);
}

TEST(ApiWorkersTest, RunsHandlersOffTheCallersThreadAndRefusesBeyondMaxPending) {
  ApiWorkers workers(ApiWorkOptions{1, 1, 10});
  asio::io_context io;
  const HttpRequest http_request = Request(http::verb::get, "/api/v1/hosts");
  const ApiRequest request{http_request, "/api/v1/hosts", "", {}};

  // The first request waits on a timer of the worker's until the test cancels it.
  std::promise<asio::steady_timer*> parked;
  std::thread::id handler_thread;
  const RouteHandler waits = [&](const ApiRequest& r) -> asio::awaitable<HttpAnswer> {
    handler_thread = std::this_thread::get_id();
    asio::steady_timer timer(co_await asio::this_coro::executor, 1h);
    parked.set_value(&timer);
    (void)co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    co_return MakeResponse(r.http, http::status::ok, "first\n");
  };
  const RouteHandler answers = [](const ApiRequest& r) -> asio::awaitable<HttpAnswer> {
    co_return MakeResponse(r.http, http::status::ok, "second\n");
  };
  std::future<HttpAnswer> first = asio::co_spawn(io, workers.Run(request, waits), asio::use_future);
  std::future<asio::steady_timer*> timer = parked.get_future();
  while (timer.wait_for(0s) != std::future_status::ready) {
    io.run_one_for(10ms);
    io.restart();
  }
  EXPECT_EQ(workers.Pending(), 1u);
  EXPECT_NE(handler_thread, std::this_thread::get_id());

  const HttpResponse busy = Await(io, workers.Run(request, answers)).response;
  EXPECT_EQ(busy.result(), http::status::service_unavailable);
  EXPECT_EQ(busy[http::field::retry_after], "1");
  EXPECT_THAT(busy.body(), HasSubstr("API busy: 1 requests in progress"));
  EXPECT_EQ(workers.Refused(), 1u);

  asio::steady_timer* const parked_timer = timer.get();
  asio::post(parked_timer->get_executor(), [parked_timer] { parked_timer->cancel(); });
  while (first.wait_for(0s) != std::future_status::ready) {
    io.run_one_for(10ms);
    io.restart();
  }
  EXPECT_EQ(first.get().response.body(), "first\n");
  EXPECT_EQ(workers.Pending(), 0u);
  EXPECT_EQ(Await(io, workers.Run(request, answers)).response.body(), "second\n");
}

}  // namespace
}  // namespace fleetps::collector
