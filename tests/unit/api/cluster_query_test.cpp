// The merge of a cluster's fleet-wide answers (cluster_query.hpp): order across members, the
// limit and totals, rows of a host kept from its owner only, members that did not answer and
// hosts nobody owns listed with their hosts folded. Members' answers are written by the test.
#include "fleetps/collector/api/cluster_query.hpp"

#include <algorithm>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "fleetps/collector/query/nodeset_fold.hpp"

namespace fleetps::collector {
namespace {

namespace json = boost::json;

std::string Text(const json::value& v) { return v.is_string() ? std::string(v.as_string()) : ""; }

// Members a, b and c sharing 64 buckets as rendezvous hashing assigns them.
cluster::ClusterView ThreeMembers() {
  cluster::ClusterView view;
  view.name = "test";
  view.membership = "static";
  view.buckets = 64;
  for (const char* name : {"a", "b", "c"}) {
    cluster::MemberView member;
    member.spec.name = name;
    member.advertise = std::string("http://127.0.0.1:1/") + name;
    view.members.push_back(member);
  }
  view.members[0].self = true;
  std::vector<cluster::MemberSpec> specs;
  for (const auto& m : view.members) specs.push_back(m.spec);
  for (std::uint32_t b = 0; b < view.buckets; ++b) {
    view.bucket_owner.push_back(static_cast<std::int32_t>(*cluster::DesiredOwner(specs, b)));
  }
  return view;
}

std::vector<std::string> Hosts(int n) {
  std::vector<std::string> hosts;
  for (int i = 1; i <= n; ++i) {
    hosts.push_back((i < 10 ? "web0" : "web") + std::to_string(i));
  }
  return hosts;
}

// One process row: rss varies across hosts so the order interleaves members.
json::object ProcessRow(const std::string& host, int pid, std::int64_t rss) {
  return json::object{{"host", host},
                      {"pid", pid},
                      {"comm", "oracle"},
                      {"rss_bytes", rss},
                      {"sort_values", json::array{rss}}};
}

std::int64_t RssOf(const std::string& host, int pid) {
  return static_cast<std::int64_t>((std::hash<std::string>{}(host) % 1000) * 10 + pid);
}

bool RssDescending(const json::object& x, const json::object& y) {
  const auto rx = x.at("rss_bytes").as_int64();
  const auto ry = y.at("rss_bytes").as_int64();
  if (rx != ry) return rx > ry;
  if (x.at("host") != y.at("host")) return x.at("host").as_string() < y.at("host").as_string();
  return x.at("pid").as_int64() < y.at("pid").as_int64();
}

// An ok answer of `member` holding `rows`.
MemberAnswer OkAnswer(const std::string& member, json::array rows, std::size_t total,
                      json::array statuses = {}) {
  json::object data{{"rows", std::move(rows)}, {"total", total}, {"hosts", std::move(statuses)}};
  return MemberAnswer{member, "", json::serialize(json::object{{"status", "ok"}, {"data", data}}),
                      ""};
}

// The scope=local answer of `member`: two processes per host in `hosts`, sorted by -rss, cut
// to `limit`, with the total before the cut.
MemberAnswer LocalAnswer(const std::string& member, const std::vector<std::string>& hosts,
                         std::size_t limit) {
  std::vector<json::object> rows;
  json::array statuses;
  for (const auto& host : hosts) {
    for (int pid : {1, 2}) rows.push_back(ProcessRow(host, pid, RssOf(host, pid)));
    statuses.push_back(json::object{{"host", host}, {"status", "ok"}});
  }
  std::sort(rows.begin(), rows.end(), RssDescending);
  const std::size_t total = rows.size();
  rows.resize(std::min(limit, rows.size()));
  return OkAnswer(member, json::array(rows.begin(), rows.end()), total, std::move(statuses));
}

std::map<std::string, std::vector<std::string>> ByOwner(const cluster::ClusterView& view,
                                                        const std::vector<std::string>& hosts) {
  std::map<std::string, std::vector<std::string>> owned;
  for (const auto& host : hosts) owned[view.OwnerOf(host)->spec.name].push_back(host);
  return owned;
}

// Every member's ok answer: `rows_of(host)` for each host it owns, in name order.
std::vector<MemberAnswer> AnswersOf(const cluster::ClusterView& view,
                                    const std::vector<std::string>& hosts,
                                    const std::function<json::array(const std::string&)>& rows_of) {
  std::vector<MemberAnswer> answers;
  for (const auto& [member, mine] : ByOwner(view, hosts)) {
    json::array rows;
    for (const auto& host : mine) {
      for (auto& row : rows_of(host)) rows.push_back(std::move(row));
    }
    const std::size_t total = rows.size();
    answers.push_back(OkAnswer(member, std::move(rows), total));
  }
  return answers;
}

// LocalAnswer of every member of `owned`.
std::vector<MemberAnswer> LocalAnswers(const std::map<std::string, std::vector<std::string>>& owned,
                                       std::size_t limit) {
  std::vector<MemberAnswer> answers;
  for (const auto& [member, mine] : owned) answers.push_back(LocalAnswer(member, mine, limit));
  return answers;
}

SortSpec RssDown() { return *ParseSort("-rss"); }

TEST(ClusterQueryMergeTest, RowsOfEveryMemberInTheRequestedOrderCutToTheLimitWithTheTotal) {
  const auto view = ThreeMembers();
  const auto hosts = Hosts(30);
  auto owned = ByOwner(view, hosts);
  ASSERT_EQ(owned.size(), 3u) << "every member owns hosts";
  std::vector<MemberAnswer> answers;
  std::vector<json::object> everything;
  for (const auto& [member, mine] : owned) {
    answers.push_back(LocalAnswer(member, mine, 7));
    for (const auto& host : mine) {
      for (int pid : {1, 2}) everything.push_back(ProcessRow(host, pid, RssOf(host, pid)));
    }
  }
  std::sort(everything.begin(), everything.end(), RssDescending);

  const json::object doc =
      json::parse(MergeQueryAnswers(view, hosts, answers, RssDown(), 7, false)).as_object();
  const json::object& data = doc.at("data").as_object();
  EXPECT_EQ(doc.at("status"), "ok");
  EXPECT_EQ(data.at("total"), 60);
  EXPECT_EQ(data.at("incomplete"), false);
  EXPECT_TRUE(data.at("missing_members").as_array().empty());
  const json::array& rows = data.at("rows").as_array();
  ASSERT_EQ(rows.size(), 7u);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i].at("host"), everything[i].at("host")) << i;
    EXPECT_EQ(rows[i].at("pid"), everything[i].at("pid")) << i;
    EXPECT_FALSE(rows[i].as_object().contains("sort_values")) << "internal to the merge";
  }
  EXPECT_EQ(data.at("hosts").as_array().size(), 30u);
  EXPECT_EQ(data.at("hosts").at(0).at("host"), "web01") << "statuses ordered by host";
}

