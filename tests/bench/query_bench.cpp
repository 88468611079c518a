// Cost of one process query over a member's whole fleet, on one core: the rows of every host's
// latest table gathered host after host (AppendQueryRows, what /api/v1/processes, the web UI
// and a cluster member's scope=local answer do), then RunQuery with the selector of the cluster
// scenarios' fan-out, `{comm=~"ora_pmon.*"}`, sorted by -rss, limit 100,000.
//
// Query/<hosts>: 100, 500, 1,500 and 3,000 hosts of 130 processes each (fleetsim's linux-procps
// table size). Until the rows grew geometrically, gathering them was quadratic in the hosts (a
// member over 500 hosts answered in 1.4-1.9 s under load); the per-host time of these cases
// stays flat when it is linear.
//
//   cmake --build BUILD --target query_bench && BUILD/tests/bench/query_bench
// Defaults: 5 repetitions, aggregates only (read the _median rows). Results: RESULTS.md.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <vector>

#include "fleetps/collector/query/query.hpp"
#include "fleetps/collector/query/row.hpp"
#include "fleetps/collector/query/selector.hpp"
#include "fleetps/probes/process.hpp"

namespace {

using namespace fleetps;

constexpr int kProcessesPerHost = 130;

probes::HostSnapshot MakeSnapshot(int host) {
  static const char* const kComms[] = {"systemd",  "sshd",    "bash",          "java",
                                       "postgres", "nginx",   "ora_dbw0_ORCL", "kworker/0:1",
                                       "cron",     "rsyslogd"};
  probes::HostSnapshot snapshot;
  snapshot.processes.reserve(kProcessesPerHost);
  for (int i = 0; i < kProcessesPerHost; ++i) {
    probes::ProcessRow row;
    row.pid = 100 + i;
    row.ppid = 1;
    row.user = i % 3 == 0 ? "root" : "oracle";
    row.state = "S";
    row.comm = i == 7 ? "ora_pmon_ORCL" : kComms[(host + i) % 10];
    row.args = row.comm + " --instance " + std::to_string(host);
    row.rss_bytes = static_cast<std::uint64_t>(1 + (host * 31 + i) % 997) * 4096;
    row.cpu_user_seconds = i * 0.5;
    row.cpu_system_seconds = i * 0.25;
    row.start_time_unix = 1.7e9 + i;
    snapshot.processes.push_back(std::move(row));
  }
  return snapshot;
}

void Query(benchmark::State& state) {
  const int hosts = static_cast<int>(state.range(0));
  std::vector<probes::HostSnapshot> snapshots;
  std::vector<std::string> names;
  for (int h = 0; h < hosts; ++h) {
    snapshots.push_back(MakeSnapshot(h));
    names.push_back("sim" + std::to_string(10000 + h));
  }
  const auto selector = collector::ParseSelector(R"({comm=~"ora_pmon.*"})");
  const auto sort = collector::ParseSort("-rss");
  if (!selector || !sort) {
    state.SkipWithError("selector");
    return;
  }
  std::size_t matched = 0;
  for (auto _ : state) {
    std::vector<collector::QueryRow> rows;
    for (int h = 0; h < hosts; ++h) {
      collector::HostRowsInput input;
      input.host = names[static_cast<std::size_t>(h)];
      input.current = &snapshots[static_cast<std::size_t>(h)];
      input.now_unix = 1.8e9;
      collector::AppendQueryRows(input, rows);
    }
    auto answer = collector::RunQuery(rows, *selector, *sort, 100'000);
    if (!answer) {
      state.SkipWithError("query");
      return;
    }
    matched = answer->total;
    benchmark::DoNotOptimize(answer->rows.data());
  }
  if (matched != static_cast<std::size_t>(hosts)) state.SkipWithError("one match per host");
  state.counters["rows"] = static_cast<double>(hosts) * kProcessesPerHost;
  state.counters["time_per_host"] =
      benchmark::Counter(static_cast<double>(hosts), benchmark::Counter::kIsIterationInvariantRate |
                                                         benchmark::Counter::kInvert);
}

BENCHMARK(Query)
    ->Arg(100)
    ->Arg(500)
    ->Arg(1500)
    ->Arg(3000)
    ->Unit(benchmark::kMillisecond)
    ->Repetitions(5)
    ->ReportAggregatesOnly(true);

}  // namespace

BENCHMARK_MAIN();
