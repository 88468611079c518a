// The inventory loader's reading of the `cluster:` section (scale-out.md §7.1) and its
// cross-checks: the lease timing rule, the member list's shape, readable TLS and password files.
// It opens no connection.
#include <optional>
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <fstream>
#include <set>
#include <string>

#include "checks.hpp"
#include "fleetps/config/cluster.hpp"
#include "fleetps/config/units.hpp"
#include "fleetps/config/web_config.hpp"
#include "loader.hpp"

namespace fleetps::config::detail {
namespace {

using namespace std::chrono_literals;

const KeyList kMembershipChoices{"none", "static", "etcd"};
const KeyList kStandbyChoices{"none", "warm"};

}  // namespace

void Loader::CheckReadableFile(const std::string& path, Pos pos, std::string_view what) {
  std::ifstream file(path);
  if (!file) Report(pos, std::string(what) + " " + Quote(path) + " cannot be read");
}

void Loader::ParseCluster(const YAML::Node& value, Pos pos) {
  if (value.IsNull()) return;
  if (!value.IsMap()) {
    Report(pos, "expected a mapping, got " + Describe(value));
    return;
  }
  ClusterSettings& c = inventory_.cluster;
  peer_http_pos_ = cluster_pos_;
  Pos membership_pos = pos;
  Pos fence_margin_pos = pos;
  Pos lease_ttl_pos = pos;
  Pos etcd_pos = pos;
  Pos static_pos = pos;
  Pos zone_label_pos = pos;
  std::optional<Pos> standby_pos;  // where `standby: warm` was written
  bool name_set = false;
  bool request_timeout_set = false;
  bool endpoints_written = false;
  bool membership_valid = true;
  ForEachKey(value, "in cluster", &kClusterKeys,
             [&](const std::string& key, const YAML::Node& key_node, const YAML::Node& v) {
               const Pos p = ValuePos(key_node, v);
               if (key == "name") {
                 name_set = true;
                 if (auto name = Checked(v, p, "a cluster name", CheckClusterMemberName)) {
                   c.name = *name;
                 }
               } else if (key == "membership") {
                 membership_pos = p;
                 if (auto m = Enum(v, p, kMembershipChoices)) {
                   c.membership = *m == "static" ? ClusterMembership::kStatic
                                  : *m == "etcd" ? ClusterMembership::kEtcd
                                                 : ClusterMembership::kNone;
                 } else {
                   membership_valid = false;
                 }
               } else if (key == "buckets") {
                 if (auto n = Unsigned(v, p, 64, 1u << 20))
                   c.buckets = static_cast<std::uint32_t>(*n);
               } else if (key == "zone_label") {
                 zone_label_pos = p;
                 if (auto label = Checked(v, p, "a label name", CheckLabelName))
                   c.zone_label = *label;
               } else if (key == "min_members") {
                 if (auto n = Unsigned(v, p, 0, 1000)) c.min_members = static_cast<unsigned>(*n);
               } else if (key == "min_members_timeout") {
                 if (auto d = Duration(v, p, 0s, 24h, true)) c.min_members_timeout = *d;
               } else if (key == "max_hosts") {
                 if (auto n = Unsigned(v, p, 0, 100'000'000)) c.max_hosts = *n;
               } else if (key == "standby") {
                 if (auto s = Enum(v, p, kStandbyChoices)) {
                   c.standby = *s == "warm" ? ClusterStandby::kWarm : ClusterStandby::kNone;
                   if (c.standby == ClusterStandby::kWarm) standby_pos = p;
                 }
               } else if (key == "failsafe") {
                 if (auto b = Bool(v, p)) c.failsafe = *b;
               } else if (key == "drain_timeout") {
                 if (auto d = Duration(v, p, 1s, 1h)) c.drain_timeout = *d;
               } else if (key == "settle") {
                 if (auto d = Duration(v, p, 0s, 10min, true)) c.settle = *d;
               } else if (key == "handover_warm_timeout") {
                 if (auto d = Duration(v, p, 1s, 1h)) c.handover_warm_timeout = *d;
               } else if (key == "fence_margin") {
                 fence_margin_pos = p;
                 if (auto d = Duration(v, p, 1s, 1min)) c.fence_margin = *d;
               } else if (key == "etcd") {
                 etcd_pos = p;
                 ParseClusterEtcd(v, p, lease_ttl_pos, request_timeout_set, endpoints_written);
               } else if (key == "static") {
                 static_pos = p;
                 ParseClusterStatic(v, p);
               } else if (key == "peer_http") {
                 peer_http_pos_ = PosOf(key_node);
                 ParseClusterPeerHttp(v, p);
               }
             });
  if (!request_timeout_set) c.etcd.request_timeout = c.etcd.lease_ttl / 5;
  if (!membership_valid || !c.Clustered()) return;

  if (!name_set) Report(pos, "missing required key \"name\" in cluster (membership is not none)");
  if (c.membership == ClusterMembership::kStatic && c.static_members.empty()) {
    Report(static_pos == pos ? membership_pos : static_pos,
           "membership static needs at least one member in cluster.static.members");
  }
  if (c.membership == ClusterMembership::kEtcd && !endpoints_written) {
    Report(etcd_pos == pos ? membership_pos : etcd_pos,
           "membership etcd needs cluster.etcd.endpoints (http(s)://host:port each)");
  }
  // Zones are applied by the static view only (the etcd engine's claims are per bucket, not per
  // (zone, bucket)): a zone_label that etcd membership would silently ignore is refused.
  if (c.membership == ClusterMembership::kEtcd && !c.zone_label.empty()) {
    Report(zone_label_pos,
           "cluster.zone_label is applied with membership static only for now: membership etcd "
           "would ignore it and let any member own any host; remove zone_label or use "
           "membership static");
  }
  // Warm standby (scale-out.md §6.5) is not built: refused rather than accepted and ignored.
  if (standby_pos) {
    Report(*standby_pos,
           "cluster.standby: warm is not implemented yet (no member keeps sessions to hosts it "
           "does not own); remove it or write standby: none");
  }
  // Patroni's rule: a member that renews every TTL/3 and retries a failed renewal twice must
  // still be inside its lease, minus the fence margin, when it gives up.
  const auto keepalive = c.etcd.lease_ttl / 3;
  if (c.membership == ClusterMembership::kEtcd &&
      keepalive + 2 * c.etcd.request_timeout > c.etcd.lease_ttl - c.fence_margin) {
    Report(lease_ttl_pos == pos ? fence_margin_pos : lease_ttl_pos,
           "lease timing: lease_ttl/3 + 2 x request_timeout (" + FormatDuration(keepalive) +
               " + 2 x " + FormatDuration(c.etcd.request_timeout) +
               ") must not exceed lease_ttl - fence_margin (" + FormatDuration(c.etcd.lease_ttl) +
               " - " + FormatDuration(c.fence_margin) +
               "); lower request_timeout or fence_margin, or raise lease_ttl");
  }
}

void Loader::ParseClusterEtcd(const YAML::Node& value, Pos pos, Pos& lease_ttl_pos,
                              bool& request_timeout_set, bool& endpoints_written) {
  if (value.IsNull()) return;
  if (!value.IsMap()) {
    Report(pos, "expected a mapping, got " + Describe(value));
    return;
  }
  // The etcd client speaks plain HTTP only so far; say so here rather than at the first request.
  static constexpr const char* kNoEtcdTls =
      "TLS to etcd is not supported yet: use http:// endpoints that only the collectors can "
      "reach (a private network, or a local TLS proxy such as stunnel)";
  ClusterEtcdSettings& e = inventory_.cluster.etcd;
  ForEachKey(value, "in cluster.etcd", &kClusterEtcdKeys,
             [&](const std::string& key, const YAML::Node& key_node, const YAML::Node& v) {
               const Pos p = ValuePos(key_node, v);
               if (key == "endpoints") {
                 endpoints_written = true;
                 std::set<std::string> seen;
                 auto list = List(v, p, "etcd endpoints", false,
                                  [&](const std::string& item, const YAML::Node& item_node) {
                                    if (auto problem = CheckClusterUrl(item)) {
                                      Report(PosOf(item_node), *problem);
                                      return false;
                                    }
                                    if (item.starts_with("https://")) {
                                      Report(PosOf(item_node), kNoEtcdTls);
                                      return false;
                                    }
                                    if (!seen.insert(item).second) {
                                      Report(PosOf(item_node), "duplicate endpoint " + Quote(item));
                                      return false;
                                    }
                                    return true;
                                  });
                 if (list) e.endpoints = std::move(*list);
               } else if (key == "lease_ttl") {
                 lease_ttl_pos = p;
                 if (auto d = Duration(v, p, 5s, 60s)) e.lease_ttl = *d;
               } else if (key == "request_timeout") {
                 request_timeout_set = true;
                 if (auto d = Duration(v, p, 100ms, 30s)) e.request_timeout = *d;
               } else if (key == "username") {
                 if (auto user = Checked(v, p, "a user name", CheckUser)) e.username = *user;
               } else if (key == "password_file") {
                 if (auto path = Path(v, p)) {
                   e.password_file = *path;
                   CheckReadableFile(*path, p, "password_file");
                 }
               } else if (key == "tls") {
                 if (v.IsNull()) return;
                 Report(p, kNoEtcdTls);
                 if (!v.IsMap()) {
                   Report(p, "expected a mapping, got " + Describe(v));
                   return;
                 }
                 ForEachKey(v, "in cluster.etcd.tls", &kClusterTlsKeys,
                            [&](const std::string& tls_key, const YAML::Node& tls_key_node,
                                const YAML::Node& tv) {
                              const Pos tp = ValuePos(tls_key_node, tv);
                              auto path = Path(tv, tp);
                              if (!path) return;
                              CheckReadableFile(*path, tp, tls_key);
                              (tls_key == "ca_file"     ? e.ca_file
                               : tls_key == "cert_file" ? e.cert_file
                                                        : e.key_file) = *path;
                            });
                 if (e.cert_file.empty() != e.key_file.empty()) {
                   Report(p, "cluster.etcd.tls needs cert_file and key_file together");
                 }
               }
             });
  if (!e.username.empty() && e.password_file.empty()) {
    Report(pos, "cluster.etcd.username needs password_file");
  }
}

void Loader::ParseClusterStatic(const YAML::Node& value, Pos pos) {
  if (value.IsNull()) return;
  if (!value.IsMap()) {
    Report(pos, "expected a mapping with \"members\", got " + Describe(value));
    return;
  }
  auto& members = inventory_.cluster.static_members;
  ForEachKey(
      value, "in cluster.static", &kClusterStaticKeys,
      [&](const std::string&, const YAML::Node& key_node, const YAML::Node& v) {
        const Pos p = ValuePos(key_node, v);
        if (!v.IsSequence() || v.size() == 0) {
          Report(p, "expected a non-empty list of members, got " +
                        (v.IsSequence() ? std::string("an empty list") : Describe(v)));
          return;
        }
        std::set<std::string> names;
        std::set<std::string> advertised;
        for (const YAML::Node& node : v) {
          const Pos entry_pos = PosOf(node);
          if (!node.IsMap()) {
            Report(entry_pos, "expected a mapping with name and advertise, got " + Describe(node));
            continue;
          }
          ClusterMember member;
          bool ok = true;
          bool has_name = false;
          bool has_advertise = false;
          ForEachKey(node, "in a cluster member", &kClusterMemberKeys,
                     [&](const std::string& key, const YAML::Node& mk, const YAML::Node& mv) {
                       const Pos mp = ValuePos(mk, mv);
                       if (key == "name") {
                         has_name = true;
                         auto name = Checked(mv, mp, "a member name", CheckClusterMemberName);
                         if (name && !names.insert(*name).second) {
                           Report(mp, "duplicate member name " + Quote(*name));
                           name.reset();
                         }
                         if (name)
                           member.name = *name;
                         else
                           ok = false;
                       } else if (key == "advertise") {
                         has_advertise = true;
                         auto url = Checked(mv, mp, "an advertise URL", CheckClusterUrl);
                         if (url && !advertised.insert(*url).second) {
                           Report(mp, "two members advertise " + Quote(*url));
                           url.reset();
                         }
                         if (url)
                           member.advertise = *url;
                         else
                           ok = false;
                       } else if (key == "weight") {
                         if (auto n = Unsigned(mv, mp, 0, 1000)) {
                           member.weight = static_cast<std::uint32_t>(*n);
                         } else {
                           ok = false;
                         }
                       } else if (key == "zone") {
                         auto zone = Checked(mv, mp, "a zone", CheckLabelValue);
                         if (zone)
                           member.zone = *zone;
                         else
                           ok = false;
                       }
                     });
          if (!has_name) Report(entry_pos, "missing required key \"name\" in a cluster member");
          if (!has_advertise) {
            Report(entry_pos, "missing required key \"advertise\" in a cluster member");
          }
          if (ok && has_name && has_advertise) members.push_back(std::move(member));
        }
      });
}

void Loader::ParseClusterPeerHttp(const YAML::Node& value, Pos pos) {
  if (value.IsNull()) return;
  if (!value.IsMap()) {
    Report(pos, "expected a mapping, got " + Describe(value));
    return;
  }
  ClusterPeerHttpSettings& peer = inventory_.cluster.peer_http;
  ForEachKey(value, "in cluster.peer_http", &kClusterPeerHttpKeys,
             [&](const std::string& key, const YAML::Node& key_node, const YAML::Node& v) {
               const Pos p = ValuePos(key_node, v);
               if (v.IsNull()) return;
               if (!v.IsMap()) {
                 Report(p, "expected a mapping, got " + Describe(v));
                 return;
               }
               if (key == "basic_auth") {
                 bool has_username = false;
                 bool has_password_file = false;
                 ForEachKey(v, "in cluster.peer_http.basic_auth", &kClusterPeerBasicAuthKeys,
                            [&](const std::string& k, const YAML::Node& kn, const YAML::Node& bv) {
                              const Pos bp = ValuePos(kn, bv);
                              if (k == "username") {
                                has_username = true;
                                peer_username_pos_ = bp;
                                if (auto user = Checked(bv, bp, "a user name", CheckUser)) {
                                  peer.username = *user;
                                }
                              } else if (auto path = Path(bv, bp)) {
                                has_password_file = true;
                                peer.password_file = *path;
                                CheckReadableFile(*path, bp, "password_file");
                              } else {
                                has_password_file = true;
                              }
                            });
                 if (!has_username) {
                   Report(p, "missing required key \"username\" in cluster.peer_http.basic_auth");
                 }
                 if (!has_password_file) {
                   Report(p,
                          "missing required key \"password_file\" in cluster.peer_http.basic_auth");
                 }
               } else {
                 ForEachKey(v, "in cluster.peer_http.tls_config", &kClusterPeerTlsKeys,
                            [&](const std::string&, const YAML::Node& kn, const YAML::Node& tv) {
                              const Pos tp = ValuePos(kn, tv);
                              if (auto path = Path(tv, tp)) {
                                peer.ca_file = *path;
                                CheckReadableFile(*path, tp, "ca_file");
                              }
                            });
               }
             });
}

void Loader::CheckPeerHttp() {
  const ClusterSettings& c = inventory_.cluster;
  const std::string& web_path = inventory_.collector.web_config_file;
  if (!c.Clustered() || web_path.empty()) return;
  const WebConfigResult web = LoadWebConfigFile(web_path);
  if (!web.ok()) return;
  const WebConfig& w = *web.config;
  if (!w.basic_auth_users.empty()) {
    if (c.peer_http.username.empty()) {
      // A username written but rejected has been reported where it stands.
      if (peer_username_pos_ == Pos{})
        Report(peer_http_pos_,
               "collector.web_config_file turns basic auth on (basic_auth_users): members ask "
               "each other (failsafe, /probe forwarding) and need cluster.peer_http.basic_auth "
               "with one of its users");
    } else if (!w.basic_auth_users.contains(c.peer_http.username)) {
      Report(peer_username_pos_,
             "user " + Quote(c.peer_http.username) +
                 " is not in the basic_auth_users of collector.web_config_file");
    }
  }
  if (w.tls && (w.tls->client_auth_type == ClientAuthType::kRequireAnyClientCert ||
                w.tls->client_auth_type == ClientAuthType::kRequireAndVerifyClientCert)) {
    Report(peer_http_pos_,
           "collector.web_config_file requires client certificates (client_auth_type " +
               std::string(ClientAuthTypeName(w.tls->client_auth_type)) +
               "): members ask each other (failsafe, /probe forwarding) and have no client "
               "certificate to present; use VerifyClientCertIfGiven with basic auth instead");
  }
}

}  // namespace fleetps::config::detail
