// The inventory loader's reading of `defaults` and host entries as written: each setting, the
// `algorithms` and `labels` forms, and the host-only keys. Inheritance comes later (load_hosts).
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "checks.hpp"
#include "loader.hpp"

namespace fleetps::config::detail {
namespace {

using namespace std::chrono_literals;

KeyList Concat(const KeyList& a, const KeyList& b) {
  KeyList out = a;
  out.insert(out.end(), b.begin(), b.end());
  return out;
}

}  // namespace

void Loader::ParseSettings(const YAML::Node& map, std::string_view where, const KeyList& allowed,
                           Settings& s, HostEntry* host) {
  ForEachKey(map, where, &allowed,
             [&](const std::string& key, const YAML::Node& key_node, const YAML::Node& value) {
               const Pos pos = ValuePos(key_node, value);
               if (host != nullptr && key == "name") {
                 Set(host->name, pos, [&] { return String(value, pos, "a host name"); });
                 host->name_node = value;
               } else if (host != nullptr && key == "address") {
                 Set(host->address, pos, [&] { return String(value, pos, "an address"); });
                 host->address_node = value;
               } else {
                 ParseSetting(key, value, pos, s);
               }
             });
  if (s.passphrase_file.value && s.passphrase_env.value) {
    const bool env_later = std::tie(s.passphrase_env.pos.line, s.passphrase_env.pos.column) >
                           std::tie(s.passphrase_file.pos.line, s.passphrase_file.pos.column);
    Report(env_later ? s.passphrase_env.pos : s.passphrase_file.pos,
           "set either passphrase_file or passphrase_env, not both");
  }
}

void Loader::ParseSetting(const std::string& key, const YAML::Node& value, Pos pos, Settings& s) {
  if (key == "user") {
    Set(s.user, pos, [&] { return Checked(value, pos, "a user name", detail::CheckUser); });
  } else if (key == "port") {
    Set(s.port, pos, [&] { return Unsigned(value, pos, 1, 65535); });
  } else if (key == "identity_file") {
    Set(s.identity_file, pos, [&] { return Path(value, pos); });
  } else if (key == "passphrase_file") {
    Set(s.passphrase_file, pos, [&] { return Path(value, pos); });
  } else if (key == "passphrase_env") {
    Set(s.passphrase_env, pos,
        [&] { return Checked(value, pos, "an environment variable name", detail::CheckEnvName); });
  } else if (key == "use_ssh_agent") {
    Set(s.use_ssh_agent, pos, [&] { return Bool(value, pos); });
  } else if (key == "known_hosts") {
    Set(s.known_hosts, pos, [&] { return Path(value, pos); });
  } else if (key == "host_key_policy") {
    Set(s.host_key_policy, pos, [&]() -> std::optional<HostKeyPolicy> {
      const auto policy = Enum(value, pos, {"strict", "accept-new"});
      if (!policy) return std::nullopt;
      return *policy == "strict" ? HostKeyPolicy::kStrict : HostKeyPolicy::kAcceptNew;
    });
  } else if (key == "interval") {
    Set(s.interval, pos, [&] { return Duration(value, pos, 1s, 24h); });
  } else if (key == "connect_timeout") {
    Set(s.connect_timeout, pos, [&] { return Duration(value, pos, 100ms, 5min); });
  } else if (key == "probe_timeout") {
    Set(s.probe_timeout, pos, [&] { return Duration(value, pos, 100ms, 30min); });
  } else if (key == "keepalive") {
    Set(s.keepalive, pos, [&] { return Duration(value, pos, 1s, 24h, true); });
  } else if (key == "output_limit") {
    Set(s.output_limit, pos, [&] { return Size(value, pos, 4ull << 10, 1ull << 30); });
  } else if (key == "max_channels_per_host") {
    Set(s.max_channels_per_host, pos, [&] { return Unsigned(value, pos, 1, 9); });
  } else if (key == "dialect") {
    Set(s.dialect, pos, [&]() -> std::optional<std::string> {
      auto dialect = Enum(value, pos, kDialects);
      if (dialect && *dialect == "auto") dialect->clear();
      return dialect;
    });
  } else if (key == "privilege") {
    Set(s.privilege, pos, [&]() -> std::optional<Privilege> {
      const auto privilege = Enum(value, pos, {"none", "sudo"});
      if (!privilege) return std::nullopt;
      return *privilege == "sudo" ? Privilege::kSudo : Privilege::kNone;
    });
  } else if (key == "probe_channel") {
    Set(s.probe_channel, pos, [&]() -> std::optional<ProbeChannel> {
      const auto channel = Enum(value, pos, {"auto", "shell", "exec"});
      if (!channel) return std::nullopt;
      return *channel == "shell"  ? ProbeChannel::kShell
             : *channel == "exec" ? ProbeChannel::kExec
                                  : ProbeChannel::kAuto;
    });
  } else if (key == "algorithms") {
    ParseAlgorithms(value, pos, s);
  } else if (key == "labels") {
    ParseLabels(value, pos, s);
  }
}

void Loader::ParseAlgorithms(const YAML::Node& value, Pos pos, Settings& s) {
  Setting<std::vector<std::string>>* lists[] = {&s.kex, &s.hostkeys, &s.ciphers, &s.macs,
                                                &s.pubkeys};
  if (value.IsScalar() && (value.Scalar() == "legacy" || value.Scalar() == "default")) {
    const bool legacy = value.Scalar() == "legacy";
    Set(s.algorithms_legacy, pos, [&] { return std::optional<bool>(legacy); });
    for (auto* list : lists)
      Set(*list, pos,
          [] { return std::optional<std::vector<std::string>>(std::vector<std::string>{}); });
    if (legacy && options_.legacy_warning) {
      if (std::string warning = options_.legacy_warning(); !warning.empty()) {
        Report(pos, std::move(warning), Severity::kWarning);
      }
    }
    return;
  }
  if (!value.IsMap()) {
    Report(pos,
           "expected \"legacy\", \"default\" or a mapping with kex, hostkeys, ciphers, macs "
           "or pubkeys, got " +
               Describe(value));
    return;
  }
  ForEachKey(value, "in algorithms", &kAlgorithmKeys,
             [&](const std::string& key, const YAML::Node& key_node, const YAML::Node& list) {
               const Pos list_pos = ValuePos(key_node, list);
               Setting<std::vector<std::string>>& target = key == "kex"        ? s.kex
                                                           : key == "hostkeys" ? s.hostkeys
                                                           : key == "ciphers"  ? s.ciphers
                                                           : key == "macs"     ? s.macs
                                                                               : s.pubkeys;
               Set(target, list_pos, [&] {
                 return List(list, list_pos, "algorithm names", true,
                             [&](const std::string& name, const YAML::Node& node) {
                               if (auto problem = detail::CheckAlgorithmName(name)) {
                                 Report(PosOf(node), std::move(*problem));
                                 return false;
                               }
                               if (!options_.check_algorithm) return true;
                               auto [error, warning] = options_.check_algorithm(key, name);
                               if (!error.empty()) {
                                 Report(PosOf(node), std::move(error));
                                 return false;
                               }
                               if (!warning.empty()) {
                                 Report(PosOf(node), std::move(warning), Severity::kWarning);
                               }
                               return true;
                             });
               });
               if (target.value && !target.value->empty() && options_.check_algorithm_list) {
                 if (std::string error = options_.check_algorithm_list(key, *target.value);
                     !error.empty()) {
                   Report(list_pos, std::move(error));
                   target.invalid = true;
                 }
               }
             });
}

void Loader::ParseLabels(const YAML::Node& value, Pos pos, Settings& s) {
  if (!value.IsMap()) {
    Report(pos, "expected a mapping of label names to values, got " + Describe(value));
    return;
  }
  ForEachKey(value, "in labels", nullptr,
             [&](const std::string& name, const YAML::Node& key_node, const YAML::Node& label) {
               if (auto problem = detail::CheckLabelName(name)) {
                 Report(PosOf(key_node), std::move(*problem));
                 return;
               }
               const Pos label_pos = ValuePos(key_node, label);
               auto text = String(label, label_pos, "a label value (a string)");
               if (!text) return;
               if (auto problem = detail::CheckLabelValue(*text)) {
                 Report(label_pos, std::move(*problem));
                 return;
               }
               s.labels.emplace_back(name, std::move(*text));
             });
}

void Loader::ParseHost(const YAML::Node& node) {
  HostEntry entry;
  entry.pos = PosOf(node);
  if (!node.IsMap()) {
    Report(entry.pos, "expected a host mapping with \"name\", got " + Describe(node));
    return;
  }
  ParseSettings(node, "in host", Concat(kHostOnlyKeys, kSettingKeys), entry.settings, &entry);
  if (!entry.name.value && !entry.name.invalid) {
    Report(entry.pos, "host entry has no \"name\"");
    return;
  }
  if (entry.name.value) entries_.push_back(std::move(entry));
}

}  // namespace fleetps::config::detail
