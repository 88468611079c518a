// Which member of a cluster probes which host: hosts hash to fixed buckets, and a bucket's
// desired owner is the member with the highest weighted rendezvous (HRW) score among the
// eligible live members. Pure and deterministic: every member computes the same answer from the
// same member list, in any order, on any machine.
//
// HRW's property that keeps SSH sessions warm: when a member joins or leaves, only the buckets
// that the change itself must move move (to the joiner, or away from the leaver); a bucket never
// moves between two members that are both present before and after.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace fleetps::collector::cluster {

/// The default bucket count; fixed for the life of a cluster (checked against etcd's
/// /meta/buckets). 16384 keeps the most loaded of 50 members within ~+13 % of the mean.
inline constexpr std::uint32_t kDefaultBuckets = 16384;

/// A member as the assignment sees it.
struct MemberSpec {
  std::string name;          ///< unique in the cluster
  std::uint32_t weight = 1;  ///< relative capacity; 0 = owns nothing
  std::string zone;          ///< empty = serves hosts without a zone
};

/// A stable 64-bit hash of `text` (FNV-1a, finalised with a 64-bit mixer). Part of the cluster
/// protocol: members of different versions must agree on it, so it never changes.
[[nodiscard]] std::uint64_t StableHash(std::string_view text) noexcept;

/// bucket(host) = StableHash(host) mod buckets. `buckets` must be > 0.
[[nodiscard]] std::uint32_t BucketOf(std::string_view host, std::uint32_t buckets) noexcept;

/// The weighted HRW score of `member` for `bucket`: -weight / ln(u), u in (0, 1) from
/// StableHash("member/bucket"). Higher wins; ties break by the smaller name.
[[nodiscard]] double RendezvousScore(const MemberSpec& member, std::uint32_t bucket) noexcept;

/// The desired owner of `bucket` among `members` (any order) whose zone equals `zone` and whose
/// weight is > 0: an index into `members`, or nullopt when no member is eligible.
[[nodiscard]] std::optional<std::size_t> DesiredOwner(std::span<const MemberSpec> members,
                                                      std::uint32_t bucket,
                                                      std::string_view zone = {}) noexcept;

/// The first `count` members by score for `bucket` (rank 0 = owner, rank 1 = standby), as
/// indices into `members`; fewer when fewer are eligible.
[[nodiscard]] std::vector<std::size_t> RankedOwners(std::span<const MemberSpec> members,
                                                    std::uint32_t bucket, std::size_t count,
                                                    std::string_view zone = {});

/// Prometheus' relabel `hashmod`: the MD5 of `text`, its last 8 bytes read big-endian, mod
/// `modulus` (> 0). `/sd?shard=i&of=n` keeps the hosts with HashMod(host, n) == i, exactly the
/// targets a `hashmod` + `keep` relabelling on `__address__` would keep. nullopt when this
/// OpenSSL offers no MD5 (a FIPS build): the caller reports that it cannot shard.
[[nodiscard]] std::optional<std::uint64_t> HashMod(std::string_view text,
                                                   std::uint64_t modulus) noexcept;

}  // namespace fleetps::collector::cluster
