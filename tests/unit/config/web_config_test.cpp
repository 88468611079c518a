#include "fleetps/config/web_config.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "fleetps/config/load.hpp"

namespace fleetps::config {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::Pair;

std::vector<std::string> Messages(const WebConfigResult& result) {
  std::vector<std::string> out;
  for (const Diagnostic& d : result.diagnostics) out.push_back(d.ToString());
  return out;
}

// The hash of exporter-toolkit's example user alice (docs/web-config.yml).
constexpr const char* kHash = "$2y$10$mDwo.lAisC94iLAyP81MCesa29IzH37oigHC/42V2pdJlUprsJPze";

TEST(ConfigWebConfigTest, ReadsEverySettingFleetpsHonours) {
  const WebConfigResult result = LoadWebConfigFromString(
      "tls_server_config:\n"
      "  cert_file: /etc/fleetps/server.crt\n"
      "  key_file: /etc/fleetps/server.key\n"
      "  client_auth_type: RequireAndVerifyClientCert\n"
      "  client_ca_file: /etc/fleetps/clients.crt\n"
      "  client_allowed_sans: [prom.example]\n"
      "  min_version: TLS13\n"
      "  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]\n"
      "  curve_preferences: [X25519]\n"
      "  prefer_server_cipher_suites: false\n"
      "http_server_config:\n"
      "  headers: {X-Frame-Options: deny, Content-Security-Policy: \"\"}\n"
      "basic_auth_users:\n"
      "  alice: " +
          std::string(kHash) + "\n",
      "web.yml");
  ASSERT_THAT(Messages(result), IsEmpty());
  const WebConfig& web = *result.config;
  ASSERT_TRUE(web.tls.has_value());
  EXPECT_EQ(web.tls->cert_file, "/etc/fleetps/server.crt");
  EXPECT_EQ(web.tls->client_auth_type, ClientAuthType::kRequireAndVerifyClientCert);
  EXPECT_EQ(web.tls->client_ca_file, "/etc/fleetps/clients.crt");
  EXPECT_THAT(web.tls->client_allowed_sans, ElementsAre("prom.example"));
  EXPECT_EQ(web.tls->min_version, TlsVersion::kTls13);
  EXPECT_EQ(web.tls->max_version, TlsVersion::kTls13);
  EXPECT_THAT(web.tls->cipher_suites, ElementsAre("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"));
  EXPECT_THAT(web.tls->curve_preferences, ElementsAre("X25519"));
  EXPECT_FALSE(web.tls->prefer_server_cipher_suites);
  // A blank header value means unset, as in exporter-toolkit.
  EXPECT_THAT(web.headers, ElementsAre(Pair("X-Frame-Options", "deny")));
  EXPECT_THAT(web.basic_auth_users, ElementsAre(Pair("alice", kHash)));
}

TEST(ConfigWebConfigTest, DefaultsAreTls12AndNoClientCert) {
  const WebConfigResult result =
      LoadWebConfigFromString("tls_server_config: {cert_file: a.crt, key_file: a.key}\n", "w");
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result.config->tls->min_version, TlsVersion::kTls12);
  EXPECT_EQ(result.config->tls->client_auth_type, ClientAuthType::kNoClientCert);
  EXPECT_TRUE(result.config->tls->prefer_server_cipher_suites);
  EXPECT_TRUE(result.config->basic_auth_users.empty());
}

TEST(ConfigWebConfigTest, NeverEchoesAPasswordOrKey) {
  const WebConfigResult result = LoadWebConfigFromString(
      "basic_auth_users:\n  prometheus: 'correct horse battery'\n", "web.yml");
  EXPECT_THAT(Messages(result),
              ElementsAre(AllOf(HasSubstr("web.yml:2:15: the password of \"prometheus\" is not a "
                                          "bcrypt hash"),
                                Not(HasSubstr("horse")))));
}

TEST(ConfigWebConfigTest, RelativeFilesAreResolvedAgainstTheWebConfigsDirectory) {
  const auto dir = std::filesystem::temp_directory_path() / "fleetps_web_config_test";
  std::filesystem::create_directories(dir);
  const auto path = (dir / "web.yml").string();
  std::ofstream(path) << "tls_server_config: {cert_file: tls/s.crt, key_file: /abs/s.key}\n";
  const WebConfigResult result = LoadWebConfigFile(path);
  ASSERT_TRUE(result.ok()) << ::testing::PrintToString(Messages(result));
  EXPECT_EQ(result.config->tls->cert_file, (dir / "tls/s.crt").string());
  EXPECT_EQ(result.config->tls->key_file, "/abs/s.key");
  std::filesystem::remove_all(dir);
}

TEST(ConfigWebConfigTest, UnreadableFileIsOneDiagnosticWithoutPosition) {
  const WebConfigResult result = LoadWebConfigFile("/nonexistent/web.yml");
  EXPECT_THAT(Messages(result),
              ElementsAre("/nonexistent/web.yml:0:0: cannot read file: No such file or directory"));
}

TEST(ConfigWebConfigTest, BcryptHashShape) {
  EXPECT_TRUE(IsBcryptHash(kHash));
  EXPECT_TRUE(IsBcryptHash("$2a$04$mDwo.lAisC94iLAyP81MCesa29IzH37oigHC/42V2pdJlUprsJPze"));
  EXPECT_TRUE(IsBcryptHash("$2b$31$mDwo.lAisC94iLAyP81MCesa29IzH37oigHC/42V2pdJlUprsJPze"));
  EXPECT_FALSE(IsBcryptHash("$2x$10$mDwo.lAisC94iLAyP81MCesa29IzH37oigHC/42V2pdJlUprsJPze"));
  EXPECT_FALSE(IsBcryptHash("$2y$03$mDwo.lAisC94iLAyP81MCesa29IzH37oigHC/42V2pdJlUprsJPze"));
  EXPECT_FALSE(IsBcryptHash("$2y$32$mDwo.lAisC94iLAyP81MCesa29IzH37oigHC/42V2pdJlUprsJPze"));
  EXPECT_FALSE(IsBcryptHash("$2y$10$mDwo.lAisC94iLAyP81MCesa29IzH37oigHC/42V2pdJlUprsJPz"));
  EXPECT_FALSE(IsBcryptHash("$2y$10$mDwo.lAisC94iLAyP81MCesa29IzH37oigHC/42V2pdJlUprsJPz!"));
  EXPECT_FALSE(IsBcryptHash("$6$salt$hash"));
}

TEST(ConfigWebConfigTest, InventoryResolvesWebConfigFileAgainstItsDirectory) {
  const auto dir = std::filesystem::temp_directory_path() / "fleetps_web_config_inventory_test";
  std::filesystem::create_directories(dir);
  const auto path = (dir / "fleet.yaml").string();
  std::ofstream(path) << "collector: {web_config_file: web.yml}\n"
                         "defaults: {user: mon, identity_file: /k}\nhosts: [{name: a}]\n";
  const LoadResult result = LoadInventoryFile(path);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result.inventory->collector.web_config_file, (dir / "web.yml").string());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace fleetps::config
