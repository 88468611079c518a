// The lifecycle endpoints: GET /-/healthy, GET /-/ready and POST /-/reload.
#pragma once

#include <boost/asio/awaitable.hpp>

#include "fleetps/collector/api/ports.hpp"
#include "fleetps/collector/api/router.hpp"

namespace fleetps::collector {

class HealthHandlers {
 public:
  explicit HealthHandlers(ControlPort& control) : control_(control) {}

  /// Any method: 200 `fleetps is healthy\n` while the process serves HTTP at all.
  [[nodiscard]] boost::asio::awaitable<HttpAnswer> Healthy(const ApiRequest& request) const;

  /// Any method: 200 `fleetps is ready\n` once every agent has been started, else 503
  /// `fleetps is starting\n` (also while shutting down).
  [[nodiscard]] boost::asio::awaitable<HttpAnswer> Ready(const ApiRequest& request) const;

  /// POST: 403 while collector.enable_reload_endpoint is off; otherwise reloads and answers
  /// 200 with the summary, or 400 with the diagnostics of an invalid file.
  [[nodiscard]] boost::asio::awaitable<HttpAnswer> Reload(const ApiRequest& request);

  /// POST /api/v1/cluster/drain: 403 while collector.enable_reload_endpoint is off (the same
  /// switch as /-/reload); otherwise the port's answer (202 draining, 404 not an etcd member).
  [[nodiscard]] boost::asio::awaitable<HttpAnswer> Drain(const ApiRequest& request);

  /// GET /api/v1/cluster/failsafe, a peer's check before it fences (scale-out.md §6.3):
  /// 200 {"store_down": bool}, or 404 when this collector is not an etcd member.
  [[nodiscard]] boost::asio::awaitable<HttpAnswer> Failsafe(const ApiRequest& request) const;

 private:
  ControlPort& control_;
};

}  // namespace fleetps::collector
