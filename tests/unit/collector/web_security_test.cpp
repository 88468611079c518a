// The web config made into a TLS context and a gate: what fails to load, and how it is worded.
// (A working TLS context is exercised end to end by tests/e2e/web_config_e2e_test.py.)
#include "fleetps/collector/app/web_security.hpp"

#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace fleetps::collector {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(WebSecurityTest, UnreadableCertificateAndKeyFilesAreNamed) {
  config::TlsServerConfig tls;
  tls.cert_file = "/nonexistent/server.crt";
  tls.key_file = "/nonexistent/server.key";
  tls.cipher_suites = {"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_AES_128_GCM_SHA256"};
  tls.curve_preferences = {"X25519", "CurveP256"};
  const auto context = MakeServerTlsContext(tls);
  ASSERT_FALSE(context);
  // Only the files: the IANA cipher names map to OpenSSL's, the curves to its groups.
  EXPECT_THAT(context.error(),
              ElementsAre(HasSubstr("cannot use cert_file /nonexistent/server.crt: "),
                          HasSubstr("cannot use key_file /nonexistent/server.key: ")));
}

TEST(WebSecurityTest, InlinePemThatIsNotPemNeverEchoesTheKey) {
  config::TlsServerConfig tls;
  tls.cert = "not a certificate";
  tls.key =
      "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1tYXRlcmlhbA==\n-----END PRIVATE KEY-----\n";
  const auto context = MakeServerTlsContext(tls);
  ASSERT_FALSE(context);
  EXPECT_THAT(context.error(),
              ElementsAre(HasSubstr("cannot use cert: "),
                          AllOf(HasSubstr("cannot use key: "), Not(HasSubstr("c2VjcmV0")))));
}

TEST(WebSecurityTest, UnreadableClientCaIsNamed) {
  config::TlsServerConfig tls;
  tls.cert_file = "/nonexistent/server.crt";
  tls.key_file = "/nonexistent/server.key";
  tls.client_auth_type = config::ClientAuthType::kRequireAndVerifyClientCert;
  tls.client_ca_file = "/nonexistent/clients.crt";
  const auto context = MakeServerTlsContext(tls);
  ASSERT_FALSE(context);
  EXPECT_THAT(context.error().back(),
              HasSubstr("cannot read client_ca_file /nonexistent/clients.crt"));
}

TEST(WebSecurityTest, NoWebConfigIsPlainHttpWithoutAuth) {
  const auto security = LoadWebSecurity("", std::make_shared<BcryptVerifier>());
  ASSERT_TRUE(security);
  EXPECT_EQ(security->tls, nullptr);
  ASSERT_NE(security->gate, nullptr);
  EXPECT_EQ(security->gate->auth, nullptr);
}

TEST(WebSecurityTest, BasicAuthAndHeadersWithoutTls) {
  const auto dir = std::filesystem::temp_directory_path() / "fleetps_web_security_test";
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "web.yml").string();
  std::ofstream(path) << "basic_auth_users:\n"
                         "  alice: $2b$04$wd7vweG4hj0YkZJ4MlwV4uyxsQxo/9MxqaARW1LmHc62WBOvnLQAK\n"
                         "http_server_config: {headers: {X-Frame-Options: sameorigin}}\n";
  const auto security = LoadWebSecurity(path, std::make_shared<BcryptVerifier>());
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(security);
  EXPECT_EQ(security->tls, nullptr);
  EXPECT_NE(security->gate->auth, nullptr);
  EXPECT_THAT(security->gate->headers,
              ElementsAre(std::pair<std::string, std::string>("X-Frame-Options", "sameorigin")));
}

TEST(WebSecurityTest, AnInvalidWebConfigGivesItsDiagnostics) {
  const auto security = LoadWebSecurity("/nonexistent/web.yml", std::make_shared<BcryptVerifier>());
  ASSERT_FALSE(security);
  EXPECT_THAT(security.error(),
              ElementsAre("/nonexistent/web.yml:0:0: cannot read file: No such file or directory"));
}

}  // namespace
}  // namespace fleetps::collector
