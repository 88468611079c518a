#include <string>
#include <vector>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "fleetps/collector/api/json.hpp"
#include "fleetps/collector/api/query_api.hpp"
#include "fleetps/collector/cli/table.hpp"
#include "fleetps/collector/query/query.hpp"

namespace fleetps::collector {
namespace {

probes::ProcessRow Process(std::int64_t pid, std::string user, std::string comm) {
  probes::ProcessRow p;
  p.pid = pid;
  p.ppid = 1;
  p.user = std::move(user);
  p.comm = std::move(comm);
  p.start_time_unix = 1000;
  return p;
}

probes::ListenSocket Socket(std::string proto, std::string address, std::uint32_t port,
                            std::optional<std::int64_t> pid, std::string process = {}) {
  return probes::ListenSocket{std::move(proto), std::move(address), port, pid, std::move(process)};
}

struct Fixture {
  probes::HostSnapshot web;
  probes::HostSnapshot db;
  probes::GroupSnapshot web_groups;
  HostLabels labels{{"env", "prod"}};
  std::vector<QueryRow> rows;

  Fixture() {
    web.processes = {Process(1, "root", "init"), Process(812, "root", "sshd"),
                     Process(900, "www", "nginx")};
    web.listening = {Socket("tcp", "0.0.0.0", 22, 812), Socket("tcp6", "::", 22, 812),
                     Socket("tcp", "0.0.0.0", 80, 900), Socket("udp", "0.0.0.0", 68, std::nullopt),
                     Socket("tcp", "127.0.0.1", 25, 4242, "master")};
    web_groups.members = {{900, "web"}};
    db.processes = {Process(77, "oracle", "tnslsnr")};
    db.listening = {Socket("tcp", "*", 1521, 77)};
    HostRowsInput in;
    in.host = "web01";
    in.labels = &labels;
    in.current = &web;
    in.groups = &web_groups;
    in.now_unix = 1600;
    AppendListeningRows(in, rows);
    HostRowsInput in_db;
    in_db.host = "db1";
    in_db.current = &db;
    AppendListeningRows(in_db, rows);
  }

