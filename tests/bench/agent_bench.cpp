// Agent benchmark for issue 3: client CPU per probe and per handshake, RSS per idle and per used
// session, against a real sshd on loopback. Run through tests/bench/run_agent_bench.sh, which
// starts the sshd (scripts/testhost) and passes its env file:
//
//   agent_bench ENV_FILE [--reps R] [--probes N] [--handshakes M] [--sessions K] [...]
//
// `--channel shell|exec` picks how probes run (RunOptions::channel; default exec, the figures
// of earlier runs): with shell, each session's probes share its one persistent shell channel
// (the 2-channel figure then has one probe on the shell and one on an exec channel at a time).
//
// Everything runs on ONE io_context thread (plus Asio's internal resolver thread, whose CPU is
// included: it is collector cost). CPU is getrusage(RUSAGE_SELF) user+sys of this process only;
// sshd is never counted. Each RSS repetition runs in a fresh fork()ed child of a process that has
// not yet allocated anything, so glibc's retained heap from one repetition cannot hide the next.

#include <malloc.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <libssh/libssh.h>

#include "fleetps/agent/errors.hpp"
#include "fleetps/agent/known_hosts.hpp"
#include "fleetps/agent/ssh_session.hpp"
#include "fleetps/config/inventory.hpp"

// GCC 12 reports a false -Wmismatched-new-delete on Asio coroutine frames (GCC PR 104578).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace fleetps::bench {
namespace {

namespace asio = boost::asio;
using agent::CommandOutput;
using agent::ConnectOptions;
using agent::RunOptions;
using agent::SshSession;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;

// The probe prints `bytes` of 'x' on stdout; cheap on the server (two tiny processes, no disk).
// 51,200 by default (issue 3); `--bytes 0` isolates the fixed per-channel cost.
struct ProbeShape {
  std::size_t bytes = 51200;
  std::string script;
};
ProbeShape g_probe;
agent::ChannelMode g_channel = agent::ChannelMode::kExec;
constexpr double kProbeGoalUs = 250;
constexpr double kHandshakeGoalUs = 1000;
constexpr double kHostGoalKb = 96;

struct Params {
  std::string env_file;
  int reps = 5;
  int probes = 500;
  int handshakes = 100;
  int sessions = 200;
  int connect_parallelism = 16;  // sessions connecting at once in the RSS phase
  std::string only;              // "", "cpu" or "rss": run one part (e.g. under perf)
  std::string cipher;            // pins spec.algorithms.ciphers
  std::string mac;               // pins spec.algorithms.macs
  std::string alt_identity;      // a second user key to compare handshakes with
  std::string big_known_hosts;   // known_hosts with this host among many others
  bool fork = true;              // --no-fork: RSS in this process (for heaptrack/massif)
};

double CpuSeconds() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  auto s = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + tv.tv_usec / 1e6; };
  return s(ru.ru_utime) + s(ru.ru_stime);
}

// Resident set size in kB from /proc/self/status.
double RssKb() {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("VmRSS:")) return std::strtod(line.c_str() + 6, nullptr);
  }
  throw std::runtime_error("no VmRSS in /proc/self/status");
}

std::map<std::string, std::string> LoadEnv(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::map<std::string, std::string> env;
  for (std::string line; std::getline(in, line);) {
    const auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string value = line.substr(eq + 1);
    if (value.size() >= 2 && value.front() == '\'' && value.back() == '\'') {
      value = value.substr(1, value.size() - 2);
    }
    env[line.substr(0, eq)] = value;
  }
  return env;
}

config::HostSpec SpecFromEnv(const std::map<std::string, std::string>& env) {
  config::HostSpec spec;
  spec.name = "bench";
  spec.address = "127.0.0.1";
  spec.port = static_cast<std::uint16_t>(std::stoi(env.at("FLEETPS_TEST_PORT")));
  spec.user = env.at("FLEETPS_TEST_USER");
  spec.identity_file = env.at("FLEETPS_TEST_IDENTITY");
  spec.known_hosts = env.at("FLEETPS_TEST_KNOWN_HOSTS");
  spec.connect_timeout = std::chrono::seconds(20);
  spec.probe_timeout = std::chrono::seconds(20);
  spec.max_channels_per_host = 2;
  return spec;
}

