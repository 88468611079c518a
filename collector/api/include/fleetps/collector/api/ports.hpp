// What the endpoint handlers need from the running collector, as small interfaces: the app
// implements them over its agents, supervisors and bus; tests implement them over a FleetState
// they fill themselves. Handlers run on HTTP connection coroutines, on any io thread, so every
// implementation must be thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "fleetps/agent/host_agent.hpp"
#include "fleetps/collector/api/query_api.hpp"
#include "fleetps/collector/cluster/cluster_view.hpp"
#include "fleetps/collector/exposition/exposition.hpp"
#include "fleetps/collector/fleet/fleet_state.hpp"
#include "fleetps/collector/http/http_client.hpp"
#include "fleetps/config/inventory.hpp"
#include "fleetps/registry/bus.hpp"

namespace fleetps::collector {

/// What agents publish on the bus, tagged with the generation of the agent that sent it, and
/// the collector's own reload notices (topic "config", generation 0). Agents publish on topic
/// "host/NAME".
struct FleetEvent {
  std::uint64_t generation = 0;
  std::variant<agent::HostStatus, agent::ProbeResult, ConfigReloadEvent> payload;
  /// HostStatus only: earlier statuses of the host this one replaced because the host was over
  /// its event budget (StatusThrottle, collector.max_host_events_per_minute).
  std::uint64_t coalesced = 0;
};

using FleetBus = registry::Bus<FleetEvent>;

/// The ad hoc operations of one host's running agent (agent::HostAgent's, in the app). Each
/// call must be made on `Strand()`, where the agent's session lives; the object keeps the agent
/// alive while a call runs.
class AdhocAgent {
 public:
  virtual ~AdhocAgent() = default;
  [[nodiscard]] virtual boost::asio::any_io_executor Strand() const = 0;
  /// An ad hoc probe of `kind` over the warm session (agent::HostAgent::RunAdhoc).
  [[nodiscard]] virtual boost::asio::awaitable<agent::ProbeResult> RunAdhoc(
      agent::ProbeKind kind) = 0;
  /// The open files of `pid` (agent::HostAgent::RunOpenFiles).
  [[nodiscard]] virtual boost::asio::awaitable<agent::OpenFilesOutcome> RunOpenFiles(
      std::int64_t pid) = 0;
};

/// The cluster this collector is a member of (cluster.membership static or etcd). The app
/// implements it over its membership layer; handlers use it for /sd owner URLs, /probe
/// forwarding, fan-out and /api/v1/cluster. Thread-safe.
class ClusterPort {
 public:
  virtual ~ClusterPort() = default;
  /// The current view; never null while the port exists.
  [[nodiscard]] virtual std::shared_ptr<const cluster::ClusterView> View() const = 0;
  /// Every inventory host, owned here or not (the fleet state holds the owned ones only), for
  /// /sd, the ownership counts and /probe forwarding. Null = the fleet state's hosts: a port
  /// that need not implement it (a test fake) keeps its old behaviour.
  [[nodiscard]] virtual std::shared_ptr<const std::vector<config::HostSpec>> InventoryHosts()
      const {
    return nullptr;
  }
  /// Why this member is not (yet) a working member, in words for /api/v1/cluster (e.g. "not
  /// registered with etcd, retrying: ..."); empty when there is nothing to say.
  [[nodiscard]] virtual std::string Problem() const { return {}; }
  /// How this member reaches its peers on its own behalf (cluster.peer_http): basic auth
  /// credentials and the CA file for https:// peers; empty = none, the system's CAs.
  [[nodiscard]] virtual HttpClientOptions PeerClient() const { return {}; }
};

/// The fleet as the read endpoints see it.
class FleetPort {
 public:
  virtual ~FleetPort() = default;
  /// The fleet state the handlers render; outlives the handlers.
  [[nodiscard]] virtual const FleetState& State() const = 0;
  /// Collector-wide values as of now (without last_scrape_duration_seconds, which the /metrics
  /// handler keeps itself).
  [[nodiscard]] virtual SelfMetrics Self() = 0;
  /// The running agent of `host`, or null when it has none (down, quarantined, removed).
  [[nodiscard]] virtual std::shared_ptr<AdhocAgent> Agent(std::string_view host) const = 0;
};

/// What POST /-/reload answers: `text` is the one-line summary, or the diagnostics.
struct ReloadOutcome {
  bool ok = false;
  std::string text;
};

/// The collector's lifecycle as /-/ready and /-/reload see it.
class ControlPort {
 public:
  virtual ~ControlPort() = default;
  /// Every host's agent has been started.
  [[nodiscard]] virtual bool Ready() const = 0;
  /// collector.enable_reload_endpoint of the running configuration.
  [[nodiscard]] virtual bool ReloadEndpointEnabled() const = 0;
  /// Re-reads the configuration file and applies it (origin "http"); an invalid file leaves
  /// the running configuration in place and answers its diagnostics.
  [[nodiscard]] virtual boost::asio::awaitable<ReloadOutcome> Reload() = 0;
  /// POST /api/v1/cluster/drain (allowed like /-/reload): starts this member's graceful leave.
  /// The answer's status and text. The default (defined in health_handlers.cpp, not here: GCC
  /// 12 and coroutine bodies in headers) answers 404, not an etcd member.
  [[nodiscard]] virtual boost::asio::awaitable<std::pair<unsigned, std::string>> Drain();
  /// GET /api/v1/cluster/failsafe: is the coordination store unreachable for this member (a
  /// renewal overdue, fenced or in failsafe, or one bounded renewal attempt made on the call
  /// failing)? nullopt when not an etcd member (404). The default (health_handlers.cpp) is
  /// nullopt.
  [[nodiscard]] virtual boost::asio::awaitable<std::optional<bool>> StoreDown();
};

}  // namespace fleetps::collector
