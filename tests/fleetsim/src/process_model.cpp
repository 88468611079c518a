#include "process_model.hpp"

#include <algorithm>
#include <array>
#include <cmath>

#include "host_set.hpp"

namespace fleetps::fleetsim {
namespace {

// splitmix64: tiny, seedable, good enough for shaping a fake fleet.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t Next() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  std::uint64_t Uniform(std::uint64_t lo, std::uint64_t hi) { return lo + Next() % (hi - lo + 1); }
  double Real(double lo, double hi) {
    return lo + (hi - lo) * static_cast<double>(Next() >> 11) / 9007199254740992.0;
  }
  bool Chance(double p) { return Real(0, 1) < p; }

 private:
  std::uint64_t state_;
};

struct User {
  std::string_view name;
  std::uint32_t uid;
};
constexpr User kRoot{"root", 0};
constexpr User kDaemon{"daemon", 1};
constexpr User kWww{"www-data", 33};
constexpr User kMessagebus{"messagebus", 104};
constexpr User kSyslog{"syslog", 107};
constexpr User kOracle{"oracle", 54321};
constexpr User kApp{"appuser", 1001};
constexpr User kBatch{"batch", 1002};
constexpr User kNobody{"nobody", 65534};

// One process "slot": a permanent process or a series of short-lived incarnations.
struct Slot {
  std::string comm;
  std::string args;
  User user = kRoot;
  int parent = -1;    ///< Index of the parent slot; -1 = init (pid 1), -2 = kthreadd/none.
  double period = 0;  ///< Seconds between incarnations; 0 = alive since boot.
  double alive_fraction = 1;
  double phase = 0;
  double start_after_boot = 0;
  double cpu_rate = 0;  ///< Cores used on average.
  double rss_base_kib = 0;
  double rss_growth_kib_per_hour = 0;
  double vsz_kib = 0;
  std::uint32_t threads = 1;
  std::uint32_t fds = 4;
  std::uint32_t fd_limit = 1024;
  std::int32_t nice = 0;
  bool kernel = false;
  bool zombie = false;
  std::uint16_t listen_port = 0;
  std::uint32_t fixed_pid = 0;  ///< Assigned for permanent slots.
  std::string tty = "?";
};

class SlotBuilder {
 public:
  SlotBuilder(Rng& rng, std::vector<Slot>& slots) : rng_(rng), slots_(slots) {}

  int Daemon(std::string comm, std::string args, User user, double rss_mib, double cpu = 0.0005,
             int parent = -1) {
    Slot s;
    s.comm = std::move(comm);
    s.args = std::move(args);
    s.user = user;
    s.parent = parent;
    s.start_after_boot = rng_.Real(1, 30);
    s.cpu_rate = cpu * rng_.Real(0.5, 1.5);
    s.rss_base_kib = rss_mib * 1024 * rng_.Real(0.8, 1.2);
    s.rss_growth_kib_per_hour = s.rss_base_kib * rng_.Real(0, 0.002);
    s.vsz_kib = s.rss_base_kib * rng_.Real(1.5, 4) + 4096;
    s.fds = static_cast<std::uint32_t>(rng_.Uniform(3, 40));
    slots_.push_back(std::move(s));
    return static_cast<int>(slots_.size()) - 1;
  }

  void Kernel(std::string comm) {
    Slot s;
    s.comm = comm;
    s.args = "[" + comm + "]";
    s.parent = -2;
    s.kernel = true;
    s.cpu_rate = rng_.Real(0, 0.0005);
    s.fds = 0;
    slots_.push_back(std::move(s));
  }

  void Churn(std::string comm, std::string args, User user, int parent, double rss_mib,
             double cpu) {
    Slot s;
    s.comm = std::move(comm);
    s.args = std::move(args);
    s.user = user;
    s.parent = parent;
    s.period = rng_.Real(20, 900);
    s.alive_fraction = rng_.Real(0.3, 0.9);
    s.phase = rng_.Real(0, s.period);
    s.cpu_rate = cpu * rng_.Real(0.2, 2);
    s.rss_base_kib = rss_mib * 1024 * rng_.Real(0.5, 1.5);
    s.rss_growth_kib_per_hour = s.rss_base_kib * rng_.Real(0.1, 2);
    s.vsz_kib = s.rss_base_kib * rng_.Real(1.5, 3) + 2048;
    s.fds = static_cast<std::uint32_t>(rng_.Uniform(3, 12));
    slots_.push_back(std::move(s));
  }

