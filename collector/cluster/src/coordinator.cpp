#include "fleetps/collector/cluster/coordinator.hpp"

#include "fleetps/collector/cluster/cluster_view.hpp"

namespace fleetps::collector::cluster {
namespace {

// error_category's destructor is protected and non-virtual by design (categories are static).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"
class CoordinatorCategoryImpl final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "fleetps.cluster"; }
  std::string message(int value) const override {
    switch (static_cast<CoordinatorErrc>(value)) {
      case CoordinatorErrc::kUnavailable:
        return "the coordination store did not answer in time";
      case CoordinatorErrc::kLeaseNotFound:
        return "the lease expired or was revoked";
      case CoordinatorErrc::kCompacted:
        return "the watch's start revision was compacted away";
      case CoordinatorErrc::kRejected:
        return "the coordination store refused the request";
    }
    return "unknown cluster error";
  }
};
#pragma GCC diagnostic pop

}  // namespace

const boost::system::error_category& CoordinatorCategory() noexcept {
  static const CoordinatorCategoryImpl category;
  return category;
}

boost::system::error_code make_error_code(CoordinatorErrc e) noexcept {
  return {static_cast<int>(e), CoordinatorCategory()};
}

std::string_view MemberStateName(MemberState state) noexcept {
  switch (state) {
    case MemberState::kParticipant:
      return "participant";
    case MemberState::kDraining:
      return "draining";
    case MemberState::kViewer:
      return "viewer";
    case MemberState::kFenced:
      return "fenced";
    case MemberState::kFailsafe:
      return "failsafe";
  }
  return "unknown";
}

}  // namespace fleetps::collector::cluster
