#include "fleetps/agent/schedule.hpp"

#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace fleetps::agent {
namespace {

using std::chrono::milliseconds;
struct FakeClock {
  using duration = std::chrono::milliseconds;
  using rep = duration::rep;
  using period = duration::period;
  using time_point = std::chrono::time_point<FakeClock>;
};
using TimePoint = FakeClock::time_point;

TEST(TickPhaseTest, IsStableAndWithinTheInterval) {
  const milliseconds interval(15000);
  EXPECT_EQ(TickPhase("web01", interval), TickPhase("web01", interval));
  for (int i = 0; i < 100; ++i) {
    const auto p = TickPhase("host" + std::to_string(i), interval);
    EXPECT_GE(p.count(), 0);
    EXPECT_LT(p.count(), interval.count());
  }
}

TEST(TickPhaseTest, SpreadsAFleetOverTheInterval) {
  // 1000 hosts into 15 one-second buckets: none empty, none more than twice the mean.
  std::vector<int> buckets(15, 0);
  for (int i = 0; i < 1000; ++i) {
    ++buckets[TickPhase("db" + std::to_string(i) + ".dc1", milliseconds(15000)).count() / 1000];
  }
  for (int b : buckets) {
    EXPECT_GT(b, 0);
    EXPECT_LT(b, 2 * 1000 / 15);
  }
}

TEST(TickScheduleTest, FirstTickIsTheNextPhaseAlignedInstant) {
  TickSchedule<TimePoint> s(TimePoint(milliseconds(100'000)), milliseconds(15000),
                            milliseconds(4000));
  EXPECT_EQ(s.Peek().time_since_epoch().count(), 109'000);
  TickSchedule<TimePoint> exact(TimePoint(milliseconds(94'000)), milliseconds(15000),
                                milliseconds(4000));
  EXPECT_EQ(exact.Peek().time_since_epoch().count(), 94'000);
}

TEST(TickScheduleTest, SequenceIsGapFreeAndTicksAreOneIntervalApart) {
  TickSchedule<TimePoint> s(TimePoint(milliseconds(7)), milliseconds(1000), milliseconds(250));
  auto prev = s.Next();
  EXPECT_EQ(prev.seq, 0u);
  for (std::uint64_t i = 1; i < 1000; ++i) {
    const auto t = s.Next();
    EXPECT_EQ(t.seq, i);
    EXPECT_EQ((t.at - prev.at).count(), 1000);
    prev = t;
  }
}

}  // namespace
}  // namespace fleetps::agent
