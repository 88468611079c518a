// The web UI without a socket: the fleet page (problems first, counts, filters and pages as
// query parameters), a host's page, the query page, escaping of hostile process text, the
// security headers, and the sizes of the page and of its poll at 10,000 hosts.
#include "fleetps/collector/api/web_ui.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <regex>

#include <boost/json.hpp>

#include "api_fakes.hpp"
#include "fleetps/collector/api/http_api.hpp"

namespace fleetps::collector {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
namespace http = boost::beast::http;
namespace json = boost::json;
using namespace std::chrono_literals;

class WebUiTest : public testing::ApiTest {
 protected:
  // Where `needle` first appears in the body, npos when absent.
  static std::size_t At(const HttpResponse& r, std::string_view needle) {
    return r.body().find(needle);
  }
};

TEST_F(WebUiTest, FleetPutsProblemsFirstAndCountsEveryState) {
  const HttpResponse r = Get("/");
  ASSERT_EQ(r.result(), http::status::ok);
  EXPECT_EQ(r[http::field::content_type], "text/html; charset=utf-8");
  // Inventory order is web01, db01; db01 is in backoff, so its row comes first.
  ASSERT_NE(At(r, "href=\"/hosts/db01\""), std::string::npos);
  EXPECT_LT(At(r, "href=\"/hosts/db01\""), At(r, "href=\"/hosts/web01\""));
  EXPECT_THAT(r.body(), HasSubstr("data-state=\"backoff\"><span class=\"n\">1</span>"));
  EXPECT_THAT(r.body(), HasSubstr("data-state=\"ready\"><span class=\"n\">1</span>"));
  EXPECT_THAT(r.body(), HasSubstr("unreachable: the TCP connection was refused"));
  EXPECT_THAT(r.body(), HasSubstr("next retry"));
  EXPECT_THAT(r.body(), Not(HasSubstr("http-equiv=\"refresh\"")));
}

TEST_F(WebUiTest, FiltersAreQueryParameters) {
  EXPECT_EQ(At(Get("/?state=ready"), "/hosts/db01"), std::string::npos);
  EXPECT_NE(At(Get("/?state=ready"), "/hosts/web01"), std::string::npos);
  EXPECT_EQ(At(Get("/?state=problem"), "/hosts/web01"), std::string::npos);
  EXPECT_EQ(At(Get("/?text=DB"), "/hosts/web01"), std::string::npos);
  EXPECT_NE(At(Get("/?text=DB"), "/hosts/db01"), std::string::npos);
  EXPECT_EQ(At(Get("/?label=dc%3Dparis"), "/hosts/db01"), std::string::npos);
  EXPECT_EQ(At(Get("/?label=dc%3Dlondon"), "/hosts/web01"), std::string::npos);
  EXPECT_EQ(At(Get("/?dialect=aix"), "/hosts/db01"), std::string::npos);
  // Sorted by name, web01 comes last; descending, first.
  const HttpResponse by_name = Get("/?sort=host");
  EXPECT_LT(At(by_name, "/hosts/db01"), At(by_name, "/hosts/web01"));
  const HttpResponse by_name_down = Get("/?sort=-host");
  EXPECT_GT(At(by_name_down, "/hosts/db01"), At(by_name_down, "/hosts/web01"));
  const HttpResponse second_page = Get("/?per_page=1&page=2&sort=host");
  EXPECT_EQ(At(second_page, "/hosts/db01"), std::string::npos);
  EXPECT_THAT(second_page.body(), HasSubstr("page 2 of 2"));
  EXPECT_THAT(second_page.body(), HasSubstr("href=\"?sort=host&amp;per_page=1\">previous"));
  // The form keeps the sort and page size it does not show.
  EXPECT_THAT(second_page.body(), HasSubstr("name=\"sort\" value=\"host\" >"));
  EXPECT_THAT(second_page.body(), HasSubstr("name=\"per_page\" value=\"1\" >"));
}

TEST_F(WebUiTest, BadFleetParametersAreA400PageWithTheError) {
  const HttpResponse r = Get("/?sort=bogus");
  EXPECT_EQ(r.result(), http::status::bad_request);
  EXPECT_THAT(r.body(), HasSubstr("sort: 1:1: unknown column"));
  EXPECT_EQ(Get("/?page=0").result(), http::status::bad_request);
  EXPECT_EQ(Get("/?per_page=100000").result(), http::status::bad_request);
  EXPECT_EQ(Get("/?nope=1").result(), http::status::bad_request);
}

TEST_F(WebUiTest, HostsApiPagesAndFilters) {
  const HttpResponse r = Get("/api/v1/hosts?state=problem&per_page=1&sort=problem");
  ASSERT_EQ(r.result(), http::status::ok);
  const json::object data = json::parse(r.body()).at("data").as_object();
  ASSERT_EQ(data.at("hosts").as_array().size(), 1u);
  const json::object& db = data.at("hosts").as_array()[0].as_object();
  EXPECT_EQ(db.at("host"), "db01");
  EXPECT_EQ(db.at("ui_state"), "backoff");
  EXPECT_EQ(db.at("down_reason"), "connect_refused");
  EXPECT_TRUE(db.contains("retry_in_seconds"));
  EXPECT_EQ(data.at("total"), 2);
  EXPECT_EQ(data.at("matched"), 1);
  EXPECT_EQ(data.at("pages"), 1);
  EXPECT_EQ(data.at("counts").at("ready"), 1);
  EXPECT_EQ(data.at("counts").at("backoff"), 1);
  const HttpResponse bad = Get("/api/v1/hosts?per_page=0");
  EXPECT_EQ(bad.result(), http::status::bad_request);
  EXPECT_EQ(json::parse(bad.body()).at("error").at("parameter"), "per_page");
}

TEST_F(WebUiTest, PagesCarryACspThatAllowsOnlyTheirOwnScript) {
  for (const std::string_view target : {"/", "/hosts/web01", "/query", "/hosts/nope"}) {
    SCOPED_TRACE(target);
    const HttpResponse r = Get(target);
    const std::string csp(r["Content-Security-Policy"]);
    EXPECT_THAT(csp, HasSubstr("default-src 'none'"));
    EXPECT_THAT(csp, HasSubstr("connect-src 'self'"));
    EXPECT_EQ(r["X-Content-Type-Options"], "nosniff");
    std::smatch nonce;
    ASSERT_TRUE(
        std::regex_search(csp, nonce, std::regex("script-src 'nonce-([A-Za-z0-9+/=]{24})'")));
    EXPECT_THAT(r.body(), HasSubstr("<script nonce=\"" + nonce[1].str() + "\">"));
    // Exactly one script, and no inline event handlers (CSP would block them anyway).
    const std::string& body = r.body();
    EXPECT_EQ(body.find("<script"), body.rfind("<script"));
    EXPECT_FALSE(std::regex_search(body, std::regex("<[^>]*\\son[a-z]+\\s*=", std::regex::icase)));
  }
  EXPECT_NE(Get("/")["Content-Security-Policy"], Get("/")["Content-Security-Policy"]);
}

TEST_F(WebUiTest, HostPageShowsStateAlgorithmsProcessesAndSockets) {
  const HttpResponse r = Get("/hosts/web01");
  ASSERT_EQ(r.result(), http::status::ok);
  EXPECT_THAT(r.body(), HasSubstr("data-host=\"web01\""));
  EXPECT_THAT(r.body(), HasSubstr("<td class=\"comm\">oracle</td>"));
  EXPECT_THAT(r.body(), HasSubstr("<td class=\"comm\">sshd</td>"));
  EXPECT_THAT(r.body(), HasSubstr("<td class=\"num\">1521</td>"));
  EXPECT_THAT(r.body(), HasSubstr("ciphers:aes128-cbc"));
  EXPECT_THAT(r.body(), HasSubstr("id=\"events\""));
  // The selector box filters the table.
  const HttpResponse only_sshd = Get("/hosts/web01?q=%7Bcomm%3D%22sshd%22%7D");
  EXPECT_THAT(only_sshd.body(), HasSubstr("<td class=\"comm\">sshd</td>"));
  EXPECT_THAT(only_sshd.body(), Not(HasSubstr("<td class=\"comm\">oracle</td>")));
  EXPECT_THAT(only_sshd.body(), HasSubstr("value=\"{comm=&quot;sshd&quot;}\""));
}

TEST_F(WebUiTest, ABadSelectorShowsItsPositionNotA500) {
  const HttpResponse r = Get("/hosts/web01?q=%7Brsz%3E1%7D");
  EXPECT_EQ(r.result(), http::status::bad_request);
  EXPECT_THAT(r.body(), HasSubstr("q: 1:2: unknown field &quot;rsz&quot;"));
  EXPECT_EQ(Get("/query?q=%7Bcpu%3E%7D").result(), http::status::bad_request);
}

TEST_F(WebUiTest, UnknownHostIsA404Page) {
  const HttpResponse r = Get("/hosts/%3Cscript%3E");
  EXPECT_EQ(r.result(), http::status::not_found);
  EXPECT_THAT(r.body(), HasSubstr("No host named <b>&lt;script&gt;</b>"));
  EXPECT_EQ(Get("/hosts/").result(), http::status::not_found);
  EXPECT_EQ(Get("/hosts/web01/x").result(), http::status::not_found);
}

TEST_F(WebUiTest, AChangedHostKeyIsNotARefusedLogin) {
  config::HostSpec a = testing::Spec("a");
  config::HostSpec b = testing::Spec("b");
  fleet_.state.SetHosts({a, b});
  fleet_.state.OnStatus(
      testing::Status("a", agent::HostState::kCircuitOpen, agent::Errc::kHostkeyMismatch));
  fleet_.state.OnStatus(
      testing::Status("b", agent::HostState::kCircuitOpen, agent::Errc::kAuthDenied));
  const HttpResponse fleet = Get("/");
  EXPECT_THAT(fleet.body(), HasSubstr("data-state=\"hostkey_changed\"><span class=\"n\">1</span>"));
  EXPECT_THAT(fleet.body(), HasSubstr("data-state=\"circuit_open\"><span class=\"n\">1</span>"));
  EXPECT_LT(At(fleet, "/hosts/a\""), At(fleet, "/hosts/b\""));
  EXPECT_THAT(Get("/hosts/a").body(), HasSubstr("the host key changed"));
  EXPECT_THAT(Get("/hosts/b").body(), HasSubstr("login refused"));
}

TEST_F(WebUiTest, HostPageListsEarlierStateChangesNewestFirstWithoutScript) {
  // db01 (AddWebAndDb) went connecting -> backoff (refused); then its key changed.
  fleet_.state.OnStatus(
      testing::Status("db01", agent::HostState::kCircuitOpen, agent::Errc::kHostkeyMismatch));
  const std::string body = Get("/hosts/db01").body();
  const std::size_t list = body.find("<ul id=\"events\">");
  ASSERT_NE(list, std::string::npos);
  const std::size_t newest = body.find(
      "<span class=\"state backoff\">backoff</span> &rarr; <span class=\"state "
      "hostkey_changed\">hostkey_changed</span> the host key changed",
      list);
  const std::size_t oldest = body.find(
      "<span class=\"state connecting\">connecting</span> &rarr; <span class=\"state "
      "backoff\">backoff</span> unreachable: the TCP connection was refused",
      list);
  EXPECT_NE(newest, std::string::npos) << body.substr(list);
  EXPECT_NE(oldest, std::string::npos) << body.substr(list);
  EXPECT_LT(newest, oldest);
  EXPECT_THAT(body.substr(list), HasSubstr(" UTC (0s ago) "));
  EXPECT_THAT(Get("/hosts/web01").body(), HasSubstr("&rarr; <span class=\"state ready\">ready"
                                                    "</span> <span class=\"muted\">session 1"));
}

TEST_F(WebUiTest, HostApiListsItsStateChangesNewestFirst) {
  agent::HostStatus changed =
      testing::Status("db01", agent::HostState::kCircuitOpen, agent::Errc::kHostkeyMismatch);
  changed.detail = "offered ssh-ed25519 SHA256:x\x1b";
  fleet_.state.OnStatus(changed);
  const HttpResponse r = Get("/api/v1/hosts/db01");
  ASSERT_EQ(r.result(), http::status::ok);
  const json::object host = json::parse(r.body()).at("data").as_object();
  EXPECT_EQ(host.at("host"), "db01");
  EXPECT_EQ(host.at("ui_state"), "hostkey_changed");
  const json::array& changes = host.at("state_changes").as_array();
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_EQ(changes[0].at("from"), "backoff");
  EXPECT_EQ(changes[0].at("to"), "hostkey_changed");
  EXPECT_EQ(changes[0].at("reason"), "hostkey_mismatch");
  EXPECT_EQ(changes[0].at("detail"), "offered ssh-ed25519 SHA256:x\\x1b");
  EXPECT_EQ(changes[1].at("from"), "connecting");
  EXPECT_EQ(changes[1].at("to"), "backoff");
  EXPECT_EQ(changes[1].at("reason"), "connect_refused");
  EXPECT_EQ(changes[1].at("epoch"), 0);
  EXPECT_TRUE(changes[1].at("time_unix").is_double());
  const HttpResponse unknown = Get("/api/v1/hosts/nonesuch");
  EXPECT_EQ(unknown.result(), http::status::not_found);
  EXPECT_EQ(json::parse(unknown.body()).at("error").at("message"), "unknown host \"nonesuch\"");
}

TEST_F(WebUiTest, AHostileStateChangeDetailIsEscaped) {
  agent::HostStatus status =
      testing::Status("db01", agent::HostState::kCircuitOpen, agent::Errc::kKexFailed);
  status.detail = "server offers <script>alert(1)</script>\x1b[2J\xff \"'><img src=x>";
  fleet_.state.OnStatus(status);
  // The current detail changes; the history keeps what the server said then.
  fleet_.state.OnStatus(
      testing::Status("db01", agent::HostState::kBackoff, agent::Errc::kConnectTimeout));
  const std::string body = Get("/hosts/db01").body();
  EXPECT_THAT(body, HasSubstr("server offers &lt;script&gt;alert(1)&lt;/script&gt;\\x1b[2J\\xff "
                              "&quot;&#39;&gt;&lt;img src=x&gt;"));
  EXPECT_THAT(body, Not(HasSubstr("<script>alert")));
  EXPECT_THAT(body, Not(HasSubstr("<img")));
  EXPECT_EQ(body.find('\x1b'), std::string::npos);
}

TEST_F(WebUiTest, OldDataIsMarkedStale) {
  agent::ProbeResult old = testing::Probe("web01", {testing::Row(1, "init")});
  old.finished = std::chrono::system_clock::now() - 1h;
  fleet_.state.OnResult(old);
  const HttpResponse r = Get("/?state=stale");
  EXPECT_THAT(r.body(), HasSubstr("/hosts/web01"));
  EXPECT_THAT(r.body(), HasSubstr("<span class=\"stale\"> stale</span>"));
  EXPECT_THAT(Get("/hosts/web01").body(), HasSubstr("stale: older than 3 probe intervals"));
}

TEST_F(WebUiTest, HostileProcessTextIsEscapedEverywhere) {
  probes::ProcessRow evil = testing::Row(666, "<script>alert(1)</script>");
  evil.user = "\"'><img src=x>";
  evil.args = "a\x1b[31mred \xff\xfe & </td></tr>";
  fleet_.state.OnResult(testing::Probe("web01", {evil}));
  for (const std::string_view target : {"/hosts/web01", "/query"}) {
    SCOPED_TRACE(target);
    const std::string body = Get(target).body();
    EXPECT_THAT(body, HasSubstr("&lt;script&gt;alert(1)&lt;/script&gt;"));
    EXPECT_THAT(body, Not(HasSubstr("<script>alert")));
    EXPECT_THAT(body, HasSubstr("&quot;&#39;&gt;&lt;img src=x&gt;"));
    EXPECT_THAT(body, Not(HasSubstr("<img")));
    EXPECT_THAT(body, HasSubstr("a\\x1b[31mred \\xff\\xfe &amp; &lt;/td&gt;&lt;/tr&gt;"));
    EXPECT_EQ(body.find('\x1b'), std::string::npos);
  }
  EXPECT_EQ(HtmlEscape("<b>\"x\" & 'y'</b>"), "&lt;b&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/b&gt;");
}

TEST_F(WebUiTest, QueryPageFoldsHostsAsTheCliDoes) {
  std::vector<config::HostSpec> specs;
  for (const char* name : {"web01", "web02", "web03", "db01"}) specs.push_back(testing::Spec(name));
  fleet_.state.SetHosts(specs);
  for (const char* name : {"web01", "web02", "web03"}) {
    fleet_.state.OnStatus(testing::Status(name, agent::HostState::kReady));
    fleet_.state.OnResult(testing::Probe(name, {testing::Row(42, "nginx")}));
  }
  const HttpResponse r = Get("/query?q=%7Bcomm%3D%22nginx%22%7D");
  ASSERT_EQ(r.result(), http::status::ok);
  EXPECT_THAT(r.body(), HasSubstr("<tr><td>web[01-03]</td><td class=\"num\">3</td>"));
  EXPECT_THAT(r.body(), HasSubstr("No process table from: db01"));
}

// A fleet of 10,000 hosts, a tenth of them down, each with a table of 3 processes.
class LargeFleetTest : public ::testing::Test {
 protected:
  LargeFleetTest() {
    std::vector<config::HostSpec> specs;
    for (int i = 0; i < 10'000; ++i) {
      config::HostSpec spec = testing::Spec("host" + std::to_string(10'000 + i) + ".dc1.example");
      spec.labels = {{"role", i % 2 ? "web" : "db"}, {"dc", "dc1"}};
      specs.push_back(spec);
    }
    fleet_.state.SetHosts(specs);
    for (int i = 0; i < 10'000; ++i) {
      const std::string& name = specs[static_cast<std::size_t>(i)].name;
      if (i % 10 == 0) {
        fleet_.state.OnStatus(
            testing::Status(name, agent::HostState::kBackoff, agent::Errc::kConnectTimeout));
        continue;
      }
      agent::HostStatus ready = testing::Status(name, agent::HostState::kReady);
      ready.dialect = probes::Dialect::kLinuxProcps;
      fleet_.state.OnStatus(ready);
      fleet_.state.OnResult(testing::Probe(
          name, {testing::Row(1, "init"), testing::Row(2, "sshd"), testing::Row(3, "nginx")}));
    }
  }
  testing::FakeFleet fleet_;
};

TEST_F(LargeFleetTest, PageAndPollStaySmallAt10000Hosts) {
  const auto now = std::chrono::system_clock::now();
  const WebPage page = RenderFleetPage(fleet_.state.Hosts(), {}, "", now, "n");
  ASSERT_EQ(page.status, http::status::ok);
  EXPECT_THAT(page.html, HasSubstr("page 1 of 100, 10000 of 10000 hosts"));
  // The default page shows 100 rows, the down ones first.
  EXPECT_THAT(page.html, HasSubstr("href=\"/hosts/host10000.dc1.example\""));
  EXPECT_THAT(page.html, Not(HasSubstr("href=\"/hosts/host10001.dc1.example\"")));

  boost::asio::io_context io;
  FleetBus bus;
  HttpApi api(fleet_, fleet_, bus);
  const HttpResponse poll =
      testing::Await(io, api.Handle(testing::Request(http::verb::get,
                                                     "/api/v1/hosts?per_page=100&sort=problem")))
          .response;
  ASSERT_EQ(poll.result(), http::status::ok);
  ::testing::Test::RecordProperty("fleet_page_bytes", static_cast<int>(page.html.size()));
  ::testing::Test::RecordProperty("hosts_poll_bytes", static_cast<int>(poll.body().size()));
  std::printf("at 10000 hosts: / is %zu bytes, its poll %zu bytes\n", page.html.size(),
              poll.body().size());
  // Bounds with room (about 100 rows each): the old page was ~2.5 MB every 5 s.
  EXPECT_LT(page.html.size(), 100'000u);
  EXPECT_LT(poll.body().size(), 100'000u);
}

}  // namespace
}  // namespace fleetps::collector
