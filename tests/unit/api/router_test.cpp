#include "fleetps/collector/api/router.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "api_fakes.hpp"
#include "fleetps/collector/api/http_api.hpp"

namespace fleetps::collector {
namespace {

using testing::Await;
using testing::Request;
namespace asio = boost::asio;
namespace http = boost::beast::http;

// What a handler saw, answered back as its body: "name path query".
RouteHandler Echo(std::string name) {
  return [name](const ApiRequest& request) -> asio::awaitable<HttpAnswer> {
    co_return MakeResponse(request.http, http::status::ok,
                           name + " " + request.path + " " + std::string(request.encoded_query));
  };
}

class RouterTest : public ::testing::Test {
 protected:
  RouterTest() {
    router_.Add("/metrics", RouteMethods::kGet, Echo("metrics"));
    router_.Add("/-/healthy", RouteMethods::kAny, Echo("healthy"));
    router_.Add("/-/reload", RouteMethods::kPost, Echo("reload"));
    router_.AddPattern(
        "/api/v1/hosts/{host}/processes/{pid}/open-files",
        [](std::string_view path) { return path.starts_with("/api/v1/hosts/"); },
        RouteMethods::kGet, Echo("open-files"));
    router_.Add("/api/v1/hosts", RouteMethods::kGet, Echo("hosts"));
  }

  HttpResponse Route(http::verb method, std::string_view target) {
    return Await(io_, router_.Route(Request(method, target))).response;
  }

