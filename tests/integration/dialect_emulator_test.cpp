// Dialect hosts (DESIGN.md section 9): a real OpenSSH sshd whose sessions see the emulator scripts
// of tests/emulators/<dialect> first on PATH (and no Linux tool the platform lacks, no Linux
// /proc), so the real agent fingerprints and probes through sshd, the login shell, `sh -s`, the
// probe script and the parsers. Expected values are those of the fixtures the emulators replay
// (tests/data/probes/<dialect>/probe.txt), grouped by the real grouping code.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <gtest/gtest.h>

#include "fleetps/agent/host_agent.hpp"
#include "fleetps/probes/grouping.hpp"
#include "test_host.hpp"

namespace fleetps::agent {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using probes::GroupStats;
using probes::MatcherSpec;
using probes::StateBucket;
using testing::TestHost;

constexpr double kFixtureClock = 1700000000;  // the `clock` section of every dialect fixture

struct DialectRun {
  std::optional<HostStatus> ready;
  std::optional<ProbeResult> result;
  std::vector<std::string> failures;
  probes::GroupSnapshot groups;
};

// Starts the real agent against `host` until its first successful process probe (or 30 s).
DialectRun RunAgent(const TestHost& host, const std::vector<MatcherSpec>& matchers) {
  auto spec = host.Spec("dialect-host");
  // The emulators stand the fixture's probe shell in with their $PPID, which is the script's
  // shell ($$) only when the script is the channel's command. On the persistent shell it runs
  // in a subshell whose parent, $$, the emulators cannot see (no /proc in their sandbox), so
  // self-exclusion would miss the fixture's rows. On a real host the subshell is a child of $$,
  // so ExcludeSelf removes it and everything it starts in both modes.
  spec.probe_channel = config::ProbeChannel::kExec;
  spec.interval = 1s;
  asio::io_context io;
  auto strand = asio::make_strand(io);
  asio::cancellation_signal stop;
  asio::steady_timer deadline(strand, 30s);
  DialectRun run;
  auto finish = [&] {
    asio::post(strand, [&] {
      deadline.cancel();
      stop.emit(asio::cancellation_type::terminal);
    });
  };
  AgentSink sink{[&](const HostStatus& s) {
                   if (s.state == HostState::kReady && !run.ready) run.ready = s;
                 },
                 [&](const ProbeResult& r) {
                   if (run.result) return;
                   if (r.status == ProbeStatus::kOk) {
                     run.result = r;
                     finish();
                   } else {
                     run.failures.push_back(std::string(ProbeStatusName(r.status)) + ": " +
                                            r.reason.message());
                     if (run.failures.size() >= 3) finish();
                   }
                 }};
  AgentOptions options;
  options.uniform = [] { return 0.5; };
  auto agent = std::make_shared<HostAgent>(strand, spec, sink, options);
  asio::co_spawn(
      strand, [agent] { return agent->Run(); },
      asio::bind_cancellation_slot(stop.slot(), [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
      }));
  deadline.async_wait([&](boost::system::error_code ec) {
    if (!ec) stop.emit(asio::cancellation_type::terminal);
  });
  io.run();
  if (run.result && run.result->snapshot) {
    auto compiled = probes::Grouper::Compile(matchers);
    if (compiled.grouper) run.groups = compiled.grouper->Group(*run.result->snapshot);
  }
  return run;
}

TestHost::Options Emulated(const std::string& dialect) {
  TestHost::Options o;
  o.user = "fleetps-dialect";
  o.emulator = std::string(FLEETPS_SOURCE_DIR) + "/tests/emulators/" + dialect;
  return o;
}

MatcherSpec ByComm(std::string name, std::vector<std::string> comm) {
  MatcherSpec m;
  m.name_template = std::move(name);
  m.comm = std::move(comm);
  return m;
}
MatcherSpec ByExe(std::string name, std::vector<std::string> exe) {
  MatcherSpec m;
  m.name_template = std::move(name);
  m.exe = std::move(exe);
  return m;
}
MatcherSpec ByCmdline(std::string name, std::vector<std::string> cmdline) {
  MatcherSpec m;
  m.name_template = std::move(name);
  m.cmdline = std::move(cmdline);
  return m;
}

std::uint64_t State(const GroupStats& g, StateBucket b) {
  return g.states[static_cast<std::size_t>(b)];
}

// Checks the agent got through and returns the named group (fails the test when missing).
const GroupStats* Group(const DialectRun& run, const std::string& name) {
  auto it = run.groups.groups.find(name);
  if (it == run.groups.groups.end()) {
    ADD_FAILURE() << "no group " << name;
    return nullptr;
  }
  return &it->second;
}

#define ASSERT_PROBED(run)                                                              \
  do {                                                                                  \
    ASSERT_TRUE((run).ready) << "never ready";                                          \
    ASSERT_TRUE((run).result) << "no successful probe; failures: "                      \
                              << ((run).failures.empty() ? "none" : (run).failures[0]); \
  } while (false)

// The listening socket with this proto and port (the first listed), or null.
const probes::ListenSocket* Listener(const probes::HostSnapshot& snap, std::string_view proto,
                                     std::uint32_t port) {
  for (const probes::ListenSocket& s : snap.listening) {
    if (s.proto == proto && s.port == port) return &s;
  }
  ADD_FAILURE() << "no " << proto << " listener on port " << port;
  return nullptr;
}

// No probe process (the shell running the script, its tools, the `sh -c` parent) may be
// grouped: self-exclusion works with the real $$ the emulators substitute for the fixture's.
MatcherSpec ProbeSelf() { return ByComm("probe-self", {"sh", "ps", "lsof"}); }

TEST(DialectEmulatorTest, Aix) {
  TestHost host(Emulated("aix"));
  const DialectRun run =
      RunAgent(host, {ByExe("tnslsnr", {"tnslsnr"}), ByComm("oracle", {"oracle"}),
                      ByComm("init", {"init"}), ProbeSelf()});
  ASSERT_PROBED(run);
  const probes::Fingerprint& fp = run.ready->fingerprint.value();
  EXPECT_EQ(probes::DialectName(run.ready->dialect.value()), "aix");
  EXPECT_EQ(fp.os, "AIX");
  // AIX prints the minor release for -r and a machine serial for -m: labels from -v and -p.
  EXPECT_EQ(fp.os_release, "7.2");
  EXPECT_EQ(fp.arch, "powerpc");
  EXPECT_EQ(fp.ps_flavour, "posix");
  EXPECT_TRUE(fp.ps_has_o);
  EXPECT_FALSE(fp.proc_readable) << "the Linux /proc must not leak";
  EXPECT_EQ(fp.uid, 205);
  EXPECT_EQ(fp.page_size, 4096);
  EXPECT_TRUE(fp.has_lsof);
  EXPECT_TRUE(fp.has_netstat);
  EXPECT_FALSE(fp.has_ss) << "the Linux ss must not leak";

  const probes::HostSnapshot& snap = *run.result->snapshot;
  EXPECT_EQ(snap.remote_clock_unix, 1700000000);
  // 11 rows minus the probe shell and its ps; the zombie and the <exiting> row, whose
  // columns AIX leaves blank, are processes too.
  EXPECT_EQ(snap.processes.size(), 9u);
  EXPECT_EQ(snap.stats.self_excluded, 2u);
  EXPECT_EQ(snap.stats.lines_skipped, 1u);  // "bad line with words"
  EXPECT_EQ(run.groups.groups.count("probe-self"), 0u);

  const GroupStats* oracle = Group(run, "oracle");
  ASSERT_NE(oracle, nullptr);
  // pmon, smon and pmon's zombie child (children join their parent's group, as in
  // process-exporter).
  EXPECT_EQ(oracle->num_procs, 3u);
  EXPECT_EQ(State(*oracle, StateBucket::kZombie), 1u);
  EXPECT_DOUBLE_EQ(oracle->cpu_user_seconds, 3600 + 600);  // AIX time is user+system
  EXPECT_FALSE(oracle->cpu_system_seconds);
  EXPECT_EQ(oracle->memory_resident_bytes, (812345u + 612345u) * 1024u);
  EXPECT_EQ(oracle->memory_virtual_bytes, (900000u + 700000u) * 1024u);
  EXPECT_EQ(oracle->num_threads, 53 + 12);
  EXPECT_EQ(oracle->open_filedesc, 25);  // lsof saw only ora_pmon's descriptors
  // Both are A (active); the wait channel says pmon sleeps ("*") and smon runs (blank).
  EXPECT_EQ(State(*oracle, StateBucket::kRunning), 1u);
  EXPECT_EQ(State(*oracle, StateBucket::kSleeping), 1u);
  EXPECT_DOUBLE_EQ(oracle->oldest_start_time_unix.value(),
                   kFixtureClock - (2 * 86400 + 3 * 3600 + 4 * 60 + 5));

  const GroupStats* listener = Group(run, "tnslsnr");
  ASSERT_NE(listener, nullptr);
  EXPECT_EQ(listener->num_procs, 1u);
  EXPECT_DOUBLE_EQ(listener->cpu_user_seconds, 1);
  EXPECT_EQ(listener->memory_resident_bytes, 4000u * 1024u);
  EXPECT_EQ(listener->open_filedesc, 4);
  EXPECT_EQ(listener->listen_sockets, (std::map<std::string, std::uint64_t>{{"tcp", 1}}));

  // The monitor user's lsof sees only its own tnslsnr; netstat adds root's sshd and xntpd.
  EXPECT_EQ(snap.listening.size(), 3u);
  if (const auto* sshd = Listener(snap, "tcp", 22)) {
    EXPECT_FALSE(sshd->pid) << "another user's listener: from netstat, owner unknown";
  }
  if (const auto* ntp = Listener(snap, "udp", 123)) {
    EXPECT_FALSE(ntp->pid);
  }
  if (const auto* tns = Listener(snap, "tcp", 1521)) {
    EXPECT_EQ(tns->pid, 4456001);
    EXPECT_EQ(tns->process, "tnslsnr");
  }

  // init with the children of pid 1 no other rule claims: syncd, the session's sshd and rmcd
  // (running: a blank wait channel before a command of several words).
  const GroupStats* init = Group(run, "init");
  ASSERT_NE(init, nullptr);
  EXPECT_EQ(init->num_procs, 4u);
  EXPECT_DOUBLE_EQ(init->cpu_user_seconds, 754.5 + 3 + 9);  // "00:12:34,50": decimal comma
  EXPECT_EQ(init->open_filedesc, 3);
}

TEST(DialectEmulatorTest, Solaris) {
  TestHost host(Emulated("solaris"));
  const DialectRun run = RunAgent(host, {ByCmdline("billing", {"-Dapp\\.home=/opt/billing "}),
                                         ByExe("sshd", {"sshd"}), ProbeSelf()});
  ASSERT_PROBED(run);
  const probes::Fingerprint& fp = run.ready->fingerprint.value();
  EXPECT_EQ(probes::DialectName(run.ready->dialect.value()), "solaris");
  EXPECT_EQ(fp.os, "SunOS");
  EXPECT_EQ(fp.os_release, "5.10");
  EXPECT_EQ(fp.zonename, "appzone");
  EXPECT_EQ(fp.uid, 1005) << "id without -u: the sed fallback";
  EXPECT_EQ(fp.page_size, 8192);
  EXPECT_EQ(fp.max_processes, 30000) << "the emulator's kstat -p unix:0:var:v_proc";
  EXPECT_TRUE(fp.has_ucb_ps);
  EXPECT_TRUE(fp.has_lsof) << "the emulator's lsof (a non-root view)";
  EXPECT_TRUE(fp.has_netstat);
  EXPECT_FALSE(fp.proc_readable);

  const probes::HostSnapshot& snap = *run.result->snapshot;
  EXPECT_EQ(snap.remote_clock_unix, 1700000000) << "date +%s fails: the perl fallback";
  EXPECT_EQ(snap.max_processes, 30000) << "the fingerprint's limit, in every snapshot";
  EXPECT_FALSE(snap.max_threads) << "Solaris has no system-wide thread limit";
  EXPECT_EQ(snap.processes.size(), 6u);  // 8 rows minus the probe shell and `-sh -c /bin/sh -s`
  EXPECT_EQ(run.groups.groups.count("probe-self"), 0u);

  // The cmdline regex needs the full argument list: ps -o args stops at 80 characters, so this
  // group exists only when /usr/ucb/ps was run and merged.
  const GroupStats* billing = Group(run, "billing");
  ASSERT_NE(billing, nullptr);
  EXPECT_EQ(billing->num_procs, 2u);  // java and its sleep child
  EXPECT_DOUBLE_EQ(billing->cpu_user_seconds, 12 * 3600 + 34 * 60 + 56);
  EXPECT_EQ(billing->memory_resident_bytes, (524288u + 1000u) * 1024u);
  EXPECT_EQ(billing->memory_virtual_bytes, (2200000u + 3000u) * 1024u);
  EXPECT_EQ(billing->num_threads, 57 + 1);
  EXPECT_FALSE(billing->open_filedesc) << "non-root lsof: billing's descriptors unknown, not 0";
  EXPECT_EQ(State(*billing, StateBucket::kRunning), 1u);  // O = on a processor
  EXPECT_EQ(State(*billing, StateBucket::kSleeping), 1u);
  EXPECT_TRUE(billing->listen_sockets.empty()) << "only netstat sees billing's socket: no pid";

  const GroupStats* sshd = Group(run, "sshd");
  ASSERT_NE(sshd, nullptr);
  EXPECT_EQ(sshd->num_procs, 2u);

  std::size_t tcp_listen = 0;
  for (const auto& s : snap.listening) tcp_listen += s.proto.starts_with("tcp") ? 1 : 0;
  EXPECT_EQ(tcp_listen, 4u);  // *.22, *.8080, IPv6 *.22 and *.9100; ESTABLISHED skipped
  if (const auto* java = Listener(snap, "tcp", 8080)) {
    EXPECT_FALSE(java->pid) << "billing's listener: from netstat, owner unknown";
  }
  // The monitor user's own listener: netstat's IPv6 "*.9100" with lsof's pid.
  if (const auto* exporter = Listener(snap, "tcp6", 9100)) {
    EXPECT_EQ(exporter->pid, 7100);
    EXPECT_EQ(exporter->process, "node_exporter");
    EXPECT_EQ(exporter->address, "*");
  }
}

TEST(DialectEmulatorTest, Hpux) {
  TestHost host(Emulated("hpux"));
  const DialectRun run =
      RunAgent(host, {ByExe("sybase", {"dataserver"}), ByComm("sshd", {"sshd"}), ProbeSelf()});
  ASSERT_PROBED(run);
  const probes::Fingerprint& fp = run.ready->fingerprint.value();
  EXPECT_EQ(probes::DialectName(run.ready->dialect.value()), "hpux");
  EXPECT_EQ(fp.os, "HP-UX");
  EXPECT_EQ(fp.os_release, "B.11.31");
  EXPECT_FALSE(fp.ps_has_o) << "-o without UNIX95 is rejected";
  EXPECT_EQ(fp.uid, 107);
  EXPECT_FALSE(fp.has_lsof);

  const probes::HostSnapshot& snap = *run.result->snapshot;
  EXPECT_EQ(snap.processes.size(), 4u);
  EXPECT_EQ(snap.max_processes, 4200) << "the emulator's kctune -P nproc";
  EXPECT_EQ(snap.max_threads, 8416) << "the emulator's kctune -P nkthread";
  EXPECT_EQ(run.groups.groups.count("probe-self"), 0u);
  const GroupStats* sybase = Group(run, "sybase");
  ASSERT_NE(sybase, nullptr);
  EXPECT_EQ(sybase->num_procs, 1u);
  EXPECT_DOUBLE_EQ(sybase->cpu_user_seconds, 36000);
  EXPECT_FALSE(sybase->memory_resident_bytes) << "HP-UX ps has no RSS: absent, never 0";
  EXPECT_EQ(sybase->memory_virtual_bytes, 812000u * 1024u);
  EXPECT_FALSE(sybase->num_threads);
  EXPECT_FALSE(sybase->open_filedesc);
  EXPECT_EQ(State(*sybase, StateBucket::kRunning), 1u);
  EXPECT_DOUBLE_EQ(sybase->oldest_start_time_unix.value(), kFixtureClock - 86400);
  const GroupStats* sshd = Group(run, "sshd");
  ASSERT_NE(sshd, nullptr);
  EXPECT_EQ(sshd->num_procs, 2u);  // the daemon and the session's sshd: monitor@notty
}

TEST(DialectEmulatorTest, Freebsd) {
  TestHost host(Emulated("freebsd"));
  const DialectRun run =
      RunAgent(host, {ByComm("nginx", {"nginx"}), ByComm("sshd", {"sshd"}), ProbeSelf()});
  ASSERT_PROBED(run);
  const probes::Fingerprint& fp = run.ready->fingerprint.value();
  EXPECT_EQ(probes::DialectName(run.ready->dialect.value()), "freebsd");
  EXPECT_EQ(fp.os_release, "13.2-RELEASE");
  EXPECT_EQ(fp.clk_tck, 128);
  EXPECT_TRUE(fp.has_procstat);
  EXPECT_TRUE(fp.has_sockstat);

  const probes::HostSnapshot& snap = *run.result->snapshot;
  EXPECT_EQ(snap.processes.size(), 4u);
  EXPECT_EQ(run.groups.groups.count("probe-self"), 0u);
  const GroupStats* nginx = Group(run, "nginx");
  ASSERT_NE(nginx, nullptr);
  EXPECT_EQ(nginx->num_procs, 1u);
  EXPECT_DOUBLE_EQ(nginx->cpu_user_seconds, 754.56);
  EXPECT_DOUBLE_EQ(nginx->cpu_system_seconds.value(), 62.03);
  EXPECT_EQ(nginx->memory_resident_bytes, 81920u * 1024u);
  EXPECT_EQ(nginx->memory_virtual_bytes, 204800u * 1024u);
  EXPECT_EQ(nginx->num_threads, 12);
  EXPECT_EQ(nginx->open_filedesc, 3);  // procstat: 0, 1 and the socket 6
  EXPECT_EQ(nginx->listen_sockets, (std::map<std::string, std::uint64_t>{{"tcp", 1}}));
  const GroupStats* sshd = Group(run, "sshd");
  ASSERT_NE(sshd, nullptr);
  EXPECT_EQ(sshd->num_procs, 2u);
  EXPECT_EQ(State(*sshd, StateBucket::kSleeping), 2u);  // Is (idle) and S
  EXPECT_EQ(sshd->listen_sockets, (std::map<std::string, std::uint64_t>{{"tcp", 1}, {"tcp6", 1}}));
}

TEST(DialectEmulatorTest, Darwin) {
  TestHost host(Emulated("darwin"));
  const DialectRun run = RunAgent(
      host, {ByComm("chrome", {"Google Chrome"}), ByExe("postgres", {"postgres"}), ProbeSelf()});
  ASSERT_PROBED(run);
  const probes::Fingerprint& fp = run.ready->fingerprint.value();
  EXPECT_EQ(probes::DialectName(run.ready->dialect.value()), "darwin");
  EXPECT_EQ(fp.arch, "arm64");
  EXPECT_EQ(fp.page_size, 16384);
  EXPECT_TRUE(fp.has_lsof);
  EXPECT_TRUE(fp.has_netstat);

  EXPECT_EQ(run.result->snapshot->processes.size(), 3u);
  // netstat and lsof list the same three listeners: merged, not doubled.
  EXPECT_EQ(run.result->snapshot->listening.size(), 3u);
  EXPECT_EQ(run.groups.groups.count("probe-self"), 0u);
  const GroupStats* chrome = Group(run, "chrome");
  ASSERT_NE(chrome, nullptr);
  EXPECT_EQ(chrome->num_procs, 1u);
  EXPECT_DOUBLE_EQ(chrome->cpu_user_seconds, 40.25);
  EXPECT_DOUBLE_EQ(chrome->cpu_system_seconds.value(), 60.5 - 40.25);  // time - utime
  EXPECT_EQ(chrome->memory_resident_bytes, 400000u * 1024u);
  EXPECT_EQ(chrome->memory_virtual_bytes, 40000000ull * 1024u);
  EXPECT_FALSE(chrome->num_threads);
  EXPECT_EQ(chrome->open_filedesc, 40);
  EXPECT_EQ(chrome->listen_sockets, (std::map<std::string, std::uint64_t>{{"udp", 1}}))
      << "the connected UDP socket is not a listener";
  const GroupStats* postgres = Group(run, "postgres");
  ASSERT_NE(postgres, nullptr);
  EXPECT_EQ(postgres->open_filedesc, 3);
  EXPECT_EQ(postgres->listen_sockets,
            (std::map<std::string, std::uint64_t>{{"tcp", 1}, {"tcp6", 1}}));
}

// A minimal BusyBox build whose ps has no -o: the real BusyBox applets of this machine (a Linux,
// so the real /proc), with a ps that rejects every option. The table comes from plain `ps` plus
// the /proc batch; the sleepers belong to root, so their descriptors are unreadable: absent.
TEST(DialectEmulatorTest, BusyboxWithoutDashO) {
  std::vector<pid_t> sleepers;
  for (int i = 0; i < 3; ++i) {
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      execl("/bin/sleep", "sleep", "31337", static_cast<char*>(nullptr));
      _exit(127);
    }
    sleepers.push_back(pid);
  }
  TestHost host(Emulated("busybox-noo"));
  const DialectRun run = RunAgent(host, {ByCmdline("sleepers", {"^sleep 31337$"})});
  for (pid_t pid : sleepers) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  }
  ASSERT_PROBED(run);
  const probes::Fingerprint& fp = run.ready->fingerprint.value();
  EXPECT_EQ(probes::DialectName(run.ready->dialect.value()), "busybox");
  EXPECT_EQ(fp.ps_flavour, "busybox");
  EXPECT_FALSE(fp.ps_has_o);
  EXPECT_TRUE(fp.proc_readable);
  EXPECT_FALSE(fp.clk_tck) << "no getconf applet";
  EXPECT_TRUE(fp.has_netstat);
  EXPECT_FALSE(fp.has_ss);
  // A real host: other processes may be called sh, so self-exclusion is checked by pid.
  const probes::HostSnapshot& snap = *run.result->snapshot;
  ASSERT_TRUE(snap.self_pid);
  EXPECT_GE(snap.stats.self_excluded, 1u);
  for (const auto& row : snap.processes) EXPECT_NE(row.pid, *snap.self_pid);

  const GroupStats* g = Group(run, "sleepers");
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(g->num_procs, 3u);
  EXPECT_EQ(State(*g, StateBucket::kSleeping), 3u);
  EXPECT_EQ(g->num_threads, 3);
  EXPECT_GT(g->memory_resident_bytes.value_or(0), 0u);
  EXPECT_GT(g->memory_virtual_bytes.value_or(0), 0u);
  EXPECT_FALSE(g->open_filedesc) << "root's descriptors are unreadable to the probe user";
  ASSERT_TRUE(g->oldest_start_time_unix);
  EXPECT_NEAR(*g->oldest_start_time_unix,
              static_cast<double>(run.result->snapshot->remote_clock_unix.value()), 60);
}

}  // namespace
}  // namespace fleetps::agent
