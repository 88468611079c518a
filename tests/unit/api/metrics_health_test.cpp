// MetricsHandlers, HealthHandlers and the web UI through the route table, with a fake
// fleet: exact status codes, headers and bodies.
#include <sstream>
#include <string>

#include <boost/beast/http/write.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "api_fakes.hpp"
#include "fleetps/collector/api/http_api.hpp"
#include "fleetps/collector/exposition/exposition.hpp"

namespace fleetps::collector {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::Request;
using testing::Row;
using testing::Spec;
using testing::Status;
namespace http = boost::beast::http;

using FleetEndpointsTest = testing::ApiTest;

TEST_F(FleetEndpointsTest, MetricsRendersEveryHostAndTimesItself) {
  const HttpResponse first = Get("/metrics");
  EXPECT_EQ(first.result(), http::status::ok);
  EXPECT_EQ(first[http::field::content_type], "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(first[http::field::vary], "Accept-Encoding");
  EXPECT_EQ(first[http::field::content_encoding], "");
  EXPECT_THAT(first.body(), HasSubstr("fleetps_up{host=\"web01\"} 1\n"));
  EXPECT_THAT(first.body(), HasSubstr("fleetps_up{host=\"db01\"} 0\n"));
  EXPECT_THAT(first.body(),
              HasSubstr("namedprocess_namegroup_num_procs{host=\"web01\",groupname=\"db\"} 1\n"));
  // The first scrape has no previous render time; the second reports the first's.
  EXPECT_THAT(first.body(), Not(HasSubstr("\nfleetps_scrape_duration_seconds ")));
  EXPECT_THAT(Get("/metrics").body(), HasSubstr("\nfleetps_scrape_duration_seconds "));
}

TEST_F(FleetEndpointsTest, MetricsIsGzippedWhenTheScraperAcceptsIt) {
  HttpRequest request = Request(http::verb::get, "/metrics");
  request.set(http::field::accept_encoding, "deflate, gzip;q=0.5");
  const HttpResponse r = Complete(testing::Await(io_, api_.Handle(std::move(request))));
  EXPECT_EQ(r.result(), http::status::ok);
  EXPECT_EQ(r[http::field::content_encoding], "gzip");
  EXPECT_EQ(r[http::field::vary], "Accept-Encoding");
  ASSERT_GE(r.body().size(), 2u);
  EXPECT_EQ(r.body().substr(0, 2), "\x1f\x8b");
}

TEST_F(FleetEndpointsTest, ProbeAnswersOneHostWithoutTheHostLabel) {
  const HttpResponse r = Get("/probe?target=web01");
  EXPECT_EQ(r.result(), http::status::ok);
  EXPECT_EQ(r[http::field::content_type], "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_THAT(r.body(), HasSubstr("fleetps_up 1\n"));
  EXPECT_THAT(r.body(), Not(HasSubstr("host=")));
}

// Prometheus shows only the status line of a failed scrape, so the reason must be in it.
std::string StatusLine(const HttpResponse& response) {
  std::ostringstream wire;
  wire << response;
  const std::string text = wire.str();
  return text.substr(0, text.find("\r\n"));
}

void ExpectDown(const HttpResponse& r, std::string_view why) {
  EXPECT_EQ(r.result(), http::status::service_unavailable) << why;
  EXPECT_EQ(r[http::field::content_type], "text/plain; charset=utf-8") << why;
  EXPECT_EQ(r.body(), std::string(why) + "\n");
  EXPECT_EQ(StatusLine(r), "HTTP/1.1 503 " + std::string(why));
}

TEST_F(FleetEndpointsTest, ProbeOfAHostThatIsDownIs503WithTheReason) {
  ExpectDown(Get("/probe?target=db01"), "host db01 is down: connect_refused");

  fleet_.state.OnStatus(
      Status("db01", agent::HostState::kCircuitOpen, agent::Errc::kHostkeyMismatch));
  ExpectDown(Get("/probe?target=db01"), "host db01 is down: hostkey_mismatch");

  // A ready session is not enough: it needs a probe, and the last one must have succeeded.
  fleet_.state.OnStatus(Status("db01", agent::HostState::kReady));
  ExpectDown(Get("/probe?target=db01"), "host db01 is down: no probe yet");
  agent::ProbeResult garbled = testing::Probe("db01", {});
  garbled.status = agent::ProbeStatus::kParseError;
  garbled.snapshot = nullptr;
  fleet_.state.OnResult(garbled);
  ExpectDown(Get("/probe?target=db01"), "host db01 is down: parse_error");
  fleet_.state.OnResult(testing::Probe("db01", {Row(9, "oracle")}));
  EXPECT_EQ(Get("/probe?target=db01").result(), http::status::ok);

  fleet_.self.quarantined_hosts = {"web01"};  // even with a good last probe
  ExpectDown(Get("/probe?target=web01"), "host web01 is down: quarantined");

  fleet_.state.SetHosts({Spec("new01")});
  ExpectDown(Get("/probe?target=new01"), "host new01 is down: connecting");
}

TEST_F(FleetEndpointsTest, ProbeWithoutOrWithAnUnknownTargetSaysSo) {
  for (std::string_view target : {"/probe", "/probe?target=", "/probe?other=web01"}) {
    const HttpResponse r = Get(target);
    EXPECT_EQ(r.result(), http::status::bad_request) << target;
    EXPECT_EQ(r.body(), "missing parameter \"target\"\n") << target;
  }
  const HttpResponse unknown = Get("/probe?target=web%2002");
  EXPECT_EQ(unknown.result(), http::status::not_found);
  EXPECT_EQ(unknown.body(), "unknown target \"web 02\"\n");
  // Bounded as a label value is: 245 bytes, then the cut marker (`…` and a hash).
  const std::string echoed = Get("/probe?target=" + std::string(300, 'x')).body();
  EXPECT_EQ(echoed, "unknown target \"" + BoundedLabelValue(std::string(300, 'x')) + "\"\n");
  EXPECT_THAT(echoed, ::testing::HasSubstr(std::string(245, 'x') + "\xe2\x80\xa6"));
}

TEST_F(FleetEndpointsTest, ServiceDiscoveryListsEveryHostWithItsLabels) {
  const HttpResponse r = Get("/sd");
  EXPECT_EQ(r.result(), http::status::ok);
  EXPECT_EQ(r[http::field::content_type], "application/json");
  EXPECT_EQ(r.body(),
            "[{\"targets\":[\"web01\"],\"labels\":{\"dc\":\"paris\",\"host\":\"web01\","
            "\"__meta_fleetps_address\":\"127.0.0.1\",\"__meta_fleetps_port\":\"22\"}},"
            "{\"targets\":[\"db01\"],\"labels\":{\"host\":\"db01\","
            "\"__meta_fleetps_address\":\"127.0.0.1\",\"__meta_fleetps_port\":\"22\"}}]\n");
}

TEST_F(FleetEndpointsTest, PrometheusEndpointsAreGetOnly) {
  for (std::string_view target : {"/metrics", "/probe?target=web01", "/sd"}) {
    const HttpResponse r = Get(target, http::verb::post);
    EXPECT_EQ(r.result(), http::status::method_not_allowed) << target;
    EXPECT_EQ(r[http::field::allow], "GET") << target;
  }
}

TEST_F(FleetEndpointsTest, HealthyAndReadyAnswerAnyMethod) {
  for (http::verb method : {http::verb::get, http::verb::post}) {
    HttpResponse r = Get("/-/healthy", method);
    EXPECT_EQ(r.result(), http::status::ok);
    EXPECT_EQ(r.body(), "fleetps is healthy\n");
    r = Get("/-/ready", method);
    EXPECT_EQ(r.result(), http::status::service_unavailable);
    EXPECT_EQ(r.body(), "fleetps is starting\n");
  }
  fleet_.ready = true;
  const HttpResponse ready = Get("/-/ready");
  EXPECT_EQ(ready.result(), http::status::ok);
  EXPECT_EQ(ready.body(), "fleetps is ready\n");
}

TEST_F(FleetEndpointsTest, ReloadIsPostOnlyAndOffUnlessEnabled) {
  HttpResponse r = Get("/-/reload");
  EXPECT_EQ(r.result(), http::status::method_not_allowed);
  EXPECT_EQ(r[http::field::allow], "POST");
  r = Get("/-/reload", http::verb::post);
  EXPECT_EQ(r.result(), http::status::forbidden);
  EXPECT_EQ(r.body(), "reload endpoint disabled; set collector.enable_reload_endpoint: true\n");
  EXPECT_EQ(fleet_.reloads, 0);
}

// POST /api/v1/cluster/drain is behind the reload switch; the default port (not an etcd
// member) answers 404 once allowed.
TEST_F(FleetEndpointsTest, ClusterDrainIsPostOnlyAndOffUnlessEnabled) {
  HttpResponse r = Get("/api/v1/cluster/drain");
  EXPECT_EQ(r.result(), http::status::method_not_allowed);
  r = Get("/api/v1/cluster/drain", http::verb::post);
  EXPECT_EQ(r.result(), http::status::forbidden);
  EXPECT_EQ(r.body(), "drain endpoint disabled; set collector.enable_reload_endpoint: true\n");
  fleet_.reload_enabled = true;
  r = Get("/api/v1/cluster/drain", http::verb::post);
  EXPECT_EQ(r.result(), http::status::not_found);
  EXPECT_EQ(r.body(), "this collector is not an etcd member\n");
}

// A peer's failsafe question: 404 unless an etcd member, else whether its store is down.
TEST_F(FleetEndpointsTest, ClusterFailsafeSaysWhetherTheStoreIsDown) {
  EXPECT_EQ(Get("/api/v1/cluster/failsafe").result(), http::status::not_found);
  fleet_.store_down = false;
  HttpResponse r = Get("/api/v1/cluster/failsafe");
  EXPECT_EQ(r.result(), http::status::ok);
  EXPECT_EQ(r.body(), "{\"store_down\":false}\n");
  fleet_.store_down = true;
  EXPECT_EQ(Get("/api/v1/cluster/failsafe").body(), "{\"store_down\":true}\n");
}

TEST_F(FleetEndpointsTest, ReloadAnswersTheSummaryOrTheDiagnostics) {
  fleet_.reload_enabled = true;
  fleet_.reload_outcome = {true, "added=1 removed=0 changed=0 unchanged=2\n"};
  HttpResponse r = Get("/-/reload", http::verb::post);
  EXPECT_EQ(r.result(), http::status::ok);
  EXPECT_EQ(r.body(), "added=1 removed=0 changed=0 unchanged=2\n");
  fleet_.reload_outcome = {false, "fleet.yaml:3:1: unknown key \"hostz\"\n"};
  r = Get("/-/reload", http::verb::post);
  EXPECT_EQ(r.result(), http::status::bad_request);
  EXPECT_EQ(r.body(), "fleet.yaml:3:1: unknown key \"hostz\"\n");
  EXPECT_EQ(fleet_.reloads, 2);
}

TEST_F(FleetEndpointsTest, StatusPageShowsEveryHostAndQuarantine) {
  fleet_.self.quarantined_hosts = {"db01"};
  for (std::string_view target : {"/", "/index.html"}) {
    const HttpResponse r = Get(target);
    EXPECT_EQ(r.result(), http::status::ok) << target;
    EXPECT_EQ(r[http::field::content_type], "text/html; charset=utf-8") << target;
    EXPECT_THAT(r.body(), HasSubstr("<a href=\"/hosts/web01\">web01</a>"));
    EXPECT_THAT(r.body(), HasSubstr("<td class=\"state quarantined\">quarantined<div"));
    EXPECT_THAT(r.body(), HasSubstr("<td class=\"state ready\">ready</td>"));
  }
  EXPECT_EQ(Get("/", http::verb::post).result(), http::status::method_not_allowed);
}

}  // namespace
}  // namespace fleetps::collector
