#pragma once

#include <iosfwd>

#include "fleetps/config/inventory.hpp"

namespace fleetps::collector {

/// `fleetps keyscan FILE`: connects to every host (16 at a time, no authentication), records
/// its host key in the host's `known_hosts` file unless a different key is already recorded,
/// and prints one line per host: name, address, key type, SHA256 fingerprint and outcome,
/// followed by its crypto inventory: the server banner, what it offers (read from its
/// clear-text KEXINIT over a second connection) with the weak algorithms flagged, and what
/// the host's `algorithms` setting negotiates, or why nothing matched.
/// Returns 0 when every host was enrolled or already known, 1 otherwise.
int KeyScanInventory(const config::Inventory& inventory, std::ostream& out, std::ostream& err);

}  // namespace fleetps::collector
