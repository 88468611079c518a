// /metrics exposition benchmark (issue 8): fleetps' renderer against prometheus-cpp's
// Collect + TextSerializer on the same families, for a synthetic fleet built through the real
// FleetState (agent events in, every host rendered at scrape time).
//
//   exposition_bench HOSTS [GROUPS_PER_HOST=3] [SCRAPES=15] [BASELINE_SCRAPES=SCRAPES]
//
// Prints markdown table rows (see run_exposition_bench.sh). Single-threaded; CPU figures are
// CLOCK_PROCESS_CPUTIME_ID deltas, memory is VmRSS and malloc's live heap (mallinfo2).

#include <malloc.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include <prometheus/text_serializer.h>

#include "fleetps/collector/exposition/exposition.hpp"
#include "fleetps/collector/fleet/fleet_state.hpp"
#include "fleetps/collector/http/gzip.hpp"

namespace {

using namespace fleetps;
using Clock = std::chrono::steady_clock;

double CpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

double RssBytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtod(line.c_str() + 6, nullptr) * 1024;
  }
  return 0;
}

double HeapBytes() { return static_cast<double>(mallinfo2().uordblks); }

struct Timing {
  std::vector<double> wall;  // seconds
  std::vector<double> cpu;
  double Median() const { return Pct(0.5); }
  double P99() const { return Pct(0.99); }
  double Pct(double p) const {
    std::vector<double> v = wall;
    std::sort(v.begin(), v.end());
    const auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
    return v[std::min(i, v.size() - 1)];
  }
  double CpuMedian() const {
    std::vector<double> v = cpu;
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  }
};

Timing Measure(int runs, const std::function<std::size_t()>& fn, std::size_t* bytes = nullptr) {
  Timing t;
  for (int i = 0; i < runs; ++i) {
    const double c0 = CpuSeconds();
    const auto w0 = Clock::now();
    const std::size_t n = fn();
    t.wall.push_back(std::chrono::duration<double>(Clock::now() - w0).count());
    t.cpu.push_back(CpuSeconds() - c0);
    if (bytes) *bytes = n;
  }
  return t;
}

config::HostSpec Spec(std::size_t i) {
  config::HostSpec spec;
  spec.name = "host-" + std::to_string(i) + ".dc1.example.com";
  spec.address = "127.0.0.1";
  spec.user = "monitor";
  return spec;
}

// A host answering with two processes per group plus some ungrouped ones.
std::shared_ptr<probes::HostSnapshot> Snapshot(std::size_t host, std::size_t groups) {
  auto snapshot = std::make_shared<probes::HostSnapshot>();
  for (std::size_t g = 0; g < groups + 2; ++g) {
    for (int k = 0; k < 2; ++k) {
      probes::ProcessRow row;
      row.pid = static_cast<std::int64_t>(100 + g * 10 + static_cast<std::size_t>(k));
      row.ppid = 1;
      row.user = "app";
      row.state = "S";
      row.state_bucket = probes::StateBucket::kSleeping;
      row.comm = g < groups ? "svc" + std::to_string(g) : "other" + std::to_string(g);
      row.start_time_unix = 1.7e9 + static_cast<double>(host);
      row.cpu_user_seconds = 12.34 + static_cast<double>(host % 97);
      row.cpu_system_seconds = 1.25;
      row.rss_bytes = 123'456'789;
      row.vsz_bytes = 987'654'321;
      row.swap_bytes = 4096;
      row.threads = 8;
      row.fds = 42;
      row.fd_limit = 1024;
      row.read_bytes = 1'000'000 + host;
      row.write_bytes = 2'000'000;
      row.major_faults = 3;
      row.minor_faults = 4000;
      row.ctx_voluntary = 5000;
      row.ctx_involuntary = 60;
      snapshot->processes.push_back(std::move(row));
    }
  }
  return snapshot;
}

