#include "fleetps/agent/backoff.hpp"

#include <gtest/gtest.h>

namespace fleetps::agent {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(BackoffTest, CeilingIsBaseTimesTwoToTheAttemptUpToCap) {
  const BackoffPolicy policy{.base = seconds(1), .cap = seconds(60)};
  EXPECT_EQ(BackoffCeiling(policy, 0), seconds(1));
  EXPECT_EQ(BackoffCeiling(policy, 1), seconds(2));
  EXPECT_EQ(BackoffCeiling(policy, 5), seconds(32));
  EXPECT_EQ(BackoffCeiling(policy, 6), seconds(60));
  EXPECT_EQ(BackoffCeiling(policy, 1000), seconds(60));  // no overflow for huge attempts
  EXPECT_EQ(BackoffCeiling({.base = milliseconds::max() / 3, .cap = milliseconds::max()}, 5),
            milliseconds::max());  // doubling near the representable maximum stops at the cap
  EXPECT_EQ(BackoffCeiling({.base = seconds(5), .cap = seconds(2)}, 0), seconds(2));
  EXPECT_EQ(BackoffCeiling({.base = seconds(0), .cap = seconds(2)}, 3), milliseconds(0));
}

TEST(BackoffTest, FullJitterIsUniformTimesCeiling) {
  const BackoffPolicy policy{.base = seconds(1), .cap = seconds(60)};
  EXPECT_EQ(FullJitterDelay(policy, 0, 0.0), milliseconds(0));
  EXPECT_EQ(FullJitterDelay(policy, 0, 0.5), milliseconds(500));
  EXPECT_EQ(FullJitterDelay(policy, 3, 0.25), seconds(2));
  EXPECT_EQ(FullJitterDelay(policy, 10, 0.5), seconds(30));
  EXPECT_EQ(FullJitterDelay(policy, 2, 7.0), seconds(4));  // clamped into [0, 1]
  EXPECT_EQ(FullJitterDelay(policy, 2, -1.0), seconds(0));
}

TEST(BackoffTest, CeilingDoublesFromBaseUpToCap) {
  Backoff b(milliseconds(1000), milliseconds(60000));
  const long expected[] = {1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000};
  for (long e : expected) {
    EXPECT_EQ(b.Ceiling().count(), e);
    (void)b.Next(0.5);
  }
}

TEST(BackoffTest, FullJitterSpansZeroToCeiling) {
  Backoff low(milliseconds(1000), milliseconds(60000));
  Backoff high(milliseconds(1000), milliseconds(60000));
  for (int i = 0; i < 3; ++i) (void)low.Next(0.0), (void)high.Next(0.999);
  EXPECT_EQ(low.Next(0.0).count(), 0);
  EXPECT_EQ(high.Next(0.999).count(), 7992);
}

TEST(BackoffTest, ResetStartsOverAtBase) {
  Backoff b(milliseconds(1000), milliseconds(60000));
  for (int i = 0; i < 10; ++i) (void)b.Next(0.5);
  b.Reset();
  EXPECT_EQ(b.Attempts(), 0u);
  EXPECT_EQ(b.Next(0.5).count(), 500);
}

TEST(BackoffTest, LargeAttemptCountsDoNotOverflow) {
  Backoff b(milliseconds(1000), milliseconds(60000));
  for (int i = 0; i < 500; ++i) (void)b.Next(0.5);
  EXPECT_EQ(b.Ceiling().count(), 60000);
}

TEST(CircuitBreakerTest, FirstRetryIsAtLeastTheFirstCoolDownAndGrowsToTheCap) {
  CircuitBreaker c(milliseconds(30000), milliseconds(600000));
  EXPECT_EQ(c.Next(0.0).count(), 30000);
  EXPECT_EQ(c.Next(0.0).count(), 60000);
  EXPECT_EQ(c.Next(1.0).count(), 144000);  // 120 s plus 20 % jitter
  for (int i = 0; i < 10; ++i) (void)c.Next(0.0);
  EXPECT_EQ(c.Next(0.0).count(), 600000);
  EXPECT_EQ(c.Next(0.5).count(), 660000);
}

TEST(CircuitBreakerTest, ACapBelowTheFirstCoolDownCountsAsTheFirst) {
  CircuitBreaker c(milliseconds(30000), milliseconds(1000));
  EXPECT_EQ(c.Next(0.0).count(), 30000);
  EXPECT_EQ(c.Next(0.0).count(), 30000);
}

TEST(CircuitBreakerTest, NeverRetriesBeforeTheNominalDelay) {
  CircuitBreaker c(milliseconds(30000), milliseconds(600000));
  long previous = 0;
  for (int i = 0; i < 12; ++i) {
    const long d = c.Next(0.0).count();
    EXPECT_GE(d, 30000);
    EXPECT_GE(d, previous);
    previous = d;
  }
}

}  // namespace
}  // namespace fleetps::agent
