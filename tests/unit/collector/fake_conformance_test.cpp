// The Coordinator conformance suite (tests/support/coordinator_conformance.hpp) against the
// in-memory FakeStore, so the fake the ownership tests rely on keeps etcd's semantics: the same
// suite runs against a real 3-member etcd in the `cluster` label.
#include <chrono>
#include <memory>

#include "coordinator_conformance.hpp"
#include "fake_coordinator.hpp"
#include "manual_clock.hpp"

namespace fleetps::test_support {
namespace {

class FakeBackend final : public ConformanceBackend {
 public:
  std::unique_ptr<collector::cluster::Coordinator> Make(boost::asio::any_io_executor) override {
    return std::make_unique<FakeCoordinator>(store_);
  }
  boost::asio::awaitable<void> Elapse(std::chrono::milliseconds duration) override {
    store_.Advance(duration);
    co_return;
  }
  boost::asio::awaitable<boost::system::error_code> Compact(
      collector::cluster::Revision revision) override {
    store_.Compact(revision);
    co_return boost::system::error_code{};
  }

 private:
  ManualClock clock_;
  FakeStore store_{clock_};
};

INSTANTIATE_TEST_SUITE_P(Fake, CoordinatorConformance,
                         ::testing::Values(ConformanceBackendFactory([] {
                           return std::make_unique<FakeBackend>();
                         })));

}  // namespace
}  // namespace fleetps::test_support
