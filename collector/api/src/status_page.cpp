#include "fleetps/collector/api/status_page.hpp"

#include "fleetps/agent/algorithms.hpp"

#include <chrono>
#include <cstdio>
#include <map>

namespace fleetps::collector {
namespace {

std::string Age(std::chrono::system_clock::duration d) {
  const auto s = std::chrono::duration_cast<std::chrono::seconds>(d).count();
  char buf[32];
  if (s < 120) {
    std::snprintf(buf, sizeof buf, "%llds", static_cast<long long>(s));
  } else if (s < 7200) {
    std::snprintf(buf, sizeof buf, "%lldm", static_cast<long long>(s / 60));
  } else if (s < 172800) {
    std::snprintf(buf, sizeof buf, "%lldh", static_cast<long long>(s / 3600));
  } else {
    std::snprintf(buf, sizeof buf, "%lldd", static_cast<long long>(s / 86400));
  }
  return buf;
}

constexpr std::string_view kHead = R"(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="5">
<title>fleetps</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5rem;color:#1b1f23}
h1{font-size:1.3rem;margin:0 0 .3rem}
p.summary span{margin-right:1rem}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.25rem .6rem;border-bottom:1px solid #e1e4e8;white-space:nowrap}
th{background:#f6f8fa;position:sticky;top:0}
td.state{font-weight:600}
.detail{font-size:85%;color:#555;max-width:60em}
.ready{color:#1a7f37}.connecting,.fingerprinting{color:#9a6700}
.backoff,.circuit_open,.quarantined{color:#cf222e}
a{color:#0969da}
</style></head><body>
<h1>fleetps</h1>
)";

}  // namespace

std::string HtmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
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

// The failure's detail (e.g. what the server offered and the setting that would match) under
// the reason, and the weak algorithms a connected host needs.
std::string FailureDetail(const HostView& view) {
  std::string out;
  if (!view.status) return out;
  if (!view.status->detail.empty()) {
    out += "<div class=\"detail\">" + HtmlEscape(view.status->detail) + "</div>";
  }
  if (view.status->state == agent::HostState::kReady && !view.status->weak_algorithms.empty()) {
    out += "<div class=\"detail\">weak: " +
           HtmlEscape(agent::FormatWeakAlgorithms(view.status->weak_algorithms)) + "</div>";
  }
  return out;
}

// The probe channel in use, and why `probe_channel: auto` left the shell when it did.
std::string ChannelCell(const HostView& view) {
  if (!view.status) return {};
  std::string out(agent::ChannelModeName(view.status->channel));
  if (!view.status->channel_fallback.empty()) {
    out += "<div class=\"detail\">" + HtmlEscape(view.status->channel_fallback) + "</div>";
  }
  return out;
}

std::string RenderStatusPage(const std::vector<std::shared_ptr<const HostView>>& hosts,
                             const std::set<std::string, std::less<>>& quarantined) {
  const auto now = std::chrono::system_clock::now();
  std::map<std::string, std::size_t> by_state;
  std::string rows;
  for (const auto& view : hosts) {
    const std::string state(DisplayState(view->status, quarantined.contains(view->spec.name)));
    ++by_state[state];
    std::string last_probe = "never";
    if (view->last_probe_status) {
      last_probe = std::string(agent::ProbeStatusName(*view->last_probe_status)) + ", " +
                   Age(now - view->last_probe_finished) + " ago";
    }
    std::string reason = view->last_probe_failure;
    if (reason.empty() && view->status && view->status->last_reason) {
      reason = std::string(agent::ReasonName(view->status->last_reason));
    }
    const bool session_up = view->status && view->status->state == agent::HostState::kReady;
    rows += "<tr><td><a href=\"/probe?target=" + HtmlEscape(view->spec.name) + "\">" +
            HtmlEscape(view->spec.name) + "</a></td><td>" + HtmlEscape(view->spec.address) + ":" +
            std::to_string(view->spec.port) + "</td><td class=\"state " + state + "\">" + state +
            "</td><td>" +
            HtmlEscape(view->status && view->status->dialect
                           ? probes::DialectName(*view->status->dialect)
                           : "") +
            "</td><td>" + ChannelCell(*view) + "</td><td>" + std::to_string(view->connects_total) +
            "</td><td>" + HtmlEscape(last_probe) + "</td><td>" +
            (view->snapshot ? std::to_string(view->snapshot->processes.size()) : "") + "</td><td>" +
            HtmlEscape(reason) + FailureDetail(*view) + "</td><td>" +
            (session_up ? Age(now - view->status->since) : std::string()) + "</td></tr>\n";
  }
  std::string page(kHead);
  page += "<p class=\"summary\"><span>" + std::to_string(hosts.size()) + " hosts</span>";
  for (const auto& [state, count] : by_state) {
    page += "<span class=\"" + state + "\">" + std::to_string(count) + " " + state + "</span>";
  }
  page +=
      "<span><a href=\"/metrics\">/metrics</a></span><span><a href=\"/api/v1/hosts\">"
      "/api/v1/hosts</a></span></p>\n<table><thead><tr><th>host</th><th>address</th>"
      "<th>state</th><th>dialect</th><th>channel</th><th>epoch</th><th>last "
      "probe</th><th>processes</th>"
      "<th>last failure</th><th>session age</th></tr></thead><tbody>\n";
  page += rows;
  page += "</tbody></table></body></html>\n";
  return page;
}

boost::asio::awaitable<HttpAnswer> StatusPageHandler::Page(const ApiRequest& request) const {
  co_return MakeResponse(request.http, boost::beast::http::status::ok,
                         RenderStatusPage(fleet_.State().Hosts(), fleet_.Self().quarantined_hosts),
                         "text/html; charset=utf-8");
}

}  // namespace fleetps::collector
