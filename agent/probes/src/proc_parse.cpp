#include "fleetps/probes/parsers.hpp"
#include "text.hpp"

namespace fleetps::probes {
namespace {

// Splits a `grep -H` line "/proc/<pid>/<file>:<content>"; false when it is not one.
bool SplitProcLine(std::string_view line, std::string_view file, std::int64_t& pid,
                   std::string_view& content) noexcept {
  if (!detail::StartsWith(line, "/proc/")) return false;
  line.remove_prefix(6);
  std::size_t i = 0;
  while (i < line.size() && detail::IsDigit(line[i])) ++i;
  auto parsed = detail::ParseI64(line.substr(0, i));
  if (!parsed) return false;
  line.remove_prefix(i);
  if (line.size() < file.size() + 2 || line[0] != '/' || line.substr(1, file.size()) != file ||
      line[file.size() + 1] != ':') {
    return false;
  }
  pid = *parsed;
  content = line.substr(file.size() + 2);
  return true;
}

template <class Fn>
void ForEachProcLine(std::string_view text, std::string_view file, ParseStats& stats, Fn fn) {
  detail::LineReader reader(text);
  std::string_view line;
  while (reader.Next(line)) {
    if (detail::Trim(line).empty()) continue;
    ++stats.lines_seen;
    std::int64_t pid = 0;
    std::string_view content;
    if (!SplitProcLine(line, file, pid, content) || !fn(pid, content)) {
      stats.Skip(SkipReason::kUnknownLine);
    }
  }
}

// Calls `fn(pid, content)` once per `/proc/PID/stat` file of a `grep -sH '' .../stat` listing.
// A stat file is one line unless the comm holds a newline (prctl(PR_SET_NAME) and exec accept
// any byte but NUL); grep then prefixes each of its lines with the file name, so the lines of
// one file are the consecutive lines with the same prefix, joined back with the newline. The
// prefix is grep's own, so a comm cannot pass itself off as another process's record.
template <class Fn>
void ForEachStatRecord(std::string_view text, ParseStats& stats, Fn fn) {
  detail::LineReader reader(text);
  std::string_view line;
  std::int64_t pid = -1;
  std::string record;
  auto flush = [&] {
    if (pid >= 0 && !fn(pid, std::string_view(record))) stats.Skip(SkipReason::kUnknownLine);
    pid = -1;
    record.clear();
  };
  while (reader.Next(line)) {
    if (detail::Trim(line).empty()) continue;
    ++stats.lines_seen;
    std::int64_t line_pid = 0;
    std::string_view content;
    if (!SplitProcLine(line, "stat", line_pid, content)) {
      flush();
      stats.Skip(SkipReason::kUnknownLine);
      continue;
    }
    if (line_pid == pid) {
      record.push_back('\n');
    } else {
      flush();
      pid = line_pid;
    }
    record.append(content);
  }
  flush();
}

// "/proc/<pid>/stat" per proc(5): comm sits in parentheses and may itself contain ") ", so the
// fields start after the LAST ')'.
bool ParseStatLine(std::string_view content, long clk_tck, long page_size,
                   std::optional<double> btime, ProcessRow& row) {
  const std::size_t open = content.find('(');
  const std::size_t close = content.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open) {
    return false;
  }
  row.comm.assign(content.substr(open + 1, close - open - 1));
  std::string_view rest = content.substr(close + 1);
  // Field numbers as in proc(5); field 3 (state) is the first after the comm.
  std::string_view fields[22];  // fields 3..24
  for (std::string_view& f : fields) {
    f = detail::NextToken(rest);
    if (f.empty()) return false;
  }
  auto field = [&](int n) { return fields[n - 3]; };
  row.state.assign(field(3));
  row.state_bucket = BucketForState(Dialect::kLinuxProcps, field(3));
  const auto ppid = detail::ParseI64(field(4));
  if (!ppid) return false;
  row.ppid = *ppid;
  row.minor_faults = detail::ParseU64(field(10));
  row.major_faults = detail::ParseU64(field(12));
  const double tck = static_cast<double>(clk_tck);
  if (auto v = detail::ParseU64(field(14))) row.cpu_user_seconds = static_cast<double>(*v) / tck;
  if (auto v = detail::ParseU64(field(15))) row.cpu_system_seconds = static_cast<double>(*v) / tck;
  if (row.cpu_user_seconds && row.cpu_system_seconds) {
    row.cpu_total_seconds = *row.cpu_user_seconds + *row.cpu_system_seconds;
  }
  if (auto v = detail::ParseI64(field(20)); v && *v >= 0) row.threads = *v;
  if (auto v = detail::ParseU64(field(22)); v && btime) {
    row.start_time_unix = *btime + static_cast<double>(*v) / tck;
  }
  row.vsz_bytes = detail::ParseU64(field(23));
  if (auto v = detail::ParseU64(field(24));
      v && *v <= UINT64_MAX / static_cast<unsigned long>(page_size)) {
    row.rss_bytes = *v * static_cast<std::uint64_t>(page_size);
  }
  return true;
}

// "Key:\t value [kB]" → the first number.
std::optional<std::uint64_t> FirstNumber(std::string_view value) {
  std::string_view rest = value;
  return detail::ParseU64(detail::NextToken(rest));
}

}  // namespace

