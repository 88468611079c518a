// Splitting fixed-width tool output (ps, sockstat) into columns by position, not by blanks:
// real tables leave columns blank (AIX zombies), put blanks inside values (BusyBox "S <",
// Solaris "May  4") and run wide values into their neighbour with no blank at all (BusyBox
// "100008ps", FreeBSD sockstat "python2.781106").
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace fleetps::probes::detail {

/// Where one column's values lie: the characters [begin, end) of a line, taken from the header
/// or inferred from rows. `numeric` columns are right-aligned numbers (values grow to the left
/// and may be split off the end of a merged token); others are left-aligned text.
struct ColumnSpan {
  std::uint32_t begin = 0;
  std::uint32_t end = 0;
  bool numeric = false;
};

/// A blank-separated token of a line: the characters [begin, end).
struct TokenPos {
  std::uint32_t begin = 0;
  std::uint32_t end = 0;
};

/// Fills `out` with the tokens of `line`; at most `limit` of them, the last one then spanning
/// the rest of the line (a command line needs no splitting, and may be 100 kB long).
void Tokenize(std::string_view line, std::vector<TokenPos>& out, std::size_t limit = SIZE_MAX);

/// Assigns `tokens` of `line` to the columns of `spans` by position and writes each column's
/// text to `fields` (same size as `spans`; empty for a blank column). A value of several words
/// keeps its inner blanks. When `rest_last` is set the last column takes the rest of the line
/// from its first token on (a command line). Tokens move to the next column only, never back,
/// so a misplaced token cannot reorder values. Returns the number of tokens that were split
/// in two because they crossed into a numeric column.
std::size_t SplitByColumns(std::string_view line, std::span<const TokenPos> tokens,
                           std::span<const ColumnSpan> spans, bool rest_last,
                           std::span<std::string_view> fields);

/// Infers column spans for a headerless table from rows that have a token for every column
/// (`rows` holds their tokens): a numeric column ends where most of its values end, a text
/// column begins where most begin. Empty when no row has enough tokens.
std::vector<ColumnSpan> InferColumns(std::span<const std::vector<TokenPos>> rows,
                                     const std::vector<bool>& numeric, bool rest_last);

}  // namespace fleetps::probes::detail
