// Lint of the shipped Grafana dashboards and Prometheus rules (dashboards/): every PromQL
// expression may only name metrics of fleetps::collector::kMetricCatalog, series Prometheus
// generates itself, or series our recording rules define; every datasource is the dashboard's
// `datasource` variable; panel ids are unique; every `$variable` is defined.

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>
#include <boost/json.hpp>

#include "fleetps/collector/fleet/metric_catalog.hpp"

namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

const fs::path kDashboards = fs::path(FLEETPS_SOURCE_DIR) / "dashboards";

bool IsIdentStart(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':';
}
bool IsIdentChar(char c) { return IsIdentStart(c) || std::isdigit(static_cast<unsigned char>(c)); }

// Index just past the quoted string that starts at `i`.
std::size_t SkipString(std::string_view e, std::size_t i) {
  const char quote = e[i++];
  while (i < e.size() && e[i] != quote) {
    if (e[i] == '\\' && quote != '`') ++i;
    ++i;
  }
  return std::min(i + 1, e.size());
}

// Index just past the balanced group (`{...}`, `[...]`, `(...)`) that starts at `i`.
std::size_t SkipGroup(std::string_view e, std::size_t i) {
  const char open = e[i];
  const char close = open == '{' ? '}' : open == '[' ? ']' : ')';
  int depth = 0;
  while (i < e.size()) {
    const char c = e[i];
    if (c == '"' || c == '\'' || c == '`') {
      i = SkipString(e, i);
      continue;
    }
    if (c == open) ++depth;
    if (c == close && --depth == 0) return i + 1;
    ++i;
  }
  return i;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The metric names a PromQL expression selects. Skips strings, label matchers `{...}`, ranges
// and durations `[...]`, numbers, Grafana variables, function and aggregation names (an
// identifier followed by `(`), keywords, and the label lists of by/without/on/ignoring/group_*.
std::vector<std::string> MetricNames(std::string_view e) {
  static const std::set<std::string, std::less<>> kLabelListKeywords = {
      "by", "without", "on", "ignoring", "group_left", "group_right"};
  static const std::set<std::string, std::less<>> kKeywords = {"and",    "or",    "unless", "bool",
                                                               "offset", "atan2", "inf",    "nan"};
  std::vector<std::string> names;
  std::size_t i = 0;
  while (i < e.size()) {
    const char c = e[i];
    if (c == '"' || c == '\'' || c == '`') {
      i = SkipString(e, i);
    } else if (c == '{' || c == '[') {
      i = SkipGroup(e, i);
    } else if (c == '#') {
      while (i < e.size() && e[i] != '\n') ++i;
    } else if (c == '$') {
      ++i;
      if (i < e.size() && e[i] == '{') {
        i = SkipGroup(e, i);
      } else {
        while (i < e.size() && IsIdentChar(e[i])) ++i;
      }
    } else if (std::isdigit(static_cast<unsigned char>(c)) || c == '.') {
      while (i < e.size() && (IsIdentChar(e[i]) || e[i] == '.')) ++i;
    } else if (IsIdentStart(c)) {
      const std::size_t start = i;
      while (i < e.size() && IsIdentChar(e[i])) ++i;
      const std::string word = Lower(e.substr(start, i - start));
      std::size_t next = i;
      while (next < e.size() && std::isspace(static_cast<unsigned char>(e[next]))) ++next;
      std::size_t word_end = next;
      while (word_end < e.size() && IsIdentChar(e[word_end])) ++word_end;
      const std::string next_word = Lower(e.substr(next, word_end - next));
      // `f(`, and `sum by (...) (` / `sum without (...) (`: a function or an aggregation.
      const bool call =
          (next < e.size() && e[next] == '(') || next_word == "by" || next_word == "without";
      if (kLabelListKeywords.contains(word)) {
        if (call) i = SkipGroup(e, next);
      } else if (!call && !kKeywords.contains(word)) {
        names.emplace_back(e.substr(start, i - start));
      }
    } else {
      ++i;
    }
  }
  return names;
}

// The `$name` / `${name}` / `${name:format}` variables an expression uses.
std::vector<std::string> Variables(std::string_view e) {
  std::vector<std::string> vars;
  for (std::size_t i = 0; i < e.size(); ++i) {
    if (e[i] != '$') continue;
    std::size_t start = i + 1;
    const bool braced = start < e.size() && e[start] == '{';
    if (braced) ++start;
    std::size_t end = start;
    while (end < e.size() && IsIdentChar(e[end]) && e[end] != ':') ++end;
    if (end > start) vars.emplace_back(e.substr(start, end - start));
    i = end - 1;
  }
  return vars;
}

// The PromQL inside a Grafana Prometheus variable query: `label_values(EXPR, label)` -> EXPR,
// `query_result(EXPR)` -> EXPR; `label_values(label)`, `label_names()`, `metrics(...)` -> "".
std::string VariableQueryExpr(std::string_view q) {
  auto strip = [&q](std::string_view prefix) {
    if (!q.starts_with(prefix) || !q.ends_with(")")) return false;
    q = q.substr(prefix.size(), q.size() - prefix.size() - 1);
    return true;
  };
  while (!q.empty() && std::isspace(static_cast<unsigned char>(q.front()))) q.remove_prefix(1);
  while (!q.empty() && std::isspace(static_cast<unsigned char>(q.back()))) q.remove_suffix(1);
  if (strip("query_result(")) return std::string(q);
  if (!strip("label_values(")) return {};
  // The last top-level comma separates the label name.
  std::size_t comma = std::string_view::npos;
  for (std::size_t i = 0; i < q.size();) {
    if (q[i] == '{' || q[i] == '[' || q[i] == '(') {
      i = SkipGroup(q, i);
    } else if (q[i] == '"' || q[i] == '\'' || q[i] == '`') {
      i = SkipString(q, i);
    } else {
      if (q[i] == ',') comma = i;
      ++i;
    }
  }
  return comma == std::string_view::npos ? std::string() : std::string(q.substr(0, comma));
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Names the recording rules of dashboards/prometheus/rules define.
std::set<std::string, std::less<>> RecordedNames() {
  std::set<std::string, std::less<>> names;
  for (const auto& entry : fs::directory_iterator(kDashboards / "prometheus" / "rules")) {
    const YAML::Node file = YAML::LoadFile(entry.path().string());
    for (const auto& group : file["groups"]) {
      for (const auto& rule : group["rules"]) {
        if (rule["record"]) names.insert(rule["record"].as<std::string>());
      }
    }
  }
  return names;
}

bool KnownMetric(std::string_view name) {
  static const std::set<std::string, std::less<>> kPrometheusGenerated = {
      "up",
      "scrape_duration_seconds",
      "scrape_samples_scraped",
      "scrape_samples_post_metric_relabeling",
      "scrape_series_added",
      "ALERTS",
      "ALERTS_FOR_STATE"};
  static const std::set<std::string, std::less<>> kRecorded = RecordedNames();
  if (kPrometheusGenerated.contains(name) || kRecorded.contains(name)) return true;
  for (const auto& metric : fleetps::collector::kMetricCatalog) {
    if (metric.name == name) return true;
    // Histograms and summaries expose suffixed series.
    const bool plain = metric.type == fleetps::collector::MetricType::kGauge ||
                       metric.type == fleetps::collector::MetricType::kCounter ||
                       metric.type == fleetps::collector::MetricType::kInfo;
    if (!plain && name.starts_with(metric.name)) {
      const std::string_view suffix = name.substr(metric.name.size());
      if (suffix == "_bucket" || suffix == "_sum" || suffix == "_count") return true;
    }
  }
  return false;
}

void CheckExpr(std::string_view where, std::string_view expr, std::vector<std::string>& problems) {
  if (expr.empty()) problems.push_back(std::string(where) + ": empty expression");
  for (const std::string& name : MetricNames(expr)) {
    if (!KnownMetric(name)) {
      problems.push_back(std::string(where) + ": unknown metric " + name +
                         " in: " + std::string(expr));
    }
  }
}

bool IsDatasourceVariable(const json::value& ds) {
  auto is_var = [](std::string_view s) { return s == "${datasource}" || s == "$datasource"; };
  if (ds.is_string()) return is_var(ds.as_string());
  if (!ds.is_object()) return false;
  const json::value* uid = ds.as_object().if_contains("uid");
  return uid != nullptr && uid->is_string() && is_var(uid->as_string());
}

// Every "datasource" anywhere in the dashboard must be the variable.
void CheckDatasources(const json::value& v, const std::string& path,
                      std::vector<std::string>& problems) {
  if (v.is_object()) {
    for (const auto& [key, child] : v.as_object()) {
      const std::string child_path = path + "." + std::string(key);
      if (key == "datasource" && !IsDatasourceVariable(child)) {
        problems.push_back(child_path +
                           ": datasource is not ${datasource}: " + json::serialize(child));
      }
      CheckDatasources(child, child_path, problems);
    }
  } else if (v.is_array()) {
    for (std::size_t i = 0; i < v.as_array().size(); ++i) {
      CheckDatasources(v.as_array()[i], path + "[" + std::to_string(i) + "]", problems);
    }
  }
}

std::string Str(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

// All problems of one dashboard's JSON text; empty when it passes.
std::vector<std::string> CheckDashboard(std::string_view text) {
  std::vector<std::string> problems;
  boost::system::error_code ec;
  const json::value doc = json::parse(text, ec);
  if (ec || !doc.is_object()) return {"not a JSON object: " + ec.message()};
  const json::object& dash = doc.as_object();
  if (Str(dash, "uid").empty()) problems.push_back("no uid");
  if (Str(dash, "title").empty()) problems.push_back("no title");
  const json::value* schema = dash.if_contains("schemaVersion");
  if (schema == nullptr || !schema->is_int64() || schema->as_int64() < 36) {
    problems.push_back("schemaVersion missing or older than 36 (Grafana 9)");
  }
  CheckDatasources(doc, "$", problems);

  // Variables: a datasource variable, and the names panels may use.
  std::set<std::string, std::less<>> defined = {"__rate_interval", "__interval", "__interval_ms",
                                                "__range",         "__range_s",  "__range_ms"};
  bool has_datasource_var = false;
  if (const json::value* templating = dash.if_contains("templating"); templating != nullptr) {
    for (const auto& var : templating->as_object().at("list").as_array()) {
      const json::object& v = var.as_object();
      const std::string name = Str(v, "name");
      defined.insert(name);
      if (name == "datasource" && Str(v, "type") == "datasource" &&
          Str(v, "query") == "prometheus") {
        has_datasource_var = true;
      }
      if (Str(v, "type") != "query") continue;
      std::string query = Str(v, "definition");
      if (const json::value* q = v.if_contains("query"); q != nullptr) {
        query = q->is_string() ? std::string(q->as_string()) : Str(q->as_object(), "query");
      }
      CheckExpr("variable " + name, VariableQueryExpr(query), problems);
    }
  }
  if (!has_datasource_var)
    problems.push_back("no `datasource` variable of type datasource (prometheus)");

  // Panels, including those nested in collapsed rows.
  std::set<std::int64_t> ids;
  std::vector<const json::object*> panels;
  if (const json::value* top = dash.if_contains("panels"); top != nullptr) {
    for (const auto& p : top->as_array()) {
      panels.push_back(&p.as_object());
      if (const json::value* nested = p.as_object().if_contains("panels"); nested != nullptr) {
        for (const auto& n : nested->as_array()) panels.push_back(&n.as_object());
      }
    }
  }
  if (panels.empty()) problems.push_back("no panels");
  for (const json::object* panel : panels) {
    const std::string title = "panel \"" + Str(*panel, "title") + "\"";
    const json::value* id = panel->if_contains("id");
    if (id == nullptr || !id->is_int64()) {
      problems.push_back(title + ": no numeric id");
    } else if (!ids.insert(id->as_int64()).second) {
      problems.push_back(title + ": duplicate panel id " + std::to_string(id->as_int64()));
    }
    if (Str(*panel, "type") == "row") continue;
    const json::value* targets = panel->if_contains("targets");
    if (targets == nullptr || !targets->is_array() || targets->as_array().empty()) {
      problems.push_back(title + ": no targets");
      continue;
    }
    for (const auto& target : targets->as_array()) {
      const std::string expr = Str(target.as_object(), "expr");
      CheckExpr(title, expr, problems);
      for (const std::string& var : Variables(expr)) {
        if (!defined.contains(var)) problems.push_back(title + ": undefined variable $" + var);
      }
    }
  }
  return problems;
}

std::vector<fs::path> ShippedDashboards() {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(kDashboards / "grafana")) {
    if (entry.path().extension() == ".json") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::string Joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& line : lines) out += line + "\n";
  return out;
}

bool Mentions(const std::vector<std::string>& problems, std::string_view what) {
  return std::any_of(problems.begin(), problems.end(),
                     [&](const std::string& p) { return p.find(what) != std::string::npos; });
}

// ---- the tokenizer -------------------------------------------------------------------------

TEST(PromqlMetricNames, SkipsFunctionsLabelsStringsAndDurations) {
  EXPECT_EQ(
      MetricNames(R"(sum by (host, le) (rate(foo_total{job="x", a=~"b|c"}[5m] offset 1h)))"
                  R"( / on (host) group_left(os) bar_info * 2 and ignoring(x) baz > bool 1e3)"),
      (std::vector<std::string>{"foo_total", "bar_info", "baz"}));
  EXPECT_EQ(MetricNames(R"q(label_replace(vector(1), "dst", "up", "src", "(.*)") or time())q"),
            std::vector<std::string>{});
  EXPECT_EQ(MetricNames(R"(max_over_time(a:recorded[1h:1m]) unless sum(b) without (c) @ start())"),
            (std::vector<std::string>{"a:recorded", "b"}));
  EXPECT_EQ(MetricNames("histogram_quantile(0.99, sum by (le) (rate(h_bucket[5m])))  # comment up"),
            std::vector<std::string>{"h_bucket"});
  EXPECT_EQ(MetricNames(R"(count(x{label="}{\"[5m]"}) BY (y) AND z)"),
            (std::vector<std::string>{"x", "z"}));
}

