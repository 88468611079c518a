#include "fleetps/collector/cli/table.hpp"

#include <string>

#include <gtest/gtest.h>

#include "fleetps/collector/api/json.hpp"
#include "fleetps/collector/api/params.hpp"
#include "fleetps/collector/query/query.hpp"
#include "rows.hpp"

namespace fleetps::collector {
namespace {

using testing::Process;
using testing::RowStore;

TEST(TableUnits, Bytes) {
  EXPECT_EQ(FormatBytesHuman(0), "0B");
  EXPECT_EQ(FormatBytesHuman(512), "512B");
  EXPECT_EQ(FormatBytesHuman(1023), "1023B");
  EXPECT_EQ(FormatBytesHuman(1024), "1.0KiB");
  EXPECT_EQ(FormatBytesHuman(1536), "1.5KiB");
  EXPECT_EQ(FormatBytesHuman(37.4 * 1048576), "37MiB");
  EXPECT_EQ(FormatBytesHuman(1.2 * 1073741824), "1.2GiB");
  EXPECT_EQ(FormatBytesHuman(1023.9 * 1024), "1.0MiB");
  EXPECT_EQ(FormatBytesHuman(9.99 * 1024), "10KiB");
  EXPECT_EQ(FormatBytesHuman(-1), "-");
}

TEST(TableUnits, CoresAndAges) {
  EXPECT_EQ(FormatCores(0.351), "0.35");
  EXPECT_EQ(FormatCores(12), "12.00");
  EXPECT_EQ(FormatAgeHuman(42), "42s");
  EXPECT_EQ(FormatAgeHuman(312), "5m12s");
  EXPECT_EQ(FormatAgeHuman(300), "5m");
  EXPECT_EQ(FormatAgeHuman(3 * 3600 + 4 * 60 + 5), "3h4m");
  EXPECT_EQ(FormatAgeHuman(12 * 86400 + 3 * 3600), "12d3h");
}

TableOptions Wide() {
  TableOptions options;
  options.mode = TableMode::kWide;
  return options;
}

// A /api/v1/processes answer, produced the way the server produces it.
std::string Answer(RowStore& store, std::size_t total,
                   std::span<const HostQueryStatus> hosts = {}) {
  QueryResult result;
  result.rows = store.rows();
  result.total = total;
  return RenderProcessesJson(result, hosts);
}

RowStore Fleet() {
  RowStore store;
  for (int i = 1; i <= 3; ++i) {
    QueryRow& r = store.Add("web0" + std::to_string(i),
                            Process(1000 + i, "tomcat", "java", "/usr/bin/java -Xmx2g -jar app.jar",
                                    (1ull << 30) + static_cast<std::uint64_t>(i) * (100ull << 20)));
    r.cpu_cores = 0.1 * i;
  }
  QueryRow& db =
      store.Add("db1", Process(4312, "oracle", "ora_pmon_ORCL", "ora_pmon_ORCL", 812ull << 20));
  db.cpu_cores = 0.02;
  store.Add("web07",
            Process(2001, "tomcat", "java", "/usr/bin/java -Xmx2g -jar app.jar", 1ull << 30));
  store.Add("hpux1", Process(77, "root", "init", "init", std::nullopt));
  return store;
}

TEST(TableProcesses, FoldsIdenticalRowsAcrossHosts) {
  RowStore store = Fleet();
  const Rendered r = RenderProcessesTable(Answer(store, 6), {});
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.out,
            "HOST           PROCS   PID  USER       RSS   CPU  COMM           ARGS\n"
            "web[01-03,07]      4     *  tomcat  1.3GiB  0.30  java           /usr/bin/java -Xmx2g "
            "-jar app.jar\n"
            "db1                1  4312  oracle  812MiB  0.02  ora_pmon_ORCL  ora_pmon_ORCL\n"
            "hpux1              1    77  root         -     -  init           init\n");
  EXPECT_EQ(r.err, "");
}

TEST(TableProcesses, WideListsEveryProcess) {
  RowStore store;
  QueryRow& row =
      store.Add("web01", Process(1001, "tomcat", "java", "/usr/bin/java -jar app.jar", 1536));
  row.cpu_cores = 1.5;
  row.age_seconds = 3700;
  row.group = "tomcat";
  store.Add("hpux1", Process(77, "root", "init", "init", std::nullopt));
  const Rendered r = RenderProcessesTable(Answer(store, 2), Wide());
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.out,
            "HOST    PID  PPID  USER    STATE     RSS     VSZ   CPU  THREADS  FDS   AGE  GROUP   "
            "COMM  ARGS\n"
            "web01  1001     1  tomcat  S      1.5KiB  4.0GiB  1.50        4   12  1h1m  tomcat  "
            "java  /usr/bin/java -jar app.jar\n"
            "hpux1    77     1  root    S           -  4.0GiB     -        4   12     -  -       "
            "init  init\n");
}

