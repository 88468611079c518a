#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace fleetps::collector {

struct RunOptions {
  std::string config_path;
  std::string listen_override;  ///< `--listen`; empty = the config's `collector.listen`.
  /// `--cluster-member`, else $FLEETPS_CLUSTER_MEMBER; empty = the host name (static mode).
  std::string cluster_member;
  std::string cluster_advertise;                ///< `--cluster-advertise`; empty = not given
  std::optional<std::uint32_t> cluster_weight;  ///< `--cluster-weight`
  std::optional<std::string> cluster_zone;      ///< `--cluster-zone`
};

/// `fleetps run`: loads the inventory (invalid → diagnostics on stderr, exit 1), then builds the
/// supervision tree on one io_context (`collector.threads` threads):
///   top-level supervisor ─┬─ hosts   (DynamicSupervisor, one HostAgent per host)
///                         ├─ events  (bus subscriber keeping FleetState current)
///                         ├─ http    (/metrics, /probe, /sd, /api/v1/..., web UI)
///                         └─ reload  (SIGHUP, coalesced)
/// With `cluster.membership: static` it runs agents only for the hosts the static list's
/// assignment gives this member (the member named by RunOptions, checked against the list), and
/// a reload that changes the list moves hosts through the same diff.
/// SIGINT/SIGTERM stop it within 10 s, closing every session. Returns the process exit code:
/// 0 after an orderly stop, 1 on a start-up error, kEscalationExitCode when the top-level
/// restart budget is exhausted.
int RunCollector(const RunOptions& options);

}  // namespace fleetps::collector