  QueryResult Run(std::string_view selector, std::string_view sort = "", std::size_t limit = 50) {
    auto s = ParseSelector(selector);
    EXPECT_TRUE(s.has_value()) << selector;
    auto k = ParseSort(sort);
    EXPECT_TRUE(k.has_value()) << sort;
    auto r = RunQuery(rows, *s, *k, limit);
    EXPECT_TRUE(r.has_value());
    return *r;
  }
};

std::vector<std::string> Keys(const QueryResult& r) {
  std::vector<std::string> out;
  for (const QueryRow& row : r.rows) {
    out.push_back(row.host + ":" + row.socket->proto + "/" + std::to_string(row.socket->port));
  }
  return out;
}

TEST(ListeningRows, JoinsSocketsWithTheirProcessByPid) {
  Fixture f;
  ASSERT_EQ(f.rows.size(), 6u);
  EXPECT_EQ(f.rows[0].process->comm, "sshd");
  EXPECT_EQ(f.rows[2].process->comm, "nginx");
  EXPECT_EQ(f.rows[2].group, "web");
  EXPECT_EQ(f.rows[2].age_seconds, 600);
  EXPECT_EQ(f.rows[3].process, nullptr);  // no pid: unprivileged ss
  EXPECT_EQ(f.rows[4].process, nullptr);  // pid not in the table (exited meanwhile)
  EXPECT_EQ(f.rows[5].process->comm, "tnslsnr");
}

TEST(ListeningQuery, PortAndProtoSelectSockets) {
  Fixture f;
  EXPECT_EQ(Keys(f.Run("port=22")), (std::vector<std::string>{"web01:tcp/22", "web01:tcp6/22"}));
  EXPECT_EQ(Keys(f.Run("proto=~\"udp.*\"")), (std::vector<std::string>{"web01:udp/68"}));
  EXPECT_EQ(Keys(f.Run("port>=1000")), (std::vector<std::string>{"db1:tcp/1521"}));
}

TEST(ListeningQuery, ProcessFieldsApplyToTheOwner) {
  Fixture f;
  EXPECT_EQ(Keys(f.Run("user=\"www\"")), (std::vector<std::string>{"web01:tcp/80"}));
  EXPECT_EQ(Keys(f.Run("group=\"web\", label.env=\"prod\"")),
            (std::vector<std::string>{"web01:tcp/80"}));
  // An unknown owner has no pid: numeric comparisons fail, even !=.
  EXPECT_EQ(f.Run("pid!=812").rows.size(), 3u);
  // The tool's command name stands in for comm when the owner is not in the table.
  EXPECT_EQ(Keys(f.Run("comm=\"master\"")), (std::vector<std::string>{"web01:tcp/25"}));
}

TEST(ListeningQuery, OrdersByHostThenPortProtoAddressUnlessSorted) {
  Fixture f;
  EXPECT_EQ(Keys(f.Run("")),
            (std::vector<std::string>{"db1:tcp/1521", "web01:tcp/22", "web01:tcp6/22",
                                      "web01:tcp/25", "web01:udp/68", "web01:tcp/80"}));
  EXPECT_EQ(Keys(f.Run("", "-port", 2)),
            (std::vector<std::string>{"db1:tcp/1521", "web01:tcp/80"}));
  EXPECT_EQ(f.Run("", "-port", 2).total, 6u);
}

TEST(ListeningQuery, PortFieldsAreAbsentOnProcessRows) {
  probes::HostSnapshot snap;
  snap.processes = {Process(5, "root", "cron")};
  std::vector<QueryRow> rows;
  HostRowsInput in;
  in.host = "h";
  in.current = &snap;
  AppendQueryRows(in, rows);
  auto any_port = ParseSelector("port>0");
  ASSERT_TRUE(any_port.has_value());
  EXPECT_FALSE(any_port->Matches(rows[0]));
  auto no_proto = ParseSelector("proto=\"\"");
  ASSERT_TRUE(no_proto.has_value());
  EXPECT_TRUE(no_proto->Matches(rows[0]));
}

TEST(ListeningSelector, PortIsAPlainInteger) {
  EXPECT_FALSE(ParseSelector("port>1k").has_value());
  EXPECT_FALSE(ParseSelector("port=1.5").has_value());
  EXPECT_FALSE(ParseSelector("proto>1").has_value());
  EXPECT_TRUE(ParseSelector("port=443, proto=\"tcp\"").has_value());
}

TEST(ListeningJson, RowsCarryOwnerFieldsWhenKnown) {
  Fixture f;
  const QueryResult r = f.Run("host=\"web01\"");
  const std::vector<HostQueryStatus> hosts{
      {"web01", HostDataStatus::kOk, "", 3.5},
      {"web02", HostDataStatus::kDown, "timeout", std::nullopt}};
  const boost::json::value doc = boost::json::parse(RenderListeningJson(r, hosts));
  const auto& data = doc.at("data").as_object();
  EXPECT_EQ(data.at("total").as_int64(), 5);
  const auto& rows = data.at("rows").as_array();
  ASSERT_EQ(rows.size(), 5u);
  const auto& ssh = rows[0].as_object();
  EXPECT_EQ(ssh.at("host").as_string(), "web01");
  EXPECT_EQ(ssh.at("proto").as_string(), "tcp");
  EXPECT_EQ(ssh.at("address").as_string(), "0.0.0.0");
  EXPECT_EQ(ssh.at("port").as_int64(), 22);
  EXPECT_EQ(ssh.at("pid").as_int64(), 812);
  EXPECT_EQ(ssh.at("comm").as_string(), "sshd");
  EXPECT_EQ(ssh.at("user").as_string(), "root");
  EXPECT_FALSE(ssh.contains("group"));
  const auto& mta = rows[2].as_object();  // port 25: pid known to ss, not in the table
  EXPECT_EQ(mta.at("pid").as_int64(), 4242);
  EXPECT_EQ(mta.at("comm").as_string(), "master");
  EXPECT_FALSE(mta.contains("user"));
  const auto& dhcp = rows[3].as_object();
  EXPECT_FALSE(dhcp.contains("pid"));
  EXPECT_FALSE(dhcp.contains("comm"));
  EXPECT_EQ(rows[4].as_object().at("group").as_string(), "web");
  const auto& down = data.at("hosts").as_array()[1].as_object();
  EXPECT_EQ(down.at("status").as_string(), "down");
  EXPECT_EQ(down.at("reason").as_string(), "timeout");
}

TEST(ListeningTable, FoldsIdenticalSocketsAcrossHosts) {
  const std::string json = R"({"status":"ok","data":{"rows":[
    {"host":"web01","proto":"tcp","address":"0.0.0.0","port":22,"pid":812,"comm":"sshd","user":"root"},
    {"host":"web02","proto":"tcp","address":"0.0.0.0","port":22,"pid":640,"comm":"sshd","user":"root"},
    {"host":"web02","proto":"udp","address":"0.0.0.0","port":68}],
    "total":3,"hosts":[{"host":"web01","status":"ok"},{"host":"web02","status":"ok"},
                       {"host":"web03","status":"down","reason":"connect_refused"},
                       {"host":"web04","status":"stale","reason":"probe failed","age_seconds":95}]}})";
  const Rendered r = RenderListeningTable(json, TableOptions{});
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.out,
            "HOST        PROTO  ADDRESS  PORT  PID  USER  COMM\n"
            "web[01-02]  tcp    0.0.0.0    22    *  root  sshd\n"
            "web02       udp    0.0.0.0    68    -  -     -\n");
  EXPECT_EQ(r.err,
            "warning: web03: down (connect_refused)\n"
            "warning: web04: stale (probe failed), data up to 1m35s old\n");
  TableOptions wide;
  wide.mode = TableMode::kWide;
  const Rendered w = RenderListeningTable(json, wide);
  EXPECT_NE(w.out.find("web01  tcp    0.0.0.0    22  812  root  -      sshd\n"), std::string::npos)
      << w.out;
}

TEST(ListeningTable, ErrorsAndEmptyAnswers) {
  const Rendered error = RenderListeningTable(
      R"({"status":"error","error":{"message":"q: 1:1: unknown field \"prot\"","parameter":"q"}})",
      TableOptions{});
  EXPECT_FALSE(error.ok);
  EXPECT_EQ(error.err, "error: q: 1:1: unknown field \"prot\"\n");
  TableOptions typed;
  typed.selector = "{prot=\"tcp\"}";
  const Rendered caret = RenderListeningTable(
      R"({"status":"error","error":{"message":"q: 1:2: unknown field \"prot\"","parameter":"q","position":1}})",
      typed);
  EXPECT_EQ(caret.err, "error: q: 1:2: unknown field \"prot\"\n  {prot=\"tcp\"}\n   ^\n");
  const Rendered none = RenderListeningTable(
      R"({"status":"ok","data":{"rows":[],"total":0,"hosts":[]}})", TableOptions{});
  EXPECT_TRUE(none.ok);
  EXPECT_EQ(none.out, "");
  EXPECT_EQ(none.err, "no matching sockets\n");
  const Rendered garbage = RenderListeningTable("not json", TableOptions{});
  EXPECT_FALSE(garbage.ok);
  EXPECT_EQ(garbage.err, "fleetps: invalid response from server: not JSON (syntax error)\n");
}

}  // namespace
}  // namespace fleetps::collector
