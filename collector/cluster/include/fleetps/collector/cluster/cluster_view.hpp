// One member's view of its cluster at one moment: the members it sees and who owns each bucket.
// Immutable and shared (shared_ptr<const ClusterView>); a new view replaces the old one on every
// membership or ownership change. The API (/sd, /probe forwarding, fan-out, /api/v1/cluster),
// the metrics and the web UI read it; the membership layer (static list or etcd) builds it.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
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

/// The bucket table of one zone: who owns each bucket among the members of that zone.
struct ZoneOwners {
  std::string zone;                        ///< a member's zone (never empty)
  std::vector<std::int32_t> bucket_owner;  ///< as ClusterView::bucket_owner
};

struct ClusterView {
  std::string name;        ///< cluster.name
  std::string membership;  ///< "static" or "etcd"
  std::uint32_t buckets = kDefaultBuckets;
  std::int64_t revision = 0;        ///< store revision the view was built at (0 for static)
  std::vector<MemberView> members;  ///< sorted by name
  /// Per bucket: index into `members` of its current owner, or -1 when nobody owns it
  /// (a handover in progress, or no eligible member). Static membership: the desired owner.
  /// With zones applied (cluster.zone_label set, static membership), this is the table of the
  /// hosts without a zone, owned by the members without a zone; hosts with a zone use
  /// `zone_owners`.
  std::vector<std::int32_t> bucket_owner;
  /// One table per zone that some member names, sorted by zone; empty when zones are not applied.
  std::vector<ZoneOwners> zone_owners;
  /// The hosts that carry the zone label: host name → index into `zone_owners`, or -1 when no
  /// member serves the host's zone (the host is orphaned). Hosts absent here have no zone.
  /// Empty when zones are not applied (zone_label unset, or etcd membership).
  std::map<std::string, std::int32_t, std::less<>> host_zone;

  /// The bucket table that decides `host`'s owner, or nullptr when no member serves its zone.
  [[nodiscard]] const std::vector<std::int32_t>* TableOf(std::string_view host) const noexcept {
    if (host_zone.empty()) return &bucket_owner;
    const auto it = host_zone.find(host);
    if (it == host_zone.end()) return &bucket_owner;
    if (it->second < 0 || static_cast<std::size_t>(it->second) >= zone_owners.size()) {
      return nullptr;
    }
    return &zone_owners[static_cast<std::size_t>(it->second)].bucket_owner;
  }
  /// Index into `members` of the member that owns `host` now, or -1. The one answer to "who owns
  /// this host" (zones included) that every caller uses.
  [[nodiscard]] std::int32_t OwnerIndexOf(std::string_view host) const noexcept {
    if (buckets == 0) return -1;
    const std::vector<std::int32_t>* table = TableOf(host);
    if (table == nullptr) return -1;
    const std::uint32_t bucket = BucketOf(host, buckets);
    return bucket < table->size() ? (*table)[bucket] : -1;
  }
  /// The member that owns `host` now, or nullptr.
  [[nodiscard]] const MemberView* OwnerOf(std::string_view host) const noexcept {
    const std::int32_t owner = OwnerIndexOf(host);
    return owner < 0 || static_cast<std::size_t>(owner) >= members.size()
               ? nullptr
               : &members[static_cast<std::size_t>(owner)];
  }
  /// Calls `f(owner)` for every bucket of every table (zone-less and per zone).
  template <typename F>
  void ForEachBucketOwner(F&& f) const {
    for (const std::int32_t owner : bucket_owner) f(owner);
    for (const ZoneOwners& table : zone_owners) {
      for (const std::int32_t owner : table.bucket_owner) f(owner);
    }
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
