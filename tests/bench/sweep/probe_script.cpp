// Prints the linux-procps process probe script the collector sends to a Linux host, so the
// side-by-side benchmark can run exactly that command locally (the target-side cost of the
// command itself, without sshd) and size the peers' output against it.
//
//   probe_script [NONCE]    (NONCE: 8-64 hex digits, default a fixed one)
#include <cstdio>
#include <string>
#include <string_view>

#include "fleetps/probes/dialect.hpp"

int main(int argc, char** argv) {
  using fleetps::probes::Dialect;
  const std::string_view nonce = argc > 1 ? argv[1] : "5f3a9c1be07d4e62";
  fleetps::probes::Fingerprint fp;
  fp.os = "Linux";
  fp.proc_readable = true;
  fp.ps_has_o = true;
  fp.has_ss = true;
  const std::string script = fleetps::probes::ProcessProbeScript(Dialect::kLinuxProcps, fp, nonce);
  if (script.empty()) {
    std::fputs("probe_script: the nonce must be 8-64 hex digits\n", stderr);
    return 2;
  }
  std::fwrite(script.data(), 1, script.size(), stdout);
  return 0;
}
