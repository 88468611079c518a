// QueryHandlers and the ad hoc fan-out with a fake fleet and fake agents: snapshots, fresh=1
// probes that answer, fail, throw or miss the deadline, open-files outcomes, /api/v1/hosts.
#include "fleetps/collector/api/query_handlers.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "api_fakes.hpp"
#include "fleetps/collector/api/adhoc.hpp"
#include "fleetps/collector/api/http_api.hpp"

namespace fleetps::collector {
namespace {

using testing::Await;
using testing::FakeAgent;
using ::testing::HasSubstr;
namespace asio = boost::asio;
namespace http = boost::beast::http;
namespace json = boost::json;
using namespace std::chrono_literals;

constexpr AdhocLimits kTestLimits{std::chrono::milliseconds(100), std::chrono::milliseconds(60000)};

class QueryHandlersTest : public testing::ApiTest {
 protected:
  QueryHandlersTest() : ApiTest(HttpApiOptions{kTestLimits, {}, {}, {}}) {
    web_ = std::make_shared<FakeAgent>(io_);
    fleet_.agents["web01"] = web_;
  }

  json::object GetJson(std::string_view target, http::status expected = http::status::ok) {
    const HttpResponse r = Get(target);
    EXPECT_EQ(r.result(), expected) << r.body();
    EXPECT_EQ(r[http::field::content_type], "application/json");
    return json::parse(r.body()).as_object();
  }

  static const json::object& HostStatus(const json::object& doc, std::size_t i) {
    return doc.at("data").at("hosts").at(i).as_object();
  }

  std::shared_ptr<FakeAgent> web_;
};

TEST_F(QueryHandlersTest, ProcessesAnswerFromTheSnapshotsWithoutAskingAgents) {
  const json::object doc = GetJson("/api/v1/processes?q=%7Bcomm%3D%22oracle%22%7D");
  EXPECT_EQ(doc.at("status"), "ok");
  const json::array& rows = doc.at("data").at("rows").as_array();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].at("host"), "web01");
  EXPECT_EQ(rows[0].at("pid"), 42);
  EXPECT_EQ(doc.at("data").at("total"), 1);
  EXPECT_EQ(HostStatus(doc, 0).at("status"), "ok");
  EXPECT_EQ(HostStatus(doc, 1).at("host"), "db01");
  EXPECT_EQ(HostStatus(doc, 1).at("status"), "down");
  EXPECT_EQ(HostStatus(doc, 1).at("reason"), "connect_refused");
  EXPECT_EQ(web_->calls, 0);
}

TEST_F(QueryHandlersTest, InvalidParametersAre400BeforeAnyAgentRuns) {
  const HttpResponse r = Get("/api/v1/processes?q=%7Brsz%3E1%7D&fresh=1");
  EXPECT_EQ(r.result(), http::status::bad_request);
  EXPECT_EQ(r[http::field::content_type], "application/json");
  const json::object doc = json::parse(r.body()).as_object();
  EXPECT_EQ(doc.at("status"), "error");
  EXPECT_EQ(doc.at("error").at("parameter"), "q");
  EXPECT_EQ(doc.at("error").at("position"), 1);
  EXPECT_EQ(json::parse(Get("/api/v1/listening?bogus=1").body()).at("error").at("parameter"),
            "bogus");
  EXPECT_EQ(web_->calls, 0);
}

// A regex that only proves too expensive on a host's data is still the request's fault: 400,
// as for a selector that does not parse (README, API).
TEST_F(QueryHandlersTest, ARegexTooExpensiveToEvaluateIs400) {
  fleet_.state.OnResult(testing::Probe("web01", {testing::Row(42, std::string(64, 'a'))}));
  const HttpResponse r = Get("/api/v1/processes?q=%7Bargs%3D~%22(a*)*b%22%7D");
  EXPECT_EQ(r.result(), http::status::bad_request) << r.body();
  const json::object doc = json::parse(r.body()).as_object();
  EXPECT_EQ(doc.at("status"), "error");
  EXPECT_EQ(doc.at("error").at("parameter"), "q");
  EXPECT_THAT(std::string(doc.at("error").at("message").as_string()),
              HasSubstr("regex too expensive to evaluate on host \"web01\""));
}

