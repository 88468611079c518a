#include "fleetps/agent/known_hosts.hpp"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

namespace fleetps::agent {
namespace {

// Real keys (generated once with ssh-keygen), so fingerprints can be checked.
const HostKey kKeyA{"ssh-ed25519", "AAAAC3NzaC1lZDI1NTE5AAAAIBitaNsCYXOJkRglzhBvIHfOa+Y/nD3sAld3FI3D4Ux8"};
const HostKey kKeyB{"ssh-ed25519", "AAAAC3NzaC1lZDI1NTE5AAAAIBNWY8hT9Lz1EDkavmiyr5qrKBKIHG8O06S713eAmesx"};

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
  EXPECT_EQ(*f.Check("web01", 2222, kKeyA), KnownHostsMatch::kUnknown) << "port is part of the name";
}

TEST_F(KnownHostsTest, GlobsNegationsRevocationsAndIgnoredForms) {
  Write("*.dc1,!bad.dc1 " + kKeyA.type + " " + kKeyA.base64 + "\n" +
        "@revoked * " + kKeyB.type + " " + kKeyB.base64 + "\n" +
        "@cert-authority * " + kKeyA.type + " " + kKeyA.base64 + "\n" +
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
  EXPECT_EQ(Read(), "web01 " + kKeyB.type + " " + kKeyB.base64 + "\n[10.0.0.9]:2222 " +
                        kKeyA.type + " " + kKeyA.base64 + "\n");
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

TEST_F(KnownHostsTest, RecordRejectsKeysThatWouldBreakTheLineFormat) {
  KnownHostsFile f(path_);
  EXPECT_FALSE(f.Record("web01", 22, HostKey{"ssh-ed25519", "AAAA\nevil * ssh-ed25519 BBBB"}));
  EXPECT_FALSE(std::filesystem::exists(path_));
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
