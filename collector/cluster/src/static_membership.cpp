#include "fleetps/collector/cluster/static_membership.hpp"

#include <algorithm>
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

std::shared_ptr<const ClusterView> BuildStaticView(const config::ClusterSettings& cluster,
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
  std::vector<MemberSpec> specs;
  specs.reserve(view->members.size());
  for (const MemberView& member : view->members) specs.push_back(member.spec);
  view->bucket_owner.assign(view->buckets, -1);
  for (std::uint32_t bucket = 0; bucket < view->buckets; ++bucket) {
    if (const auto owner = DesiredOwner(specs, bucket)) {
      view->bucket_owner[bucket] = static_cast<std::int32_t>(*owner);
    }
  }
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
  for (const std::int32_t owner : view.bucket_owner) {
    if (owner >= 0) ++counts.buckets[static_cast<std::size_t>(owner)];
  }
  if (view.bucket_owner.empty() || view.buckets == 0) {
    counts.orphaned_hosts = hosts.size();
    return counts;
  }
  for (const config::HostSpec& host : hosts) {
    const std::int32_t owner = view.bucket_owner[BucketOf(host.name, view.buckets)];
    if (owner < 0) {
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
