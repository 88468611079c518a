#include "fleetps/collector/api/web_ui.hpp"

#include <sys/random.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <map>
#include <optional>
#include <span>
#include <tuple>
#include <utility>

#include "fleetps/agent/algorithms.hpp"
#include "fleetps/collector/api/params.hpp"
#include "fleetps/collector/cluster/static_membership.hpp"
#include "fleetps/collector/query/nodeset_fold.hpp"
#include "fleetps/collector/query/query.hpp"
#include "fleetps/collector/query/text.hpp"

namespace fleetps::collector {
namespace {

namespace http = boost::beast::http;
using Clock = std::chrono::system_clock;

// Rows of a host's process table and of the query page unless `limit` says otherwise.
constexpr std::string_view kTableLimit = "500";
// Listening sockets shown on a host's page.
constexpr std::size_t kSocketRows = 1000;

std::string Age(Clock::duration d) {
  const auto s =
      std::max<long long>(0, std::chrono::duration_cast<std::chrono::seconds>(d).count());
  char buf[32];
  if (s < 120) {
    std::snprintf(buf, sizeof buf, "%llds", s);
  } else if (s < 7200) {
    std::snprintf(buf, sizeof buf, "%lldm", s / 60);
  } else if (s < 172800) {
    std::snprintf(buf, sizeof buf, "%lldh", s / 3600);
  } else {
    std::snprintf(buf, sizeof buf, "%lldd", s / 86400);
  }
  return buf;
}

std::string UtcTime(Clock::time_point t) {
  const std::time_t seconds = Clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

std::string BytesText(std::optional<double> bytes) {
  if (!bytes) return "-";
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = *bytes;
  std::size_t unit = 0;
  while (v >= 1024 && unit + 1 < std::size(kUnits)) {
    v /= 1024;
    ++unit;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, unit == 0 ? "%.0f %s" : "%.1f %s", v, kUnits[unit]);
  return buf;
}

std::string NumberText(std::optional<double> v, const char* format = "%.0f") {
  if (!v || !std::isfinite(*v)) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, format, *v);
  return buf;
}

// A cell: <td>escaped text</td>, or with a class.
void Cell(std::string& out, std::string_view text, std::string_view css = {}) {
  out += css.empty() ? "<td>" : "<td class=\"";
  if (!css.empty()) out.append(css).append("\">");
  out += HtmlEscape(text);
  out += "</td>";
}

// `<a href="URL">text</a>`; `url` must already be percent-encoded where it holds data.
std::string Link(std::string_view url, std::string_view text) {
  std::string out = "<a href=\"";
  out.append(HtmlEscape(url)).append("\">").append(HtmlEscape(text)).append("</a>");
  return out;
}

std::string HostUrl(std::string_view host) {
  std::string url = "/hosts/";
  return url.append(PercentEncode(host));
}

constexpr std::string_view kStyle = R"(
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#1b1f23;background:#fff}
header{background:#24292f;color:#fff;padding:.5rem 1.2rem;display:flex;gap:1.2rem;align-items:baseline}
header a{color:#fff;text-decoration:none}header b{font-size:1.1rem}
main{padding:1rem 1.2rem}
h1{font-size:1.3rem;margin:.2rem 0 .6rem}h2{font-size:1.05rem;margin:1.2rem 0 .4rem}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.2rem .5rem;border-bottom:1px solid #e1e4e8;vertical-align:top}
th{background:#f6f8fa;position:sticky;top:0;white-space:nowrap}
th a{color:inherit}
td.num{text-align:right;font-variant-numeric:tabular-nums}
td.args{font-family:ui-monospace,monospace;font-size:90%;max-width:40em;overflow:hidden;
text-overflow:ellipsis;white-space:nowrap}
td{white-space:nowrap}.why{white-space:normal}
.counts a{display:inline-block;margin:0 .4rem .4rem 0;padding:.15rem .5rem;border-radius:1rem;
background:#f6f8fa;border:1px solid #d0d7de;color:inherit;text-decoration:none}
.counts a.on{border-color:#0969da;background:#ddf4ff}
form.filter{display:flex;flex-wrap:wrap;gap:.5rem;align-items:center;margin:.4rem 0 .8rem}
input,select,button{font:inherit;padding:.15rem .35rem}
input[name=q]{width:min(60rem,90%);font-family:ui-monospace,monospace}
.state{font-weight:600;white-space:nowrap}
.ready{color:#1a7f37}.connecting,.fingerprinting{color:#9a6700}
.backoff,.circuit_open,.quarantined,.hostkey_changed{color:#cf222e}
tr.problem{background:#fff5f5}
.why{font-size:85%;color:#57606a;max-width:40em}
.stale{color:#9a6700;font-weight:600}
.weak{color:#cf222e;font-weight:600}
.error{background:#ffebe9;border:1px solid #ff8182;padding:.4rem .6rem;white-space:pre;
font-family:ui-monospace,monospace}
dl.facts{display:grid;grid-template-columns:max-content auto;gap:.15rem 1rem}
dl.facts dt{color:#57606a}dl.facts dd{margin:0}
.muted{color:#57606a}
#events li{font-family:ui-monospace,monospace;font-size:90%}
)";

// The one script of every page. It never holds host data: it reads the page's parameters from
// data-* attributes, fetches JSON from this origin and writes text with textContent only.
constexpr std::string_view kScript = R"JS(
(function () {
  'use strict';
  var body = document.body;
  function el(tag, css, text) {
    var e = document.createElement(tag);
    if (css) e.className = css;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function age(s) {
    if (s === undefined || s === null) return '';
    s = Math.max(0, Math.round(s));
    if (s < 120) return s + 's';
    if (s < 7200) return Math.floor(s / 60) + 'm';
    if (s < 172800) return Math.floor(s / 3600) + 'h';
    return Math.floor(s / 86400) + 'd';
  }
  var live = document.getElementById('live');
  function note(text) { if (live) live.textContent = text; }

  if (body.dataset.view === 'fleet') {
    var form = document.getElementById('filter');
    var rows = document.getElementById('hosts');
    var pager = document.getElementById('pager');
    var sort = body.dataset.sort || '';
    var page = Number(body.dataset.pageNumber || '1');
    var perPage = body.dataset.perPage;
    var timer = null;
    function params() {
      var p = new URLSearchParams();
      new FormData(form).forEach(function (v, k) { if (v !== '') p.set(k, v); });
      if (sort) p.set('sort', sort);
      if (page > 1) p.set('page', String(page));
      return p;
    }
    function row(h) {
      var tr = el('tr', h.ui_state === 'ready' && !h.stale ? '' : 'problem');
      var name = el('td');
      var a = el('a', '', h.host);
      a.href = '/hosts/' + encodeURIComponent(h.host);
      name.appendChild(a);
      tr.appendChild(name);
      tr.appendChild(el('td', '', h.address + ':' + h.port));
      var st = el('td', 'state ' + h.ui_state, h.ui_state);
      if (h.down_reason_text) st.appendChild(el('div', 'why', h.down_reason_text));
      tr.appendChild(st);
      tr.appendChild(el('td', '', age(h.state_age_seconds)));
      tr.appendChild(el('td', '', h.retry_in_seconds === undefined ? '' : 'in ' + age(h.retry_in_seconds)));
      tr.appendChild(el('td', '', h.dialect || ''));
      var ch = el('td', '', h.channel || '');
      if (h.channel_fallback) ch.appendChild(el('div', 'why', h.channel_fallback));
      tr.appendChild(ch);
      var good = el('td', '', h.last_good_probe_age_seconds === undefined ? 'never' : age(h.last_good_probe_age_seconds) + ' ago');
      if (h.stale) good.appendChild(el('span', 'stale', ' stale'));
      tr.appendChild(good);
      tr.appendChild(el('td', 'num', h.processes === undefined ? '' : h.processes));
      tr.appendChild(el('td', 'weak', (h.weak_algorithms || []).map(function (w) { return w.list + ':' + w.algorithm; }).join(',')));
      return tr;
    }
    function link(text, p) {
      var a = el('a', '', text);
      a.href = '?' + p.toString();
      return a;
    }
    function render(doc) {
      var d = doc.data;
      rows.replaceChildren.apply(rows, d.hosts.map(row));
      document.querySelectorAll('.counts a[data-state]').forEach(function (a) {
        var n = d.counts[a.dataset.state];
        a.querySelector('.n').textContent = String(n === undefined ? 0 : n);
      });
      var total = document.querySelector('.counts .total');
      if (total) total.textContent = String(d.total);
      var parts = [el('span', '', 'page ' + d.page + ' of ' + d.pages + ', ' + d.matched + ' of ' + d.total + ' hosts ')];
      var p = params();
      if (d.page > 1) { p.set('page', String(d.page - 1)); parts.push(link('previous', p)); }
      if (d.page < d.pages) { p.set('page', String(d.page + 1)); parts.push(link('next', p)); }
      pager.replaceChildren.apply(pager, parts);
      note('live, updated ' + new Date().toLocaleTimeString());
    }
    function refresh() {
      var p = params();
      history.replaceState(null, '', p.toString() ? '?' + p.toString() : location.pathname);
      p.set('per_page', perPage);
      if (!sort) p.set('sort', 'problem');
      fetch('/api/v1/hosts?' + p.toString(), { headers: { Accept: 'application/json' } })
        .then(function (r) { return r.json(); })
        .then(function (doc) {
          if (doc.status !== 'ok') { note('filter: ' + doc.error.message); return; }
          render(doc);
        })
        .catch(function (e) { note('update failed: ' + e); });
    }
    form.addEventListener('input', function () {
      clearTimeout(timer);
      timer = setTimeout(function () { page = 1; refresh(); }, 200);
    });
    form.addEventListener('submit', function (e) { e.preventDefault(); page = 1; refresh(); });
    document.querySelector('thead').addEventListener('click', function (e) {
      var a = e.target.closest('a[data-column]');
      if (!a) return;
      e.preventDefault();
      var c = a.dataset.column;
      sort = sort === c ? '-' + c : c;
      page = 1;
      refresh();
    });
    setInterval(refresh, 5000);
  }

  if (body.dataset.view === 'host') {
    var list = document.getElementById('events');
    var source = new EventSource('/api/v1/events?host=' + encodeURIComponent(body.dataset.host));
    function add(kind, e) {
      var d = JSON.parse(e.data);
      var words = [new Date().toLocaleTimeString(), kind];
      ['state', 'probe', 'status', 'reason', 'epoch', 'seq', 'processes', 'listening'].forEach(function (k) {
        if (d[k] !== undefined) words.push(k + '=' + d[k]);
      });
      list.insertBefore(el('li', '', words.join(' ')), list.firstChild);
      while (list.children.length > 50) list.removeChild(list.lastChild);
      note('following events');
    }
    source.addEventListener('host_state', function (e) { add('host_state', e); });
    source.addEventListener('probe', function (e) { add('probe', e); });
    source.onerror = function () { note('event stream interrupted; retrying'); };
  }
})();
)JS";

void Head(std::string& out, std::string_view title, std::string_view nonce) {
  out += "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">";
  out += "<meta name=\"viewport\" content=\"width=device-width\"><title>";
  out += HtmlEscape(title);
  out += " - fleetps</title><style nonce=\"";
  out += nonce;
  out += "\">";
  out += kStyle;
  out += "</style></head>\n";
}

// The body's opening tag carries the page's data for the script, then the navigation.
void BodyStart(std::string& out, std::string_view data_attributes) {
  out += "<body ";
  out += data_attributes;
  out +=
      "><header><b>fleetps</b><a href=\"/\">fleet</a><a href=\"/query\">query</a>"
      "<a href=\"/metrics\">/metrics</a><a href=\"/api/v1/hosts\">/api/v1/hosts</a>"
      "<span id=\"live\" class=\"muted\"></span></header>\n<main>";
}

void End(std::string& out, std::string_view nonce) {
  out += "</main><script nonce=\"";
  out += nonce;
  out += "\">";
  out += kScript;
  out += "</script></body></html>\n";
}

std::string Attribute(std::string_view name, std::string_view value) {
  std::string out(name);
  out.append("=\"").append(HtmlEscape(value)).append("\" ");
  return out;
}

std::string ErrorBox(const QueryParamError& error) {
  std::string out = "<div class=\"error\" role=\"alert\">";
  out += HtmlEscape(error.ToString());
  out += "</div>";
  return out;
}

// ---- the fleet --------------------------------------------------------------------------------

const FleetListOptions& FleetPageDefaults() {
  static const FleetListOptions kDefaults = [] {
    FleetListOptions o;
    o.sort = "problem";
    o.per_page = kFleetPageRows;
    return o;
  }();
  return kDefaults;
}

void FleetRow(std::string& out, const FleetEntry& entry, Clock::time_point now) {
  const HostView& view = *entry.view;
  const bool problem = entry.state != "ready" || entry.stale;
  out += problem ? "<tr class=\"problem\">" : "<tr>";
  out += "<td>" + Link(HostUrl(view.spec.name), view.spec.name) + "</td>";
  Cell(out, view.spec.address + ":" + std::to_string(view.spec.port));
  out += "<td class=\"state ";
  out.append(entry.state).append("\">").append(entry.state);
  if (!view.Up()) {
    out += "<div class=\"why\">" + HtmlEscape(ReasonInWords(DownReason(view))) + "</div>";
  }
  out += "</td>";
  Cell(out, view.status ? Age(now - view.status->since) : "");
  const auto retry = NextRetry(view);
  Cell(out, retry ? "in " + Age(*retry - now) : "");
  Cell(out, view.status && view.status->dialect ? probes::DialectName(*view.status->dialect) : "");
  out += "<td>";
  if (view.status) out += agent::ChannelModeName(view.status->channel);
  if (view.status && !view.status->channel_fallback.empty()) {
    out += "<div class=\"why\">" + HtmlEscape(view.status->channel_fallback) + "</div>";
  }
  out += "</td><td>";
  out += view.snapshot ? Age(now - view.snapshot_time) + " ago" : std::string("never");
  if (entry.stale) out += "<span class=\"stale\"> stale</span>";
  out += "</td>";
  Cell(out, view.snapshot ? std::to_string(view.snapshot->processes.size()) : "", "num");
  std::string weak;
  if (view.status) {
    for (const auto& w : view.status->weak_algorithms) {
      if (!weak.empty()) weak += ',';
      weak.append(agent::AlgorithmKindKey(w.kind)).append(":").append(w.name);
    }
  }
  Cell(out, weak, "weak");
  out += "</tr>\n";
}

void Option(std::string& out, std::string_view value, std::string_view label, bool selected) {
  out += "<option value=\"" + HtmlEscape(value) + "\"" + (selected ? " selected" : "") + ">" +
         HtmlEscape(label) + "</option>";
}

}  // namespace

std::string HtmlEscape(std::string_view text) {
  const std::string safe = LabelSafe(text);
  std::string out;
  out.reserve(safe.size());
  for (const char c : safe) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string NewNonce() {
  std::array<unsigned char, 16> bytes{};
  std::size_t got = 0;
  while (got < bytes.size()) {
    const ssize_t n = getrandom(bytes.data() + got, bytes.size() - got, 0);
    if (n > 0) got += static_cast<std::size_t>(n);
  }
  static constexpr char kBase64[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (std::size_t i = 0; i + 2 < bytes.size(); i += 3) {
    const unsigned v = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    for (int shift = 18; shift >= 0; shift -= 6) out += kBase64[(v >> shift) & 63];
  }
  const unsigned last = bytes[15];  // 16 = 5*3 + 1 bytes: two characters and padding
  out += kBase64[last >> 2];
  out += kBase64[(last & 3) << 4];
  out += "==";
  return out;
}

std::string ContentSecurityPolicy(std::string_view nonce) {
  std::string csp = "default-src 'none'; script-src 'nonce-";
  csp.append(nonce).append("'; style-src 'nonce-").append(nonce);
  csp +=
      "'; connect-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; "
      "frame-ancestors 'none'";
  return csp;
}

namespace {

// The members of this collector's cluster, this one marked; every text escaped.
void ClusterTable(std::string& out, const WebClusterSummary& cluster) {
  out += "<h2>Cluster " + HtmlEscape(cluster.name) + "</h2><p class=\"counts\">" +
         HtmlEscape(cluster.membership) + " membership, " + std::to_string(cluster.members.size()) +
         " members, " + std::to_string(cluster.orphaned_hosts) + " hosts without owner</p>\n";
  out +=
      "<table class=\"cluster\" id=\"cluster\"><thead><tr><th>member</th><th>state</th>"
      "<th>owned hosts</th><th>advertise</th></tr></thead><tbody>\n";
  for (const WebClusterMember& member : cluster.members) {
    out += "<tr>";
    Cell(out, member.self ? member.name + " (this collector)" : member.name);
    Cell(out, member.state);
    Cell(out, std::to_string(member.owned_hosts), "n");
    out += "<td>" + Link(member.advertise, member.advertise) + "</td></tr>\n";
  }
  out += "</tbody></table>\n";
}

}  // namespace

WebPage RenderFleetPage(const std::vector<std::shared_ptr<const HostView>>& hosts,
                        const std::set<std::string, std::less<>>& quarantined,
                        std::string_view encoded_query, Clock::time_point now,
                        std::string_view nonce, const WebClusterSummary* cluster) {
  WebPage page;
  const FleetListOptions& defaults = FleetPageDefaults();
  auto parsed = ParseFleetListQuery(encoded_query, defaults);
  std::string error;
  if (!parsed) {
    page.status = http::status::bad_request;
    error = ErrorBox(parsed.error());
  }
  const FleetListOptions options = parsed ? *parsed : defaults;
  const FleetList list = ListFleet(hosts, quarantined, options, now);
  const std::string sort = (options.descending ? "-" : "") + options.sort;

  std::string& out = page.html;
  out.reserve(4096 + list.rows.size() * 400);
  Head(out, "fleet", nonce);
  BodyStart(out, "data-view=\"fleet\" " + Attribute("data-sort", sort == "problem" ? "" : sort) +
                     Attribute("data-page-number", std::to_string(list.page)) +
                     Attribute("data-per-page", std::to_string(options.per_page)));
  out += "<h1>Fleet</h1>" + error + "<p class=\"counts\">";
  // Counts of the whole fleet, problems first; each a link to its filter.
  std::vector<std::pair<std::string, std::size_t>> states(list.states.begin(), list.states.end());
  for (const std::string_view known :
       {"hostkey_changed", "circuit_open", "quarantined", "backoff", "connecting", "ready"}) {
    if (!list.states.contains(known)) states.emplace_back(std::string(known), 0);
  }
  std::stable_sort(states.begin(), states.end(), [](const auto& a, const auto& b) {
    return ProblemRank(a.first) < ProblemRank(b.first);
  });
  const auto count_link = [&](std::string_view state, std::size_t n, std::string_view label) {
    FleetListOptions o = defaults;
    o.state = std::string(state);
    out += "<a href=\"?" + HtmlEscape(FleetListQueryString(o, defaults)) + "\" class=\"" +
           (options.state == state ? "on " : "") + HtmlEscape(state) + "\" data-state=\"" +
           HtmlEscape(state) + "\"><span class=\"n\">" + std::to_string(n) + "</span> " +
           HtmlEscape(label) + "</a>";
  };
  out += "<a href=\"/\"" + std::string(options.state.empty() ? " class=\"on\"" : "") +
         "><span class=\"total\">" + std::to_string(list.hosts) + "</span> hosts</a>";
  for (const auto& [state, n] : states) count_link(state, n, state);
  count_link("stale", list.stale, "stale data");
  out += "</p>\n";
  if (cluster != nullptr) ClusterTable(out, *cluster);

  // The filter form: a plain GET form, so filters work without the script.
  out += "<form class=\"filter\" id=\"filter\" method=\"get\" action=\"/\">";
  out += "<input type=\"search\" name=\"text\" placeholder=\"host, address, label, reason\" " +
         Attribute("value", options.text) + "aria-label=\"filter text\">";
  out += "<select name=\"state\" aria-label=\"state\">";
  Option(out, "", "any state", options.state.empty());
  Option(out, "problem", "any problem", options.state == "problem");
  for (const auto& [state, n] : states) Option(out, state, state, options.state == state);
  Option(out, "stale", "stale data", options.state == "stale");
  out += "</select><select name=\"dialect\" aria-label=\"dialect\">";
  Option(out, "", "any dialect", options.dialect.empty());
  for (const auto& dialect : list.dialects)
    Option(out, dialect, dialect, options.dialect == dialect);
  if (!options.dialect.empty() && !list.dialects.contains(options.dialect)) {
    Option(out, options.dialect, options.dialect, true);
  }
  out += "</select><input name=\"label\" placeholder=\"label NAME=VALUE\" " +
         Attribute("value", options.label) + "aria-label=\"label\">";
  // Sort and page size the form does not show, kept when it filters anew.
  if (sort != "problem") {
    out += "<input type=\"hidden\" name=\"sort\" " + Attribute("value", sort) + ">";
  }
  if (options.per_page != defaults.per_page) {
    out += "<input type=\"hidden\" name=\"per_page\" " +
           Attribute("value", std::to_string(options.per_page)) + ">";
  }
  out += "<button type=\"submit\">filter</button></form>\n";

  // Column headers: links that sort (again: the other direction).
  static constexpr std::pair<std::string_view, std::string_view> kColumns[] = {
      {"host", "host"},           {"address", "address"},
      {"state", "state"},         {"since", "since"},
      {"", "next retry"},         {"dialect", "dialect"},
      {"channel", "channel"},     {"last_probe", "last good probe"},
      {"processes", "processes"}, {"", "weak algorithms"}};
  out += "<table><thead><tr>";
  for (const auto& [column, label] : kColumns) {
    out += "<th>";
    if (column.empty()) {
      out += HtmlEscape(label);
    } else {
      FleetListOptions o = options;
      o.page = 1;
      o.descending = options.sort == column && !options.descending;
      o.sort = std::string(column);
      out += "<a data-column=\"";
      out.append(column)
          .append("\" href=\"?")
          .append(HtmlEscape(FleetListQueryString(o, defaults)));
      out.append("\">").append(label);
      if (options.sort == column) out += options.descending ? " \xE2\x96\xBC" : " \xE2\x96\xB2";
      out += "</a>";
    }
    out += "</th>";
  }
  out += "</tr></thead><tbody id=\"hosts\">\n";
  for (const FleetEntry& entry : list.rows) FleetRow(out, entry, now);
  out += "</tbody></table>\n<p id=\"pager\">page " + std::to_string(list.page) + " of " +
         std::to_string(list.pages) + ", " + std::to_string(list.matched) + " of " +
         std::to_string(list.hosts) + " hosts ";
  for (const auto& [delta, label] : {std::pair{-1, "previous"}, std::pair{1, "next"}}) {
    const std::size_t target = list.page + static_cast<std::size_t>(delta);
    if (target < 1 || target > list.pages) continue;
    FleetListOptions o = options;
    o.page = target;
    out += Link("?" + FleetListQueryString(o, defaults), label) + " ";
  }
  out += "</p>\n";
  End(out, nonce);
  return page;
}

// ---- one host ---------------------------------------------------------------------------------

namespace {

void Fact(std::string& out, std::string_view name, std::string_view escaped_value) {
  out.append("<dt>").append(name).append("</dt><dd>").append(escaped_value).append("</dd>");
}

// q, sort and limit of a process table (the host page and the query page).
struct TableQuery {
  std::string q, sort, limit;
};

boost::system::result<std::pair<TableQuery, ProcessQuery>, QueryParamError> ParseTableQuery(
    std::string_view encoded_query, TableQuery& raw) {
  static constexpr std::array<std::string_view, 3> kNames{"q", "sort", "limit"};
  auto values = DecodeQueryParams(encoded_query, kNames);
  if (!values) return values.error();
  if ((*values)[0]) raw.q = *(*values)[0];
  if ((*values)[1]) raw.sort = *(*values)[1];
  if ((*values)[2]) raw.limit = *(*values)[2];
  auto query = ParseProcessQuery(raw.q, raw.sort, raw.limit.empty() ? kTableLimit : raw.limit, "");
  if (!query) return query.error();
  return std::pair{raw, std::move(*query)};
}

// The rows `query` keeps, or nullopt when a regex hit its bound: then `page` is a 400 that
// says so.
std::optional<QueryResult> RunTableQuery(std::span<const QueryRow> rows, const ProcessQuery& query,
                                         WebPage& page) {
  auto result = RunQuery(rows, query.selector, query.sort, query.limit);
  if (result) return std::move(*result);
  page.status = http::status::bad_request;
  page.html += ErrorBox(QueryParamError{"q", result.error()});
  return std::nullopt;
}

void SelectorForm(std::string& out, std::string_view action, const TableQuery& raw) {
  out += "<form class=\"filter\" method=\"get\" action=\"" + HtmlEscape(action) + "\">";
  out += "<input name=\"q\" placeholder=\"{user=&quot;oracle&quot;, rss&gt;1GiB}\" " +
         Attribute("value", raw.q) + "aria-label=\"selector\">";
  out += "<input name=\"sort\" placeholder=\"-rss\" size=\"10\" " + Attribute("value", raw.sort) +
         "aria-label=\"sort\">";
  out += "<input name=\"limit\" placeholder=\"" + std::string(kTableLimit) + "\" size=\"6\" " +
         Attribute("value", raw.limit) + "aria-label=\"limit\">";
  out +=
      "<button type=\"submit\">query</button> <span class=\"muted\">selector grammar: "
      "docs/query.md</span></form>\n";
}

void ProcessRows(std::string& out, const QueryResult& result) {
  out +=
      "<table><thead><tr><th>pid</th><th>ppid</th><th>user</th><th>state</th><th>rss</th>"
      "<th>cpu</th><th>threads</th><th>fds</th><th>age</th><th>group</th><th>comm</th>"
      "<th>args</th></tr></thead><tbody id=\"processes\">\n";
  for (const QueryRow& row : result.rows) {
    const probes::ProcessRow& p = *row.process;
    out += "<tr>";
    Cell(out, std::to_string(p.pid), "num");
    Cell(out, std::to_string(p.ppid), "num");
    Cell(out, p.user);
    Cell(out, p.state);
    Cell(out, BytesText(NumericValue(row, Field::kRss)), "num");
    Cell(out, NumberText(NumericValue(row, Field::kCpu), "%.2f"), "num");
    Cell(out, NumberText(NumericValue(row, Field::kThreads)), "num");
    Cell(out, NumberText(NumericValue(row, Field::kFds)), "num");
    const auto age = NumericValue(row, Field::kAge);
    Cell(out, age ? Age(std::chrono::seconds(static_cast<long long>(*age))) : "-", "num");
    Cell(out, row.group.value_or(""));
    Cell(out, p.comm, "comm");
    Cell(out, p.args, "args");
    out += "</tr>\n";
  }
  out += "</tbody></table>\n";
}

std::string StateSpan(std::string_view state) {
  std::string out = "<span class=\"state ";
  out.append(state).append("\">").append(state).append("</span>");
  return out;
}

void HostFacts(std::string& out, const HostView& view, std::string_view state,
               Clock::time_point now) {
  const agent::HostStatus* status = view.status ? &*view.status : nullptr;
  out += "<dl class=\"facts\">";
  Fact(out, "state", StateSpan(state));
  if (!view.Up()) {
    const std::string reason = DownReason(view);
    Fact(out, "why",
         HtmlEscape(ReasonInWords(reason)) + " <span class=\"muted\">(" + HtmlEscape(reason) +
             ")</span>");
  }
  if (status && !status->detail.empty()) Fact(out, "detail", HtmlEscape(status->detail));
  if (status) Fact(out, "since", UtcTime(status->since) + " (" + Age(now - status->since) + ")");
  if (const auto retry = NextRetry(view)) {
    Fact(out, "next retry", UtcTime(*retry) + " (in " + Age(*retry - now) + ")");
  }
  Fact(out, "address", HtmlEscape(view.spec.address + ":" + std::to_string(view.spec.port)));
  std::string labels;
  for (const auto& [name, value] : view.spec.labels) {
    labels += HtmlEscape(name) + "=" + HtmlEscape(value) + " ";
  }
  if (!labels.empty()) Fact(out, "labels", labels);
  if (status && status->dialect) Fact(out, "dialect", probes::DialectName(*status->dialect));
  if (status) {
    std::string channel(agent::ChannelModeName(status->channel));
    if (!status->channel_fallback.empty()) {
      channel += " (" + HtmlEscape(status->channel_fallback) + ")";
    }
    Fact(out, "probe channel", channel);
  }
  Fact(out, "sessions", std::to_string(view.connects_total));
  std::string probe = "never";
  if (view.last_probe_status) {
    probe = std::string(agent::ProbeStatusName(*view.last_probe_status)) + ", " +
            Age(now - view.last_probe_finished) + " ago";
    if (!view.last_probe_failure.empty()) probe += " (" + view.last_probe_failure + ")";
  }
  Fact(out, "last probe", HtmlEscape(probe));
  std::string good =
      view.snapshot ? UtcTime(view.snapshot_time) + " (" + Age(now - view.snapshot_time) + " ago)"
                    : std::string("never");
  if (view.snapshot && now - view.snapshot_time > kStaleIntervals * view.spec.interval) {
    good += " <span class=\"stale\">stale: older than " + std::to_string(kStaleIntervals) +
            " probe intervals</span>";
  }
  Fact(out, "last good probe", good);
  if (status) {
    const agent::ServerInfo& s = status->server;
    if (!s.banner.empty()) Fact(out, "server", HtmlEscape(s.banner));
    if (!s.hostkey_fingerprint.empty()) {
      Fact(out, "host key", HtmlEscape(s.hostkey_type + " " + s.hostkey_fingerprint));
    }
    // Each negotiated algorithm, flagged when the session needs it although it is weak.
    const auto algorithm = [&](std::string_view name, std::string_view value) {
      if (value.empty()) return;
      std::string text = HtmlEscape(value);
      for (const auto& w : status->weak_algorithms) {
        if (w.name == value) {
          text += " <span class=\"weak\">weak: " + HtmlEscape(w.reason) + "</span>";
        }
      }
      Fact(out, name, text);
    };
    algorithm("key exchange", s.kex);
    algorithm("cipher", s.cipher);
    algorithm("mac", s.mac);
    algorithm("host key type", s.hostkey_type);
    algorithm("login key type", s.pubkey_type);
    if (!status->weak_algorithms.empty()) {
      std::string weak;
      for (const auto& w : status->weak_algorithms) {
        weak += "<div class=\"weak\">" + HtmlEscape(agent::AlgorithmKindKey(w.kind)) + ":" +
                HtmlEscape(w.name) + " <span class=\"muted\">" + HtmlEscape(w.reason) +
                "</span></div>";
      }
      Fact(out, "weak algorithms", weak);
    }
  }
  out += "</dl>\n";
}

// The host's recorded state changes, newest first, as list items of #events (the live script
// puts new events above them).
void StateChanges(std::string& out, const StateHistory& history, Clock::time_point now) {
  for (auto it = history.rbegin(); it != history.rend(); ++it) {
    const StateChange& change = *it;
    out += "<li class=\"change\">" + UtcTime(change.at) + " (" + Age(now - change.at) + " ago) ";
    out += StateSpan(ChangeUiState(change.from, change.from_hostkey_changed));
    out += " &rarr; " + StateSpan(ChangeUiState(change.to, change.to_hostkey_changed));
    const std::string_view reason = agent::ReasonName(change.reason);
    if (change.reason && !reason.empty()) {
      out += " " + HtmlEscape(ReasonInWords(reason)) + " <span class=\"muted\">(" +
             HtmlEscape(reason) + ")</span>";
    }
    if (!change.detail.empty()) out += "<div class=\"why\">" + HtmlEscape(change.detail) + "</div>";
    out += " <span class=\"muted\">session " + std::to_string(change.epoch) + "</span></li>\n";
  }
}

WebPage NotFound(std::string_view host, std::string_view nonce) {
  WebPage page;
  page.status = http::status::not_found;
  Head(page.html, "unknown host", nonce);
  BodyStart(page.html, "data-view=\"none\"");
  page.html += "<h1>Unknown host</h1><p>No host named <b>" + HtmlEscape(host) +
               "</b> is configured. <a href=\"/\">Back to the fleet</a></p>";
  End(page.html, nonce);
  return page;
}

}  // namespace

WebPage RenderHostPage(std::string_view host, const HostView* view, bool quarantined,
                       std::string_view encoded_query, Clock::time_point now,
                       std::string_view nonce) {
  if (view == nullptr) return NotFound(host, nonce);
  WebPage page;
  std::string& out = page.html;
  const std::string_view state = UiState(*view, quarantined);
  Head(out, view->spec.name, nonce);
  BodyStart(out, "data-view=\"host\" " + Attribute("data-host", view->spec.name));
  out += "<h1>" + HtmlEscape(view->spec.name) + " " + StateSpan(state) + "</h1>\n";
  HostFacts(out, *view, state, now);

  out += "<h2>Processes</h2>";
  TableQuery raw;
  auto query = ParseTableQuery(encoded_query, raw);
  SelectorForm(out, HostUrl(view->spec.name), raw);
  if (!query) {
    page.status = http::status::bad_request;
    out += ErrorBox(query.error());
  } else if (!view->snapshot) {
    out += "<p class=\"muted\">No process table yet.</p>";
  } else {
    std::vector<QueryRow> rows;
    AppendQueryRows(LatestRowsInput(*view, now), rows);
    if (const auto result = RunTableQuery(rows, query->second, page)) {
      out += "<p class=\"muted\">" + std::to_string(result->rows.size()) + " of " +
             std::to_string(result->total) + " matching processes (of " +
             std::to_string(rows.size()) + "), as of " + UtcTime(view->snapshot_time) + "</p>";
      ProcessRows(out, *result);
    }
  }

  out += "<h2>Listening sockets</h2>";
  if (view->snapshot) {
    std::vector<QueryRow> sockets;
    AppendListeningRows(LatestRowsInput(*view, now), sockets);
    out +=
        "<table><thead><tr><th>proto</th><th>address</th><th>port</th><th>pid</th><th>user</th>"
        "<th>comm</th></tr></thead><tbody id=\"sockets\">\n";
    for (std::size_t i = 0; i < sockets.size() && i < kSocketRows; ++i) {
      const QueryRow& row = sockets[i];
      out += "<tr>";
      Cell(out, row.socket->proto);
      Cell(out, row.socket->address);
      Cell(out, std::to_string(row.socket->port), "num");
      const auto pid = row.process ? std::optional(row.process->pid) : row.socket->pid;
      Cell(out, pid ? std::to_string(*pid) : "-", "num");
      Cell(out, row.process ? row.process->user : "-");
      Cell(out, StringValue(row, FieldRef{Field::kComm, {}}));
      out += "</tr>\n";
    }
    out += "</tbody></table>\n";
    if (sockets.size() > kSocketRows) {
      out += "<p class=\"muted\">" + std::to_string(sockets.size() - kSocketRows) +
             " more: /api/v1/listening</p>";
    }
  } else {
    out += "<p class=\"muted\">None known yet.</p>";
  }

  out += "<h2>Events</h2><p class=\"muted\">The last " + std::to_string(kStateHistoryEntries) +
         " state changes the collector saw, newest first";
  out += view->state_changes->empty() ? " (none yet)" : "";
  out +=
      "; with JavaScript, state changes and probes are added above as they happen (from "
      "/api/v1/events).</p><ul id=\"events\">\n";
  StateChanges(out, *view->state_changes, now);
  out += "</ul>\n";
  End(out, nonce);
  return page;
}

// ---- the query page ---------------------------------------------------------------------------

WebPage RenderQueryPage(const std::vector<std::shared_ptr<const HostView>>& hosts,
                        std::string_view encoded_query, Clock::time_point now,
                        std::string_view nonce) {
  WebPage page;
  std::string& out = page.html;
  Head(out, "query", nonce);
  BodyStart(out, "data-view=\"query\"");
  out += "<h1>Query the fleet</h1>";
  TableQuery raw;
  auto query = ParseTableQuery(encoded_query, raw);
  SelectorForm(out, "/query", raw);
  if (!query) {
    page.status = http::status::bad_request;
    out += ErrorBox(query.error());
    End(out, nonce);
    return page;
  }
  std::vector<QueryRow> rows;
  std::vector<std::string> without_data;
  for (const auto& view : hosts) {
    if (!view->snapshot) without_data.push_back(view->spec.name);
    AppendQueryRows(LatestRowsInput(*view, now), rows);
  }
  const auto result = RunTableQuery(rows, query->second, page);
  if (!result) {
    End(out, nonce);
    return page;
  }
  // One line per (user, comm, args) in the order of each group's first row, as the CLI's table.
  struct Fold {
    const QueryRow* first = nullptr;
    std::vector<std::string> hosts;
    std::size_t procs = 0;
    std::optional<double> rss, cpu;
  };
  std::vector<Fold> folds;
  std::map<std::tuple<std::string_view, std::string_view, std::string_view>, std::size_t> index;
  const auto larger = [](std::optional<double> a, std::optional<double> b) {
    return !a ? b : !b ? a : std::optional(std::max(*a, *b));
  };
  for (const QueryRow& row : result->rows) {
    const probes::ProcessRow& p = *row.process;
    const auto [it, added] = index.emplace(
        std::tuple{std::string_view(p.user), std::string_view(p.comm), std::string_view(p.args)},
        folds.size());
    if (added) folds.push_back(Fold{&row, {}, 0, {}, {}});
    Fold& f = folds[it->second];
    f.hosts.push_back(row.host);
    ++f.procs;
    f.rss = larger(f.rss, NumericValue(row, Field::kRss));
    f.cpu = larger(f.cpu, NumericValue(row, Field::kCpu));
  }
  out += "<p class=\"muted\">" + std::to_string(result->rows.size()) + " of " +
         std::to_string(result->total) + " matching processes, folded into " +
         std::to_string(folds.size()) + " lines (rss and cpu: the largest)</p>";
  if (!without_data.empty()) {
    out +=
        "<p>No process table from: " + HtmlEscape(FoldHostNames(std::move(without_data))) + "</p>";
  }
  out +=
      "<table><thead><tr><th>hosts</th><th>procs</th><th>pid</th><th>user</th><th>rss</th>"
      "<th>cpu</th><th>comm</th><th>args</th></tr></thead><tbody id=\"rows\">\n";
  for (Fold& f : folds) {
    const probes::ProcessRow& p = *f.first->process;
    out += "<tr><td>";
    if (f.hosts.size() == 1) {
      out += Link(HostUrl(f.hosts.front()), f.hosts.front());
    } else {
      out += HtmlEscape(FoldHostNames(std::move(f.hosts)));
    }
    out += "</td>";
    Cell(out, std::to_string(f.procs), "num");
    Cell(out, f.procs == 1 ? std::to_string(p.pid) : "*", "num");
    Cell(out, p.user);
    Cell(out, BytesText(f.rss), "num");
    Cell(out, NumberText(f.cpu, "%.2f"), "num");
    Cell(out, p.comm, "comm");
    Cell(out, p.args, "args");
    out += "</tr>\n";
  }
  out += "</tbody></table>\n";
  End(out, nonce);
  return page;
}

// ---- handlers ---------------------------------------------------------------------------------

namespace {

HttpResponse PageResponse(const ApiRequest& request, WebPage page, std::string_view nonce) {
  HttpResponse response =
      MakeResponse(request.http, page.status, std::move(page.html), "text/html; charset=utf-8");
  response.set("Content-Security-Policy", ContentSecurityPolicy(nonce));
  response.set("X-Content-Type-Options", "nosniff");
  response.set("X-Frame-Options", "DENY");
  response.set("Referrer-Policy", "no-referrer");
  response.set(http::field::cache_control, "no-store");
  return response;
}

}  // namespace

bool WebUiHandlers::IsHostPath(std::string_view path) {
  return SegmentAfter(path, "/hosts/").has_value();
}

boost::asio::awaitable<HttpAnswer> WebUiHandlers::Fleet(const ApiRequest& request) const {
  const std::string nonce = NewNonce();
  std::optional<WebClusterSummary> summary;
  if (const auto view = cluster_ != nullptr ? cluster_->View() : nullptr) {
    auto hosts = cluster_->InventoryHosts();
    if (!hosts) {
      auto specs = std::make_shared<std::vector<config::HostSpec>>();
      for (const auto& host : fleet_.State().Hosts()) specs->push_back(host->spec);
      hosts = std::move(specs);
    }
    const cluster::OwnershipCounts counts = cluster::CountOwnership(*view, *hosts);
    summary.emplace(WebClusterSummary{view->name, view->membership, counts.orphaned_hosts, {}});
    for (std::size_t i = 0; i < view->members.size(); ++i) {
      const auto& m = view->members[i];
      summary->members.push_back({m.spec.name, m.advertise,
                                  std::string(cluster::MemberStateName(m.state)), counts.hosts[i],
                                  m.self});
    }
  }
  co_return PageResponse(
      request,
      RenderFleetPage(fleet_.State().Hosts(), fleet_.Self().quarantined_hosts,
                      request.encoded_query, Clock::now(), nonce, summary ? &*summary : nullptr),
      nonce);
}

boost::asio::awaitable<HttpAnswer> WebUiHandlers::Host(const ApiRequest& request) const {
  const std::string nonce = NewNonce();
  const std::string_view host = SegmentAfter(request.path, "/hosts/").value_or("");
  const auto view = fleet_.State().Host(host);
  const bool quarantined = view && fleet_.Self().quarantined_hosts.contains(host);
  co_return PageResponse(
      request,
      RenderHostPage(host, view.get(), quarantined, request.encoded_query, Clock::now(), nonce),
      nonce);
}

boost::asio::awaitable<HttpAnswer> WebUiHandlers::Query(const ApiRequest& request) const {
  const std::string nonce = NewNonce();
  co_return PageResponse(
      request, RenderQueryPage(fleet_.State().Hosts(), request.encoded_query, Clock::now(), nonce),
      nonce);
}

}  // namespace fleetps::collector
