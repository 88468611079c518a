// Throughput of the ps parsers on a large synthetic table (target: >= 300 MB/s on one core).
// Built as a target only; it is never a CTest test, because it times things.
#include <benchmark/benchmark.h>

#include <string>

#include "fleetps/probes/parsers.hpp"

namespace {

using fleetps::probes::Dialect;

constexpr std::string_view kNonce = "5f3a9c1be07d4e62";

// ~`rows` lines shaped like procps output: aligned numbers, user names, realistic args.
std::string SyntheticPs(int rows) {
  static const char* const kArgs[] = {
      "/usr/sbin/nginx -g daemon off;",
      "postgres: 15/main: checkpointer ",
      "/usr/lib/jvm/java-17/bin/java -Xms512m -Xmx2g -Dapp.name=billing -jar /opt/billing.jar",
      "[kworker/3:1-events]",
      "/usr/bin/python3 /opt/app/manage.py runserver 0.0.0.0:8000",
  };
  std::string out;
  out.reserve(static_cast<std::size_t>(rows) * 110);
  char line[512];
  for (int i = 0; i < rows; ++i) {
    const int n = std::snprintf(line, sizeof line,
                                "%6d %6d %-10s %-4s %11s %s %7d %8d %4d %s\n", 1000 + i,
                                1 + i / 7, i % 3 ? "postgres" : "root", i % 5 ? "Ss" : "R",
                                "2-03:04:05", "00:01:10", 1000 + i * 3, 200000 + i * 11,
                                1 + i % 16, kArgs[i % 5]);
    out.append(line, static_cast<std::size_t>(n));
  }
  return out;
}

void BM_PsTable(benchmark::State& state) {
  const std::string text = SyntheticPs(static_cast<int>(state.range(0)));
  const auto columns = fleetps::probes::PsColumnsFor(Dialect::kLinuxProcps);
  for (auto _ : state) {
    fleetps::probes::ParseStats stats;
    auto rows = fleetps::probes::ParsePsTable(Dialect::kLinuxProcps, columns, text, 1700000000,
                                              stats);
    benchmark::DoNotOptimize(rows.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(text.size()));
}
BENCHMARK(BM_PsTable)->Arg(1000)->Arg(100000);

void BM_WholeProbeAix(benchmark::State& state) {
  std::string text = "@@FLEETPS 5f3a9c1be07d4e62 BEGIN self\n1\n@@FLEETPS 5f3a9c1be07d4e62 END "
                     "self rc=0\n@@FLEETPS 5f3a9c1be07d4e62 BEGIN ps\n";
  text += SyntheticPs(static_cast<int>(state.range(0)));
  text += "@@FLEETPS 5f3a9c1be07d4e62 END ps rc=0\n";
  for (auto _ : state) {
    auto result = fleetps::probes::ParseProcessProbe(Dialect::kAix, {}, text, kNonce);
    benchmark::DoNotOptimize(result.snapshot.processes.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(text.size()));
}
BENCHMARK(BM_WholeProbeAix)->Arg(10000);

}  // namespace

BENCHMARK_MAIN();
