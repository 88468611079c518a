// One gtest suite for every Coordinator implementation (scale-out.md §6.8): what the ownership
// protocol relies on, written once against the interface. A backend supplies the coordinator,
// the passing of time and compaction; instantiate it with
//
//   INSTANTIATE_TEST_SUITE_P(Etcd, CoordinatorConformance,
//                            ::testing::Values(ConformanceBackendFactory(MakeEtcdBackend)));
//
// and link the test with fleetps_coordinator_conformance (an object library: its TEST_Ps
// register themselves). Each test works under its own key prefix, so a store may be shared.
#pragma once

#include <chrono>
#include <functional>
#include <memory>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/system/error_code.hpp>
#include <gtest/gtest.h>

#include "fleetps/collector/cluster/coordinator.hpp"

namespace fleetps::test_support {

class ConformanceBackend {
 public:
  virtual ~ConformanceBackend() = default;
  /// The coordinator under test; its coroutines run on `executor` (one thread).
  virtual std::unique_ptr<collector::cluster::Coordinator> Make(
      boost::asio::any_io_executor executor) = 0;
  /// Lets `duration` of the store's time pass: a real store sleeps (asynchronously), a fake
  /// advances its clock.
  virtual boost::asio::awaitable<void> Elapse(std::chrono::milliseconds duration) = 0;
  /// Compacts the store's history up to `revision`: a watch from below it must then fail.
  virtual boost::asio::awaitable<boost::system::error_code> Compact(
      collector::cluster::Revision revision) = 0;
};

/// Called once per test (SetUp); the backend may share one store between tests.
using ConformanceBackendFactory = std::function<std::unique_ptr<ConformanceBackend>()>;

/// Runs `body` on `io` until it completes; not completing within `bound` is a test failure.
/// An exception from `body` is rethrown.
void RunBounded(boost::asio::io_context& io, boost::asio::awaitable<void> body,
                std::chrono::seconds bound);
/// Waits `duration` of real time, asynchronously.
boost::asio::awaitable<void> SleepFor(std::chrono::milliseconds duration);

class CoordinatorConformance : public ::testing::TestWithParam<ConformanceBackendFactory> {};

}  // namespace fleetps::test_support
