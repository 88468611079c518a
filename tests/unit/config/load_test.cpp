#include "fleetps/config/load.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace fleetps::config {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Pair;

std::vector<std::string> Messages(const LoadResult& result) {
  std::vector<std::string> out;
  for (const Diagnostic& d : result.diagnostics) out.push_back(d.ToString());
  return out;
}

Inventory LoadOk(std::string_view yaml) {
  LoadResult result = LoadInventoryFromString(yaml, "t.yaml");
  EXPECT_THAT(Messages(result), IsEmpty());
  EXPECT_TRUE(result.ok());
  return result.inventory.value_or(Inventory{});
}

std::vector<std::string> Errors(std::string_view yaml) {
  const LoadResult result = LoadInventoryFromString(yaml, "t.yaml");
  EXPECT_FALSE(result.ok());
  return Messages(result);
}

TEST(ConfigLoadTest, DiagnosticToStringIsCompilerStyle) {
  EXPECT_EQ((Diagnostic{"a.yaml", 3, 7, "bad"}).ToString(), "a.yaml:3:7: bad");
  EXPECT_EQ((Diagnostic{"a.yaml", 3, 7, "meh", Severity::kWarning}).ToString(),
            "a.yaml:3:7: warning: meh");
}

TEST(ConfigLoadTest, BuiltInDefaultsApply) {
  const Inventory inventory =
      LoadOk("defaults: {user: mon, identity_file: /k}\nhosts: [{name: a}]\n");
  ASSERT_EQ(inventory.hosts.size(), 1u);
  const HostSpec& host = inventory.hosts[0];
  EXPECT_EQ(host.name, "a");
  EXPECT_EQ(host.address, "a");
  EXPECT_EQ(host.port, 22);
  EXPECT_EQ(host.interval, 15s);
  EXPECT_EQ(host.connect_timeout, 5s);
  EXPECT_EQ(host.probe_timeout, 10s);
  EXPECT_EQ(host.keepalive, 15s);
  EXPECT_EQ(host.output_limit, 4u << 20);
  EXPECT_EQ(host.max_channels_per_host, 2u);
  EXPECT_EQ(host.host_key_policy, HostKeyPolicy::kStrict);
  EXPECT_TRUE(host.dialect.empty());
  EXPECT_EQ(inventory.collector, CollectorSettings{});
}

TEST(ConfigLoadTest, HostOverridesDefaultsAndLabelsMerge) {
  const Inventory inventory = LoadOk(R"(
defaults:
  user: mon
  identity_file: /etc/fleetps/id
  port: 2200
  interval: 30s
  dialect: aix
  labels: {env: prod, team: ops, dc: one}
hosts:
  - name: plain
  - name: special
    user: other
    port: 22
    interval: 1m30s
    probe_timeout: 1m
    dialect: auto
    keepalive: 0
    output_limit: 512KiB
    host_key_policy: accept-new
    labels: {env: staging, role: web, dc: ""}
)");
  ASSERT_EQ(inventory.hosts.size(), 2u);
  const HostSpec& plain = inventory.hosts[0];
  EXPECT_EQ(plain.user, "mon");
  EXPECT_EQ(plain.port, 2200);
  EXPECT_EQ(plain.interval, 30s);
  EXPECT_EQ(plain.dialect, "aix");
  EXPECT_THAT(plain.labels,
              ElementsAre(Pair("dc", "one"), Pair("env", "prod"), Pair("team", "ops")));
  const HostSpec& special = inventory.hosts[1];
  EXPECT_EQ(special.user, "other");
  EXPECT_EQ(special.port, 22);
  EXPECT_EQ(special.interval, 90s);
  EXPECT_EQ(special.probe_timeout, 60s);
  EXPECT_EQ(special.dialect, "");
  EXPECT_EQ(special.keepalive, 0ms);
  EXPECT_EQ(special.output_limit, 512u << 10);
  EXPECT_EQ(special.host_key_policy, HostKeyPolicy::kAcceptNew);
  EXPECT_EQ(special.identity_file, "/etc/fleetps/id");
  // Host wins per label; an empty value removes an inherited label.
  EXPECT_THAT(special.labels,
              ElementsAre(Pair("env", "staging"), Pair("role", "web"), Pair("team", "ops")));
}

