// fleetps against servers configured as old ones are (issue 13): an OpenSSH restricted to the
// algorithms of RHEL 5/6, one with only a DSA host key, one with only group-exchange SHA-1, a
// dropbear with only an RSA host key; and a frozen server noticed by keepalives alone.
#include <signal.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "agent_runner.hpp"
#include "fleetps/agent/algorithms.hpp"
#include "fleetps/agent/ssh_session.hpp"
#include "test_host.hpp"

namespace fleetps::agent {
namespace {

using namespace std::chrono_literals;
using testing::AgentRunner;
using testing::FastAgentOptions;
using ::testing::HasSubstr;
using testing::Recorder;
using testing::TestHost;
using Clock = std::chrono::steady_clock;

TestHost::Options Rhel5() {
  TestHost::Options o;
  o.legacy = "rhel5";
  return o;
}

// SSH connections libssh made to the server, from its log (sshd LogLevel DEBUG1 names the
// client software of each; testhost's own port check sends no banner and is not counted).
int Connections(const TestHost& host) {
  std::istringstream log(host.Log());
  int n = 0;
  for (std::string line; std::getline(log, line);) {
    if (line.find("remote software version libssh") != std::string::npos) ++n;
  }
  return n;
}

bool HasWeak(const std::vector<WeakAlgorithm>& weak, AlgorithmKind kind, std::string_view name) {
  return std::any_of(weak.begin(), weak.end(),
                     [&](const WeakAlgorithm& w) { return w.kind == kind && w.name == name; });
}

// Runs an agent for `spec` until it is ready and one probe succeeded; returns the ready status.
HostStatus ReadyAndProbed(const config::HostSpec& spec) {
  Recorder rec;
  AgentRunner runner;
  runner.Start(spec, rec.Sink(), FastAgentOptions());
  const bool probed = rec.WaitFor(
      [](Recorder& r) {
        return std::any_of(r.results.begin(), r.results.end(),
                           [](const ProbeResult& p) { return p.status == ProbeStatus::kOk; });
      },
      20s);
  runner.Stop();
  std::string states;
  for (const auto& s : rec.statuses) {
    states += std::string(StateName(s.state)) + "(" + std::string(ReasonName(s.last_reason)) +
              ": " + s.detail + ") ";
  }
  EXPECT_TRUE(probed) << "states: " << states;
  const auto ready = rec.Find(HostState::kReady);
  if (ready == rec.statuses.size()) return {};
  return rec.statuses[ready];
}

// Runs an agent for `spec` until its circuit opens; returns that status (empty when it never did).
HostStatus CircuitOpened(const config::HostSpec& spec) {
  Recorder rec;
  AgentRunner runner;
  runner.Start(spec, rec.Sink(), FastAgentOptions());
  const bool open = rec.WaitFor(
      [](Recorder& r) { return r.Find(HostState::kCircuitOpen) < r.statuses.size(); }, 10s);
  runner.Stop();
  EXPECT_TRUE(open) << "the circuit never opened";
  return open ? rec.statuses[rec.Find(HostState::kCircuitOpen)] : HostStatus{};
}

TEST(LegacySshdTest, Rhel5DefaultsNameTheServerOfferAndOpenTheCircuit) {
  TestHost host(Rhel5());
  auto spec = host.Spec("rhel5-defaults");
  spec.interval = 2s;
  spec.probe_timeout = 1s;
  Recorder rec;
  AgentRunner runner;
  AgentOptions options;  // production timings: the circuit's first retry is >= 30 s
  options.uniform = [] { return 0.0; };
  runner.Start(spec, rec.Sink(), options);
  ASSERT_TRUE(rec.WaitFor(
      [](Recorder& r) { return r.Find(HostState::kCircuitOpen) < r.statuses.size(); }, 10s));
  const int connections_at_open = Connections(host);
  std::this_thread::sleep_for(10s);
  runner.Stop();
  std::string states;
  for (const auto& s : rec.statuses) {
    states += std::string(StateName(s.state)) + "(" + std::string(ReasonName(s.last_reason)) +
              ": " + s.detail + ") ";
  }
  SCOPED_TRACE("states: " + states);
  const HostStatus& open = rec.statuses[rec.Find(HostState::kCircuitOpen)];
  EXPECT_EQ(ReasonName(open.last_reason), "kex_failed");
  EXPECT_GE(open.retry_in, 30s);
  EXPECT_THAT(open.detail, HasSubstr("the server offers [diffie-hellman-group1-sha1, "
                                     "diffie-hellman-group14-sha1]"));
  EXPECT_THAT(open.detail, HasSubstr("set algorithms: {kex: [diffie-hellman-group14-sha1]}"));
  EXPECT_THAT(open.detail, HasSubstr("algorithms: legacy"));
  EXPECT_TRUE(HasWeak(open.weak_algorithms, AlgorithmKind::kKex, "diffie-hellman-group14-sha1"));
  // libssh 0.10 sometimes handles the server's disconnect before the KEXINIT that came with it
  // (seen under CPU load: "Socket error: Success"). The session then reads the server's offer on
  // a second connection and still opens the circuit on this first attempt: never a backoff.
  for (const HostStatus& s : rec.statuses) {
    EXPECT_NE(s.state, HostState::kBackoff) << "a retry before the circuit: " << s.detail;
  }
  EXPECT_LE(connections_at_open, 2)
      << "one attempt, plus the offer scan when libssh did not say why the handshake failed";
  EXPECT_EQ(Connections(host), connections_at_open)
      << "no attempt in the 10 s after the circuit opened";
}

TEST(LegacySshdTest, Rhel5WithAlgorithmsLegacyProbes) {
  TestHost host(Rhel5());
  auto spec = host.Spec("rhel5-legacy");
  spec.interval = 1s;
  spec.probe_timeout = 900ms;
  spec.algorithms.legacy = true;
  const HostStatus ready = ReadyAndProbed(spec);
  EXPECT_EQ(ready.server.kex, "diffie-hellman-group14-sha1");
  EXPECT_EQ(ready.server.cipher, "aes128-cbc");
  EXPECT_EQ(ready.server.hostkey_type, "ssh-rsa");
  EXPECT_TRUE(HasWeak(ready.weak_algorithms, AlgorithmKind::kKex, "diffie-hellman-group14-sha1"));
  EXPECT_TRUE(HasWeak(ready.weak_algorithms, AlgorithmKind::kCipher, "aes128-cbc"));
  // The server lists rsa-sha2-* in server-sig-algs but accepts only ssh-rsa: the second try.
  EXPECT_TRUE(ready.server.pubkey_sha1);
  EXPECT_TRUE(HasWeak(ready.weak_algorithms, AlgorithmKind::kPubkey, "ssh-rsa"));
}

TEST(LegacySshdTest, Rhel5WithAnExplicitMappingProbes) {
  TestHost host(Rhel5());
  auto spec = host.Spec("rhel5-explicit");
  spec.interval = 1s;
  spec.probe_timeout = 900ms;
  spec.algorithms.kex = {"diffie-hellman-group14-sha1"};
  spec.algorithms.hostkeys = {"ssh-rsa"};
  spec.algorithms.ciphers = {"aes128-cbc"};
  spec.algorithms.macs = {"hmac-sha1"};
  spec.algorithms.pubkeys = {"ssh-rsa"};
  const HostStatus ready = ReadyAndProbed(spec);
  EXPECT_EQ(ready.server.mac, "hmac-sha1");
  EXPECT_TRUE(HasWeak(ready.weak_algorithms, AlgorithmKind::kHostkey, "ssh-rsa"));
  EXPECT_TRUE(HasWeak(ready.weak_algorithms, AlgorithmKind::kPubkey, "ssh-rsa"));
}

TEST(LegacySshdTest, Rhel5WithoutPubkeysSaysWhatToSet) {
  TestHost host(Rhel5());
  auto spec = host.Spec("rhel5-nopubkeys");
  spec.algorithms.kex = {"diffie-hellman-group14-sha1"};
  spec.algorithms.hostkeys = {"ssh-rsa"};
  spec.algorithms.ciphers = {"aes128-cbc"};
  spec.algorithms.macs = {"hmac-sha1"};
  const HostStatus open = CircuitOpened(spec);
  EXPECT_EQ(ReasonName(open.last_reason), "auth_denied");
  EXPECT_THAT(open.detail, HasSubstr("pubkeys: [ssh-rsa]"));
}

TEST(LegacySshdTest, DsaOnlyHostKeyIsNamedInTheDetail) {
  TestHost::Options o;
  o.hostkey_type = "dsa";
  o.sshd_options = {"HostKeyAlgorithms ssh-dss"};
  TestHost host(o);
  auto spec = host.Spec("dss-only");
  spec.interval = 1s;
  spec.probe_timeout = 900ms;
  spec.algorithms.legacy = true;
  if (IsSupportedAlgorithm(AlgorithmKind::kHostkey, "ssh-dss")) {
    const HostStatus ready = ReadyAndProbed(spec);
    EXPECT_TRUE(HasWeak(ready.weak_algorithms, AlgorithmKind::kHostkey, "ssh-dss"));
    return;
  }
  // Debian's libssh 0.10 is built without DSA: no setting can reach this server, and the
  // detail says so instead of suggesting one.
  const HostStatus open = CircuitOpened(spec);
  EXPECT_EQ(ReasonName(open.last_reason), "kex_failed");
  EXPECT_THAT(open.detail, HasSubstr("no common host key algorithm: the server offers [ssh-dss]"));
  EXPECT_THAT(open.detail, HasSubstr("supports none of them"));
}

TEST(LegacySshdTest, GroupExchangeSha1OnlyServer) {
  TestHost::Options o;
  o.sshd_options = {"KexAlgorithms diffie-hellman-group-exchange-sha1"};
  TestHost host(o);
  auto spec = host.Spec("gex-sha1");
  spec.interval = 1s;
  spec.probe_timeout = 900ms;
  EXPECT_THAT(CircuitOpened(spec).detail,
              HasSubstr("set algorithms: {kex: [diffie-hellman-group-exchange-sha1]}"));
  spec.algorithms.kex = {"diffie-hellman-group-exchange-sha1"};
  const HostStatus ready = ReadyAndProbed(spec);
  EXPECT_EQ(ready.server.kex, "diffie-hellman-group-exchange-sha1");
  EXPECT_TRUE(
      HasWeak(ready.weak_algorithms, AlgorithmKind::kKex, "diffie-hellman-group-exchange-sha1"));
}

TEST(LegacySshdTest, DropbearWithOnlyAnRsaHostKey) {
  TestHost::Options o;
  o.server = "dropbear";
  o.hostkey_type = "rsa";
  TestHost host(o);
  auto spec = host.Spec("dropbear-rsa");
  spec.interval = 1s;
  spec.probe_timeout = 900ms;
  const HostStatus ready = ReadyAndProbed(spec);
  EXPECT_EQ(ready.server.hostkey_type, "ssh-rsa");
  EXPECT_THAT(ready.server.server_version, HasSubstr("dropbear"));
  // Debian's dropbear signs with rsa-sha2-256: nothing weak is needed.
  EXPECT_FALSE(HasWeak(ready.weak_algorithms, AlgorithmKind::kHostkey, "ssh-rsa"));
}

// Every process below `pid`.
std::vector<int> Descendants(int pid) {
  std::vector<int> out;
  std::istringstream children(testing::ReadFile("/proc/" + std::to_string(pid) + "/task/" +
                                                std::to_string(pid) + "/children"));
  for (int child; children >> child;) {
    out.push_back(child);
    for (int grandchild : Descendants(child)) out.push_back(grandchild);
  }
  return out;
}

TEST(LegacySshdTest, FrozenServerIsDeclaredDeadByKeepalivesAlone) {
  TestHost host;
  auto spec = host.Spec("frozen");
  spec.interval = 60s;  // no probe runs while the server is frozen
  spec.probe_timeout = 10s;
  spec.keepalive = 1s;
  Recorder rec;
  AgentRunner runner;
  runner.Start(spec, rec.Sink(), FastAgentOptions());
  ASSERT_TRUE(
      rec.WaitFor([](Recorder& r) { return r.Find(HostState::kReady) < r.statuses.size(); }, 20s));
  std::this_thread::sleep_for(1500ms);  // the fingerprint's processes are gone
  const std::vector<int> session = Descendants(std::stoi(host.Env("FLEETPS_TEST_PID")));
  ASSERT_FALSE(session.empty());
  for (int pid : session) ::kill(pid, SIGSTOP);
  const auto frozen_at = Clock::now();
  const bool dead =
      rec.WaitFor([](Recorder& r) { return r.Find(HostState::kBackoff) < r.statuses.size(); }, 10s);
  Clock::time_point detected{};
  {
    std::lock_guard lock(rec.mu);
    if (dead) detected = rec.status_times[rec.Find(HostState::kBackoff)];
  }
  for (int pid : session) ::kill(pid, SIGCONT);
  ASSERT_TRUE(dead);
  EXPECT_LE(detected - frozen_at, 3 * spec.keepalive + 1s);
  {
    std::lock_guard lock(rec.mu);
    const HostStatus& down = rec.statuses[rec.Find(HostState::kBackoff)];
    EXPECT_EQ(ReasonName(down.last_reason), "timeout");
    EXPECT_THAT(down.detail, HasSubstr("not even a keepalive reply"));
  }
  // The session is replaced: a new epoch becomes ready and probes.
  ASSERT_TRUE(rec.WaitFor(
      [](Recorder& r) {
        const auto backoff = r.Find(HostState::kBackoff);
        return r.Find(HostState::kReady, backoff) < r.statuses.size();
      },
      20s));
  runner.Stop();
  const auto again = rec.Find(HostState::kReady, rec.Find(HostState::kBackoff));
  EXPECT_EQ(rec.statuses[again].epoch, 2u);
}

// Both servers answer keepalive@openssh.com (with a failure, as for any unknown global
// request): a live server is never declared dead, whatever the interval.
TEST(LegacySshdTest, AnsweringServersStayReadyWithShortKeepalives) {
  for (const char* server : {"sshd", "dropbear"}) {
    SCOPED_TRACE(server);
    TestHost::Options o;
    o.server = server;
    TestHost host(o);
    auto spec = host.Spec("alive");
    spec.interval = 60s;
    spec.keepalive = 1s;
    Recorder rec;
    AgentRunner runner;
    runner.Start(spec, rec.Sink(), FastAgentOptions());
    ASSERT_TRUE(rec.WaitFor(
        [](Recorder& r) { return r.Find(HostState::kReady) < r.statuses.size(); }, 20s));
    std::this_thread::sleep_for(5s);  // longer than the silence limit, with only keepalives
    runner.Stop();
    EXPECT_EQ(rec.Find(HostState::kBackoff), rec.statuses.size());
  }
}

TEST(LegacySshdTest, OfferScanAndKeyScanOfARhel5Server) {
  TestHost host(Rhel5());
  auto spec = host.Spec("rhel5-scan");
  boost::asio::io_context io;
  auto offer = testing::RunCoro(io, ScanServerOffer(spec, Clock::now() + 5s));
  ASSERT_TRUE(offer) << offer.error().message();
  EXPECT_THAT(offer->banner, HasSubstr("SSH-2.0-OpenSSH_"));
  EXPECT_THAT(offer->kex, ::testing::IsSupersetOf(
                              {"diffie-hellman-group1-sha1", "diffie-hellman-group14-sha1"}));
  EXPECT_THAT(offer->hostkeys, ::testing::ElementsAre("ssh-rsa"));
  EXPECT_THAT(offer->ciphers, ::testing::ElementsAre("aes128-cbc", "3des-cbc"));
  EXPECT_THAT(offer->macs, ::testing::ElementsAre("hmac-sha1", "hmac-md5"));
  const auto weak = WeakInOffer(*offer);
  EXPECT_TRUE(HasWeak(weak, AlgorithmKind::kKex, "diffie-hellman-group1-sha1"));
  EXPECT_TRUE(HasWeak(weak, AlgorithmKind::kHostkey, "ssh-rsa"));
  EXPECT_TRUE(HasWeak(weak, AlgorithmKind::kCipher, "3des-cbc"));
  EXPECT_TRUE(HasWeak(weak, AlgorithmKind::kMac, "hmac-md5"));

  FailureDetail failure;
  auto scanned = testing::RunCoro(io, KeyScan(spec, Clock::now() + 5s, &failure));
  ASSERT_FALSE(scanned);
  EXPECT_EQ(ReasonName(scanned.error()), "kex_failed");
  EXPECT_TRUE(failure.deterministic);
  spec.algorithms.legacy = true;
  scanned = testing::RunCoro(io, KeyScan(spec, Clock::now() + 5s, &failure));
  ASSERT_TRUE(scanned) << failure.text;
  EXPECT_EQ(scanned->kex, "diffie-hellman-group14-sha1");
  EXPECT_EQ(scanned->key.type, "ssh-rsa");
}

// The real Rhel5-configured sshd's first bytes: its banner line and its KEXINIT packet.
std::string CaptureGreeting(const config::HostSpec& spec) {
  namespace asio = boost::asio;
  asio::io_context io;
  asio::ip::tcp::socket socket(io);
  socket.connect({asio::ip::make_address(spec.address), spec.port});
  asio::write(socket, asio::buffer(std::string_view("SSH-2.0-fleetps_test\r\n")));
  std::string data;
  auto read_some = [&] {
    std::array<char, 4096> chunk{};
    const std::size_t n = socket.read_some(asio::buffer(chunk));
    data.append(chunk.data(), n);
  };
  while (data.find('\n') == std::string::npos) read_some();
  const std::size_t packet = data.find('\n') + 1;
  while (data.size() < packet + 4) read_some();
  const auto byte = [&](std::size_t i) {
    return std::uint32_t{static_cast<unsigned char>(data[i])};
  };
  const std::uint32_t length =
      byte(packet) << 24 | byte(packet + 1) << 16 | byte(packet + 2) << 8 | byte(packet + 3);
  while (data.size() < packet + 4 + length) read_some();
  return data.substr(0, packet + 4 + length);
}

TEST(LegacySshdTest, AHandshakeThatEndsWithoutSayingWhyIsExplainedFromTheServerOffer) {
  // libssh 0.10 under load sometimes handles a RHEL 5 sshd's disconnect before the KEXINIT
  // that came with it and reports only "Socket error: Success". This server makes that
  // deterministic: its first connection sends the real server's banner and ends; later ones
  // replay the real server's banner and KEXINIT. The session must read the offer and report a
  // negotiation failure (deterministic, with the setting to use), not a transient one.
  TestHost host(Rhel5());
  const std::string greeting = CaptureGreeting(host.Spec("rhel5-capture"));
  const std::string banner = greeting.substr(0, greeting.find('\n') + 1);
  boost::asio::io_context server_io;
  boost::asio::ip::tcp::acceptor acceptor(server_io,
                                          {boost::asio::ip::make_address("127.0.0.1"), 0});
  std::atomic<int> accepted = 0;  // counted at accept: the client has connected by then
  std::thread server([&] {
    for (int n = 0; n < 2; ++n) {
      boost::asio::ip::tcp::socket peer(server_io);
      acceptor.accept(peer);
      ++accepted;
      boost::system::error_code ec;
      boost::asio::write(peer, boost::asio::buffer(n == 0 ? banner : greeting), ec);
      if (n == 0) continue;  // closed at once: banner, then end of stream
      std::array<char, 4096> sink{};
      while (!ec) peer.read_some(boost::asio::buffer(sink), ec);  // until the client closes
    }
  });
  config::HostSpec spec;
  spec.name = "rhel5-mute";
  spec.address = "127.0.0.1";
  spec.port = acceptor.local_endpoint().port();
  boost::asio::io_context io;
  FailureDetail failure;
  auto scanned = testing::RunCoro(io, KeyScan(spec, Clock::now() + 5s, &failure));
  const int connections = accepted;
  if (connections < 2) {  // no offer scan: release the server's accept so the test ends
    boost::asio::ip::tcp::socket nudge(io);
    nudge.connect(acceptor.local_endpoint());
  }
  server.join();
  ASSERT_FALSE(scanned);
  EXPECT_EQ(ReasonName(scanned.error()), "kex_failed");
  EXPECT_TRUE(failure.deterministic) << failure.text;
  EXPECT_THAT(failure.text, HasSubstr("the server offers [diffie-hellman-group1-sha1, "
                                      "diffie-hellman-group14-sha1]"));
  EXPECT_THAT(failure.text, HasSubstr("set algorithms: {kex: [diffie-hellman-group14-sha1]}"));
  EXPECT_EQ(connections, 2) << "one handshake, one offer scan";
}

TEST(LegacySshdTest, OfferScanOfSomethingThatIsNotSsh) {
  // A port that answers like a web server and closes: a clear error, no hang.
  boost::asio::io_context server_io;
  boost::asio::ip::tcp::acceptor acceptor(server_io,
                                          {boost::asio::ip::make_address("127.0.0.1"), 0});
  std::thread server([&] {
    boost::asio::ip::tcp::socket peer(server_io);
    acceptor.accept(peer);
    const std::string reply = "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n";
    boost::system::error_code ignored;
    boost::asio::write(peer, boost::asio::buffer(reply), ignored);
  });
  config::HostSpec spec;
  spec.name = "not-ssh";
  spec.address = "127.0.0.1";
  spec.port = acceptor.local_endpoint().port();
  boost::asio::io_context io;
  const auto started = Clock::now();
  auto offer = testing::RunCoro(io, ScanServerOffer(spec, Clock::now() + 5s));
  server.join();
  ASSERT_FALSE(offer);
  EXPECT_EQ(ReasonName(offer.error()), "disconnected");
  EXPECT_LT(Clock::now() - started, 4s) << "the close ends the scan, not the deadline";
}

}  // namespace
}  // namespace fleetps::agent
