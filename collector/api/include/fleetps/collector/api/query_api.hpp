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
#include "fleetps/collector/api/params.hpp"
#include "fleetps/collector/query/query.hpp"
#include "fleetps/collector/query/selector.hpp"

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
  [[nodiscard]] static boost::system::result<HostFilter, SelectorError> Parse(
      std::string_view text);

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

}  // namespace fleetps::collector
