// What was built: the version and the git revision, as fleetps_build_info and `fleetps version`
// show them. The revision is read at build time, so only build_info.cpp rebuilds after a commit.
#pragma once

#include <string_view>

namespace fleetps::collector {

/// The project version ("0.1.0").
[[nodiscard]] std::string_view BuildVersion() noexcept;

/// The short git revision of the source tree at build time, or "unknown" outside git.
[[nodiscard]] std::string_view BuildRevision() noexcept;

}  // namespace fleetps::collector
