// The simulated fleet: one listener per host on consecutive 127.0.0.1 ports, the SSH sessions
// accepted on them, per-host faults and counters.
//
// Everything runs on ONE thread of one io_context. libssh sessions are non-blocking and driven
// by readiness waits on their sockets; a single thread also rules out the edge-triggered
// wakeup race a second epoll thread could cause between "nothing left to read" and re-arming
// the wait.
#pragma once

#include <libssh/server.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "fault.hpp"
#include "keys.hpp"
#include "process_model.hpp"

namespace fleetps::fleetsim {

/// Weighted dialect mix, e.g. {{kLinuxProcps, 70}, {kBusybox, 10}, ...}.
using DialectMix = std::vector<std::pair<SimDialect, unsigned>>;

/// Parses "linux-procps=70,busybox=10,aix=10,solaris=10" (a bare name means weight 1).
[[nodiscard]] bool ParseDialectMix(std::string_view text, DialectMix& mix);

/// The dialect host `number` gets from `mix`: deterministic and spread over the range.
[[nodiscard]] SimDialect DialectFor(std::uint32_t number, const DialectMix& mix);

struct FleetOptions;

/// The dialect of host `number` under `options` (an override, else the mix).
[[nodiscard]] SimDialect DialectOf(std::uint32_t number, const FleetOptions& options);

struct FleetOptions {
  std::uint32_t hosts = 10;
  std::uint16_t base_port = 20000;
  std::string address = "127.0.0.1";
  DialectMix dialects{{SimDialect::kLinuxProcps, 1}};
  std::map<std::uint32_t, Fault> faults;                  ///< Initial faults by host number.
  std::map<std::uint32_t, SimDialect> dialect_overrides;  ///< --host-dialect, over the mix.
  int listen_backlog = 64;
};

/// Counters, all since start. Plain integers: only the fleet's thread touches them.
struct FleetStats {
  std::uint64_t connections_accepted = 0;
  std::uint64_t handshakes = 0;  ///< Completed key exchanges.
  std::uint64_t auth_accepted = 0;
  std::uint64_t auth_denied = 0;
  std::uint64_t channels_opened = 0;
  std::uint64_t commands_served = 0;    ///< Commands whose answer was completely sent.
  std::uint64_t shell_runs_served = 0;  ///< Of those, framed runs on a persistent shell.
  std::uint64_t bytes_in = 0;           ///< Channel payload received (scripts).
  std::uint64_t bytes_out = 0;          ///< Channel payload sent (answers).
  std::uint64_t sessions_dropped = 0;   ///< By faults, the control API or errors.
  std::uint64_t sessions_open = 0;      ///< Current SSH sessions.
  std::uint64_t raw_open = 0;           ///< Current no_banner / kex_stall connections.
};

/// One script a host ran (exec'd or a framed shell run, probes and fingerprints alike), and who
/// sent it: the attribution the cluster tests check ("no host probed by two collectors").
struct ScriptRecord {
  std::int64_t unix_ms = 0;  ///< System clock when the script began to be answered.
  std::string peer;          ///< The client's IP address.
  bool fingerprint = false;  ///< The fingerprint script (a warm-up or reconnect), not a probe.
};

/// Per host: the last kScriptHistory scripts and the open connections by client address.
struct HostClients {
  static constexpr std::size_t kScriptHistory = 64;
  std::deque<ScriptRecord> scripts;               ///< Oldest first, at most kScriptHistory.
  std::uint64_t scripts_total = 0;                ///< All since start, including dropped records.
  std::map<std::string, std::uint32_t> sessions;  ///< Open connections per client address.
};

class Connection;

/// Not thread-safe: every call must run on the io_context's (single) thread.
class Fleet {
 public:
  Fleet(boost::asio::io_context& io, const KeyStore& keys, FleetOptions options);
  ~Fleet();
  Fleet(const Fleet&) = delete;
  Fleet& operator=(const Fleet&) = delete;

  /// Opens every listener (hosts in fault `refuse` stay closed). Fails with the first port
  /// that cannot be bound.
  [[nodiscard]] bool Start(std::string& error);

  /// Closes listeners and drops every session.
  void Stop();

  [[nodiscard]] std::uint32_t HostCount() const {
    return static_cast<std::uint32_t>(hosts_.size());
  }
  [[nodiscard]] std::uint16_t PortOf(std::uint32_t number) const;
  [[nodiscard]] SimDialect DialectOf(std::uint32_t number) const;
  [[nodiscard]] Fault FaultOf(std::uint32_t number) const;
  [[nodiscard]] std::uint32_t SessionsOf(std::uint32_t number) const;
  [[nodiscard]] const HostClients& ClientsOf(std::uint32_t number) const;

  /// Sets a host's fault. `refuse` closes its listener, leaving `refuse` reopens it;
  /// connection-level faults drop the host's open sessions so the next connect sees them.
  /// False (and `error`) when a listener cannot be reopened.
  [[nodiscard]] bool SetFault(std::uint32_t number, Fault fault, std::string& error);

  /// Drops the open connections of host `number` (0 = every host) at once. Returns how many.
  std::size_t Drop(std::uint32_t number);

  [[nodiscard]] const FleetStats& Stats() const { return stats_; }
  [[nodiscard]] std::int64_t SimEpoch() const { return sim_epoch_; }

  // For connections.
  FleetStats& MutableStats() { return stats_; }
  const KeyStore& Keys() const { return keys_; }
  ssh_bind BindFor(std::uint32_t number, bool changed_key);
  void Forget(std::uint64_t id, std::uint32_t number, bool ssh);
  /// A connection of host `number` from `peer` begins to answer a script.
  void RecordScript(std::uint32_t number, const std::string& peer, bool fingerprint);

 private:
  struct Host {
    std::uint32_t number = 0;
    std::uint16_t port = 0;
    SimDialect dialect = SimDialect::kLinuxProcps;
    Fault fault;
    std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor;
    std::uint32_t sessions = 0;
    HostClients clients;
  };

  [[nodiscard]] bool OpenListener(Host& host, std::string& error);
  void Accept(Host& host);
  void OnAccepted(Host& host, boost::asio::ip::tcp::socket socket);

  boost::asio::io_context& io_;
  const KeyStore& keys_;
  FleetOptions options_;
  std::vector<Host> hosts_;
  ssh_bind bind_ = nullptr;
  std::unordered_map<std::uint64_t, std::shared_ptr<Connection>> connections_;
  std::uint64_t next_id_ = 1;
  FleetStats stats_;
  std::int64_t sim_epoch_ = 0;
};

}  // namespace fleetps::fleetsim
