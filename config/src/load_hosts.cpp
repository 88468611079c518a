// The inventory loader's host resolution: each entry's settings over the defaults, its name and
// address patterns expanded into hosts, and the checks that span settings or hosts.
#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "checks.hpp"
#include "fleetps/config/nodeset.hpp"
#include "fleetps/config/units.hpp"
#include "loader.hpp"

namespace fleetps::config::detail {
namespace {

// The host's setting when it has one (even an invalid one), else the default's.
template <class T>
const Setting<T>& Pick(const Setting<T>& host, const Setting<T>& defaults) {
  return host.value || host.invalid ? host : defaults;
}

}  // namespace

void Loader::ResolveHosts() {
  std::unordered_map<std::string, int> first_line;
  for (const HostEntry& entry : entries_) {
    const std::string& pattern = *entry.name.value;
    const NodesetResult names = ExpandNodeset(pattern);
    if (!names.ok()) {
      Report(PosInScalar(entry.name_node, names.error_offset), names.error);
      continue;
    }
    bool names_ok = true;
    for (const std::string& name : names.names) {
      if (auto problem = detail::CheckHostName(name)) {
        Report(entry.name.pos, std::move(*problem));
        names_ok = false;
        break;
      }
    }
    std::vector<std::string> addresses;
    if (!ResolveAddresses(entry, names.names, addresses)) names_ok = false;

    const std::optional<HostSpec> spec = Merge(entry, Quote(pattern));
    if (!names_ok) continue;
    for (std::size_t i = 0; i < names.names.size(); ++i) {
      const std::string& name = names.names[i];
      if (const auto [seen, inserted] = first_line.emplace(name, entry.name.pos.line); !inserted) {
        Report(entry.name.pos, "duplicate host " + Quote(name) + " (first defined at line " +
                                   std::to_string(seen->second) + ")");
        continue;
      }
      if (!spec) continue;
      if (inventory_.hosts.size() == kMaxNodesetNames) {
        Report(entry.name.pos,
               "the inventory has more than " + std::to_string(kMaxNodesetNames) + " hosts");
        return;
      }
      HostSpec host = *spec;
      host.name = name;
      host.address = addresses.empty() ? name : addresses.size() == 1 ? addresses[0] : addresses[i];
      host.source_address = inventory_.collector.source_address;
      inventory_.hosts.push_back(std::move(host));
    }
  }
}

bool Loader::ResolveAddresses(const HostEntry& entry, const std::vector<std::string>& names,
                              std::vector<std::string>& addresses) {
  if (entry.address.invalid) return false;
  if (!entry.address.value) return true;
  const std::string& address = *entry.address.value;
  if (IsNodesetPattern(address) && address.find(':') == std::string::npos) {
    NodesetResult expanded = ExpandNodeset(address);
    if (!expanded.ok()) {
      Report(PosInScalar(entry.address_node, expanded.error_offset), expanded.error);
      return false;
    }
    if (expanded.names.size() != names.size()) {
      Report(entry.address.pos, "address expands to " + std::to_string(expanded.names.size()) +
                                    " names but name expands to " + std::to_string(names.size()));
      return false;
    }
    addresses = std::move(expanded.names);
  } else {
    addresses.push_back(address);
  }
  for (const std::string& one : addresses) {
    if (auto problem = detail::CheckAddress(one)) {
      Report(entry.address.pos, std::move(*problem));
      return false;
    }
  }
  return true;
}

std::optional<HostSpec> Loader::Merge(const HostEntry& entry, const std::string& shown) {
  const Settings& h = entry.settings;
  const Settings& d = defaults_;
  HostSpec spec;
  bool ok = true;
  bool invalid = false;
  auto take = [&invalid](auto& field, const auto& host_setting, const auto& default_setting) {
    const auto& chosen = Pick(host_setting, default_setting);
    if (chosen.invalid) invalid = true;
    if (chosen.value) field = *chosen.value;
    return chosen;
  };
  const auto user = take(spec.user, h.user, d.user);
  take(spec.port, h.port, d.port);
  const auto identity = take(spec.identity_file, h.identity_file, d.identity_file);
  // A host naming either passphrase source replaces both of the defaults'.
  const bool host_passphrase = h.passphrase_file.value || h.passphrase_file.invalid ||
                               h.passphrase_env.value || h.passphrase_env.invalid;
  const Settings& passphrase_from = host_passphrase ? h : d;
  take(spec.passphrase_file, passphrase_from.passphrase_file, passphrase_from.passphrase_file);
  take(spec.passphrase_env, passphrase_from.passphrase_env, passphrase_from.passphrase_env);
  const auto agent = take(spec.use_ssh_agent, h.use_ssh_agent, d.use_ssh_agent);
  take(spec.known_hosts, h.known_hosts, d.known_hosts);
  take(spec.host_key_policy, h.host_key_policy, d.host_key_policy);
  const auto interval = take(spec.interval, h.interval, d.interval);
  take(spec.connect_timeout, h.connect_timeout, d.connect_timeout);
  const auto probe_timeout = take(spec.probe_timeout, h.probe_timeout, d.probe_timeout);
  take(spec.keepalive, h.keepalive, d.keepalive);
  take(spec.output_limit, h.output_limit, d.output_limit);
  take(spec.max_channels_per_host, h.max_channels_per_host, d.max_channels_per_host);
  take(spec.dialect, h.dialect, d.dialect);
  take(spec.privilege, h.privilege, d.privilege);
  take(spec.probe_channel, h.probe_channel, d.probe_channel);
  take(spec.algorithms.kex, h.kex, d.kex);
  take(spec.algorithms.hostkeys, h.hostkeys, d.hostkeys);
  take(spec.algorithms.ciphers, h.ciphers, d.ciphers);
  take(spec.algorithms.macs, h.macs, d.macs);
  take(spec.algorithms.pubkeys, h.pubkeys, d.pubkeys);
  take(spec.algorithms.legacy, h.algorithms_legacy, d.algorithms_legacy);
  for (const auto& [name, value] : d.labels) spec.labels[name] = value;
  for (const auto& [name, value] : h.labels) spec.labels[name] = value;
  // An empty value removes the label, as in Prometheus.
  std::erase_if(spec.labels, [](const auto& label) { return label.second.empty(); });

  if (!user.value && !user.invalid) {
    Report(entry.pos, "no user for host " + shown + "; set \"user\" here or in defaults");
    ok = false;
  }
  if (!identity.value && !identity.invalid && !agent.invalid && !spec.use_ssh_agent) {
    Report(entry.pos, "no credentials for host " + shown +
                          "; set \"identity_file\" or \"use_ssh_agent: true\" here or in defaults");
    ok = false;
  }
  if (!interval.invalid && !probe_timeout.invalid && spec.probe_timeout >= spec.interval) {
    // Point at the host's own setting when it has one, else at the defaults' (reported once).
    const bool host_timeout = h.probe_timeout.value.has_value();
    const bool host_interval = h.interval.value.has_value();
    const Pos pos = host_timeout                      ? probe_timeout.pos
                    : host_interval                   ? interval.pos
                    : probe_timeout.value.has_value() ? probe_timeout.pos
                                                      : interval.pos;
    Report(pos, "probe_timeout " + FormatDuration(spec.probe_timeout) +
                    " must be shorter than interval " + FormatDuration(spec.interval) +
                    " (a probe still running at the next tick makes that tick skip)");
    ok = false;
  }
  if (invalid || !ok) return std::nullopt;
  return spec;
}

std::string_view source_;

}  // namespace fleetps::config::detail
