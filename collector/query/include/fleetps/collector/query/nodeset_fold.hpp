// Folding host names into ClusterShell-style nodesets for display: web01..web40 → web[01-40].
#pragma once

#include <string>
#include <vector>

namespace fleetps::collector {

/// Folds host names into nodeset patterns that config::ExpandNodeset expands back to exactly
/// the input set (duplicates removed).
///
/// - Names are grouped by their text around digit runs. Within a group, the one digit field
///   whose folding leaves the fewest patterns varies (ties: the rightmost field); the other
///   fields stay literal: {r1n01, r1n02, r2n01} → r1n[01-02], r2n01.
/// - Zero padding is kept: web01..web03, web07 → web[01-03,07]. Unpadded numbers of different
///   widths share a range (web9, web10 → web[9-10]); web1 and web01 are different hosts and
///   both appear.
/// - Names without digits, with a digit run longer than 9 digits, or containing `[`, `]` or
///   `,` are kept as they are.
///
/// Patterns are ordered by their first name in natural order (web2 before web10). Pure.
[[nodiscard]] std::vector<std::string> FoldHostNameList(std::vector<std::string> names);

/// FoldHostNameList joined with ",": `db[1-3,7].dc1,web[01-40]`.
[[nodiscard]] std::string FoldHostNames(std::vector<std::string> names);

}  // namespace fleetps::collector
