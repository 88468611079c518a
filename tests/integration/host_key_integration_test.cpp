#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/this_coro.hpp>
#include <gtest/gtest.h>

#include "fleetps/agent/ssh_session.hpp"
#include "test_host.hpp"

namespace fleetps::agent {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using boost::system::error_code;
using testing::ReadFile;
using testing::RunCoro;
using testing::TestHost;

asio::awaitable<error_code> ConnectOnce(config::HostSpec spec) {
  SshSession session(co_await asio::this_coro::executor);
  co_return co_await session.Connect(spec, Clock::now() + spec.connect_timeout);
}

// Waits (bounded) until the server logged the end of our connection (after its key exchange),
// so a negative check on the log is not racing the server's writes.
std::string LogAfterDisconnect(const TestHost& host) {
  std::string log;
  for (int i = 0; i < 100; ++i) {
    log = host.Log();
    const auto kex = log.rfind("KEX done");
    if (kex != std::string::npos && (log.find("Connection closed", kex) != std::string::npos ||
                                     log.find("Disconnected from", kex) != std::string::npos ||
                                     log.find("Received disconnect", kex) != std::string::npos)) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return log;
}

class HostKeyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    known_hosts_ = host_.Dir() / "collector_known_hosts";
    spec_ = host_.Spec();
    spec_.known_hosts = known_hosts_.string();
  }
  void WriteKnownHosts(const std::string& text) {
    std::ofstream(known_hosts_, std::ios::binary) << text;
  }
  static std::string OtherKeyLine(const std::string& pattern) {
    const auto dir = std::filesystem::temp_directory_path() / "fleetps-other-key";
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    testing::Shell("ssh-keygen -q -t ed25519 -N '' -f " + (dir / "k").string());
    std::string pub = ReadFile(dir / "k.pub");
    std::filesystem::remove_all(dir);
    return pattern + " " + pub.substr(0, pub.find(' ', pub.find(' ') + 1)) + "\n";
  }

  asio::io_context io_;
  TestHost host_;
  std::filesystem::path known_hosts_;
  config::HostSpec spec_;
};

TEST_F(HostKeyTest, StrictRefusesAnUnknownKeyBeforeAnyAuthenticationRequest) {
  WriteKnownHosts("");
  const auto ec = RunCoro(io_, ConnectOnce(spec_));
  EXPECT_EQ(ec, Errc::kHostkeyUnknown) << ReasonName(ec);
  const std::string log = LogAfterDisconnect(host_);
  EXPECT_NE(log.find("KEX done"), std::string::npos) << "the key exchange should have run";
  EXPECT_EQ(log.find("userauth-request"), std::string::npos) << log;
}

TEST_F(HostKeyTest, ChangedKeyIsRefusedAndKnownHostsStaysByteIdentical) {
  const std::string before =
      "# collector keys\n" + OtherKeyLine("[127.0.0.1]:" + std::to_string(host_.Port()));
  WriteKnownHosts(before);
  for (auto policy : {config::HostKeyPolicy::kStrict, config::HostKeyPolicy::kAcceptNew}) {
    spec_.host_key_policy = policy;
    const auto ec = RunCoro(io_, ConnectOnce(spec_));
    EXPECT_EQ(ec, Errc::kHostkeyMismatch) << ReasonName(ec);
  }
  EXPECT_EQ(ReadFile(known_hosts_), before);
  EXPECT_EQ(LogAfterDisconnect(host_).find("userauth-request"), std::string::npos);
}

TEST_F(HostKeyTest, AcceptNewRecordsTheFirstKeyThenBehavesStrictly) {
  spec_.host_key_policy = config::HostKeyPolicy::kAcceptNew;
  auto ec = RunCoro(io_, ConnectOnce(spec_));
  ASSERT_FALSE(ec) << ReasonName(ec);
  const std::string recorded = ReadFile(known_hosts_);
  EXPECT_EQ(recorded, "[127.0.0.1]:" + std::to_string(host_.Port()) + " " +
                          host_.Env("FLEETPS_TEST_HOSTKEY") + "\n");
  spec_.host_key_policy = config::HostKeyPolicy::kStrict;
  ec = RunCoro(io_, ConnectOnce(spec_));
  EXPECT_FALSE(ec) << ReasonName(ec);
  EXPECT_EQ(ReadFile(known_hosts_), recorded);
}

TEST_F(HostKeyTest, EnrollRecordsTheKeyAndReportsItsFingerprint) {
  auto enrolled = RunCoro(io_, Enroll(spec_, Clock::now() + std::chrono::seconds(10)));
  ASSERT_TRUE(enrolled) << ReasonName(enrolled.error());
  EXPECT_EQ(enrolled->outcome, KnownHostsFile::RecordOutcome::kAdded);
  const std::string keygen = [&] {
    const auto out = host_.Dir() / "fp.txt";
    testing::Shell("ssh-keygen -lf " + host_.Dir().string() + "/ssh_host_ed25519_key.pub > " +
                   out.string());
    return ReadFile(out);
  }();
  EXPECT_NE(keygen.find(enrolled->scanned.fingerprint), std::string::npos) << keygen;
  EXPECT_EQ(enrolled->scanned.key.type, "ssh-ed25519");
  auto again = RunCoro(io_, Enroll(spec_, Clock::now() + std::chrono::seconds(10)));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->outcome, KnownHostsFile::RecordOutcome::kAlreadyKnown);
  EXPECT_EQ(LogAfterDisconnect(host_).find("userauth-request"), std::string::npos);
}

TEST_F(HostKeyTest, WrongUserKeyIsDenied) {
  const auto other = host_.Dir() / "wrong_key";
  testing::Shell("ssh-keygen -q -t ed25519 -N '' -f " + other.string());
  spec_ = host_.Spec();
  spec_.identity_file = other.string();
  const auto ec = RunCoro(io_, ConnectOnce(spec_));
  EXPECT_EQ(ec, Errc::kAuthDenied) << ReasonName(ec);
}

TEST(KeyFileTest, EncryptedKeyDecryptsWithPassphraseFromFileOrEnvironment) {
  const auto dir = std::filesystem::temp_directory_path() / "fleetps-passphrase-test";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  for (const char* type : {"ed25519", "ecdsa", "rsa"}) {
    const auto key = dir / (std::string("id_") + type);
    ASSERT_EQ(
        testing::Shell(std::string("ssh-keygen -q -t ") + type + " -N s3cret -f " + key.string()),
        0);
    config::HostSpec spec;
    spec.identity_file = key.string();
    EXPECT_FALSE(Identity::Load(spec)) << type << " must not load without its passphrase";
    std::ofstream(dir / "pass") << "s3cret\n";
    spec.passphrase_file = (dir / "pass").string();
    EXPECT_TRUE(Identity::Load(spec)) << type;
    spec.passphrase_file.clear();
    ::setenv("FLEETPS_TEST_PASSPHRASE", "s3cret", 1);
    spec.passphrase_env = "FLEETPS_TEST_PASSPHRASE";
    EXPECT_TRUE(Identity::Load(spec)) << type;
    ::unsetenv("FLEETPS_TEST_PASSPHRASE");
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace fleetps::agent
