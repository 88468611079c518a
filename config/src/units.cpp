#include "fleetps/config/units.hpp"

#include <array>
#include <limits>

namespace fleetps::config {
namespace {

constexpr std::uint64_t kMaxU64 = std::numeric_limits<std::uint64_t>::max();

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Reads a run of digits at `pos`; false on no digits or overflow.
bool ReadNumber(std::string_view text, std::size_t& pos, std::uint64_t& value) {
  const std::size_t start = pos;
  value = 0;
  while (pos < text.size() && IsDigit(text[pos])) {
    const auto digit = static_cast<std::uint64_t>(text[pos] - '0');
    if (value > (kMaxU64 - digit) / 10) return false;
    value = value * 10 + digit;
    ++pos;
  }
  return pos > start;
}

struct Unit {
  std::string_view name;
  std::uint64_t factor;
};

constexpr std::array<Unit, 6> kDurationUnits{{{"ms", 1},
                                              {"s", 1000},
                                              {"m", 60'000},
                                              {"h", 3'600'000},
                                              {"d", 86'400'000},
                                              {"w", 604'800'000}}};

// Decreasing-order rank for the "units in decreasing order" rule.
int DurationRank(std::string_view unit) {
  constexpr std::array<std::string_view, 6> kOrder{"w", "d", "h", "m", "s", "ms"};
  for (std::size_t i = 0; i < kOrder.size(); ++i) {
    if (kOrder[i] == unit) return static_cast<int>(i);
  }
  return -1;
}

DurationResult DurationError(std::string message) {
  DurationResult result;
  result.error = std::move(message);
  return result;
}

SizeResult SizeError(std::string message) {
  SizeResult result;
  result.error = std::move(message);
  return result;
}

}  // namespace

DurationResult ParseDuration(std::string_view text) {
  if (text.empty()) return DurationError("empty duration");
  if (text == "0") return DurationResult{};
  std::size_t pos = 0;
  std::uint64_t total = 0;
  int last_rank = -1;
  while (pos < text.size()) {
    std::uint64_t number = 0;
    if (!IsDigit(text[pos]))
      return DurationError("expected a number at \"" + std::string(text.substr(pos)) + "\"");
    if (!ReadNumber(text, pos, number)) return DurationError("number too large");
    std::size_t unit_end = pos;
    while (unit_end < text.size() && !IsDigit(text[unit_end])) ++unit_end;
    const std::string_view unit_text = text.substr(pos, unit_end - pos);
    const Unit* unit = nullptr;
    for (const Unit& candidate : kDurationUnits) {
      if (unit_text == candidate.name) unit = &candidate;
    }
    if (unit == nullptr) {
      return DurationError(unit_text.empty() ? "missing unit (ms, s, m, h, d or w)"
                                             : "unknown unit \"" + std::string(unit_text) +
                                                   "\" (ms, s, m, h, d or w)");
    }
    const int rank = DurationRank(unit->name);
    if (rank <= last_rank) return DurationError("units must be in decreasing order, each once");
    last_rank = rank;
    pos += unit->name.size();
    constexpr auto kMaxMs =
        static_cast<std::uint64_t>(std::numeric_limits<std::chrono::milliseconds::rep>::max());
    if (number > kMaxMs / unit->factor || total > kMaxMs - number * unit->factor) {
      return DurationError("duration too large");
    }
    total += number * unit->factor;
  }
  DurationResult result;
  result.value = std::chrono::milliseconds(static_cast<std::chrono::milliseconds::rep>(total));
  return result;
}

SizeResult ParseSize(std::string_view text) {
  if (text.empty()) return SizeError("empty size");
  std::size_t pos = 0;
  std::uint64_t number = 0;
  if (!IsDigit(text[0])) return SizeError("expected a number");
  if (!ReadNumber(text, pos, number)) return SizeError("size too large");
  const std::string_view unit = text.substr(pos);
  constexpr std::array<Unit, 10> kSizeUnits{{{"", 1},
                                             {"B", 1},
                                             {"KiB", 1ull << 10},
                                             {"MiB", 1ull << 20},
                                             {"GiB", 1ull << 30},
                                             {"TiB", 1ull << 40},
                                             {"KB", 1'000},
                                             {"MB", 1'000'000},
                                             {"GB", 1'000'000'000},
                                             {"TB", 1'000'000'000'000}}};
  for (const Unit& candidate : kSizeUnits) {
    if (unit == candidate.name || (unit == "kB" && candidate.name == "KB")) {
      if (number > kMaxU64 / candidate.factor) return SizeError("size too large");
      SizeResult result;
      result.value = number * candidate.factor;
      return result;
    }
  }
  return SizeError("unknown unit \"" + std::string(unit) +
                   "\" (B, KiB, MiB, GiB, TiB, KB, MB, GB or TB)");
}

std::string FormatDuration(std::chrono::milliseconds value) {
  auto ms = value.count();
  if (ms <= 0) return ms == 0 ? "0s" : std::to_string(ms) + "ms";
  std::string out;
  // Hours at most: "48h" reads better than "2d" in messages.
  constexpr std::array<Unit, 4> kParts{{{"h", 3'600'000}, {"m", 60'000}, {"s", 1000}, {"ms", 1}}};
  for (const Unit& part : kParts) {
    const auto factor = static_cast<decltype(ms)>(part.factor);
    if (ms >= factor) {
      out += std::to_string(ms / factor);
      out += part.name;
      ms %= factor;
    }
  }
  return out;
}

std::string FormatSize(std::uint64_t bytes) {
  constexpr std::array<Unit, 4> kUnits{
      {{"TiB", 1ull << 40}, {"GiB", 1ull << 30}, {"MiB", 1ull << 20}, {"KiB", 1ull << 10}}};
  for (const Unit& unit : kUnits) {
    if (bytes != 0 && bytes % unit.factor == 0) {
      return std::to_string(bytes / unit.factor) + std::string(unit.name);
    }
  }
  return std::to_string(bytes);
}

}  // namespace fleetps::config
