// The Prometheus endpoints (docs/metrics.md): GET /metrics and /probe?target=HOST (/sd and
// /probe forwarding: ClusterHandlers).
#pragma once

#include <atomic>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "fleetps/collector/api/ports.hpp"
#include "fleetps/collector/api/router.hpp"

namespace fleetps::collector {

/// Renders the fleet's series from the snapshots at request time; never runs a probe.
class MetricsHandlers {
 public:
  explicit MetricsHandlers(FleetPort& fleet) : fleet_(fleet) {}

  /// GET /metrics: every series (text format 0.0.4), gzip-compressed (level 1) when the
  /// scraper accepts it, always with `Vary: Accept-Encoding`. Streamed as it is rendered
  /// (MetricsRenderer), in chunks (HTTP/1.1; the connection stays open for the next scrape). The
  /// render time is the next scrape's fleetps_scrape_duration_seconds.
  [[nodiscard]] boost::asio::awaitable<HttpAnswer> Metrics(const ApiRequest& request);

  /// GET /probe?target=HOST: one host's series without the host label while the host is up
  /// (HostView::Up() and not quarantined). Otherwise 503 with one text/plain line, also the
  /// status line's reason phrase (what Prometheus shows as the scrape error), e.g. `host db01
  /// is down: hostkey_mismatch`; the reason is DownReason or `quarantined`. 400 without a
  /// target, 404 for a host not in the inventory.
  [[nodiscard]] boost::asio::awaitable<HttpAnswer> Probe(const ApiRequest& request) const;

  /// Seconds the last /metrics render took; nullopt before the first scrape.
  [[nodiscard]] std::optional<double> LastScrapeSeconds() const;

 private:
  FleetPort& fleet_;
  std::atomic<double> last_scrape_seconds_{-1};  // < 0: no scrape yet
};

}  // namespace fleetps::collector
