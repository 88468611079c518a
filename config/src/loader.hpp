// The inventory loader's internals, shared by the files that each hold one of its jobs:
//   load.cpp           the LoadInventory* entry points, the one-document check, the top level
//   load_reading.cpp   positions, diagnostics, the mapping walk and the scalar value readers
//   load_settings.cpp  `defaults` and host entries as written: settings, algorithms, labels
//   load_sections.cpp  the `collector` and `process_names` sections
//   load_hosts.cpp     hosts: inheritance, nodeset expansion, cross-checks
//   web_config.cpp     the web config file (collector.web_config_file), on the same plumbing
// It uses yaml-cpp, which is private to fleetps::config: it stays in src/, never in include/.
#pragma once

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "fleetps/config/diagnostic.hpp"
#include "fleetps/config/inventory.hpp"
#include "fleetps/config/load.hpp"

namespace fleetps::config::detail {

using std::chrono::milliseconds;

using KeyList = std::vector<std::string_view>;

inline const KeyList kTopKeys{"defaults", "collector", "cluster", "hosts", "process_names"};
inline const KeyList kClusterKeys{"name",          "membership",  "buckets",
                                  "zone_label",    "min_members", "min_members_timeout",
                                  "max_hosts",     "standby",     "failsafe",
                                  "drain_timeout", "settle",      "handover_warm_timeout",
                                  "fence_margin",  "etcd",        "static",
                                  "peer_http"};
inline const KeyList kClusterPeerHttpKeys{"basic_auth", "tls_config"};
inline const KeyList kClusterPeerBasicAuthKeys{"username", "password_file"};
inline const KeyList kClusterPeerTlsKeys{"ca_file"};
inline const KeyList kClusterEtcdKeys{"endpoints", "lease_ttl", "request_timeout",
                                      "tls",       "username",  "password_file"};
inline const KeyList kClusterTlsKeys{"ca_file", "cert_file", "key_file"};
inline const KeyList kClusterStaticKeys{"members"};
inline const KeyList kClusterMemberKeys{"name", "advertise", "weight", "zone"};
inline const KeyList kSettingKeys{"user",           "port",
                                  "identity_file",  "passphrase_file",
                                  "passphrase_env", "use_ssh_agent",
                                  "known_hosts",    "host_key_policy",
                                  "interval",       "connect_timeout",
                                  "probe_timeout",  "output_limit",
                                  "keepalive",      "max_channels_per_host",
                                  "dialect",        "algorithms",
                                  "labels",         "privilege",
                                  "probe_channel"};
inline const KeyList kHostOnlyKeys{"name", "address"};
inline const KeyList kCollectorKeys{"listen",
                                    "max_concurrent_handshakes",
                                    "threads",
                                    "enable_reload_endpoint",
                                    "max_restarts",
                                    "restart_period",
                                    "group_retention",
                                    "max_groups_per_host",
                                    "http",
                                    "web_config_file",
                                    "max_processes_per_host",
                                    "max_label_value_bytes",
                                    "max_host_events_per_minute",
                                    "fresh_rate_per_client",
                                    "fresh_burst_per_client",
                                    "fresh_rate",
                                    "fresh_burst",
                                    "api_threads",
                                    "api_max_pending",
                                    "source_address"};
inline const KeyList kCollectorHttpKeys{"max_connections", "max_connections_per_client",
                                        "header_timeout",  "body_timeout",
                                        "idle_timeout",    "write_timeout",
                                        "max_request_body"};
inline const KeyList kAlgorithmKeys{"kex", "hostkeys", "ciphers", "macs", "pubkeys"};
inline const KeyList kProcessNameKeys{"name", "comm", "exe", "cmdline", "expect"};
inline const KeyList kDialects{"auto",    "linux-procps", "busybox", "aix",
                               "solaris", "hpux",         "freebsd", "darwin"};

// A configuration file's text, or why it could not be read (a diagnostic at 0:0).
struct ConfigText {
  std::string text;
  std::optional<Diagnostic> error;
};

// Reads a configuration file of at most 64 MiB.
ConfigText ReadConfigText(const std::string& path);

// The absolute directory holding `path` (relative paths in the file are resolved against it),
// or empty when it cannot be known.
std::filesystem::path DirectoryOf(const std::string& path);

struct Pos {
  int line = 0;
  int column = 0;
  bool operator==(const Pos&) const = default;
};

template <class T>
struct Setting {
  std::optional<T> value;
  Pos pos;
  bool invalid = false;  // present but rejected: checks that depend on it are skipped
};

// The keys shared by `defaults` and host entries, as written (nothing inherited yet).
struct Settings {
  Setting<std::string> user, identity_file, passphrase_file, passphrase_env, known_hosts, dialect;
  Setting<std::uint16_t> port;
  Setting<bool> use_ssh_agent;
  Setting<HostKeyPolicy> host_key_policy;
  Setting<Privilege> privilege;
  Setting<ProbeChannel> probe_channel;
  Setting<milliseconds> interval, connect_timeout, probe_timeout, keepalive;
  Setting<std::uint64_t> output_limit;
  Setting<unsigned> max_channels_per_host;
  Setting<std::vector<std::string>> kex, hostkeys, ciphers, macs, pubkeys;
  Setting<bool> algorithms_legacy;
  std::vector<std::pair<std::string, std::string>> labels;
};

struct HostEntry {
  Pos pos;
  Settings settings;
  Setting<std::string> name;
  Setting<std::string> address;
  YAML::Node name_node;
  YAML::Node address_node;
};

// The reading plumbing of one YAML configuration text (load_reading.cpp): positions,
// diagnostics, the mapping walk and the scalar readers, each reporting what it rejects. The
// inventory loader and the web config loader (web_config.cpp) build on it.
class YamlReader {
 public:
  YamlReader(std::string_view source, std::string file, std::filesystem::path base_dir)
      : source_(source), file_(std::move(file)), base_dir_(std::move(base_dir)) {}
  virtual ~YamlReader() = default;
  YamlReader(const YamlReader&) = delete;
  YamlReader& operator=(const YamlReader&) = delete;

