#pragma once

#include <memory>
#include <set>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "fleetps/collector/api/ports.hpp"
#include "fleetps/collector/api/router.hpp"
#include "fleetps/collector/fleet/fleet_state.hpp"

namespace fleetps::collector {

/// The HTML status page at `/`: one row per host with state, dialect, last probe, last failure
/// reason and session age; refreshes itself every 5 s. Plain HTML and CSS, no script. Every
/// value is HTML-escaped.
[[nodiscard]] std::string RenderStatusPage(
    const std::vector<std::shared_ptr<const HostView>>& hosts,
    const std::set<std::string, std::less<>>& quarantined);

/// GET / and /index.html: the status page of the fleet as of the request.
class StatusPageHandler {
 public:
  explicit StatusPageHandler(FleetPort& fleet) : fleet_(fleet) {}
  [[nodiscard]] boost::asio::awaitable<HttpAnswer> Page(const ApiRequest& request) const;

 private:
  FleetPort& fleet_;
};

/// Escapes &, <, >, " and '.
[[nodiscard]] std::string HtmlEscape(std::string_view text);

}  // namespace fleetps::collector
