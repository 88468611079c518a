#include <algorithm>

#include <span>

#include "columns.hpp"
#include "fleetps/probes/parsers.hpp"
#include "text.hpp"

namespace fleetps::probes {
namespace {

using ColumnSlot = std::optional<PsColumn>;  // nullopt: a header we do not use

bool IsAbsentMarker(std::string_view s) noexcept { return s.empty() || s == "-" || s == "?"; }

// Right-aligned numbers in every ps: where a value of such a column ends is its column's end.
bool IsNumericColumn(ColumnSlot column) noexcept {
  if (!column) return false;
  switch (*column) {
    case PsColumn::kPid:
    case PsColumn::kPpid:
    case PsColumn::kEtime:
    case PsColumn::kTime:
    case PsColumn::kUserTime:
    case PsColumn::kSysTime:
    case PsColumn::kRssKib:
    case PsColumn::kVszKib:
    case PsColumn::kThreads:
      return true;
    default:
      return false;
  }
}

// What reading one row's fields found beyond the row itself.
struct FieldState {
  bool have_pid = false;
  bool bad_pid = false;
  bool clean = true;  // false: a number did not parse or a state looks like a number
  std::optional<std::string_view> wchan;
};

// Reads one column's text (already trimmed) into the row. Blank and "-" leave values absent.
inline void ParseField(Dialect dialect, PsColumn column, std::string_view value,
                       std::optional<std::int64_t> clock, ProcessRow& row, FieldState& st) {
  switch (column) {
    case PsColumn::kArgs:
      row.args.assign(value);
      return;
    case PsColumn::kWchan:
      st.wchan = value;
      return;
    case PsColumn::kUser:
      row.user.assign(value);
      return;
    case PsColumn::kZone:
      row.zone.assign(value);
      return;
    case PsColumn::kComm:
      row.comm.assign(value);
      return;
    default:
      break;
  }
  if (IsAbsentMarker(value)) return;
  switch (column) {
    case PsColumn::kPid: {
      auto v = detail::ParseI64(value);
      if (!v || *v < 0) {
        st.bad_pid = true;
        return;
      }
      row.pid = *v;
      st.have_pid = true;
      return;
    }
    case PsColumn::kPpid: {
      auto v = detail::ParseI64(value);
      if (!v || *v < 0) {
        st.bad_pid = true;
        return;
      }
      row.ppid = *v;
      return;
    }
    case PsColumn::kState:
      row.state.assign(value);
      row.state_bucket = BucketForState(dialect, value);
      st.clean = st.clean && !detail::IsDigit(value.front());
      return;
    case PsColumn::kEtime: {
      const auto v = ParseDuration(value);
      st.clean = st.clean && v.has_value();
      if (v && clock) row.start_time_unix = static_cast<double>(*clock) - *v;
      return;
    }
    case PsColumn::kTime:
      row.cpu_total_seconds = ParseDuration(value);
      st.clean = st.clean && row.cpu_total_seconds.has_value();
      return;
    case PsColumn::kUserTime:
      row.cpu_user_seconds = ParseDuration(value);
      st.clean = st.clean && row.cpu_user_seconds.has_value();
      return;
    case PsColumn::kSysTime:
      row.cpu_system_seconds = ParseDuration(value);
      st.clean = st.clean && row.cpu_system_seconds.has_value();
      return;
    case PsColumn::kRssKib:
      row.rss_bytes = ParseKibibytes(value);
      st.clean = st.clean && row.rss_bytes.has_value();
      return;
    case PsColumn::kVszKib:
      row.vsz_bytes = ParseKibibytes(value);
      st.clean = st.clean && row.vsz_bytes.has_value();
      return;
    case PsColumn::kThreads:
      if (auto v = detail::ParseI64(value); v && *v >= 0) {
        row.threads = *v;
      } else {
        st.clean = false;
      }
      return;
    default:
      return;
  }
}

// After the fields: what the row as a whole says. False (with the reason) without a pid.
bool FinishFields(Dialect dialect, ProcessRow& row, const FieldState& st, SkipReason& why) {
  // AIX's process state A is "active": on a CPU or asleep alike. Its wait channel tells them
  // apart: blank (or "-") while running, an address (or "*" for several sleeping threads)
  // while asleep.
  if (st.wchan && dialect == Dialect::kAix && row.state == "A") {
    row.state_bucket = IsAbsentMarker(*st.wchan) ? StateBucket::kRunning : StateBucket::kSleeping;
    if (row.args == "<exiting>") row.state_bucket = StateBucket::kOther;  // being torn down
  }
  if (st.bad_pid) {
    why = SkipReason::kBadNumber;
    return false;
  }
  if (!st.have_pid) {
    why = SkipReason::kNoPid;
    return false;
  }
  return true;
}

// Fills one row from its column texts (positional reading).
bool ParseFields(Dialect dialect, std::span<const ColumnSlot> columns,
                 std::span<const std::string_view> fields, std::optional<std::int64_t> clock,
                 ProcessRow& row, SkipReason& why) {
  FieldState st;
  for (std::size_t i = 0; i < columns.size(); ++i) {
    if (columns[i]) ParseField(dialect, *columns[i], detail::Trim(fields[i]), clock, row, st);
  }
  return FinishFields(dialect, row, st, why);
}

// A table's columns: what each means and, when known, where it lies on a line.
struct Layout {
  std::vector<ColumnSlot> slots;
  std::vector<detail::ColumnSpan> spans;  // empty: split on blanks only
  bool rest_last = false;                 // the last column is the command line
  bool from_header = false;               // spans are the header's, not inferred from rows
};

// Reads the row token by token, token i as column i and the command line from its first token
// on, straight into `row` (the path of nearly every row: no token list, one pass). False when
// the row cannot be read that way: too few tokens, a number that does not parse, the command
// starting left of its header (a value with a blank inside, BusyBox "S <", pushed a word into
// it), or, one token short, the last word sitting in the command's column (a blank column
// before it, AIX's wait channel of a running process, is what is missing). Values wider than
// their column shift the rest of a procps row to the right, which this reading tolerates and
// a positional one would not.
bool ParseByTokens(Dialect dialect, const Layout& layout, std::string_view line,
                   std::optional<std::int64_t> clock, ProcessRow& row, FieldState& st) {
  const std::size_t n = layout.slots.size();
  std::string_view rest = line;
  std::size_t count = 0;
  std::uint32_t last_fixed_begin = 0;
  std::uint32_t command_begin = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const bool command = layout.rest_last && i == n - 1;
    const std::string_view value =
        command ? detail::TrimRight(detail::TrimLeft(rest)) : detail::NextToken(rest);
    if (value.empty()) continue;
    ++count;
    const auto begin = static_cast<std::uint32_t>(value.data() - line.data());
    if (command) {
      command_begin = begin;
    } else {
      last_fixed_begin = begin;
    }
    if (layout.slots[i]) ParseField(dialect, *layout.slots[i], value, clock, row, st);
  }
  if (!layout.rest_last && !detail::TrimLeft(rest).empty()) return false;  // extra words
  if (layout.rest_last ? count + 1 < n : count != n) return false;
  if (!st.clean || st.bad_pid) return false;
  if (layout.spans.empty()) return true;
  if (layout.rest_last && count == n && layout.from_header &&
      command_begin < layout.spans[n - 1].begin) {
    return false;
  }
  if (layout.rest_last && count + 1 == n && n >= 2 && last_fixed_begin >= layout.spans[n - 2].end) {
    return false;
  }
  // A text column right before the command whose word starts where commands start is the
  // command's first word: that column was blank (AIX's wait channel of a running process).
  // Numbers are exempt: procps shifts a row right after a wide value, and the last number of
  // such a row may start there.
  if (layout.rest_last && n >= 2 && !layout.spans[n - 2].numeric &&
      last_fixed_begin >= layout.spans[n - 1].begin) {
    return false;
  }
  return true;
}

// BusyBox prints "{comm} argv..." with the comm raw, so a newline in a comm splits its row: the
// next line(s) hold the comm's rest, its `}` and the argv. Joins them back (with the newline)
// when that `}` closes within a comm's 15 bytes (TASK_COMM_LEN - 1): the command column of a
// following row starts further in, so a row is never taken for a continuation.
void JoinSplitComm(detail::LineReader& reader, ProcessRow& row, ParseStats& stats) {
  constexpr std::size_t kMaxCommBytes = 15;
  if (!row.args.starts_with('{') || row.args.find('}') != std::string::npos) return;
  std::string joined = row.args;
  std::size_t comm_bytes = joined.size() - 1;
  detail::LineReader ahead = reader;
  std::string_view next;
  std::uint64_t lines = 0;
  while (comm_bytes < kMaxCommBytes && ahead.Next(next)) {
    ++lines;
    joined.push_back('\n');
    ++comm_bytes;
    const std::size_t close = next.find('}');
    if (close != std::string_view::npos) {
      if (comm_bytes + close > kMaxCommBytes) return;
      joined.append(next);
      row.args = std::move(joined);
      stats.lines_seen += lines;
      reader = ahead;
      return;
    }
    joined.append(next);
    comm_bytes += next.size();
  }
}

std::vector<ProcessRow> ParseRows(Dialect dialect, const Layout& layout, std::string_view text,
                                  detail::LineReader& reader, std::optional<std::int64_t> clock,
                                  ParseStats& stats) {
  std::vector<ProcessRow> rows;
  rows.reserve(detail::CountNewlines(text) + 1);
  const std::size_t n = layout.slots.size();
  const std::size_t fixed = layout.rest_last ? n - 1 : n;
  // A few values with blanks inside, then the command line as one token.
  const std::size_t limit = layout.rest_last ? n + 8 : SIZE_MAX;
  std::vector<detail::TokenPos> tokens;
  std::vector<std::string_view> fields(n);
  std::string_view line;
  while (reader.Next(line)) {
    if (detail::Trim(line).empty()) continue;
    ++stats.lines_seen;
    // Parse in place: a ProcessRow is large, moving it per line is measurable.
    ProcessRow* row = &rows.emplace_back();
    SkipReason why = SkipReason::kShortLine;
    FieldState st;
    bool ok = ParseByTokens(dialect, layout, line, clock, *row, st);
    if (ok) {
      ok = FinishFields(dialect, *row, st, why);
    } else if (!layout.spans.empty() && fixed > 0) {
      // Not laid out token by token (blank columns, values with blanks, values run together):
      // read it by position. A row must still reach its last fixed column; one that stops
      // short was cut, not left blank.
      detail::Tokenize(line, tokens, limit);
      if (!tokens.empty() && tokens.back().end > layout.spans[fixed - 1].begin) {
        *row = ProcessRow{};
        stats.values_split +=
            detail::SplitByColumns(line, tokens, layout.spans, layout.rest_last, fields);
        ok = ParseFields(dialect, layout.slots, fields, clock, *row, why);
      }
    } else if (!st.bad_pid) {
      // No layout to read it by instead: keep what parsed, odd values absent, if the row had
      // every column and a pid.
      std::string_view rest = line;
      std::size_t count = 0;
      while (!detail::NextToken(rest).empty()) ++count;
      if (layout.rest_last ? count + 1 >= n : count == n) ok = FinishFields(dialect, *row, st, why);
    }
    if (!ok) {
      rows.pop_back();
      stats.Skip(why);
    } else if (dialect == Dialect::kBusybox) {
      JoinSplitComm(reader, *row, stats);
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
      {"CMD", PsColumn::kArgs},      {"ARGS", PsColumn::kArgs},     {"UCOMM", PsColumn::kComm},
      {"COMM", PsColumn::kComm},     {"COMD", PsColumn::kArgs},     {"USERNAME", PsColumn::kUser},
      {"WCHAN", PsColumn::kWchan},
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
    case 'k':
    case 'K':
      scale = 1024.0;
      text.remove_suffix(1);
      break;
    case 'm':
    case 'M':
      scale = 1024.0 * 1024;
      text.remove_suffix(1);
      break;
    case 'g':
    case 'G':
      scale = 1024.0 * 1024 * 1024;
      text.remove_suffix(1);
      break;
    case 't':
    case 'T':
      scale = 1024.0 * 1024 * 1024 * 1024;
      text.remove_suffix(1);
      break;
    default:
      break;
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
      return {C::kPid,  C::kPpid,   C::kUser,   C::kState,   C::kEtime,
              C::kTime, C::kRssKib, C::kVszKib, C::kThreads, C::kArgs};
    case Dialect::kBusybox:
      return {};
    case Dialect::kAix:
      return {C::kPid,    C::kPpid,   C::kUser,    C::kState, C::kEtime, C::kTime,
              C::kRssKib, C::kVszKib, C::kThreads, C::kWchan, C::kArgs};
    case Dialect::kSolaris:
      return {C::kPid,    C::kPpid,   C::kUser,    C::kState, C::kEtime, C::kTime,
              C::kRssKib, C::kVszKib, C::kThreads, C::kZone,  C::kArgs};
    case Dialect::kHpux:
      return {C::kPid, C::kPpid, C::kUser, C::kState, C::kEtime, C::kTime, C::kVszKib, C::kArgs};
    case Dialect::kFreebsd:
      return {C::kPid,     C::kPpid,   C::kUser,   C::kState,   C::kEtime, C::kUserTime,
              C::kSysTime, C::kRssKib, C::kVszKib, C::kThreads, C::kArgs};
    case Dialect::kDarwin:
      return {C::kPid,  C::kPpid,     C::kUser,   C::kState,  C::kEtime,
              C::kTime, C::kUserTime, C::kRssKib, C::kVszKib, C::kArgs};
  }
  return {};
}

std::vector<ProcessRow> ParsePsTable(Dialect dialect, const std::vector<PsColumn>& columns,
                                     std::string_view text, std::optional<std::int64_t> clock,
                                     ParseStats& stats) {
  Layout layout;
  layout.slots.assign(columns.begin(), columns.end());
  if (layout.slots.empty()) return {};
  layout.rest_last = layout.slots.back() == PsColumn::kArgs;
  // No header: where the columns lie is read off the first rows that have every column.
  constexpr std::size_t kSampleRows = 16;
  std::vector<std::vector<detail::TokenPos>> sample;
  detail::LineReader sampler(text);
  std::string_view line;
  while (sample.size() < kSampleRows && sampler.Next(line)) {
    if (detail::Trim(line).empty()) continue;
    detail::Tokenize(line, sample.emplace_back(), layout.slots.size());  // only positions
  }
  std::vector<bool> numeric;
  for (const ColumnSlot& slot : layout.slots) numeric.push_back(IsNumericColumn(slot));
  layout.spans = detail::InferColumns(sample, numeric, layout.rest_last);
  detail::LineReader reader(text);
  return ParseRows(dialect, layout, text, reader, clock, stats);
}

std::vector<ProcessRow> ParsePsWithHeader(Dialect dialect, std::string_view text,
                                          std::optional<std::int64_t> clock, ParseStats& stats) {
  detail::LineReader reader(text);
  std::string_view line;
  Layout layout;
  std::vector<detail::TokenPos> header;
  while (reader.Next(line)) {
    if (detail::Trim(line).empty()) continue;
    ++stats.lines_seen;
    detail::Tokenize(line, header);
    // `-o comm,args` labels both COMMAND: all but the last such column are the short name.
    std::size_t commands = 0;
    for (const detail::TokenPos& h : header) {
      commands += ColumnForHeader(line.substr(h.begin, h.end - h.begin)) == PsColumn::kArgs;
    }
    for (const detail::TokenPos& h : header) {
      ColumnSlot slot = ColumnForHeader(line.substr(h.begin, h.end - h.begin));
      if (slot == PsColumn::kArgs && --commands > 0) slot = PsColumn::kComm;
      layout.slots.push_back(slot);
      layout.spans.push_back({h.begin, h.end, IsNumericColumn(slot)});
      if (slot == PsColumn::kArgs) break;  // COMMAND takes the rest of each line
    }
    break;
  }
  const bool has_pid =
      std::find(layout.slots.begin(), layout.slots.end(), PsColumn::kPid) != layout.slots.end();
  if (!has_pid) {
    if (!layout.slots.empty()) {
      stats.Skip(SkipReason::kNoHeader);
    }
    return {};
  }
  layout.rest_last = layout.slots.back() == PsColumn::kArgs;
  layout.from_header = true;
  if (layout.rest_last) layout.spans.back().end = UINT32_MAX;
  return ParseRows(dialect, layout, text, reader, clock, stats);
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
      stats.Skip(pid ? SkipReason::kShortLine : SkipReason::kBadNumber);
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
      stats.Skip(pid ? SkipReason::kShortLine : SkipReason::kBadNumber);
      continue;
    }
    out.emplace_back(*pid, detail::Trim(rest));
  }
  return {std::move(out), KeepFirst};
}

}  // namespace fleetps::probes
