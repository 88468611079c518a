// The Linux /proc batch parser; the text is split into its six sections at '\x01' bytes.
#include "fleetps/probes/parsers.hpp"
#include "fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace fleetps::probes;
  auto [selector, text] = fleetps::fuzz::Split(data, size);
  std::string_view parts[6];
  for (std::string_view& part : parts) {
    const std::size_t cut = text.find('\x01');
    part = text.substr(0, cut);
    text = cut == std::string_view::npos ? std::string_view{} : text.substr(cut + 1);
  }
  ProcBatch batch{parts[0], parts[1], parts[2], parts[3], parts[4], parts[5]};
  std::optional<double> btime;
  ParseStats stats;
  (void)ParseProcBatch(batch, selector % 3 == 0 ? 0 : 100, selector % 2 ? 4096 : 65536, btime,
                       stats);
  return 0;
}
