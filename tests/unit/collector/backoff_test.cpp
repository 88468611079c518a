#include "fleetps/collector/supervision/backoff.hpp"

#include <chrono>
#include <vector>

#include <gtest/gtest.h>

namespace fleetps::collector {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(SupervisorBackoffTest, CeilingDoublesUntilCap) {
  const BackoffPolicy policy{.base = seconds(1), .cap = seconds(60)};
  EXPECT_EQ(BackoffCeiling(policy, 0), seconds(1));
  EXPECT_EQ(BackoffCeiling(policy, 1), seconds(2));
  EXPECT_EQ(BackoffCeiling(policy, 5), seconds(32));
  EXPECT_EQ(BackoffCeiling(policy, 6), seconds(60));
  EXPECT_EQ(BackoffCeiling(policy, 1000), seconds(60));  // no overflow for huge attempts
}

TEST(SupervisorBackoffTest, FullJitterIsUniformTimesCeiling) {
  const BackoffPolicy policy{.base = seconds(1), .cap = seconds(60)};
  EXPECT_EQ(FullJitterDelay(policy, 0, 0.0), Duration::zero());
  EXPECT_EQ(FullJitterDelay(policy, 0, 0.5), milliseconds(500));
  EXPECT_EQ(FullJitterDelay(policy, 3, 0.25), seconds(2));
  EXPECT_EQ(FullJitterDelay(policy, 10, 0.5), seconds(30));
  EXPECT_EQ(FullJitterDelay(policy, 2, 7.0), seconds(4));  // clamped
}

TEST(SupervisorBackoffTest, BackoffAdvancesAndResets) {
  std::vector<double> script{0.5, 0.5, 0.5, 0.5};
  std::size_t i = 0;
  FunctionRandomSource random([&] { return script[i++]; });
  Backoff backoff({.base = seconds(1), .cap = seconds(3)}, random);
  EXPECT_EQ(backoff.Next(), milliseconds(500));
  EXPECT_EQ(backoff.Next(), seconds(1));
  EXPECT_EQ(backoff.Next(), milliseconds(1500));  // capped at 3 s
  EXPECT_EQ(backoff.Attempt(), 3U);
  backoff.Reset();
  EXPECT_EQ(backoff.Next(), milliseconds(500));
}

TEST(SupervisorBackoffTest, DefaultRandomSourceStaysInUnitInterval) {
  DefaultRandomSource random;
  for (int i = 0; i < 1000; ++i) {
    const double u = random.Uniform01();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
  }
}

}  // namespace
}  // namespace fleetps::collector