TEST(ConfigLoadTest, PrivilegeDefaultsToNoneAndHostsOverrideIt) {
  const Inventory inventory = LoadOk(R"(
defaults: {user: mon, identity_file: /k, privilege: sudo}
hosts:
  - name: inherits
  - name: plain
    privilege: none
)");
  ASSERT_EQ(inventory.hosts.size(), 2u);
  EXPECT_EQ(inventory.hosts[0].privilege, Privilege::kSudo);
  EXPECT_EQ(inventory.hosts[1].privilege, Privilege::kNone);
  EXPECT_EQ(
      LoadOk("defaults: {user: mon, identity_file: /k}\nhosts: [{name: a}]\n").hosts[0].privilege,
      Privilege::kNone);
}

TEST(ConfigLoadTest, ProbeChannelDefaultsToAutoAndHostsOverrideIt) {
  const Inventory inventory = LoadOk(R"(
defaults: {user: mon, identity_file: /k, probe_channel: exec}
hosts:
  - name: inherits
  - name: shell
    probe_channel: shell
  - name: auto
    probe_channel: auto
)");
  ASSERT_EQ(inventory.hosts.size(), 3u);
  EXPECT_EQ(inventory.hosts[0].probe_channel, ProbeChannel::kExec);
  EXPECT_EQ(inventory.hosts[1].probe_channel, ProbeChannel::kShell);
  EXPECT_EQ(inventory.hosts[2].probe_channel, ProbeChannel::kAuto);
  EXPECT_EQ(LoadOk("defaults: {user: mon, identity_file: /k}\nhosts: [{name: a}]\n")
                .hosts[0]
                .probe_channel,
            ProbeChannel::kAuto);
}

TEST(ConfigLoadTest, AlgorithmListsOverrideOneByOne) {
  const Inventory inventory = LoadOk(R"(
defaults:
  user: mon
  use_ssh_agent: true
  algorithms: {kex: [curve25519-sha256], macs: [hmac-sha2-256]}
hosts:
  - name: old
    algorithms:
      kex: [diffie-hellman-group1-sha1, diffie-hellman-group14-sha1]
      ciphers: [aes128-cbc]
  - name: reset
    algorithms: {kex: []}
)");
  ASSERT_EQ(inventory.hosts.size(), 2u);
  const Algorithms& old = inventory.hosts[0].algorithms;
  EXPECT_THAT(old.kex, ElementsAre("diffie-hellman-group1-sha1", "diffie-hellman-group14-sha1"));
  EXPECT_THAT(old.ciphers, ElementsAre("aes128-cbc"));
  EXPECT_THAT(old.macs, ElementsAre("hmac-sha2-256"));
  EXPECT_THAT(old.hostkeys, IsEmpty());
  EXPECT_THAT(inventory.hosts[1].algorithms.kex, IsEmpty());
}

TEST(ConfigLoadTest, LegacyReplacesEveryListAndMappingsInheritIt) {
  const Inventory inventory = LoadOk(R"(
defaults:
  user: mon
  use_ssh_agent: true
  algorithms: {kex: [curve25519-sha256]}
hosts:
  - name: old
    algorithms: legacy
  - name: inherits
  - name: reset
    algorithms: default
)");
  ASSERT_EQ(inventory.hosts.size(), 3u);
  EXPECT_TRUE(inventory.hosts[0].algorithms.legacy);
  EXPECT_THAT(inventory.hosts[0].algorithms.kex, IsEmpty());  // legacy, not the default's list
  EXPECT_FALSE(inventory.hosts[1].algorithms.legacy);
  EXPECT_THAT(inventory.hosts[1].algorithms.kex, ElementsAre("curve25519-sha256"));
  EXPECT_FALSE(inventory.hosts[2].algorithms.legacy);
  EXPECT_THAT(inventory.hosts[2].algorithms.kex, IsEmpty());

  const Inventory legacy_default = LoadOk(R"(
defaults: {user: mon, use_ssh_agent: true, algorithms: legacy}
hosts:
  - name: pinned
    algorithms: {pubkeys: [ssh-rsa]}
)");
  const Algorithms& pinned = legacy_default.hosts[0].algorithms;
  EXPECT_TRUE(pinned.legacy);
  EXPECT_THAT(pinned.pubkeys, ElementsAre("ssh-rsa"));
}

