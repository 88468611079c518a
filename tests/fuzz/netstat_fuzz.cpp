// ss, netstat (per dialect: selector % 7) and sockstat parsers.
#include "fleetps/probes/parsers.hpp"
#include "fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace fleetps::probes;
  const auto [selector, text] = fleetps::fuzz::Split(data, size);
  ParseStats stats;
  auto check = [](const std::vector<ListenSocket>& sockets) {
    for (const ListenSocket& s : sockets) {
      if (s.port > 65535 || s.proto.empty()) __builtin_trap();
    }
  };
  check(ParseSs(text, stats));
  check(ParseNetstat(kAllDialects[selector % 7], text, stats));
  check(ParseSockstat(text, stats));
  return 0;
}
