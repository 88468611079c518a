// The agent's side of fleetps/agent/shell_totals.hpp: where the counts are taken.
#pragma once

#include <cstdint>

#include "fleetps/agent/shell_totals.hpp"

namespace fleetps::agent::detail {

void CountShellOpened(bool first_of_session) noexcept;
void CountShellStrayBytes(std::uint64_t bytes) noexcept;
void CountShellFallback(ShellFallbackReason reason) noexcept;

}  // namespace fleetps::agent::detail
