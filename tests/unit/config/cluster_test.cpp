// The `cluster:` section: defaults, every key, and the cross-checks with file:line:col.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "fleetps/config/cluster.hpp"
#include "fleetps/config/diff.hpp"
#include "fleetps/config/load.hpp"
#include "fleetps/config/secret_file.hpp"

namespace fleetps::config {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

constexpr std::string_view kHosts = "hosts:\n  - {name: a, user: u, use_ssh_agent: true}\n";

LoadResult LoadCluster(std::string_view cluster) {
  return LoadInventoryFromString(std::string(cluster) + std::string(kHosts), "c.yaml");
}

std::string Diagnostics(const LoadResult& result) {
  std::string out;
  for (const Diagnostic& d : result.diagnostics) out += d.ToString() + "\n";
  return out;
}

TEST(ClusterConfigTest, AbsentMeansNotClusteredWithDefaults) {
  const LoadResult result = LoadCluster("");
  ASSERT_TRUE(result.ok()) << Diagnostics(result);
  const ClusterSettings& c = result.inventory->cluster;
  EXPECT_FALSE(c.Clustered());
  EXPECT_EQ(c.buckets, 16384u);
  EXPECT_TRUE(c.failsafe);
  EXPECT_EQ(c.etcd.lease_ttl, 10s);
  EXPECT_EQ(c.etcd.request_timeout, 2s);
  EXPECT_EQ(c.fence_margin, 2s);
  EXPECT_EQ(c.settle, 2s);
  EXPECT_EQ(c.drain_timeout, 60s);
  EXPECT_EQ(c.handover_warm_timeout, 30s);
  EXPECT_EQ(c.min_members_timeout, 2min);
}

TEST(ClusterConfigTest, ReadsEveryKey) {
  const LoadResult result = LoadCluster(R"(cluster:
  name: prod
  membership: static
  buckets: 4096
  zone_label: dc
  min_members: 2
  min_members_timeout: 1m
  max_hosts: 15000
  standby: none
  failsafe: false
  drain_timeout: 30s
  settle: 1s
  handover_warm_timeout: 10s
  fence_margin: 3s
  etcd:
    endpoints: [http://127.0.0.1:2379, http://etcd2:2379/]
    lease_ttl: 20s
    username: fleetps
    password_file: /dev/null
  static:
    members:
      - {name: collector-a, advertise: http://10.0.0.11:9732}
      - {name: collector-b, advertise: "https://[::1]:9733", weight: 2, zone: dc1}
)");
  ASSERT_TRUE(result.ok()) << Diagnostics(result);
  const ClusterSettings& c = result.inventory->cluster;
  EXPECT_EQ(c.name, "prod");
  EXPECT_EQ(c.membership, ClusterMembership::kStatic);
  EXPECT_EQ(c.buckets, 4096u);
  EXPECT_EQ(c.zone_label, "dc");
  EXPECT_EQ(c.min_members, 2u);
  EXPECT_EQ(c.min_members_timeout, 1min);
  EXPECT_EQ(c.max_hosts, 15000u);
  EXPECT_EQ(c.standby, ClusterStandby::kNone);  // warm is refused (StandbyWarmIsRefused)
  EXPECT_FALSE(c.failsafe);
  EXPECT_EQ(c.drain_timeout, 30s);
  EXPECT_EQ(c.settle, 1s);
  EXPECT_EQ(c.handover_warm_timeout, 10s);
  EXPECT_EQ(c.fence_margin, 3s);
  EXPECT_EQ(c.etcd.endpoints.size(), 2u);
  EXPECT_EQ(c.etcd.lease_ttl, 20s);
  EXPECT_EQ(c.etcd.request_timeout, 4s);  // lease_ttl / 5 when not set
  EXPECT_EQ(c.etcd.username, "fleetps");
  ASSERT_EQ(c.static_members.size(), 2u);
  EXPECT_EQ(c.static_members[1].name, "collector-b");
  EXPECT_EQ(c.static_members[1].advertise, "https://[::1]:9733");
  EXPECT_EQ(c.static_members[1].weight, 2u);
  EXPECT_EQ(c.static_members[1].zone, "dc1");
  EXPECT_EQ(c.StaticMember("collector-a")->weight, 1u);
  EXPECT_EQ(c.StaticMember("nobody"), nullptr);
}

TEST(ClusterConfigTest, StaticNeedsMembersAndName) {
  const LoadResult result = LoadCluster("cluster:\n  membership: static\n");
  const std::string text = Diagnostics(result);
  EXPECT_THAT(text, HasSubstr("c.yaml:2:15: membership static needs at least one member"));
  EXPECT_THAT(text, HasSubstr("c.yaml:2:3: missing required key \"name\" in cluster"));
}

TEST(ClusterConfigTest, EtcdNeedsEndpoints) {
  const LoadResult result = LoadCluster("cluster:\n  name: p\n  membership: etcd\n");
  EXPECT_THAT(Diagnostics(result),
              HasSubstr("c.yaml:3:15: membership etcd needs cluster.etcd.endpoints"));
}

TEST(ClusterConfigTest, EtcdRefusesZoneLabel) {
  // Zones are applied by static membership only: etcd would accept the key and ignore it.
  const LoadResult result = LoadCluster(
      "cluster:\n  name: p\n  membership: etcd\n  zone_label: dc\n"
      "  etcd: {endpoints: [http://h:1]}\n");
  EXPECT_FALSE(result.ok());
  EXPECT_THAT(Diagnostics(result),
              HasSubstr("c.yaml:4:15: cluster.zone_label is applied with membership static only "
                        "for now: membership etcd would ignore it"));
  const LoadResult fine = LoadCluster(
      "cluster:\n  name: p\n  membership: static\n  zone_label: dc\n"
      "  static: {members: [{name: a, advertise: http://h:1, zone: dc1}]}\n");
  EXPECT_TRUE(fine.ok()) << Diagnostics(fine);
}

TEST(ClusterConfigTest, StandbyWarmIsRefused) {
  // Warm standby is not built: the key must not be accepted and ignored.
  const LoadResult result = LoadCluster(
      "cluster:\n  name: p\n  membership: static\n  standby: warm\n"
      "  static: {members: [{name: a, advertise: http://h:1}]}\n");
  EXPECT_FALSE(result.ok());
  EXPECT_THAT(Diagnostics(result),
              HasSubstr("c.yaml:4:12: cluster.standby: warm is not implemented yet"));
}

TEST(ClusterConfigTest, ABadEndpointIsReportedAlone) {
  const LoadResult result = LoadCluster(
      "cluster:\n  name: p\n  membership: etcd\n  etcd: {endpoints: [http://h:1, ftp://x:1]}\n");
  const std::string text = Diagnostics(result);
  EXPECT_THAT(text, HasSubstr("c.yaml:4:34: expected http://host:port or https://host:port"));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("needs cluster.etcd.endpoints")));
}

TEST(ClusterConfigTest, TimingRuleIsChecked) {
  // 10/3 + 2 x 3 = 9.33 > 10 - 2
  const LoadResult result = LoadCluster(R"(cluster:
  name: p
  membership: etcd
  etcd:
    endpoints: [http://127.0.0.1:2379]
    lease_ttl: 10s
    request_timeout: 3s
)");
  EXPECT_THAT(Diagnostics(result),
              HasSubstr("c.yaml:6:16: lease timing: lease_ttl/3 + 2 x request_timeout (3s333ms + 2 "
                        "x 3s) must not exceed lease_ttl - fence_margin (10s - 2s)"));
  // The same with a larger TTL passes: 30/3 + 2 x 3 = 16 <= 28.
  const LoadResult ok = LoadCluster(R"(cluster:
  name: p
  membership: etcd
  etcd: {endpoints: [http://127.0.0.1:2379], lease_ttl: 30s, request_timeout: 3s}
)");
  EXPECT_TRUE(ok.ok()) << Diagnostics(ok);
}

TEST(ClusterConfigTest, LeaseTtlBounds) {
  EXPECT_THAT(Diagnostics(LoadCluster("cluster: {etcd: {lease_ttl: 4s}}\n")),
              HasSubstr("c.yaml:1:29:"));
  EXPECT_FALSE(LoadCluster("cluster: {etcd: {lease_ttl: 61s}}\n").ok());
  EXPECT_TRUE(LoadCluster("cluster: {etcd: {lease_ttl: 60s}}\n").ok());
}

TEST(ClusterConfigTest, RejectsBadMembers) {
  const LoadResult result = LoadCluster(R"(cluster:
  name: p
  membership: static
  static:
    members:
      - {name: a, advertise: http://h:1}
      - {name: a, advertise: http://h:2}
      - {name: "bad name", advertise: http://h:3}
      - {name: c, advertise: ftp://h:4}
      - {name: d, advertise: http://h}
      - {name: e, advertise: http://h:5/path}
      - {name: f}
      - {name: g, advertise: http://h:1}
)");
  const std::string text = Diagnostics(result);
  EXPECT_THAT(text, HasSubstr("c.yaml:7:16: duplicate member name \"a\""));
  EXPECT_THAT(text, HasSubstr("c.yaml:8:16: invalid member name \"bad name\""));
  EXPECT_THAT(text, HasSubstr("c.yaml:9:30: expected http://host:port or https://host:port"));
  EXPECT_THAT(text, HasSubstr("c.yaml:10:30: in \"http://h\": expected host:port"));
  EXPECT_THAT(text, HasSubstr("c.yaml:11:30: expected nothing after host:port"));
  EXPECT_THAT(text, HasSubstr("c.yaml:12:9: missing required key \"advertise\""));
  EXPECT_THAT(text, HasSubstr("c.yaml:13:30: two members advertise \"http://h:1\""));
}

TEST(ClusterConfigTest, UnreadableSecretFilesAreReported) {
  const LoadResult result = LoadCluster(R"(cluster:
  etcd:
    username: u
    password_file: /nonexistent/pass
    tls: {ca_file: /nonexistent/ca.pem, cert_file: /dev/null}
)");
  const std::string text = Diagnostics(result);
  EXPECT_THAT(text, HasSubstr("c.yaml:4:20: password_file \"/nonexistent/pass\" cannot be read"));
  EXPECT_THAT(text, HasSubstr("c.yaml:5:20: ca_file \"/nonexistent/ca.pem\" cannot be read"));
  EXPECT_THAT(text, HasSubstr("c.yaml:5:10: cluster.etcd.tls needs cert_file and key_file"));
}

TEST(ClusterConfigTest, TlsToEtcdIsRefusedUntilSupported) {
  const LoadResult result = LoadCluster(R"(cluster:
  etcd:
    endpoints: [https://etcd1:2379]
    tls: {ca_file: /dev/null}
)");
  const std::string text = Diagnostics(result);
  EXPECT_THAT(text, HasSubstr("c.yaml:3:17: TLS to etcd is not supported yet"));
  EXPECT_THAT(text, HasSubstr("c.yaml:4:10: TLS to etcd is not supported yet"));
}

TEST(ClusterConfigTest, UnknownKeysGetHints) {
  EXPECT_THAT(Diagnostics(LoadCluster("cluster: {membersip: static}\n")),
              HasSubstr("did you mean \"membership\"?"));
  EXPECT_THAT(Diagnostics(LoadCluster("cluster: {membership: statc}\n")),
              HasSubstr("did you mean \"static\"?"));
}

TEST(ClusterConfigTest, SectionIsPartOfTheDiff) {
  const auto before = LoadCluster(R"(cluster:
  name: p
  membership: static
  static: {members: [{name: a, advertise: http://h:1}, {name: b, advertise: http://h:2}]}
)");
  const auto after = LoadCluster(R"(cluster:
  name: p
  membership: static
  static: {members: [{name: a, advertise: http://h:1}]}
)");
  ASSERT_TRUE(before.ok() && after.ok());
  EXPECT_TRUE(DiffInventories(*before.inventory, *after.inventory).cluster_changed);
  EXPECT_FALSE(DiffInventories(*before.inventory, *after.inventory).collector_changed);
  EXPECT_TRUE(DiffInventories(*before.inventory, *before.inventory).empty());
}

// A web config written to a temporary file for the cluster.peer_http cross-checks; removed with
// the object.
class TempWebConfig {
 public:
  explicit TempWebConfig(std::string_view yaml) {
    std::string pattern = (std::filesystem::temp_directory_path() / "peerauth-XXXXXX").string();
    const int fd = mkstemp(pattern.data());
    EXPECT_GE(fd, 0);
    if (fd >= 0) close(fd);
    path_ = pattern;
    std::ofstream(path_) << yaml;
  }
  ~TempWebConfig() { std::filesystem::remove(path_); }
  TempWebConfig(const TempWebConfig&) = delete;
  TempWebConfig& operator=(const TempWebConfig&) = delete;
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  std::string path_;
};

constexpr std::string_view kBasicAuthWeb =
    "basic_auth_users:\n  alice: $2y$10$mDwo.lAisC94iLAyP81MCesa29IzH37oigHC/42V2pdJlUprsJPze\n";

// A static cluster behind `web`, with `peer_http` (indented under cluster) appended.
LoadResult LoadPeerCluster(const TempWebConfig& web, std::string_view peer_http) {
  return LoadCluster("collector: {web_config_file: " + web.path() + R"(}
cluster:
  name: p
  membership: static
  static: {members: [{name: a, advertise: http://h:1}]}
)" + std::string(peer_http));
}

TEST(ClusterConfigTest, ReadsPeerHttp) {
  const LoadResult result = LoadCluster(R"(cluster:
  peer_http:
    basic_auth: {username: fleetps, password_file: /dev/null}
    tls_config: {ca_file: /dev/null}
)");
  ASSERT_TRUE(result.ok()) << Diagnostics(result);
  const ClusterPeerHttpSettings& peer = result.inventory->cluster.peer_http;
  EXPECT_EQ(peer.username, "fleetps");
  EXPECT_EQ(peer.password_file, "/dev/null");
  EXPECT_EQ(peer.ca_file, "/dev/null");
}

TEST(ClusterConfigTest, BasicAuthOnThePortNeedsPeerCredentials) {
  const TempWebConfig web(kBasicAuthWeb);
  const LoadResult missing = LoadPeerCluster(web, "");
  EXPECT_FALSE(missing.ok());
  EXPECT_THAT(Diagnostics(missing),
              HasSubstr("c.yaml:2:1: collector.web_config_file turns basic auth on "
                        "(basic_auth_users): members ask each other (failsafe, /probe "
                        "forwarding) and need cluster.peer_http.basic_auth"));
  const LoadResult unknown_user = LoadPeerCluster(
      web, "  peer_http:\n    basic_auth: {username: bob, password_file: /dev/null}\n");
  EXPECT_THAT(Diagnostics(unknown_user),
              HasSubstr("c.yaml:7:28: user \"bob\" is not in the basic_auth_users of "
                        "collector.web_config_file"));
  const LoadResult good = LoadPeerCluster(
      web, "  peer_http:\n    basic_auth: {username: alice, password_file: /dev/null}\n");
  EXPECT_TRUE(good.ok()) << Diagnostics(good);
  // Not clustered: nobody asks a peer, nothing to check.
  const LoadResult alone = LoadCluster("collector: {web_config_file: " + web.path() + "}\n");
  EXPECT_TRUE(alone.ok()) << Diagnostics(alone);
}

TEST(ClusterConfigTest, RequiredClientCertificatesAreRefusedForAClusteredPort) {
  const TempWebConfig required(R"(tls_server_config:
  cert_file: s.crt
  key_file: s.key
  client_ca_file: ca.crt
  client_auth_type: RequireAndVerifyClientCert
)");
  const LoadResult refused = LoadPeerCluster(required, "  peer_http: {}\n");
  EXPECT_THAT(Diagnostics(refused),
              HasSubstr("c.yaml:6:3: collector.web_config_file requires client certificates "
                        "(client_auth_type RequireAndVerifyClientCert): members ask each other"));
  const TempWebConfig optional(R"(tls_server_config:
  cert_file: s.crt
  key_file: s.key
  client_ca_file: ca.crt
  client_auth_type: VerifyClientCertIfGiven
)");
  const LoadResult accepted = LoadPeerCluster(optional, "");
  EXPECT_TRUE(accepted.ok()) << Diagnostics(accepted);
}

TEST(ClusterConfigTest, PeerHttpIsPartOfTheDiff) {
  const auto before = LoadCluster("cluster: {peer_http: {tls_config: {ca_file: /dev/null}}}\n");
  const auto after = LoadCluster("cluster: {peer_http: {tls_config: {ca_file: /dev/zero}}}\n");
  ASSERT_TRUE(before.ok() && after.ok());
  EXPECT_TRUE(DiffInventories(*before.inventory, *after.inventory).cluster_changed);
}

TEST(ClusterConfigTest, UrlHelpers) {
  EXPECT_EQ(CheckClusterUrl("http://127.0.0.1:9732"), std::nullopt);
  EXPECT_NE(CheckClusterUrl("http://127.0.0.1:0"), std::nullopt);
  EXPECT_EQ(ClusterUrlHostPort("https://h:1/"), "h:1");
  EXPECT_EQ(CheckClusterMemberName("fleetps-2"), std::nullopt);
  EXPECT_NE(CheckClusterMemberName("-x"), std::nullopt);
  EXPECT_NE(CheckClusterMemberName(std::string(64, 'a')), std::nullopt);
}

}  // namespace
// The password files of cluster.etcd, cluster.peer_http and the CLI's --password-file: the first
// line, without a CR a Windows editor left; nothing for a missing or empty file.
TEST(SecretFileTest, ReadsTheFirstLineWithoutItsLineEnd) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("fleetps-secret-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto write = [&dir](const std::string& name, const std::string& text) {
    std::ofstream(dir / name) << text;
    return (dir / name).string();
  };
  EXPECT_EQ(ReadSecretLine(write("unix", "s3cret\nsecond line\n")), "s3cret");
  EXPECT_EQ(ReadSecretLine(write("windows", "s3cret\r\n")), "s3cret");
  EXPECT_EQ(ReadSecretLine(write("no-newline", "s3cret")), "s3cret");
  EXPECT_EQ(ReadSecretLine(write("empty", "")), std::nullopt);
  EXPECT_EQ(ReadSecretLine((dir / "absent").string()), std::nullopt);
  std::filesystem::remove_all(dir);
}

}  // namespace fleetps::config
