#include "fleetps/registry/errors.hpp"

#include <string>

namespace fleetps::registry {
namespace {

// boost::system::error_category has a protected non-virtual destructor by design (categories
// are never deleted through it); GCC's -Wnon-virtual-dtor still flags every derived class.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"
class Category final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "fleetps.registry"; }

  std::string message(int ev) const override {
    switch (static_cast<Errc>(ev)) {
      case Errc::kAlreadyRegistered:
        return "key already registered by a live owner";
      case Errc::kClosed:
        return "closed";
      case Errc::kInvalidPattern:
        return "invalid subscription pattern";
      case Errc::kInvalidCapacity:
        return "subscription capacity must be at least 1";
    }
    return "unknown registry error";
  }
};
#pragma GCC diagnostic pop

}  // namespace

const boost::system::error_category& RegistryCategory() noexcept {
  static const Category category;
  return category;
}

}  // namespace fleetps::registry