TEST(ConfigLoadTest, AlgorithmsRejectOtherWords) {
  EXPECT_THAT(
      Messages(LoadInventoryFromString(
          "defaults: {user: u, use_ssh_agent: true, algorithms: legacyy}\nhosts: [{name: a}]\n",
          "f.yaml")),
      ElementsAre(
          testing::HasSubstr("f.yaml:1:54: expected \"legacy\", \"default\" or a mapping")));
}

TEST(ConfigLoadTest, AlgorithmCheckHookReportsErrorsAndWarningsAtTheName) {
  LoadOptions options;
  std::vector<std::string> seen;
  options.check_algorithm = [&seen](std::string_view list, std::string_view name) {
    seen.push_back(std::string(list) + "=" + std::string(name));
    std::pair<std::string, std::string> verdict;
    if (name == "hmac-md5") verdict.first = "not supported";
    if (name == "ssh-rsa") verdict.second = "weak";
    return verdict;
  };
  options.legacy_warning = [] { return std::string("legacy is weak"); };
  options.check_algorithm_list = [](std::string_view list, const std::vector<std::string>& names) {
    return list == "ciphers" && names.size() == 1 ? std::string("none supported") : std::string();
  };
  const LoadResult result = LoadInventoryFromString(R"(defaults: {user: u, use_ssh_agent: true}
hosts:
  - name: a
    algorithms: {macs: [hmac-sha1, hmac-md5], pubkeys: [ssh-rsa]}
  - name: b
    algorithms: legacy
  - name: c
    algorithms: {ciphers: [arcfour]}
)",
                                                    "f.yaml", options);
  EXPECT_FALSE(result.ok());
  EXPECT_THAT(seen,
              ElementsAre("macs=hmac-sha1", "macs=hmac-md5", "pubkeys=ssh-rsa", "ciphers=arcfour"));
  EXPECT_THAT(Messages(result),
              ElementsAre("f.yaml:4:36: not supported", "f.yaml:4:57: warning: weak",
                          "f.yaml:6:17: warning: legacy is weak", "f.yaml:8:27: none supported"));
}

TEST(ConfigLoadTest, HostPassphraseSourceReplacesTheDefaults) {
  const Inventory inventory = LoadOk(R"(
defaults: {user: mon, identity_file: /k, passphrase_file: /p}
hosts:
  - name: a
  - name: b
    passphrase_env: B_PASS
)");
  ASSERT_EQ(inventory.hosts.size(), 2u);
  EXPECT_EQ(inventory.hosts[0].passphrase_file, "/p");
  EXPECT_EQ(inventory.hosts[1].passphrase_file, "");
  EXPECT_EQ(inventory.hosts[1].passphrase_env, "B_PASS");
}

TEST(ConfigLoadTest, NodesetNamesExpandWithSharedOrPairedAddresses) {
  const Inventory inventory = LoadOk(R"(
defaults: {user: mon, use_ssh_agent: true}
hosts:
  - name: "db[01-03].dc1"
    address: "10.0.0.[11-13]"
  - name: "sim[1-2]"
    address: 127.0.0.1
  - name: "r[1-2]n[1-2]"
)");
  ASSERT_EQ(inventory.hosts.size(), 9u);
  EXPECT_EQ(inventory.hosts[0].name, "db01.dc1");
  EXPECT_EQ(inventory.hosts[0].address, "10.0.0.11");
  EXPECT_EQ(inventory.hosts[2].name, "db03.dc1");
  EXPECT_EQ(inventory.hosts[2].address, "10.0.0.13");
  EXPECT_EQ(inventory.hosts[3].address, "127.0.0.1");
  EXPECT_EQ(inventory.hosts[4].address, "127.0.0.1");
  EXPECT_EQ(inventory.hosts[5].name, "r1n1");
  EXPECT_EQ(inventory.hosts[8].name, "r2n2");
  EXPECT_EQ(inventory.hosts[8].address, "r2n2");
}

TEST(ConfigLoadTest, CollectorSection) {
  const Inventory inventory = LoadOk(R"(
defaults: {user: mon, use_ssh_agent: true}
collector:
  listen: 0.0.0.0:9100
  max_concurrent_handshakes: 10
  threads: 4
  enable_reload_endpoint: true
  max_restarts: 3
  restart_period: 1m
hosts: [{name: a}]
)");
  EXPECT_EQ(inventory.collector.listen, "0.0.0.0:9100");
  EXPECT_EQ(inventory.collector.max_concurrent_handshakes, 10u);
  EXPECT_EQ(inventory.collector.threads, 4u);
  EXPECT_TRUE(inventory.collector.enable_reload_endpoint);
  EXPECT_EQ(inventory.collector.max_restarts, 3u);
  EXPECT_EQ(inventory.collector.restart_period, 60s);
}

