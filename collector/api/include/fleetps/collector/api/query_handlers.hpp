// The query endpoints (docs/query.md): GET /api/v1/processes, /api/v1/listening,
// /api/v1/hosts/{host}/processes/{pid}/open-files and /api/v1/hosts. Invalid parameters are
// answered 400 before any agent is asked anything.
#pragma once

#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>

#include "fleetps/collector/api/adhoc.hpp"
#include "fleetps/collector/api/ports.hpp"
#include "fleetps/collector/api/router.hpp"

namespace fleetps::collector {

class QueryHandlers {
 public:
  explicit QueryHandlers(FleetPort& fleet, AdhocLimits limits = {})
      : fleet_(fleet), limits_(limits) {}

  /// GET /api/v1/processes?q=&sort=&limit=&fresh=: one row per process of the latest
  /// snapshots, or with fresh=1 of one ad hoc probe per host over the warm sessions (a host
  /// whose probe fails or misses the deadline answers its snapshot as "stale").
  [[nodiscard]] boost::asio::awaitable<HttpAnswer> Processes(const ApiRequest& request) const;

  /// GET /api/v1/listening: the same, one row per listening socket.
  [[nodiscard]] boost::asio::awaitable<HttpAnswer> Listening(const ApiRequest& request) const;

  /// True for paths of the open-files route (MatchOpenFilesPath's shape), bad segments
  /// included: those are answered 400 by OpenFiles.
  [[nodiscard]] static bool IsOpenFilesPath(std::string_view path);

  /// GET /api/v1/hosts/{host}/processes/{pid}/open-files: runs the fixed open-files template
  /// on the host's warm session. 404 unknown host or process, 503 host down, 504 deadline,
  /// 403 permission denied, 501 unsupported dialect, 502 failed probe.
  [[nodiscard]] boost::asio::awaitable<HttpAnswer> OpenFiles(const ApiRequest& request) const;

  /// GET /api/v1/hosts: every host's state, session and last probe.
  [[nodiscard]] boost::asio::awaitable<HttpAnswer> Hosts(const ApiRequest& request) const;

 private:
  [[nodiscard]] boost::asio::awaitable<HttpAnswer> Query(const ApiRequest& request,
                                                         bool listening) const;
  // The JSON answer, or the error a regex hit while matching (the request's fault: 400).
  [[nodiscard]] boost::asio::awaitable<boost::system::result<std::string, SelectorError>> Answer(
      const ProcessQuery& query, bool listening) const;

  FleetPort& fleet_;
  AdhocLimits limits_;
};

}  // namespace fleetps::collector