TEST(TableProcesses, TruncatesArgsAndNeutralisesControlCharacters) {
  RowStore store;
  store.Add("h\x1b[31m", Process(1, "u", "evil\x1b]0;x\x07",
                                 "a\x9b"
                                 "b " +
                                     std::string(100, 'x'),
                                 1));
  TableOptions options;
  options.args_width = 20;
  const Rendered r = RenderProcessesTable(Answer(store, 1), options);
  EXPECT_EQ(r.out,
            "HOST    PROCS  PID  USER  RSS  CPU  COMM        ARGS\n"
            "h?[31m      1    1  u      1B    -  evil?]0;x?  a\xef\xbf\xbd"
            "b xxxxxxxxxxxxx...\n");
}

TEST(TableProcesses, NotesGoToStderr) {
  RowStore store = Fleet();
  const HostQueryStatus hosts[] = {
      {"web01", HostDataStatus::kOk, "", 3},
      {"web03", HostDataStatus::kDown, "timeout", std::nullopt},
      {"web04", HostDataStatus::kDown, "timeout", std::nullopt},
      {"db2", HostDataStatus::kStale, "probe failed", 95},
      {"db3", HostDataStatus::kStale, "probe failed", 40},
  };
  const Rendered r = RenderProcessesTable(Answer(store, 1234, hosts), {});
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.err,
            "showing 6 of 1234 matching processes (raise --limit to see more)\n"
            "warning: web[03-04]: down (timeout)\n"
            "warning: db[2-3]: stale (probe failed), data up to 1m35s old\n");

  RowStore empty;
  const Rendered none = RenderProcessesTable(Answer(empty, 0), {});
  EXPECT_TRUE(none.ok);
  EXPECT_EQ(none.out, "");
  EXPECT_EQ(none.err, "no matching processes\n");
}

TEST(TableProcesses, ErrorAnswerWithCaret) {
  auto q = ParseProcessQuery(R"({user="x", rsz>1GiB})", "", "", "");
  ASSERT_FALSE(q.has_value());
  TableOptions options;
  options.selector = R"({user="x", rsz>1GiB})";
  const Rendered r = RenderProcessesTable(RenderErrorJson(q.error()), options);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err,
            "error: q: 1:12: unknown field \"rsz\" (did you mean \"rss\"?)\n"
            "  {user=\"x\", rsz>1GiB}\n"
            "             ^\n");
}

TEST(TableProcesses, UnreadableAnswers) {
  Rendered r = RenderProcessesTable("<html>", {});
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "fleetps: invalid response from server: not JSON (syntax error)\n");
  r = RenderProcessesTable(R"({"status":"ok","data":{}})", {});
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.err, "fleetps: invalid response from server: no rows\n");
  r = RenderProcessesTable(R"([1,2])", {});
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.err, "fleetps: invalid response from server: no status\n");
}

