#pragma once

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "fleetps/collector/fleet/fleet_state.hpp"

namespace fleetps::collector {

/// The HTML status page at `/`: one row per host with state, dialect, last probe, last failure
/// reason and session age; refreshes itself every 5 s. Plain HTML and CSS, no script. Every
/// value is HTML-escaped.
[[nodiscard]] std::string RenderStatusPage(
    const std::vector<std::shared_ptr<const HostView>>& hosts,
    const std::set<std::string, std::less<>>& quarantined);

/// Escapes &, <, >, " and '.
[[nodiscard]] std::string HtmlEscape(std::string_view text);

}  // namespace fleetps::collector
