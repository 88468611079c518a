#pragma once

#include "fleetps/config/load.hpp"

namespace fleetps::collector {

/// Load options with what fleetps::config cannot check alone. `algorithms` names against the
/// linked libssh: a name it does not support is a warning (libssh ignores it; the message lists
/// what it supports), a list with no supported name an error, a weak name a warning, and each
/// `algorithms: legacy` a warning naming the weak algorithms it enables. process_names
/// `expect:` selectors against the query grammar (host fields only). Used by `run`, reloads and
/// `check-config`, so all three accept the same files.
[[nodiscard]] config::LoadOptions CollectorLoadOptions();

}  // namespace fleetps::collector
