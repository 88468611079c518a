#include "fleetps/collector/telemetry/process_stats.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <array>
#include <charconv>
#include <fstream>
#include <mutex>
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

namespace {

// The descriptors ReadProcessStats keeps open, opened by its first call.
class SelfFiles {
 public:
  SelfFiles()
      : stat_fd_(::open("/proc/self/stat", O_RDONLY | O_CLOEXEC)),
        fd_dir_(::opendir("/proc/self/fd")),
        boot_time_(BootTime()) {}
  ~SelfFiles() {
    if (stat_fd_ >= 0) ::close(stat_fd_);
    if (fd_dir_ != nullptr) ::closedir(fd_dir_);
  }
  SelfFiles(const SelfFiles&) = delete;
  SelfFiles& operator=(const SelfFiles&) = delete;

  std::optional<ProcessStats> Read() {
    std::lock_guard lock(mu_);
    if (stat_fd_ < 0) return std::nullopt;
    // One read at offset 0 regenerates the whole line (a few hundred bytes).
    std::array<char, 1024> buf{};
    const ssize_t n = ::pread(stat_fd_, buf.data(), buf.size(), 0);
    if (n <= 0) return std::nullopt;
    auto stat = ParseProcStat(std::string_view(buf.data(), static_cast<std::size_t>(n)));
    if (!stat) return std::nullopt;
    const auto ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
    const auto page = static_cast<double>(sysconf(_SC_PAGESIZE));
    ProcessStats out;
    out.cpu_seconds = static_cast<double>(stat->utime_ticks + stat->stime_ticks) / ticks;
    out.resident_bytes = static_cast<double>(stat->rss_pages) * page;
    out.virtual_bytes = static_cast<double>(stat->vsize_bytes);
    if (boot_time_) {
      out.start_time_seconds = *boot_time_ + static_cast<double>(stat->start_ticks) / ticks;
    }
    if (fd_dir_ != nullptr) {
      ::rewinddir(fd_dir_);
      std::size_t fds = 0;
      while (const dirent* entry = ::readdir(fd_dir_)) {
        if (entry->d_name[0] != '.') ++fds;  // "." and ".."; descriptors are numbers
      }
      out.open_fds = static_cast<double>(fds);
    }
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
      out.max_fds = limit.rlim_cur == RLIM_INFINITY ? -1 : static_cast<double>(limit.rlim_cur);
    }
    return out;
  }

 private:
  std::mutex mu_;
  int stat_fd_;
  DIR* fd_dir_;
  std::optional<double> boot_time_;
};

}  // namespace

std::optional<ProcessStats> ReadProcessStats() {
  static SelfFiles files;
  return files.Read();
}

std::optional<DescriptorLimit> RaiseDescriptorLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return std::nullopt;
  DescriptorLimit out;
  out.soft_before = limit.rlim_cur;
  rlim_t target = limit.rlim_max;
  if (target == RLIM_INFINITY) {
    // The kernel refuses a soft limit above fs.nr_open.
    unsigned long long nr_open = 0;
    if (auto text = Slurp("/proc/sys/fs/nr_open")) {
      std::string_view rest(*text);
      if (Field(rest, nr_open)) target = nr_open;
    }
  }
  if (limit.rlim_cur < target) {
    const rlimit raised{target, limit.rlim_max};
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) limit.rlim_cur = target;
  }
  out.soft = limit.rlim_cur;
  out.hard = target;
  return out;
}

}  // namespace fleetps::collector
