// The YAML inventory loader: any input yields diagnostics or an inventory, never a crash.
#include <string>

#include "fleetps/config/load.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)fleetps::config::LoadInventoryFromString(text, "fuzz.yaml");
  return 0;
}
