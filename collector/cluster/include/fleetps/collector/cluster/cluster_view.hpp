// One member's view of its cluster at one moment: the members it sees and who owns each bucket.
// Immutable and shared (shared_ptr<const ClusterView>); a new view replaces the old one on every
// membership or ownership change. The API (/sd, /probe forwarding, fan-out, /api/v1/cluster),
// the metrics and the web UI read it; the membership layer (static list or etcd) builds it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fleetps/collector/cluster/assignment.hpp"

namespace fleetps::collector::cluster {

/// A member's state as users see it (`fleetps cluster status`, fleetps_cluster_members{state}).
enum class MemberState {
  kParticipant,  ///< owns and probes its buckets
  kDraining,     ///< handing its buckets over before it leaves
  kViewer,       ///< claims nothing (inventory mismatch, or drained for maintenance)
  kFenced,       ///< cannot renew its lease: probes nothing until it holds a new one
  kFailsafe,     ///< the store is down for everyone: keeps its buckets, claims nothing new
};
[[nodiscard]] std::string_view MemberStateName(MemberState state) noexcept;

struct MemberView {
  MemberSpec spec;        ///< name, weight, zone
  std::string advertise;  ///< base URL peers and Prometheus reach it at: http://host:port
  MemberState state = MemberState::kParticipant;
  std::string version;  ///< fleetps version it runs
  bool self = false;    ///< this process
};

struct ClusterView {
  std::string name;        ///< cluster.name
  std::string membership;  ///< "static" or "etcd"
  std::uint32_t buckets = kDefaultBuckets;
  std::int64_t revision = 0;        ///< store revision the view was built at (0 for static)
  std::vector<MemberView> members;  ///< sorted by name
  /// Per bucket: index into `members` of its current owner, or -1 when nobody owns it
  /// (a handover in progress, or no eligible member). Static membership: the desired owner.
  std::vector<std::int32_t> bucket_owner;

  /// The member that owns `host` now, or nullptr.
  [[nodiscard]] const MemberView* OwnerOf(std::string_view host) const noexcept {
    if (bucket_owner.empty() || buckets == 0) return nullptr;
    const std::int32_t owner = bucket_owner[BucketOf(host, buckets)];
    return owner < 0 ? nullptr : &members[static_cast<std::size_t>(owner)];
  }
  /// This process's entry, or nullptr when it is not a member (yet).
  [[nodiscard]] const MemberView* Self() const noexcept {
    for (const auto& member : members) {
      if (member.self) return &member;
    }
    return nullptr;
  }
};

}  // namespace fleetps::collector::cluster