TEST(ClusterQueryMergeTest, RowsWithoutASortValueComeLastAndTiesGoByHostThenPid) {
  const auto view = ThreeMembers();
  const auto hosts = Hosts(12);
  const auto answers = AnswersOf(view, hosts, [](const std::string& host) {
    json::object none = ProcessRow(host, 9, 0);
    none["sort_values"] = json::array{nullptr};
    none.erase("rss_bytes");
    return json::array{ProcessRow(host, 2, 100), ProcessRow(host, 1, 100), none};
  });
  const json::object doc =
      json::parse(MergeQueryAnswers(view, hosts, answers, RssDown(), 100, false)).as_object();
  const json::array& rows = doc.at("data").at("rows").as_array();
  ASSERT_EQ(rows.size(), 36u);
  EXPECT_EQ(rows[0].at("host"), "web01");
  EXPECT_EQ(rows[0].at("pid"), 1);
  EXPECT_EQ(rows[1].at("pid"), 2);
  EXPECT_EQ(rows[2].at("host"), "web02");
  EXPECT_EQ(rows[24].at("host"), "web01") << "rows without rss after every row with one";
  EXPECT_EQ(rows[24].at("pid"), 9);
  EXPECT_EQ(rows[35].at("host"), "web12");
}

TEST(ClusterQueryMergeTest, AHostIsAnsweredByItsOwnerOnlyAndTheTotalLosesTheDuplicates) {
  const auto view = ThreeMembers();
  const auto hosts = Hosts(9);
  auto owned = ByOwner(view, hosts);
  auto answers = LocalAnswers(owned, 100);
  // A member answering from an older view also claims every host of another member.
  const std::string stale_member = answers[0].member;
  const std::string other = answers[1].member;
  std::vector<std::string> claimed = owned[stale_member];
  claimed.insert(claimed.end(), owned[other].begin(), owned[other].end());
  answers[0] = LocalAnswer(stale_member, claimed, 100);

  const json::object doc =
      json::parse(MergeQueryAnswers(view, hosts, answers, RssDown(), 100, false)).as_object();
  const json::object& data = doc.at("data").as_object();
  EXPECT_EQ(data.at("total"), 18) << "nine hosts, two processes each, once";
  EXPECT_EQ(data.at("rows").as_array().size(), 18u);
  std::map<std::string, int> per_host;
  for (const auto& row : data.at("rows").as_array()) {
    ++per_host[std::string(row.at("host").as_string())];
  }
  for (const auto& [host, count] : per_host) EXPECT_EQ(count, 2) << host;
  EXPECT_EQ(data.at("hosts").as_array().size(), 9u);
}