TEST(PromqlMetricNames, SkipsGrafanaVariables) {
  EXPECT_EQ(MetricNames(R"(rate(x{host=~"$host"}[$__rate_interval]) * $factor + ${other:raw})"),
            std::vector<std::string>{"x"});
  EXPECT_EQ(Variables(R"(x{host=~"$host", g="${group:regex}"}[$__rate_interval])"),
            (std::vector<std::string>{"host", "group", "__rate_interval"}));
}

TEST(PromqlMetricNames, VariableQueries) {
  EXPECT_EQ(VariableQueryExpr(R"(label_values(fleetps_up{a="x,y"}, host))"),
            R"(fleetps_up{a="x,y"})");
  EXPECT_EQ(VariableQueryExpr("label_values(host)"), "");
  EXPECT_EQ(VariableQueryExpr("query_result(topk(5, foo))"), "topk(5, foo)");
}

// ---- the shipped files ---------------------------------------------------------------------

TEST(DashboardLint, ShippedDashboardsPass) {
  const auto files = ShippedDashboards();
  EXPECT_EQ(files.size(), 4u);
  std::set<std::string> uids;
  for (const auto& file : files) {
    const std::string text = ReadFile(file);
    EXPECT_EQ(CheckDashboard(text), std::vector<std::string>{}) << file;
    uids.insert(std::string(json::parse(text).as_object().at("uid").as_string()));
  }
  EXPECT_EQ(uids.size(), files.size()) << "dashboard uids must be unique";
}

