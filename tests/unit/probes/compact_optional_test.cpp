// CompactOptional behaves like the std::optional it replaces in ProcessRow, in 8 bytes.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <sstream>

#include "fleetps/probes/compact_optional.hpp"

namespace fleetps::probes {
namespace {

TEST(CompactOptional, AbsentByDefaultAndAfterReset) {
  CompactOptional<std::uint64_t> v;
  EXPECT_FALSE(v.has_value());
  EXPECT_EQ(v, std::nullopt);
  v = 0u;  // zero is a value, not absence
  EXPECT_TRUE(v.has_value());
  EXPECT_EQ(v, 0u);
  v.reset();
  EXPECT_FALSE(v);
  EXPECT_EQ(v.value_or(7u), 7u);
}

TEST(CompactOptional, TheReservedValueOfEachTypeMeansAbsent) {
  EXPECT_FALSE(CompactOptional<double>(std::nan("")).has_value());
  EXPECT_FALSE(CompactOptional<std::int64_t>(std::numeric_limits<std::int64_t>::min()).has_value());
  EXPECT_FALSE(
      CompactOptional<std::uint64_t>(std::numeric_limits<std::uint64_t>::max()).has_value());
  EXPECT_TRUE(CompactOptional<double>(-0.0).has_value());
  EXPECT_TRUE(CompactOptional<std::int64_t>(-1).has_value());
}

TEST(CompactOptional, ConvertsToAndFromStdOptional) {
  const std::optional<double> some = 1.5;
  const std::optional<double> none;
  CompactOptional<double> v = some;
  EXPECT_EQ(*v, 1.5);
  EXPECT_EQ(v, some);
  v = none;
  EXPECT_EQ(v, none);
  const std::optional<double> back = CompactOptional<double>(2.5);
  EXPECT_EQ(back, 2.5);
  const std::optional<double> back_none = CompactOptional<double>();
  EXPECT_FALSE(back_none.has_value());
}

TEST(CompactOptional, EqualityAndPrinting) {
  EXPECT_EQ(CompactOptional<std::int64_t>(3), CompactOptional<std::int64_t>(3));
  EXPECT_FALSE(CompactOptional<std::int64_t>(3) == CompactOptional<std::int64_t>());
  EXPECT_EQ(CompactOptional<double>(), CompactOptional<double>());  // absent == absent, NaN or not
  std::ostringstream s;
  s << CompactOptional<std::int64_t>(42) << ' ' << CompactOptional<std::int64_t>();
  EXPECT_EQ(s.str(), "42 (absent)");
}

}  // namespace
}  // namespace fleetps::probes
