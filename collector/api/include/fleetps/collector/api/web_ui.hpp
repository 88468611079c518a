// The web UI (DESIGN.md §8, docs/web-ui.md): server-rendered pages with one inline script that
// keeps them live through the JSON API and the event stream. Every page works without
// JavaScript (filters, sort and pages are query parameters). Everything a host sent is
// HTML-escaped; no host data is ever written into the script, which reads what it needs from
// data-* attributes and the API. Each answer carries a Content-Security-Policy that allows only
// this origin and the page's script and style by nonce.
#pragma once

#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "fleetps/collector/api/fleet_list.hpp"
#include "fleetps/collector/api/ports.hpp"
#include "fleetps/collector/api/router.hpp"
#include "fleetps/collector/fleet/fleet_state.hpp"

namespace fleetps::collector {

/// A rendered page and its HTTP status (400 for a bad parameter, 404 for an unknown host).
struct WebPage {
  boost::beast::http::status status = boost::beast::http::status::ok;
  std::string html;
};

/// The "Cluster" table of `/` (clustered collectors only): one row per member.
struct WebClusterMember {
  std::string name;
  std::string advertise;  ///< http(s)://host:port, shown as a link
  std::string state;
  std::size_t owned_hosts = 0;
  bool self = false;
};
struct WebClusterSummary {
  std::string name;
  std::string membership;
  std::size_t orphaned_hosts = 0;
  std::vector<WebClusterMember> members;
};

/// `/`: counts per state, the cluster's members when `cluster` is given, the filter form, one
/// page of hosts (problems first by default) and the pager. `encoded_query` holds the fleet
/// parameters (ParseFleetListQuery); `nonce` is the page's CSP nonce (base64 or hex, never user
/// text).
[[nodiscard]] WebPage RenderFleetPage(const std::vector<std::shared_ptr<const HostView>>& hosts,
                                      const std::set<std::string, std::less<>>& quarantined,
                                      std::string_view encoded_query,
                                      std::chrono::system_clock::time_point now,
                                      std::string_view nonce,
                                      const WebClusterSummary* cluster = nullptr);

/// `/hosts/{host}`: state and its reason in words, since when, next retry, host key
/// fingerprint, negotiated SSH algorithms (weak ones flagged), the process table filtered by the
/// selector `q` (with `sort` and `limit`; a bad one shows its position, status 400), listening
/// sockets, and the host's recent state changes (HostView::state_changes, newest first) above
/// which the script adds the events it follows. `view` null: the 404 page.
[[nodiscard]] WebPage RenderHostPage(std::string_view host, const HostView* view, bool quarantined,
                                     std::string_view encoded_query,
                                     std::chrono::system_clock::time_point now,
                                     std::string_view nonce);

/// `/query?q=&sort=&limit=`: a selector over the latest tables of the whole fleet, rows with the
/// same user, command and arguments folded into one line whose hosts read `web[01-40]` (as the
/// CLI's table does).
[[nodiscard]] WebPage RenderQueryPage(const std::vector<std::shared_ptr<const HostView>>& hosts,
                                      std::string_view encoded_query,
                                      std::chrono::system_clock::time_point now,
                                      std::string_view nonce);

/// The Content-Security-Policy of a page with `nonce`: nothing from other origins, the page's own
/// script and style by nonce, fetches and forms to this origin only, no framing.
[[nodiscard]] std::string ContentSecurityPolicy(std::string_view nonce);

/// 128 random bits (getrandom) in base64, fresh for every page.
[[nodiscard]] std::string NewNonce();

/// For HTML text and double-quoted attribute values: & < > " ' escaped, invalid UTF-8 and
/// control characters shown as `\xNN` (LabelSafe), so hostile process names stay visible text.
[[nodiscard]] std::string HtmlEscape(std::string_view text);

/// GET /, /index.html, /hosts/{host} and /query.
class WebUiHandlers {
 public:
  /// `cluster` null when not clustered.
  explicit WebUiHandlers(FleetPort& fleet, const ClusterPort* cluster = nullptr)
      : fleet_(fleet), cluster_(cluster) {}
  [[nodiscard]] boost::asio::awaitable<HttpAnswer> Fleet(const ApiRequest& request) const;
  [[nodiscard]] boost::asio::awaitable<HttpAnswer> Host(const ApiRequest& request) const;
  [[nodiscard]] boost::asio::awaitable<HttpAnswer> Query(const ApiRequest& request) const;
  /// `/hosts/NAME` (one non-empty segment).
  [[nodiscard]] static bool IsHostPath(std::string_view path);

 private:
  FleetPort& fleet_;
  const ClusterPort* cluster_;
};

}  // namespace fleetps::collector
