// The collector's HTTP API: every endpoint of docs (DESIGN.md sections 7 and 8) in one route
// table over the handler groups. The app serves Handle; tests call it with fake ports.
#pragma once

#include <boost/asio/awaitable.hpp>

#include "fleetps/collector/api/admission.hpp"
#include "fleetps/collector/api/cluster_handlers.hpp"
#include "fleetps/collector/api/event_handlers.hpp"
#include "fleetps/collector/api/health_handlers.hpp"
#include "fleetps/collector/api/metrics_handlers.hpp"
#include "fleetps/collector/api/ports.hpp"
#include "fleetps/collector/api/query_handlers.hpp"
#include "fleetps/collector/api/router.hpp"
#include "fleetps/collector/api/web_ui.hpp"

namespace fleetps::collector {

struct HttpApiOptions {
  AdhocLimits adhoc;
  EventStreamOptions events;
  FreshLimits fresh;
  ApiWorkOptions work;
  /// Null when the collector is not clustered (cluster.membership: none); else outlives the
  /// HttpApi. Peers are asked with ClusterQueryOptions' defaults (2 s).
  const ClusterPort* cluster = nullptr;
};

/// Routes (methods as RouteMethods name them):
///   GET  /metrics                                                MetricsHandlers
///   GET  /sd /probe (answered here or forwarded) /api/v1/cluster ClusterHandlers
///   ANY  /-/healthy /-/ready,  POST /-/reload                    HealthHandlers
///   GET  /api/v1/processes /api/v1/listening /api/v1/hosts
///        /api/v1/hosts/{host}/processes/{pid}/open-files         QueryHandlers
///        (processes, listening and hosts fan out over the cluster with `cluster`)
///   GET  /api/v1/events                                          EventHandlers
///   GET  / /index.html /hosts/{host} /query                      WebUiHandlers
/// Query evaluation (processes and listening once admitted, hosts) and the web UI run on
/// ApiWorkers (503 when too many are in progress); the scrape and health routes, the event
/// stream and open-files (one host, budgeted) answer on the caller's io thread.
/// The ports and the bus must outlive the HttpApi; streams hold what they need themselves.
class HttpApi {
 public:
  HttpApi(FleetPort& fleet, ControlPort& control, FleetBus& bus, HttpApiOptions options = {});
  HttpApi(const HttpApi&) = delete;
  HttpApi& operator=(const HttpApi&) = delete;

  /// Answers one request from `peer` (an HttpHandler for HttpServer).
  [[nodiscard]] boost::asio::awaitable<HttpAnswer> Handle(HttpRequest request,
                                                          HttpPeer peer = {}) const {
    return router_.Route(std::move(request), peer);
  }

  /// Ends every event stream (see EventHandlers::StopStreams).
  void StopStreams() { events_.StopStreams(); }

  [[nodiscard]] const Router& Routes() const noexcept { return router_; }
  [[nodiscard]] const EventHandlers& Events() const noexcept { return events_; }

  /// The 429 and 503 refusals so far (fleetps_api_refused_total).
  [[nodiscard]] ApiRefusals Refusals() const;

 private:
  FreshLimiter fresh_;
  ApiWorkers workers_;
  MetricsHandlers metrics_;
  ClusterHandlers cluster_;
  HealthHandlers health_;
  QueryHandlers query_;
  EventHandlers events_;
  WebUiHandlers web_ui_;
  Router router_;
};

}  // namespace fleetps::collector