// Every table reads answers through one reader: the same bad answer reads the same whichever
// command received it.
TEST(AnswerReading, EveryTableReportsABadAnswerTheSameWay) {
  using Renderer = Rendered (*)(std::string_view);
  const Renderer renderers[] = {
      [](std::string_view json) { return RenderProcessesTable(json, {}); },
      [](std::string_view json) { return RenderHostsTable(json, {}); },
      [](std::string_view json) { return RenderListeningTable(json, {}); },
      [](std::string_view json) { return RenderOpenFilesTable(json); },
  };
  const std::pair<std::string_view, std::string_view> cases[] = {
      {"not json", "fleetps: invalid response from server: not JSON (syntax error)\n"},
      {"{", "fleetps: invalid response from server: not JSON (incomplete JSON)\n"},
      {"[1,2]", "fleetps: invalid response from server: no status\n"},
      {R"({"status":7})", "fleetps: invalid response from server: no status\n"},
      {R"({"status":"ok"})", "fleetps: invalid response from server: no data\n"},
      {R"({"status":"ok","data":[]})", "fleetps: invalid response from server: no data\n"},
      {R"({"status":"maybe","data":{}})", "fleetps: invalid response from server: no data\n"},
      {R"({"status":"error"})", "error: (no message)\n"},
      {R"({"status":"error","error":{"message":""}})", "error: (no message)\n"},
      {R"({"status":"error","error":{"message":"not ready\u001b[2J"}})", "error: not ready?[2J\n"},
  };
  for (const auto& [json, message] : cases) {
    for (std::size_t i = 0; i < std::size(renderers); ++i) {
      const Rendered r = renderers[i](json);
      EXPECT_FALSE(r.ok) << json << " renderer " << i;
      EXPECT_EQ(r.out, "") << json << " renderer " << i;
      EXPECT_EQ(r.err, message) << json << " renderer " << i;
    }
    const Rendered as_json = RenderJson(json);
    EXPECT_FALSE(as_json.ok) << json;
    EXPECT_EQ(as_json.err, message) << json;
  }
  // A well-formed envelope without the list a table needs names the list.
  EXPECT_EQ(RenderHostsTable(R"({"status":"ok","data":{"hosts":{}}})", {}).err,
            "fleetps: invalid response from server: no hosts\n");
  EXPECT_EQ(RenderListeningTable(R"({"status":"ok","data":{}})", {}).err,
            "fleetps: invalid response from server: no rows\n");
  EXPECT_EQ(RenderOpenFilesTable(R"({"status":"ok","data":{"files":null}})").err,
            "fleetps: invalid response from server: no files\n");
}

// The caret lines up under the position in display columns, with the selector made safe.
TEST(AnswerReading, CaretUnderTheSelectorPosition) {
  const std::string error = RenderErrorJson("q: 1:14: unknown field \"rsz\"", 13, "q");
  TableOptions options;
  options.selector = "{comm=\"\xc3\xa9\x1b\", rsz>1}";
  const Rendered r = RenderListeningTable(error, options);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.err,
            "error: q: 1:14: unknown field \"rsz\"\n"
            "  {comm=\"\xc3\xa9?\", rsz>1}\n"
            "              ^\n");
  // No caret for another parameter, a multi-line selector or a position past the end.
  EXPECT_EQ(RenderProcessesTable(RenderErrorJson("bad", 2, "sort"), options).err, "error: bad\n");
  options.selector = "{a=1,\nb=2}";
  EXPECT_EQ(RenderProcessesTable(RenderErrorJson("bad", 2, "q"), options).err, "error: bad\n");
  options.selector = "{}";
  EXPECT_EQ(RenderProcessesTable(RenderErrorJson("bad", 9, "q"), options).err, "error: bad\n");
}

constexpr std::string_view kHosts = R"({"status":"ok","data":{"hosts":[
  {"host":"web01","state":"ready","dialect":"linux-procps","channel":"shell","epoch":3,"last_probe":"ok","session_age_seconds":3700,"labels":{"env":"prod","role":"web"}},
  {"host":"web02","state":"ready","dialect":"linux-procps","channel":"exec","channel_fallback":"the shell ended before the fingerprint finished","epoch":1,"last_probe":"ok","session_age_seconds":60,"labels":{"env":"prod"}},
  {"host":"db1","state":"backoff","dialect":"aix","epoch":7,"last_probe":"timeout","last_reason":"timeout","labels":{}},
  {"host":"web03","state":"ready","dialect":"linux-procps","epoch":2,"last_probe":"ok","session_age_seconds":61},
  {"host":"db2","state":"backoff","dialect":"aix","epoch":0,"last_probe":"timeout","last_reason":"timeout"}
]}})";

TEST(TableHosts, FoldsHostsInTheSameState) {
  const Rendered r = RenderHostsTable(kHosts, {});
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.out,
            "COUNT  STATE    DIALECT       PROBE    REASON   HOSTS\n"
            "    3  ready    linux-procps  ok       -        web[01-03]\n"
            "    2  backoff  aix           timeout  timeout  db[1-2]\n");
}

