#include "fleetps/collector/supervision/backoff.hpp"

#include <algorithm>

namespace fleetps::collector {

double DefaultRandomSource::Uniform01() {
  std::lock_guard lock(mu_);
  return std::uniform_real_distribution<double>(0.0, 1.0)(engine_);
}

Duration BackoffCeiling(const BackoffPolicy& policy, unsigned attempt) noexcept {
  if (policy.base <= Duration::zero() || policy.cap <= Duration::zero()) {
    return Duration::zero();
  }
  Duration ceiling = policy.base;
  for (unsigned i = 0; i < attempt && ceiling < policy.cap; ++i) {
    ceiling = ceiling > policy.cap / 2 ? policy.cap : ceiling * 2;  // no overflow past the cap
  }
  return std::min(ceiling, policy.cap);
}

Duration FullJitterDelay(const BackoffPolicy& policy, unsigned attempt, double u) noexcept {
  u = std::clamp(u, 0.0, 1.0);
  const auto ceiling = BackoffCeiling(policy, attempt);
  return Duration(static_cast<Duration::rep>(u * static_cast<double>(ceiling.count())));
}

}  // namespace fleetps::collector