  asio::io_context io_;
  Router router_;
};

TEST_F(RouterTest, ExactPathsReachTheirHandlerWithPathAndQuery) {
  HttpResponse r = Route(http::verb::get, "/metrics");
  EXPECT_EQ(r.result(), http::status::ok);
  EXPECT_EQ(r.body(), "metrics /metrics ");
  r = Route(http::verb::get, "/api/v1/hosts?x=1&y=%2F");
  EXPECT_EQ(r.body(), "hosts /api/v1/hosts x=1&y=%2F");  // the query stays encoded
}

TEST_F(RouterTest, ExactBeatsPatternAndPatternTakesTheRest) {
  EXPECT_EQ(Route(http::verb::get, "/api/v1/hosts").body(), "hosts /api/v1/hosts ");
  EXPECT_EQ(Route(http::verb::get, "/api/v1/hosts/web%2001/processes/7/open-files?a").body(),
            "open-files /api/v1/hosts/web 01/processes/7/open-files a");  // the path is decoded
}

TEST_F(RouterTest, UnknownPathIs404WithTheUsualBody) {
  for (std::string_view target : {"/nope", "/metrics/", "/METRICS", "/api/v1", "/metrics%00"}) {
    const HttpResponse r = Route(http::verb::get, target);
    EXPECT_EQ(r.result(), http::status::not_found) << target;
    EXPECT_EQ(r.body(), "not found\n") << target;
    EXPECT_EQ(r[http::field::content_type], "text/plain; charset=utf-8") << target;
    EXPECT_EQ(r[http::field::allow], "") << target;
  }
}

TEST_F(RouterTest, WrongMethodIs405WithAllow) {
  HttpResponse r = Route(http::verb::post, "/metrics");
  EXPECT_EQ(r.result(), http::status::method_not_allowed);
  EXPECT_EQ(r.body(), "method not allowed\n");
  EXPECT_EQ(r[http::field::allow], "GET");
  r = Route(http::verb::get, "/-/reload");
  EXPECT_EQ(r.result(), http::status::method_not_allowed);
  EXPECT_EQ(r[http::field::allow], "POST");
  r = Route(http::verb::delete_, "/api/v1/hosts/a/processes/1/open-files");
  EXPECT_EQ(r.result(), http::status::method_not_allowed);
  EXPECT_EQ(r[http::field::allow], "GET");
}

TEST_F(RouterTest, HeadCountsAsGetAndAnyTakesEveryMethod) {
  EXPECT_EQ(Route(http::verb::head, "/metrics").result(), http::status::ok);
  EXPECT_EQ(Route(http::verb::post, "/-/reload").result(), http::status::ok);
  for (http::verb v : {http::verb::get, http::verb::post, http::verb::delete_, http::verb::put}) {
    EXPECT_EQ(Route(v, "/-/healthy").result(), http::status::ok);
  }
}

TEST_F(RouterTest, MalformedTargetIs400BeforeAnyRoute) {
  for (std::string_view target : {"metrics", "http://host/metrics", "*", "/a b", "/%zz"}) {
    const HttpResponse r = Route(http::verb::get, target);
    EXPECT_EQ(r.result(), http::status::bad_request) << target;
    EXPECT_EQ(r.body(), "malformed request target\n") << target;
  }
}

TEST_F(RouterTest, LongTargetsAreRoutedLikeAnyOther) {
  const std::string long_path = "/" + std::string(20000, 'a');
  EXPECT_EQ(Route(http::verb::get, long_path).result(), http::status::not_found);
  const std::string long_query = "/metrics?q=" + std::string(20000, 'b');
  const HttpResponse r = Route(http::verb::get, long_query);
  EXPECT_EQ(r.result(), http::status::ok);
  EXPECT_EQ(r.body().size(), std::string("metrics /metrics ").size() + 20002);
}

TEST_F(RouterTest, AnswersKeepTheRequestsVersionAndKeepAlive) {
  HttpRequest request = Request(http::verb::get, "/nope");
  request.version(10);
  request.keep_alive(false);
  const HttpResponse r = Await(io_, router_.Route(std::move(request))).response;
  EXPECT_EQ(r.version(), 10u);
  EXPECT_FALSE(r.keep_alive());
  EXPECT_EQ(r[http::field::server], "fleetps");
}

TEST(ApiRequestTest, ParamDecodesTheFirstValue) {
  const HttpRequest http_request = Request(http::verb::get, "/probe?target=web%2001&target=x&e=");
  const ApiRequest request{http_request, "/probe", "target=web%2001&target=x&e=", {}};
  EXPECT_EQ(request.Param("target"), "web 01");
  EXPECT_EQ(request.Param("e"), "");
  EXPECT_EQ(request.Param("missing"), std::nullopt);
}

TEST(SegmentAfterTest, TakesOneNonEmptySegment) {
  EXPECT_EQ(SegmentAfter("/hosts/web01", "/hosts/"), "web01");
  EXPECT_EQ(SegmentAfter("/hosts/web 01", "/hosts/"), "web 01");  // paths arrive decoded
  EXPECT_EQ(SegmentAfter("/hosts/", "/hosts/"), std::nullopt);
  EXPECT_EQ(SegmentAfter("/hosts/web01/x", "/hosts/"), std::nullopt);
  EXPECT_EQ(SegmentAfter("/api/v1/hosts/web01", "/hosts/"), std::nullopt);
}

TEST(HttpApiRoutesTest, ServesEveryEndpointOfTheContract) {
  testing::FakeFleet fleet;
  FleetBus bus;
  const HttpApi api(fleet, fleet, bus);
  EXPECT_EQ(
      api.Routes().Patterns(),
      (std::vector<std::string>{"/", "/-/healthy", "/-/ready", "/-/reload", "/api/v1/cluster",
                                "/api/v1/cluster/drain", "/api/v1/cluster/failsafe",
                                "/api/v1/events", "/api/v1/hosts", "/api/v1/listening",
                                "/api/v1/processes", "/index.html", "/metrics", "/probe", "/query",
                                "/sd", "/api/v1/hosts/{host}/processes/{pid}/open-files",
                                "/api/v1/hosts/{host}", "/hosts/{host}"}));
}

// The open-files route is MatchOpenFilesPath's shape, bad segments included (400, not 404).
TEST(HttpApiRoutesTest, OpenFilesPatternMatchesItsShapeOnly) {
  testing::FakeFleet fleet;
  FleetBus bus;
  const HttpApi api(fleet, fleet, bus);
  asio::io_context io;
  auto route = [&](std::string_view target) {
    return Await(io, api.Handle(Request(http::verb::get, target))).response;
  };
  EXPECT_EQ(route("/api/v1/hosts/web01/processes/1/2/open-files").result(),
            http::status::not_found);
  EXPECT_EQ(route("/api/v1/hosts/web01/processes/12").result(), http::status::not_found);
  EXPECT_EQ(route("/api/v1/hosts/open-files").result(), http::status::not_found);
  const HttpResponse bad_pid = route("/api/v1/hosts/web01/processes/12x/open-files");
  EXPECT_EQ(bad_pid.result(), http::status::bad_request);
  EXPECT_EQ(bad_pid[http::field::content_type], "application/json");
  EXPECT_EQ(bad_pid.body(),
            "{\"status\":\"error\",\"error\":{\"message\":\"pid: 1:3: a pid is a positive decimal "
            "integer: digits only\",\"parameter\":\"pid\",\"position\":2}}");
  EXPECT_EQ(route("/api/v1/hosts//processes/1/open-files").result(), http::status::bad_request);
  EXPECT_EQ(route("/api/v1/hosts/a%2Fb/processes/1/open-files").result(),
            http::status::bad_request);
  const HttpAnswer post = Await(
      io, api.Handle(Request(http::verb::post, "/api/v1/hosts/web01/processes/12x/open-files")));
  EXPECT_EQ(post.response.result(), http::status::method_not_allowed);  // method before segments
}

}  // namespace
}  // namespace fleetps::collector
