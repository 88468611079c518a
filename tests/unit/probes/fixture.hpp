#pragma once

#include <string>
#include <string_view>

#include "fleetps/probes/process.hpp"

namespace fleetps::probes::testing {

inline constexpr std::string_view kNonce = "5f3a9c1be07d4e62";

/// Contents of tests/data/probes/<relative>; fails the current test when unreadable.
std::string ReadFixture(std::string_view relative);

/// The row with `pid`, or nullptr.
const ProcessRow* FindPid(const HostSnapshot& snapshot, std::int64_t pid);

}  // namespace fleetps::probes::testing
