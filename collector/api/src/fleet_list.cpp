#include "fleetps/collector/api/fleet_list.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <utility>

#include "fleetps/agent/errors.hpp"
#include "fleetps/collector/query/text.hpp"

namespace fleetps::collector {
namespace {

constexpr std::array<std::string_view, 8> kParams{"text", "state", "dialect",  "label",
                                                  "sort", "page",  "per_page", "scope"};

QueryParamError Bad(std::string parameter, std::string_view value, std::string message) {
  return QueryParamError{std::move(parameter), MakeSelectorError(value, 0, std::move(message))};
}

std::optional<std::size_t> ParseCount(std::string_view text, std::size_t max) {
  std::size_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value == 0 || value > max) {
    return std::nullopt;
  }
  return value;
}

char Lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool ContainsFolded(std::string_view haystack, std::string_view needle) {
  return std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end(),
                     [](char a, char b) { return Lower(a) == Lower(b); }) != haystack.end();
}

std::string_view DialectOf(const HostView& view) {
  return view.status && view.status->dialect ? probes::DialectName(*view.status->dialect) : "";
}

bool MatchesText(const HostView& view, std::string_view text) {
  if (ContainsFolded(view.spec.name, text) || ContainsFolded(view.spec.address, text)) return true;
  for (const auto& [name, value] : view.spec.labels) {
    if (ContainsFolded(value, text)) return true;
  }
  return !view.Up() && ContainsFolded(DownReason(view), text);
}

bool MatchesLabel(const HostView& view, std::string_view label) {
  const std::size_t eq = label.find('=');
  const auto it = view.spec.labels.find(std::string(label.substr(0, eq)));
  if (it == view.spec.labels.end()) return false;
  return eq == std::string_view::npos || it->second == label.substr(eq + 1);
}

bool Stale(const HostView& view, std::chrono::system_clock::time_point now) {
  if (!view.snapshot) return view.status && view.status->state == agent::HostState::kReady;
  return now - view.snapshot_time > kStaleIntervals * view.spec.interval;
}

// The sort key of `column` as a number (smaller first), or as text for text columns.
struct SortValue {
  double number = 0;
  std::string_view text = {};
};

SortValue ValueOf(const FleetEntry& e, std::string_view column,
                  std::chrono::system_clock::time_point now) {
  const HostView& v = *e.view;
  const auto seconds = [](std::chrono::system_clock::duration d) {
    return std::chrono::duration<double>(d).count();
  };
  // Stale data ranks just before the hosts of the same state with fresh data.
  if (column == "problem") return {static_cast<double>(ProblemRank(e.state)) - (e.stale ? 0.5 : 0)};
  if (column == "address") return {0, v.spec.address};
  if (column == "state") return {0, e.state};
  if (column == "dialect") return {0, DialectOf(v)};
  if (column == "channel") {
    return {0, v.status ? agent::ChannelModeName(v.status->channel) : std::string_view()};
  }
  if (column == "since") return {v.status ? seconds(now - v.status->since) : 0};
  if (column == "last_probe") return {v.snapshot ? seconds(now - v.snapshot_time) : 1e18};
  if (column == "processes") {
    return {v.snapshot ? static_cast<double>(v.snapshot->processes.size()) : -1};
  }
  return {0, v.spec.name};
}

void AppendParam(std::string& out, std::string_view name, std::string_view value) {
  if (!out.empty()) out += '&';
  out.append(name).append("=").append(PercentEncode(value));
}

}  // namespace

std::optional<std::chrono::system_clock::time_point> NextRetry(const HostView& view) {
  if (!view.status || (view.status->state != agent::HostState::kBackoff &&
                       view.status->state != agent::HostState::kCircuitOpen)) {
    return std::nullopt;
  }
  return view.status->since + view.status->retry_in;
}

std::string PercentEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
  }
  return out;
}

HostRowsInput LatestRowsInput(const HostView& view, std::chrono::system_clock::time_point now) {
  const auto seconds = [](std::chrono::system_clock::duration d) {
    return std::chrono::duration<double>(d).count();
  };
  HostRowsInput input;
  input.host = view.spec.name;
  input.labels = &view.spec.labels;
  input.now_unix = seconds(now.time_since_epoch());
  if (!view.snapshot) return input;
  input.current = view.snapshot.get();
  input.previous = view.previous_cpu.get();
  input.elapsed_seconds = seconds(view.snapshot_time - view.previous_snapshot_time);
  input.groups = view.groups.get();
  if (input.previous && !(input.elapsed_seconds > 0)) input.previous = nullptr;
  return input;
}

