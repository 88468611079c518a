// The `cluster:` section (scale-out.md §7.1): how collectors share one inventory. Plain values,
// validated by the loader; the collector's cluster module turns them into a membership.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fleetps::config {

/// `cluster.membership`: where the member list comes from.
enum class ClusterMembership {
  kNone,    ///< Not clustered: this collector probes every inventory host.
  kStatic,  ///< `cluster.static.members`, identical on every member.
  kEtcd,    ///< Members register under leases in etcd (`cluster.etcd`).
};
[[nodiscard]] constexpr std::string_view ClusterMembershipName(ClusterMembership m) noexcept {
  return m == ClusterMembership::kStatic ? "static"
         : m == ClusterMembership::kEtcd ? "etcd"
                                         : "none";
}

/// `cluster.standby`.
enum class ClusterStandby { kNone, kWarm };

/// One entry of `cluster.static.members`.
struct ClusterMember {
  std::string name;       ///< unique, label-safe (CheckClusterMemberName)
  std::string advertise;  ///< http(s)://host:port peers and Prometheus reach it at
  std::uint32_t weight = 1;
  std::string zone;  ///< empty = serves hosts without a zone
  bool operator==(const ClusterMember&) const = default;
};

/// `cluster.etcd`.
struct ClusterEtcdSettings {
  std::vector<std::string> endpoints;  ///< http(s)://host:port each
  std::chrono::milliseconds lease_ttl{10'000};
  std::chrono::milliseconds request_timeout{2'000};  ///< lease_ttl / 5 unless set
  std::string ca_file;                               ///< tls.ca_file; empty = the system's CAs
  std::string cert_file;  ///< tls.cert_file (client certificate), optional
  std::string key_file;   ///< tls.key_file, with cert_file
  std::string username;
  std::string password_file;  ///< first line is the password; never logged
  bool operator==(const ClusterEtcdSettings&) const = default;
};

/// `cluster.peer_http`: how this member authenticates to its peers' HTTP port when it calls
/// them on its own behalf (the failsafe question; a /probe forward whose caller sent no
/// credentials), for a port protected by `collector.web_config_file`. In the shape of a
/// Prometheus scrape config's `basic_auth` and `tls_config`.
struct ClusterPeerHttpSettings {
  std::string username;  ///< basic_auth.username; empty = no basic auth
  std::string
      password_file;    ///< basic_auth.password_file: first line is the password; never logged
  std::string ca_file;  ///< tls_config.ca_file; empty = the system's CAs
  bool operator==(const ClusterPeerHttpSettings&) const = default;
};

/// The whole `cluster:` section with defaults applied (scale-out.md §6.4).
struct ClusterSettings {
  std::string name;  ///< required unless membership is none; etcd prefix and `cluster` label
  ClusterMembership membership = ClusterMembership::kNone;
  std::uint32_t buckets = 16384;  ///< fixed for the life of the cluster
  std::string zone_label;         ///< host label restricting owners to that zone; empty = none
  unsigned min_members = 0;       ///< wait-for-size before claiming; 0 = off
  std::chrono::milliseconds min_members_timeout{120'000};
  std::uint64_t max_hosts = 0;  ///< per-member cap; 0 = unlimited
  ClusterStandby standby = ClusterStandby::kNone;
  bool failsafe = true;
  std::chrono::milliseconds drain_timeout{60'000};
  std::chrono::milliseconds settle{2'000};
  std::chrono::milliseconds handover_warm_timeout{30'000};
  std::chrono::milliseconds fence_margin{2'000};
  ClusterEtcdSettings etcd;
  ClusterPeerHttpSettings peer_http;
  std::vector<ClusterMember> static_members;  ///< `cluster.static.members`, in file order

  [[nodiscard]] bool Clustered() const noexcept { return membership != ClusterMembership::kNone; }
  /// The static member called `member`, or nullptr.
  [[nodiscard]] const ClusterMember* StaticMember(std::string_view member) const noexcept {
    for (const auto& m : static_members) {
      if (m.name == member) return &m;
    }
    return nullptr;
  }
  bool operator==(const ClusterSettings&) const = default;
};

/// A member name: 1-63 of [A-Za-z0-9._-], starting with a letter or digit (it becomes an etcd key
/// part and a label value). The problem, or nullopt.
[[nodiscard]] std::optional<std::string> CheckClusterMemberName(std::string_view name);

/// An advertise URL or etcd endpoint: `http://host:port` or `https://host:port`, nothing after
/// the port but an optional `/`. The problem, or nullopt.
[[nodiscard]] std::optional<std::string> CheckClusterUrl(std::string_view url);

/// The `host:port` part of a URL that passed CheckClusterUrl.
[[nodiscard]] std::string_view ClusterUrlHostPort(std::string_view url) noexcept;

}  // namespace fleetps::config
