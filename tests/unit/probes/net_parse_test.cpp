#include <gtest/gtest.h>

#include "fleetps/probes/parsers.hpp"

namespace fleetps::probes {
namespace {

TEST(LsofFields, CountsNumericDescriptorsOnly) {
  ParseStats stats;
  const auto counts =
      ParseLsofFdCounts("p1\nfcwd\nfrtd\nftxt\nfmem\nf0\nf1\npjunk\nf5\np2\n", stats);
  ASSERT_EQ(counts.size(), 2u);
  EXPECT_EQ(counts.at(1), 2);
  EXPECT_EQ(counts.at(2), 0);  // listed with no numeric descriptor
  EXPECT_EQ(stats.lines_skipped, 1u);
}

TEST(LsofFields, UnreadableDescriptorsAreUnknownNotZero) {
  // lsof run by another user: "NOFD" says the descriptor directory could not be read.
  ParseStats stats;
  const auto counts =
      ParseLsofFdCounts("p1\nfcwd\nfrtd\nftxt\nfNOFD\np2\nfcwd\nf0\nfNOFD\np3\nfcwd\n", stats);
  EXPECT_EQ(counts.Find(1), nullptr) << "unknown, not 0";
  EXPECT_EQ(counts.at(2), 1);
  EXPECT_EQ(counts.at(3), 0);  // readable, and none open
}

TEST(LsofFields, PidsOutOfOrderAndRepeatedAddUpInPidOrder) {
  ParseStats stats;
  const auto counts = ParseLsofFdCounts("p9\nf0\nf1\np2\nf0\np9\nf7\n", stats);
  ASSERT_EQ(counts.size(), 2u);
  EXPECT_EQ(counts.begin()->first, 2);  // ascending pids, whatever the input order
  EXPECT_EQ(counts.at(9), 3);           // both p9 blocks
  EXPECT_EQ(counts.at(2), 1);
  EXPECT_EQ(counts.Find(5), nullptr);
}

TEST(PidText, OutOfOrderAndRepeatedPidsKeepTheFirstLine) {
  ParseStats stats;
  const auto names = ParsePidText("30 java\n4 sshd\n30 other\n", stats);
  ASSERT_EQ(names.size(), 2u);
  EXPECT_EQ(names.begin()->first, 4);
  EXPECT_EQ(names.at(30), "java");
}

TEST(LsofFields, ListenSockets) {
  ParseStats stats;
  const auto sockets = ParseLsofListen(
      "p10\ncnginx\nf6\ntIPv4\nPTCP\nn*:80\nf7\ntIPv6\nPTCP\nn[::]:443\nf8\ntIPv4\nPTCP\nnbogus\n",
      stats);
  ASSERT_EQ(sockets.size(), 2u);
  EXPECT_EQ(sockets[0].proto, "tcp");
  EXPECT_EQ(sockets[0].address, "*");
  EXPECT_EQ(sockets[0].port, 80u);
  EXPECT_EQ(sockets[0].pid, 10);
  EXPECT_EQ(sockets[0].process, "nginx");
  EXPECT_EQ(sockets[1].proto, "tcp6");
  EXPECT_EQ(sockets[1].address, "::");
  EXPECT_EQ(stats.lines_skipped, 1u);
}

TEST(NetstatSs, WithoutHeaderOrNetid) {
  ParseStats stats;
  const auto sockets = ParseSs(
      "LISTEN 0 128 0.0.0.0:22 0.0.0.0:*\n"
      "LISTEN 0 128 [::1]:631 [::]:* users:((\"cupsd\",pid=700,fd=7))\n"
      "ESTAB 0 0 1.2.3.4:22 5.6.7.8:1000\n",
      stats);
  ASSERT_EQ(sockets.size(), 2u);
  EXPECT_EQ(sockets[0].proto, "tcp");
  EXPECT_FALSE(sockets[0].pid.has_value());
  EXPECT_EQ(sockets[1].proto, "tcp6");
  EXPECT_EQ(sockets[1].pid, 700);
  EXPECT_EQ(sockets[1].process, "cupsd");
}

TEST(NetstatLinux, NetToolsFormat) {
  ParseStats stats;
  const auto sockets = ParseNetstat(
      Dialect::kLinuxProcps,
      "Active Internet connections (only servers)\n"
      "Proto Recv-Q Send-Q Local Address           Foreign Address         State       PID/Program "
      "name\n"
      "tcp        0      0 0.0.0.0:22              0.0.0.0:*               LISTEN      812/sshd: "
      "/usr/sbin\n"
      "tcp6       0      0 :::80                   :::*                    LISTEN      -\n"
      "udp        0      0 0.0.0.0:68              0.0.0.0:*                           "
      "601/dhclient\n"
      "tcp        0      0 10.0.0.1:22             10.0.0.2:5000           ESTABLISHED 900/sshd\n",
      stats);
  ASSERT_EQ(sockets.size(), 3u);
  EXPECT_EQ(sockets[0].pid, 812);
  EXPECT_EQ(sockets[0].process, "sshd: /usr/sbin");
  EXPECT_EQ(sockets[1].proto, "tcp6");
  EXPECT_EQ(sockets[1].address, "::");
  EXPECT_FALSE(sockets[1].pid.has_value());
  EXPECT_EQ(sockets[2].proto, "udp");
  EXPECT_EQ(sockets[2].pid, 601);
}

TEST(NetstatBsd, DottedPorts) {
  ParseStats stats;
  const auto sockets = ParseNetstat(Dialect::kFreebsd,
                                    "tcp46      0      0 *.22       *.*       LISTEN\n"
                                    "tcp4       0      0 127.0.0.1.25 *.*     LISTEN\n"
                                    "udp6       0      0 ::1.53     *.*\n"
                                    "udp4       0      0 *.*        *.*\n",
                                    stats);
  ASSERT_EQ(sockets.size(), 3u);
  EXPECT_EQ(sockets[0].proto, "tcp6");
  EXPECT_EQ(sockets[1].address, "127.0.0.1");
  EXPECT_EQ(sockets[1].port, 25u);
  EXPECT_EQ(sockets[2].proto, "udp6");
  EXPECT_EQ(sockets[2].address, "::1");
}

TEST(NetstatSockstat, PidsAndUnknowns) {
  ParseStats stats;
  const auto sockets = ParseSockstat(
      "USER COMMAND PID FD PROTO LOCAL FOREIGN\n"
      "?    ?       ?   ?  tcp4  *:111 *:*\n"
      "root sshd    812 4  tcp6  [::1]:22 *:*\n",
      stats);
  ASSERT_EQ(sockets.size(), 2u);
  EXPECT_FALSE(sockets[0].pid.has_value());
  EXPECT_TRUE(sockets[0].process.empty());
  EXPECT_EQ(sockets[1].pid, 812);
  EXPECT_EQ(sockets[1].address, "::1");
}

TEST(LsofProcstat, CountsNumericDescriptors) {
  ParseStats stats;
  const auto counts = ParseProcstatFdCounts(
      "  PID COMM FD T\n  1 init text v\n  1 init 0 v\n"
      "  2 x 3 v\n",
      stats);
  EXPECT_EQ(counts.at(1), 1);
  EXPECT_EQ(counts.at(2), 1);
}

}  // namespace
}  // namespace fleetps::probes
