// Whole-probe parsing per dialect (selector % 7) plus the ps table parsers alone. Seeds are the
// dialect fixtures with the selector byte prepended.
#include "fleetps/probes/parsers.hpp"
#include "fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace fleetps::probes;
  const auto [selector, text] = fleetps::fuzz::Split(data, size);
  const Dialect dialect = kAllDialects[selector % 7];
  Fingerprint fp;
  fp.clk_tck = (selector & 0x80) ? 0 : 100;  // also exercise the default path
  fp.page_size = 4096;
  const ProbeParseResult r = ParseProcessProbe(dialect, fp, text, "5f3a9c1be07d4e62");
  for (const ProcessRow& row : r.snapshot.processes) {
    if (row.pid < 0) __builtin_trap();  // rows are validated
  }
  ParseStats stats;
  (void)ParsePsTable(dialect, PsColumnsFor(dialect), text, 1700000000, stats);
  (void)ParsePsWithHeader(dialect, text, std::nullopt, stats);
  (void)ParseUcbPs(text, stats);
  (void)ParsePidText(text, stats);
  (void)ParseDuration(text.substr(0, 32));
  (void)ParseKibibytes(text.substr(0, 32));
  return 0;
}