TEST(ClusterQueryMergeTest, AMemberThatDidNotAnswerIsNamedWithItsHostsFolded) {
  const auto view = ThreeMembers();
  const auto hosts = Hosts(40);
  auto owned = ByOwner(view, hosts);
  auto answers = LocalAnswers(owned, 50);
  MemberAnswer& silent = answers[2];
  const std::string silent_name = silent.member;
  silent.body.reset();
  silent.advertise = "http://127.0.0.1:35999";
  silent.error = "did not answer within 2s";

  const json::object doc =
      json::parse(MergeQueryAnswers(view, hosts, answers, RssDown(), 50, false)).as_object();
  const json::object& data = doc.at("data").as_object();
  EXPECT_EQ(data.at("incomplete"), true);
  const json::array& missing = data.at("missing_members").as_array();
  ASSERT_EQ(missing.size(), 1u);
  EXPECT_EQ(Text(missing[0].at("member")), silent_name);
  EXPECT_EQ(Text(missing[0].at("advertise")), view.members[2].advertise) << "as the view has it";
  EXPECT_EQ(missing[0].at("error"), "did not answer within 2s");
  EXPECT_EQ(missing[0].at("hosts"), owned[silent_name].size());
  EXPECT_EQ(Text(missing[0].at("hosts_folded")), FoldHostNames(owned[silent_name]));
  EXPECT_EQ(data.at("total"), 2 * (40 - owned[silent_name].size()));
  for (const auto& row : data.at("rows").as_array()) {
    EXPECT_NE(view.OwnerOf(row.at("host").as_string())->spec.name, silent_name);
  }
}

TEST(ClusterQueryMergeTest, AnUnreadableAnswerCountsAsNone) {
  const auto view = ThreeMembers();
  const auto hosts = Hosts(6);
  auto owned = ByOwner(view, hosts);
  auto answers = LocalAnswers(owned, 50);
  answers[1].body = "<html>proxy error</html>";
  const json::object doc =
      json::parse(MergeQueryAnswers(view, hosts, answers, RssDown(), 50, false)).as_object();
  const json::array& missing = doc.at("data").at("missing_members").as_array();
  ASSERT_EQ(missing.size(), 1u);
  EXPECT_EQ(missing[0].at("error"), "unreadable answer");
  EXPECT_EQ(doc.at("data").at("incomplete"), true);
}

TEST(ClusterQueryMergeTest, HostsInABucketNobodyOwnsAreReportedUnowned) {
  auto view = ThreeMembers();
  const auto hosts = Hosts(20);
  const std::uint32_t orphan = cluster::BucketOf("web07", view.buckets);
  view.bucket_owner[orphan] = -1;
  std::vector<std::string> expected;
  for (const auto& host : hosts) {
    if (cluster::BucketOf(host, view.buckets) == orphan) expected.push_back(host);
  }
  std::map<std::string, std::vector<std::string>> owned;
  for (const auto& host : hosts) {
    if (const auto* owner = view.OwnerOf(host)) owned[owner->spec.name].push_back(host);
  }
  auto answers = LocalAnswers(owned, 50);
  const json::object doc =
      json::parse(MergeQueryAnswers(view, hosts, answers, RssDown(), 50, false)).as_object();
  const json::object& data = doc.at("data").as_object();
  EXPECT_EQ(data.at("incomplete"), true);
  EXPECT_TRUE(data.at("missing_members").as_array().empty());
  EXPECT_EQ(data.at("unowned").at("hosts"), expected.size());
  EXPECT_EQ(Text(data.at("unowned").at("hosts_folded")), FoldHostNames(expected));
  // A static view has no handovers: an unowned host has no eligible member (its zone).
  EXPECT_EQ(data.at("unowned").at("reason"), "unowned (no eligible member in its zone)");
  view.membership = "etcd";
  const json::object etcd_doc =
      json::parse(MergeQueryAnswers(view, hosts, LocalAnswers(owned, 50), RssDown(), 50, false))
          .as_object();
  EXPECT_EQ(etcd_doc.at("data").at("unowned").at("reason"), "unowned (handover in progress)");
}