TEST(DashboardLint, ShippedRulesReferenceKnownMetrics) {
  int exprs = 0;
  std::vector<std::string> problems;
  for (const auto& entry : fs::directory_iterator(kDashboards / "prometheus" / "rules")) {
    const YAML::Node file = YAML::LoadFile(entry.path().string());
    for (const auto& group : file["groups"]) {
      for (const auto& rule : group["rules"]) {
        const std::string name =
            rule["alert"] ? rule["alert"].as<std::string>() : rule["record"].as<std::string>();
        CheckExpr(entry.path().filename().string() + " " + name, rule["expr"].as<std::string>(),
                  problems);
        ++exprs;
      }
    }
  }
  EXPECT_GE(exprs, 6);
  EXPECT_EQ(problems, std::vector<std::string>{});
}

// ---- the lint catches what it should: planted mistakes in a copy of a shipped dashboard -----

json::object ShippedOverview() {
  return json::parse(ReadFile(kDashboards / "grafana" / "fleet-overview.json")).as_object();
}

json::object& FirstQueryPanel(json::object& dash) {
  for (auto& p : dash.at("panels").as_array()) {
    if (p.as_object().at("type").as_string() != "row") return p.as_object();
  }
  throw std::runtime_error("no query panel");
}

TEST(DashboardLint, PlantedUnknownMetricFails) {
  json::object dash = ShippedOverview();
  FirstQueryPanel(dash).at("targets").as_array()[0].as_object()["expr"] =
      R"(sum(rate(fleetps_probe_duration_secnds{host=~"$host"}[$__rate_interval])))";
  const auto problems = CheckDashboard(json::serialize(dash));
  EXPECT_TRUE(Mentions(problems, "unknown metric fleetps_probe_duration_secnds"))
      << Joined(problems);
  EXPECT_EQ(problems.size(), 1u) << Joined(problems);
}

