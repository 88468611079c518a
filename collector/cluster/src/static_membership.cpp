#include "fleetps/collector/cluster/static_membership.hpp"

#include <algorithm>
#include <map>
#include <set>

namespace fleetps::collector::cluster {

ResolvedSelf ResolveStaticSelf(const config::ClusterSettings& cluster, const SelfFlags& flags,
                               std::string_view hostname) {
  ResolvedSelf out;
  out.name = flags.member.empty() ? std::string(hostname) : flags.member;
  auto fail = [&out](std::string message) {
    out.error = std::move(message);
    return out;
  };
  const config::ClusterMember* entry = cluster.StaticMember(out.name);
  if (entry == nullptr) {
    std::string names;
    for (const auto& member : cluster.static_members) {
      if (!names.empty()) names += ", ";
      names += member.name;
    }
    return fail("cluster member \"" + out.name + "\"" +
                (flags.member.empty() ? " (the host name)" : "") +
                " is not in cluster.static.members (" + names +
                "); pass --cluster-member NAME or set FLEETPS_CLUSTER_MEMBER");
  }
  if (!flags.advertise.empty() && flags.advertise != entry->advertise) {
    return fail("--cluster-advertise " + flags.advertise + " differs from " + entry->advertise +
                ", member " + out.name + "'s advertise in cluster.static.members");
  }
  if (flags.weight && *flags.weight != entry->weight) {
    return fail("--cluster-weight " + std::to_string(*flags.weight) + " differs from member " +
                out.name + "'s weight " + std::to_string(entry->weight) +
                " in cluster.static.members");
  }
  if (flags.zone && *flags.zone != entry->zone) {
    return fail("--cluster-zone \"" + *flags.zone + "\" differs from member " + out.name +
                "'s zone \"" + entry->zone + "\" in cluster.static.members");
  }
  return out;
}

namespace {

// Per bucket, the desired owner among `specs` of zone `zone` (index into `specs`, or -1).
std::vector<std::int32_t> BucketTable(std::span<const MemberSpec> specs, std::uint32_t buckets,
                                      std::string_view zone) {
  std::vector<std::int32_t> table(buckets, -1);
  for (std::uint32_t bucket = 0; bucket < buckets; ++bucket) {
    if (const auto owner = DesiredOwner(specs, bucket, zone)) {
      table[bucket] = static_cast<std::int32_t>(*owner);
    }
  }
  return table;
}

// Fills `view.bucket_owner` (hosts without a zone; every host when zones are not applied),
// `view.zone_owners` and `view.host_zone` (BuildStaticView says how). `view.members` is final.
void AssignBuckets(ClusterView& view, std::string_view zone_label,
                   std::span<const config::HostSpec> hosts) {
  view.zone_owners.clear();
  view.host_zone.clear();
  std::vector<MemberSpec> specs;
  specs.reserve(view.members.size());
  for (const MemberView& member : view.members) specs.push_back(member.spec);
  // Zones not applied: everyone is eligible for everything (one table, as without zones).
  if (zone_label.empty()) {
    for (MemberSpec& spec : specs) spec.zone.clear();
  }
  view.bucket_owner = BucketTable(specs, view.buckets, {});
  if (zone_label.empty()) return;
  std::set<std::string> zones;
  for (const MemberSpec& spec : specs) {
    if (!spec.zone.empty()) zones.insert(spec.zone);
  }
  std::map<std::string, std::int32_t, std::less<>> zone_index;
  for (const std::string& zone : zones) {
    zone_index.emplace(zone, static_cast<std::int32_t>(view.zone_owners.size()));
    view.zone_owners.push_back(ZoneOwners{zone, BucketTable(specs, view.buckets, zone)});
  }
  const std::string label_name(zone_label);
  for (const config::HostSpec& host : hosts) {
    const auto label = host.labels.find(label_name);
    if (label == host.labels.end() || label->second.empty()) continue;
    const auto it = zone_index.find(label->second);
    view.host_zone.emplace(host.name, it == zone_index.end() ? -1 : it->second);
  }
}

}  // namespace

std::shared_ptr<const ClusterView> BuildStaticView(const config::ClusterSettings& cluster,
                                                   std::span<const config::HostSpec> hosts,
                                                   std::string_view self,
                                                   std::string_view version) {
  auto view = std::make_shared<ClusterView>();
  view->name = cluster.name;
  view->membership = "static";
  view->buckets = cluster.buckets;
  for (const config::ClusterMember& member : cluster.static_members) {
    MemberView entry;
    entry.spec = MemberSpec{member.name, member.weight, member.zone};
    entry.advertise = member.advertise;
    entry.self = member.name == self;
    if (entry.self) entry.version = std::string(version);
    view->members.push_back(std::move(entry));
  }
  std::sort(view->members.begin(), view->members.end(),
            [](const MemberView& a, const MemberView& b) { return a.spec.name < b.spec.name; });
  AssignBuckets(*view, cluster.zone_label, hosts);
  return view;
}

std::vector<config::HostSpec> OwnedHosts(const ClusterView& view,
                                         std::span<const config::HostSpec> hosts) {
  std::vector<config::HostSpec> owned;
  for (const config::HostSpec& host : hosts) {
    const MemberView* owner = view.OwnerOf(host.name);
    if (owner != nullptr && owner->self) owned.push_back(host);
  }
  return owned;
}

OwnershipCounts CountOwnership(const ClusterView& view, std::span<const config::HostSpec> hosts) {
  OwnershipCounts counts;
  counts.hosts.assign(view.members.size(), 0);
  counts.buckets.assign(view.members.size(), 0);
  view.ForEachBucketOwner([&counts](std::int32_t owner) {
    if (owner >= 0 && static_cast<std::size_t>(owner) < counts.buckets.size()) {
      ++counts.buckets[static_cast<std::size_t>(owner)];
    }
  });
  for (const config::HostSpec& host : hosts) {
    const std::int32_t owner = view.OwnerIndexOf(host.name);
    if (owner < 0 || static_cast<std::size_t>(owner) >= counts.hosts.size()) {
      ++counts.orphaned_hosts;
    } else {
      ++counts.hosts[static_cast<std::size_t>(owner)];
    }
  }
  return counts;
}

MemberChanges CompareMembers(const ClusterView& before, const ClusterView& after) {
  std::set<std::string_view> old_names;
  for (const auto& member : before.members) old_names.insert(member.spec.name);
  std::set<std::string_view> new_names;
  for (const auto& member : after.members) new_names.insert(member.spec.name);
  MemberChanges changes;
  for (const auto& name : new_names) {
    if (!old_names.contains(name)) changes.joined.emplace_back(name);
  }
  for (const auto& name : old_names) {
    if (!new_names.contains(name)) changes.left.emplace_back(name);
  }
  return changes;
}

}  // namespace fleetps::collector::cluster
