#pragma once

#include <string>

namespace fleetps::collector {

struct RunOptions {
  std::string config_path;
  std::string listen_override;  ///< `--listen`; empty = the config's `collector.listen`.
};

/// `fleetps run`: loads the inventory (invalid → diagnostics on stderr, exit 1), then builds the
/// supervision tree on one io_context (`collector.threads` threads):
///   top-level supervisor ─┬─ hosts   (DynamicSupervisor, one HostAgent per host)
///                         ├─ events  (bus subscriber keeping FleetState current)
///                         ├─ http    (/metrics, /probe, /sd, /api/v1/..., web UI)
///                         └─ reload  (SIGHUP, coalesced)
/// SIGINT/SIGTERM stop it within 10 s, closing every session. Returns the process exit code:
/// 0 after an orderly stop, 1 on a start-up error, kEscalationExitCode when the top-level
/// restart budget is exhausted.
int RunCollector(const RunOptions& options);

}  // namespace fleetps::collector
