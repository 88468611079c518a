#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <gtest/gtest.h>

#include "fleetps/agent/ssh_session.hpp"
#include "test_host.hpp"

namespace fleetps::agent {
namespace {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using testing::RunCoro;
using testing::TestHost;

// A hostile TCP server on 127.0.0.1: accepts, then either never speaks or drips `drip` one
// byte per 200 ms (a banner that never completes).
asio::awaitable<void> Serve(std::shared_ptr<tcp::socket> s, std::string drip) {
  asio::steady_timer t(s->get_executor());
  for (std::size_t i = 0;; ++i) {
    t.expires_after(200ms);
    co_await t.async_wait(asio::use_awaitable);
    if (!drip.empty())
      co_await asio::async_write(*s, asio::buffer(&drip[i % drip.size()], 1), asio::use_awaitable);
  }
}
asio::awaitable<void> Accept(tcp::acceptor& a, std::string drip) {
  for (;;) {
    auto s = std::make_shared<tcp::socket>(co_await a.async_accept(asio::use_awaitable));
    asio::co_spawn(a.get_executor(), Serve(s, drip), asio::detached);
  }
}

// Probes a healthy host every 200 ms and records how late each probe finished.
asio::awaitable<std::vector<Clock::duration>> ProbeLoop(config::HostSpec spec,
                                                        Clock::time_point until) {
  SshSession session(co_await asio::this_coro::executor);
  std::vector<Clock::duration> lateness;
  if (co_await session.Connect(spec, Clock::now() + 10s)) co_return lateness;
  asio::steady_timer t(co_await asio::this_coro::executor);
  for (auto next = Clock::now(); next < until; next += 200ms) {
    t.expires_at(next);
    co_await t.async_wait(asio::use_awaitable);
    RunOptions o;
    o.channel = testing::TestChannelMode();
    o.deadline = Clock::now() + 5s;
    auto r = co_await session.RunScript("echo ok\n", o);
    if (!r || r->out != "ok\n") co_return lateness;
    lateness.push_back(Clock::now() - next);
  }
  co_return lateness;
}

struct Timed {
  error_code ec;
  Clock::duration took{};
};
asio::awaitable<Timed> ConnectTimed(config::HostSpec spec, Clock::duration budget) {
  SshSession session(co_await asio::this_coro::executor);
  const auto start = Clock::now();
  auto ec = co_await session.Connect(spec, start + budget);
  co_return Timed{ec, Clock::now() - start};
}

class FaultTest : public ::testing::TestWithParam<std::string> {};

TEST_P(FaultTest, HostileServerEndsAtItsDeadlineWhileAnotherHostKeepsProbing) {
  asio::io_context io;  // one thread: any blocking call would stall the healthy host
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  asio::co_spawn(io, Accept(acceptor, GetParam()), asio::detached);
  TestHost healthy;
  config::HostSpec bad = healthy.Spec("hostile");
  bad.port = acceptor.local_endpoint().port();
  const auto until = Clock::now() + 3s;
  std::vector<Clock::duration> lateness;
  Timed timed;
  int done = 0;
  asio::co_spawn(io, ProbeLoop(healthy.Spec(), until),
                 [&](std::exception_ptr, std::vector<Clock::duration> l) {
                   lateness = std::move(l);
                   if (++done == 2) io.stop();
                 });
  asio::co_spawn(io, ConnectTimed(bad, 2s), [&](std::exception_ptr, Timed t) {
    timed = t;
    if (++done == 2) io.stop();
  });
  io.run_until(until + 4s);
  EXPECT_EQ(timed.ec, Errc::kBannerTimeout) << ReasonName(timed.ec);
  EXPECT_GE(timed.took, 1900ms);
  EXPECT_LT(timed.took, 2500ms);
  ASSERT_GE(lateness.size(), 10u) << "the healthy host must keep probing";
  for (auto l : lateness) EXPECT_LT(l, 150ms);
}

INSTANTIATE_TEST_SUITE_P(Servers, FaultTest, ::testing::Values("", "SSH-2.0-drip"),
                         [](const auto& p) {
                           return p.param.empty() ? "NeverBanner" : "DripBanner";
                         });

// The same script gives the same bytes whatever the login shell is.
TEST(LoginShellTest, ScriptOnStdinGivesIdenticalBytesUnderEveryShell) {
  const std::string script =
      "LC_ALL=C; export LC_ALL\nx=1; while [ $x -le 3 ]; do echo \"line $x\"; x=`expr $x + 1`; "
      "done\n"
      "printf 'a\\tb %s\\n' \"$HOME\" | sed 's|/home/fleetps-[a-z]*|HOME|'\necho err >&2\nexit 7\n";
  std::string reference;
  for (const char* shell : {"/bin/dash", "/bin/ksh", "/bin/csh", "/usr/bin/tcsh"}) {
    const std::string name = std::string(shell).substr(std::string(shell).rfind('/') + 1);
    TestHost host(TestHost::Options{.server = "sshd", .user = "fleetps-" + name, .shell = shell});
    asio::io_context io;
    auto run = [](config::HostSpec spec, std::string s) -> asio::awaitable<std::string> {
      SshSession session(co_await asio::this_coro::executor);
      if (auto ec = co_await session.Connect(spec, Clock::now() + 10s))
        co_return "connect " + std::string(ReasonName(ec));
      RunOptions o;
      o.channel = testing::TestChannelMode();
      o.deadline = Clock::now() + 10s;
      auto r = co_await session.RunScript(s, o);
      if (!r) co_return "run " + std::string(ReasonName(r.error()));
      co_return r->out + "|" + r->err + "|" + std::to_string(r->exit_status.value_or(-1));
    };
    const std::string got = RunCoro(io, run(host.Spec(), script));
    if (reference.empty()) {
      reference = got;
      EXPECT_EQ(reference, "line 1\nline 2\nline 3\na\tb HOME\n|err\n|7");
    }
    EXPECT_EQ(got, reference) << shell;
  }
}

asio::awaitable<int> ConnectAndProbe(config::HostSpec spec,
                                     std::shared_ptr<std::atomic<int>> ready) {
  SshSession session(co_await asio::this_coro::executor);
  if (co_await session.Connect(spec, Clock::now() + 60s)) co_return 0;
  ready->fetch_add(1);
  RunOptions o;
  o.channel = testing::TestChannelMode();
  o.deadline = Clock::now() + 60s;
  auto r = co_await session.RunScript("echo $$\n", o);
  co_return r && r->Succeeded() ? 1 : 0;
}

TEST(ScaleTest, HundredConcurrentSessionsToOneSshdAllReachReadyAndProbe) {
  TestHost host(TestHost::Options{.server = "sshd", .max_startups = "200"});
  asio::io_context io;
  auto ready = std::make_shared<std::atomic<int>>(0);
  int ok = 0;
  for (int i = 0; i < 100; ++i) {
    asio::co_spawn(io, ConnectAndProbe(host.Spec(), ready),
                   [&](std::exception_ptr, int v) { ok += v; });
  }
  io.run();
  EXPECT_EQ(ready->load(), 100);
  EXPECT_EQ(ok, 100);
}

}  // namespace
}  // namespace fleetps::agent
