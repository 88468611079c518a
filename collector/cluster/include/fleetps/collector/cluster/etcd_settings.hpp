// `cluster.membership: etcd`: the engine's and the coordinator's options from the `cluster:`
// section, and the inventory hash members compare (scale-out.md §6.3 "Inventory agreement").
#pragma once

#include <span>
#include <string>

#include <boost/system/result.hpp>

#include "fleetps/collector/cluster/etcd_coordinator.hpp"
#include "fleetps/collector/cluster/ownership.hpp"
#include "fleetps/config/cluster.hpp"
#include "fleetps/config/inventory.hpp"

namespace fleetps::collector::cluster {

/// The engine's options from `cluster.*` (name, buckets, timings, caps, failsafe). The caller
/// sets self, advertise, version and inventory_sha256.
[[nodiscard]] OwnershipOptions OwnershipOptionsFor(const config::ClusterSettings& cluster);

/// The coordinator's options from `cluster.etcd`, the password read from `password_file` (its
/// first line). The error names the file, never its content.
[[nodiscard]] boost::system::result<EtcdOptions, std::string> EtcdOptionsFor(
    const config::ClusterSettings& cluster);

/// sha256 (hex) of what every member must agree on: each host's name, address and port, in
/// inventory order. Not the file: members' files differ in their collector sections.
[[nodiscard]] std::string InventorySha256(std::span<const config::HostSpec> hosts);

}  // namespace fleetps::collector::cluster
