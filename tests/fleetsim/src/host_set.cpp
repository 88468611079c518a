#include "host_set.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>

namespace fleetps::fleetsim {
namespace {

std::optional<std::uint32_t> ParseNumber(std::string_view text) {
  if (text.starts_with("sim")) {
    text.remove_prefix(3);
  }
  std::uint32_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size()) {
    return std::nullopt;
  }
  return value;
}

}  // namespace

std::string HostName(std::uint32_t number) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "sim%05u", number);
  return buf;
}

std::optional<std::vector<std::uint32_t>> ParseHostSet(std::string_view text,
                                                       std::uint32_t host_count) {
  std::vector<std::uint32_t> out;
  while (!text.empty()) {
    const auto comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
    if (item == "all" || item == "*") {
      for (std::uint32_t i = 1; i <= host_count; ++i) {
        out.push_back(i);
      }
      continue;
    }
    std::optional<std::uint32_t> first;
    std::optional<std::uint32_t> last;
    if (const auto dash = item.find('-'); dash != std::string_view::npos) {
      first = ParseNumber(item.substr(0, dash));
      last = ParseNumber(item.substr(dash + 1));
    } else {
      first = last = ParseNumber(item);
    }
    if (!first || !last || *first < 1 || *last > host_count || *first > *last) {
      return std::nullopt;
    }
    for (std::uint32_t i = *first; i <= *last; ++i) {
      out.push_back(i);
    }
  }
  if (out.empty()) {
    return std::nullopt;
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace fleetps::fleetsim
