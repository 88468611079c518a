// Secrets kept in files (passwords for etcd, peers and the CLI's basic auth): never argv.
#pragma once

#include <optional>
#include <string>

namespace fleetps::config {

/// The first line of the file at `path` without its line end (a trailing CR from a file written
/// on Windows is dropped too); nullopt when the file cannot be opened or is empty. The caller
/// names the file in its message, never the content.
[[nodiscard]] std::optional<std::string> ReadSecretLine(const std::string& path);

}  // namespace fleetps::config
