// MergeListenSockets: netstat's complete socket list joined with a (possibly non-root, partial)
// lsof list that knows owners; and how ParseProcessProbe chooses between the sections.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "fixture.hpp"
#include "fleetps/probes/parsers.hpp"

namespace fleetps::probes {
namespace {

using testing::kNonce;

ListenSocket Socket(std::string proto, std::string address, std::uint32_t port) {
  return {std::move(proto), std::move(address), port, std::nullopt, {}};
}
ListenSocket Owned(std::string proto, std::string address, std::uint32_t port, std::int64_t pid,
                   std::string process) {
  return {std::move(proto), std::move(address), port, pid, std::move(process)};
}

// "proto address:port pid/process" (pid "-" when unknown): one string per socket, for whole-list
// comparisons that show the difference when they fail.
std::vector<std::string> Describe(const std::vector<ListenSocket>& sockets) {
  std::vector<std::string> out;
  for (const ListenSocket& s : sockets) {
    out.push_back(s.proto + " " + s.address + ":" + std::to_string(s.port) + " " +
                  (s.pid ? std::to_string(*s.pid) : "-") + "/" + s.process);
  }
  return out;
}

TEST(MergeListenSockets, OwnersJoinTheCompleteList) {
  // AIX as a non-root user: netstat lists root's sshd and ntpd, lsof only the user's listener.
  const auto merged = MergeListenSockets(
      {Socket("tcp", "*", 22), Socket("tcp", "*", 1521), Socket("udp", "*", 123)},
      {Owned("tcp", "*", 1521, 4456001, "tnslsnr")});
  EXPECT_EQ(Describe(merged), (std::vector<std::string>{"tcp *:22 -/", "tcp *:1521 4456001/tnslsnr",
                                                        "udp *:123 -/"}));
}

TEST(MergeListenSockets, AnyAddressesMatchWithinOneFamily) {
  const auto merged =
      MergeListenSockets({Socket("tcp", "0.0.0.0", 80), Socket("tcp6", "::", 443),
                          Socket("tcp6", "*", 8443), Socket("udp", "*", 53)},
                         {Owned("tcp", "*", 80, 1, "a"), Owned("tcp6", "*", 443, 2, "b"),
                          Owned("tcp6", "[::]", 8443, 3, "c"), Owned("udp6", "*", 53, 4, "d")});
  EXPECT_EQ(Describe(merged),
            (std::vector<std::string>{"tcp 0.0.0.0:80 1/a", "tcp6 :::443 2/b", "tcp6 *:8443 3/c",
                                      "udp *:53 -/", "udp6 *:53 4/d"}))
      << "udp and udp6 are different sockets: netstat's keeps no owner, lsof's is added";
}

TEST(MergeListenSockets, SpecificAddressesMatchOnlyThemselves) {
  const auto merged = MergeListenSockets(
      {Socket("tcp", "127.0.0.1", 5432), Socket("tcp6", "::1", 5432), Socket("tcp", "*", 25)},
      {Owned("tcp6", "::1", 5432, 620, "postgres"), Owned("tcp", "127.0.0.1", 25, 700, "smtpd"),
       Owned("tcp", "127.0.0.1", 5432, 620, "postgres")});
  EXPECT_EQ(Describe(merged), (std::vector<std::string>{"tcp 127.0.0.1:5432 620/postgres",
                                                        "tcp6 ::1:5432 620/postgres", "tcp *:25 -/",
                                                        "tcp 127.0.0.1:25 700/smtpd"}));
}

TEST(MergeListenSockets, SocketsNetstatMissedAreKept) {
  // netstat ran first; a listener that started in between is only in lsof.
  const auto merged =
      MergeListenSockets({Socket("tcp", "*", 22)},
                         {Owned("udp", "*", 9000, 12, "late"), Owned("tcp", "*", 8080, 11, "web")});
  EXPECT_EQ(Describe(merged),
            (std::vector<std::string>{"tcp *:22 -/", "udp *:9000 12/late", "tcp *:8080 11/web"}));
}

TEST(MergeListenSockets, ASharedSocketKeepsEveryOwner) {
  // Prefork servers: one socket, held by the parent and each child, listed by lsof per process.
  const auto merged =
      MergeListenSockets({Socket("tcp", "*", 80)},
                         {Owned("tcp", "*", 80, 100, "httpd"), Owned("tcp", "*", 80, 101, "httpd"),
                          Owned("tcp", "*", 80, 102, "httpd")});
  EXPECT_EQ(Describe(merged), (std::vector<std::string>{"tcp *:80 100/httpd", "tcp *:80 101/httpd",
                                                        "tcp *:80 102/httpd"}));
}

TEST(MergeListenSockets, EqualSocketsPairOneToOne) {
  // Two SO_REUSEPORT sockets, one of them the probe user's: one gets the owner, one stays
  // unowned; exact duplicates in either list are kept as the parsers keep them.
  const auto merged = MergeListenSockets({Socket("tcp", "*", 80), Socket("tcp", "*", 80)},
                                         {Owned("tcp", "*", 80, 7, "lb")});
  EXPECT_EQ(Describe(merged), (std::vector<std::string>{"tcp *:80 7/lb", "tcp *:80 -/"}));
  const auto twice =
      MergeListenSockets({Socket("udp", "*", 161)},
                         {Owned("udp", "*", 161, 5, "snmpd"), Owned("udp", "*", 161, 5, "snmpd")});
  EXPECT_EQ(Describe(twice), (std::vector<std::string>{"udp *:161 5/snmpd", "udp *:161 5/snmpd"}));
}

TEST(MergeListenSockets, EitherListEmpty) {
  EXPECT_EQ(Describe(MergeListenSockets({Socket("tcp", "*", 22)}, {})),
            (std::vector<std::string>{"tcp *:22 -/"}));
  EXPECT_EQ(Describe(MergeListenSockets({}, {Owned("tcp", "*", 22, 1, "sshd")})),
            (std::vector<std::string>{"tcp *:22 1/sshd"}));
  EXPECT_TRUE(MergeListenSockets({}, {}).empty());
}

TEST(MergeListenSockets, ThousandsOfSocketsInAnyOrder) {
  // netstat ascending, lsof descending and owning every other port.
  std::vector<ListenSocket> all;
  std::vector<ListenSocket> owned;
  for (std::uint32_t port = 1; port <= 5000; ++port) all.push_back(Socket("tcp", "*", port));
  for (std::uint32_t port = 5000; port >= 1; port -= 2) {
    owned.push_back(Owned("tcp", "0.0.0.0", port, port, "p" + std::to_string(port)));
  }
  const auto merged = MergeListenSockets(std::move(all), std::move(owned));
  ASSERT_EQ(merged.size(), 5000u);
  for (std::uint32_t port = 1; port <= 5000; ++port) {
    const ListenSocket& s = merged[port - 1];
    ASSERT_EQ(s.port, port);
    ASSERT_EQ(s.address, "*");
    if (port % 2 == 0) {
      ASSERT_EQ(s.pid, port);
      ASSERT_EQ(s.process, "p" + std::to_string(port));
    } else {
      ASSERT_FALSE(s.pid.has_value()) << port;
    }
  }
}

// A framed AIX probe with the given listening sections (the process table is one row).
std::string AixProbe(bool netstat, bool lsof) {
  const std::string b = "@@FLEETPS " + std::string(kNonce) + " BEGIN ";
  const std::string e = "@@FLEETPS " + std::string(kNonce) + " END ";
  std::string out = b +
                    "ps\n       1       0     root A  01:00  00:00:01   712   904      1 "
                    "/etc/init\n" +
                    e + "ps rc=0\n";
  if (netstat) {
    out += b +
           "listen-netstat\ntcp4       0      0  *.22      *.*      LISTEN\n"
           "tcp        0      0  *.1521    *.*      LISTEN\n\n" +
           e + "listen-netstat rc=0\n";
  }
  if (lsof) {
    out += b + "listen-lsof\np4456001\nctnslsnr\nf9\ntIPv4\nPTCP\nn*:1521\n\n" + e +
           "listen-lsof rc=0\n";
  }
  return out;
}

TEST(ProbeListening, NetstatAndLsofAreMerged) {
  const ProbeParseResult r = ParseProcessProbe(Dialect::kAix, {}, AixProbe(true, true), kNonce);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(Describe(r.snapshot.listening),
            (std::vector<std::string>{"tcp *:22 -/", "tcp *:1521 4456001/tnslsnr"}));
}

TEST(ProbeListening, OneSectionAloneIsTakenAsItIs) {
  const ProbeParseResult netstat =
      ParseProcessProbe(Dialect::kAix, {}, AixProbe(true, false), kNonce);
  ASSERT_TRUE(netstat.ok()) << netstat.error;
  EXPECT_EQ(Describe(netstat.snapshot.listening),
            (std::vector<std::string>{"tcp *:22 -/", "tcp *:1521 -/"}));
  const ProbeParseResult lsof = ParseProcessProbe(Dialect::kAix, {}, AixProbe(false, true), kNonce);
  ASSERT_TRUE(lsof.ok()) << lsof.error;
  EXPECT_EQ(Describe(lsof.snapshot.listening),
            (std::vector<std::string>{"tcp *:1521 4456001/tnslsnr"}));
}

}  // namespace
}  // namespace fleetps::probes
