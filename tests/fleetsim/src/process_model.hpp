// The simulated process table of one host, as a pure function of (host number, dialect, time).
//
// Every host is described by ~50-300 "slots" derived from a seed (its number). A permanent slot
// is one process alive since boot (init, sshd, cron, ora_pmon_<SID>, java...); a churn slot runs
// successive incarnations, each with a new pid, that start and exit periodically. CPU time and
// resident size grow with each process's age. Nothing is stored per host: a probe recomputes
// the table for the current time, so idle hosts cost no memory and counters are consistent
// across probes (cumulative CPU never goes backwards for a given (pid, start time)).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace fleetps::fleetsim {

/// The dialects fleetsim answers as (names as in fleetps::probes::DialectName).
enum class SimDialect : std::uint8_t { kLinuxProcps, kBusybox, kAix, kSolaris };

[[nodiscard]] std::string_view SimDialectName(SimDialect dialect) noexcept;
[[nodiscard]] bool ParseSimDialect(std::string_view name, SimDialect& out) noexcept;

/// One process as every dialect's tools would describe it.
struct SimProcess {
  std::uint32_t pid = 0;
  std::uint32_t ppid = 0;
  std::uint32_t uid = 0;
  std::string_view user;
  std::string comm;  ///< Short name (at most 15 characters on Linux).
  std::string args;  ///< Full command line; "[comm]" for kernel threads.
  char state = 'S';
  std::int64_t start_epoch = 0;   ///< Wall-clock start, seconds since the epoch.
  std::uint64_t start_ticks = 0;  ///< Start since boot in clock ticks (/proc/<pid>/stat #22).
  std::uint64_t utime_ticks = 0;
  std::uint64_t stime_ticks = 0;
  std::uint64_t rss_kib = 0;
  std::uint64_t vsz_kib = 0;
  std::uint32_t threads = 1;
  std::uint32_t fds = 0;
  std::uint32_t fd_limit = 1024;
  std::int32_t nice = 0;
  std::uint64_t minflt = 0;
  std::uint64_t majflt = 0;
  std::uint64_t read_bytes = 0;
  std::uint64_t write_bytes = 0;
  std::uint64_t voluntary_ctxt = 0;
  std::uint64_t nonvoluntary_ctxt = 0;
  std::string tty = "?";
  bool kernel_thread = false;
  std::uint16_t listen_port = 0;  ///< TCP port it listens on (0 = none).
};

/// A whole host at one instant.
struct HostSnapshot {
  std::uint32_t number = 0;
  SimDialect dialect = SimDialect::kLinuxProcps;
  std::string hostname;
  std::int64_t now_epoch = 0;
  std::int64_t boot_epoch = 0;
  std::uint64_t mem_total_kib = 0;
  std::vector<SimProcess> processes;  ///< Sorted by pid.
};

inline constexpr long kClockTicks = 100;
inline constexpr long kPageSize = 4096;

/// The table of host `number` at `now_epoch`. `sim_epoch` is when the simulation started; hosts
/// booted a seeded 1-90 days before it. Deterministic: same arguments, same table.
[[nodiscard]] HostSnapshot SimulateHost(std::uint32_t number, SimDialect dialect,
                                        std::int64_t sim_epoch, std::int64_t now_epoch);

}  // namespace fleetps::fleetsim