 protected:
  // Parses the text as one YAML document and hands its root to `load_root`, unless the text
  // is empty (reported as `empty_message`), not one document or not YAML. Returns every
  // diagnostic, sorted by position.
  std::vector<Diagnostic> ReadDocument(std::string_view empty_message,
                                       const std::function<void(const YAML::Node&)>& load_root);

  static Pos MarkPos(const YAML::Mark& mark);
  static Pos PosOf(const YAML::Node& node);

  // A missing value (`port:` then a newline) has the mark of the next token; point at the key.
  static Pos ValuePos(const YAML::Node& key, const YAML::Node& value);

  // The position of byte `offset` of a scalar's value, mapped back through quotes and escapes;
  // the scalar's own position when the mapping is not exact (folded lines, block scalars).
  Pos PosInScalar(const YAML::Node& node, std::size_t offset) const;

  void Report(Pos pos, std::string message, Severity severity = Severity::kError);

  // "got ..." wording: numbers bare, other scalars quoted, collections by kind.
  static std::string Describe(const YAML::Node& node);

  using Visitor = std::function<void(const std::string& key, const YAML::Node& key_node,
                                     const YAML::Node& value)>;

  // Visits each key once, in file order. Reports non-string keys, duplicate keys (yaml-cpp
  // keeps both silently) and, when `allowed` is given, unknown keys with a hint.
  void ForEachKey(const YAML::Node& map, std::string_view where, const KeyList* allowed,
                  const Visitor& visit);

  // The message for an unknown key: a "did you mean" hint when one is close.
  virtual std::string UnknownKeyMessage(const std::string& key, std::string_view where,
                                        const KeyList& allowed) const;

  std::optional<std::string> String(const YAML::Node& value, Pos pos, std::string_view what);
  std::optional<std::uint64_t> Unsigned(const YAML::Node& value, Pos pos, std::uint64_t low,
                                        std::uint64_t high);
  std::optional<bool> Bool(const YAML::Node& value, Pos pos);
  std::optional<milliseconds> Duration(const YAML::Node& value, Pos pos, milliseconds low,
                                       milliseconds high, bool zero_means_off = false);
  std::optional<std::uint64_t> Size(const YAML::Node& value, Pos pos, std::uint64_t low,
                                    std::uint64_t high);
  std::optional<std::string> Enum(const YAML::Node& value, Pos pos, const KeyList& choices);

  // A checked string: `check` gives the problem, reported at the value.
  std::optional<std::string> Checked(const YAML::Node& value, Pos pos, std::string_view what,
                                     std::optional<std::string> (*check)(std::string_view));

  // A path, resolved against the directory of the file when relative.
  std::optional<std::string> Path(const YAML::Node& value, Pos pos);

