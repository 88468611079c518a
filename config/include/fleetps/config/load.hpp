#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fleetps/config/diagnostic.hpp"
#include "fleetps/config/inventory.hpp"

namespace fleetps::config {

/// The outcome of loading an inventory: the inventory when the file is valid, and every
/// diagnostic found, sorted by line then column (identical diagnostics appear once).
struct LoadResult {
  /// Set exactly when no diagnostic is an error (warnings alone keep it).
  std::optional<Inventory> inventory;
  std::vector<Diagnostic> diagnostics;

  /// True when the inventory is valid (no error; warnings allowed).
  [[nodiscard]] bool ok() const { return inventory.has_value(); }
};

/// What a caller that knows the SSH library adds to validation (fleetps::config itself does not
/// link it). Every member is optional.
struct LoadOptions {
  /// Checks one name of an `algorithms` list (`list` is "kex", "hostkeys", "ciphers", "macs" or
  /// "pubkeys"). Returns {error, warning}: a non-empty error rejects the name, a non-empty
  /// warning is reported at its position (e.g. a weak algorithm).
  std::function<std::pair<std::string, std::string>(std::string_view list, std::string_view name)>
      check_algorithm;
  /// Checks a whole `algorithms` list after its names: a non-empty error rejects the list (e.g.
  /// when the SSH library supports none of its names).
  std::function<std::string(std::string_view list, const std::vector<std::string>& names)>
      check_algorithm_list;
  /// A warning reported at each `algorithms: legacy` (what it enables that is weak), or "".
  std::function<std::string()> legacy_warning;
  /// Checks a process_names `expect:` selector; returns nullopt when it is valid, else the byte
  /// offset in the selector text and the message (fleetps::config does not know the query
  /// grammar). Without it, `expect` is only checked to name a fixed group.
  std::function<std::optional<std::pair<std::size_t, std::string>>(std::string_view selector)>
      check_expect;
};

/// Reads, parses and validates the YAML inventory at `path` (schema: config/README.md).
///
/// Every problem is reported at once, each as `path:line:col: message`. An unreadable file gives
/// one diagnostic `path:0:0: cannot read file: <reason>`; a YAML syntax error gives one
/// diagnostic at the parser's position. Relative `identity_file`, `passphrase_file` and
/// `known_hosts` paths are resolved against the directory holding `path`.
///
/// Pure function of the file's contents: no network access, no check that key files exist
/// (they may live on the collector host only). Thread-safe; never throws for bad input.
[[nodiscard]] LoadResult LoadInventoryFile(const std::string& path,
                                           const LoadOptions& options = {});

/// Same as LoadInventoryFile, from text. `file_name` only labels the diagnostics; relative
/// paths in the inventory are kept as written.
[[nodiscard]] LoadResult LoadInventoryFromString(std::string_view yaml, std::string file_name,
                                                 const LoadOptions& options = {});

/// The inventory's rule for a login user name (`user:`), for names given elsewhere (a command
/// line): nullopt when valid, else the message check-config would print.
[[nodiscard]] std::optional<std::string> CheckUserName(std::string_view user);

}  // namespace fleetps::config
