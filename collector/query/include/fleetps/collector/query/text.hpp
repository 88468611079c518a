// Text hygiene for what remote hosts send: valid UTF-8 for JSON and labels, printable cells for
// terminals, and the quoting error messages use. Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace fleetps::collector {

/// `text` with invalid UTF-8 sequences replaced by U+FFFD.
[[nodiscard]] std::string ValidUtf8(std::string_view text);

/// Printable text for a terminal cell: valid UTF-8 with C0/C1 control characters replaced by
/// `?`, so a remote command line cannot move the cursor or recolour the operator's terminal.
[[nodiscard]] std::string TerminalSafe(std::string_view text);

/// A Prometheus label value from whatever a host printed (DESIGN.md §7): printable ASCII and
/// valid UTF-8 characters other than controls are kept; every byte of an invalid UTF-8 sequence,
/// every C0 control (tab and newline included), DEL and every C1 control (U+0080..U+009F)
/// becomes the four characters `\xNN` (lower-case hex). So the result is valid UTF-8 without
/// control characters, one bad process name cannot make Prometheus reject a scrape, and the
/// bytes stay readable in the label.
[[nodiscard]] std::string LabelSafe(std::string_view text);

/// True when LabelSafe(text) == text (the common case: checked without allocating).
[[nodiscard]] bool IsLabelSafe(std::string_view text) noexcept;

/// Fewest bytes BoundedLabelSafe accepts as a bound: room for the cut marker and some text.
inline constexpr std::size_t kMinLabelValueBytes = 32;

/// LabelSafe(text) of at most `max_bytes` bytes (at least kMinLabelValueBytes). A longer one is
/// cut at a UTF-8 character boundary and ends in the marker `…` plus 8 hex digits of a hash
/// of the whole of `text` (11 bytes), so the cut is visible and two long values that share
/// their beginning stay two series.
[[nodiscard]] std::string BoundedLabelSafe(std::string_view text, std::size_t max_bytes);

/// True when BoundedLabelSafe(text, max_bytes) cuts `text` (LabelSafe(text) is longer).
[[nodiscard]] bool LabelSafeExceeds(std::string_view text, std::size_t max_bytes);

/// `text` in plain double quotes, as error messages name a field or a value: `"rsz"`. Built by
/// appending: `"\"" + std::string(text) + "\""` draws a false -Wrestrict from GCC 12 at -O3.
[[nodiscard]] inline std::string Quoted(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  out.push_back('"');
  out.append(text);
  out.push_back('"');
  return out;
}

/// Quotes `text` the way selector string literals are written: `"a\"b"`.
[[nodiscard]] std::string QuoteLiteral(std::string_view text);

}  // namespace fleetps::collector
