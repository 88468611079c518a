#include "fleetps/collector/telemetry/build_info.hpp"

#include "fleetps_revision.hpp"

namespace fleetps::collector {

std::string_view BuildVersion() noexcept { return FLEETPS_VERSION; }

std::string_view BuildRevision() noexcept { return FLEETPS_REVISION; }

}  // namespace fleetps::collector