TEST_F(QueryHandlersTest, ListeningAnswersOneRowPerSocket) {
  const json::object doc = GetJson("/api/v1/listening");
  const json::array& rows = doc.at("data").at("rows").as_array();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].at("port"), 1521);
  EXPECT_EQ(rows[0].at("pid"), 42);
}

TEST_F(QueryHandlersTest, FreshRunsOneProbePerAgentOnItsStrand) {
  web_->probe = testing::Probe("web01", {testing::Row(99, "oracle")});
  const json::object doc = GetJson("/api/v1/processes?q=%7Bcomm%3D%22oracle%22%7D&fresh=1");
  const json::array& rows = doc.at("data").at("rows").as_array();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].at("pid"), 99);  // the fresh table, not the snapshot's 42
  EXPECT_EQ(HostStatus(doc, 0).at("status"), "ok");
  EXPECT_EQ(HostStatus(doc, 1).at("status"), "down");  // no agent: nothing to ask
  EXPECT_EQ(web_->calls, 1);
  EXPECT_EQ(web_->off_strand, 0);
}

TEST_F(QueryHandlersTest, FreshProbeFailureLeavesTheSnapshotStaleWithTheReason) {
  web_->probe.host = "web01";
  web_->probe.status = agent::ProbeStatus::kTimeout;
  web_->probe.session_epoch = 1;
  web_->probe.reason = agent::Errc::kTimeout;
  const json::object doc = GetJson("/api/v1/processes?fresh=1");
  EXPECT_EQ(doc.at("data").at("total"), 2);
  EXPECT_EQ(HostStatus(doc, 0).at("status"), "stale");
  EXPECT_EQ(HostStatus(doc, 0).at("reason"), "timeout");
}

TEST_F(QueryHandlersTest, FreshProbeThatThrowsIsRecordedAndTheSnapshotServed) {
  web_->behaviour = FakeAgent::Behaviour::kThrow;
  const std::uint64_t before = testing::InternalErrors("adhoc_probe");
  const json::object doc = GetJson("/api/v1/processes?fresh=1");
  EXPECT_EQ(testing::InternalErrors("adhoc_probe"), before + 1);
  EXPECT_EQ(HostStatus(doc, 0).at("status"), "stale");
  EXPECT_EQ(doc.at("data").at("total"), 2);
}

TEST_F(QueryHandlersTest, FreshProbePastTheDeadlineIsNotWaitedForNorCancelled) {
  web_->behaviour = FakeAgent::Behaviour::kHang;
  web_->hang = 1000ms;
  const auto start = std::chrono::steady_clock::now();
  const json::object doc = GetJson("/api/v1/processes?fresh=1");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 800ms);  // deadline: 0 ms + 100 ms slack
  EXPECT_EQ(HostStatus(doc, 0).at("status"), "stale");
  EXPECT_EQ(web_->finished, 0);
  testing::RunFor(io_, 1500ms);
  EXPECT_EQ(web_->finished, 1);  // the probe ran to its end on the agent
}

TEST(AdhocTest, FanOutKeepsSlotsInJobOrderAndReturnsAtOnceWithoutWork) {
  asio::io_context io;
  auto a = std::make_shared<FakeAgent>(io);
  auto b = std::make_shared<FakeAgent>(io);
  a->probe.host = "a";
  b->probe.host = "b";
  const std::vector<AdhocJob> jobs{{b, 0ms}, {nullptr, 0ms}, {a, 0ms}};
  AdhocWork<agent::ProbeResult> work = [](AdhocAgent& agent) {
    return agent.RunAdhoc(agent::ProbeKind::kProcesses);
  };
  const auto results = Await(io, FanOut(jobs, work, kTestLimits));
  ASSERT_EQ(results.size(), 3u);
  EXPECT_EQ(results[0]->host, "b");
  EXPECT_FALSE(results[1].has_value());
  EXPECT_EQ(results[2]->host, "a");
  const AdhocLimits slow{2000ms, 60000ms};
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(Await(io, FanOut<agent::ProbeResult>({{nullptr, 0ms}}, work, slow)).front() ==
              std::nullopt);
  EXPECT_TRUE(Await(io, FanOut<agent::ProbeResult>({}, work, slow)).empty());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1000ms);  // nothing to wait for
}

