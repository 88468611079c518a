#pragma once

#include <cstdint>
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

/// Reads /proc/self (stat, fd) and the soft RLIMIT_NOFILE. nullopt when /proc is not readable.
/// The first call opens /proc/self/stat and /proc/self/fd and keeps them open for the life of
/// the process (and reads /proc/stat's btime once); later calls re-read them in place (pread,
/// rewinddir), so the figures keep coming when the process has no descriptor left: exactly
/// when `process_open_fds` matters. Call it once at start for that. Thread-safe. Blocking I/O
/// of two small files (~50 µs): fine on a scrape.
[[nodiscard]] std::optional<ProcessStats> ReadProcessStats();

/// RLIMIT_NOFILE as `RaiseDescriptorLimit` left it.
struct DescriptorLimit {
  std::uint64_t soft_before = 0;  ///< the soft limit the process started with
  std::uint64_t soft = 0;         ///< the soft limit now
  std::uint64_t hard = 0;
};

/// Raises the soft RLIMIT_NOFILE to the hard limit (`fleetps run`, at start: a collector needs
/// about one descriptor per host, and systemd's default soft limit is 1024). An unlimited hard
/// limit counts as the kernel's fs.nr_open. nullopt when the limit cannot be read.
[[nodiscard]] std::optional<DescriptorLimit> RaiseDescriptorLimit();

}  // namespace fleetps::collector