std::size_t CountSeries(const std::string& text) {
  std::size_t n = 0;
  std::size_t at = 0;
  while (at < text.size()) {
    if (text[at] != '#') ++n;
    const std::size_t nl = text.find('\n', at);
    if (nl == std::string::npos) break;
    at = nl + 1;
  }
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s HOSTS [GROUPS_PER_HOST=3] [SCRAPES=15] [BASELINE_SCRAPES]\n",
                 argv[0]);
    return 2;
  }
  const std::size_t hosts = std::strtoul(argv[1], nullptr, 10);
  const std::size_t groups = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 3;
  const int scrapes = argc > 3 ? std::atoi(argv[3]) : 15;
  const int baseline_scrapes = argc > 4 ? std::atoi(argv[4]) : scrapes;

  std::vector<probes::MatcherSpec> matchers;
  std::vector<std::string> fixed_names;
  for (std::size_t g = 0; g < groups; ++g) {
    matchers.push_back({"svc" + std::to_string(g), {"svc" + std::to_string(g)}, {}, {}});
    fixed_names.push_back("svc" + std::to_string(g));
  }
  // Snapshots are built before the baseline RSS so that "per series" counts what the
  // exposition keeps (views, tracker, rendered text), not the synthetic process tables.
  std::vector<std::shared_ptr<probes::HostSnapshot>> snapshots;
  std::vector<config::HostSpec> specs;
  for (std::size_t i = 0; i < hosts; ++i) {
    snapshots.push_back(Snapshot(i, groups));
    specs.push_back(Spec(i));
  }
  malloc_trim(0);
  const double rss0 = RssBytes();
  const double heap0 = HeapBytes();

  collector::GroupingRules rules(*probes::Grouper::Compile(matchers).grouper, fixed_names);
  collector::FleetState state(std::move(rules));
  state.SetHosts(specs);
  const double build_cpu0 = CpuSeconds();
  for (std::size_t i = 0; i < hosts; ++i) {
    agent::HostStatus ready;
    ready.host = specs[i].name;
    ready.state = agent::HostState::kReady;
    ready.epoch = 1;
    ready.dialect = probes::Dialect::kLinuxProcps;
    ready.fingerprint = probes::Fingerprint{};
    ready.fingerprint->os = "Linux";
    ready.fingerprint->os_release = "6.1.0-18-amd64";
    ready.fingerprint->arch = "x86_64";
    ready.server.server_version = "OpenSSH_9.2p1 Debian-2+deb12u3";
    ready.server.kex = "curve25519-sha256";
    ready.server.cipher = "chacha20-poly1305@openssh.com";
    ready.server.hostkey_type = "ssh-ed25519";
    state.OnStatus(ready);
    agent::ProbeResult ok;
    ok.host = specs[i].name;
    ok.status = agent::ProbeStatus::kOk;
    ok.started = std::chrono::system_clock::now();
    ok.scheduled_at = ok.started;
    ok.finished = ok.started + std::chrono::milliseconds(12);
    ok.snapshot = snapshots[i];
    state.OnResult(ok);
  }
  const double build_cpu = CpuSeconds() - build_cpu0;
  malloc_trim(0);
  const double rss1 = RssBytes();
  const double heap1 = HeapBytes();

  collector::SelfMetrics self;
  self.handshake_limit = 64;
  self.handshakes_in_flight = 0;
  self.process = collector::ReadProcessStats();

  std::string text = collector::RenderMetrics(state, self);
  const std::size_t series = CountSeries(text);
  // A scrape: every host's series rendered, family by family across the fleet.
  const Timing fast =
      Measure(scrapes, [&] { return collector::RenderMetrics(state, self).size(); });
  std::size_t gzip_bytes = 0;
  const Timing gzip = Measure(
      std::max(3, scrapes / 3), [&] { return collector::Gzip(text).size(); }, &gzip_bytes);
  // prometheus-cpp on the same families: FleetCollectable::Collect + TextSerializer.
  collector::FleetCollectable reference(state, [&self] { return self; });
  std::size_t baseline_series = 0;
  double collect_heap = 0;
  const Timing baseline = Measure(baseline_scrapes, [&] {
    const double h0 = HeapBytes();
    auto families = reference.Collect();
    collect_heap = std::max(collect_heap, HeapBytes() - h0);
    const std::string body = prometheus::TextSerializer().Serialize(families);
    baseline_series = CountSeries(body);
    return body.size();
  });

  const auto s = static_cast<double>(series);
  const auto row = [](const char* what, const std::string& value, const std::string& note) {
    std::printf("| %s | %s | %s |\n", what, value.c_str(), note.c_str());
  };
  char buf[256];
  auto ms = [&](double seconds) {
    std::snprintf(buf, sizeof buf, "%.1f ms", seconds * 1e3);
    return std::string(buf);
  };
  auto ns = [&](double seconds_per) {
    std::snprintf(buf, sizeof buf, "%.0f ns", seconds_per * 1e9);
    return std::string(buf);
  };
  std::printf(
      "\n#### %zu hosts x %zu groups: %zu series, %.1f MB text (%.0f B/series), gzip-1 %.1f MB\n\n",
      hosts, groups, series, static_cast<double>(text.size()) / 1e6,
      static_cast<double>(text.size()) / s, static_cast<double>(gzip_bytes) / 1e6);
  std::printf("| figure | value | note |\n|---|---|---|\n");
  std::snprintf(buf, sizeof buf, "%s / %s", ms(fast.Median()).c_str(), ms(fast.P99()).c_str());
  row("fleetps /metrics render, median / p99", buf, std::to_string(scrapes) + " scrapes");
  row("fleetps scrape CPU per series", ns(fast.CpuMedian() / s),
      "series walk and text, rendered at scrape time");
  std::snprintf(buf, sizeof buf, "%s / %s", ms(fast.Median() + gzip.Median()).c_str(),
                ms(fast.P99() + gzip.P99()).c_str());
  row("fleetps render + gzip-1, median / p99", buf, "gzip alone " + ms(gzip.Median()));
  std::snprintf(buf, sizeof buf, "%s / %s", ms(baseline.Median()).c_str(),
                ms(baseline.P99()).c_str());
  row("prometheus-cpp Collect + TextSerializer, median / p99", buf,
      std::to_string(baseline_scrapes) + " scrapes, " + std::to_string(baseline_series) +
          " series");
  row("prometheus-cpp CPU per series", ns(baseline.CpuMedian() / s), "");
  std::snprintf(buf, sizeof buf, "%.0fx", baseline.Median() / fast.Median());
  row("speed-up (median)", buf, "");
  std::snprintf(buf, sizeof buf, "%.0f B (heap %.0f B)", (rss1 - rss0) / s, (heap1 - heap0) / s);
  row("RSS per series, whole FleetState", buf,
      "views and group trackers; synthetic process tables excluded");
  std::snprintf(buf, sizeof buf, "%.0f B", collect_heap / s);
  row("prometheus-cpp transient heap per series per scrape", buf, "the Collect() result alone");
  std::snprintf(buf, sizeof buf, "%.0f ns", build_cpu / static_cast<double>(hosts) * 1e9 / 2);
  row("FleetState event CPU per host event (status, result)", buf,
      "grouping, " + std::to_string(series / hosts) + " series/host");
  return baseline_series == series ? 0 : 1;
}