// collector.source_address: an IP literal copied into every host (the agent binds to it).
TEST(ConfigLoadTest, SourceAddressReachesEveryHost) {
  const Inventory unset =
      LoadOk("defaults: {user: mon, use_ssh_agent: true}\nhosts: [{name: a}]\n");
  EXPECT_TRUE(unset.collector.source_address.empty());
  EXPECT_TRUE(unset.hosts.at(0).source_address.empty());
  // The hosts come first in the file: the section's place does not matter.
  const Inventory v4 = LoadOk(R"(
defaults: {user: mon, use_ssh_agent: true}
hosts: [{name: "a[1-2]"}]
collector: {source_address: 127.0.0.11}
)");
  EXPECT_EQ(v4.collector.source_address, "127.0.0.11");
  ASSERT_EQ(v4.hosts.size(), 2u);
  EXPECT_EQ(v4.hosts[0].source_address, "127.0.0.11");
  EXPECT_EQ(v4.hosts[1].source_address, "127.0.0.11");
  const Inventory v6 = LoadOk(R"(
defaults: {user: mon, use_ssh_agent: true}
collector: {source_address: "fd00::11"}
hosts: [{name: a}]
)");
  EXPECT_EQ(v6.hosts.at(0).source_address, "fd00::11");
  EXPECT_THAT(
      Errors(R"(defaults: {user: mon, use_ssh_agent: true}
collector:
  source_address: collector-a.example
hosts: [{name: a}]
)"),
      ElementsAre("t.yaml:3:19: source address \"collector-a.example\" is not an IP address "
                  "(an IPv4 or IPv6 literal, without brackets or port)"));
  EXPECT_THAT(Errors("defaults: {user: mon, use_ssh_agent: true}\n"
                     "collector: {source_address: \"10.0.0.1:22\"}\nhosts: [{name: a}]\n"),
              ElementsAre("t.yaml:2:29: source address \"10.0.0.1:22\" is not an IP address "
                          "(an IPv4 or IPv6 literal, without brackets or port)"));
  EXPECT_THAT(Errors("defaults: {user: mon, use_ssh_agent: true}\n"
                     "collector: {source_address: [127.0.0.1]}\nhosts: [{name: a}]\n"),
              ElementsAre("t.yaml:2:29: expected an IP address, got a list"));
}

TEST(ConfigLoadTest, AdmissionLimitsOfTheApi) {
  const Inventory defaults =
      LoadOk("defaults: {user: mon, use_ssh_agent: true}\nhosts: [{name: a}]\n");
  EXPECT_EQ(defaults.collector.fresh_rate_per_client, 50u);
  EXPECT_EQ(defaults.collector.fresh_burst, 2000u);
  EXPECT_EQ(defaults.collector.api_threads, 1u);
  const Inventory inventory = LoadOk(R"(
defaults: {user: mon, use_ssh_agent: true}
collector:
  fresh_rate_per_client: 5
  fresh_burst_per_client: 50
  fresh_rate: 20
  fresh_burst: 400
  api_threads: 2
  api_max_pending: 8
hosts: [{name: a}]
)");
  EXPECT_EQ(inventory.collector.fresh_rate_per_client, 5u);
  EXPECT_EQ(inventory.collector.fresh_burst_per_client, 50u);
  EXPECT_EQ(inventory.collector.fresh_rate, 20u);
  EXPECT_EQ(inventory.collector.fresh_burst, 400u);
  EXPECT_EQ(inventory.collector.api_threads, 2u);
  EXPECT_EQ(inventory.collector.api_max_pending, 8u);
  EXPECT_THAT(Errors(R"(defaults: {user: mon, use_ssh_agent: true}
collector:
  fresh_rate: 0
  api_threads: 65
  api_max_pending: many
hosts: [{name: a}]
)"),
              ElementsAre("t.yaml:3:15: expected an integer in 1..1000000, got 0",
                          "t.yaml:4:16: expected an integer in 1..64, got 65",
                          "t.yaml:5:20: expected an integer in 1..10000, got \"many\""));
}

