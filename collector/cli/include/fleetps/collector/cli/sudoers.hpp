#pragma once

#include <span>
#include <string>

namespace fleetps::collector {

/// The sudoers snippet `fleetps sudoers` prints for `users` (valid login names, at least one):
/// one Cmnd_Alias per command of probes::SudoCommands() with its argument list escaped so that
/// sudoers matches it literally (no wildcard widens it), a comment above each saying what it
/// reads and on which platforms, `Defaults:USERS !requiretty` (RHEL 5/6 ship requiretty, which
/// refuses sudo without a terminal) and one `USERS ALL = (root) NOPASSWD:` rule naming exactly
/// those aliases. Pure; the text passes `visudo -c`.
[[nodiscard]] std::string SudoersSnippet(std::span<const std::string> users);

}  // namespace fleetps::collector
