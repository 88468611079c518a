#pragma once

#include <iosfwd>

#include "fleetps/config/inventory.hpp"

namespace fleetps::collector {

/// `fleetps keyscan FILE`: connects to every host (16 at a time, no authentication), records
/// its host key in the host's `known_hosts` file unless a different key is already recorded,
/// and prints one line per host: name, address, key type, SHA256 fingerprint and outcome.
/// Returns 0 when every host was enrolled or already known, 1 otherwise.
int KeyScanInventory(const config::Inventory& inventory, std::ostream& out, std::ostream& err);

}  // namespace fleetps::collector