TEST(ConfigLoadTest, ProcessNamesKeepTheirPatternsAsWritten) {
  const Inventory inventory = LoadOk(R"(
defaults: {user: mon, use_ssh_agent: true}
hosts: [{name: a}]
process_names:
  - comm: [bash]
  - name: "{{.Matches.Name}}:{{ .Username }}"
    exe: [/usr/bin/java]
    cmdline: ['(?i)-jar (?P<Name>[^ (]+)\.jar', '(x|y)(?:z)']
)");
  ASSERT_EQ(inventory.process_names.size(), 2u);
  EXPECT_EQ(inventory.process_names[0].name_template, "{{.ExeBase}}");
  EXPECT_THAT(inventory.process_names[0].comm, ElementsAre("bash"));
  const ProcessNameMatcher& java = inventory.process_names[1];
  EXPECT_THAT(java.cmdline, ElementsAre("(?i)-jar (?P<Name>[^ (]+)\\.jar", "(x|y)(?:z)"));
}

TEST(ConfigLoadTest, WarningsKeepTheInventory) {
  const LoadResult result = LoadInventoryFromString(R"(defaults: {user: mon, use_ssh_agent: true}
hosts: [{name: a}]
process_names:
  - name: "p{{.PID}}"
    comm: [a_very_long_command_name]
)",
                                                    "t.yaml");
  EXPECT_TRUE(result.ok());
  EXPECT_THAT(Messages(result),
              ElementsAre("t.yaml:4:13: warning: {{.PID}} makes one group per process (high "
                          "cardinality)",
                          "t.yaml:5:12: warning: comm \"a_very_long_command_name\" is longer than "
                          "15 characters and never matches on Linux, which truncates comm"));
}

TEST(ConfigLoadTest, ReportsEveryProblemSortedByPosition) {
  EXPECT_THAT(Errors(R"(hosts:
  - name: b
    port: 0
  - name: "a b"
defaults:
  interval: never
)"),
              ElementsAre("t.yaml:2:5: no user for host \"b\"; set \"user\" here or in defaults",
                          "t.yaml:2:5: no credentials for host \"b\"; set \"identity_file\" or "
                          "\"use_ssh_agent: true\" here or in defaults",
                          "t.yaml:3:11: expected an integer in 1..65535, got 0",
                          "t.yaml:4:5: no user for host \"a b\"; set \"user\" here or in defaults",
                          "t.yaml:4:5: no credentials for host \"a b\"; set \"identity_file\" or "
                          "\"use_ssh_agent: true\" here or in defaults",
                          "t.yaml:4:11: host name \"a b\" contains \" \"; allowed: letters, "
                          "digits, \".\", \"-\", \"_\"",
                          "t.yaml:6:13: expected a duration like \"15s\", got \"never\""));
}

TEST(ConfigLoadTest, NodesetErrorPointsInsideQuotedPattern) {
  EXPECT_THAT(Errors("defaults: {user: u, use_ssh_agent: true}\nhosts:\n  - name: 'it''s[3-1]'\n"),
              ElementsAre("t.yaml:3:18: reversed range \"3-1\" in nodeset"));
  EXPECT_THAT(Errors("defaults: {user: u, use_ssh_agent: true}\nhosts:\n  - name: n[3-1]\n"),
              ElementsAre("t.yaml:3:13: reversed range \"3-1\" in nodeset"));
}

TEST(ConfigLoadTest, ValueMissingPointsAtTheKey) {
  EXPECT_THAT(Errors("defaults:\n  user: u\n  use_ssh_agent: true\n  port:\nhosts: [{name: a}]\n"),
              ElementsAre("t.yaml:4:3: expected an integer in 1..65535, got nothing"));
}

TEST(ConfigLoadTest, UnsafeCharactersAreRejected) {
  for (const char* user : {"'a;b'", "'$(id)'", "'`id`'", "'a b'", "'a/b'", "'a@b'", "'\"a\"'"}) {
    const std::string yaml =
        std::string("defaults: {use_ssh_agent: true, user: ") + user + "}\nhosts: [{name: a}]\n";
    EXPECT_EQ(Errors(yaml).size(), 1u) << user;
  }
  for (const char* address :
       {"'a;b'", "'$(id)'", "'a b'", "'a/b'", "'u@h'", "'a\"b'", "'1.2.3'x'"}) {
    const std::string yaml = std::string(
                                 "defaults: {use_ssh_agent: true, user: u}\nhosts: "
                                 "[{name: a, address: ") +
                             address + "}]\n";
    EXPECT_FALSE(LoadInventoryFromString(yaml, "t.yaml").ok()) << address;
  }
}