TEST(AdhocTest, DeadlineIsSlowestProbeTimeoutPlusSlackCapped) {
  const AdhocLimits limits{2000ms, 60000ms};
  EXPECT_EQ(limits.Deadline(10000ms), 12000ms);
  EXPECT_EQ(limits.Deadline(59000ms), 60000ms);
}

// ---- open-files ----

class OpenFilesTest : public QueryHandlersTest {
 protected:
  HttpResponse OpenFiles(std::string_view host = "web01", std::string_view pid = "42") {
    return Get("/api/v1/hosts/" + std::string(host) + "/processes/" + std::string(pid) +
               "/open-files");
  }
  static std::string Error(std::string_view message) {
    return "{\"status\":\"error\",\"error\":{\"message\":\"" + std::string(message) + "\"}}";
  }
  void Outcome(agent::ProbeStatus status,
               probes::OpenFilesState state = probes::OpenFilesState::kOk,
               agent::Errc reason = {}) {
    web_->open_files.status = status;
    web_->open_files.session_epoch = 1;
    web_->open_files.result.state = state;
    web_->open_files.reason = {};
    if (reason != agent::Errc{}) web_->open_files.reason = reason;
  }
};

TEST_F(OpenFilesTest, ListsTheFilesOfAProcess) {
  Outcome(agent::ProbeStatus::kOk);
  web_->open_files.result.method = probes::OpenFilesMethod::kLsof;
  web_->open_files.result.files = {probes::OpenFile{"3", "REG", "/var/log/x", std::nullopt, ""}};
  const HttpResponse r = OpenFiles();
  EXPECT_EQ(r.result(), http::status::ok);
  EXPECT_EQ(r.body(), RenderOpenFilesJson("web01", 42, web_->open_files.result));
  EXPECT_EQ(web_->last_pid, 42);
  EXPECT_EQ(web_->off_strand, 0);
}

TEST_F(OpenFilesTest, UnknownHostDownHostAndBadParameters) {
  HttpResponse r = OpenFiles("web99");
  EXPECT_EQ(r.result(), http::status::not_found);
  EXPECT_EQ(r.body(), Error("unknown host \\\"web99\\\""));
  r = OpenFiles("db01");
  EXPECT_EQ(r.result(), http::status::service_unavailable);
  EXPECT_EQ(r.body(), Error("host db01 is down: connect_refused"));
  r = Get("/api/v1/hosts/web01/processes/42/open-files?x=1");
  EXPECT_EQ(r.result(), http::status::bad_request);
  EXPECT_THAT(r.body(), HasSubstr("this endpoint takes no query parameters"));
  EXPECT_EQ(OpenFiles("web01", "0").result(), http::status::bad_request);
  EXPECT_EQ(web_->calls, 0);
}

