#include "fleetps/config/diff.hpp"

#include <tuple>
#include <unordered_map>
#include <utility>

namespace fleetps::config {

InventoryDiff DiffInventories(const Inventory& before, const Inventory& after) {
  InventoryDiff diff;
  std::unordered_map<std::string_view, const HostSpec*> old_hosts;
  for (const HostSpec& host : before.hosts) old_hosts.emplace(host.name, &host);
  std::unordered_map<std::string_view, const HostSpec*> new_hosts;
  for (const HostSpec& host : after.hosts) new_hosts.emplace(host.name, &host);

  for (const HostSpec& host : after.hosts) {
    const auto it = old_hosts.find(host.name);
    if (it == old_hosts.end()) {
      diff.added.push_back(host.name);
    } else if (*it->second == host) {
      diff.unchanged.push_back(host.name);
    } else {
      diff.changed.push_back(host.name);
    }
  }
  for (const HostSpec& host : before.hosts) {
    if (!new_hosts.contains(host.name)) diff.removed.push_back(host.name);
  }
  // The per-host bounds live in `collector:` but are grouping rules: a reload applies them.
  auto grouping = [](const CollectorSettings& c) {
    return std::tuple(c.group_retention, c.max_groups_per_host, c.max_processes_per_host,
                      c.max_label_value_bytes);
  };
  // So does `collector.http`, for the connections accepted after it.
  auto without_reloadable = [](CollectorSettings c) {
    c.group_retention = {};
    c.max_groups_per_host = 0;
    c.web_config_file.clear();  // a reload re-reads the web config, wherever it now is
    c.http = {};
    c.max_processes_per_host = 0;
    c.max_label_value_bytes = 0;
    c.source_address.clear();  // carried by every HostSpec: changed hosts reconnect
    return c;
  };
  diff.process_names_changed = before.process_names != after.process_names ||
                               grouping(before.collector) != grouping(after.collector);
  diff.http_changed = before.collector.http != after.collector.http;
  diff.collector_changed =
      !(without_reloadable(before.collector) == without_reloadable(after.collector));
  diff.cluster_changed = !(before.cluster == after.cluster);
  return diff;
}

}  // namespace fleetps::config
