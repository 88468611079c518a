#include "fleetps/config/units.hpp"

#include <gtest/gtest.h>

namespace fleetps::config {
namespace {

using namespace std::chrono_literals;

TEST(ConfigUnitsTest, ParsesSimpleDurations) {
  EXPECT_EQ(ParseDuration("15s").value, 15s);
  EXPECT_EQ(ParseDuration("2m").value, 2min);
  EXPECT_EQ(ParseDuration("500ms").value, 500ms);
  EXPECT_EQ(ParseDuration("1h").value, 1h);
  EXPECT_EQ(ParseDuration("1d").value, 24h);
  EXPECT_EQ(ParseDuration("1w").value, 168h);
  EXPECT_EQ(ParseDuration("0").value, 0ms);
}

TEST(ConfigUnitsTest, ParsesCompoundDurations) {
  EXPECT_EQ(ParseDuration("1m30s").value, 90s);
  EXPECT_EQ(ParseDuration("1h2m3s4ms").value, 1h + 2min + 3s + 4ms);
}

TEST(ConfigUnitsTest, RejectsBadDurations) {
  EXPECT_EQ(ParseDuration("").error, "empty duration");
  EXPECT_EQ(ParseDuration("15").error, "missing unit (ms, s, m, h, d or w)");
  EXPECT_EQ(ParseDuration("fast").error, "expected a number at \"fast\"");
  EXPECT_EQ(ParseDuration("15sec").error, "unknown unit \"sec\" (ms, s, m, h, d or w)");
  EXPECT_EQ(ParseDuration("30s1m").error, "units must be in decreasing order, each once");
  EXPECT_EQ(ParseDuration("1s1s").error, "units must be in decreasing order, each once");
  EXPECT_FALSE(ParseDuration("-1s").ok());
  EXPECT_FALSE(ParseDuration("1.5s").ok());
  EXPECT_FALSE(ParseDuration(" 1s").ok());
  EXPECT_EQ(ParseDuration("99999999999999999999s").error, "number too large");
  EXPECT_EQ(ParseDuration("9999999999999999w").error, "duration too large");
}

TEST(ConfigUnitsTest, FormatsDurationsReadably) {
  EXPECT_EQ(FormatDuration(90s), "1m30s");
  EXPECT_EQ(FormatDuration(500ms), "500ms");
  EXPECT_EQ(FormatDuration(0ms), "0s");
  EXPECT_EQ(FormatDuration(48h), "48h");
  for (const char* text : {"1m30s", "500ms", "24h", "1h0m1s"}) {
    EXPECT_EQ(ParseDuration(FormatDuration(ParseDuration(text).value)).value,
              ParseDuration(text).value)
        << text;
  }
}

TEST(ConfigUnitsTest, ParsesSizes) {
  EXPECT_EQ(ParseSize("4MiB").value, 4u << 20);
  EXPECT_EQ(ParseSize("512KiB").value, 512u << 10);
  EXPECT_EQ(ParseSize("1GiB").value, 1u << 30);
  EXPECT_EQ(ParseSize("2TiB").value, 2ull << 40);
  EXPECT_EQ(ParseSize("1000").value, 1000u);
  EXPECT_EQ(ParseSize("10B").value, 10u);
  EXPECT_EQ(ParseSize("10MB").value, 10'000'000u);
  EXPECT_EQ(ParseSize("3kB").value, 3000u);
  EXPECT_EQ(ParseSize("3KB").value, 3000u);
}

TEST(ConfigUnitsTest, RejectsBadSizes) {
  EXPECT_EQ(ParseSize("").error, "empty size");
  EXPECT_EQ(ParseSize("big").error, "expected a number");
  EXPECT_EQ(ParseSize("4M").error, "unknown unit \"M\" (B, KiB, MiB, GiB, TiB, KB, MB, GB or TB)");
  EXPECT_FALSE(ParseSize("4 MiB").ok());
  EXPECT_FALSE(ParseSize("1.5GiB").ok());
  EXPECT_EQ(ParseSize("18446744073709551615").value, 18446744073709551615ull);
  EXPECT_EQ(ParseSize("18446744073709551616").error, "size too large");
  EXPECT_EQ(ParseSize("17179869184GiB").error, "size too large");
}

TEST(ConfigUnitsTest, FormatsSizesWithExactBinaryUnits) {
  EXPECT_EQ(FormatSize(4u << 20), "4MiB");
  EXPECT_EQ(FormatSize(4u << 10), "4KiB");
  EXPECT_EQ(FormatSize(1000), "1000");
  EXPECT_EQ(FormatSize(0), "0");
}

}  // namespace
}  // namespace fleetps::config
