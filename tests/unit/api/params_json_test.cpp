// The API's query parameters (percent-decoding, validation with positions) and its JSON answers
// over query rows.
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "fleetps/collector/api/json.hpp"
#include "fleetps/collector/api/params.hpp"
#include "fleetps/collector/query/query.hpp"
#include "rows.hpp"

namespace fleetps::collector {
namespace {

using testing::Process;
using testing::RowStore;

TEST(QueryParams, ValidParameters) {
  auto q = ParseProcessQuery(R"({comm="java"})", "-rss", "10", "1");
  ASSERT_TRUE(q.has_value());
  EXPECT_EQ(q->selector.matchers().size(), 1u);
  EXPECT_EQ(q->sort.size(), 1u);
  EXPECT_EQ(q->limit, 10u);
  EXPECT_TRUE(q->fresh);
  q = ParseProcessQuery("", "", "", "");
  ASSERT_TRUE(q.has_value());
  EXPECT_TRUE(q->selector.empty());
  EXPECT_EQ(q->limit, kDefaultLimit);
  EXPECT_FALSE(q->fresh);
  EXPECT_FALSE(ParseProcessQuery("", "", "", "false")->fresh);
  EXPECT_TRUE(ParseProcessQuery("", "", "", "true")->fresh);
}

TEST(QueryParams, ErrorsNameTheParameter) {
  auto q = ParseProcessQuery(R"({user="x", rsz>1})", "", "", "");
  ASSERT_FALSE(q.has_value());
  EXPECT_EQ(q.error().parameter, "q");
  EXPECT_EQ(q.error().error.position, 11u);
  EXPECT_EQ(q.error().ToString(), R"(q: 1:12: unknown field "rsz" (did you mean "rss"?))");
  EXPECT_EQ(ParseProcessQuery("", "-mem", "", "").error().parameter, "sort");
  EXPECT_EQ(ParseProcessQuery("", "", "0", "").error().parameter, "limit");
  q = ParseProcessQuery("", "", "", "maybe");
  ASSERT_FALSE(q.has_value());
  EXPECT_EQ(q.error().parameter, "fresh");
  EXPECT_EQ(q.error().error.message, "expected 1 or 0 (true/false)");
}

TEST(QueryParams, FromAnEncodedQueryString) {
  auto q =
      ParseProcessQueryString("q=%7Bcomm%3D%22java%22%2C+rss%3E1GiB%7D&sort=-rss&limit=10&fresh=1");
  ASSERT_TRUE(q.has_value()) << q.error().ToString();
  EXPECT_EQ(q->selector.ToString(), R"({comm="java", rss>1GiB})");
  EXPECT_EQ(q->limit, 10u);
  EXPECT_TRUE(q->fresh);
  EXPECT_TRUE(ParseProcessQueryString("").has_value());
  EXPECT_TRUE(ParseProcessQueryString("&&q=&").has_value());

  auto bad = ParseProcessQueryString("q=%7Brsz%3E1%7D");
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().parameter, "q");
  EXPECT_EQ(bad.error().error.position, 1u);  // in the decoded value

  bad = ParseProcessQueryString("limit=5&color=red");
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().parameter, "color");
  EXPECT_EQ(bad.error().error.message,
            R"(unknown parameter "color" (known: q, sort, limit, fresh, scope))");
  EXPECT_EQ(bad.error().error.position, 8u);

  bad = ParseProcessQueryString("limit=5&limit=6");
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().error.message, R"(parameter "limit" given twice)");

  bad = ParseProcessQueryString("q=%7");
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().error.message, "bad percent-encoding");
  EXPECT_EQ(bad.error().error.position, 2u);
}