PidMap<ProcessRow> ParseProcBatch(const ProcBatch& batch, long clk_tck, long page_size,
                                  std::optional<double>& btime, ParseStats& stats) {
  if (clk_tck <= 0) clk_tck = 100;
  if (page_size <= 0) page_size = 4096;
  // Rows in the order the shell's glob listed them (1, 10, 100, 2, ...), and a pid-sorted index
  // into them: the rows are moved once, into pid order, at the end.
  std::vector<std::pair<std::int64_t, ProcessRow>> rows;
  rows.reserve(detail::CountNewlines(batch.stat) + 1);

  {
    detail::LineReader reader(batch.btime);
    std::string_view line;
    while (reader.Next(line)) {
      std::string_view rest = line;
      if (detail::NextToken(rest) == "btime") {
        if (auto v = detail::ParseI64(detail::NextToken(rest))) btime = static_cast<double>(*v);
      }
    }
  }

  ForEachStatRecord(batch.stat, stats, [&](std::int64_t pid, std::string_view content) {
    ProcessRow& row = rows.emplace_back(pid, ProcessRow{}).second;
    row.pid = pid;
    if (!ParseStatLine(content, clk_tck, page_size, btime, row)) {
      rows.pop_back();
      ++stats.processes_unreadable;  // a process /proc listed and its stat did not give
      return false;
    }
    return true;
  });

  // (pid, row index), by pid; of a pid listed twice the last listing counts.
  std::vector<std::pair<std::int64_t, std::size_t>> index;
  index.reserve(rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) index.emplace_back(rows[i].first, i);
  detail::SortByPidKeepLast(index, [](const auto& entry) { return entry.first; });

  // The remaining files only enrich processes whose stat line was read. They list the pids in
  // the stat listing's order, one file's lines together: the last answer usually serves the
  // next line, and a search the rest.
  std::int64_t last_pid = -1;
  ProcessRow* last_row = nullptr;
  auto find = [&](std::int64_t pid) -> ProcessRow* {
    if (pid == last_pid) return last_row;
    auto it = std::lower_bound(index.begin(), index.end(), pid,
                               [](const auto& entry, std::int64_t p) { return entry.first < p; });
    last_pid = pid;
    last_row = it != index.end() && it->first == pid ? &rows[it->second].second : nullptr;
    return last_row;
  };

  ForEachProcLine(batch.status, "status", stats, [&](std::int64_t pid, std::string_view content) {
    ProcessRow* row = find(pid);
    if (row == nullptr) return true;  // exited between the two reads
    const std::size_t colon = content.find(':');
    if (colon == std::string_view::npos) return false;
    const std::string_view key = content.substr(0, colon);
    const std::string_view value = content.substr(colon + 1);
    if (key == "Uid") {
      std::string_view rest = value;
      const std::string_view uid = detail::NextToken(rest);
      if (!detail::ParseI64(uid)) return false;
      row->user.assign(uid);
    } else if (key == "Threads") {
      if (auto v = FirstNumber(value)) row->threads = static_cast<std::int64_t>(*v);
    } else if (key == "voluntary_ctxt_switches") {
      row->ctx_voluntary = FirstNumber(value);
    } else if (key == "nonvoluntary_ctxt_switches") {
      row->ctx_involuntary = FirstNumber(value);
    } else if (key == "VmSwap") {
      if (auto v = FirstNumber(value); v && *v <= (UINT64_MAX >> 10)) row->swap_bytes = *v << 10;
    }
    return true;
  });

  ForEachProcLine(batch.io, "io", stats, [&](std::int64_t pid, std::string_view content) {
    ProcessRow* row = find(pid);
    if (row == nullptr) return true;
    const std::size_t colon = content.find(':');
    if (colon == std::string_view::npos) return false;
    const std::string_view key = content.substr(0, colon);
    const auto value = FirstNumber(content.substr(colon + 1));
    if (!value) return false;
    if (key == "read_bytes") row->read_bytes = value;
    if (key == "write_bytes") row->write_bytes = value;
    return true;
  });

  ForEachProcLine(batch.limits, "limits", stats, [&](std::int64_t pid, std::string_view content) {
    ProcessRow* row = find(pid);
    if (row == nullptr) return true;
    if (!detail::StartsWith(content, "Max open files")) return false;
    std::string_view rest = content.substr(14);
    const std::string_view soft = detail::NextToken(rest);
    if (soft == "unlimited") return true;
    auto v = detail::ParseI64(soft);
    if (!v) return false;
    row->fd_limit = *v;
    return true;
  });

  {
    // `ls -a dir...`: "dir:" header, entries, blank line. Only numeric names are descriptors.
    // A readable directory always lists "."; BusyBox ls prints the header of a directory it
    // then cannot open (another user's fd/), which must stay absent rather than count 0.
    detail::LineReader reader(batch.fd);
    std::string_view line;
    ProcessRow* current = nullptr;
    std::int64_t count = 0;
    bool listed = false;
    auto flush = [&] {
      if (current != nullptr && listed) current->fds = count;
      current = nullptr;
      count = 0;
      listed = false;
    };
    while (reader.Next(line)) {
      if (line.empty()) continue;
      ++stats.lines_seen;
      if (line.back() == ':' && detail::StartsWith(line, "/proc/")) {
        flush();
        std::int64_t pid = 0;
        std::string_view content;
        // Reuse the grep splitter: "/proc/<pid>/fd:" has an empty content.
        if (SplitProcLine(line, "fd", pid, content)) current = find(pid);
        continue;
      }
      if (line == ".") listed = true;
      if (current != nullptr && detail::IsDigit(line.front())) ++count;
    }
    flush();
  }
  std::vector<std::pair<std::int64_t, ProcessRow>> sorted;
  sorted.reserve(index.size());
  for (const auto& [pid, i] : index) sorted.emplace_back(pid, std::move(rows[i].second));
  return PidMap<ProcessRow>(std::move(sorted), [](ProcessRow&, ProcessRow&&) {});
}

}  // namespace fleetps::probes