// One figure's samples (one per repetition).
struct Figure {
  std::string name;
  std::string unit;
  double goal = 0;  // 0 = no goal
  std::vector<double> samples;
};

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const auto n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "agent_bench: %s\n", what.c_str());
  std::fflush(stderr);
  std::_Exit(1);
}

// The collector keeps both for the lifetime of a host: the key is imported once, known_hosts is
// parsed once and re-checked with a stat.
ConnectOptions Preloaded(const config::HostSpec& spec) {
  auto identity = agent::Identity::Load(spec);
  if (!identity) Fail("cannot load identity " + spec.identity_file);
  return ConnectOptions{.known_hosts = std::make_shared<agent::KnownHostsFile>(spec.known_hosts),
                        .identity = *identity};
}

asio::awaitable<void> ConnectOrDie(SshSession& session, const config::HostSpec& spec,
                                   const ConnectOptions& options) {
  auto ec = co_await session.Connect(spec, Clock::now() + spec.connect_timeout, options);
  if (ec) Fail("connect failed: " + std::string(agent::ReasonName(ec)) + " " + ec.message());
}

asio::awaitable<void> ProbeOrDie(SshSession& session, const config::HostSpec& spec) {
  RunOptions options;  // named: a braced temporary inside co_await double-frees with GCC 12
  options.deadline = Clock::now() + spec.probe_timeout;
  options.channel = g_channel;
  auto out = co_await session.RunScript(g_probe.script, options);
  if (!out) Fail("probe failed: " + std::string(agent::ReasonName(out.error())));
  if (out->out.size() != g_probe.bytes || !out->Succeeded()) {
    Fail("probe returned " + std::to_string(out->out.size()) + " bytes, exit " +
         std::to_string(out->exit_status.value_or(-1)) + ", stderr: " + out->err);
  }
}

