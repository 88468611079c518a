#include "fleetps/collector/telemetry/process_stats.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <charconv>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace fleetps::collector {
namespace {

std::optional<std::string> Slurp(const char* path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return std::move(text).str();
}

template <typename T>
bool Field(std::string_view& rest, T& out) {
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  const auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), out);
  if (ec != std::errc{}) return false;
  rest.remove_prefix(static_cast<std::size_t>(end - rest.data()));
  return true;
}

bool Skip(std::string_view& rest, int fields) {
  for (int i = 0; i < fields; ++i) {
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    const std::size_t end = rest.find(' ');
    if (end == std::string_view::npos) return false;
    rest.remove_prefix(end);
  }
  return true;
}

std::optional<double> BootTime() {
  auto text = Slurp("/proc/stat");
  if (!text) return std::nullopt;
  const std::size_t at = text->find("\nbtime ");
  if (at == std::string::npos) return std::nullopt;
  std::string_view rest = std::string_view(*text).substr(at + 7);
  unsigned long long btime = 0;
  if (!Field(rest, btime)) return std::nullopt;
  return static_cast<double>(btime);
}

}  // namespace

std::optional<ProcStat> ParseProcStat(std::string_view line) {
  // "pid (comm) state ppid ..." : fields count from after the last ')', whose field 3 is state.
  const std::size_t close = line.rfind(')');
  if (close == std::string_view::npos) return std::nullopt;
  std::string_view rest = line.substr(close + 1);
  ProcStat out;
  // After ')': 3 state, 4..13 skipped, 14 utime, 15 stime, 16..21 skipped, 22 starttime,
  // 23 vsize, 24 rss.
  if (!Skip(rest, 11) || !Field(rest, out.utime_ticks) || !Field(rest, out.stime_ticks) ||
      !Skip(rest, 6) || !Field(rest, out.start_ticks) || !Field(rest, out.vsize_bytes) ||
      !Field(rest, out.rss_pages)) {
    return std::nullopt;
  }
  return out;
}

std::optional<ProcessStats> ReadProcessStats() {
  auto text = Slurp("/proc/self/stat");
  if (!text) return std::nullopt;
  auto stat = ParseProcStat(*text);
  if (!stat) return std::nullopt;
  const auto ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const auto page = static_cast<double>(sysconf(_SC_PAGESIZE));
  ProcessStats out;
  out.cpu_seconds = static_cast<double>(stat->utime_ticks + stat->stime_ticks) / ticks;
  out.resident_bytes = static_cast<double>(stat->rss_pages) * page;
  out.virtual_bytes = static_cast<double>(stat->vsize_bytes);
  if (auto boot = BootTime()) {
    out.start_time_seconds = *boot + static_cast<double>(stat->start_ticks) / ticks;
  }
  std::error_code ec;
  std::size_t fds = 0;
  for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end;
       it.increment(ec)) {
    ++fds;
  }
  out.open_fds = static_cast<double>(fds);
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    out.max_fds = limit.rlim_cur == RLIM_INFINITY ? -1 : static_cast<double>(limit.rlim_cur);
  }
  return out;
}

}  // namespace fleetps::collector