  // A list of strings, each passed to `item` (which reports its own problems).
  std::optional<std::vector<std::string>> List(
      const YAML::Node& value, Pos pos, std::string_view what, bool allow_empty,
      const std::function<bool(const std::string&, const YAML::Node&)>& item);

  template <class T, class Parse>
  static void Set(Setting<T>& setting, Pos pos, Parse&& parse) {
    setting.pos = pos;
    auto parsed = parse();
    if (parsed) {
      setting.value = static_cast<T>(*parsed);
    } else {
      setting.invalid = true;
    }
  }

  std::string_view source_;
  std::string file_;
  std::filesystem::path base_dir_;

 private:
  std::vector<Diagnostic> diagnostics_;
  std::set<std::tuple<int, int, std::string>> seen_;
};

// One load of one inventory text. Its member functions are defined by job in the files listed
// at the top of this header.
class Loader : public YamlReader {
 public:
  Loader(std::string_view source, std::string file, std::filesystem::path base_dir,
         const LoadOptions& options)
      : YamlReader(source, std::move(file), std::move(base_dir)), options_(options) {}

  LoadResult Run();

 private:
  // ---- load.cpp: the top level ----

  void LoadRoot(const YAML::Node& root);

  // Adds where the key belongs when it is a key of another section.
  std::string UnknownKeyMessage(const std::string& key, std::string_view where,
                                const KeyList& allowed) const override;

  // ---- load_settings.cpp: defaults and host entries ----

  void ParseSettings(const YAML::Node& map, std::string_view where, const KeyList& allowed,
                     Settings& s, HostEntry* host = nullptr);
  void ParseSetting(const std::string& key, const YAML::Node& value, Pos pos, Settings& s);

  // `algorithms: legacy` / `algorithms: default` set all five lists (replacing inherited ones);
  // the mapping form sets the lists it names and inherits the rest, `legacy` included.
  void ParseAlgorithms(const YAML::Node& value, Pos pos, Settings& s);

  void ParseLabels(const YAML::Node& value, Pos pos, Settings& s);
  void ParseHost(const YAML::Node& node);

  // ---- load_sections.cpp: collector and process_names ----

  void ParseCollector(const YAML::Node& value, Pos pos);
  void ParseCollectorHttp(const YAML::Node& value, Pos pos);
  void ParseProcessNames(const YAML::Node& value, Pos pos);
  // `expect:` needs a fixed group name and, when LoadOptions can parse selectors, a valid host
  // selector. False when the entry must be rejected.
  bool CheckExpect(const ProcessNameMatcher& matcher, const YAML::Node& expect_node,
                   const YAML::Node& name_node);

  // ---- load_cluster.cpp: the cluster section ----

  void ParseCluster(const YAML::Node& value, Pos pos);
  // Fills inventory_.cluster.etcd; tells where lease_ttl was written, and whether
  // request_timeout and endpoints were written at all (valid or not).
  void ParseClusterEtcd(const YAML::Node& value, Pos pos, Pos& lease_ttl_pos,
                        bool& request_timeout_set, bool& endpoints_written);
  void ParseClusterStatic(const YAML::Node& value, Pos pos);
  void ParseClusterPeerHttp(const YAML::Node& value, Pos pos);
  // A clustered config whose web config (collector.web_config_file) members cannot pass with
  // cluster.peer_http: basic auth without peer credentials, or required client certificates.
  // A web config that does not load is skipped here (its own diagnostics are the caller's).
  void CheckPeerHttp();
  void CheckReadableFile(const std::string& path, Pos pos, std::string_view what);

  // ---- load_hosts.cpp: inheritance, expansion, cross-checks ----

  void ResolveHosts();

  // Fills `addresses`: empty (address = name), one shared address, or one per name.
  bool ResolveAddresses(const HostEntry& entry, const std::vector<std::string>& names,
                        std::vector<std::string>& addresses);

  // The entry's settings over the defaults over the built-in values; nullopt after reporting
  // a cross-check failure. `shown` names the host (or pattern) in messages.
  std::optional<HostSpec> Merge(const HostEntry& entry, const std::string& shown);

  Settings defaults_;
  Pos cluster_pos_;    // where `cluster:` was written
  Pos peer_http_pos_;  // where `cluster.peer_http` was written; cluster_pos_ when it was not
  Pos peer_username_pos_;
  const LoadOptions& options_;
  std::vector<HostEntry> entries_;
  Inventory inventory_;
};

}  // namespace fleetps::config::detail
