// The parameters and answers of the query API beyond /api/v1/processes: the open-files
// endpoint, the server-sent event stream (/api/v1/events) and its host filter. Pure functions;
// shapes are documented in docs/query.md.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include <boost/system/result.hpp>

#include "fleetps/agent/host_agent.hpp"
#include "fleetps/collector/query.hpp"
#include "fleetps/collector/selector.hpp"
#include "fleetps/collector/table.hpp"

namespace fleetps::collector {

// ---- /api/v1/hosts/{host}/processes/{pid}/open-files ------------------------------------------

/// A validated open-files request.
struct OpenFilesRequest {
  std::string host;
  std::int64_t pid = 0;  ///< 1..probes::kMaxOpenFilesPid.
};

/// Parses a pid: a positive decimal integer, digits only (no sign, no leading zero, no space),
/// at most probes::kMaxOpenFilesPid. Errors carry the offending position and a precise message.
[[nodiscard]] boost::system::result<std::int64_t, SelectorError> ParsePid(std::string_view text);

/// Matches a decoded request path against `/api/v1/hosts/{host}/processes/{pid}/open-files`.
/// Returns nullopt when the path has another shape (not this route), otherwise the request or
/// the error for parameter "host" or "pid" (answer 400). `encoded_query` must be empty: the
/// endpoint takes no parameters.
[[nodiscard]] std::optional<boost::system::result<OpenFilesRequest, QueryParamError>>
MatchOpenFilesPath(std::string_view path, std::string_view encoded_query);

/// `{"status":"ok","data":{"host":..,"pid":..,"method":"proc","files":[...],"total":N,
/// "truncated":false}}` for an ok outcome whose state is ok.
[[nodiscard]] std::string RenderOpenFilesJson(std::string_view host, std::int64_t pid,
                                              const probes::OpenFilesResult& result);

// ---- /api/v1/events ----------------------------------------------------------------------------

/// Which hosts an event stream follows: every host (empty), one name, a glob with `*` and `?`,
/// or a nodeset (`web[01-40]`, `db[1-3].dc1,web7`). Immutable; thread-safe.
class HostFilter {
 public:
  HostFilter() = default;

  /// At most 256 bytes of host-name characters plus `*?[],-`. Errors carry a position.
  [[nodiscard]] static boost::system::result<HostFilter, SelectorError> Parse(std::string_view text);

  [[nodiscard]] bool Matches(std::string_view host) const;
  [[nodiscard]] bool empty() const noexcept { return text_.empty(); }
  /// The one host name when the filter is an exact name, else "".
  [[nodiscard]] std::string_view ExactHost() const noexcept;

 private:
  std::string text_;
  std::set<std::string, std::less<>> names_;  // exact names and nodeset expansions
  std::vector<std::string> globs_;
};

/// Parses the query string of /api/v1/events: only `host`, at most once.
[[nodiscard]] boost::system::result<HostFilter, QueryParamError> ParseEventsQueryString(
    std::string_view encoded_query);

/// Published on the bus (topic "config") after every reload attempt.
struct ConfigReloadEvent {
  bool ok = false;
  std::string origin;   ///< "sighup" or "http".
  std::string summary;  ///< "added=1 removed=0 changed=0 unchanged=5", or "invalid config".
};

/// One server-sent event (`event: host_state\ndata: {...}\n\n`). The data is one line of JSON.
[[nodiscard]] std::string RenderHostStateEvent(const agent::HostStatus& status);
/// A compact probe summary: host, probe, status, reason, seq, epoch, adhoc, duration, bytes and
/// the number of processes and listening sockets; never the tables themselves.
[[nodiscard]] std::string RenderProbeEvent(const agent::ProbeResult& result);
[[nodiscard]] std::string RenderConfigReloadEvent(const ConfigReloadEvent& reload);
/// `event: dropped`: `dropped` events were lost since the last notice (`total` in all).
[[nodiscard]] std::string RenderDroppedEvent(std::uint64_t dropped, std::uint64_t total);

/// A comment line clients ignore; keeps proxies and idle timeouts from closing the stream.
inline constexpr std::string_view kEventHeartbeat = ": heartbeat\n\n";

// ---- CLI renderings -----------------------------------------------------------------------------

/// Renders a /api/v1/listening answer. kTable folds sockets with the same proto, address,
/// port, user and comm across hosts (HOST is a nodeset, PID the pid when there is one socket
/// and `*` otherwise): HOST PROTO ADDRESS PORT PID USER COMM. kWide lists every socket with
/// GROUP. Notes go to `err` ("no matching sockets", "showing N of M", stale/down hosts);
/// remote text is made terminal-safe.
[[nodiscard]] Rendered RenderListeningTable(std::string_view json, const TableOptions& options);

/// Renders an open-files answer: FD TYPE POS FLAGS NAME, plus a note when truncated.
[[nodiscard]] Rendered RenderOpenFilesTable(std::string_view json);

/// One line for one server-sent event (`event:` name and `data:` JSON):
/// `host_state web01 backoff reason=connect_refused retry_in=1.2s`,
/// `probe web01 ok seq=12 processes=130 0.08s`, `config_reload ok sighup added=1 ...`,
/// `dropped 12 events (total 40)`. Empty for an event it cannot read.
[[nodiscard]] std::string FormatEventLine(std::string_view event, std::string_view data);

}  // namespace fleetps::collector
