// `fleetsim --emit-config` writes an inventory fleetps' own loader accepts.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <set>

#include "fleetps/config/load.hpp"
#include "test_support.hpp"

namespace fleetps::fleetsim::testing {
namespace {

TEST(FleetsimEmitConfigTest, InventoryLoadsWithFleetpsConfig) {
  const auto dir = MakeTempDir("fleetsim-emit-");
  const auto r =
      RunProcess({FLEETSIM_BINARY, "--emit-config", dir.string(), "--hosts", "50", "--base-port",
                  "21000", "--dialects", "linux-procps=70,busybox=10,aix=10,solaris=10"},
                 {}, std::chrono::seconds(60));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto loaded = config::LoadInventoryFile((dir / "fleet.yaml").string());
  for (const auto& d : loaded.diagnostics) {
    ADD_FAILURE() << d.file << ":" << d.line << ":" << d.column << ": " << d.message;
  }
  ASSERT_TRUE(loaded.ok());
  const auto& hosts = loaded.inventory->hosts;
  ASSERT_EQ(hosts.size(), 50u);
  EXPECT_EQ(hosts[0].name, "sim00001");
  EXPECT_EQ(hosts[0].address, "127.0.0.1");
  EXPECT_EQ(hosts[0].port, 21000);
  EXPECT_EQ(hosts[49].port, 21049);
  EXPECT_EQ(hosts[0].host_key_policy, config::HostKeyPolicy::kStrict);
  EXPECT_EQ(hosts[0].known_hosts, (dir / "known_hosts").string());
  EXPECT_EQ(hosts[0].identity_file, (dir / "id_ed25519").string());
  EXPECT_EQ(hosts[0].labels.at("sim"), "true");
  EXPECT_EQ(hosts[0].labels.at("dialect"), hosts[0].dialect);
  EXPECT_FALSE(loaded.inventory->process_names.empty());

  std::ifstream known(dir / "known_hosts");
  std::string line;
  int lines = 0;
  while (std::getline(known, line)) {
    EXPECT_TRUE(line.starts_with("[127.0.0.1]:" + std::to_string(21000 + lines) + " ssh-ed25519 "))
        << line;
    ++lines;
  }
  EXPECT_EQ(lines, 50);
}

TEST(FleetsimEmitConfigTest, ProbeChannelGoesIntoTheDefaultsOnlyWhenAsked) {
  auto emit = [](const std::filesystem::path& dir, std::vector<std::string> extra) {
    std::vector<std::string> argv = {FLEETSIM_BINARY, "--emit-config", dir.string(), "--hosts", "2",
                                     "--base-port",   "21100"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return RunProcess(argv, {}, std::chrono::seconds(60));
  };
  auto defaults_of = [](const std::filesystem::path& dir) {
    std::ifstream in(dir / "fleet.yaml");
    const std::string text((std::istreambuf_iterator<char>(in)), {});
    return text.substr(0, text.find("\nhosts:\n") + 1);
  };
  const auto plain = MakeTempDir("fleetsim-emit-");
  ASSERT_EQ(emit(plain, {}).exit_code, 0);
  EXPECT_EQ(defaults_of(plain).find("probe_channel"), std::string::npos);
  for (std::string mode : {"auto", "shell", "exec"}) {
    const auto dir = MakeTempDir("fleetsim-emit-");
    const auto r = emit(dir, {"--probe-channel", mode});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(defaults_of(dir).find("\n  probe_channel: " + mode + "\n"), std::string::npos)
        << defaults_of(dir);
  }
  const auto bad = emit(MakeTempDir("fleetsim-emit-"), {"--probe-channel", "ssh"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--probe-channel wants auto, shell or exec"), std::string::npos)
      << bad.err;
}

TEST(FleetsimEmitConfigTest, PerHostKeysGiveEveryHostItsOwnKnownHostsKey) {
  const auto dir = MakeTempDir("fleetsim-emit-");
  const auto r = RunProcess(
      {FLEETSIM_BINARY, "--emit-config", dir.string(), "--hosts", "3", "--per-host-keys"}, {},
      std::chrono::seconds(60));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::ifstream known(dir / "known_hosts");
  std::set<std::string> keys;
  std::string host;
  std::string type;
  std::string key;
  while (known >> host >> type >> key) {
    keys.insert(key);
  }
  EXPECT_EQ(keys.size(), 3u);
}

}  // namespace
}  // namespace fleetps::fleetsim::testing