int ProblemRank(std::string_view ui_state) noexcept {
  static constexpr std::string_view kOrder[] = {
      "hostkey_changed", "circuit_open", "quarantined", "backoff", "connecting", "fingerprinting"};
  for (std::size_t i = 0; i < std::size(kOrder); ++i) {
    if (kOrder[i] == ui_state) return static_cast<int>(i);
  }
  return static_cast<int>(std::size(kOrder));
}

std::string_view UiState(const HostView& view, bool quarantined) noexcept {
  if (!quarantined && view.hostkey_mismatch) return "hostkey_changed";
  return DisplayState(view.status, quarantined);
}

std::string_view ChangeUiState(std::optional<agent::HostState> state,
                               bool hostkey_changed) noexcept {
  if (hostkey_changed) return "hostkey_changed";
  return state ? agent::StateName(*state) : "connecting";
}

std::string_view ReasonInWords(std::string_view reason) noexcept {
  static constexpr std::pair<std::string_view, std::string_view> kWords[] = {
      {"connect_refused", "unreachable: the TCP connection was refused or the network is down"},
      {"connect_timeout", "unreachable: the TCP connection timed out"},
      {"dns", "unreachable: the address does not resolve"},
      {"banner_timeout", "no SSH banner: something answers on the port but says nothing"},
      {"kex_failed", "algorithms refused: no key exchange, cipher, MAC or host key type in common"},
      {"hostkey_unknown", "the host key is not in known_hosts (enrol it with fleetps keyscan)"},
      {"hostkey_mismatch",
       "the host key changed: known_hosts holds a different key for this host (possible "
       "man-in-the-middle, or a reinstalled host)"},
      {"auth_denied", "login refused: every configured key or credential was rejected"},
      {"channel_failed", "the server refused to open a channel or run the shell"},
      {"timeout", "timed out after the banner (key exchange, login or command)"},
      {"too_large", "the probe output exceeded output_limit"},
      {"parse_error", "the probe output could not be parsed"},
      {"disconnected", "the session broke"},
      {"command_failed", "the probe script failed without usable output"},
      {"internal", "a local failure in the collector (bad key file, out of memory)"},
      {"fd_limit", "the collector ran out of file descriptors"},
      {"known_hosts_write", "a new host key could not be written to known_hosts"},
      {"shell_failed", "the persistent probe shell misbehaved"},
  };
  for (const auto& [name, words] : kWords) {
    if (name == reason) return words;
  }
  return reason;
}

boost::system::result<FleetListOptions, QueryParamError> ParseFleetListQuery(
    std::string_view encoded_query, const FleetListOptions& defaults) {
  auto values = DecodeQueryParams(encoded_query, kParams);
  if (!values) return values.error();
  FleetListOptions options = defaults;
  const auto given = [&](std::size_t i) -> const std::optional<std::string>& {
    return (*values)[i];
  };
  if (given(0)) options.text = *given(0);
  if (given(1)) options.state = *given(1);
  if (given(2)) options.dialect = *given(2);
  if (given(3)) options.label = *given(3);
  for (std::size_t i = 0; i < 4; ++i) {
    if (given(i) && given(i)->size() > 256) {
      return Bad(std::string(kParams[i]), *given(i), "longer than 256 bytes");
    }
  }
  if (given(4)) {
    std::string_view sort = *given(4);
    options.descending = !sort.empty() && sort.front() == '-';
    if (!sort.empty() && (sort.front() == '-' || sort.front() == '+')) sort.remove_prefix(1);
    if (!sort.empty() && std::find(std::begin(kFleetSortColumns), std::end(kFleetSortColumns),
                                   sort) == std::end(kFleetSortColumns)) {
      std::string known;
      for (const std::string_view c : kFleetSortColumns)
        known.append(known.empty() ? "" : ", ").append(c);
      return Bad("sort", *given(4), "unknown column (known: " + known + ")");
    }
    options.sort = std::string(sort);
  }
  if (given(5)) {
    const auto page = ParseCount(*given(5), std::size_t{1} << 30);
    if (!page) return Bad("page", *given(5), "expected a page number from 1");
    options.page = *page;
  }
  if (given(6)) {
    const auto per_page = ParseCount(*given(6), kMaxFleetPerPage);
    if (!per_page) {
      return Bad("per_page", *given(6),
                 "expected 1.." + std::to_string(kMaxFleetPerPage) + " rows per page");
    }
    options.per_page = *per_page;
  }
  if (given(7)) {
    auto local = ParseScope(*given(7));
    if (!local) return local.error();
    options.local = *local;
  }
  return options;
}