// Counts finished workers and wakes the coroutine that waits for all of them.
struct Join {
  explicit Join(asio::any_io_executor ex, int n) : timer(ex, Clock::time_point::max()), left(n) {}
  void Done() {
    if (--left == 0) timer.cancel();
  }
  asio::awaitable<void> Wait() {
    while (left > 0) co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  asio::steady_timer timer;
  int left;
};

asio::awaitable<void> ProbeWorker(SshSession& session, const config::HostSpec& spec, int count,
                                  Join& join) {
  for (int i = 0; i < count; ++i) co_await ProbeOrDie(session, spec);
  join.Done();
}

// ---- handshakes -------------------------------------------------------------------------------

struct HandshakeRep {
  double cpu_us = 0;
  double wall_ms = 0;
};

asio::awaitable<HandshakeRep> Handshakes(const config::HostSpec& spec, int count,
                                         const ConnectOptions& options) {
  SshSession session(co_await asio::this_coro::executor);
  const double cpu0 = CpuSeconds();
  const auto wall0 = Clock::now();
  for (int i = 0; i < count; ++i) {
    co_await ConnectOrDie(session, spec, options);
    session.Close();
  }
  const std::chrono::duration<double> wall = Clock::now() - wall0;
  co_return HandshakeRep{(CpuSeconds() - cpu0) / count * 1e6, wall.count() / count * 1e3};
}

// ---- probes -----------------------------------------------------------------------------------

struct ProbeRep {
  double cpu_us = 0;
  double wall_ms = 0;
};

asio::awaitable<ProbeRep> Probes(SshSession& session, const config::HostSpec& spec, int count,
                                 int channels) {
  auto ex = co_await asio::this_coro::executor;
  Join join(ex, channels);
  const double cpu0 = CpuSeconds();
  const auto wall0 = Clock::now();
  for (int c = 0; c < channels; ++c) {
    const int share = count / channels + (c < count % channels ? 1 : 0);
    asio::co_spawn(ex, ProbeWorker(session, spec, share, join), asio::detached);
  }
  co_await join.Wait();
  const std::chrono::duration<double> wall = Clock::now() - wall0;
  co_return ProbeRep{(CpuSeconds() - cpu0) / count * 1e6, wall.count() / count * 1e3};
}

// ---- RSS (runs in a forked child) -------------------------------------------------------------

// Per session, in kB: resident set and live heap (mallinfo2 bytes in use), after the sessions
// connected (idle) and after each ran one probe (used); `trim` after malloc_trim(0).
// Also the client CPU per session of those concurrent connects and first probes.
struct RssRep {
  double idle_raw = 0, idle_trim = 0, used_raw = 0, used_trim = 0, heap_idle = 0, heap_used = 0;
  double connect_cpu_us = 0, probe_cpu_us = 0;
};

double HeapInUseKb() { return static_cast<double>(::mallinfo2().uordblks) / 1024; }

asio::awaitable<void> ConnectWorker(std::vector<std::unique_ptr<SshSession>>& sessions,
                                    std::size_t& next, const config::HostSpec& spec,
                                    const ConnectOptions& options, Join& join) {
  while (next < sessions.size()) {
    SshSession& s = *sessions[next++];
    co_await ConnectOrDie(s, spec, options);
  }
  join.Done();
}

asio::awaitable<void> UseWorker(std::vector<std::unique_ptr<SshSession>>& sessions,
                                std::size_t& next, const config::HostSpec& spec, Join& join) {
  while (next < sessions.size()) co_await ProbeOrDie(*sessions[next++], spec);
  join.Done();
}

asio::awaitable<RssRep> Rss(const config::HostSpec& spec, const Params& p) {
  auto ex = co_await asio::this_coro::executor;
  const ConnectOptions options = Preloaded(spec);
  {
    // Warm-up: one-time libssh/OpenSSL/Asio state is not a per-session cost.
    SshSession warm(ex);
    co_await ConnectOrDie(warm, spec, options);
    co_await ProbeOrDie(warm, spec);
  }
  std::vector<std::unique_ptr<SshSession>> sessions;
  sessions.reserve(static_cast<std::size_t>(p.sessions));
  ::malloc_trim(0);
  const double base = RssKb();
  const double heap_base = HeapInUseKb();
  for (int i = 0; i < p.sessions; ++i) sessions.push_back(std::make_unique<SshSession>(ex));
  const int workers = std::min(p.connect_parallelism, p.sessions);
  RssRep r;
  const double k = p.sessions;
  double cpu0 = CpuSeconds();
  {
    std::size_t next = 0;
    Join join(ex, workers);
    for (int w = 0; w < workers; ++w) {
      asio::co_spawn(ex, ConnectWorker(sessions, next, spec, options, join), asio::detached);
    }
    co_await join.Wait();
  }
  r.connect_cpu_us = (CpuSeconds() - cpu0) / k * 1e6;
  r.idle_raw = (RssKb() - base) / k;
  r.heap_idle = (HeapInUseKb() - heap_base) / k;
  ::malloc_trim(0);
  r.idle_trim = (RssKb() - base) / k;
  cpu0 = CpuSeconds();
  {
    std::size_t next = 0;
    Join join(ex, workers);
    for (int w = 0; w < workers; ++w) {
      asio::co_spawn(ex, UseWorker(sessions, next, spec, join), asio::detached);
    }
    co_await join.Wait();
  }
  r.probe_cpu_us = (CpuSeconds() - cpu0) / k * 1e6;
  r.used_raw = (RssKb() - base) / k;
  r.heap_used = (HeapInUseKb() - heap_base) / k;
  ::malloc_trim(0);
  r.used_trim = (RssKb() - base) / k;
  for (auto& s : sessions) {
    if (!s->IsUsable()) Fail("a session broke while idle");
  }
  sessions.clear();
  co_return r;
}

template <class T>
T RunOnOneThread(asio::awaitable<T> aw) {
  asio::io_context io(1);
  auto f = asio::co_spawn(io, std::move(aw), asio::use_future);
  io.run();
  return f.get();
}

// Forks a child that runs one RSS repetition and sends its figures through a pipe.
RssRep RssInChild(const config::HostSpec& spec, const Params& p) {
  int fds[2];
  if (::pipe(fds) != 0) Fail("pipe");
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) Fail("fork");
  if (pid == 0) {
    ::close(fds[0]);
    const RssRep r = RunOnOneThread(Rss(spec, p));
    char line[256];
    const int n = std::snprintf(line, sizeof line, "%.3f %.3f %.3f %.3f %.3f %.3f %.3f %.3f\n",
                                r.idle_raw, r.idle_trim, r.used_raw, r.used_trim, r.heap_idle,
                                r.heap_used, r.connect_cpu_us, r.probe_cpu_us);
    if (::write(fds[1], line, static_cast<std::size_t>(n)) != n) std::_Exit(1);
    std::_Exit(0);
  }
  ::close(fds[1]);
  std::string text;
  char buf[256];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) {
    text.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) Fail("RSS child failed");
  RssRep r;
  std::istringstream in(text);
  in >> r.idle_raw >> r.idle_trim >> r.used_raw >> r.used_trim >> r.heap_idle >> r.heap_used >>
      r.connect_cpu_us >> r.probe_cpu_us;
  if (!in) Fail("RSS child sent no figures");
  return r;
}

