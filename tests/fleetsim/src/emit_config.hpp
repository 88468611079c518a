// `fleetsim --emit-config DIR`: the fleetps inventory and known_hosts for the simulated fleet.
#pragma once

#include <filesystem>
#include <string>

#include "fleet.hpp"
#include "keys.hpp"

namespace fleetps::fleetsim {

/// Writes DIR/fleet.yaml (a fleetps inventory, DESIGN.md section 6: defaults with user,
/// identity_file, known_hosts and host_key_policy strict; one host per simulated host with its
/// port, dialect and labels {sim, dialect}; a process_names section), DIR/known_hosts
/// ("[127.0.0.1]:PORT ssh-ed25519 ..." per host) and DIR/id_ed25519(.pub), a copy of the
/// client key the fleet accepts. Paths inside fleet.yaml are absolute. A non-empty
/// `probe_channel` (auto, shell or exec; the caller checks it) goes into the defaults.
[[nodiscard]] bool EmitConfig(const std::filesystem::path& dir, const FleetOptions& options,
                              const KeyStore& keys, const std::string& user,
                              const std::string& probe_channel, std::string& error);

}  // namespace fleetps::fleetsim
