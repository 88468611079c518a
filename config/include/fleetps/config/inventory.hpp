// The host inventory as plain values: what `fleetps::config::LoadInventory` produces from YAML
// and what every other component consumes. No YAML types leak out of this header.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "fleetps/config/cluster.hpp"

namespace fleetps::config {

/// How an unknown server host key is treated (DESIGN.md section 6).
enum class HostKeyPolicy {
  kStrict,     ///< Unknown or changed keys are refused before authentication.
  kAcceptNew,  ///< The first key seen is recorded in known_hosts, then strict.
};

/// `privilege:` how the probe reads what only root may read (other users' descriptors and I/O,
/// socket owners).
enum class Privilege {
  kNone,  ///< As the login user: those readings stay partial (fleetps_probe_partial).
  kSudo,  ///< Through `sudo -n` with fixed argument lists (`fleetps sudoers`), else as kNone.
};

/// `probe_channel:` how probes reach the host's `/bin/sh`.
enum class ProbeChannel {
  kAuto,   ///< The persistent shell, falling back to exec for a host whose shell misbehaves.
  kShell,  ///< The persistent shell only: a shell failure is a probe error.
  kExec,   ///< A new exec channel per probe.
};

/// "auto", "shell", "exec".
[[nodiscard]] constexpr std::string_view ProbeChannelName(ProbeChannel channel) noexcept {
  return channel == ProbeChannel::kShell  ? "shell"
         : channel == ProbeChannel::kExec ? "exec"
                                          : "auto";
}

/// Per-host algorithm lists (`algorithms:`), one name per entry, strongest first. An empty list
/// means libssh's default for that list, or every algorithm libssh supports when `legacy` is set.
struct Algorithms {
  std::vector<std::string> kex;
  std::vector<std::string> hostkeys;
  std::vector<std::string> ciphers;
  std::vector<std::string> macs;
  std::vector<std::string> pubkeys;  ///< User-key signature algorithms (e.g. "ssh-rsa").
  bool legacy = false;               ///< `algorithms: legacy`.
  bool operator==(const Algorithms&) const = default;
};

/// Everything needed to reach and probe one host, with defaults already applied.
/// Two specs compare equal exactly when a running session may be kept across a reload.
struct HostSpec {
  std::string name;     ///< Unique after nodeset expansion, e.g. "db07.dc1".
  std::string address;  ///< Host name or IP literal; defaults to `name`.
  std::uint16_t port = 22;
  std::string user;
  std::string identity_file;    ///< Private key path; empty when only the agent is used.
  std::string passphrase_file;  ///< File holding the key's passphrase (first line), optional.
  std::string passphrase_env;   ///< Environment variable holding the passphrase, optional.
  bool use_ssh_agent = false;   ///< Authenticate through $SSH_AUTH_SOCK as well.
  std::string known_hosts;      ///< The collector's own known_hosts file.
  /// `collector.source_address`, copied to every host: the local IP literal the SSH connection
  /// binds to before connecting; empty = the kernel's choice.
  std::string source_address;
  HostKeyPolicy host_key_policy = HostKeyPolicy::kStrict;
  std::chrono::milliseconds interval{15'000};
  std::chrono::milliseconds connect_timeout{5'000};
  std::chrono::milliseconds probe_timeout{10'000};
  std::chrono::milliseconds keepalive{15'000};
  std::uint64_t output_limit = 4ull << 20;  ///< Bytes of output per probe before `too_large`.
  unsigned max_channels_per_host = 2;       ///< Always below sshd's MaxSessions (10).
  std::string dialect;                      ///< Empty = fingerprint on connect.
  Privilege privilege = Privilege::kNone;
  ProbeChannel probe_channel = ProbeChannel::kAuto;
  Algorithms algorithms;
  std::map<std::string, std::string> labels;

  bool operator==(const HostSpec&) const = default;
};

/// One entry of `process_names`, in process-exporter's format. The patterns are validated
/// (they compile as ECMAScript regexes) but matching lives in fleetps::probes.
struct ProcessNameMatcher {
  std::string name_template = "{{.ExeBase}}";  ///< e.g. "{{.Comm}}", "{{.Matches.Name}}"
  std::vector<std::string> comm;               ///< Exact comm values.
  std::vector<std::string> exe;                ///< Exact argv[0] or its base name.
  std::vector<std::string> cmdline;  ///< Regexes over the joined command line; all must match.
  /// `expect:` a query selector over host fields (`host`, `label.NAME`), as written: on hosts it
  /// matches, this fixed-name group is emitted from the first probe on, as 0 when absent. Empty
  /// means the group appears on a host once seen there. Checked by LoadOptions::check_expect.
  std::string expect;
  bool operator==(const ProcessNameMatcher&) const = default;
};

/// The `collector:` section.
/// `collector.http`: the HTTP server's connection budget and deadlines (HttpServerOptions).
struct HttpSettings {
  unsigned max_connections = 512;
  unsigned max_connections_per_client = 64;
  std::chrono::milliseconds header_timeout{10'000};
  std::chrono::milliseconds body_timeout{30'000};
  std::chrono::milliseconds idle_timeout{75'000};
  std::chrono::milliseconds write_timeout{60'000};
  std::uint64_t max_request_body = std::uint64_t{64} << 10;
  bool operator==(const HttpSettings&) const = default;
};

struct CollectorSettings {
  std::string listen = "127.0.0.1:9732";
  unsigned max_concurrent_handshakes = 64;
  unsigned threads = 0;  ///< 0 = one per core.
  bool enable_reload_endpoint = false;
  unsigned max_restarts = 5;  ///< Per-host crash intensity before quarantine...
  std::chrono::milliseconds restart_period{300'000};  ///< ...within this period.
  /// A templated group (`{{.Comm}}`...) that stays empty this long is dropped from its host.
  std::chrono::milliseconds group_retention{3'600'000};
  /// Groups tracked per host, expected ones not counted; a new group beyond it is refused and
  /// counted (fleetps_namegroups_refused_total).
  unsigned max_groups_per_host = 1000;
  /// TLS and basic auth for the HTTP port (web_config.hpp), resolved against the inventory's
  /// directory; empty = plain HTTP without authentication. Re-read on every reload.
  std::string web_config_file;
  HttpSettings http;  ///< Applied by a reload to connections accepted after it.
  /// Process rows of one probe kept per host (the lowest pids); the rest are dropped and
  /// counted (fleetps_processes_dropped_total).
  unsigned max_processes_per_host = 50'000;
  /// Bytes of one label value in a host's series; a longer one is cut with a visible marker and
  /// counted (fleetps_label_values_truncated_total).
  unsigned max_label_value_bytes = 256;
  /// Status events one host may publish per minute (a burst of as many); beyond it they are
  /// coalesced into the latest and counted (fleetps_host_events_coalesced_total).
  unsigned max_host_events_per_minute = 60;
  /// Budgets of ad hoc work (fresh=1 queries, open-files) in host probes: refill per second and
  /// burst, per client address and over all clients.
  unsigned fresh_rate_per_client = 50;
  unsigned fresh_burst_per_client = 1000;
  unsigned fresh_rate = 100;
  unsigned fresh_burst = 2000;
  /// Worker threads for API evaluation, off the threads that serve scrapes...
  unsigned api_threads = 1;
  /// ...and the API requests admitted at once; the next gets 503.
  unsigned api_max_pending = 64;
  /// Local IP literal outgoing SSH connections bind to (several collectors on one machine, or a
  /// firewall that admits one address); empty = the kernel's choice. The loader copies it into
  /// every HostSpec, so a reload that changes it reconnects the hosts.
  std::string source_address;
  bool operator==(const CollectorSettings&) const = default;
};

/// A whole, validated inventory.
struct Inventory {
  CollectorSettings collector;
  ClusterSettings cluster;      ///< `cluster:`; membership none when absent
  std::vector<HostSpec> hosts;  ///< In file order, ranges expanded in order.
  std::vector<ProcessNameMatcher> process_names;
};

}  // namespace fleetps::config
