#pragma once

#include <string>
#include <vector>

#include "fleetps/config/inventory.hpp"

namespace fleetps::config {

/// What changes when `after` replaces `before` (a reload). Host lists hold host names:
/// `added`, `changed`, `unchanged` in the order of `after`, `removed` in the order of `before`.
/// A host is `changed` when its HostSpec differs in any field (its session must be restarted);
/// `unchanged` hosts keep their sessions.
struct InventoryDiff {
  std::vector<std::string> added;
  std::vector<std::string> removed;
  std::vector<std::string> changed;
  std::vector<std::string> unchanged;
  /// The grouping rules differ: `process_names` (order matters), `collector.group_retention`,
  /// `max_groups_per_host`, `max_processes_per_host` or `max_label_value_bytes`. A reload
  /// applies them.
  bool process_names_changed = false;
  /// `collector.http` differs. A reload applies it to connections accepted after it.
  bool http_changed = false;
  /// The rest of the `collector:` section differs (takes effect after a restart; a reload
  /// re-reads `web_config_file` whatever it names).
  bool collector_changed = false;
  /// The `cluster:` section differs. A reload applies a static member list (hosts move through
  /// the same diff); the rest takes effect after a restart.
  bool cluster_changed = false;

  /// True when applying `after` would change nothing.
  [[nodiscard]] bool empty() const {
    return added.empty() && removed.empty() && changed.empty() && !process_names_changed &&
           !http_changed && !collector_changed && !cluster_changed;
  }
};

/// Compares two valid inventories (host names unique in each). Pure and thread-safe.
[[nodiscard]] InventoryDiff DiffInventories(const Inventory& before, const Inventory& after);

}  // namespace fleetps::config
