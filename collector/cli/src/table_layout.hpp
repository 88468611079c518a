// Laying out the CLI's tables: aligned columns of terminal-safe cells, and the cell formats the
// renderings share. Pure; thread-safe.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace fleetps::collector {

struct Column {
  std::string_view title;
  bool right = false;  ///< Right-aligned (numbers).
};

/// The header line and one line per row, columns two spaces apart and padded to their widest
/// cell, trailing spaces trimmed. Each row has one cell per column; cells are valid UTF-8.
[[nodiscard]] std::string LayoutTable(std::span<const Column> columns,
                                      const std::vector<std::vector<std::string>>& rows);

/// Display width of valid UTF-8 text, in code points.
[[nodiscard]] std::size_t DisplayWidth(std::string_view text);

/// `text` cut to `width` code points, ending in "..." when cut; widths below 4 do not cut.
[[nodiscard]] std::string TruncateCell(std::string text, std::size_t width);

/// `text`, or `-` when it is empty: an unknown value.
[[nodiscard]] std::string DashIfEmpty(std::string text);

/// The larger of two optional values; the present one when only one is.
[[nodiscard]] std::optional<double> Larger(std::optional<double> a, std::optional<double> b);

/// FormatBytesHuman, FormatCores, FormatAgeHuman of a value that may be unknown (`-`).
[[nodiscard]] std::string BytesCell(std::optional<double> bytes);
[[nodiscard]] std::string CoresCell(std::optional<double> cores);
[[nodiscard]] std::string AgeCell(std::optional<double> seconds);

}  // namespace fleetps::collector
