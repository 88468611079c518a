// Host selections ("all", "7", "10-20", "sim00042", comma lists) over hosts numbered 1..N.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fleetps::fleetsim {

/// The inventory name of host `number` (1-based): "sim00001".
[[nodiscard]] std::string HostName(std::uint32_t number);

/// Parses a selection over hosts 1..host_count: "all" or "*", a number, a range "A-B", a name
/// "simNNNNN", or a comma-separated list of those. Returns the sorted, de-duplicated host
/// numbers; nullopt when any element is malformed or out of range.
[[nodiscard]] std::optional<std::vector<std::uint32_t>> ParseHostSet(std::string_view text,
                                                                     std::uint32_t host_count);

}  // namespace fleetps::fleetsim
