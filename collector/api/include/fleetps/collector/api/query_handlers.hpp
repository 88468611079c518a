// The query endpoints (docs/query.md): GET /api/v1/processes, /api/v1/listening,
// /api/v1/hosts/{host}/processes/{pid}/open-files and /api/v1/hosts. Invalid parameters are
// answered 400, and ad hoc work beyond the FreshLimiter's budgets 429, before any agent is asked
// anything.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "fleetps/collector/api/adhoc.hpp"
#include "fleetps/collector/api/admission.hpp"
#include "fleetps/collector/api/cluster_query.hpp"
#include "fleetps/collector/api/ports.hpp"
#include "fleetps/collector/api/router.hpp"

namespace fleetps::collector {

class QueryHandlers {
 public:
  /// `fresh` budgets the ad hoc work (fresh=1 and open-files) of every client; `workers` run the
  /// evaluation of process and listening queries once admitted. Both must outlive the handlers.
  /// With a `cluster` (null when not clustered; else outlives the handlers), processes,
  /// listening and hosts answer for the whole cluster (see FanOut) unless asked with
  /// scope=local, and for this member's own hosts with it.
  QueryHandlers(FleetPort& fleet, AdhocLimits limits, FreshLimiter& fresh, ApiWorkers& workers,
                const ClusterPort* cluster = nullptr, ClusterQueryOptions cluster_query = {})
      : fleet_(fleet),
        limits_(limits),
        fresh_(fresh),
        workers_(workers),
        cluster_(cluster),
        cluster_query_(cluster_query) {}

  /// GET /api/v1/processes?q=&sort=&limit=&fresh=: one row per process of the latest
  /// snapshots, or with fresh=1 of one ad hoc probe per host over the warm sessions (a host
  /// whose probe fails or misses the deadline answers its snapshot as "stale"). A fresh=1 query
  /// costs one token per host with a running agent; refused: 429 with Retry-After. Parameters
  /// and budget are checked on the caller's thread, the rest runs on the ApiWorkers (503 when
  /// they have too many requests in progress).
  [[nodiscard]] boost::asio::awaitable<HttpAnswer> Processes(const ApiRequest& request) const;

  /// GET /api/v1/listening: the same, one row per listening socket.
  [[nodiscard]] boost::asio::awaitable<HttpAnswer> Listening(const ApiRequest& request) const;

  /// True for paths of the open-files route (MatchOpenFilesPath's shape), bad segments
  /// included: those are answered 400 by OpenFiles.
  [[nodiscard]] static bool IsOpenFilesPath(std::string_view path);

  /// GET /api/v1/hosts/{host}/processes/{pid}/open-files: runs the fixed open-files template
  /// on the host's warm session. 404 unknown host or process, 503 host down, 504 deadline,
  /// 403 permission denied, 501 unsupported dialect, 502 failed probe, 429 beyond the client's
  /// or the collector's ad hoc budget (costs one token).
  [[nodiscard]] boost::asio::awaitable<HttpAnswer> OpenFiles(const ApiRequest& request) const;

  /// GET /api/v1/hosts: every host's state, session and last probe (with a cluster: of every
  /// member's hosts, each with the member that owns it as `collector`).
  [[nodiscard]] boost::asio::awaitable<HttpAnswer> Hosts(const ApiRequest& request) const;

  /// `/api/v1/hosts/NAME` (one non-empty segment).
  [[nodiscard]] static bool IsHostPath(std::string_view path);

  /// GET /api/v1/hosts/{host}: the host as /api/v1/hosts lists it, plus its recent state
  /// changes (HostView::state_changes, newest first). 404 for an unknown host.
  [[nodiscard]] boost::asio::awaitable<HttpAnswer> Host(const ApiRequest& request) const;

 private:
  [[nodiscard]] boost::asio::awaitable<HttpAnswer> Query(const ApiRequest& request,
                                                         bool listening) const;
  // The cluster's answer to a processes (listening) or hosts query: this member as the
  // coordinator asks every member with scope=local (cluster_query.hpp) and merges.
  [[nodiscard]] boost::asio::awaitable<HttpAnswer> FanOutQuery(const ApiRequest& request,
                                                               const ProcessQuery& query,
                                                               bool listening) const;
  [[nodiscard]] boost::asio::awaitable<HttpAnswer> FanOutHosts(
      const ApiRequest& request, const FleetListOptions& options) const;
  // The hosts this member answers for: all of them unless clustered, else those the view says
  // it owns.
  [[nodiscard]] std::vector<std::shared_ptr<const HostView>> OwnHosts() const;
  // The names of every host of the inventory.
  [[nodiscard]] std::vector<std::string> InventoryNames() const;
  // The JSON answer, or the error a regex hit while matching (the request's fault: 400).
  // `views` are the hosts to answer for, `jobs` their fresh probes (empty without fresh=1).
  [[nodiscard]] boost::asio::awaitable<boost::system::result<std::string, SelectorError>> Answer(
      const ProcessQuery& query, bool listening,
      const std::vector<std::shared_ptr<const HostView>>& views, std::vector<AdhocJob> jobs) const;
  // Charges ad hoc work on `hosts` hosts to `request`'s client: nullopt when admitted, else the
  // 429 answer.
  [[nodiscard]] std::optional<HttpResponse> RefusedAdhoc(const ApiRequest& request,
                                                         std::size_t hosts) const;

  FleetPort& fleet_;
  AdhocLimits limits_;
  FreshLimiter& fresh_;
  ApiWorkers& workers_;
  const ClusterPort* cluster_;
  ClusterQueryOptions cluster_query_;
};

}  // namespace fleetps::collector
