#include "fleetps/collector/api/query_api.hpp"
#include "fleetps/collector/api/json.hpp"
#include "fleetps/collector/cli/table.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace fleetps::collector {
namespace {

TEST(ParsePidTest, AcceptsPositiveDecimalIntegersInRange) {
  EXPECT_EQ(ParsePid("1").value(), 1);
  EXPECT_EQ(ParsePid("4312").value(), 4312);
  EXPECT_EQ(ParsePid("2147483647").value(), 2147483647);
}

TEST(ParsePidTest, RejectsEverythingElseWithAPreciseMessage) {
  struct Case {
    std::string_view text;
    std::size_t position;
    std::string_view message;
  };
  for (const Case& c : {
           Case{"", 0, "expected a pid (a positive decimal integer)"},
           Case{"0", 0, "pid must be at least 1"},
           Case{"007", 0, "a pid has no leading zeros"},
           Case{"-5", 0, "a pid is a positive decimal integer: digits only"},
           Case{"+5", 0, "a pid is a positive decimal integer: digits only"},
           Case{"12a", 2, "a pid is a positive decimal integer: digits only"},
           Case{"1 ", 1, "a pid is a positive decimal integer: digits only"},
           Case{"1;reboot", 1, "a pid is a positive decimal integer: digits only"},
           Case{"0x10", 1, "a pid is a positive decimal integer: digits only"},
           Case{"2147483648", 0, "pid is larger than 2147483647"},
           Case{"99999999999999999999999", 0, "pid is larger than 2147483647"},
       }) {
    auto pid = ParsePid(c.text);
    ASSERT_FALSE(pid.has_value()) << c.text;
    EXPECT_EQ(pid.error().position, c.position) << c.text;
    EXPECT_EQ(pid.error().message, c.message) << c.text;
  }
}

TEST(OpenFilesPathTest, MatchesOnlyItsRoute) {
  EXPECT_FALSE(MatchOpenFilesPath("/api/v1/hosts", "").has_value());
  EXPECT_FALSE(MatchOpenFilesPath("/api/v1/hosts/web01/processes/12", "").has_value());
  EXPECT_FALSE(MatchOpenFilesPath("/api/v1/hosts/web01/processes/1/2/open-files", "").has_value());
  auto ok = MatchOpenFilesPath("/api/v1/hosts/web01/processes/812/open-files", "");
  ASSERT_TRUE(ok.has_value());
  ASSERT_TRUE(ok->has_value());
  EXPECT_EQ((*ok)->host, "web01");
  EXPECT_EQ((*ok)->pid, 812);
}

TEST(OpenFilesPathTest, BadPidHostOrParametersAreParameterErrors) {
  auto bad = MatchOpenFilesPath("/api/v1/hosts/web01/processes/12x/open-files", "");
  ASSERT_TRUE(bad.has_value());
  ASSERT_FALSE(bad->has_value());
  EXPECT_EQ(bad->error().parameter, "pid");
  EXPECT_EQ(bad->error().error.position, 2u);
  const boost::json::value doc = boost::json::parse(RenderErrorJson(bad->error()));
  EXPECT_EQ(doc.at("error").at("message").as_string(),
            "pid: 1:3: a pid is a positive decimal integer: digits only");
  auto empty = MatchOpenFilesPath("/api/v1/hosts/web01/processes//open-files", "");
  ASSERT_TRUE(empty.has_value());
  EXPECT_EQ(empty->error().parameter, "pid");
  auto no_host = MatchOpenFilesPath("/api/v1/hosts//processes/1/open-files", "");
  ASSERT_TRUE(no_host.has_value());
  EXPECT_EQ(no_host->error().parameter, "host");
  auto query = MatchOpenFilesPath("/api/v1/hosts/web01/processes/1/open-files", "x=1");
  ASSERT_TRUE(query.has_value());
  ASSERT_FALSE(query->has_value());
  EXPECT_EQ(query->error().error.message, "this endpoint takes no query parameters");
}

TEST(OpenFilesJsonTest, ListsFilesWithOptionalFields) {
  probes::OpenFilesResult r;
  r.state = probes::OpenFilesState::kOk;
  r.method = probes::OpenFilesMethod::kProc;
  r.files.push_back({"0", "file", "/dev/null", 0, "0100000"});
  r.files.push_back({"3", "socket", "socket:[1]", std::nullopt, ""});
  r.truncated = true;
  const boost::json::value doc = boost::json::parse(RenderOpenFilesJson("web01", 812, r));
  const auto& data = doc.at("data").as_object();
  EXPECT_EQ(data.at("host").as_string(), "web01");
  EXPECT_EQ(data.at("pid").as_int64(), 812);
  EXPECT_EQ(data.at("method").as_string(), "proc");
  EXPECT_EQ(data.at("total").as_int64(), 2);
  EXPECT_TRUE(data.at("truncated").as_bool());
  const auto& files = data.at("files").as_array();
  EXPECT_EQ(files[0].at("pos").as_int64(), 0);
  EXPECT_EQ(files[0].at("flags").as_string(), "0100000");
  EXPECT_FALSE(files[1].as_object().contains("pos"));
  EXPECT_FALSE(files[1].as_object().contains("flags"));

  const Rendered table = RenderOpenFilesTable(RenderOpenFilesJson("web01", 812, r));
  EXPECT_TRUE(table.ok);
  EXPECT_EQ(table.out,
            "FD  TYPE    POS  FLAGS    NAME\n"
            " 0  file      0  0100000  /dev/null\n"
            " 3  socket    -  -        socket:[1]\n");
  EXPECT_NE(table.err.find("cut short"), std::string::npos);
}

TEST(HostFilterTest, ExactGlobAndNodeset) {
  auto all = HostFilter::Parse("");
  ASSERT_TRUE(all.has_value());
  EXPECT_TRUE(all->empty());
  EXPECT_TRUE(all->Matches("anything"));

  auto exact = HostFilter::Parse("web01");
  ASSERT_TRUE(exact.has_value());
  EXPECT_EQ(exact->ExactHost(), "web01");
  EXPECT_TRUE(exact->Matches("web01"));
  EXPECT_FALSE(exact->Matches("web010"));

  auto glob = HostFilter::Parse("web*.dc?");
  ASSERT_TRUE(glob.has_value());
  EXPECT_EQ(glob->ExactHost(), "");
  EXPECT_TRUE(glob->Matches("web01.dc1"));
  EXPECT_TRUE(glob->Matches("web.dc2"));
  EXPECT_FALSE(glob->Matches("web01.dc10"));
  EXPECT_FALSE(glob->Matches("db01.dc1"));

  auto nodeset = HostFilter::Parse("web[01-03,07],db1");
  ASSERT_TRUE(nodeset.has_value());
  EXPECT_TRUE(nodeset->Matches("web02"));
  EXPECT_TRUE(nodeset->Matches("web07"));
  EXPECT_TRUE(nodeset->Matches("db1"));
  EXPECT_FALSE(nodeset->Matches("web04"));
  EXPECT_FALSE(nodeset->Matches("web2"));
}

TEST(HostFilterTest, Errors) {
  EXPECT_EQ(HostFilter::Parse("web 01").error().position, 3u);
  EXPECT_EQ(HostFilter::Parse("web01,,db").error().position, 6u);
  EXPECT_EQ(HostFilter::Parse("web[5-1]").error().position, 4u);
  EXPECT_FALSE(HostFilter::Parse("web[1-2]*").has_value());
  EXPECT_FALSE(HostFilter::Parse(std::string(300, 'a')).has_value());
}

TEST(EventsQueryTest, OnlyHostOnce) {
  auto ok = ParseEventsQueryString("host=web%5B01-02%5D");
  ASSERT_TRUE(ok.has_value());
  EXPECT_TRUE(ok->Matches("web02"));
  EXPECT_TRUE(ParseEventsQueryString("").has_value());
  EXPECT_EQ(ParseEventsQueryString("hots=x").error().parameter, "hots");
  EXPECT_EQ(ParseEventsQueryString("host=a&host=b").error().error.message,
            "parameter \"host\" given twice");
  EXPECT_EQ(ParseEventsQueryString("host=a%2").error().parameter, "host");
}

std::string DataOf(const std::string& event) {
  const auto start = event.find("data: ");
  const auto end = event.find('\n', start);
  return event.substr(start + 6, end - start - 6);
}

TEST(EventRenderingTest, HostStateIsOneCompactEvent) {
  agent::HostStatus s;
  s.host = "web01";
  s.state = agent::HostState::kBackoff;
  s.epoch = 3;
  s.last_reason = make_error_code(agent::Errc::kConnectRefused);
  s.retry_in = std::chrono::milliseconds(1500);
  s.since = std::chrono::system_clock::time_point(std::chrono::seconds(1700000000));
  const std::string e = RenderHostStateEvent(s);
  EXPECT_TRUE(e.starts_with("event: host_state\ndata: {"));
  EXPECT_TRUE(e.ends_with("}\n\n"));
  EXPECT_EQ(std::count(e.begin(), e.end(), '\n'), 3);
  const boost::json::value data = boost::json::parse(DataOf(e));
  EXPECT_EQ(data.at("state").as_string(), "backoff");
  EXPECT_EQ(data.at("reason").as_string(), "connect_refused");
  EXPECT_EQ(data.at("time").to_number<double>(), 1700000000.0);
  EXPECT_EQ(FormatEventLine("host_state", DataOf(e)),
            "host_state web01 backoff epoch=3 reason=connect_refused retry_in=1.50s");
}

TEST(EventRenderingTest, ProbeEventSummarisesNeverCopiesTables) {
  agent::ProbeResult r;
  r.host = "web\x1b]01";
  r.seq = 12;
  r.status = agent::ProbeStatus::kOk;
  auto snap = std::make_shared<probes::HostSnapshot>();
  probes::ProcessRow secret;
  secret.pid = 9;
  secret.args = "mysql --password=hunter2";
  snap->processes = {secret};
  r.snapshot = snap;
  r.raw_bytes = 5000;
  const std::string e = RenderProbeEvent(r);
  EXPECT_EQ(e.find("hunter2"), std::string::npos);
  const boost::json::value data = boost::json::parse(DataOf(e));
  EXPECT_EQ(data.at("processes").as_int64(), 1);
  EXPECT_EQ(data.at("seq").as_int64(), 12);
  EXPECT_EQ(data.at("status").as_string(), "ok");
  const std::string line = FormatEventLine("probe", DataOf(e));
  EXPECT_TRUE(line.starts_with("probe web?]01 processes ok seq=12 processes=1 listening=0"))
      << line;
}

TEST(EventRenderingTest, ReloadAndDrops) {
  const std::string reload = RenderConfigReloadEvent({true, "sighup", "added=1 removed=0"});
  EXPECT_TRUE(reload.starts_with("event: config_reload\n"));
  EXPECT_EQ(FormatEventLine("config_reload", DataOf(reload)),
            "config_reload ok sighup added=1 removed=0");
  const std::string dropped = RenderDroppedEvent(5, 12);
  EXPECT_EQ(FormatEventLine("dropped", DataOf(dropped)), "dropped 5 events (total 12)");
  EXPECT_EQ(FormatEventLine("probe", "not json"), "");
}

}  // namespace
}  // namespace fleetps::collector