  Slot& Last() { return slots_.back(); }

 private:
  Rng& rng_;
  std::vector<Slot>& slots_;
};

std::string OracleSid(Rng& rng) {
  static constexpr std::array<std::string_view, 4> kSids{"ORCL", "PROD", "FIN", "HR"};
  return std::string(kSids[rng.Uniform(0, kSids.size() - 1)]) + std::to_string(rng.Uniform(1, 3));
}

void AddOracle(SlotBuilder& b, Rng& rng, bool aix) {
  const std::string sid = OracleSid(rng);
  const std::string home = aix ? "/u01/app/oracle/product/19c" : "/opt/oracle/product/19c";
  for (std::string_view bg :
       {"pmon", "psp0", "vktm", "dbw0", "lgwr", "ckpt", "smon", "reco", "mmon", "mmnl"}) {
    const std::string name = "ora_" + std::string(bg) + "_" + sid;
    const double rss = bg == "dbw0" ? 900 : (bg == "lgwr" ? 300 : 60);
    b.Daemon(name.substr(0, 15), name, kOracle, rss, bg == "dbw0" || bg == "lgwr" ? 0.02 : 0.002);
  }
  b.Daemon("tnslsnr", home + "/bin/tnslsnr LISTENER -inherit", kOracle, 40, 0.001);
  b.Last().listen_port = 1521;
  b.Last().threads = 4;
  for (int i = 0; i < 6; ++i) {
    b.Churn("oracle" + sid, "oracle" + sid + " (LOCAL=NO)", kOracle, -1, 120, 0.05);
  }
}

void AddJava(SlotBuilder& b, Rng& rng) {
  const int heap = static_cast<int>(rng.Uniform(1, 8));
  b.Daemon("java",
           "/usr/lib/jvm/java-17/bin/java -Xmx" + std::to_string(heap) +
               "g -Dapp.name=orders -jar /opt/app/orders.jar --server.port=8080",
           kApp, 400.0 * heap, 0.15);
  b.Last().threads = static_cast<std::uint32_t>(rng.Uniform(40, 300));
  b.Last().fds = static_cast<std::uint32_t>(rng.Uniform(100, 900));
  b.Last().fd_limit = 65536;
  b.Last().listen_port = 8080;
  b.Last().rss_growth_kib_per_hour = b.Last().rss_base_kib * 0.01;
}

void AddNginx(SlotBuilder& b, Rng& rng) {
  const int master =
      b.Daemon("nginx", "nginx: master process /usr/sbin/nginx -g daemon on;", kRoot, 6, 0.0002);
  b.Last().listen_port = 80;
  const auto workers = rng.Uniform(2, 8);
  for (std::uint64_t i = 0; i < workers; ++i) {
    b.Daemon("nginx", "nginx: worker process", kWww, 12, 0.01, master);
    b.Last().fds = static_cast<std::uint32_t>(rng.Uniform(10, 200));
    b.Last().fd_limit = 65536;
  }
}

// Builds a host's slots. Permanent slots come first so their pids are small and stable.
std::vector<Slot> BuildSlots(Rng& rng, SimDialect dialect, std::size_t target) {
  std::vector<Slot> slots;
  slots.reserve(target + 16);
  SlotBuilder b(rng, slots);
  const int role = static_cast<int>(rng.Uniform(0, 2));  // 0 web, 1 db, 2 app
  int cron = -1;
  switch (dialect) {
    case SimDialect::kLinuxProcps: {
      b.Daemon("systemd", "/sbin/init splash", kRoot, 12, 0.0005, -2);
      b.Last().fixed_pid = 1;
      b.Kernel("kthreadd");
      b.Last().fixed_pid = 2;
      for (std::string_view k :
           {"rcu_gp", "rcu_par_gp", "kworker/0:0H-events_highpri", "mm_percpu_wq", "ksoftirqd/0",
            "rcu_sched", "migration/0", "cpuhp/0", "ksoftirqd/1", "kswapd0", "kworker/1:1-events",
            "jbd2/sda1-8"}) {
        b.Kernel(std::string(k));
      }
      b.Daemon("systemd-journal", "/lib/systemd/systemd-journald", kRoot, 30, 0.001);
      b.Daemon("systemd-udevd", "/lib/systemd/systemd-udevd", kRoot, 8);
      b.Daemon("dbus-daemon",
               "/usr/bin/dbus-daemon --system --address=systemd: --nofork --nopidfile", kMessagebus,
               5);
      b.Daemon("rsyslogd", "/usr/sbin/rsyslogd -n -iNONE", kSyslog, 6);
      b.Last().threads = 4;
      cron = b.Daemon("cron", "/usr/sbin/cron -f", kRoot, 3);
      b.Daemon("sshd", "sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups", kRoot, 7);
      b.Last().listen_port = 22;
      b.Daemon("agetty", "/sbin/agetty -o -p -- \\u --noclear tty1 linux", kRoot, 2);
      b.Last().tty = "tty1";
      b.Daemon("chronyd", "/usr/sbin/chronyd -F 1", kDaemon, 3);
      break;
    }
    case SimDialect::kBusybox: {
      b.Daemon("init", "init", kRoot, 1, 0.0001, -2);
      b.Last().fixed_pid = 1;
      b.Daemon("syslogd", "/sbin/syslogd -n", kRoot, 1);
      b.Daemon("klogd", "/sbin/klogd -n", kRoot, 1);
      cron = b.Daemon("crond", "/usr/sbin/crond -f -c /etc/crontabs", kRoot, 1);
      b.Daemon("dropbear", "/usr/sbin/dropbear -F -R", kRoot, 1);
      b.Last().listen_port = 22;
      b.Daemon("httpd", "/usr/sbin/httpd -f -p 80 -h /www", kRoot, 1);
      b.Last().listen_port = 80;
      b.Daemon("udhcpc", "udhcpc -i eth0 -f", kRoot, 1);
      b.Daemon("getty", "/sbin/getty 115200 ttyS0", kRoot, 1);
      b.Last().tty = "ttyS0";
      break;
    }
    case SimDialect::kAix: {
      b.Daemon("init", "/etc/init", kRoot, 1, 0.0005, -2);
      b.Last().fixed_pid = 1;
      b.Daemon("syncd", "/usr/sbin/syncd 60", kRoot, 1);
      b.Daemon("errdemon", "/usr/lib/errdemon", kRoot, 2);
      const int srcmstr = b.Daemon("srcmstr", "/usr/sbin/srcmstr", kRoot, 2);
      b.Daemon("syslogd", "/usr/sbin/syslogd", kRoot, 1, 0.0005, srcmstr);
      b.Daemon("sshd", "/usr/sbin/sshd", kRoot, 3, 0.0005, srcmstr);
      b.Last().listen_port = 22;
      b.Daemon("rmcd", "/usr/sbin/rsct/bin/rmcd -a IBM.LPCommands -r -S 1500", kRoot, 20, 0.002,
               srcmstr);
      cron = b.Daemon("cron", "/usr/sbin/cron", kRoot, 1);
      break;
    }
    case SimDialect::kSolaris: {
      b.Daemon("init", "/sbin/init", kRoot, 2, 0.0002, -2);
      b.Last().fixed_pid = 1;
      const int startd = b.Daemon("svc.startd", "/lib/svc/bin/svc.startd", kRoot, 4);
      b.Daemon("svc.configd", "/lib/svc/bin/svc.configd", kRoot, 12);
      b.Daemon("nscd", "/usr/sbin/nscd", kRoot, 4, 0.0005, startd);
      b.Daemon("syslogd", "/usr/sbin/syslogd", kRoot, 2, 0.0005, startd);
      b.Daemon("sshd", "/usr/lib/ssh/sshd", kRoot, 3, 0.0005, startd);
      b.Last().listen_port = 22;
      cron = b.Daemon("cron", "/usr/sbin/cron", kRoot, 2, 0.0005, startd);
      break;
    }
  }
  const bool small = dialect == SimDialect::kBusybox;
  if (!small) {
    if (role == 0) {
      AddNginx(b, rng);
    } else if (role == 1) {
      AddOracle(b, rng, dialect == SimDialect::kAix);
    } else {
      AddJava(b, rng);
    }
    if (rng.Chance(0.3)) {
      AddJava(b, rng);
    }
  }
  if (rng.Chance(0.1)) {
    b.Daemon(small ? "sh" : "bash", "", kBatch, 0, 0, cron);
    b.Last().zombie = true;
  }
  struct ChurnKind {
    std::string_view comm;
    std::string_view args;
    User user;
    double rss_mib;
    double cpu;
  };
  static constexpr std::array<ChurnKind, 8> kChurn{{
      {"sleep", "sleep 300", kRoot, 0.5, 0},
      {"sh", "/bin/sh /usr/local/bin/backup.sh --incremental", kBatch, 2, 0.01},
      {"python3", "/usr/bin/python3 /opt/jobs/etl.py --batch nightly", kBatch, 40, 0.3},
      {"gzip", "gzip -9 /var/log/app/app.log.1", kRoot, 1, 0.8},
      {"rsync", "rsync -a /data/ /backup/data/", kBatch, 8, 0.2},
      {"perl", "/usr/bin/perl /opt/monitoring/check_disk.pl -w 80 -c 90", kNobody, 10, 0.05},
      {"find", "find /tmp -mtime +7 -type f", kRoot, 2, 0.1},
      {"worker", "/opt/app/bin/worker --queue default --concurrency 4", kApp, 60, 0.1},
  }};
  while (slots.size() < target) {
    const auto& kind = kChurn[rng.Uniform(0, kChurn.size() - 1)];
    b.Churn(std::string(kind.comm), std::string(kind.args), kind.user, cron, kind.rss_mib,
            kind.cpu);
  }
  // Permanent pids grow in start order with gaps, the way a booting system hands them out.
  std::uint32_t next_pid = dialect == SimDialect::kAix ? 65536 : 2;
  for (auto& slot : slots) {
    if (slot.period == 0 && slot.fixed_pid == 0) {
      next_pid +=
          static_cast<std::uint32_t>(rng.Uniform(1, dialect == SimDialect::kAix ? 4000 : 40));
      slot.fixed_pid = next_pid;
    }
  }
  return slots;
}

std::uint64_t Scaled(double base, double factor) {
  return static_cast<std::uint64_t>(std::max(0.0, base * factor));
}

}  // namespace

