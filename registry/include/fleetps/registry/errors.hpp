#pragma once

#include <type_traits>

#include <boost/system/error_code.hpp>

namespace fleetps::registry {

/// Errors returned by Registry, Bus and Subscription (category "fleetps.registry").
enum class Errc {
  kAlreadyRegistered = 1,  ///< a unique key is held by a live registration
  kClosed,                 ///< the bus or subscription was closed
  kInvalidPattern,         ///< a subscription pattern is not `topic`, `*` or `prefix/*`
  kInvalidCapacity,        ///< a subscription queue capacity of zero
};

/// The category of Errc; a singleton.
[[nodiscard]] const boost::system::error_category& RegistryCategory() noexcept;

[[nodiscard]] inline boost::system::error_code make_error_code(
    Errc e) noexcept {  // NOLINT: ADL hook
  return {static_cast<int>(e), RegistryCategory()};
}

}  // namespace fleetps::registry

template <>
struct boost::system::is_error_code_enum<fleetps::registry::Errc> : std::true_type {};