TEST_F(OpenFilesTest, OutcomesMapToStatusCodes) {
  struct Case {
    agent::ProbeStatus status;
    probes::OpenFilesState state;
    agent::Errc reason;
    http::status expected;
    std::string body;
  };
  const std::string where = "process 42 on web01";
  for (const Case& c : {
           Case{agent::ProbeStatus::kOk,
                probes::OpenFilesState::kNoSuchProcess,
                {},
                http::status::not_found,
                Error("no " + where)},
           Case{agent::ProbeStatus::kOk,
                probes::OpenFilesState::kPermissionDenied,
                {},
                http::status::forbidden,
                Error("permission denied: the monitoring user cannot list the descriptors of " +
                      where)},
           Case{agent::ProbeStatus::kOk,
                probes::OpenFilesState::kUnsupported,
                {},
                http::status::not_implemented,
                Error("open-files is unsupported on this dialect (aix): no Linux-style /proc and "
                      "no lsof on web01")},
           Case{agent::ProbeStatus::kOk,
                probes::OpenFilesState::kBadOutput,
                {},
                http::status::bad_gateway,
                Error("open-files of " + where + ": parse_error")},
           Case{agent::ProbeStatus::kTimeout, probes::OpenFilesState::kOk, agent::Errc::kTimeout,
                http::status::gateway_timeout, Error("open-files of " + where + ": timeout")},
           Case{agent::ProbeStatus::kTooLarge,
                probes::OpenFilesState::kOk,
                {},
                http::status::bad_gateway,
                Error("open-files of " + where + ": too_large")},
       }) {
    Outcome(c.status, c.state, c.reason);
    const HttpResponse r = OpenFiles();
    EXPECT_EQ(r.result(), c.expected) << c.body;
    EXPECT_EQ(r.body(), c.body);
  }
  Outcome(agent::ProbeStatus::kError, probes::OpenFilesState::kOk, agent::Errc::kDisconnected);
  web_->open_files.session_epoch = 0;  // the session went away before the template ran
  const HttpResponse down = OpenFiles();
  EXPECT_EQ(down.result(), http::status::service_unavailable);
  EXPECT_EQ(down.body(), Error("host web01 is down: disconnected"));
}

TEST_F(OpenFilesTest, DeadlineAndThrowAre504AndAThrowIsRecorded) {
  web_->behaviour = FakeAgent::Behaviour::kHang;
  HttpResponse r = OpenFiles();
  EXPECT_EQ(r.result(), http::status::gateway_timeout);
  EXPECT_EQ(r.body(), Error("open-files on web01 did not finish in time"));
  web_->behaviour = FakeAgent::Behaviour::kThrow;
  const std::uint64_t before = testing::InternalErrors("adhoc_probe");
  r = OpenFiles();
  EXPECT_EQ(r.result(), http::status::gateway_timeout);
  EXPECT_EQ(testing::InternalErrors("adhoc_probe"), before + 1);
}

// ---- /api/v1/hosts ----

TEST_F(QueryHandlersTest, HostsDescribesEveryHost) {
  fleet_.self.quarantined_hosts = {"db01"};
  const HttpResponse r = Get("/api/v1/hosts");
  EXPECT_EQ(r.result(), http::status::ok);
  EXPECT_EQ(r[http::field::content_type], "application/json");
  ASSERT_TRUE(r.body().ends_with("}\n"));
  const json::object doc = json::parse(r.body()).as_object();
  EXPECT_EQ(doc.at("status"), "ok");
  const json::array& hosts = doc.at("data").at("hosts").as_array();
  ASSERT_EQ(hosts.size(), 2u);
  const json::object& web = hosts[0].as_object();
  EXPECT_EQ(web.at("host"), "web01");
  EXPECT_EQ(web.at("address"), "127.0.0.1");
  EXPECT_EQ(web.at("port"), 22);
  EXPECT_EQ(web.at("state"), "ready");
  EXPECT_EQ(web.at("epoch"), 1);
  EXPECT_EQ(web.at("dialect"), "aix");
  EXPECT_EQ(web.at("processes"), 2);
  EXPECT_EQ(web.at("last_probe"), "ok");
  EXPECT_EQ(web.at("labels"), (json::object{{"dc", "paris"}}));
  EXPECT_EQ(web.at("weak_algorithms"),
            (json::array{json::object{
                {"list", "ciphers"}, {"algorithm", "aes128-cbc"}, {"why", "CBC mode"}}}));
  EXPECT_TRUE(web.contains("session_age_seconds"));
  const json::object& db = hosts[1].as_object();
  EXPECT_EQ(db.at("state"), "quarantined");
  EXPECT_EQ(db.at("last_reason"), "connect_refused");
  EXPECT_FALSE(db.contains("session_age_seconds"));
  EXPECT_FALSE(db.contains("processes"));
}

}  // namespace
}  // namespace fleetps::collector
