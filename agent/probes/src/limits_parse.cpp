#include "fleetps/probes/parsers.hpp"
#include "text.hpp"

namespace fleetps::probes {
namespace {

// A limit as the kernel prints it: a non-negative decimal integer.
std::optional<std::int64_t> LimitValue(std::string_view text) {
  auto v = detail::ParseI64(detail::Trim(text));
  if (v && *v >= 0) return v;
  return std::nullopt;
}

}  // namespace

HostLimits ParseProcSysLimits(std::string_view text, ParseStats& stats) {
  HostLimits limits;
  detail::LineReader reader(text);
  std::string_view line;
  while (reader.Next(line)) {
    if (detail::Trim(line).empty()) continue;
    ++stats.lines_seen;
    const std::size_t colon = line.find(':');
    const std::string_view file = line.substr(0, colon);
    const auto value =
        colon == std::string_view::npos ? std::nullopt : LimitValue(line.substr(colon + 1));
    if (value && file == "/proc/sys/kernel/pid_max") {
      limits.max_processes = value;
    } else if (value && file == "/proc/sys/kernel/threads-max") {
      limits.max_threads = value;
    } else {
      stats.Skip(value ? SkipReason::kUnknownLine : SkipReason::kBadNumber);
    }
  }
  return limits;
}

HostLimits ParseKctuneLimits(std::string_view text, ParseStats& stats) {
  HostLimits limits;
  detail::LineReader reader(text);
  std::string_view line;
  std::string_view tunable;  // the `name` of the block being read
  while (reader.Next(line)) {
    std::string_view rest = line;
    const std::string_view field = detail::NextToken(rest);
    if (field.empty()) {
      tunable = {};  // the blank line between tunables
      continue;
    }
    ++stats.lines_seen;
    const std::string_view value = detail::Trim(rest);
    if (field == "name") {
      tunable = value;
    } else if (field == "current" && (tunable == "nproc" || tunable == "nkthread")) {
      const auto v = LimitValue(value);
      if (!v) {
        stats.Skip(SkipReason::kBadNumber);
      } else if (tunable == "nproc") {
        limits.max_processes = v;
      } else {
        limits.max_threads = v;
      }
    }
  }
  return limits;
}

std::optional<std::int64_t> ParseKstatValue(std::string_view text, std::string_view statistic) {
  detail::LineReader reader(text);
  std::string_view line;
  while (reader.Next(line)) {
    std::string_view rest = line;
    if (detail::NextToken(rest) == statistic) return LimitValue(rest);
  }
  return std::nullopt;
}

}  // namespace fleetps::probes