// ---- driver -----------------------------------------------------------------------------------

struct Figures {
  Figure probe{"probe CPU, 1 channel sequential", "µs", kProbeGoalUs, {}};
  Figure probe_wall{"probe wall, 1 channel sequential", "ms", 0, {}};
  Figure probe2{"probe CPU, 2 channels concurrent", "µs", kProbeGoalUs, {}};
  Figure probe2_wall{"probe wall per probe, 2 channels concurrent", "ms", 0, {}};
  Figure hs{
      "handshake CPU (ed25519 user key preloaded, known_hosts cached)", "µs", kHandshakeGoalUs, {}};
  Figure hs_wall{"handshake wall (same)", "ms", 0, {}};
  Figure hs_cold{"handshake CPU (key file + known_hosts loaded per connect)", "µs", 0, {}};
  Figure hs_alt{"handshake CPU (alternative user key, preloaded)", "µs", kHandshakeGoalUs, {}};
  Figure hs_big{"handshake CPU (known_hosts of 10,001 lines, cached)", "µs", kHandshakeGoalUs, {}};
  Figure hs_conc{
      "handshake CPU, K sessions connecting P at once (RSS phase)", "µs", kHandshakeGoalUs, {}};
  Figure probe_conc{"probe CPU, first probe on each of K sessions, P at once (RSS phase)",
                    "µs",
                    kProbeGoalUs,
                    {}};
  Figure idle_raw{"RSS per idle session (raw)", "kB", kHostGoalKb, {}};
  Figure idle_trim{"RSS per idle session (after malloc_trim)", "kB", kHostGoalKb, {}};
  Figure heap_idle{"live heap per idle session (mallinfo2)", "kB", 0, {}};
  Figure used_raw{"RSS per used session (raw)", "kB", kHostGoalKb, {}};
  Figure used_trim{"RSS per used session (after malloc_trim)", "kB", kHostGoalKb, {}};
  Figure heap_used{"live heap per used session (mallinfo2)", "kB", 0, {}};
  agent::ServerInfo info;
};

