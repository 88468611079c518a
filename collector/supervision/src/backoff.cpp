#include "fleetps/collector/supervision/backoff.hpp"

namespace fleetps::collector {

double DefaultRandomSource::Uniform01() {
  std::lock_guard lock(mu_);
  return std::uniform_real_distribution<double>(0.0, 1.0)(engine_);
}

}  // namespace fleetps::collector
