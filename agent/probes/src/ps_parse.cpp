#include <algorithm>

#include "fleetps/probes/parsers.hpp"
#include "text.hpp"

namespace fleetps::probes {
namespace {

using ColumnSlot = std::optional<PsColumn>;  // nullopt: a header we do not use

bool IsAbsentMarker(std::string_view s) noexcept { return s.empty() || s == "-" || s == "?"; }

// Fills one row from `line`; false when a required numeric column does not parse.
bool ParseRow(Dialect dialect, const std::vector<ColumnSlot>& columns, std::string_view line,
              std::optional<std::int64_t> clock, ProcessRow& row) {
  std::string_view rest = line;
  bool have_pid = false;
  for (std::size_t i = 0; i < columns.size(); ++i) {
    if (columns[i] == PsColumn::kArgs) {
      row.args.assign(detail::Trim(rest));
      rest = {};
      break;
    }
    const std::string_view token = detail::NextToken(rest);
    if (token.empty()) return false;  // a short line (only args may be empty)
    if (!columns[i].has_value()) continue;
    switch (*columns[i]) {
      case PsColumn::kPid: {
        auto v = detail::ParseI64(token);
        if (!v || *v < 0) return false;
        row.pid = *v;
        have_pid = true;
        break;
      }
      case PsColumn::kPpid: {
        auto v = detail::ParseI64(token);
        if (!v || *v < 0) return false;
        row.ppid = *v;
        break;
      }
      case PsColumn::kUser: row.user.assign(token); break;
      case PsColumn::kState:
        row.state.assign(token);
        row.state_bucket = BucketForState(dialect, token);
        break;
      case PsColumn::kEtime:
        if (auto v = ParseDuration(token); v && clock) {
          row.start_time_unix = static_cast<double>(*clock) - *v;
        }
        break;
      case PsColumn::kTime: row.cpu_total_seconds = ParseDuration(token); break;
      case PsColumn::kUserTime: row.cpu_user_seconds = ParseDuration(token); break;
      case PsColumn::kSysTime: row.cpu_system_seconds = ParseDuration(token); break;
      case PsColumn::kRssKib:
        if (!IsAbsentMarker(token)) row.rss_bytes = ParseKibibytes(token);
        break;
      case PsColumn::kVszKib:
        if (!IsAbsentMarker(token)) row.vsz_bytes = ParseKibibytes(token);
        break;
      case PsColumn::kThreads:
        if (auto v = detail::ParseI64(token); v && *v >= 0) row.threads = *v;
        break;
      case PsColumn::kZone: row.zone.assign(token); break;
      case PsColumn::kComm: row.comm.assign(token); break;
      case PsColumn::kArgs: break;
    }
  }
  return have_pid;
}

std::vector<ProcessRow> ParseRows(Dialect dialect, const std::vector<ColumnSlot>& columns,
                                  std::string_view text, detail::LineReader& reader,
                                  std::optional<std::int64_t> clock, ParseStats& stats) {
  std::vector<ProcessRow> rows;
  rows.reserve(detail::CountNewlines(text) + 1);
  std::string_view line;
  while (reader.Next(line)) {
    if (detail::Trim(line).empty()) continue;
    ++stats.lines_seen;
    // Parse in place: a ProcessRow is large, moving it per line is measurable.
    ProcessRow& row = rows.emplace_back();
    if (!ParseRow(dialect, columns, line, clock, row)) {
      rows.pop_back();
      ++stats.lines_skipped;
    }
  }
  return rows;
}

ColumnSlot ColumnForHeader(std::string_view header) noexcept {
  struct Entry {
    std::string_view name;
    PsColumn column;
  };
  static constexpr Entry kHeaders[] = {
      {"PID", PsColumn::kPid},       {"PPID", PsColumn::kPpid},     {"USER", PsColumn::kUser},
      {"UID", PsColumn::kUser},      {"RUSER", PsColumn::kUser},    {"UNAME", PsColumn::kUser},
      {"STAT", PsColumn::kState},    {"S", PsColumn::kState},       {"ST", PsColumn::kState},
      {"STATE", PsColumn::kState},   {"ELAPSED", PsColumn::kEtime}, {"ETIME", PsColumn::kEtime},
      {"TIME", PsColumn::kTime},     {"RSS", PsColumn::kRssKib},    {"RSZ", PsColumn::kRssKib},
      {"VSZ", PsColumn::kVszKib},    {"VSIZE", PsColumn::kVszKib},  {"NLWP", PsColumn::kThreads},
      {"THCNT", PsColumn::kThreads}, {"ZONE", PsColumn::kZone},     {"COMMAND", PsColumn::kArgs},
      {"CMD", PsColumn::kArgs},      {"ARGS", PsColumn::kArgs},
  };
  for (const Entry& e : kHeaders) {
    if (e.name == header) return e.column;
  }
  return std::nullopt;
}

// The shapes ps prints, `[dd-][hh:]mm:ss[.frac]` with plain digits, in one pass. Sets `handled`
// false for anything else (signs, blanks, long digit runs, errors), which then goes through the
// general parser below; when handled, the result is bit-identical to it (same operations in the
// same order: digit runs of at most 15 digits are exact in a double).
std::optional<double> FastDuration(std::string_view text, bool& handled) noexcept {
  handled = false;
  const char* p = text.data();
  const char* const end = p + text.size();
  auto digits = [&](std::uint64_t& value) {
    int n = 0;
    value = 0;
    while (p < end && detail::IsDigit(*p) && n < 16) {
      value = value * 10 + static_cast<std::uint64_t>(*p - '0');
      ++p;
      ++n;
    }
    return n;
  };
  std::uint64_t parts[3];
  int count = 0;
  std::uint64_t first = 0;
  int n = digits(first);
  if (n == 0 || n == 16) return std::nullopt;
  double days = 0;
  bool has_days = false;
  if (p < end && *p == '-') {
    days = static_cast<double>(first);
    has_days = true;
    ++p;
    n = digits(first);
    if (n == 0 || n == 16) return std::nullopt;
  }
  parts[count++] = first;
  while (p < end && *p == ':') {
    if (count == 3) return std::nullopt;
    ++p;
    n = digits(parts[count]);
    if (n == 0 || n == 16) return std::nullopt;
    ++count;
  }
  if (has_days && count < 2) return std::nullopt;
  double last = static_cast<double>(parts[count - 1]);
  if (p < end && (*p == '.' || *p == ',')) {
    ++p;
    double scale = 0.1;
    for (; p < end && detail::IsDigit(*p); ++p) {
      last += (*p - '0') * scale;
      scale /= 10;
    }
  }
  if (p != end) return std::nullopt;
  double total = 0;
  for (int i = 0; i < count - 1; ++i) total = total * 60 + static_cast<double>(parts[i]);
  total = total * 60 + last;
  handled = true;
  return days * 86400 + total;
}

}  // namespace

std::optional<double> ParseDuration(std::string_view text) noexcept {
  text = detail::Trim(text);
  if (text.empty()) return std::nullopt;
  bool handled = false;
  if (auto fast = FastDuration(text, handled); handled) return fast;
  double days = 0;
  const std::size_t dash = text.find('-');
  if (dash != std::string_view::npos) {
    auto d = detail::ParseU64(text.substr(0, dash));
    if (!d) return std::nullopt;
    days = static_cast<double>(*d);
    text.remove_prefix(dash + 1);
  }
  // Up to three colon-separated parts, the last may carry a fraction.
  std::string_view parts[3];
  int count = 0;
  while (true) {
    const std::size_t colon = text.find(':');
    if (count == 3) return std::nullopt;
    parts[count++] = text.substr(0, colon);
    if (colon == std::string_view::npos) break;
    text.remove_prefix(colon + 1);
  }
  if (dash != std::string_view::npos && count < 2) return std::nullopt;
  double total = 0;
  for (int i = 0; i < count; ++i) {
    const bool last = i == count - 1;
    std::optional<double> v;
    if (last) {
      v = detail::ParseDecimal(parts[i]);
    } else if (auto n = detail::ParseU64(parts[i])) {
      v = static_cast<double>(*n);
    }
    if (!v) return std::nullopt;
    total = total * 60 + *v;
  }
  return days * 86400 + total;
}

std::optional<std::uint64_t> ParseKibibytes(std::string_view text) noexcept {
  text = detail::Trim(text);
  if (text.empty()) return std::nullopt;
  if (detail::IsDigit(text.back())) {
    // Plain KiB, the usual case: the same reading as below without the suffix and mark checks.
    if (auto v = detail::ParseU64(text)) {
      if (*v > (UINT64_MAX >> 10)) return std::nullopt;
      return *v << 10;
    }
  }
  double scale = 1024;
  switch (text.back()) {
    case 'k': case 'K': scale = 1024.0; text.remove_suffix(1); break;
    case 'm': case 'M': scale = 1024.0 * 1024; text.remove_suffix(1); break;
    case 'g': case 'G': scale = 1024.0 * 1024 * 1024; text.remove_suffix(1); break;
    case 't': case 'T': scale = 1024.0 * 1024 * 1024 * 1024; text.remove_suffix(1); break;
    default: break;
  }
  const bool fraction =
      std::any_of(text.begin(), text.end(), [](char c) { return c == '.' || c == ','; });
  if (scale == 1024 && !fraction) {
    auto v = detail::ParseU64(text);
    if (!v || *v > (UINT64_MAX >> 10)) return std::nullopt;
    return *v << 10;
  }
  auto v = detail::ParseDecimal(text);
  if (!v) return std::nullopt;
  const double bytes = *v * scale;
  if (!(bytes < 1.8e19)) return std::nullopt;
  return static_cast<std::uint64_t>(bytes);
}

std::vector<PsColumn> PsColumnsFor(Dialect dialect) {
  using C = PsColumn;
  switch (dialect) {
    case Dialect::kLinuxProcps:
      return {C::kPid, C::kPpid, C::kUser, C::kState, C::kEtime, C::kTime,
              C::kRssKib, C::kVszKib, C::kThreads, C::kArgs};
    case Dialect::kBusybox: return {};
    case Dialect::kAix:
      return {C::kPid, C::kPpid, C::kUser, C::kState, C::kEtime, C::kTime,
              C::kRssKib, C::kVszKib, C::kThreads, C::kArgs};
    case Dialect::kSolaris:
      return {C::kPid, C::kPpid, C::kUser, C::kState, C::kEtime, C::kTime,
              C::kRssKib, C::kVszKib, C::kThreads, C::kZone, C::kArgs};
    case Dialect::kHpux:
      return {C::kPid, C::kPpid, C::kUser, C::kState, C::kEtime, C::kTime, C::kVszKib, C::kArgs};
    case Dialect::kFreebsd:
      return {C::kPid, C::kPpid, C::kUser, C::kState, C::kEtime, C::kUserTime,
              C::kSysTime, C::kRssKib, C::kVszKib, C::kThreads, C::kArgs};
    case Dialect::kDarwin:
      return {C::kPid, C::kPpid, C::kUser, C::kState, C::kEtime, C::kTime,
              C::kUserTime, C::kRssKib, C::kVszKib, C::kArgs};
  }
  return {};
}

std::vector<ProcessRow> ParsePsTable(Dialect dialect, const std::vector<PsColumn>& columns,
                                     std::string_view text, std::optional<std::int64_t> clock,
                                     ParseStats& stats) {
  const std::vector<ColumnSlot> slots(columns.begin(), columns.end());
  if (slots.empty()) return {};
  detail::LineReader reader(text);
  return ParseRows(dialect, slots, text, reader, clock, stats);
}

std::vector<ProcessRow> ParsePsWithHeader(Dialect dialect, std::string_view text,
                                          std::optional<std::int64_t> clock, ParseStats& stats) {
  detail::LineReader reader(text);
  std::string_view line;
  std::vector<ColumnSlot> slots;
  while (reader.Next(line)) {
    std::string_view rest = line;
    if (detail::Trim(rest).empty()) continue;
    ++stats.lines_seen;
    for (std::string_view h = detail::NextToken(rest); !h.empty(); h = detail::NextToken(rest)) {
      slots.push_back(ColumnForHeader(h));
      if (slots.back() == PsColumn::kArgs) break;  // COMMAND takes the rest of each line
    }
    break;
  }
  const bool has_pid = std::find(slots.begin(), slots.end(), PsColumn::kPid) != slots.end();
  if (!has_pid) {
    if (!slots.empty()) ++stats.lines_skipped;
    return {};
  }
  return ParseRows(dialect, slots, text, reader, clock, stats);
}

namespace {
void KeepFirst(std::string_view& /*kept*/, std::string_view&& /*later*/) {}
}  // namespace

PidMap<std::string_view> ParsePidText(std::string_view text, ParseStats& stats) {
  std::vector<PidMap<std::string_view>::value_type> out;
  out.reserve(detail::CountNewlines(text) + 1);
  detail::LineReader reader(text);
  std::string_view line;
  while (reader.Next(line)) {
    std::string_view rest = line;
    if (detail::Trim(rest).empty()) continue;
    ++stats.lines_seen;
    auto pid = detail::ParseI64(detail::NextToken(rest));
    const std::string_view value = detail::Trim(rest);
    if (!pid || value.empty()) {
      ++stats.lines_skipped;
      continue;
    }
    out.emplace_back(*pid, value);
  }
  return {std::move(out), KeepFirst};
}

PidMap<std::string_view> ParseUcbPs(std::string_view text, ParseStats& stats) {
  std::vector<PidMap<std::string_view>::value_type> out;
  out.reserve(detail::CountNewlines(text) + 1);
  detail::LineReader reader(text);
  std::string_view line;
  while (reader.Next(line)) {
    std::string_view rest = line;
    if (detail::Trim(rest).empty()) continue;
    ++stats.lines_seen;
    const std::string_view first = detail::NextToken(rest);
    if (first == "PID") continue;  // header
    auto pid = detail::ParseI64(first);
    // TT, S and TIME precede the command.
    const bool ok = !detail::NextToken(rest).empty() && !detail::NextToken(rest).empty() &&
                    !detail::NextToken(rest).empty();
    if (!pid || !ok) {
      ++stats.lines_skipped;
      continue;
    }
    out.emplace_back(*pid, detail::Trim(rest));
  }
  return {std::move(out), KeepFirst};
}

}  // namespace fleetps::probes
