#pragma once

#include <optional>
#include <string_view>

namespace fleetps::collector {

/// The collector's own process, as the standard Prometheus process collector reports it.
struct ProcessStats {
  double cpu_seconds = 0;  ///< user + system
  double resident_bytes = 0;
  double virtual_bytes = 0;
  double open_fds = 0;
  double max_fds = 0;             ///< soft RLIMIT_NOFILE
  double start_time_seconds = 0;  ///< Unix time
};

/// The fields of /proc/<pid>/stat the process metrics need (raw units).
struct ProcStat {
  unsigned long long utime_ticks = 0;
  unsigned long long stime_ticks = 0;
  unsigned long long start_ticks = 0;  ///< since boot
  unsigned long long vsize_bytes = 0;
  long long rss_pages = 0;
};

/// Parses one /proc/<pid>/stat line (the command name may hold spaces and parentheses).
[[nodiscard]] std::optional<ProcStat> ParseProcStat(std::string_view line);

/// Reads /proc/self (stat, fd) and /proc/stat (btime). nullopt when /proc is not readable.
/// Blocking file I/O of a few small files (~50 µs): fine on a scrape.
[[nodiscard]] std::optional<ProcessStats> ReadProcessStats();

}  // namespace fleetps::collector
