// FingerprintScript() output parsing and dialect choice.
#include "fleetps/probes/dialect.hpp"
#include "fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace fleetps::probes;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const FingerprintResult r = ParseFingerprint(text);
  if (r.ok()) {
    const Dialect d = ChooseDialect(r.fingerprint);
    if (!ParseDialectName(DialectName(d))) __builtin_trap();
    (void)ProcessProbeScript(d, r.fingerprint, "0123456789abcdef");
  }
  return 0;
}
