// The endpoints that read the cluster view (scale-out.md §6.6, §7.3): /sd and its variants,
// /probe forwarding to a host's owner, and GET /api/v1/cluster. Not clustered (no ClusterPort),
// /sd lists the fleet with this collector as every host's collector and /probe answers here.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "fleetps/collector/api/admission.hpp"
#include "fleetps/collector/api/metrics_handlers.hpp"
#include "fleetps/collector/api/ports.hpp"
#include "fleetps/collector/api/router.hpp"

namespace fleetps::collector {

/// The header a forwarded /probe carries: its receiver answers itself or refuses, never forwards.
inline constexpr std::string_view kForwardedHeader = "X-Fleetps-Forwarded";

class ClusterHandlers {
 public:
  /// `cluster` null when not clustered; `workers` run the blocking forward.
  ClusterHandlers(FleetPort& fleet, const ClusterPort* cluster, const MetricsHandlers& metrics,
                  ApiWorkers& workers)
      : fleet_(fleet), cluster_(cluster), metrics_(metrics), workers_(workers) {}

  /// GET /sd: the whole inventory as Prometheus http_sd target groups, one per host (`targets:
  /// [HOST]`, its labels, `host`, `__meta_fleetps_address`, `__meta_fleetps_port`,
  /// `__meta_fleetps_collector` = the owner's advertise host:port, or this collector as the
  /// request's Host header names it when not clustered). Parameters, each at most once:
  ///   collector=NAME   only that member's hosts (clustered only)
  ///   shard=I&of=N     only the hosts Prometheus' hashmod(N) + keep(I) would keep
  ///   view=members     the members instead: one target (advertise host:port) per member
  /// Anything else, or a bad value, is 400 with the problem in one line.
  [[nodiscard]] boost::asio::awaitable<HttpAnswer> ServiceDiscovery(
      const ApiRequest& request) const;

  /// GET /probe?target=HOST: answered here when this member owns HOST (or not clustered);
  /// else forwarded one hop to the owner, whose answer (status and body) is passed on; the
  /// forward carries the caller's Authorization header, or without one the member's own
  /// credentials (ClusterPort::PeerClient, cluster.peer_http), and trusts its CA file. A
  /// request that was itself forwarded (kForwardedHeader) for a host owned elsewhere is 421,
  /// a host nobody owns 503, an owner that cannot be reached 502.
  [[nodiscard]] boost::asio::awaitable<HttpAnswer> Probe(const ApiRequest& request) const;

  /// GET /api/v1/cluster: this member's view as `{"status":"ok","data":{...}}` (cluster,
  /// membership, self, buckets, revision, hosts, orphaned_hosts, members with name, advertise,
  /// state, zone, weight, version, self, owned_hosts, owned_buckets). `?hosts=a,b` adds `owners`:
  /// each host's bucket, owner and advertise (404 naming an unknown host). 404 when not clustered.
  [[nodiscard]] boost::asio::awaitable<HttpAnswer> Cluster(const ApiRequest& request) const;

 private:
  // Every inventory host: the cluster port's list, else the fleet state's.
  std::shared_ptr<const std::vector<config::HostSpec>> Inventory() const;

  FleetPort& fleet_;
  const ClusterPort* cluster_;
  const MetricsHandlers& metrics_;
  ApiWorkers& workers_;
};

}  // namespace fleetps::collector
