#include "fleetps/agent/known_hosts.hpp"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "fleetps/agent/errors.hpp"

namespace fleetps::agent {
namespace {

// Real keys (generated once with ssh-keygen), so fingerprints can be checked.
const HostKey kKeyA{"ssh-ed25519",
                    "AAAAC3NzaC1lZDI1NTE5AAAAIBitaNsCYXOJkRglzhBvIHfOa+Y/nD3sAld3FI3D4Ux8"};
const HostKey kKeyB{"ssh-ed25519",
                    "AAAAC3NzaC1lZDI1NTE5AAAAIBNWY8hT9Lz1EDkavmiyr5qrKBKIHG8O06S713eAmesx"};

class KnownHostsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("fleetps-kh-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "known_hosts").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void Write(const std::string& s) { std::ofstream(path_, std::ios::binary) << s; }
  std::string Read() {
    std::ifstream in(path_, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
  }
  std::filesystem::path dir_;
  std::string path_;
};

TEST_F(KnownHostsTest, PatternUsesBracketsForNonDefaultPorts) {
  EXPECT_EQ(KnownHostsFile::HostPattern("web01", 22), "web01");
  EXPECT_EQ(KnownHostsFile::HostPattern("10.0.0.1", 2222), "[10.0.0.1]:2222");
}

TEST_F(KnownHostsTest, MissingFileMeansUnknown) {
  KnownHostsFile f(path_);
  EXPECT_EQ(*f.Check("web01", 22, kKeyA), KnownHostsMatch::kUnknown);
}

TEST_F(KnownHostsTest, MatchesExactKeyAndFlagsAChangedOne) {
  Write("# comment\n\nweb01,10.0.0.1 " + kKeyA.type + " " + kKeyA.base64 + " comment\n");
  KnownHostsFile f(path_);
  EXPECT_EQ(*f.Check("web01", 22, kKeyA), KnownHostsMatch::kKnown);
  EXPECT_EQ(*f.Check("10.0.0.1", 22, kKeyA), KnownHostsMatch::kKnown);
  EXPECT_EQ(*f.Check("web01", 22, kKeyB), KnownHostsMatch::kMismatch);
  EXPECT_EQ(*f.Check("web01", 2222, kKeyA), KnownHostsMatch::kUnknown)
      << "port is part of the name";
}

TEST_F(KnownHostsTest, GlobsNegationsRevocationsAndIgnoredForms) {
  Write("*.dc1,!bad.dc1 " + kKeyA.type + " " + kKeyA.base64 + "\n" + "@revoked * " + kKeyB.type +
        " " + kKeyB.base64 + "\n" + "@cert-authority * " + kKeyA.type + " " + kKeyA.base64 + "\n" +
        "|1|c2FsdA==|aGFzaA== " + kKeyA.type + " " + kKeyA.base64 + "\n");
  KnownHostsFile f(path_);
  EXPECT_EQ(*f.Check("db07.dc1", 22, kKeyA), KnownHostsMatch::kKnown);
  EXPECT_EQ(*f.Check("bad.dc1", 22, kKeyA), KnownHostsMatch::kUnknown);
  EXPECT_EQ(*f.Check("db07.dc1", 22, kKeyB), KnownHostsMatch::kMismatch) << "revoked";
  EXPECT_EQ(*f.Check("other", 22, kKeyA), KnownHostsMatch::kUnknown);
}

TEST_F(KnownHostsTest, RecordAppendsAtomicallyAndKeepsExistingBytes) {
  Write("web01 " + kKeyB.type + " " + kKeyB.base64);  // no trailing newline
  KnownHostsFile f(path_);
  EXPECT_EQ(*f.Check("10.0.0.9", 2222, kKeyA), KnownHostsMatch::kUnknown);
  EXPECT_EQ(*f.Record("10.0.0.9", 2222, kKeyA), KnownHostsFile::RecordOutcome::kAdded);
  EXPECT_EQ(Read(), "web01 " + kKeyB.type + " " + kKeyB.base64 + "\n[10.0.0.9]:2222 " + kKeyA.type +
                        " " + kKeyA.base64 + "\n");
  EXPECT_EQ(*f.Check("10.0.0.9", 2222, kKeyA), KnownHostsMatch::kKnown) << "cache reloaded";
  EXPECT_EQ(*f.Record("10.0.0.9", 2222, kKeyA), KnownHostsFile::RecordOutcome::kAlreadyKnown);
  for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
    EXPECT_EQ(entry.path().filename().string().find(".tmp."), std::string::npos) << "no leftovers";
  }
  EXPECT_EQ(std::filesystem::status(path_).permissions() & std::filesystem::perms::others_read,
            std::filesystem::perms::none);
}

TEST_F(KnownHostsTest, ChangedKeyIsNeverWrittenAndFileStaysByteIdentical) {
  const std::string before = "# keep me\r\nweb01 " + kKeyA.type + " " + kKeyA.base64 + "\n";
  Write(before);
  KnownHostsFile f(path_);
  EXPECT_EQ(*f.Record("web01", 22, kKeyB), KnownHostsFile::RecordOutcome::kRefused);
  EXPECT_EQ(Read(), before);
}

TEST_F(KnownHostsTest, RecordCreatesAMissingFile) {
  KnownHostsFile f(path_);
  EXPECT_EQ(*f.Record("web01", 22, kKeyA), KnownHostsFile::RecordOutcome::kAdded);
  EXPECT_EQ(Read(), "web01 " + kKeyA.type + " " + kKeyA.base64 + "\n");
}

TEST_F(KnownHostsTest, RecordIntoAMissingDirectoryIsAWriteFailureNamingTheFile) {
  const std::string path = (dir_ / "gone" / "known_hosts").string();
  KnownHostsFile f(path);
  std::string why;
  const auto recorded = f.Record("web01", 22, kKeyA, &why);
  ASSERT_FALSE(recorded);
  EXPECT_EQ(recorded.error(), Errc::kKnownHostsWrite);
  EXPECT_EQ(why, "cannot write " + path + ".lock: No such file or directory");
}

TEST_F(KnownHostsTest, RecordRejectsKeysThatWouldBreakTheLineFormat) {
  KnownHostsFile f(path_);
  EXPECT_FALSE(f.Record("web01", 22, HostKey{"ssh-ed25519", "AAAA\nevil * ssh-ed25519 BBBB"}));
  EXPECT_FALSE(std::filesystem::exists(path_));
}

TEST_F(KnownHostsTest, KeyTypesAreTheTypesCheckCanAccept) {
  Write("web01,web02 " + kKeyA.type + " " + kKeyA.base64 + "\n" +
        "web01 ssh-rsa AAAAB3NzaC1yc2E=\n" + "web01 " + kKeyB.type + " " + kKeyB.base64 + "\n" +
        "@revoked web01 ecdsa-sha2-nistp256 AAAAE2VjZHNh\n" +
        "@cert-authority * ecdsa-sha2-nistp384 AAAAE2VjZHNh\n" +
        "|1|c2FsdA==|aGFzaA== ecdsa-sha2-nistp521 AAAAE2VjZHNh\n" +
        "[web01]:2222 ecdsa-sha2-nistp521 AAAAE2VjZHNh\n");
  KnownHostsFile f(path_);
  EXPECT_EQ(*f.KeyTypes("web01", 22), (std::vector<std::string>{"ssh-ed25519", "ssh-rsa"}));
  EXPECT_EQ(*f.KeyTypes("web02", 22), std::vector<std::string>{"ssh-ed25519"});
  EXPECT_EQ(*f.KeyTypes("web01", 2222), std::vector<std::string>{"ecdsa-sha2-nistp521"});
  EXPECT_TRUE(f.KeyTypes("web03", 22)->empty());
}

TEST_F(KnownHostsTest, LiteralAndPatternLinesForOneHostAreBothConsulted) {
  Write("web0? " + kKeyA.type + " " + kKeyA.base64 + "\n" +
        "web01,web01 ssh-rsa AAAAB3NzaC1yc2E=\n" + "@revoked web01 " + kKeyB.type + " " +
        kKeyB.base64 + "\n");
  KnownHostsFile f(path_);
  EXPECT_EQ(*f.Check("web01", 22, kKeyA), KnownHostsMatch::kKnown);
  EXPECT_EQ(*f.Check("web01", 22, kKeyB), KnownHostsMatch::kMismatch) << "revoked";
  EXPECT_EQ(*f.Check("web02", 22, kKeyB), KnownHostsMatch::kMismatch);
  EXPECT_EQ(*f.KeyTypes("web01", 22), (std::vector<std::string>{"ssh-ed25519", "ssh-rsa"}));
  EXPECT_EQ(*f.KeyTypes("web02", 22), std::vector<std::string>{"ssh-ed25519"});
}

TEST_F(KnownHostsTest, KeyTypesOfAMissingFileAreEmptyAndFollowRecords) {
  KnownHostsFile f(path_);
  EXPECT_TRUE(f.KeyTypes("web01", 22)->empty());
  ASSERT_EQ(*f.Record("web01", 22, kKeyA), KnownHostsFile::RecordOutcome::kAdded);
  EXPECT_EQ(*f.KeyTypes("web01", 22), std::vector<std::string>{"ssh-ed25519"});
}

// libssh 0.10's default host-key algorithms, in its order.
const std::vector<std::string> kDefaults = {
    "ssh-ed25519",
    "ecdsa-sha2-nistp521",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp256",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "rsa-sha2-512",
    "rsa-sha2-256",
};

TEST(HostKeyPreferenceTest, WithoutARecordedKeyTheOfferIsLeftAlone) {
  EXPECT_TRUE(PreferRecordedHostKeyTypes({}, {}).empty());
  EXPECT_TRUE(PreferRecordedHostKeyTypes({}, {"ssh-ed25519", "rsa-sha2-256"}).empty());
}

TEST(HostKeyPreferenceTest, RecordedTypeComesFirstAndNothingIsRemoved) {
  const auto offer = PreferRecordedHostKeyTypes({"ecdsa-sha2-nistp256"}, {});
  ASSERT_EQ(offer.size(), kDefaults.size());
  EXPECT_EQ(offer.front(), "ecdsa-sha2-nistp256");
  EXPECT_EQ(offer[1], "ssh-ed25519");
  EXPECT_TRUE(std::is_permutation(offer.begin(), offer.end(), kDefaults.begin()));
  EXPECT_EQ(PreferRecordedHostKeyTypes({"ssh-ed25519"}, {}), kDefaults);
}

TEST(HostKeyPreferenceTest, RsaKeysPreferTheSha2AlgorithmsTheOfferAllows) {
  const auto offer = PreferRecordedHostKeyTypes({"ssh-rsa"}, {});
  ASSERT_GE(offer.size(), 3u);
  EXPECT_EQ(offer[0], "rsa-sha2-512");
  EXPECT_EQ(offer[1], "rsa-sha2-256");
  EXPECT_EQ(offer[2], "ssh-ed25519");
  EXPECT_EQ(std::count(offer.begin(), offer.end(), "ssh-rsa"), 0) << "never adds SHA-1 signatures";
  EXPECT_EQ(PreferRecordedHostKeyTypes({"ssh-rsa"}, {"ssh-ed25519", "ssh-rsa"}),
            (std::vector<std::string>{"ssh-rsa", "ssh-ed25519"}));
}

TEST(HostKeyPreferenceTest, SeveralRecordedTypesKeepTheConfiguredOrder) {
  EXPECT_EQ(PreferRecordedHostKeyTypes({"ssh-ed25519", "ecdsa-sha2-nistp256"},
                                       {"rsa-sha2-256", "ecdsa-sha2-nistp256", "ssh-ed25519"}),
            (std::vector<std::string>{"ecdsa-sha2-nistp256", "ssh-ed25519", "rsa-sha2-256"}));
}

TEST(HostKeyPreferenceTest, RecordedTypeOutsideTheConfiguredListChangesNothing) {
  EXPECT_TRUE(PreferRecordedHostKeyTypes({"ssh-ed25519"}, {"rsa-sha2-512"}).empty());
}

TEST(FingerprintTest, MatchesOpenSshFormat) {
  auto fp = Sha256Fingerprint(kKeyA);
  ASSERT_TRUE(fp);
  EXPECT_TRUE(fp->starts_with("SHA256:"));
  EXPECT_EQ(fp->size(), 7u + 43u);
  EXPECT_FALSE(Sha256Fingerprint(HostKey{"ssh-ed25519", "bm90IGEga2V5"}));
}

}  // namespace
}  // namespace fleetps::agent
