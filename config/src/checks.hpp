// Pure string validators behind the inventory schema. Each Check* returns the problem as a
// message, or nothing when the value is acceptable.
#pragma once

#include <cstddef>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "fleetps/config/inventory.hpp"

namespace fleetps::config::detail {

/// `"text"` with quotes, backslashes and control characters escaped, cut after 80 bytes.
std::string Quote(std::string_view text);

std::optional<std::string> CheckHostName(std::string_view name);
std::optional<std::string> CheckUser(std::string_view user);
std::optional<std::string> CheckAddress(std::string_view address);
/// `collector.source_address`: an IPv4 or IPv6 literal (no name: binding must not resolve).
std::optional<std::string> CheckSourceAddress(std::string_view address);
std::optional<std::string> CheckLabelName(std::string_view name);
std::optional<std::string> CheckLabelValue(std::string_view value);
std::optional<std::string> CheckEnvName(std::string_view name);
std::optional<std::string> CheckPath(std::string_view path);
std::optional<std::string> CheckAlgorithmName(std::string_view name);

/// Splits `host:port` (IPv6 hosts in brackets) and checks both parts.
std::optional<std::string> CheckListenAddress(std::string_view listen);

/// Levenshtein distance, for "did you mean" hints.
std::size_t EditDistance(std::string_view a, std::string_view b);

/// The candidate closest to `key` within distance 2, or empty.
std::string ClosestKey(std::string_view key, const std::vector<std::string_view>& candidates);

/// A problem inside a string value, at a byte offset of that value.
struct Problem {
  std::string message;
  std::size_t offset = 0;
  bool warning = false;
};

/// Checks a process-exporter name template: only `{{.Comm}}`, `{{.ExeBase}}`, `{{.ExeFull}}`,
/// `{{.Username}}`, `{{.PID}}`, `{{.StartTime}}`, `{{.Cgroups}}` and `{{.Matches.NAME}}` with
/// NAME in `groups`. PID and StartTime are warnings (one group per process).
std::vector<Problem> CheckNameTemplate(std::string_view name_template,
                                       const std::set<std::string>& groups);

/// Validates a Go RE2 cmdline pattern with a position for each problem: rewrites it for
/// std::regex and compiles it once. Matching compiles it again in fleetps::probes, which config
/// must not use; only the capture names are kept here, for the name template check.
struct CheckedRegex {
  std::vector<std::string> group_names;  ///< Entry i names capture group i+1; "" if unnamed.
  std::optional<Problem> problem;
};
CheckedRegex CheckCmdlineRegex(std::string_view re2);

}  // namespace fleetps::config::detail
