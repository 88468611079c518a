#include "fleetps/agent/errors.hpp"

#include <cerrno>
#include <set>
#include <string>

#include <boost/asio/error.hpp>
#include <gtest/gtest.h>

namespace fleetps::agent {
namespace {

TEST(ErrcTest, ReasonNamesAreTheBoundedWireSet) {
  const std::set<std::string> expected = {
      "connect_refused", "connect_timeout",   "dns",          "banner_timeout", "kex_failed",
      "hostkey_unknown", "hostkey_mismatch",  "auth_denied",  "channel_failed", "timeout",
      "too_large",       "parse_error",       "disconnected", "command_failed", "internal",
      "fd_limit",        "known_hosts_write", "shell_failed"};
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

TEST(ErrcTest, OnlyAuthHostKeyAndKnownHostsWriteFailuresOpenTheCircuit) {
  for (Errc e : AllReasons()) {
    const bool expected = e == Errc::kAuthDenied || e == Errc::kHostkeyUnknown ||
                          e == Errc::kHostkeyMismatch || e == Errc::kKnownHostsWrite;
    EXPECT_EQ(OpensCircuit(e), expected) << ReasonName(e);
  }
}

TEST(ErrcTest, OutOfDescriptorsIsFdLimitAndOtherLocalFailuresInternal) {
  EXPECT_EQ(LocalFailure(EMFILE), Errc::kFdLimit);
  EXPECT_EQ(LocalFailure(ENFILE), Errc::kFdLimit);
  EXPECT_EQ(LocalFailure(EACCES), Errc::kInternal);
  EXPECT_TRUE(
      IsOutOfDescriptors(boost::system::error_code(EMFILE, boost::system::system_category())));
  EXPECT_TRUE(
      IsOutOfDescriptors(boost::system::error_code(ENFILE, boost::system::generic_category())));
  EXPECT_FALSE(IsOutOfDescriptors(boost::asio::error::connection_refused));
  EXPECT_FALSE(IsOutOfDescriptors(make_error_code(Errc::kFdLimit)));
}

}  // namespace
}  // namespace fleetps::agent