TEST(TableHosts, WideListsEveryHost) {
  const Rendered r = RenderHostsTable(kHosts, Wide());
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(
      r.out,
      "HOST   STATE    DIALECT       CHANNEL  EPOCH  PROBE    SESSION  REASON   LABELS             "
      "WEAK  DETAIL\n"
      "web01  ready    linux-procps  shell        3  ok          1h1m  -        env=prod,role=web  "
      "-     -\n"
      "web02  ready    linux-procps  exec         1  ok            1m  -        env=prod           "
      "-     -\n"
      "db1    backoff  aix           -            7  timeout        -  timeout  -                  "
      "-     -\n"
      "web03  ready    linux-procps  -            2  ok          1m1s  -        -                  "
      "-     -\n"
      "db2    backoff  aix           -            0  timeout        -  timeout  -                  "
      "-     -\n");
}

// What /api/v1/hosts says of an old server: the failure's detail and the weak algorithms a
// connected host needs (the shapes app.cpp writes: last_detail, weak_algorithms[]).
TEST(TableHosts, WideShowsWeakAlgorithmsAndTheFailureDetail) {
  const Rendered r = RenderHostsTable(R"({"status":"ok","data":{"hosts":[
  {"host":"rhel5","state":"circuit_open","epoch":0,"last_reason":"kex_failed",
   "last_detail":"no common key exchange: the server offers [diffie-hellman-group1-sha1]"},
  {"host":"aix1","state":"ready","dialect":"aix","epoch":1,"last_probe":"ok",
   "weak_algorithms":[{"list":"kex","algorithm":"diffie-hellman-group14-sha1","why":"SHA-1"},
                      {"list":"ciphers","algorithm":"aes128-cbc","why":"CBC mode"}]}
]}})",
                                      Wide());
  EXPECT_TRUE(r.ok);
  EXPECT_NE(r.out.find("no common key exchange: the server offers [diffie-hellman-group1-sha1]"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("kex:diffie-hellman-group14-sha1,ciphers:aes128-cbc"), std::string::npos)
      << r.out;
}

TEST(TableHosts, ErrorAndEmpty) {
  Rendered r = RenderHostsTable(RenderErrorJson("collector not ready"), {});
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.err, "error: collector not ready\n");
  r = RenderHostsTable(R"({"status":"ok","data":{"hosts":[]}})", {});
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.err, "no hosts configured\n");
}

TEST(TableJson, IndentsAndKeepsErrors) {
  Rendered r = RenderJson(
      R"({"status":"ok","data":{"rows":[{"pid":1,"cpu_cores":0.5}],"total":1,"hosts":[]}})");
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.out,
            "{\n"
            "  \"status\": \"ok\",\n"
            "  \"data\": {\n"
            "    \"rows\": [\n"
            "      {\n"
            "        \"pid\": 1,\n"
            "        \"cpu_cores\": 0.5\n"
            "      }\n"
            "    ],\n"
            "    \"total\": 1,\n"
            "    \"hosts\": []\n"
            "  }\n"
            "}\n");
  r = RenderJson(RenderErrorJson("boom"));
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.err, "error: boom\n");
  EXPECT_NE(r.out.find("\"boom\""), std::string::npos);
  r = RenderJson("{");
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.out, "");
}

// A cluster's merged answer (docs/query.md, fleet-wide answers) with `missing` and `unowned`.
std::string ClusterAnswer(std::string_view missing, std::string_view unowned, bool incomplete) {
  return std::string(R"({"status":"ok","data":{"rows":[{"host":"web01","pid":4,"user":"oracle",)") +
         R"("comm":"ora_pmon","args":"ora_pmon","rss_bytes":1024}],"total":1,"hosts":[],)" +
         R"("incomplete":)" + (incomplete ? "true" : "false") + R"(,"missing_members":[)" +
         std::string(missing) + R"(],"unowned":)" + std::string(unowned) + "}}";
}

constexpr std::string_view kNoneUnowned = R"({"hosts":0,"hosts_folded":""})";