TEST(DashboardLint, PlantedUnknownMetricInVariableFails) {
  json::object dash = ShippedOverview();
  for (auto& var : dash.at("templating").as_object().at("list").as_array()) {
    if (var.as_object().at("name").as_string() == "host") {
      var.as_object()["query"].as_object()["query"] = "label_values(fleetps_upp, host)";
    }
  }
  EXPECT_TRUE(Mentions(CheckDashboard(json::serialize(dash)), "unknown metric fleetps_upp"));
}

TEST(DashboardLint, PlantedDuplicatePanelIdFails) {
  json::object dash = ShippedOverview();
  auto& panels = dash.at("panels").as_array();
  panels[2].as_object()["id"] = panels[1].as_object().at("id");
  EXPECT_TRUE(Mentions(CheckDashboard(json::serialize(dash)), "duplicate panel id"));
}

TEST(DashboardLint, PlantedFixedDatasourceFails) {
  json::object dash = ShippedOverview();
  FirstQueryPanel(dash).at("targets").as_array()[0].as_object()["datasource"] =
      json::object{{"type", "prometheus"}, {"uid", "P1809F7CD0C75ACF3"}};
  EXPECT_TRUE(Mentions(CheckDashboard(json::serialize(dash)), "datasource is not ${datasource}"));
}

TEST(DashboardLint, PlantedUndefinedVariableFails) {
  json::object dash = ShippedOverview();
  FirstQueryPanel(dash).at("targets").as_array()[0].as_object()["expr"] =
      R"(sum(fleetps_up{host=~"$hots"}))";
  EXPECT_TRUE(Mentions(CheckDashboard(json::serialize(dash)), "undefined variable $hots"));
}

TEST(DashboardLint, InvalidJsonFails) {
  EXPECT_TRUE(Mentions(CheckDashboard(R"({"panels": [})"), "not a JSON object"));
}

}  // namespace
