// lsof -F field output (descriptor counts and listening sockets) and procstat -fa.
#include "fleetps/probes/parsers.hpp"
#include "fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace fleetps::probes;
  const auto [selector, text] = fleetps::fuzz::Split(data, size);
  (void)selector;
  ParseStats stats;
  (void)ParseLsofFdCounts(text, stats);
  for (const ListenSocket& s : ParseLsofListen(text, stats)) {
    if (s.port > 65535) __builtin_trap();
  }
  (void)ParseProcstatFdCounts(text, stats);
  return 0;
}
