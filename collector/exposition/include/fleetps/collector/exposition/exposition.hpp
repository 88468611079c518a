#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include "fleetps/agent/shell_totals.hpp"
#include "fleetps/collector/fleet/fleet_state.hpp"
#include "fleetps/collector/telemetry/histogram.hpp"
#include "fleetps/collector/telemetry/process_stats.hpp"

namespace fleetps::collector {

/// Collector-wide values sampled at scrape time. Unset optionals are not emitted.
/// API requests refused so far, by reason (fleetps_api_refused_total).
struct ApiRefusalCounts {
  std::uint64_t rate_limited_client = 0;     ///< 429, a client's ad hoc budget.
  std::uint64_t rate_limited_collector = 0;  ///< 429, the collector-wide ad hoc budget.
  std::uint64_t overloaded = 0;              ///< 503, too many API requests in progress.
};

/// The fleetps_cluster_* self-metrics of a clustered collector.
struct ClusterSelfMetrics {
  std::string name;  ///< cluster.name, the `cluster` label
  /// Members by state, every state from the start.
  std::vector<std::pair<std::string, std::uint64_t>> members_by_state;
  struct Member {
    std::string name, advertise, zone, version;
  };
  std::vector<Member> members;
  std::uint64_t owned_hosts = 0;
  std::uint64_t owned_buckets = 0;
  std::uint64_t desired_hosts = 0;
  std::uint64_t orphaned_hosts = 0;
  /// `membership: etcd` only: the engine's and the coordinator's figures (§7.4).
  struct Dynamic {
    double lease_ttl_seconds = 0;
    double lease_remaining_seconds = 0;
    bool fenced = false;
    bool failsafe = false;
    bool inventory_mismatch = false;
    std::int64_t revision = 0;
    std::uint64_t expected_members = 0;
    std::uint64_t standby_hosts = 0;  ///< warm standby is not implemented: 0
    std::uint64_t probes_fenced = 0;  ///< probes skipped because the member was fenced
    struct Handovers {
      std::string direction, reason;
      std::uint64_t count = 0;
    };
    std::vector<Handovers> handovers;  ///< every direction and reason from the start
    /// Per reason: from the receiver's warm start to its claim (the engine's measure).
    std::vector<std::pair<std::string, HistogramSnapshot>> handover_seconds;
    struct Requests {
      std::string op, result;
      std::uint64_t count = 0;
    };
    std::vector<Requests> coordination_requests;  ///< every op and result from the start
    /// The failsafe question's failures by reason (auth, unreachable, bad_answer), every
    /// reason from the start.
    std::vector<std::pair<std::string, std::uint64_t>> peer_errors;
  };
  std::optional<Dynamic> dynamic;
};

struct SelfMetrics {
  std::uint64_t supervisor_restarts = 0;
  std::uint64_t bus_dropped = 0;
  bool config_last_reload_successful = true;
  std::set<std::string, std::less<>> quarantined_hosts;  ///< Shown as host_state "quarantined".
  std::optional<std::uint64_t> handshakes_in_flight;
  std::optional<std::uint64_t> handshake_limit;
  std::optional<HistogramSnapshot> event_loop_lag;
  std::optional<double> last_scrape_duration_seconds;
  std::optional<ProcessStats> process;
  /// Requests and connections the web config refused, by reason (no_credentials...), every
  /// reason from the start.
  std::vector<std::pair<std::string, std::uint64_t>> http_auth_failures;
  ApiRefusalCounts api_refused;
  /// The agents' persistent probe shells (agent::ShellTotalsNow()), every label from the start.
  agent::ShellTotals shells;
  /// Absent when not clustered: no fleetps_cluster_* series then.
  std::optional<ClusterSelfMetrics> cluster;
};

/// Text exposition format 0.0.4 of everything (/metrics): collector self-metrics (`self`, the
/// schedule delay, the internal error counts of telemetry) plus every host's series with a
/// `host` label, families grouped in kMetricCatalog order with one HELP and TYPE each. Series
/// come from the snapshots current at call time (a removed host leaves none). Rendered here,
/// family by family across the hosts (~100 ns per series); nothing is kept between calls.
/// Thread-safe; blocks for the render (no I/O).
[[nodiscard]] std::string RenderMetrics(const FleetState& state, const SelfMetrics& self);

/// RenderMetrics in pieces, for an answer written as it is rendered (the /metrics handler): the
/// pieces' concatenation is RenderMetrics' text for the fleet as of construction, byte for
/// byte. Holds the HostView of every host of that moment until destroyed (a slow client keeps
/// them, and the snapshots they hold, alive for as long as the answer takes) and the piece
/// being written; never the whole answer. Use from one thread at a time.
class MetricsRenderer {
 public:
  MetricsRenderer(const FleetState& state, SelfMetrics self);
  MetricsRenderer(const MetricsRenderer&) = delete;
  MetricsRenderer& operator=(const MetricsRenderer&) = delete;
  ~MetricsRenderer();

  /// The next lines: at least `min_bytes` unless the exposition ends first, and at most one
  /// host's series of one family more (lines are never split). Empty once everything was
  /// given. Valid until the next call.
  [[nodiscard]] std::string_view Next(std::size_t min_bytes);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// One host's series without the host label and without collector families
/// (/probe?target=); nullopt for an unknown host. Renders that one host on the fly.
[[nodiscard]] std::optional<std::string> RenderHostMetrics(const FleetState& state,
                                                           std::string_view host,
                                                           const SelfMetrics& self);

/// A label value as every sink writes it: LabelSafe (valid UTF-8, controls and invalid bytes as
/// `\xNN`), whatever the host printed, then at most `max_bytes` bytes (BoundedLabelSafe: a cut
/// value ends in `…` and a hash). Host series use their view's bound
/// (`collector.max_label_value_bytes`), collector series the default.
[[nodiscard]] std::string BoundedLabelValue(std::string_view value,
                                            std::size_t max_bytes = kDefaultLabelValueBytes);

/// The same series as RenderMetrics / RenderHostMetrics as prometheus-cpp objects (both come
/// from one walk of the series), for embedding fleetps in a prometheus-cpp Registry/Exposer and
/// as the baseline the text renderer is tested and benchmarked against. Label values are
/// bounded as BoundedLabelValue does. Not used by fleetps' own endpoints: prometheus-cpp's
/// Collect + TextSerializer cost ~2 µs per series (0.2 s at 100 k series), against ~0.03 µs
/// for RenderMetrics. Thread-safe (reads FleetState snapshots).
class FleetCollectable final : public prometheus::Collectable {
 public:
  /// `only_host` set: that host's series without the `host` label and without collector
  /// self-metrics (the /probe multi-target view).
  FleetCollectable(const FleetState& state, std::function<SelfMetrics()> self,
                   std::optional<std::string> only_host = std::nullopt);

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const FleetState& state_;
  std::function<SelfMetrics()> self_;
  std::optional<std::string> only_host_;
};

}  // namespace fleetps::collector