std::string_view SimDialectName(SimDialect dialect) noexcept {
  switch (dialect) {
    case SimDialect::kLinuxProcps:
      return "linux-procps";
    case SimDialect::kBusybox:
      return "busybox";
    case SimDialect::kAix:
      return "aix";
    case SimDialect::kSolaris:
      return "solaris";
  }
  return "linux-procps";
}

bool ParseSimDialect(std::string_view name, SimDialect& out) noexcept {
  for (SimDialect d :
       {SimDialect::kLinuxProcps, SimDialect::kBusybox, SimDialect::kAix, SimDialect::kSolaris}) {
    if (SimDialectName(d) == name) {
      out = d;
      return true;
    }
  }
  return false;
}

HostSnapshot SimulateHost(std::uint32_t number, SimDialect dialect, std::int64_t sim_epoch,
                          std::int64_t now_epoch) {
  Rng rng(0xf1ee7500ull * 0x100000001b3ull ^ number);
  HostSnapshot snap;
  snap.number = number;
  snap.dialect = dialect;
  snap.hostname = HostName(number);
  snap.now_epoch = now_epoch;
  snap.boot_epoch = sim_epoch - static_cast<std::int64_t>(rng.Uniform(86400, 90 * 86400));
  snap.mem_total_kib = rng.Uniform(2, 32) * 1024 * 1024;
  const std::size_t target = dialect == SimDialect::kBusybox
                                 ? static_cast<std::size_t>(rng.Uniform(20, 50))
                                 : static_cast<std::size_t>(rng.Uniform(50, 300));
  const std::vector<Slot> slots = BuildSlots(rng, dialect, target);

  const double boot = static_cast<double>(snap.boot_epoch);
  const double now = static_cast<double>(now_epoch);
  const auto pid_modulus = static_cast<std::uint64_t>(4'000'000 / slots.size() * slots.size());
  std::vector<std::uint32_t> pid_of(slots.size(), 0);
  snap.processes.reserve(slots.size());
  for (std::size_t i = 0; i < slots.size(); ++i) {
    const Slot& slot = slots[i];
    double start = boot + slot.start_after_boot;
    std::uint32_t pid = slot.fixed_pid;
    if (slot.period > 0) {
      const double since = now - boot + slot.phase;
      const auto k = static_cast<std::uint64_t>(since / slot.period);
      start = boot - slot.phase + static_cast<double>(k) * slot.period;
      if (start < boot || now - start >= slot.alive_fraction * slot.period) {
        continue;  // Between incarnations.
      }
      // Unique at any instant: the residue mod slots.size() is the slot index.
      pid = static_cast<std::uint32_t>(30000 + (k * slots.size() + i) % pid_modulus);
    }
    pid_of[i] = pid;
    const double age = std::max(0.0, now - start);
    SimProcess p;
    p.pid = pid;
    p.uid = slot.user.uid;
    p.user = slot.user.name;
    p.comm = slot.comm;
    p.args = slot.zombie ? "[" + slot.comm + "] <defunct>" : slot.args;
    p.kernel_thread = slot.kernel;
    p.start_epoch = static_cast<std::int64_t>(start);
    p.start_ticks = static_cast<std::uint64_t>((start - boot) * kClockTicks);
    const double cpu_ticks = slot.cpu_rate * age * kClockTicks;
    p.utime_ticks = Scaled(cpu_ticks, 0.75);
    p.stime_ticks = Scaled(cpu_ticks, 0.25);
    const double rss =
        slot.zombie ? 0
                    : std::min(slot.rss_base_kib * 4,
                               slot.rss_base_kib + slot.rss_growth_kib_per_hour * age / 3600);
    p.rss_kib = static_cast<std::uint64_t>(rss);
    p.vsz_kib = slot.zombie ? 0 : static_cast<std::uint64_t>(std::max(slot.vsz_kib, rss * 1.3));
    p.threads = slot.threads;
    p.fds = slot.zombie ? 0 : slot.fds;
    p.fd_limit = slot.fd_limit;
    p.nice = slot.nice;
    p.minflt = static_cast<std::uint64_t>(rss / 4 + age * slot.cpu_rate * 50);
    p.majflt = static_cast<std::uint64_t>(rss / 400);
    p.read_bytes = static_cast<std::uint64_t>(age * slot.cpu_rate * 65536);
    p.write_bytes = static_cast<std::uint64_t>(age * slot.cpu_rate * 16384);
    p.voluntary_ctxt = static_cast<std::uint64_t>(age * (slot.cpu_rate * 500 + 0.05));
    p.nonvoluntary_ctxt = static_cast<std::uint64_t>(age * slot.cpu_rate * 20);
    p.tty = slot.tty;
    p.listen_port = slot.listen_port;
    if (slot.zombie) {
      p.state = 'Z';
    } else if (slot.cpu_rate > 0.2 && (pid + static_cast<std::uint64_t>(now_epoch)) % 3 == 0) {
      p.state = 'R';
    } else if (slot.kernel && slot.comm.starts_with("kworker")) {
      p.state = 'I';
    }
    snap.processes.push_back(std::move(p));
  }
  // Parents: resolve slot references now that pids are known (a dead parent reparents to 1).
  std::size_t out = 0;
  for (std::size_t i = 0; i < slots.size(); ++i) {
    if (pid_of[i] == 0) {
      continue;
    }
    auto& p = snap.processes[out++];
    const int parent = slots[i].parent;
    if (parent == -2) {
      p.ppid = p.pid == 1 || p.pid == 2 ? 0 : 2;
      if (dialect != SimDialect::kLinuxProcps) {
        p.ppid = 0;
      }
    } else if (parent >= 0 && pid_of[static_cast<std::size_t>(parent)] != 0) {
      p.ppid = pid_of[static_cast<std::size_t>(parent)];
    } else {
      p.ppid = 1;
    }
  }
  std::sort(snap.processes.begin(), snap.processes.end(),
            [](const SimProcess& a, const SimProcess& b) { return a.pid < b.pid; });
  return snap;
}

}  // namespace fleetps::fleetsim
