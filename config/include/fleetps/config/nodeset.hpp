#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace fleetps::config {

/// Upper bound on the names one pattern may expand to; larger patterns are an error rather than
/// an allocation the size of the address space.
inline constexpr std::size_t kMaxNodesetNames = 100'000;

/// The outcome of expanding a nodeset pattern.
struct NodesetResult {
  std::vector<std::string> names;  ///< In order; empty on error.
  std::string error;               ///< Empty on success.
  std::size_t error_offset = 0;    ///< 0-based byte offset in the pattern the error points at.

  [[nodiscard]] bool ok() const { return error.empty(); }
};

/// Expands a ClusterShell-style nodeset pattern.
///
/// - `db[01-12].dc1` gives db01.dc1 ... db12.dc1: the width of a range's first bound is kept
///   (zero padding), so `[8-10]` gives 8 9 10 and `[08-10]` gives 08 09 10.
/// - `web[1-3,7].x` gives web1.x web2.x web3.x web7.x: comma-separated numbers and ranges.
/// - `r[1-2]n[01-02]` gives r1n01 r1n02 r2n01 r2n02: several brackets form a cartesian product,
///   the last bracket varying fastest.
/// - A pattern without brackets is one name, returned unchanged.
///
/// Errors (with `error_offset` on the offending character): unbalanced or nested brackets,
/// empty brackets or list items, non-digits in brackets, reversed ranges (`[5-1]`), numbers of
/// more than 9 digits, and expansions of more than `max_names` names.
/// Characters outside the brackets are not checked here (see the host name rules).
[[nodiscard]] NodesetResult ExpandNodeset(std::string_view pattern,
                                          std::size_t max_names = kMaxNodesetNames);

/// True when `pattern` contains a bracket, i.e. is meant as a nodeset rather than one name.
[[nodiscard]] bool IsNodesetPattern(std::string_view pattern);

/// The inverse of ExpandNodeset, for display: folds names that differ only in their last run
/// of digits into ranges, e.g. {web01, web02, web03, db1} -> {"db1", "web[01-03]"}.
/// Digit runs of different widths are not merged (`web9`, `web10` stay apart unless padded
/// alike). The result is sorted; every input name is covered exactly once.
[[nodiscard]] std::vector<std::string> FoldNodeset(std::vector<std::string> names);

}  // namespace fleetps::config
