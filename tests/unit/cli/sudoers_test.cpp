// `fleetps sudoers`: the rules allow the probe's command lines literally (sudoers wildcards
// and separators escaped), for exactly the given users.
#include "fleetps/collector/cli/sudoers.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace fleetps::collector {
namespace {

using ::testing::HasSubstr;

TEST(SudoersSnippet, AllowsExactlyTheProbeCommandLines) {
  const std::vector<std::string> users{"monitor", "ora_mon"};
  const std::string snippet = SudoersSnippet(users);
  EXPECT_THAT(snippet, HasSubstr("\nDefaults:monitor, ora_mon !requiretty\n"));
  EXPECT_THAT(snippet,
              HasSubstr("\nCmnd_Alias FLEETPS_PROC_FD = /usr/bin/find /proc -maxdepth 2 -path "
                        "/proc/\\*/\\* ! -path /proc/\\[0-9\\]\\*/fd -prune -o -path "
                        "/proc/\\[0-9\\]\\*/fd -exec /bin/ls -a /proc/self/fd {} +\n"));
  EXPECT_THAT(snippet,
              HasSubstr("\nCmnd_Alias FLEETPS_PROC_IO = /usr/bin/find /proc -maxdepth 2 -path "
                        "/proc/\\*/\\* ! -path /proc/\\[0-9\\]\\*/io -prune -o -path "
                        "/proc/\\[0-9\\]\\*/io -exec /bin/grep -sH -e ^read_bytes\\: -e "
                        "^write_bytes\\: {} +\n"));
  EXPECT_THAT(snippet, HasSubstr("\nCmnd_Alias FLEETPS_LISTEN_LSOF = /usr/bin/lsof -n -P -l -w -b "
                                 "-iTCP -sTCP\\:LISTEN -iUDP -F pctPn\n"));
  EXPECT_THAT(snippet, HasSubstr("\nmonitor, ora_mon ALL = (root) NOPASSWD: FLEETPS_PROC_FD, "
                                 "FLEETPS_PROC_IO, FLEETPS_LISTEN_SS, FLEETPS_LISTEN_NETSTAT, "
                                 "FLEETPS_LSOF_FD, FLEETPS_LISTEN_LSOF\n"));
  EXPECT_THAT(snippet, ::testing::Not(HasSubstr("ALL = (ALL)")));
}

}  // namespace
}  // namespace fleetps::collector
