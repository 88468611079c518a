// The supervisor's Backoff: the agent's arithmetic (tested in tests/unit/agent/backoff_test.cpp)
// fed by an injectable RandomSource.
#include "fleetps/collector/supervision/backoff.hpp"

#include <chrono>
#include <vector>

#include <gtest/gtest.h>

namespace fleetps::collector {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(SupervisorBackoffTest, NextDrawsFromTheRandomSourceAndResetStartsOver) {
  std::vector<double> script{0.5, 0.5, 0.5, 0.25};
  std::size_t i = 0;
  FunctionRandomSource random([&] { return script[i++]; });
  Backoff backoff({.base = seconds(1), .cap = seconds(3)}, random);
  EXPECT_EQ(backoff.Next(), milliseconds(500));
  EXPECT_EQ(backoff.Next(), seconds(1));
  EXPECT_EQ(backoff.Next(), milliseconds(1500));  // capped at 3 s
  EXPECT_EQ(backoff.Attempt(), 3U);
  backoff.Reset();
  EXPECT_EQ(backoff.Attempt(), 0U);
  EXPECT_EQ(backoff.Next(), milliseconds(250));
  EXPECT_EQ(i, script.size());  // one draw per delay
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
