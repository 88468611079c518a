#include "fleetps/agent/command.hpp"

#include <gtest/gtest.h>

namespace fleetps::agent {
namespace {

TEST(OutputCollectorTest, KeepsStreamsApartAndCountsBytes) {
  OutputCollector c(100);
  EXPECT_TRUE(c.Append(false, "out"));
  EXPECT_TRUE(c.Append(true, "err"));
  EXPECT_EQ(c.Output().out, "out");
  EXPECT_EQ(c.Output().err, "err");
  EXPECT_EQ(c.Output().bytes, 6u);
}

TEST(OutputCollectorTest, ExactlyTheLimitIsAccepted) {
  OutputCollector c(10);
  EXPECT_TRUE(c.Append(false, "12345"));
  EXPECT_TRUE(c.Append(true, "67890"));
  EXPECT_FALSE(c.Exceeded());
}

TEST(OutputCollectorTest, OneByteOverTheLimitIsRefusedAcrossBothStreams) {
  OutputCollector c(10);
  EXPECT_TRUE(c.Append(false, "123456"));
  EXPECT_FALSE(c.Append(true, "78901"));
  EXPECT_TRUE(c.Exceeded());
  EXPECT_EQ(c.Bytes(), 6u);
  EXPECT_FALSE(c.Append(false, "x")) << "stays exceeded";
}

TEST(CommandOutputTest, SucceededOnlyOnExitZero) {
  CommandOutput o;
  EXPECT_FALSE(o.Succeeded());
  o.exit_status = 1;
  EXPECT_FALSE(o.Succeeded());
  o.exit_status = 0;
  EXPECT_TRUE(o.Succeeded());
}

}  // namespace
}  // namespace fleetps::agent