TEST(TableCluster, AnIncompleteAnswerNamesEachMissingMemberWithItsHostsFolded) {
  const std::string json = ClusterAnswer(
      R"({"member":"collector-c","advertise":"http://10.0.0.3:9732",)"
      R"("error":"did not answer within 2s","hosts":1013,"hosts_folded":"web[0100-0412]"},)"
      R"({"member":"collector-b","error":"HTTP 503: API busy","hosts":1,"hosts_folded":"db1"})",
      R"({"hosts":2,"hosts_folded":"app[1-2]"})", true);
  for (const Rendered& r : {RenderProcessesTable(json, {}), RenderJson(json)}) {
    EXPECT_TRUE(r.ok);
    EXPECT_TRUE(r.incomplete);
    EXPECT_NE(r.out.find("web01"), std::string::npos) << "what came is printed";
    EXPECT_NE(r.err.find("warning: collector-c did not answer within 2s: 1,013 hosts unknown "
                         "(web[0100-0412])\n"),
              std::string::npos)
        << r.err;
    EXPECT_NE(
        r.err.find("warning: collector-b failed (HTTP 503: API busy): 1 host unknown (db1)\n"),
        std::string::npos)
        << r.err;
    EXPECT_NE(r.err.find("warning: 2 hosts unowned (handover in progress): app[1-2]\n"),
              std::string::npos)
        << r.err;
  }
}

TEST(TableCluster, TheUnownedWarningGivesTheServersReason) {
  // A static cluster's unowned hosts have no member in their zone; no handover is coming.
  const std::string json = ClusterAnswer(
      "",
      R"j({"hosts":3,"hosts_folded":"db[1-3]","reason":"unowned (no eligible member in its zone)"})j",
      true);
  const Rendered r = RenderProcessesTable(json, {});
  EXPECT_NE(r.err.find("warning: 3 hosts unowned (no eligible member in its zone): db[1-3]\n"),
            std::string::npos)
      << r.err;
}

TEST(TableCluster, ALongHostListIsCutBetweenRanges) {
  std::string folded;
  for (int i = 10; i < 40; i += 2) {
    folded.append(folded.empty() ? "" : ",").append("web[" + std::to_string(i) + "-");
    folded.append(std::to_string(i + 1) + "]");
  }
  const std::string json = ClusterAnswer(
      R"({"member":"c","error":"did not answer within 2s","hosts":30,"hosts_folded":")" + folded +
          R"("})",
      kNoneUnowned, true);
  const Rendered r = RenderListeningTable(json, {});
  EXPECT_TRUE(r.incomplete);
  const std::size_t open = r.err.find('(');
  const std::size_t close = r.err.rfind(')');
  ASSERT_NE(open, std::string::npos);
  const std::string shown = r.err.substr(open + 1, close - open - 1);
  EXPECT_LE(shown.size(), 64u) << shown;
  EXPECT_TRUE(shown.ends_with("],...")) << "cut after a whole range: " << shown;
  EXPECT_TRUE(folded.starts_with(shown.substr(0, shown.size() - 3)));
}

TEST(TableCluster, ACompleteClusterAnswerWarnsOfNothing) {
  const Rendered r = RenderProcessesTable(ClusterAnswer("", kNoneUnowned, false), {});
  EXPECT_FALSE(r.incomplete);
  EXPECT_EQ(r.err.find("warning"), std::string::npos) << r.err;
}

TEST(TableCluster, HostsFromAClusterShowTheirCollector) {
  const std::string json = R"({"status":"ok","data":{"hosts":[)"
                           R"({"host":"web01","state":"ready","collector":"a"},)"
                           R"({"host":"web02","state":"ready","collector":"a"},)"
                           R"({"host":"web03","state":"ready","collector":"b"}],)"
                           R"("total":3,"incomplete":false,"missing_members":[]}})";
  const Rendered folded = RenderHostsTable(json, {});
  EXPECT_NE(folded.out.find("COLLECTOR"), std::string::npos) << folded.out;
  EXPECT_NE(folded.out.find("web[01-02]"), std::string::npos) << "folded per member";
  EXPECT_NE(folded.out.find("web03"), std::string::npos) << folded.out;
  const Rendered wide = RenderHostsTable(json, Wide());
  EXPECT_NE(wide.out.find("COLLECTOR"), std::string::npos) << wide.out;
  const Rendered single = RenderHostsTable(
      R"({"status":"ok","data":{"hosts":[{"host":"web01","state":"ready"}],"total":1}})", {});
  EXPECT_EQ(single.out.find("COLLECTOR"), std::string::npos) << "not clustered: " << single.out;
}

}  // namespace
}  // namespace fleetps::collector