TEST(QueryJson, RowsHostsAndOmittedValues) {
  RowStore store;
  QueryRow& full = store.Add("web01", Process(42, "www", "nginx", "nginx: master", 1536));
  full.group = "nginx";
  full.cpu_cores = 0.5;
  full.age_seconds = 30;
  store.Add("hpux\xff", Process(3, "root", "init", "init \x01", std::nullopt));
  QueryResult result;
  result.rows = store.rows();
  result.total = 7;
  const HostQueryStatus hosts[] = {{"web01", HostDataStatus::kOk, "", 4.5},
                                   {"db1", HostDataStatus::kDown, "timeout", std::nullopt}};
  const std::string json = RenderProcessesJson(result, hosts);

  boost::system::error_code ec;
  const boost::json::value doc = boost::json::parse(json, ec);
  ASSERT_FALSE(ec) << json;
  EXPECT_EQ(doc.at("status"), "ok");
  const auto& data = doc.at("data").as_object();
  EXPECT_EQ(data.at("total").to_number<int>(), 7);
  const auto& rows = data.at("rows").as_array();
  ASSERT_EQ(rows.size(), 2u);
  const auto& r0 = rows[0].as_object();
  EXPECT_EQ(r0.at("host"), "web01");
  EXPECT_EQ(r0.at("pid").to_number<int>(), 42);
  EXPECT_EQ(r0.at("ppid").to_number<int>(), 1);
  EXPECT_EQ(r0.at("user"), "www");
  EXPECT_EQ(r0.at("state"), "S");
  EXPECT_EQ(r0.at("comm"), "nginx");
  EXPECT_EQ(r0.at("exe"), "nginx:");  // argv[0], the first word of args
  EXPECT_EQ(r0.at("args"), "nginx: master");
  EXPECT_EQ(r0.at("group"), "nginx");
  EXPECT_EQ(r0.at("rss_bytes").to_number<int>(), 1536);
  EXPECT_EQ(r0.at("vsz_bytes").to_number<std::uint64_t>(), 4ull << 30);
  EXPECT_EQ(r0.at("cpu_cores").to_number<double>(), 0.5);
  EXPECT_EQ(r0.at("threads").to_number<int>(), 4);
  EXPECT_EQ(r0.at("fds").to_number<int>(), 12);
  EXPECT_EQ(r0.at("start_time").to_number<double>(), 1.7e9);
  EXPECT_EQ(r0.at("age_seconds").to_number<double>(), 30);

  const auto& r1 = rows[1].as_object();
  EXPECT_EQ(r1.at("host"), "hpux\xef\xbf\xbd");  // invalid UTF-8 replaced
  EXPECT_EQ(r1.at("args"), "init \x01");         // control characters escaped by JSON
  for (const char* absent : {"rss_bytes", "group", "cpu_cores", "age_seconds"}) {
    EXPECT_FALSE(r1.contains(absent)) << absent;
  }

  const auto& h = data.at("hosts").as_array();
  ASSERT_EQ(h.size(), 2u);
  EXPECT_EQ(h[0].at("status"), "ok");
  EXPECT_FALSE(h[0].as_object().contains("reason"));
  EXPECT_EQ(h[0].at("age_seconds").to_number<double>(), 4.5);
  EXPECT_EQ(h[1].at("status"), "down");
  EXPECT_EQ(h[1].at("reason"), "timeout");
  EXPECT_FALSE(h[1].as_object().contains("age_seconds"));
}

TEST(QueryJson, NumbersArePlainDecimals) {
  RowStore store;
  QueryRow& row = store.Add("a", Process(1, "u", "c", "c", 2));
  row.cpu_cores = 0.125;
  QueryResult result;
  result.rows = store.rows();
  result.total = 1;
  EXPECT_EQ(
      RenderProcessesJson(result, {}),
      R"({"status":"ok","data":{"rows":[{"host":"a","pid":1,"ppid":1,"user":"u","state":"S",)"
      R"("comm":"c","exe":"c","args":"c","rss_bytes":2,"vsz_bytes":4294967296,)"
      R"("cpu_cores":0.125,"threads":4,"fds":12,"start_time":1700000000}],"total":1,"hosts":[]}})");
}

TEST(QueryJson, Errors) {
  EXPECT_EQ(RenderErrorJson("no such host"),
            R"({"status":"error","error":{"message":"no such host"}})");
  auto q = ParseProcessQuery("{rss>1Gb}", "", "", "");
  ASSERT_FALSE(q.has_value());
  EXPECT_EQ(
      RenderErrorJson(q.error()),
      R"js({"status":"error","error":{"message":"q: 1:7: unknown size unit \"Gb\" (use B, KiB, MiB, GiB, TiB, KB, MB, GB or TB)","parameter":"q","position":6}})js");
}

}  // namespace
}  // namespace fleetps::collector