asio::awaitable<void> CpuPhases(const config::HostSpec& spec, const Params& p, Figures& f) {
  auto ex = co_await asio::this_coro::executor;
  const ConnectOptions options = Preloaded(spec);
  std::optional<ConnectOptions> alt;
  if (!p.alt_identity.empty()) {
    config::HostSpec alt_spec = spec;
    alt_spec.identity_file = p.alt_identity;
    alt = Preloaded(alt_spec);
  }
  config::HostSpec big_spec = spec;
  std::optional<ConnectOptions> big;
  if (!p.big_known_hosts.empty()) {
    big_spec.known_hosts = p.big_known_hosts;
    big = Preloaded(big_spec);
  }
  co_await Handshakes(spec, 3, options);  // warm-up
  for (int r = 0; r < p.reps; ++r) {
    auto hs = co_await Handshakes(spec, p.handshakes, options);
    f.hs.samples.push_back(hs.cpu_us);
    f.hs_wall.samples.push_back(hs.wall_ms);
    auto cold = co_await Handshakes(spec, std::max(1, p.handshakes / 4), ConnectOptions{});
    f.hs_cold.samples.push_back(cold.cpu_us);
    std::fprintf(stderr, "rep %d: handshake %.0f µs (%.1f ms wall), cold %.0f µs", r + 1, hs.cpu_us,
                 hs.wall_ms, cold.cpu_us);
    if (alt) {
      auto other = co_await Handshakes(spec, p.handshakes, *alt);
      f.hs_alt.samples.push_back(other.cpu_us);
      std::fprintf(stderr, ", alternative key %.0f µs", other.cpu_us);
    }
    if (big) {
      auto other = co_await Handshakes(big_spec, p.handshakes, *big);
      f.hs_big.samples.push_back(other.cpu_us);
      std::fprintf(stderr, ", big known_hosts %.0f µs", other.cpu_us);
    }
    std::fprintf(stderr, "\n");
  }

  SshSession session(ex);
  co_await ConnectOrDie(session, spec, options);
  f.info = session.Info();
  co_await Probes(session, spec, 10, 1);  // warm-up: grow libssh's buffers once
  for (int r = 0; r < p.reps; ++r) {
    auto one = co_await Probes(session, spec, p.probes, 1);
    f.probe.samples.push_back(one.cpu_us);
    f.probe_wall.samples.push_back(one.wall_ms);
    auto two = co_await Probes(session, spec, p.probes, 2);
    f.probe2.samples.push_back(two.cpu_us);
    f.probe2_wall.samples.push_back(two.wall_ms);
    std::fprintf(stderr, "rep %d: probe %.0f µs (%.2f ms wall), 2ch %.0f µs (%.2f ms wall)\n",
                 r + 1, one.cpu_us, one.wall_ms, two.cpu_us, two.wall_ms);
  }
}

void PrintRow(const Figure& f) {
  if (f.samples.empty()) return;
  const double med = Median(f.samples);
  const auto [lo, hi] = std::minmax_element(f.samples.begin(), f.samples.end());
  std::string verdict = "—";
  if (f.goal > 0) {
    char b[64];
    if (med <= f.goal) {
      std::snprintf(b, sizeof b, "PASS (≤ %g)", f.goal);
    } else {
      std::snprintf(b, sizeof b, "MISS (goal %g, +%.0f%%)", f.goal, (med / f.goal - 1) * 100);
    }
    verdict = b;
  }
  std::printf("| %s | %.1f %s | %.1f – %.1f | %s |\n", f.name.c_str(), med, f.unit.c_str(), *lo,
              *hi, verdict.c_str());
}

constexpr const char* kUsage =
    "usage: agent_bench ENV_FILE [--reps R] [--probes N] [--handshakes M] [--sessions K]\n"
    "       [--parallel P] [--only cpu|rss] [--bytes B] [--cipher C] [--mac M]\n"
    "       [--alt-identity KEY_FILE] [--big-known-hosts FILE]\n"
    "       [--no-fork] [--channel shell|exec]";

