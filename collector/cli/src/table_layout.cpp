#include "table_layout.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "fleetps/collector/cli/table.hpp"

namespace fleetps::collector {

std::size_t DisplayWidth(std::string_view text) {
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xc0) != 0x80;  // not a continuation byte
  }));
}

std::string TruncateCell(std::string text, std::size_t width) {
  if (width < 4 || DisplayWidth(text) <= width) return text;
  std::size_t kept = 0;
  std::size_t i = 0;
  for (; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xc0) != 0x80) {
      if (kept == width - 3) break;
      ++kept;
    }
  }
  text.resize(i);
  return text + "...";
}

std::string LayoutTable(std::span<const Column> columns,
                        const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> widths(columns.size());
  for (std::size_t c = 0; c < columns.size(); ++c) widths[c] = DisplayWidth(columns[c].title);
  for (const auto& row : rows) {
    for (std::size_t c = 0; c < columns.size(); ++c) {
      widths[c] = std::max(widths[c], DisplayWidth(row[c]));
    }
  }
  std::string out;
  const auto line = [&](const auto& cell_at) {
    std::string text;
    for (std::size_t c = 0; c < columns.size(); ++c) {
      const std::string_view cell = cell_at(c);
      if (c != 0) text += "  ";
      const std::string pad(widths[c] - DisplayWidth(cell), ' ');
      text += columns[c].right ? pad + std::string(cell) : std::string(cell) + pad;
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    out += text;
    out.push_back('\n');
  };
  line([&](std::size_t c) { return columns[c].title; });
  for (const auto& row : rows) line([&](std::size_t c) { return std::string_view(row[c]); });
  return out;
}

std::string DashIfEmpty(std::string text) { return text.empty() ? "-" : text; }

std::optional<double> Larger(std::optional<double> a, std::optional<double> b) {
  if (!a) return b;
  if (!b) return a;
  return std::max(*a, *b);
}

std::string BytesCell(std::optional<double> bytes) {
  return bytes ? FormatBytesHuman(*bytes) : "-";
}
std::string CoresCell(std::optional<double> cores) { return cores ? FormatCores(*cores) : "-"; }
std::string AgeCell(std::optional<double> seconds) {
  return seconds ? FormatAgeHuman(*seconds) : "-";
}

std::string FormatBytesHuman(double bytes) {
  if (!std::isfinite(bytes) || bytes < 0) return "-";
  static constexpr std::string_view kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  std::size_t unit = 0;
  double v = bytes;
  while (v >= 1024 && unit + 1 < std::size(kUnits)) {
    v /= 1024;
    ++unit;
  }
  char buffer[32];
  if (unit == 0) {
    std::snprintf(buffer, sizeof buffer, "%.0f", v);
  } else if (v < 9.95) {
    std::snprintf(buffer, sizeof buffer, "%.1f", v);
  } else if (v < 1023.5 || unit + 1 == std::size(kUnits)) {
    std::snprintf(buffer, sizeof buffer, "%.0f", v);
  } else {
    ++unit;  // 1023.7KiB would print as 1024KiB
    std::snprintf(buffer, sizeof buffer, "1.0");
  }
  return std::string(buffer) + std::string(kUnits[unit]);
}

std::string FormatCores(double cores) {
  if (!std::isfinite(cores)) return "-";
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.2f", cores);
  return buffer;
}

std::string FormatAgeHuman(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "-";
  const auto s = static_cast<unsigned long long>(seconds);
  const auto two = [](unsigned long long major, char major_unit, unsigned long long minor,
                      char minor_unit) {
    std::string out = std::to_string(major) + major_unit;
    if (minor != 0) out += std::to_string(minor) + minor_unit;
    return out;
  };
  if (s < 60) return std::to_string(s) + "s";
  if (s < 3600) return two(s / 60, 'm', s % 60, 's');
  if (s < 86400) return two(s / 3600, 'h', (s % 3600) / 60, 'm');
  return two(s / 86400, 'd', (s % 86400) / 3600, 'h');
}

}  // namespace fleetps::collector
