// `cluster.membership: static`: every member reads the same list, so every member computes the
// same view on its own, and ownership is simply the desired owner (no store, no claims). Also the
// counting the API, the metrics and the web UI share for any view.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "fleetps/collector/cluster/cluster_view.hpp"
#include "fleetps/config/cluster.hpp"
#include "fleetps/config/inventory.hpp"

namespace fleetps::collector::cluster {

/// Who this process is in its cluster, as `fleetps run` was told (flags, environment).
struct SelfFlags {
  std::string member;     ///< --cluster-member, else $FLEETPS_CLUSTER_MEMBER, else empty
  std::string advertise;  ///< --cluster-advertise; empty = not given
  std::optional<std::uint32_t> weight;  ///< --cluster-weight
  std::optional<std::string> zone;      ///< --cluster-zone
};

/// The member name to use: `flags.member`, else `hostname` (the static default).
/// In static mode it must name an entry of the list, and the advertise, weight and zone given as
/// flags must agree with that entry (every member computes ownership from the list alone).
/// Returns the name, or an error sentence for the user.
struct ResolvedSelf {
  std::string name;
  std::string error;  ///< empty when `name` is valid
};
[[nodiscard]] ResolvedSelf ResolveStaticSelf(const config::ClusterSettings& cluster,
                                             const SelfFlags& flags, std::string_view hostname);

/// The view of a static cluster as member `self` sees it: members from the list (sorted by
/// name, all participants, `self` marked and given `version`), and every bucket owned by its
/// desired owner (scale-out.md §6.3 "Zones"):
/// - `cluster.zone_label` unset: zones are not applied; every member (zone or not) is eligible
///   for every bucket, and `hosts` is not read.
/// - `cluster.zone_label` set: a host's zone is the value of its label `zone_label` ("" when it
///   has none). Hosts without a zone are owned among the members without a zone
///   (`bucket_owner`); a host of zone Z among the members of zone Z (`zone_owners`); a host of a
///   zone that no member names has no owner (orphaned). `hosts` (the inventory) gives the view
///   its host → zone map, so every "who owns this host" question (ClusterView::OwnerOf) agrees.
[[nodiscard]] std::shared_ptr<const ClusterView> BuildStaticView(
    const config::ClusterSettings& cluster, std::span<const config::HostSpec> hosts,
    std::string_view self, std::string_view version);

/// The hosts of `hosts` that `view` gives to its self member, in order.
[[nodiscard]] std::vector<config::HostSpec> OwnedHosts(const ClusterView& view,
                                                       std::span<const config::HostSpec> hosts);

/// How `hosts` spread over `view`'s members: per member index, the hosts and buckets it owns;
/// and the hosts nobody owns. One pass over the hosts and one over the buckets.
struct OwnershipCounts {
  std::vector<std::size_t> hosts;
  std::vector<std::size_t> buckets;
  std::size_t orphaned_hosts = 0;
};
[[nodiscard]] OwnershipCounts CountOwnership(const ClusterView& view,
                                             std::span<const config::HostSpec> hosts);

/// Member names in `after` that are not in `before` (joined), and the reverse (left).
struct MemberChanges {
  std::vector<std::string> joined;
  std::vector<std::string> left;
};
[[nodiscard]] MemberChanges CompareMembers(const ClusterView& before, const ClusterView& after);

}  // namespace fleetps::collector::cluster
