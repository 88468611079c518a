#include "fleetps/collector/api/health_handlers.hpp"

// GCC 12 reports a false -Wmismatched-new-delete on coroutine frames (GCC PR 104578).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace fleetps::collector {

boost::asio::awaitable<std::pair<unsigned, std::string>> ControlPort::Drain() {
  co_return std::pair<unsigned, std::string>{404, "this collector is not an etcd member\n"};
}

boost::asio::awaitable<std::optional<bool>> ControlPort::StoreDown() { co_return std::nullopt; }

namespace {

namespace http = boost::beast::http;

}  // namespace

boost::asio::awaitable<HttpAnswer> HealthHandlers::Healthy(const ApiRequest& request) const {
  co_return MakeResponse(request.http, http::status::ok, "fleetps is healthy\n");
}

boost::asio::awaitable<HttpAnswer> HealthHandlers::Ready(const ApiRequest& request) const {
  co_return control_.Ready()
      ? MakeResponse(request.http, http::status::ok, "fleetps is ready\n")
      : MakeResponse(request.http, http::status::service_unavailable, "fleetps is starting\n");
}

boost::asio::awaitable<HttpAnswer> HealthHandlers::Reload(const ApiRequest& request) {
  if (!control_.ReloadEndpointEnabled()) {
    co_return MakeResponse(
        request.http, http::status::forbidden,
        "reload endpoint disabled; set collector.enable_reload_endpoint: true\n");
  }
  const ReloadOutcome outcome = co_await control_.Reload();
  co_return MakeResponse(request.http, outcome.ok ? http::status::ok : http::status::bad_request,
                         outcome.text);
}

boost::asio::awaitable<HttpAnswer> HealthHandlers::Drain(const ApiRequest& request) {
  if (!control_.ReloadEndpointEnabled()) {
    co_return MakeResponse(request.http, http::status::forbidden,
                           "drain endpoint disabled; set collector.enable_reload_endpoint: true\n");
  }
  auto [status, text] = co_await control_.Drain();
  co_return MakeResponse(request.http, static_cast<http::status>(status), text);
}

boost::asio::awaitable<HttpAnswer> HealthHandlers::Failsafe(const ApiRequest& request) const {
  const std::optional<bool> down = co_await control_.StoreDown();
  if (!down) {
    co_return MakeResponse(request.http, http::status::not_found,
                           "{\"error\":\"this collector is not an etcd member\"}\n",
                           "application/json");
  }
  co_return MakeResponse(request.http, http::status::ok,
                         *down ? "{\"store_down\":true}\n" : "{\"store_down\":false}\n",
                         "application/json");
}

}  // namespace fleetps::collector