std::string FleetListQueryString(const FleetListOptions& options,
                                 const FleetListOptions& defaults) {
  std::string out;
  if (options.text != defaults.text) AppendParam(out, "text", options.text);
  if (options.state != defaults.state) AppendParam(out, "state", options.state);
  if (options.dialect != defaults.dialect) AppendParam(out, "dialect", options.dialect);
  if (options.label != defaults.label) AppendParam(out, "label", options.label);
  if (options.sort != defaults.sort || options.descending != defaults.descending) {
    AppendParam(out, "sort", (options.descending ? "-" : "") + options.sort);
  }
  if (options.page != defaults.page) AppendParam(out, "page", std::to_string(options.page));
  if (options.per_page != defaults.per_page) {
    AppendParam(out, "per_page", std::to_string(options.per_page));
  }
  if (options.local && !defaults.local) AppendParam(out, "scope", "local");
  return out;
}

FleetEntry MakeFleetEntry(std::shared_ptr<const HostView> view, bool quarantined,
                          std::chrono::system_clock::time_point now) {
  const std::string_view state = UiState(*view, quarantined);
  const bool stale = Stale(*view, now);
  return FleetEntry{std::move(view), state, stale};
}

FleetList ListFleet(const std::vector<std::shared_ptr<const HostView>>& hosts,
                    const std::set<std::string, std::less<>>& quarantined,
                    const FleetListOptions& options, std::chrono::system_clock::time_point now) {
  FleetList list;
  list.hosts = hosts.size();
  std::vector<FleetEntry> matched;
  for (const auto& view : hosts) {
    FleetEntry entry = MakeFleetEntry(view, quarantined.contains(view->spec.name), now);
    ++list.states[std::string(entry.state)];
    if (entry.stale) ++list.stale;
    if (const auto dialect = DialectOf(*view); !dialect.empty()) list.dialects.emplace(dialect);
    if (!options.state.empty()) {
      const bool keep = options.state == "problem" ? ProblemRank(entry.state) < ProblemRank("ready")
                        : options.state == "stale" ? entry.stale
                                                   : entry.state == options.state;
      if (!keep) continue;
    }
    if (!options.dialect.empty() && DialectOf(*view) != options.dialect) continue;
    if (!options.label.empty() && !MatchesLabel(*view, options.label)) continue;
    if (!options.text.empty() && !MatchesText(*view, options.text)) continue;
    matched.push_back(std::move(entry));
  }
  if (!options.sort.empty()) {
    std::stable_sort(matched.begin(), matched.end(), [&](const FleetEntry& a, const FleetEntry& b) {
      const SortValue x = ValueOf(a, options.sort, now);
      const SortValue y = ValueOf(b, options.sort, now);
      if (x.number != y.number)
        return options.descending ? x.number > y.number : x.number < y.number;
      if (x.text != y.text) return options.descending ? x.text > y.text : x.text < y.text;
      return a.view->spec.name < b.view->spec.name;
    });
  }
  list.matched = matched.size();
  const std::size_t per_page =
      options.per_page == 0 ? std::max<std::size_t>(matched.size(), 1) : options.per_page;
  list.pages = std::max<std::size_t>(1, (matched.size() + per_page - 1) / per_page);
  list.page = std::min(options.page, list.pages);
  const std::size_t first = (list.page - 1) * per_page;
  const std::size_t last = std::min(matched.size(), first + per_page);
  for (std::size_t i = first; i < last; ++i) list.rows.push_back(std::move(matched[i]));
  return list;
}

}  // namespace fleetps::collector
