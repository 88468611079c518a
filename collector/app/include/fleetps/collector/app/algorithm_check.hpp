#pragma once

#include "fleetps/config/load.hpp"

namespace fleetps::collector {

/// Load options that check `algorithms` names against the linked libssh: a name it does not
/// support is a warning (libssh ignores it; the message lists what it supports), a list with
/// no supported name an error, a weak name a warning, and each `algorithms: legacy` a warning
/// naming the weak algorithms it enables. Used by `run`,
/// reloads and `check-config`, so all three accept the same files.
[[nodiscard]] config::LoadOptions AlgorithmCheckingLoadOptions();

}  // namespace fleetps::collector