int Main(int argc, char** argv) {
  Params p;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) Fail(kUsage);
      return argv[++i];
    };
    if (a == "--reps")
      p.reps = std::stoi(value());
    else if (a == "--probes")
      p.probes = std::stoi(value());
    else if (a == "--handshakes")
      p.handshakes = std::stoi(value());
    else if (a == "--sessions")
      p.sessions = std::stoi(value());
    else if (a == "--parallel")
      p.connect_parallelism = std::stoi(value());
    else if (a == "--bytes")
      g_probe.bytes = std::stoul(value());
    else if (a == "--channel") {
      const std::string channel = value();
      if (channel != "shell" && channel != "exec") Fail(kUsage);
      g_channel = channel == "shell" ? agent::ChannelMode::kShell : agent::ChannelMode::kExec;
    } else if (a == "--only")
      p.only = value();
    else if (a == "--cipher")
      p.cipher = value();
    else if (a == "--mac")
      p.mac = value();
    else if (a == "--alt-identity")
      p.alt_identity = value();
    else if (a == "--big-known-hosts")
      p.big_known_hosts = value();
    else if (a == "--no-fork")
      p.fork = false;
    else if (!a.starts_with("--") && p.env_file.empty())
      p.env_file = a;
    else
      Fail(kUsage);
  }
  if (p.env_file.empty() || p.reps < 1 || p.probes < 2 || p.handshakes < 1 || p.sessions < 1 ||
      p.connect_parallelism < 1) {
    Fail(kUsage);
  }
  g_probe.script = "head -c " + std::to_string(g_probe.bytes) + " /dev/zero | tr '\\0' x\n";
  config::HostSpec spec = SpecFromEnv(LoadEnv(p.env_file));
  if (!p.cipher.empty()) spec.algorithms.ciphers = {p.cipher};
  if (!p.mac.empty()) spec.algorithms.macs = {p.mac};

  Figures f;
  // RSS first, while this process has not allocated anything the children could reuse.
  for (int r = 0; r < p.reps && p.only != "cpu"; ++r) {
    const RssRep rep = p.fork ? RssInChild(spec, p) : RunOnOneThread(Rss(spec, p));
    f.idle_raw.samples.push_back(rep.idle_raw);
    f.idle_trim.samples.push_back(rep.idle_trim);
    f.heap_idle.samples.push_back(rep.heap_idle);
    f.used_raw.samples.push_back(rep.used_raw);
    f.used_trim.samples.push_back(rep.used_trim);
    f.heap_used.samples.push_back(rep.heap_used);
    f.hs_conc.samples.push_back(rep.connect_cpu_us);
    f.probe_conc.samples.push_back(rep.probe_cpu_us);
    std::fprintf(stderr,
                 "rep %d: per session idle %.1f kB RSS (trim %.1f, heap %.1f), used %.1f kB RSS "
                 "(trim %.1f, heap %.1f); CPU per connect %.0f µs, per first probe %.0f µs\n",
                 r + 1, rep.idle_raw, rep.idle_trim, rep.heap_idle, rep.used_raw, rep.used_trim,
                 rep.heap_used, rep.connect_cpu_us, rep.probe_cpu_us);
  }
  if (p.only != "rss") RunOnOneThread(CpuPhases(spec, p, f));

  if (p.only != "rss") {
    std::printf("\nlibssh %s; server %s; kex %s; host key %s; cipher %s; mac %s\n", ssh_version(0),
                f.info.server_version.c_str(), f.info.kex.c_str(), f.info.hostkey_type.c_str(),
                f.info.cipher.c_str(), f.info.mac.c_str());
  }
  std::printf(
      "1 io_context thread; %d repetitions; N=%d probes of %zu B on %s channels; M=%d "
      "handshakes (%d cold); K=%d sessions (%d connecting at once)\n\n",
      p.reps, p.probes, g_probe.bytes, std::string(agent::ChannelModeName(g_channel)).c_str(),
      p.handshakes, std::max(1, p.handshakes / 4), p.sessions,
      std::min(p.connect_parallelism, p.sessions));
  std::printf("| figure | median | spread (min – max) | goal |\n|---|---|---|---|\n");
  for (const Figure* fig :
       {&f.probe, &f.probe_wall, &f.probe2, &f.probe2_wall, &f.probe_conc, &f.hs, &f.hs_wall,
        &f.hs_cold, &f.hs_alt, &f.hs_big, &f.hs_conc, &f.idle_raw, &f.idle_trim, &f.heap_idle,
        &f.used_raw, &f.used_trim, &f.heap_used}) {
    PrintRow(*fig);
  }
  return 0;
}

}  // namespace
}  // namespace fleetps::bench

int main(int argc, char** argv) {
  try {
    return fleetps::bench::Main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "agent_bench: %s\n", e.what());
    return 1;
  }
}