TEST(ClusterQueryMergeTest, SocketsMergeByPortProtoAndAddressAfterTheHost) {
  const auto view = ThreeMembers();
  const auto hosts = Hosts(3);
  const auto answers = AnswersOf(view, hosts, [](const std::string& host) {
    const auto socket = [&host](int port) {
      return json::object{{"host", host},
                          {"proto", "tcp"},
                          {"address", "0.0.0.0"},
                          {"port", port},
                          {"sort_values", json::array{}}};
    };
    json::object oracle = socket(1521);
    oracle["pid"] = 4;
    return json::array{socket(22), oracle};
  });
  const json::object doc =
      json::parse(MergeQueryAnswers(view, hosts, answers, {}, 50, true)).as_object();
  const json::array& rows = doc.at("data").at("rows").as_array();
  ASSERT_EQ(rows.size(), 6u);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(Text(rows[i].at("host")), hosts[i / 2]) << i;
    EXPECT_EQ(rows[i].at("port"), i % 2 == 0 ? 22 : 1521) << i;
  }
}

// The scope=local /api/v1/hosts answer of `member` for `mine` (states alternate).
MemberAnswer LocalHosts(const std::string& member, const std::vector<std::string>& mine) {
  json::array hosts;
  std::map<std::string, int> counts;
  for (const auto& host : mine) {
    const bool down = host.back() % 2 == 0;
    hosts.push_back(json::object{{"host", host},
                                 {"ui_state", down ? "backoff" : "ready"},
                                 {"state", down ? "backoff" : "ready"},
                                 {"stale", false}});
    ++counts[down ? "backoff" : "ready"];
  }
  json::object count_json;
  for (const auto& [state, n] : counts) count_json[state] = n;
  json::object data{{"hosts", hosts}, {"total", mine.size()}, {"matched", mine.size()},
                    {"page", 1},      {"pages", 1},           {"counts", count_json}};
  return {member, "", json::serialize(json::object{{"status", "ok"}, {"data", data}}), ""};
}

TEST(ClusterQueryMergeTest, HostsOfEveryMemberWithTheirCollectorSortedAndPaged) {
  const auto view = ThreeMembers();
  const auto hosts = Hosts(25);
  auto owned = ByOwner(view, hosts);
  std::vector<MemberAnswer> answers;
  for (const auto& [member, mine] : owned) answers.push_back(LocalHosts(member, mine));
  FleetListOptions options;
  options.sort = "problem";
  options.per_page = 10;
  options.page = 2;
  const json::object doc =
      json::parse(MergeHostsAnswers(view, hosts, answers, options)).as_object();
  const json::object& data = doc.at("data").as_object();
  EXPECT_EQ(data.at("total"), 25);
  EXPECT_EQ(data.at("matched"), 25);
  EXPECT_EQ(data.at("pages"), 3);
  EXPECT_EQ(data.at("page"), 2);
  EXPECT_EQ(data.at("counts").at("backoff"), 12);
  EXPECT_EQ(data.at("counts").at("ready"), 13);
  const json::array& page = data.at("hosts").as_array();
  ASSERT_EQ(page.size(), 10u);
  // Problems first (the 12 hosts in backoff, by name), then the ready ones by name.
  std::vector<std::string> problem_order;
  for (const auto& host : hosts) {
    if (host.back() % 2 == 0) problem_order.push_back(host);
  }
  for (const auto& host : hosts) {
    if (host.back() % 2 != 0) problem_order.push_back(host);
  }
  for (std::size_t i = 0; i < page.size(); ++i) {
    EXPECT_EQ(Text(page[i].at("host")), problem_order[10 + i]) << i;
    EXPECT_EQ(Text(page[i].at("collector")), view.OwnerOf(problem_order[10 + i])->spec.name);
  }
  EXPECT_EQ(data.at("incomplete"), false);
}

TEST(ClusterQueryMergeTest, MembersToAskAreOwnersParticipantsAndDrainingMembers) {
  auto view = ThreeMembers();
  view.members[1].state = cluster::MemberState::kViewer;
  for (auto& owner : view.bucket_owner) {
    if (owner == 1) owner = 0;
  }
  view.members[2].state = cluster::MemberState::kDraining;
  EXPECT_EQ(MembersToAsk(view), (std::vector<std::size_t>{0, 2}));
  view.members[1].state = cluster::MemberState::kFenced;
  view.bucket_owner[0] = 1;  // still owns one bucket: it is asked for those hosts
  EXPECT_EQ(MembersToAsk(view), (std::vector<std::size_t>{0, 1, 2}));
}

}  // namespace
}  // namespace fleetps::collector
