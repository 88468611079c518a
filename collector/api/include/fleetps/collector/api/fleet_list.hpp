// The fleet as the web UI and GET /api/v1/hosts list it: every host's state as an operator
// reads it (a changed host key apart from other failures), problems first, filters, sort and
// pages. Pure functions over published HostViews; shapes are documented in docs/query.md.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <boost/system/result.hpp>

#include "fleetps/collector/api/params.hpp"
#include "fleetps/collector/fleet/fleet_state.hpp"

namespace fleetps::collector {

/// Filters, order and page of a fleet listing. Empty strings filter nothing.
struct FleetListOptions {
  std::string text;     ///< Substring (case-insensitive) of name, address, label value or reason.
  std::string state;    ///< A UiState name, or "problem" (every state but ready) or "stale".
  std::string dialect;  ///< A dialect name (probes::DialectName).
  std::string label;    ///< `NAME=VALUE` (exact) or `NAME` (the host has the label).
  /// A column of kFleetSortColumns; "" keeps inventory order.
  std::string sort;
  bool descending = false;
  std::size_t page = 1;      ///< 1-based.
  std::size_t per_page = 0;  ///< 0: every matching host on one page.
  /// `scope=local` (GET /api/v1/hosts): this member's own hosts only, never fanned out.
  bool local = false;
};

/// Sort columns: problem (problems first, then name), host, address, state, dialect, channel,
/// since (time in the current state), last_probe (age of the last good probe), processes.
inline constexpr std::string_view kFleetSortColumns[] = {"problem", "host",       "address",
                                                         "state",   "dialect",    "channel",
                                                         "since",   "last_probe", "processes"};
/// Rows a page may hold at most.
inline constexpr std::size_t kMaxFleetPerPage = 1000;
/// Rows of a page of the web UI's fleet unless `per_page` says otherwise.
inline constexpr std::size_t kFleetPageRows = 100;
/// A host's data is stale when its last good probe is older than this many probe intervals.
inline constexpr int kStaleIntervals = 3;

/// Parses the fleet parameters of `/` and `/api/v1/hosts`: text, state, dialect, label, sort
/// (a column, `-` prefix for descending), page, per_page (1..kMaxFleetPerPage) and scope
/// (`local`). Unknown and
/// repeated parameters and bad values are errors with their position. `defaults` supplies what
/// the query string leaves out.
[[nodiscard]] boost::system::result<FleetListOptions, QueryParamError> ParseFleetListQuery(
    std::string_view encoded_query, const FleetListOptions& defaults);

/// The query string (`state=backoff&sort=-since&page=2`) that ParseFleetListQuery reads back as
/// `options`, leaving out what equals `defaults`; percent-encoded, so safe in a URL.
[[nodiscard]] std::string FleetListQueryString(const FleetListOptions& options,
                                               const FleetListOptions& defaults);

/// The state an operator reads: DisplayState, except "hostkey_changed" for a host whose last
/// connect failed on a known_hosts key that differs from the server's (not "circuit_open",
/// which also means refused logins).
[[nodiscard]] std::string_view UiState(const HostView& view, bool quarantined) noexcept;

/// A state a StateChange records, as UiState names it: "hostkey_changed" when the host's key
/// had changed, "connecting" for the absent state before a host's first status.
[[nodiscard]] std::string_view ChangeUiState(std::optional<agent::HostState> state,
                                             bool hostkey_changed) noexcept;

/// One host of a listing.
struct FleetEntry {
  std::shared_ptr<const HostView> view;
  std::string_view state;  ///< UiState.
  /// Its last good probe is older than kStaleIntervals intervals (or it never had one while
  /// its session is up).
  bool stale = false;
};

/// `view` as a listing shows it as of `now`.
[[nodiscard]] FleetEntry MakeFleetEntry(std::shared_ptr<const HostView> view, bool quarantined,
                                        std::chrono::system_clock::time_point now);

/// A page of hosts and the counts of the whole fleet.
struct FleetList {
  std::size_t hosts = 0;                                   ///< In the fleet.
  std::map<std::string, std::size_t, std::less<>> states;  ///< UiState → hosts, whole fleet.
  std::size_t stale = 0;                                   ///< Stale hosts, whole fleet.
  std::set<std::string, std::less<>> dialects;             ///< Seen in the fleet.
  std::size_t matched = 0;                                 ///< Hosts the filters keep.
  std::size_t pages = 1;
  std::size_t page = 1;  ///< The page shown (the last one when the asked one is beyond).
  std::vector<FleetEntry> rows;
};

/// Filters, orders and cuts `hosts` (in inventory order) as `options` say. O(n log n).
[[nodiscard]] FleetList ListFleet(const std::vector<std::shared_ptr<const HostView>>& hosts,
                                  const std::set<std::string, std::less<>>& quarantined,
                                  const FleetListOptions& options,
                                  std::chrono::system_clock::time_point now);

/// When the agent of a host in backoff or circuit_open tries again; nullopt in other states.
[[nodiscard]] std::optional<std::chrono::system_clock::time_point> NextRetry(const HostView& view);

/// `text` percent-encoded for a URL path segment or query value: every byte but ASCII letters,
/// digits and `-_.~` becomes %XX.
[[nodiscard]] std::string PercentEncode(std::string_view text);

/// What AppendQueryRows needs to list the rows of `view`'s latest good table (none without one):
/// its CPU rates against the table before it, its groups, ages as of `now`. Points into `view`.
[[nodiscard]] HostRowsInput LatestRowsInput(const HostView& view,
                                            std::chrono::system_clock::time_point now);

/// Rank of a state in "problems first" order: hostkey_changed, circuit_open, quarantined,
/// backoff, connecting, fingerprinting, then ready.
[[nodiscard]] int ProblemRank(std::string_view ui_state) noexcept;

/// `reason` (an agent reason name, e.g. "hostkey_mismatch") in words for an operator:
/// "the host key changed: known_hosts holds a different key", "every login key was refused".
/// Unknown names come back as they are.
[[nodiscard]] std::string_view ReasonInWords(std::string_view reason) noexcept;

}  // namespace fleetps::collector
