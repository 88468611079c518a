// The probe channel the agent, fault and e2e tests run in (issue 18): one reading of
// FLEETPS_TEST_PROBE_CHANNEL for the integration tests and the fleetsim tests. The product never
// reads this variable.
#pragma once

#include <cstdlib>
#include <stdexcept>
#include <string>

#include "fleetps/config/inventory.hpp"

namespace fleetps::testing {

/// FLEETPS_TEST_PROBE_CHANNEL=shell|exec, or the product default (`auto`) when it is unset or
/// empty. Any other value is a broken test setup: std::invalid_argument naming it.
inline config::ProbeChannel TestProbeChannel() {
  const char* env = std::getenv("FLEETPS_TEST_PROBE_CHANNEL");
  const std::string value = env != nullptr ? env : "";
  if (value.empty()) return config::ProbeChannel::kAuto;
  if (value == "shell") return config::ProbeChannel::kShell;
  if (value == "exec") return config::ProbeChannel::kExec;
  throw std::invalid_argument("FLEETPS_TEST_PROBE_CHANNEL is \"" + value +
                              "\"; it must be shell or exec");
}

}  // namespace fleetps::testing
