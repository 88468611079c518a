#include "fleetps/collector/api/query_handlers.hpp"

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/json.hpp>

#include "fleetps/agent/algorithms.hpp"
#include "fleetps/collector/api/fleet_list.hpp"
#include "fleetps/collector/api/json.hpp"
#include "fleetps/collector/api/query_api.hpp"
#include "fleetps/collector/query/query.hpp"
#include "fleetps/collector/query/text.hpp"

// GCC 12 reports a false -Wmismatched-new-delete on coroutine frames (GCC PR 104578).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace fleetps::collector {
namespace {

namespace http = boost::beast::http;

double Seconds(std::chrono::system_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

HttpResponse JsonAnswer(const ApiRequest& request, http::status status, std::string body) {
  return MakeResponse(request.http, status, std::move(body), "application/json");
}

HttpResponse JsonError(const ApiRequest& request, http::status status, std::string_view message) {
  return JsonAnswer(request, status, RenderErrorJson(message));
}

std::string FailureReason(const HostView& view, const agent::ProbeResult* fresh) {
  // An agent that is not ready does not probe; it answers at once with its last failure, or
  // with `disconnected` before its first one. The host's state says more than that then
  // (FleetState keeps no failure for such ticks either).
  const bool unprobed_without_failure =
      fresh && fresh->session_epoch == 0 && !(view.status && view.status->last_reason);
  if (fresh && fresh->status != agent::ProbeStatus::kOk && !unprobed_without_failure) {
    const auto reason = agent::ReasonName(fresh->reason);
    return std::string(reason.empty() ? agent::ProbeStatusName(fresh->status) : reason);
  }
  return DownReason(view);
}

// The answer to an open-files outcome that came back in time.
HttpResponse OpenFilesAnswer(const ApiRequest& request, const OpenFilesRequest& req,
                             const HostView& view, const agent::OpenFilesOutcome& outcome) {
  const std::string where = "process " + std::to_string(req.pid) + " on " + req.host;
  if (outcome.status != agent::ProbeStatus::kOk) {
    const auto reason = agent::ReasonName(outcome.reason);
    const std::string why(reason.empty() ? agent::ProbeStatusName(outcome.status) : reason);
    if (outcome.status == agent::ProbeStatus::kTimeout) {
      return JsonError(request, http::status::gateway_timeout,
                       "open-files of " + where + ": " + why);
    }
    if (outcome.status == agent::ProbeStatus::kError && outcome.session_epoch == 0) {
      return JsonError(request, http::status::service_unavailable,
                       "host " + req.host + " is down: " + why);
    }
    return JsonError(request, http::status::bad_gateway, "open-files of " + where + ": " + why);
  }
  switch (outcome.result.state) {
    case probes::OpenFilesState::kOk:
      return JsonAnswer(request, http::status::ok,
                        RenderOpenFilesJson(req.host, req.pid, outcome.result));
    case probes::OpenFilesState::kNoSuchProcess:
      return JsonError(request, http::status::not_found, "no " + where);
    case probes::OpenFilesState::kPermissionDenied:
      return JsonError(
          request, http::status::forbidden,
          "permission denied: the monitoring user cannot list the descriptors of " + where);
    case probes::OpenFilesState::kUnsupported: {
      const auto& status = view.status;
      const std::string dialect(status && status->dialect ? probes::DialectName(*status->dialect)
                                                          : "unknown");
      return JsonError(request, http::status::not_implemented,
                       "open-files is unsupported on this dialect (" + dialect +
                           "): no Linux-style /proc and no lsof on " + req.host);
    }
    case probes::OpenFilesState::kBadOutput:
      break;
  }
  return JsonError(request, http::status::bad_gateway, "open-files of " + where + ": parse_error");
}

boost::json::object HostJson(const FleetEntry& entry, std::chrono::system_clock::time_point now) {
  const HostView& view = *entry.view;
  const bool quarantined = entry.state == "quarantined";
  boost::json::object host;
  host["host"] = view.spec.name;
  host["address"] = view.spec.address;
  host["port"] = view.spec.port;
  host["state"] = DisplayState(view.status, quarantined);
  host["ui_state"] = entry.state;
  host["stale"] = entry.stale;
  host["epoch"] = view.connects_total;
  if (view.status) host["state_age_seconds"] = Seconds(now - view.status->since);
  if (const auto retry = NextRetry(view)) host["retry_in_seconds"] = Seconds(*retry - now);
  if (view.snapshot) host["last_good_probe_age_seconds"] = Seconds(now - view.snapshot_time);
  if (!view.Up()) {
    const std::string reason = DownReason(view);
    host["down_reason"] = reason;
    host["down_reason_text"] = ReasonInWords(reason);
  }
  static const agent::HostStatus kNoStatus;
  const agent::HostStatus& status = view.status ? *view.status : kNoStatus;
  if (status.dialect) host["dialect"] = probes::DialectName(*status.dialect);
  if (status.last_reason) host["last_reason"] = agent::ReasonName(status.last_reason);
  if (!status.detail.empty()) host["last_detail"] = ValidUtf8(status.detail);
  if (!status.server.banner.empty()) host["server_banner"] = ValidUtf8(status.server.banner);
  if (view.status) host["channel"] = agent::ChannelModeName(status.channel);
  if (!status.channel_fallback.empty()) host["channel_fallback"] = status.channel_fallback;
  if (!status.weak_algorithms.empty()) {
    boost::json::array weak;
    for (const auto& w : status.weak_algorithms) {
      weak.push_back(boost::json::object{
          {"list", agent::AlgorithmKindKey(w.kind)}, {"algorithm", w.name}, {"why", w.reason}});
    }
    host["weak_algorithms"] = std::move(weak);
  }
  if (view.last_probe_status) {
    host["last_probe"] = agent::ProbeStatusName(*view.last_probe_status);
    host["last_probe_age_seconds"] = Seconds(now - view.last_probe_finished);
  }
  if (!view.last_probe_failure.empty()) host["last_probe_failure"] = view.last_probe_failure;
  if (view.status && status.state == agent::HostState::kReady) {
    host["session_age_seconds"] = Seconds(now - status.since);
  }
  if (view.snapshot) host["processes"] = view.snapshot->processes.size();
  boost::json::object labels;
  for (const auto& [name, value] : view.spec.labels) labels[name] = value;
  host["labels"] = std::move(labels);
  return host;
}

constexpr std::string_view kHostPathPrefix = "/api/v1/hosts/";

// A host's recorded state changes, newest first.
boost::json::array StateChangesJson(const StateHistory& history,
                                    std::chrono::system_clock::time_point now) {
  boost::json::array changes;
  changes.reserve(history.size());
  for (auto it = history.rbegin(); it != history.rend(); ++it) {
    boost::json::object change{
        {"time_unix", std::chrono::duration<double>(it->at.time_since_epoch()).count()},
        {"age_seconds", Seconds(now - it->at)},
        {"from", ChangeUiState(it->from, it->from_hostkey_changed)},
        {"to", ChangeUiState(it->to, it->to_hostkey_changed)},
        {"epoch", it->epoch}};
    if (const auto reason = agent::ReasonName(it->reason); it->reason && !reason.empty()) {
      change["reason"] = reason;
      change["reason_text"] = ReasonInWords(reason);
    }
    if (!it->detail.empty()) change["detail"] = it->detail;  // LabelSafe: valid UTF-8
    changes.push_back(std::move(change));
  }
  return changes;
}

// GET /api/v1/hosts/{host}, outside the coroutine (as HostsAnswer).
HttpResponse HostAnswer(const ApiRequest& request, FleetPort& fleet) {
  const std::string_view name = SegmentAfter(request.path, kHostPathPrefix).value_or("");
  auto view = fleet.State().Host(name);
  if (!view) {
    return JsonError(request, http::status::not_found, "unknown host " + Quoted(name));
  }
  const auto now = std::chrono::system_clock::now();
  const FleetEntry entry = MakeFleetEntry(view, fleet.Self().quarantined_hosts.contains(name), now);
  boost::json::object host = HostJson(entry, now);
  host["state_changes"] = StateChangesJson(*view->state_changes, now);
  boost::json::object doc{{"status", "ok"}, {"data", std::move(host)}};
  return JsonAnswer(request, http::status::ok, boost::json::serialize(doc) + "\n");
}

// GET /api/v1/hosts for `hosts`, outside the coroutine (GCC 12 warns falsely on larger
// coroutine frames).
HttpResponse HostsAnswer(const ApiRequest& request, FleetPort& fleet,
                         const FleetListOptions& options,
                         const std::vector<std::shared_ptr<const HostView>>& views) {
  const auto now = std::chrono::system_clock::now();
  const SelfMetrics self = fleet.Self();
  const FleetList list = ListFleet(views, self.quarantined_hosts, options, now);
  boost::json::array hosts;
  hosts.reserve(list.rows.size());
  for (const FleetEntry& entry : list.rows) hosts.push_back(HostJson(entry, now));
  boost::json::object counts;
  for (const auto& [state, count] : list.states) counts[state] = count;
  counts["stale"] = list.stale;
  boost::json::object data{{"hosts", std::move(hosts)}, {"total", list.hosts},
                           {"matched", list.matched},   {"page", list.page},
                           {"pages", list.pages},       {"counts", std::move(counts)}};
  boost::json::object doc{{"status", "ok"}, {"data", std::move(data)}};
  return JsonAnswer(request, http::status::ok, boost::json::serialize(doc) + "\n");
}

}  // namespace

boost::asio::awaitable<HttpAnswer> QueryHandlers::Processes(const ApiRequest& request) const {
  co_return co_await Query(request, false);
}

boost::asio::awaitable<HttpAnswer> QueryHandlers::Listening(const ApiRequest& request) const {
  co_return co_await Query(request, true);
}

boost::asio::awaitable<HttpAnswer> QueryHandlers::Query(const ApiRequest& request,
                                                        bool listening) const {
  auto query = ParseProcessQueryString(request.encoded_query);
  if (!query) {
    co_return JsonAnswer(request, http::status::bad_request, RenderErrorJson(query.error()));
  }
  if (cluster_ != nullptr && !query->local) {
    co_return co_await FanOutQuery(request, *query, listening);
  }
  // A place among the API's requests in progress first: a 503 must not spend the budget.
  ApiWorkers::Slot slot = workers_.Reserve();
  if (!slot) co_return workers_.Busy(request);
  const auto views = OwnHosts();
  std::vector<AdhocJob> jobs;
  if (query->fresh) {
    jobs.reserve(views.size());
    std::size_t with_agent = 0;
    for (const auto& view : views) {
      jobs.push_back(AdhocJob{fleet_.Agent(view->spec.name), view->spec.probe_timeout});
      if (jobs.back().agent) ++with_agent;
    }
    if (auto refused = RefusedAdhoc(request, with_agent)) co_return std::move(*refused);
  }
  // Refusals above are answered here at once; the fan-out's wait and the evaluation go to the
  // API workers, off the io thread.
  const RouteHandler evaluate = [&](const ApiRequest& r) -> boost::asio::awaitable<HttpAnswer> {
    auto answer = co_await Answer(*query, listening, views, std::move(jobs));
    if (!answer) {
      co_return JsonAnswer(
          r, http::status::bad_request,
          RenderErrorJson(answer.error().ToString(), answer.error().position, "q"));
    }
    co_return JsonAnswer(r, http::status::ok, std::move(*answer));
  };
  co_return co_await workers_.Run(std::move(slot), request, evaluate);
}

// Rows of each host's fresh probe when it came back ok, else of its latest snapshot (stale
// with fresh=1 or while the host is not up), else none (down).
boost::asio::awaitable<boost::system::result<std::string, SelectorError>> QueryHandlers::Answer(
    const ProcessQuery& query, bool listening,
    const std::vector<std::shared_ptr<const HostView>>& views, std::vector<AdhocJob> jobs) const {
  const FleetState& state = fleet_.State();
  std::vector<std::optional<agent::ProbeResult>> fresh(views.size());
  if (query.fresh) {
    AdhocWork<agent::ProbeResult> probe = [](AdhocAgent& agent) {
      return agent.RunAdhoc(agent::ProbeKind::kProcesses);
    };
    fresh = co_await FanOut(std::move(jobs), std::move(probe), limits_);
  }

  const auto now = std::chrono::system_clock::now();
  std::vector<probes::GroupSnapshot> fresh_groups(views.size());
  std::vector<CpuSamples> fresh_previous(views.size());
  std::vector<QueryRow> rows;
  std::vector<HostQueryStatus> statuses;
  for (std::size_t i = 0; i < views.size(); ++i) {
    const HostView& view = *views[i];
    HostQueryStatus status;
    status.host = view.spec.name;
    HostRowsInput input = LatestRowsInput(view, now);
    const agent::ProbeResult* result = fresh[i] ? &*fresh[i] : nullptr;
    if (result && result->status == agent::ProbeStatus::kOk && result->snapshot) {
      fresh_groups[i] = state.GroupOnce(*result->snapshot);
      input.current = result->snapshot.get();
      input.previous = nullptr;
      if (view.snapshot) {
        fresh_previous[i] = SampleCpu(*view.snapshot);
        input.previous = &fresh_previous[i];
      }
      input.elapsed_seconds = Seconds(result->finished - view.snapshot_time);
      input.groups = &fresh_groups[i];
      status.age_seconds = Seconds(now - result->finished);
    } else if (view.snapshot) {
      status.age_seconds = Seconds(now - view.snapshot_time);
      if (query.fresh || !view.Up()) {
        status.status = HostDataStatus::kStale;
        status.reason = FailureReason(view, result);
      }
    } else {
      status.status = HostDataStatus::kDown;
      status.reason = FailureReason(view, result);
    }
    if (input.previous && !(input.elapsed_seconds > 0)) input.previous = nullptr;
    if (listening) {
      AppendListeningRows(input, rows);
    } else {
      AppendQueryRows(input, rows);
    }
    statuses.push_back(std::move(status));
  }
  auto answer = RunQuery(rows, query.selector, query.sort, query.limit);
  if (!answer) co_return answer.error();
  // Members of a cluster add each row's sort values for their coordinator's merge.
  const SortSpec* sort_values = query.local ? &query.sort : nullptr;
  co_return listening ? RenderListeningJson(*answer, statuses, sort_values)
                      : RenderProcessesJson(*answer, statuses, sort_values);
}

std::vector<std::shared_ptr<const HostView>> QueryHandlers::OwnHosts() const {
  auto hosts = fleet_.State().Hosts();
  if (cluster_ == nullptr) return hosts;
  const auto view = cluster_->View();
  const cluster::MemberView* self = view->Self();
  std::erase_if(hosts, [&](const std::shared_ptr<const HostView>& host) {
    const cluster::MemberView* owner = view->OwnerOf(host->spec.name);
    return self == nullptr || owner != self;
  });
  return hosts;
}

std::vector<std::string> QueryHandlers::InventoryNames() const {
  std::vector<std::string> names;
  // A member's fleet state holds only the hosts it owns; a missing member's hosts are the
  // inventory's, so they come from the cluster port when it has them.
  if (const auto hosts = cluster_ != nullptr ? cluster_->InventoryHosts() : nullptr) {
    for (const auto& host : *hosts) names.push_back(host.name);
    return names;
  }
  for (const auto& host : fleet_.State().Hosts()) names.push_back(host->spec.name);
  return names;
}

boost::asio::awaitable<HttpAnswer> QueryHandlers::FanOutQuery(const ApiRequest& request,
                                                              const ProcessQuery& query,
                                                              bool listening) const {
  const auto view = cluster_->View();
  const std::vector<std::size_t> members = MembersToAsk(*view);
  std::string local_query(request.encoded_query);
  local_query.append(local_query.empty() ? "" : "&").append("scope=local");
  std::chrono::milliseconds deadline = cluster_query_.deadline;
  if (query.fresh) {
    // Each member waits for its slowest probe (AdhocLimits); the coordinator that long more.
    std::chrono::milliseconds slowest{0};
    for (const auto& host : fleet_.State().Hosts()) {
      slowest = std::max(slowest, host->spec.probe_timeout);
    }
    deadline += slowest;
  }
  const LocalAnswer self = [this, listening](const ApiRequest& local) {
    return Query(local, listening);
  };
  std::string peer_ca_file = cluster_->PeerClient().ca_file;
  const std::vector<MemberAnswer> answers =
      co_await AskMembers(*view, members, request, local_query, deadline,
                          cluster_query_.max_answer_bytes, self, std::move(peer_ca_file));
  const std::vector<std::string> inventory = InventoryNames();
  // The merge sorts up to members × limit rows: on the API workers, off the io thread.
  const RouteHandler merge = [&](const ApiRequest& r) -> boost::asio::awaitable<HttpAnswer> {
    co_return JsonAnswer(
        r, http::status::ok,
        MergeQueryAnswers(*view, inventory, answers, query.sort, query.limit, listening));
  };
  co_return co_await workers_.Run(request, merge);
}

boost::asio::awaitable<HttpAnswer> QueryHandlers::FanOutHosts(
    const ApiRequest& request, const FleetListOptions& options) const {
  const auto view = cluster_->View();
  const std::vector<std::size_t> members = MembersToAsk(*view);
  // Every matching host from each member: the page is cut over the merged list.
  FleetListOptions local_options = options;
  local_options.page = 1;
  local_options.per_page = 0;
  local_options.local = true;
  const std::string local_query = FleetListQueryString(local_options, FleetListOptions{});
  const LocalAnswer self = [this](const ApiRequest& local) { return Hosts(local); };
  std::string peer_ca_file = cluster_->PeerClient().ca_file;
  const std::vector<MemberAnswer> answers =
      co_await AskMembers(*view, members, request, local_query, cluster_query_.deadline,
                          cluster_query_.max_answer_bytes, self, std::move(peer_ca_file));
  const std::vector<std::string> inventory = InventoryNames();
  std::string body = MergeHostsAnswers(*view, inventory, answers, options);
  co_return JsonAnswer(request, http::status::ok, std::move(body));
}

std::optional<HttpResponse> QueryHandlers::RefusedAdhoc(const ApiRequest& request,
                                                        std::size_t hosts) const {
  const auto refusal = fresh_.Admit(request.peer.address, hosts, FreshLimiter::Clock::now());
  if (!refusal) return std::nullopt;
  const FreshLimits& limits = fresh_.Limits();
  const bool client = refusal->scope == FreshScope::kClient;
  const FreshRate& rate = client ? limits.per_client : limits.total;
  const auto whole = [](double v) { return std::to_string(static_cast<std::uint64_t>(v)); };
  const std::string keys = client ? "collector.fresh_rate_per_client, fresh_burst_per_client"
                                  : "collector.fresh_rate, fresh_burst";
  return RetryLaterAnswer(
      request, http::status::too_many_requests,
      std::string("rate limited: ") + (client ? "this client's" : "the collector-wide") +
          " budget for ad hoc work is spent (this request needs " + whole(refusal->needed) +
          " host probes; budget " + whole(rate.burst) + ", refilling " + whole(rate.per_second) +
          "/s: " + keys + "); retry in " + std::to_string(refusal->retry_after.count()) + " s",
      refusal->retry_after);
}

bool QueryHandlers::IsOpenFilesPath(std::string_view path) {
  return MatchOpenFilesPath(path, "").has_value();
}

boost::asio::awaitable<HttpAnswer> QueryHandlers::OpenFiles(const ApiRequest& request) const {
  const auto match = MatchOpenFilesPath(request.path, request.encoded_query);
  if (!match) co_return MakeResponse(request.http, http::status::not_found, "not found\n");
  if (!*match) {
    co_return JsonAnswer(request, http::status::bad_request, RenderErrorJson(match->error()));
  }
  const OpenFilesRequest& req = **match;
  const std::shared_ptr<const HostView> view = fleet_.State().Host(req.host);
  if (!view) {
    co_return JsonError(request, http::status::not_found, "unknown host \"" + req.host + "\"");
  }
  std::shared_ptr<AdhocAgent> agent = fleet_.Agent(req.host);
  const bool ready = view->status && view->status->state == agent::HostState::kReady;
  if (!agent || !ready) {
    co_return JsonError(request, http::status::service_unavailable,
                        "host " + req.host + " is down: " + FailureReason(*view, nullptr));
  }
  if (auto refused = RefusedAdhoc(request, 1)) co_return std::move(*refused);
  const std::int64_t pid = req.pid;
  std::vector<AdhocJob> job{AdhocJob{std::move(agent), view->spec.probe_timeout}};
  AdhocWork<agent::OpenFilesOutcome> list = [pid](AdhocAgent& a) { return a.RunOpenFiles(pid); };
  // Named arguments: GCC 12 mishandles non-trivial temporaries inside a co_await expression.
  const auto outcome = co_await FanOut(std::move(job), std::move(list), limits_);
  if (!outcome.front()) {
    co_return JsonError(request, http::status::gateway_timeout,
                        "open-files on " + req.host + " did not finish in time");
  }
  co_return OpenFilesAnswer(request, req, *view, *outcome.front());
}

boost::asio::awaitable<HttpAnswer> QueryHandlers::Hosts(const ApiRequest& request) const {
  const auto options = ParseFleetListQuery(request.encoded_query, {});
  if (!options) {
    co_return JsonAnswer(request, http::status::bad_request, RenderErrorJson(options.error()));
  }
  if (cluster_ != nullptr && !options->local) co_return co_await FanOutHosts(request, *options);
  co_return HostsAnswer(request, fleet_, *options, OwnHosts());
}

bool QueryHandlers::IsHostPath(std::string_view path) {
  return SegmentAfter(path, kHostPathPrefix).has_value();
}

boost::asio::awaitable<HttpAnswer> QueryHandlers::Host(const ApiRequest& request) const {
  co_return HostAnswer(request, fleet_);
}

}  // namespace fleetps::collector
