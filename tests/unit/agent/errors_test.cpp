#include "fleetps/agent/errors.hpp"

#include <set>
#include <string>

#include <boost/asio/error.hpp>
#include <gtest/gtest.h>

namespace fleetps::agent {
namespace {

TEST(ErrcTest, ReasonNamesAreTheBoundedWireSet) {
  const std::set<std::string> expected = {
      "connect_refused", "connect_timeout",  "dns",          "banner_timeout", "kex_failed",
      "hostkey_unknown", "hostkey_mismatch", "auth_denied",  "channel_failed", "timeout",
      "too_large",       "parse_error",      "disconnected", "command_failed", "internal"};
  std::set<std::string> names;
  for (Errc e : AllReasons()) names.insert(std::string(ReasonName(e)));
  EXPECT_EQ(names, expected);
}

TEST(ErrcTest, ConvertsToErrorCodeAndBack) {
  const boost::system::error_code ec = Errc::kHostkeyMismatch;
  EXPECT_EQ(ec, Errc::kHostkeyMismatch);
  EXPECT_EQ(ReasonName(ec), "hostkey_mismatch");
  EXPECT_EQ(ec.message(), "hostkey_mismatch");
  EXPECT_EQ(ReasonName(boost::system::error_code(boost::asio::error::eof)), "internal");
}

TEST(ErrcTest, OnlyAuthAndHostKeyFailuresOpenTheCircuit) {
  for (Errc e : AllReasons()) {
    const bool expected =
        e == Errc::kAuthDenied || e == Errc::kHostkeyUnknown || e == Errc::kHostkeyMismatch;
    EXPECT_EQ(OpensCircuit(e), expected) << ReasonName(e);
  }
}

}  // namespace
}  // namespace fleetps::agent