TEST(ConfigLoadTest, SyntaxErrorGivesOneDiagnosticAtTheParserMark) {
  EXPECT_THAT(Errors("hosts:\n  - name: a\n  bad: [\n"),
              ElementsAre(::testing::StartsWith("t.yaml:3:")));
}

TEST(ConfigLoadTest, UnreadableFileGivesOneDiagnostic) {
  const std::string path = std::string(FLEETPS_BINARY_DIR) + "/no/such/fleet.yaml";
  const LoadResult result = LoadInventoryFile(path);
  EXPECT_FALSE(result.ok());
  EXPECT_THAT(Messages(result),
              ElementsAre(path + ":0:0: cannot read file: No such file or directory"));
}

TEST(ConfigLoadTest, DirectoryIsNotAFile) {
  const LoadResult result = LoadInventoryFile(FLEETPS_SOURCE_DIR);
  EXPECT_FALSE(result.ok());
  EXPECT_THAT(Messages(result), ElementsAre(::testing::HasSubstr(":0:0: cannot read file: ")));
}

TEST(ConfigLoadTest, RelativePathsResolveAgainstTheFilesDirectory) {
  const std::filesystem::path dir =
      std::filesystem::path(FLEETPS_BINARY_DIR) / "config_load_test_relative";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "fleet.yaml")
      << "defaults: {user: u, identity_file: keys/id, known_hosts: ../kh}\nhosts: [{name: a}]\n";
  const LoadResult result = LoadInventoryFile((dir / "fleet.yaml").string());
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result.inventory->hosts[0].identity_file, (dir / "keys/id").string());
  EXPECT_EQ(result.inventory->hosts[0].known_hosts, (dir.parent_path() / "kh").string());
  // From a string, paths stay as written.
  const Inventory inventory =
      LoadOk("defaults: {user: u, identity_file: keys/id}\nhosts: [{name: a}]\n");
  EXPECT_EQ(inventory.hosts[0].identity_file, "keys/id");
}

TEST(ConfigLoadTest, ExampleConfigLoads) {
  const std::string path = std::string(FLEETPS_SOURCE_DIR) + "/config/examples/fleet.yaml";
  const LoadResult result = LoadInventoryFile(path);
  EXPECT_THAT(Messages(result), IsEmpty());
  ASSERT_TRUE(result.ok());
  const Inventory& inventory = *result.inventory;
  // localhost, web01, db01..db12.dc1, r1n01..r2n02, legacy-switch, rhel5-batch.
  ASSERT_EQ(inventory.hosts.size(), 20u);
  EXPECT_EQ(inventory.hosts[2].name, "db01.dc1");
  EXPECT_EQ(inventory.hosts[13].name, "db12.dc1");
  EXPECT_EQ(inventory.hosts[13].dialect, "aix");
  EXPECT_EQ(inventory.hosts[1].labels.at("env"), "staging");
  EXPECT_FALSE(inventory.hosts[18].algorithms.kex.empty());
  EXPECT_THAT(inventory.hosts[18].algorithms.pubkeys, ElementsAre("ssh-rsa"));
  EXPECT_TRUE(inventory.hosts[19].algorithms.legacy);
  ASSERT_EQ(inventory.process_names.size(), 5u);
  EXPECT_EQ(inventory.process_names[0].expect, R"({label.role="oracle"})");
  for (const HostSpec& host : inventory.hosts) {
    const bool safe = host.address == "localhost" || host.address.starts_with("127.") ||
                      host.address.ends_with(".example");
    EXPECT_TRUE(safe) << host.address;
  }
}

TEST(ConfigLoadTest, HostCountIsCapped) {
  const LoadResult result = LoadInventoryFromString(
      "defaults: {user: u, use_ssh_agent: true}\nhosts:\n  - name: 'a[1-60000]'\n"
      "  - name: 'b[1-60000]'\n",
      "t.yaml");
  EXPECT_THAT(Messages(result),
              ElementsAre("t.yaml:4:11: the inventory has more than 100000 hosts"));
}

}  // namespace
}  // namespace fleetps::config
